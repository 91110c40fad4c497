"""GIF header reader: screen size, frame count and duration, comments, XMP and C2PA extensions.

Image data sub-blocks are skipped by their length bytes; no LZW decoding happens.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from alice_mcp.metadata.base import MAX_CHUNKS, MAX_TEXT, ContainerMeta, decode_text

MIN_DELAY_CS = 2  # browsers show shorter frame delays as 10 cs; so do we
DEFAULT_DELAY_CS = 10
_XMP_APP = b"XMP DataXMP"
_C2PA_APP = b"C2PA_GIF"


def read_gif(fp: BinaryIO, size: int, meta: ContainerMeta) -> None:
    """Read the logical screen, then walk extensions and image descriptors to the trailer."""
    meta.media_type = "image"
    head = fp.read(13)
    if len(head) < 13:
        meta.errors.append("gif: truncated header")
        return
    meta.width, meta.height = struct.unpack("<HH", head[6:10])
    meta.codec = "gif"
    if head[10] & 0x80:  # global colour table
        fp.seek(3 * (2 << (head[10] & 7)), 1)
    frames, delay_cs, comments = 0, 0, []
    pending_delay: int | None = None
    for _ in range(MAX_CHUNKS):
        intro = fp.read(1)
        if intro == b"\x3b" or not intro:
            if not intro:
                meta.errors.append("gif: file ends without trailer")
            break
        if intro == b"\x2c":
            if not _skip_image(fp, meta):
                break
            frames += 1
            delay = pending_delay if pending_delay is not None else 0
            delay_cs += delay if delay >= MIN_DELAY_CS else DEFAULT_DELAY_CS
            pending_delay = None
        elif intro == b"\x21":
            label = fp.read(1)
            if label == b"\xf9":
                block = _sub_blocks(fp, 16)
                if block is not None and len(block) >= 3:
                    pending_delay = struct.unpack("<H", block[1:3])[0]
            elif label == b"\xfe":
                body = _sub_blocks(fp, MAX_TEXT)
                if body is not None:
                    comments.append(decode_text(body).rstrip("\x00"))
            elif label == b"\xff":
                _application(fp, meta)
            elif _sub_blocks(fp, 0) is None:
                meta.errors.append("gif: truncated extension")
                break
        else:
            meta.errors.append(f"gif: unexpected block 0x{intro[0]:02X} at offset {fp.tell() - 1}")
            break
    _finish(meta, frames, delay_cs, comments)


def _finish(meta: ContainerMeta, frames: int, delay_cs: int, comments: list[str]) -> None:
    """Frame count, duration and media type from what the walk found."""
    meta.frames = frames
    meta.media_type = "video" if frames > 1 else "image"
    if frames > 1:
        meta.duration_s = delay_cs / 100
        meta.fps = round(frames / meta.duration_s, 3) if delay_cs else None
    if comments:
        meta.add_text("comment", "\n".join(c for c in comments if c), "gif:comment")


def _skip_image(fp: BinaryIO, meta: ContainerMeta) -> bool:
    """Skip one image descriptor, its local colour table and its LZW data sub-blocks."""
    desc = fp.read(9)
    if len(desc) < 9:
        meta.errors.append("gif: truncated image descriptor")
        return False
    if desc[8] & 0x80:
        fp.seek(3 * (2 << (desc[8] & 7)), 1)
    if not fp.read(1) or _sub_blocks(fp, 0) is None:  # LZW minimum code size, then data
        meta.errors.append("gif: truncated image data")
        return False
    return True


def _application(fp: BinaryIO, meta: ContainerMeta) -> None:
    """An application extension: XMP packet, C2PA manifest, or something to skip."""
    size = fp.read(1)
    ident = fp.read(size[0]) if size else b""
    if ident == _XMP_APP:
        raw = _raw_sub_blocks(fp, MAX_TEXT)
        end = raw.find(b"<?xpacket end")
        close = raw.find(b">", end) if end >= 0 else -1
        body = raw[: close + 1] if close >= 0 else raw.split(b"\x01\xff\xfe", 1)[0]
        meta.xmp = body.decode("utf-8", "replace")
        return
    if ident.startswith(_C2PA_APP):
        meta.c2pa = True
    if _sub_blocks(fp, 0) is None:
        meta.errors.append("gif: truncated application extension")


def _sub_blocks(fp: BinaryIO, keep: int) -> bytes | None:
    """Read data sub-blocks to the terminator, keeping up to `keep` bytes; None if truncated."""
    out = bytearray()
    while True:
        n = fp.read(1)
        if not n:
            return None
        if n[0] == 0:
            return bytes(out)
        if len(out) < keep:
            chunk = fp.read(n[0])
            if len(chunk) < n[0]:
                return None
            out += chunk
        else:
            fp.seek(n[0], 1)


def _raw_sub_blocks(fp: BinaryIO, limit: int) -> bytes:
    """XMP in GIF is stored with its length bytes as part of the text: keep them all."""
    out = bytearray()
    while len(out) < limit:
        n = fp.read(1)
        if not n or n[0] == 0:
            break
        out += n + fp.read(n[0])
    return bytes(out)
