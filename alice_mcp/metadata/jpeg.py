"""JPEG header reader: marker segments up to the first scan (APP1 EXIF/XMP, APP11 C2PA, COM, SOF)."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import BinaryIO

from alice_mcp.metadata.base import MAX_CHUNKS, ContainerMeta, decode_text
from alice_mcp.metadata.exif import parse_exif
from alice_mcp.metadata.window import Window

XMP_JPEG_NS = b"http://ns.adobe.com/xap/1.0/\x00"
_SOF = {c for c in range(0xC0, 0xD0) if c not in (0xC4, 0xC8, 0xCC)}
_READ = {0xE1, 0xEB, 0xFE} | _SOF
_STANDALONE = {0xD8, 0x01, *range(0xD0, 0xD8)}  # markers without a length field
_SKIP = set(range(0xFF)) - _READ - _STANDALONE - {0xD9, 0xDA}  # segments we step over


def read_jpeg(fp: BinaryIO, size: int, meta: ContainerMeta) -> None:
    """Walk JPEG marker segments up to the first scan (SOS); entropy-coded data is never read."""
    meta.media_type = "image"
    win = Window(fp, size)
    for code, pos, length in _segments_to_read(win, size, meta):
        data = win.get(pos + 4, length)
        if len(data) < length:
            return
        _segment(code, data, meta)


def _segments_to_read(
    win: Window, size: int, meta: ContainerMeta
) -> Iterator[tuple[int, int, int]]:
    """Yield (marker, offset, data length) of the segments we read, noting damage in meta."""
    pos = 2
    buf, at = win.view(pos, 4)  # the window's bytes, indexed in place: this loop runs per segment
    base = pos - at
    for _ in range(MAX_CHUNKS):
        at = pos - base
        if at + 4 <= len(buf) and buf[at] == 0xFF:
            end = pos + 2 + (buf[at + 2] << 8 | buf[at + 3])  # marker + length field + data
            if pos + 4 <= end <= size:  # a whole segment
                code = buf[at + 1]
                if code in _SKIP:
                    pos = end
                    continue
                if code in _READ:
                    yield code, pos, end - pos - 4
                    pos = end
                    continue
        if at + 4 > len(buf):
            buf, at = win.view(pos, 4)
            base = pos - at
        step = _other_marker(buf, at, pos, size, meta)
        if step is None:
            return
        if step[1] >= 0:
            yield buf[at + 1], pos, step[1]
        pos = step[0]
    meta.errors.append("jpeg: too many segments, stopped reading")


def _other_marker(
    buf: bytes, at: int, pos: int, size: int, meta: ContainerMeta
) -> tuple[int, int] | None:
    """Step over what is not a whole segment: (next offset, data length to read or -1).

    None when the walk is over: the scan starts, the file ends, or it is damaged (noted).
    """
    have = len(buf) - at
    if have <= 0:
        meta.errors.append("jpeg: file ends before image data")
        return None
    if buf[at] != 0xFF:
        meta.errors.append(f"jpeg: expected marker at offset {pos}")
        return None
    if have < 2:
        meta.errors.append("jpeg: truncated marker")
        return None
    code = buf[at + 1]
    if code == 0xFF:  # a fill byte: the marker starts at the next 0xFF
        return pos + 1, -1
    if code in _STANDALONE:
        return pos + 2, -1
    if code == 0xD9 or code == 0xDA:  # EOI or start of scan: metadata is over
        return None
    if have < 4:
        meta.errors.append("jpeg: truncated segment length")
        return None
    length = (buf[at + 2] << 8 | buf[at + 3]) - 2
    if length < 0:
        meta.errors.append(f"jpeg: invalid segment length at offset {pos}")
        return None
    if pos + 4 + length > size:
        meta.errors.append(f"jpeg: truncated segment 0x{code:02X} at offset {pos}")
        if code not in _READ:
            return None
    return pos + 4 + length, length if code in _READ else -1


def _segment(code: int, data: bytes, meta: ContainerMeta) -> None:
    """Decode one JPEG segment we care about into meta."""
    if code == 0xE1 and data.startswith(b"Exif\x00"):
        parse_exif(data[6:], meta)
    elif code == 0xE1 and data.startswith(XMP_JPEG_NS):
        if meta.xmp is None:
            meta.xmp = data[len(XMP_JPEG_NS) :].decode("utf-8", "replace")
    elif code == 0xEB:  # APP11: JUMBF boxes, which is where C2PA lives in JPEG
        if b"jumb" in data[:64] or b"c2pa" in data[:128]:
            meta.c2pa = True
    elif code == 0xFE:
        if "comment" not in meta.text:
            meta.add_text("comment", decode_text(data).rstrip("\x00"), "jpeg:COM")
    elif len(data) >= 5 and meta.width is None:
        meta.height, meta.width = struct.unpack(">HH", data[1:5])
