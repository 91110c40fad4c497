"""Header-only container reading: sniff the format, run its reader, add the C2PA manifest.

Nothing here decodes pixels (image data is skipped by seeking; videos are opened by their
header) unless stealth reading is asked for. Every read is bounded, and a broken file
yields error notes plus whatever was read before the damage, never an exception.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, BinaryIO

from alice_mcp.metadata.base import ContainerMeta
from alice_mcp.metadata.exif import decode_user_comment, parse_exif
from alice_mcp.metadata.gif import read_gif
from alice_mcp.metadata.jpeg import read_jpeg
from alice_mcp.metadata.png import PNG_MAGIC, read_png
from alice_mcp.metadata.provenance import read_manifest_store
from alice_mcp.metadata.stealth import read_stealth
from alice_mcp.metadata.video import read_video, sniff_video
from alice_mcp.metadata.webp import read_webp

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "PNG_MAGIC",
    "ContainerMeta",
    "decode_user_comment",
    "parse_exif",
    "read_container",
    "sniff",
]

Reader = Callable[[BinaryIO, int, ContainerMeta], None]
_READERS: dict[str, Reader] = {
    "png": read_png,
    "jpeg": read_jpeg,
    "webp": read_webp,
    "gif": read_gif,
    "mp4": read_video,
    "mov": read_video,
    "webm": read_video,
    "matroska": read_video,
    "avi": read_video,
}
STEALTH_FORMATS = ("png", "webp")


def read_container(
    fp: BinaryIO, *, stealth: bool = False, size: int | None = None,
    image: Image.Image | None = None,
) -> ContainerMeta:
    """Sniff the format from magic bytes and read its metadata; never raises on bad input.

    With `stealth`, PNG/WebP pixels are decoded to look for stealth pnginfo as well (`image`:
    the file already decoded by the caller, see read_stealth). `size`: the file's size when
    the caller knows it and `fp` is at offset 0 (spares two seeks).
    """
    meta = ContainerMeta()
    try:
        if size is None:
            size = fp.seek(0, 2)
            fp.seek(0)
        head = fp.read(64)
        meta.format = sniff(head)
        fp.seek(0)
        reader = _READERS.get(meta.format)
        if not head:
            meta.errors.append("container: empty file")
        elif reader is not None:
            reader(fp, size, meta)
        else:
            meta.errors.append("container: unrecognised file format")
        if meta.c2pa:
            meta.c2pa_manifest, errors = read_manifest_store(fp, meta.format)
            meta.errors.extend(errors)
        if stealth and meta.format in STEALTH_FORMATS:
            read_stealth(fp, meta, image)
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
    return sniff_video(head) or "unknown"
