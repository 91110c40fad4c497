"""Previews for the assistant to look at: bounded JPEGs from the stored thumbnail or the original."""

from __future__ import annotations

import io
from pathlib import Path
from typing import BinaryIO

from PIL import Image, ImageOps

from alice_mcp.errors import MediaError
from alice_mcp.media.png import inflate_with_isal
from alice_mcp.media.probe import open_regular, png_text_over_limit

PREVIEW_MIME = "image/jpeg"


def render_preview(source: bytes | Path, size: int, quality: int = 85,
                   max_pixels: int = 50_000_000) -> bytes:
    """A JPEG whose longest side is at most size pixels (JPEG: every MCP client can show it)."""
    if isinstance(source, bytes):
        return _render(io.BytesIO(source), size, quality, max_pixels)
    with open_regular(source) as fp:  # a FIFO or device is refused, not waited on
        return _render(fp, size, quality, max_pixels)


def _render(fp: BinaryIO, size: int, quality: int, max_pixels: int) -> bytes:
    if too_much := png_text_over_limit(fp):
        raise MediaError(too_much)
    with Image.open(fp) as img:
        if img.width * img.height > max_pixels:
            raise MediaError(f"image of {img.width}x{img.height} is too large to preview")
        img.draft("RGB", (size, size))
        inflate_with_isal(img)
        frame = ImageOps.exif_transpose(img).convert("RGB")
    frame.thumbnail((size, size), Image.Resampling.LANCZOS, reducing_gap=2.0)
    out = io.BytesIO()
    frame.save(out, "JPEG", quality=quality, optimize=True)
    return out.getvalue()
