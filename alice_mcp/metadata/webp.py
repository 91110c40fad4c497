"""WebP header reader: RIFF chunks for canvas size, EXIF, XMP and C2PA; bitstreams are skipped."""

from __future__ import annotations

import struct
from typing import BinaryIO

from alice_mcp.metadata.base import MAX_CHUNK_READ, MAX_CHUNKS, ContainerMeta, printable
from alice_mcp.metadata.exif import parse_exif


def read_webp(fp: BinaryIO, size: int, meta: ContainerMeta) -> None:
    """Walk the RIFF chunks of a WebP file: canvas size, EXIF and XMP; skip bitstreams."""
    meta.media_type = "image"
    pos = 12  # tracked here: a buffered file's tell() is a system call
    for _ in range(MAX_CHUNKS):
        if pos == size:
            return  # past the last chunk (a read would find nothing)
        fp.seek(pos)
        header = fp.read(8)
        if len(header) == 0:
            return
        if len(header) < 8:
            meta.errors.append(f"webp: truncated chunk header at offset {pos}")
            return
        fourcc, length = struct.unpack("<4sI", header)
        end = pos + 8 + length + (length & 1)
        if fourcc in (b"EXIF", b"XMP ") and length <= MAX_CHUNK_READ:
            data = fp.read(length)
            if len(data) < length:
                meta.errors.append(f"webp: truncated {printable(fourcc)} chunk")
                return
            if fourcc == b"XMP ":
                meta.xmp = data.decode("utf-8", "replace")
            else:
                parse_exif(data[6:] if data.startswith(b"Exif\x00") else data, meta)
        elif fourcc in (b"VP8X", b"VP8L", b"VP8 ") and meta.width is None:
            _size(fourcc, fp.read(min(length, 10)), meta)
        elif fourcc == b"C2PA":
            meta.c2pa = True
        if end > size:
            meta.errors.append(f"webp: truncated {printable(fourcc)} chunk at offset {pos}")
            return
        pos = end
    meta.errors.append("webp: too many chunks, stopped reading")


def _size(fourcc: bytes, data: bytes, meta: ContainerMeta) -> None:
    """Read the canvas/frame size from a VP8X, VP8L or VP8 chunk head."""
    if fourcc == b"VP8X" and len(data) >= 10:
        meta.width = int.from_bytes(data[4:7], "little") + 1
        meta.height = int.from_bytes(data[7:10], "little") + 1
    elif fourcc == b"VP8L" and len(data) >= 5 and data[0] == 0x2F:
        bits = int.from_bytes(data[1:5], "little")
        meta.width = (bits & 0x3FFF) + 1
        meta.height = ((bits >> 14) & 0x3FFF) + 1
    elif fourcc == b"VP8 " and len(data) >= 10 and data[3:6] == b"\x9d\x01\x2a":
        meta.width = int.from_bytes(data[6:8], "little") & 0x3FFF
        meta.height = int.from_bytes(data[8:10], "little") & 0x3FFF
