"""Video containers (MP4/MOV, WebM/Matroska, AVI): tags and stream facts from the header.

Tags, duration, size and codec come from PyAV (FFmpeg's demuxers; opening a container
reads its header, stream probing is capped and no frame is decoded for the result). For
MP4/MOV the top-level boxes are also walked, which finds a C2PA manifest (`uuid` box).
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from alice_mcp.metadata.base import MAX_CHUNKS, ContainerMeta

C2PA_UUID = bytes.fromhex("d8fec3d61b0e483c92975828877ec481")
QUICKTIME_TOP = (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")
EBML_MAGIC = b"\x1a\x45\xdf\xa3"
# Tags every muxer writes: kept out of the text map (nothing to detect or search in them).
BORING_TAGS = frozenset(
    [
        "major_brand",
        "minor_version",
        "compatible_brands",
        "encoder",
        "handler_name",
        "vendor_id",
        "language",
        "duration",
        "creation_time",
    ]
)


def sniff_video(head: bytes) -> str | None:
    """Name a video container from its first bytes, or None."""
    if head[4:8] == b"ftyp":
        return "mov" if head[8:12] == b"qt  " else "mp4"
    if head[4:8] in QUICKTIME_TOP:
        return "mov"
    if head.startswith(EBML_MAGIC):
        return "webm" if b"webm" in head[:64] else "matroska"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    return None


def read_video(fp: BinaryIO, size: int, meta: ContainerMeta) -> None:
    """Fill meta from a video container header; tags become text entries `<format>:tag`."""
    from alice_mcp.media.video import probe_stream  # PyAV loads on the first video

    meta.media_type = "video"
    if meta.format in ("mp4", "mov"):
        _walk_boxes(fp, size, meta)
        fp.seek(0)
    info = probe_stream(fp)
    meta.errors.extend(info.errors)
    meta.width, meta.height = info.width, info.height
    meta.duration_s, meta.codec, meta.fps, meta.frames = (
        info.duration_s,
        info.codec,
        info.fps,
        info.frames,
    )
    meta.created_at = info.creation_time
    for key, value in info.tags.items():
        if key not in BORING_TAGS and value.strip():
            meta.add_text(key, value, f"{meta.format}:tag")


def _walk_boxes(fp: BinaryIO, size: int, meta: ContainerMeta) -> None:
    """Walk top-level ISO-BMFF boxes by their headers only, noting a C2PA `uuid` box."""
    pos = 0
    for _ in range(MAX_CHUNKS):
        if pos + 8 > size:
            return
        fp.seek(pos)
        header = fp.read(16)
        if len(header) < 8:
            return
        length, kind = struct.unpack(">I4s", header[:8])
        body = 8
        if length == 1 and len(header) >= 16:
            length, body = struct.unpack(">Q", header[8:16])[0], 16
        elif length == 0:
            length = size - pos
        if length < body:
            meta.errors.append(f"{meta.format}: invalid box length at offset {pos}")
            return
        if kind == b"uuid":
            fp.seek(pos + body)
            if fp.read(16) == C2PA_UUID:
                meta.c2pa = True
        pos += length
    meta.errors.append(f"{meta.format}: too many boxes, stopped reading")
