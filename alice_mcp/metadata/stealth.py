"""Stealth pnginfo: parameters hidden in the least significant bits of the pixels (opt-in).

Layout (sd-webui-stealth-pnginfo, NovelAI; read the same way by sd-parsers and Infinite
Image Browsing): pixels are visited column by column (x outer, y inner). In alpha mode
each pixel gives the LSB of its alpha; in RGB mode the LSBs of R, G and B in that order.
The bit stream is a 15-byte signature (`stealth_pnginfo`/`stealth_pngcomp` for alpha,
`stealth_rgbinfo`/`stealth_rgbcomp` for RGB), a 32-bit big-endian payload length *in
bits*, then the payload: UTF-8 text, gzip-compressed for the `comp` signatures. A1111
hides its infotext; NovelAI hides a JSON object with its PNG text keys.

This needs a full pixel decode, so it only runs when asked for.
"""

from __future__ import annotations

import gzip
import json
import zlib
from typing import TYPE_CHECKING, Any, BinaryIO

from alice_mcp.media.probe import png_text_over_limit
from alice_mcp.metadata.base import MAX_TEXT, ContainerMeta

if TYPE_CHECKING:  # numpy and Pillow load when pixels are scanned: a process that only reads
    import numpy as np  # the metadata records (placing, with worker processes) never needs them
    from PIL import Image

SIGNATURES = {
    b"stealth_pnginfo": ("alpha", False),
    b"stealth_pngcomp": ("alpha", True),
    b"stealth_rgbinfo": ("rgb", False),
    b"stealth_rgbcomp": ("rgb", True),
}
SIG_BITS = 15 * 8
LEN_BITS = 32
MAX_PIXELS = 40_000_000  # ~160 MB of RGBA at most


def read_stealth(fp: BinaryIO, meta: ContainerMeta, image: Image.Image | None = None) -> None:
    """Decode the pixels, look for a stealth payload and add its texts to meta; never raises.

    `image`: this file already decoded by the caller (the indexer, which analyses the same
    pixels afterwards: one decode, not two); else the file is opened and decoded here."""
    from PIL import Image

    try:
        if image is not None:
            arr = _scannable(image, meta)
        else:
            fp.seek(0)
            if too_much := png_text_over_limit(fp):
                meta.errors.append(f"stealth: {too_much}")
                return
            with Image.open(fp) as img:
                arr = _scannable(img, meta)
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as exc:
        meta.errors.append(f"stealth: cannot decode pixels: {exc}"[:300])
        return
    payload = extract(arr) if arr is not None else None
    if payload is None:
        return
    text, note = payload
    if note:
        meta.errors.append(note)
    if text is not None:
        _store(text, meta)


def _scannable(img: Image.Image, meta: ContainerMeta) -> np.ndarray | None:
    """The RGB(A) pixels of an opened image, None (with a note) when it is too large to scan."""
    import numpy as np

    from alice_mcp.media.png import inflate_with_isal

    if img.width * img.height > MAX_PIXELS:
        meta.errors.append("stealth: image too large to scan")
        return None
    inflate_with_isal(img)
    img.load()
    return np.asarray(img.convert("RGBA" if "A" in img.getbands() else "RGB"))


def extract(arr: np.ndarray) -> tuple[str | None, str | None] | None:
    """(payload text, error note) from an RGB(A) pixel array; None without a signature."""
    planes = []
    if arr.ndim == 3 and arr.shape[2] == 4:
        planes.append(("alpha", arr[:, :, 3:4]))
    if arr.ndim == 3 and arr.shape[2] >= 3:
        planes.append(("rgb", arr[:, :, :3]))
    for mode, plane in planes:
        bits = _ColumnBits(plane)
        found = SIGNATURES.get(bits.read_bytes(0, SIG_BITS))
        if found is None or found[0] != mode:
            continue
        n_bits = int.from_bytes(bits.read_bytes(SIG_BITS, LEN_BITS), "big")
        if n_bits <= 0 or n_bits > min(bits.total - SIG_BITS - LEN_BITS, MAX_TEXT * 8):
            return None, f"stealth: {mode} signature with impossible length {n_bits}"
        data = bits.read_bytes(SIG_BITS + LEN_BITS, n_bits)
        return _decode(data, compressed=found[1])
    return None


class _ColumnBits:
    """LSBs of a (h, w, c) plane in column order, unpacked lazily column by column."""

    def __init__(self, plane: np.ndarray) -> None:
        self.plane = plane
        self.per_column = plane.shape[0] * plane.shape[2]
        self.total = self.per_column * plane.shape[1]

    def read_bytes(self, start: int, count: int) -> bytes:
        """`count` bits from bit `start`, packed MSB first (short at the image's end)."""
        end = min(start + count, self.total)
        if end <= start:
            return b""
        import numpy as np

        first, last = start // self.per_column, (end - 1) // self.per_column + 1
        cols = np.ascontiguousarray(self.plane[:, first:last, :].transpose(1, 0, 2))
        bits = (cols.reshape(-1) & 1).astype(np.uint8)
        offset = start - first * self.per_column
        return np.packbits(bits[offset : offset + (end - start)]).tobytes()


def _decode(data: bytes, *, compressed: bool) -> tuple[str | None, str | None]:
    """Unzip (bounded) and decode the payload."""
    if compressed:
        try:
            dec = zlib.decompressobj(16 + zlib.MAX_WBITS)
            data = dec.decompress(data, MAX_TEXT)
        except (zlib.error, EOFError, gzip.BadGzipFile) as exc:
            return None, f"stealth: bad gzip payload ({exc})"
    return data.decode("utf-8", "replace"), None


def _store(text: str, meta: ContainerMeta) -> None:
    """A JSON object (NovelAI) becomes its text keys; anything else is A1111 `parameters`."""
    where = f"{meta.format}:stealth"
    data: Any = None
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            data = None
    if isinstance(data, dict) and ("Comment" in data or "Software" in data):
        for key, value in data.items():
            if isinstance(key, str) and key not in meta.text:
                value = value if isinstance(value, str) else json.dumps(value)
                meta.add_text(key, value, where)
    elif "parameters" not in meta.text:
        meta.add_text("parameters", text, where)
