"""One decode per image -> full size, perceptual hashes, JPEG thumbnail and quality features.

The image is decoded once into a working image of about twice the thumbnail size (JPEG DCT
scaling via ``draft()``, else an integer box ``reduce()``; images over 4x that size keep at
least 1/4 of their resolution, up to 4x the thumbnail size, so blur stays measurable),
converted to RGB once, and everything the index needs is derived from that working image.
"""

from __future__ import annotations

import io
import math
import os
import struct
import threading
import zlib
from typing import IO, BinaryIO

import imagehash
import numpy as np
from PIL import Image, UnidentifiedImageError

from alice_mcp.errors import InvalidArgument, MediaError
from alice_mcp.media.measures import PixelInfo
from alice_mcp.media.png import inflate_with_isal
from alice_mcp.media.probe import png_text_over_limit
from alice_mcp.media.quality import features_from_image, score

MAX_PIXELS = 50_000_000  # an image (or a video frame) declaring more is refused, never decoded

THUMBNAIL_MIME = "image/jpeg"  # ~10x cheaper to encode than WebP, and every client shows it
THUMBNAIL_QUALITY = 85
HASH_SOURCE_SIDE = 64  # hashes read a grey image reduced to >= this (imagehash goes to 32x32)
DHASH_SIDE = 8  # imagehash.dhash's default hash_size: 8 rows of 8 left/right comparisons
PHASH_SIDE = 32  # imagehash.phash resizes to hash_size * highfreq_factor = 8 * 4
# The first 8 rows of the unnormalised DCT-II matrix that scipy.fftpack.dct applies.
_DCT8 = 2.0 * np.cos(np.pi * np.outer(np.arange(8), 2 * np.arange(PHASH_SIDE) + 1) / 64)
_TIE_MARGIN = 1e-3  # far above float error in a coefficient (< 1e-8), far below real gaps
BACKGROUND = (255, 255, 255)  # transparent pixels are composited onto white
MAX_DOWNSCALE = 4  # analyse big images at >= 1/4 of full resolution, so blur stays visible ...
MAX_WORK_FACTOR = 4  # ... but never with a working image longer than 4 * thumb_size

_MASK64 = (1 << 64) - 1
_SIGN64 = 1 << 63
_ORIENTATION_TAG = 0x0112
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# What Pillow and its plugins raise on truncated, corrupt or hostile files.
_DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    struct.error,
    zlib.error,
    Image.DecompressionBombError,
)


class PixelError(MediaError):
    """An image that cannot be decoded (broken, truncated, unknown) or must not be (too big)."""


def signed64(value: int) -> int:
    """Reinterpret an unsigned 64-bit int as two's-complement signed (fits DuckDB BIGINT)."""
    value &= _MASK64
    return value - (1 << 64) if value & _SIGN64 else value


def hash_hex(value: int) -> str:
    """16-digit hex of a stored (signed) hash, the same text str(imagehash.ImageHash) gives."""
    return f"{value & _MASK64:016x}"


def hamming(a: int, b: int) -> int:
    """Bits that differ between two 64-bit hashes; equals DuckDB bit_count(xor(a, b))."""
    return ((a ^ b) & _MASK64).bit_count()


def _bits_to_int(bits: np.ndarray) -> int:
    """Pack 8x8 hash bits (row-major, first bit most significant) into a signed int."""
    return signed64(int.from_bytes(np.packbits(bits.ravel()).tobytes(), "big"))


def _open_checked(fp: BinaryIO, max_pixels: int) -> Image.Image:
    """Open lazily (header only) and refuse images declaring more than max_pixels."""
    if too_much := png_text_over_limit(fp):
        raise PixelError(too_much)
    try:
        img = Image.open(fp)
    except Image.DecompressionBombError as exc:
        raise PixelError(f"image refused, too many pixels: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise PixelError("not an image format Pillow can read") from exc
    except _DECODE_ERRORS as exc:
        raise PixelError(f"cannot read image header: {exc}") from exc
    width, height = img.size
    if width <= 0 or height <= 0 or width * height > max_pixels:
        img.close()
        raise PixelError(
            f"image refused: declares {width}x{height} = {width * height} pixels, "
            f"limit is {max_pixels}"
        )
    inflate_with_isal(img)
    return img


def _orientation(img: Image.Image) -> int:
    """EXIF orientation (1..8) of a loaded image; 1 when absent or unreadable."""
    try:
        value = img.getexif().get(_ORIENTATION_TAG, 1)
    except _DECODE_ERRORS:
        return 1
    return value if isinstance(value, int) and value in _TRANSPOSE else 1


def _prepare_mode(img: Image.Image) -> Image.Image:
    """Bring exotic modes to one that reduce() handles: L, LA, RGB, RGBA, I or F."""
    mode = img.mode
    if mode in ("L", "LA", "RGB", "RGBA", "I", "F"):
        return img
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in img.info
        return img.convert("RGBA" if has_alpha else "RGB")
    if mode.startswith("I;16"):
        return img.convert("I")
    if mode == "1":
        return img.convert("L")
    if mode == "La":
        return img.convert("LA")
    if mode == "RGBa":
        return img.convert("RGBA")
    return img.convert("RGB")  # CMYK, YCbCr, LAB, HSV, ...


def _deep_to_l(img: Image.Image, sixteen_bit: bool) -> Image.Image:
    """Scale a 16/32-bit integer or float grey image to 8-bit L (Pillow would clip instead)."""
    arr = np.asarray(img, dtype=np.float32)
    top = float(arr.max()) if arr.size else 0.0
    if img.mode == "F":
        full = 1.0 if top <= 1.0 else 255.0
    else:
        full = 65535.0 if sixteen_bit or top > 255.0 else 255.0
    out = np.clip(arr * (255.0 / full) + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(out, "L")


def _to_rgb(img: Image.Image) -> Image.Image:
    """Flatten to RGB: transparent pixels onto BACKGROUND, grey replicated."""
    if img.mode in ("LA", "RGBA"):
        rgba = img if img.mode == "RGBA" else img.convert("RGBA")
        flat = Image.new("RGB", img.size, BACKGROUND)
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return img if img.mode == "RGB" else img.convert("RGB")


def _fit(size: tuple[int, int], side: int) -> tuple[int, int]:
    """Scale (w, h) so the long side is `side`, keeping the aspect ratio, each >= 1."""
    scale = side / max(size)
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def _working_side(full_side: int, thumb_size: int) -> int:
    """Long side of the working image: 2x thumb_size, more for big images (<= 4x thumb_size)."""
    wanted = max(2 * thumb_size, math.ceil(full_side / MAX_DOWNSCALE))
    return min(MAX_WORK_FACTOR * thumb_size, wanted)


def _decode_working(img: Image.Image, target: int) -> tuple[Image.Image, tuple[int, int]]:
    """Decode at about `target` px long side into RGB, upright; also return the full size."""
    full = img.size
    if max(full) > target:
        img.draft("RGB", _fit(full, target))  # JPEG: DCT scaling; no-op for other formats
    img.load()
    orientation = _orientation(img)
    sixteen_bit = img.mode.startswith("I;16")
    work = _prepare_mode(img)
    factor = math.ceil(max(work.size) / target)
    if factor > 1:
        work = work.reduce(factor)
    if work.mode in ("I", "F"):
        work = _deep_to_l(work, sixteen_bit)
    work = _to_rgb(work)
    if orientation != 1:
        work = work.transpose(_TRANSPOSE[orientation])
        if orientation >= 5:
            full = (full[1], full[0])
    return work, full


def _shrink(img: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Downscale to `size`: a box reduce alone when the factor is an exact integer, else
    box reduce then bilinear (the same pixels resize(reducing_gap=1.0) gives, one pass less)."""
    factor, rest = divmod(img.width, size[0])
    if rest == 0 and factor > 1 and img.height == size[1] * factor:
        return img.reduce(factor)
    return img.resize(size, Image.Resampling.BILINEAR, reducing_gap=1.0)


_scratch = threading.local()


def _scratch_file() -> IO[bytes]:
    """This thread's memory-backed scratch file for encoding (Linux's memfd); elsewhere a
    BytesIO, as nothing is written outside the organized folder (not even a temporary file)."""
    if not hasattr(os, "memfd_create"):
        return io.BytesIO()
    file: IO[bytes] | None = getattr(_scratch, "file", None)
    if file is None:
        file = os.fdopen(os.memfd_create("alice-thumbnail", os.MFD_CLOEXEC), "w+b")
        _scratch.file = file
    return file


def _thumbnail(work: Image.Image, thumb_size: int) -> bytes:
    """Encode a JPEG thumbnail whose long side is <= thumb_size.

    On Linux encoded into a memory file (memfd), not a BytesIO: Pillow then encodes in one C
    call without the GIL (to a BytesIO it holds it: a quarter of the GIL-held time of indexing,
    issue 19); same bytes.
    """
    thumb = work
    if max(work.size) > thumb_size:
        thumb = _shrink(work, _fit(work.size, thumb_size))
    file = _scratch_file()
    file.seek(0)
    file.truncate()
    thumb.save(file, "JPEG", quality=THUMBNAIL_QUALITY)
    file.seek(0)
    return file.read()


def _dhash(grey: Image.Image) -> int:
    """imagehash.dhash of an L image, bit for bit (9x8 Lanczos, left < right), minus its copies."""
    pixels = np.asarray(grey.resize((DHASH_SIDE + 1, DHASH_SIDE), Image.Resampling.LANCZOS))
    return _bits_to_int(pixels[:, 1:] > pixels[:, :-1])


def _phash(grey: Image.Image) -> int:
    """imagehash.phash of an L image, bit for bit: the lowest 8x8 DCT-II terms of a 32x32
    Lanczos resize against their median, by two small matrix products instead of scipy FFTs.

    A term within _TIE_MARGIN of the median (flat or symmetric images, whose bits depend on
    scipy's rounding) sends the image to imagehash itself, so no bit can differ.
    """
    side = (PHASH_SIDE, PHASH_SIDE)
    pixels = np.asarray(grey.resize(side, Image.Resampling.LANCZOS), dtype=np.float64)
    low = (_DCT8 @ pixels @ _DCT8.T).ravel()
    middle = np.partition(low, (31, 32))[31:33]
    median = (middle[0] + middle[1]) / 2  # np.median of 64 values
    if np.abs(low - median).min() <= _TIE_MARGIN:
        return _bits_to_int(imagehash.phash(grey).hash)
    return _bits_to_int(low > median)


def _hashes(grey: Image.Image) -> tuple[int, int]:
    """phash and dhash (imagehash's) of a grey image, box-reduced first since both shrink it."""
    factor = max(1, min(grey.size) // HASH_SOURCE_SIDE)
    small = grey.reduce(factor) if factor > 1 else grey
    return _phash(small), _dhash(small)


def analyze_pixels(fp: BinaryIO, thumb_size: int = 256, max_pixels: int = MAX_PIXELS) -> PixelInfo:
    """Decode an image once (reduced) and derive size, hashes, thumbnail and quality from it."""
    if thumb_size < 8:
        raise InvalidArgument("thumb_size must be at least 8")
    img = _open_checked(fp, max_pixels)
    with img:
        return analyze_image(img, thumb_size=thumb_size)


def open_decoded(fp: BinaryIO, max_pixels: int = MAX_PIXELS) -> Image.Image | None:
    """A PNG or WebP (formats decoded in full anyway) opened and decoded, for a reader that
    scans every pixel before analyze_image uses them (stealth pnginfo): one decode, not two.
    None for other formats and files that fail: the caller reads those the usual way."""
    try:
        img = _open_checked(fp, max_pixels)
    except PixelError:
        return None
    if img.format not in ("PNG", "WEBP"):
        img.close()
        return None
    try:
        img.load()
    except _DECODE_ERRORS:
        img.close()
        return None
    return img


def analyze_image(img: Image.Image, thumb_size: int = 256) -> PixelInfo:
    """The same PixelInfo from an already opened or decoded PIL image (e.g. a video frame)."""
    if thumb_size < 8:
        raise InvalidArgument("thumb_size must be at least 8")
    try:
        target = _working_side(max(img.size), thumb_size)
        work, (width, height) = _decode_working(img, target)
    except _DECODE_ERRORS as exc:
        raise PixelError(f"cannot decode image: {exc}") from exc
    grey = work.convert("L")
    features = features_from_image(work, (width, height), grey=grey)
    phash, dhash = _hashes(grey)
    thumbnail = _thumbnail(work, thumb_size)
    return PixelInfo(
        width=width,
        height=height,
        phash=phash,
        dhash=dhash,
        thumbnail=thumbnail,
        thumbnail_mime=THUMBNAIL_MIME,
        features=features,
        quality=score(features),
    )
