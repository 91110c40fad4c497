"""JPEG header reader: marker segments up to the first scan (APP1 EXIF/XMP, APP11 C2PA, COM, SOF)."""

from __future__ import annotations

import struct
from typing import BinaryIO

from alice_mcp.metadata.base import MAX_CHUNKS, ContainerMeta, decode_text
from alice_mcp.metadata.exif import parse_exif
from alice_mcp.metadata.window import Window

XMP_JPEG_NS = b"http://ns.adobe.com/xap/1.0/\x00"
_SOF = {c for c in range(0xC0, 0xD0) if c not in (0xC4, 0xC8, 0xCC)}
_READ = {0xE1, 0xEB, 0xFE} | _SOF


def read_jpeg(fp: BinaryIO, size: int, meta: ContainerMeta) -> None:
    """Walk JPEG marker segments up to the first scan (SOS); entropy-coded data is never read."""
    meta.media_type = "image"
    win = Window(fp, size)
    pos = 2
    for _ in range(MAX_CHUNKS):
        head = win.get(pos, 4)
        if not head:
            meta.errors.append("jpeg: file ends before image data")
            return
        if head[0] != 0xFF:
            meta.errors.append(f"jpeg: expected marker at offset {pos}")
            return
        if len(head) < 2:
            meta.errors.append("jpeg: truncated marker")
            return
        if head[1] == 0xFF:  # a fill byte: the marker starts at the next 0xFF
            pos += 1
            continue
        code = head[1]
        if code in (0xD8, 0x01) or 0xD0 <= code <= 0xD7:
            pos += 2
            continue
        if code in (0xD9, 0xDA):  # EOI or start of scan: metadata is over
            return
        if len(head) < 4:
            meta.errors.append("jpeg: truncated segment length")
            return
        length = struct.unpack(">H", head[2:4])[0] - 2
        if length < 0:
            meta.errors.append(f"jpeg: invalid segment length at offset {pos}")
            return
        if pos + 4 + length > size:
            meta.errors.append(f"jpeg: truncated segment 0x{code:02X} at offset {pos}")
            if code not in _READ:
                return
        if code in _READ:
            data = win.get(pos + 4, length)
            if len(data) < length:
                return
            _segment(code, data, meta)
        pos += 4 + length
    meta.errors.append("jpeg: too many segments, stopped reading")


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
