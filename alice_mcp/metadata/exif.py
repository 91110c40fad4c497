"""EXIF (TIFF structure): a few string tags and UserComment, bounds-checked, never raising."""

from __future__ import annotations

import struct
from codecs import utf_16_be_decode, utf_16_le_decode

from alice_mcp.metadata.base import ContainerMeta, decode_text

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
TAG_MAKER_NOTE = 0x927C
MAKER_NOTE_TEXT_MAX = 64  # Fooocus writes its scheme name here; cameras write binary blobs
TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8}
_WANTED = {*EXIF_TAGS, TAG_USER_COMMENT, TAG_MAKER_NOTE}
_U16 = {o: struct.Struct(o + "H") for o in "<>"}
_U32 = {o: struct.Struct(o + "I") for o in "<>"}
_ENTRY = {o: struct.Struct(o + "HHII") for o in "<>"}  # tag, type, count, value or offset


def parse_exif(tiff: bytes, meta: ContainerMeta) -> None:
    """Read a few string tags and UserComment from a TIFF-structured EXIF block into meta."""
    if len(tiff) < 8 or tiff[:4] not in (b"II*\x00", b"MM\x00*"):
        meta.errors.append("exif: bad TIFF header")
        return
    order = "<" if tiff[:2] == b"II" else ">"
    ifd0 = _U32[order].unpack_from(tiff, 4)[0]
    seen: set[int] = set()
    for tag, value in _ifd_entries(tiff, ifd0, order, seen, meta):
        if tag == TAG_EXIF_IFD and isinstance(value, int):
            for sub_tag, sub_value in _ifd_entries(tiff, value, order, seen, meta):
                _store(sub_tag, sub_value, order, meta)
        else:
            _store(tag, value, order, meta)


def _ifd_entries(
    tiff: bytes, offset: int, order: str, seen: set[int], meta: ContainerMeta
) -> list[tuple[int, bytes | int]]:
    """Return (tag, raw bytes or int pointer) for the entries of one IFD, bounds-checked."""
    if offset in seen or offset + 2 > len(tiff):
        meta.errors.append(f"exif: IFD offset {offset} out of range or repeated")
        return []
    seen.add(offset)
    entry = _ENTRY[order]
    count = _U16[order].unpack_from(tiff, offset)[0]
    out: list[tuple[int, bytes | int]] = []
    for at in range(offset + 2, offset + 2 + 12 * count, 12):
        if at + 12 > len(tiff):
            meta.errors.append("exif: IFD runs past end of block")
            break
        tag, typ, n, start = entry.unpack_from(tiff, at)
        if tag == TAG_EXIF_IFD:
            out.append((tag, start))
            continue
        if tag not in _WANTED:
            continue
        nbytes = TYPE_SIZES.get(typ, 1) * n
        if nbytes <= 4:
            out.append((tag, tiff[at + 8 : at + 8 + nbytes]))
            continue
        if start + nbytes > len(tiff):
            meta.errors.append(f"exif: tag 0x{tag:04X} value out of range")
            continue
        out.append((tag, tiff[start : start + nbytes]))
    return out


def _store(tag: int, value: bytes | int, order: str, meta: ContainerMeta) -> None:
    """Decode one EXIF value into meta.exif or meta.exif_user_comment."""
    if not isinstance(value, bytes):
        return
    if tag == TAG_USER_COMMENT:
        meta.exif_user_comment = decode_user_comment(value, order)
    elif tag == TAG_MAKER_NOTE:
        text = value.rstrip(b"\x00")
        if 0 < len(text) <= MAKER_NOTE_TEXT_MAX and text.isascii() and text.decode().isprintable():
            meta.exif["MakerNote"] = text.decode()
    elif tag in EXIF_TAGS:
        meta.exif[EXIF_TAGS[tag]] = decode_text(value).rstrip("\x00")


def decode_user_comment(value: bytes, tiff_order: str = ">") -> str:
    """Decode EXIF UserComment: 8-byte charset prefix, then ASCII, UTF-16 (BE/LE) or undefined."""
    prefix, body = value[:8], value[8:]
    if prefix == b"UNICODE\x00":
        return _decode_utf16(body, tiff_order).rstrip("\x00")
    if prefix == b"JIS\x00\x00\x00\x00\x00":
        return body.decode("shift_jis", "replace").rstrip("\x00")
    if prefix in (b"ASCII\x00\x00\x00", b"\x00" * 8):
        return decode_text(body).rstrip("\x00")
    return decode_text(value).rstrip("\x00")


def _decode_utf16(body: bytes, tiff_order: str) -> str:
    """Decode UTF-16 of unknown endianness: BOM, then where the zero bytes sit, then TIFF order."""
    if body.startswith(b"\xfe\xff"):
        return utf_16_be_decode(body[2:], "replace", True)[0]
    if body.startswith(b"\xff\xfe"):
        return utf_16_le_decode(body[2:], "replace", True)[0]
    sample = body[:4096]
    zeros_even = sample[0::2].count(0)
    zeros_odd = sample.count(0) - zeros_even
    big_endian = zeros_even > zeros_odd if zeros_even != zeros_odd else tiff_order == ">"
    decode = utf_16_be_decode if big_endian else utf_16_le_decode  # bytes.decode, minus lookup
    return decode(body[: len(body) & ~1], "replace", True)[0]
