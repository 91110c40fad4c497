"""Header-only readers for PNG, JPEG, WebP, GIF and MP4: size, text chunks, EXIF and XMP.

Nothing here decodes pixels: image data (PNG IDAT, JPEG scans, WebP bitstreams) is skipped
by seeking. Every read is bounded, and a broken file yields error notes plus whatever was
read before the damage, never an exception.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from typing import BinaryIO

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_CHUNK_READ = 32 * 1024 * 1024  # one metadata chunk we are willing to read
MAX_TEXT = 16 * 1024 * 1024  # decompressed text bound (zTXt / compressed iTXt)
MAX_CHUNKS = 200_000  # guards against pathological files made of tiny chunks
XMP_PNG_KEY = "XML:com.adobe.xmp"
XMP_JPEG_NS = b"http://ns.adobe.com/xap/1.0/\x00"

EXIF_TAGS = {
    0x010E: "ImageDescription",
    0x010F: "Make",
    0x0110: "Model",
    0x0131: "Software",
    0x013B: "Artist",
    0x8298: "Copyright",
    0x9003: "DateTimeOriginal",
    0x9011: "OffsetTimeOriginal",
}
TAG_EXIF_IFD = 0x8769
TAG_USER_COMMENT = 0x9286
TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8}


@dataclass(slots=True)
class ContainerMeta:
    """What the file header says: format, pixel size, text chunks, EXIF strings, XMP."""

    format: str = "unknown"
    width: int | None = None
    height: int | None = None
    text: dict[str, str] = field(default_factory=dict)
    text_source: dict[str, str] = field(default_factory=dict)  # key -> "png:tEXt", "jpeg:COM"
    exif_user_comment: str | None = None
    exif: dict[str, str] = field(default_factory=dict)
    xmp: str | None = None
    c2pa: bool = False
    errors: list[str] = field(default_factory=list)


def read_container(fp: BinaryIO) -> ContainerMeta:
    """Sniff the format from magic bytes and read its metadata; never raises on bad input."""
    meta = ContainerMeta()
    try:
        fp.seek(0, 2)
        size = fp.tell()
        fp.seek(0)
        head = fp.read(32)
        meta.format = sniff(head)
        fp.seek(0)
        reader = _READERS.get(meta.format)
        if not head:
            meta.errors.append("container: empty file")
        elif reader is not None:
            reader(fp, size, meta)
        elif meta.format == "unknown":
            meta.errors.append("container: unrecognised file format")
    except Exception as exc:  # a reader bug must not take the file down
        meta.errors.append(f"container: {type(exc).__name__}: {exc}")
    return meta


def sniff(head: bytes) -> str:
    """Name the container format from the first bytes of a file."""
    if head.startswith(PNG_MAGIC):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[4:8] == b"ftyp":
        return "mp4"
    return "unknown"


# ---------------------------------------------------------------- PNG


def _read_png(fp: BinaryIO, size: int, meta: ContainerMeta) -> None:
    """Walk PNG chunks to IEND, reading text/EXIF chunks and seeking over everything else."""
    fp.seek(8)
    wanted = {b"IHDR", b"tEXt", b"iTXt", b"zTXt", b"eXIf"}
    for _ in range(MAX_CHUNKS):
        pos = fp.tell()
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
        if ctype not in wanted or length > MAX_CHUNK_READ:
            if ctype in wanted:
                meta.errors.append(
                    f"png: {ctype.decode('latin-1')} chunk of {length} bytes skipped"
                )
            if end > size:
                meta.errors.append(f"png: truncated {_name(ctype)} chunk at offset {pos}")
                return
            fp.seek(end)
            continue
        data = fp.read(length)
        crc = fp.read(4)
        if len(data) < length or len(crc) < 4:
            meta.errors.append(f"png: truncated {_name(ctype)} chunk at offset {pos}")
            return
        if zlib.crc32(ctype + data) != struct.unpack(">I", crc)[0]:
            meta.errors.append(f"png: CRC mismatch in {_name(ctype)} chunk at offset {pos}")
        _png_chunk(ctype, data, meta)
    meta.errors.append("png: too many chunks, stopped reading")


def _name(ctype: bytes) -> str:
    """Printable chunk type for error notes."""
    return ctype.decode("latin-1", "replace")


def _png_chunk(ctype: bytes, data: bytes, meta: ContainerMeta) -> None:
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
        meta.errors.append(f"png: {_name(ctype)} chunk without keyword separator")
        return
    key = key_raw.decode("latin-1")
    if ctype == b"tEXt":
        value = _decode_text(rest)
    elif ctype == b"zTXt":
        raw = _inflate(rest[1:], f"zTXt {key}", meta)
        value = _decode_text(raw) if raw is not None else None
    else:
        value = _itxt_value(key, rest, meta)
    if value is None:
        return
    if key == XMP_PNG_KEY:
        meta.xmp = value
    elif key in meta.text:
        meta.errors.append(f"png: duplicate text key {key!r} ignored")
    else:
        meta.text[key] = value
        meta.text_source[key] = f"png:{_name(ctype)}"


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
        body = _inflate(parts[2], f"iTXt {key}", meta)
        if body is None:
            return None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        meta.errors.append(f"png: iTXt {key!r} invalid UTF-8 at byte {exc.start}")
        return body.decode("utf-8", "replace")


def _inflate(data: bytes, what: str, meta: ContainerMeta) -> bytes | None:
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


def _decode_text(raw: bytes) -> str:
    """Decode tEXt bytes: UTF-8 when valid (many tools write it), else Latin-1 as the spec says."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


# ---------------------------------------------------------------- JPEG


def _read_jpeg(fp: BinaryIO, size: int, meta: ContainerMeta) -> None:
    """Walk JPEG marker segments up to the first scan (SOS), reading APP1, APP11, COM, SOFn."""
    fp.seek(2)
    for _ in range(MAX_CHUNKS):
        pos = fp.tell()
        byte = fp.read(1)
        if not byte:
            meta.errors.append("jpeg: file ends before image data")
            return
        if byte != b"\xff":
            meta.errors.append(f"jpeg: expected marker at offset {pos}")
            return
        marker = fp.read(1)
        while marker == b"\xff":  # fill bytes
            marker = fp.read(1)
        if not marker:
            meta.errors.append("jpeg: truncated marker")
            return
        code = marker[0]
        if code in (0xD8, 0x01) or 0xD0 <= code <= 0xD7:
            continue
        if code in (0xD9, 0xDA):  # EOI or start of scan: metadata is over
            return
        raw_len = fp.read(2)
        if len(raw_len) < 2:
            meta.errors.append("jpeg: truncated segment length")
            return
        length = struct.unpack(">H", raw_len)[0] - 2
        if length < 0:
            meta.errors.append(f"jpeg: invalid segment length at offset {pos}")
            return
        if code in (0xE1, 0xEB, 0xFE) or (0xC0 <= code <= 0xCF and code not in (0xC4, 0xC8, 0xCC)):
            data = fp.read(length)
            if len(data) < length:
                meta.errors.append(f"jpeg: truncated segment 0x{code:02X} at offset {pos}")
                return
            _jpeg_segment(code, data, meta)
        else:
            if fp.tell() + length > size:
                meta.errors.append(f"jpeg: truncated segment 0x{code:02X} at offset {pos}")
                return
            fp.seek(length, 1)
    meta.errors.append("jpeg: too many segments, stopped reading")


def _jpeg_segment(code: int, data: bytes, meta: ContainerMeta) -> None:
    """Decode one JPEG segment we care about into meta."""
    if code == 0xE1 and data.startswith(b"Exif\x00"):
        parse_exif(data[6:], meta)
    elif code == 0xE1 and data.startswith(XMP_JPEG_NS):
        meta.xmp = data[len(XMP_JPEG_NS) :].decode("utf-8", "replace")
    elif code == 0xEB:
        if b"jumb" in data[:64] or b"c2pa" in data[:128]:
            meta.c2pa = True
    elif code == 0xFE:
        if "comment" not in meta.text:
            meta.text["comment"] = _decode_text(data).rstrip("\x00")
            meta.text_source["comment"] = "jpeg:COM"
    elif len(data) >= 5 and meta.width is None:
        meta.height, meta.width = struct.unpack(">HH", data[1:5])


# ---------------------------------------------------------------- WebP


def _read_webp(fp: BinaryIO, size: int, meta: ContainerMeta) -> None:
    """Walk the RIFF chunks of a WebP file: canvas size, EXIF and XMP; skip bitstreams."""
    fp.seek(12)
    for _ in range(MAX_CHUNKS):
        pos = fp.tell()
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
                meta.errors.append(f"webp: truncated {_name(fourcc)} chunk")
                return
            if fourcc == b"XMP ":
                meta.xmp = data.decode("utf-8", "replace")
            else:
                parse_exif(data[6:] if data.startswith(b"Exif\x00") else data, meta)
        elif fourcc in (b"VP8X", b"VP8L", b"VP8 ") and meta.width is None:
            _webp_size(fourcc, fp.read(min(length, 10)), meta)
        if end > size:
            meta.errors.append(f"webp: truncated {_name(fourcc)} chunk at offset {pos}")
            return
        fp.seek(end)
    meta.errors.append("webp: too many chunks, stopped reading")


def _webp_size(fourcc: bytes, data: bytes, meta: ContainerMeta) -> None:
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


# ---------------------------------------------------------------- GIF, MP4


def _read_gif(fp: BinaryIO, size: int, meta: ContainerMeta) -> None:
    """Read the logical screen size of a GIF."""
    head = fp.read(10)
    if len(head) < 10:
        meta.errors.append("gif: truncated header")
        return
    meta.width, meta.height = struct.unpack("<HH", head[6:10])


def _read_mp4(fp: BinaryIO, size: int, meta: ContainerMeta) -> None:
    """MP4 is recognised only; its tags are read elsewhere (or later)."""


_READERS = {
    "png": _read_png,
    "jpeg": _read_jpeg,
    "webp": _read_webp,
    "gif": _read_gif,
    "mp4": _read_mp4,
}


# ---------------------------------------------------------------- EXIF (TIFF structure)


def parse_exif(tiff: bytes, meta: ContainerMeta) -> None:
    """Read a few string tags and UserComment from a TIFF-structured EXIF block into meta."""
    if len(tiff) < 8 or tiff[:4] not in (b"II*\x00", b"MM\x00*"):
        meta.errors.append("exif: bad TIFF header")
        return
    order = "<" if tiff[:2] == b"II" else ">"
    ifd0 = struct.unpack(order + "I", tiff[4:8])[0]
    seen: set[int] = set()
    for tag, value in _ifd_entries(tiff, ifd0, order, seen, meta):
        if tag == TAG_EXIF_IFD and isinstance(value, int):
            for sub_tag, sub_value in _ifd_entries(tiff, value, order, seen, meta):
                _store_exif(sub_tag, sub_value, order, meta)
        else:
            _store_exif(tag, value, order, meta)


def _ifd_entries(
    tiff: bytes, offset: int, order: str, seen: set[int], meta: ContainerMeta
) -> list[tuple[int, bytes | int]]:
    """Return (tag, raw bytes or int pointer) for the entries of one IFD, bounds-checked."""
    if offset in seen or offset + 2 > len(tiff):
        meta.errors.append(f"exif: IFD offset {offset} out of range or repeated")
        return []
    seen.add(offset)
    count = struct.unpack(order + "H", tiff[offset : offset + 2])[0]
    out: list[tuple[int, bytes | int]] = []
    for i in range(count):
        at = offset + 2 + 12 * i
        if at + 12 > len(tiff):
            meta.errors.append("exif: IFD runs past end of block")
            break
        tag, typ, n = struct.unpack(order + "HHI", tiff[at : at + 8])
        if tag == TAG_EXIF_IFD:
            out.append((tag, struct.unpack(order + "I", tiff[at + 8 : at + 12])[0]))
            continue
        if tag not in EXIF_TAGS and tag != TAG_USER_COMMENT:
            continue
        nbytes = TYPE_SIZES.get(typ, 1) * n
        if nbytes <= 4:
            out.append((tag, tiff[at + 8 : at + 8 + nbytes]))
            continue
        start = struct.unpack(order + "I", tiff[at + 8 : at + 12])[0]
        if start + nbytes > len(tiff):
            meta.errors.append(f"exif: tag 0x{tag:04X} value out of range")
            continue
        out.append((tag, tiff[start : start + nbytes]))
    return out


def _store_exif(tag: int, value: bytes | int, order: str, meta: ContainerMeta) -> None:
    """Decode one EXIF value into meta.exif or meta.exif_user_comment."""
    if not isinstance(value, bytes):
        return
    if tag == TAG_USER_COMMENT:
        meta.exif_user_comment = decode_user_comment(value, order)
    elif tag in EXIF_TAGS:
        meta.exif[EXIF_TAGS[tag]] = _decode_text(value).rstrip("\x00")


def decode_user_comment(value: bytes, tiff_order: str = ">") -> str:
    """Decode EXIF UserComment: 8-byte charset prefix, then ASCII, UTF-16 (BE/LE) or undefined."""
    prefix, body = value[:8], value[8:]
    if prefix == b"UNICODE\x00":
        return _decode_utf16(body, tiff_order).rstrip("\x00")
    if prefix == b"JIS\x00\x00\x00\x00\x00":
        return body.decode("shift_jis", "replace").rstrip("\x00")
    if prefix in (b"ASCII\x00\x00\x00", b"\x00" * 8):
        return _decode_text(body).rstrip("\x00")
    return _decode_text(value).rstrip("\x00")


def _decode_utf16(body: bytes, tiff_order: str) -> str:
    """Decode UTF-16 of unknown endianness: BOM, then where the zero bytes sit, then TIFF order."""
    if body[:2] == b"\xfe\xff":
        return body[2:].decode("utf-16-be", "replace")
    if body[:2] == b"\xff\xfe":
        return body[2:].decode("utf-16-le", "replace")
    sample = body[:4096]
    zeros_even = sample[0::2].count(0)
    zeros_odd = sample[1::2].count(0)
    if zeros_even != zeros_odd:
        codec = "utf-16-be" if zeros_even > zeros_odd else "utf-16-le"
    else:
        codec = "utf-16-be" if tiff_order == ">" else "utf-16-le"
    return body[: len(body) & ~1].decode(codec, "replace")
