"""PNG header reader: walk every chunk to IEND, read text/EXIF chunks, seek over image data.

Text chunks after IDAT are read too (a reader that stops at the first IDAT misses them).
"""

from __future__ import annotations

import struct
import zlib
from typing import BinaryIO

from alice_mcp.metadata.base import (
    MAX_CHUNK_READ,
    MAX_CHUNKS,
    MAX_TEXT,
    ContainerMeta,
    decode_text,
    printable,
)
from alice_mcp.metadata.exif import parse_exif

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
XMP_PNG_KEY = "XML:com.adobe.xmp"
_WANTED = {b"IHDR", b"tEXt", b"iTXt", b"zTXt", b"eXIf"}


def read_png(fp: BinaryIO, size: int, meta: ContainerMeta) -> None:
    """Walk PNG chunks to IEND, reading text/EXIF chunks and seeking over everything else."""
    meta.media_type = "image"
    fp.seek(8)
    end = 8  # tracked here: a buffered file's tell() is a system call
    for _ in range(MAX_CHUNKS):
        pos = end
        header = fp.read(8)
        if not header:
            meta.errors.append("png: file ends without IEND chunk")
            return
        if len(header) < 8:
            meta.errors.append(f"png: truncated chunk header at offset {pos}")
            return
        length, ctype = struct.unpack(">I4s", header)
        if length > 0x7FFFFFFF:
            meta.errors.append(f"png: invalid chunk length at offset {pos}")
            return
        end = pos + 12 + length
        if ctype == b"IEND":
            return
        if ctype == b"caBX":
            meta.c2pa = True
        if ctype not in _WANTED or length > MAX_CHUNK_READ:
            if ctype in _WANTED:
                meta.errors.append(f"png: {printable(ctype)} chunk of {length} bytes skipped")
            if end > size:
                meta.errors.append(f"png: truncated {printable(ctype)} chunk at offset {pos}")
                return
            fp.seek(end)
            continue
        data = fp.read(length)
        crc = fp.read(4)
        if len(data) < length or len(crc) < 4:
            meta.errors.append(f"png: truncated {printable(ctype)} chunk at offset {pos}")
            return
        if zlib.crc32(ctype + data) != struct.unpack(">I", crc)[0]:
            meta.errors.append(f"png: CRC mismatch in {printable(ctype)} chunk at offset {pos}")
        _chunk(ctype, data, meta)
    meta.errors.append("png: too many chunks, stopped reading")


def _chunk(ctype: bytes, data: bytes, meta: ContainerMeta) -> None:
    """Decode one interesting PNG chunk into meta."""
    if ctype == b"IHDR":
        if len(data) >= 8:
            meta.width, meta.height = struct.unpack(">II", data[:8])
        return
    if ctype == b"eXIf":
        parse_exif(data, meta)
        return
    key_raw, sep, rest = data.partition(b"\x00")
    if not sep:
        meta.errors.append(f"png: {printable(ctype)} chunk without keyword separator")
        return
    key = key_raw.decode("latin-1")
    if ctype == b"tEXt":
        value = decode_text(rest)
    elif ctype == b"zTXt":
        raw = inflate(rest[1:], f"zTXt {key}", meta)
        value = decode_text(raw) if raw is not None else None
    else:
        value = _itxt_value(key, rest, meta)
    if value is None:
        return
    if key == XMP_PNG_KEY:
        meta.xmp = value
    else:
        meta.add_text(key, value, f"png:{printable(ctype)}")


def _itxt_value(key: str, rest: bytes, meta: ContainerMeta) -> str | None:
    """Decode the body of an iTXt chunk (flag, method, language, translated key, UTF-8 text)."""
    if len(rest) < 2:
        meta.errors.append(f"png: iTXt {key!r} truncated")
        return None
    compressed = rest[0] == 1
    parts = rest[2:].split(b"\x00", 2)
    if len(parts) < 3:
        meta.errors.append(f"png: iTXt {key!r} malformed")
        return None
    body: bytes | None = parts[2]
    if compressed:
        body = inflate(parts[2], f"iTXt {key}", meta)
        if body is None:
            return None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        meta.errors.append(f"png: iTXt {key!r} invalid UTF-8 at byte {exc.start}")
        return body.decode("utf-8", "replace")


def inflate(data: bytes, what: str, meta: ContainerMeta) -> bytes | None:
    """Decompress zlib data with a size bound; None (and a note) when it is broken."""
    try:
        dec = zlib.decompressobj()
        out = dec.decompress(data, MAX_TEXT)
    except zlib.error as exc:
        meta.errors.append(f"png: {what}: bad compressed data ({exc})")
        return None
    if dec.unconsumed_tail:
        meta.errors.append(f"png: {what}: text over {MAX_TEXT} bytes truncated")
    return out
