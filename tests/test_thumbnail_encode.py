"""Thumbnails are encoded into a per-thread scratch file (issue 19): the bytes must be exactly
what Pillow writes to a buffer, whatever was encoded before in that thread, from any thread."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image

from alice_mcp.media.pixels import THUMBNAIL_QUALITY, analyze_pixels


def _png(seed: int, side: int) -> bytes:
    """A noisy picture (large JPEG) or a flat one (small JPEG), as PNG bytes."""
    rng = np.random.default_rng(seed)
    pixels = (rng.integers(0, 256, (side, side, 3)) if seed % 2
              else np.full((side, side, 3), seed % 256))
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8), "RGB").save(buffer, "PNG")
    return buffer.getvalue()


def test_a_small_thumbnail_after_a_large_one_has_no_trailing_bytes() -> None:
    noisy, flat = _png(1, 200), _png(2, 200)
    big = analyze_pixels(io.BytesIO(noisy), 128).thumbnail
    small = analyze_pixels(io.BytesIO(flat), 128).thumbnail
    assert len(small) < len(big)
    assert small.endswith(b"\xff\xd9")  # JPEG end-of-image marker is the last thing written
    with Image.open(io.BytesIO(flat)) as img:
        expected = io.BytesIO()
        img.convert("RGB").resize((128, 128), Image.Resampling.BILINEAR, reducing_gap=1.0).save(
            expected, "JPEG", quality=THUMBNAIL_QUALITY)
    assert small == expected.getvalue()


def test_thumbnails_from_many_threads_match_one_thread() -> None:
    pictures = [_png(seed, 96 + 8 * (seed % 5)) for seed in range(24)]
    alone = [analyze_pixels(io.BytesIO(p), 64).thumbnail for p in pictures]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda p: analyze_pixels(io.BytesIO(p), 64).thumbnail,
                                 pictures * 3))
    assert together == alone * 3
    assert all(Image.open(io.BytesIO(t)).format == "JPEG" for t in together)
