"""PNG pixels inflated by ISA-L (alice_mcp/media/png.py) equal Pillow's own decode, byte for byte.

The files are laid out as real writers lay them: Pillow's encoder (what A1111, Forge and ComfyUI
save through), libpng's 8 KB IDAT chunks, every row filter, Adam7 interlacing, 16-bit samples,
APNG; and broken ones: a corrupt stream, a truncated file, a stream that ends early, a bad
filter byte. The oracle is Pillow decoding the same bytes with its zlib decoder.
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from alice_mcp.media import png
from alice_mcp.media.pixels import PixelError, analyze_pixels

pytestmark = pytest.mark.skipif(png.isal_zlib is None, reason="the isal package is not installed")

SIGNATURE = b"\x89PNG\r\n\x1a\n"
ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
         (0, 1, 1, 2)]  # (x0, y0, dx, dy) of each pass


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_file(width: int, height: int, depth: int, colour: int, stream: bytes, *,
             interlace: int = 0, idat_size: int = 8192, before: bytes = b"") -> bytes:
    """A PNG as libpng lays it out: IHDR, ancillary chunks, the stream in idat_size IDATs."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, interlace)
    idats = b"".join(chunk(b"IDAT", stream[i:i + idat_size])
                     for i in range(0, max(len(stream), 1), idat_size))
    return SIGNATURE + chunk(b"IHDR", ihdr) + before + idats + chunk(b"IEND", b"")


def paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def filtered(rows: np.ndarray, bpp: int, kinds: list[int]) -> bytes:
    """Rows of bytes (h, stride) filtered with the given filter type per row (cycled), as the
    PNG specification defines them."""
    out = bytearray()
    prior = np.zeros(rows.shape[1], dtype=np.int64)
    for y, row in enumerate(rows.astype(np.int64)):
        kind = kinds[y % len(kinds)]
        left = np.concatenate([np.zeros(bpp, dtype=np.int64), row[:-bpp]])
        upleft = np.concatenate([np.zeros(bpp, dtype=np.int64), prior[:-bpp]])
        if kind == 0:
            line = row
        elif kind == 1:
            line = row - left
        elif kind == 2:
            line = row - prior
        elif kind == 3:
            line = row - (left + prior) // 2
        else:
            line = row - np.array([paeth(int(a), int(b), int(c))
                                   for a, b, c in zip(left, prior, upleft, strict=True)])
        out.append(kind)
        out += bytes((line % 256).astype(np.uint8))
        prior = row
    return bytes(out)


def texture(height: int, width: int, channels: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = (x * 3 + y * 5)[..., None] + rng.integers(0, 40, (height, width, channels))
    return (base % 256).astype(np.uint8)


def decode(data: bytes, fast: bool) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    if fast:
        assert png.inflate_with_isal(img)
    img.load()
    return img


def assert_same_decode(data: bytes) -> Image.Image:
    ours, pillows = decode(data, fast=True), decode(data, fast=False)
    assert (ours.mode, ours.size) == (pillows.mode, pillows.size)
    assert ours.tobytes() == pillows.tobytes()
    assert ours.info == pillows.info
    if pillows.mode == "P":
        assert ours.getpalette() == pillows.getpalette()
    return ours


def pillow_png(img: Image.Image, **options: object) -> bytes:
    out = io.BytesIO()
    img.save(out, "PNG", **options)
    return out.getvalue()


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGB", "RGBA", "I;16"])
def test_every_mode_pillow_writes_decodes_to_the_same_pixels(mode: str) -> None:
    rgb = Image.fromarray(texture(61, 83, 3))
    img = rgb.convert(mode) if mode != "I;16" else Image.fromarray(
        texture(61, 83, 1)[..., 0].astype(np.uint16) * 257)
    data = pillow_png(img, pnginfo=None, **({"transparency": 3} if mode == "P" else {}))
    assert_same_decode(data)


@pytest.mark.parametrize("level", [0, 1, 6, 9])
def test_a1111_style_file_with_text_chunks_and_every_compression_level(level: int) -> None:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("parameters", "a cat\nSteps: 20, Sampler: Euler a, Seed: 1, Model: sdxl")
    data = pillow_png(Image.fromarray(texture(512, 512, 3)), pnginfo=info, compress_level=level)
    img = assert_same_decode(data)
    assert img.info["parameters"].startswith("a cat")


@pytest.mark.parametrize("colour,channels,depth", [(2, 3, 8), (6, 4, 8), (0, 1, 8), (4, 2, 8),
                                                   (2, 3, 16), (0, 1, 16)])
def test_every_row_filter_in_libpng_sized_idat_chunks(colour: int, channels: int,
                                                      depth: int) -> None:
    height, width = 37, 29
    pixels = texture(height, width, channels * depth // 8, seed=channels + depth)
    rows = pixels.reshape(height, -1)
    stream = zlib.compress(filtered(rows, channels * depth // 8, [0, 1, 2, 3, 4]), 9)
    data = png_file(width, height, depth, colour, stream, idat_size=97)
    assert_same_decode(data)


def test_adam7_interlaced_file() -> None:
    height, width = 21, 19
    pixels = texture(height, width, 3, seed=7)
    passes = b""
    for x0, y0, dx, dy in ADAM7:
        sub = pixels[y0::dy, x0::dx]
        if sub.size:
            passes += filtered(sub.reshape(sub.shape[0], -1), 3, [4, 1, 3])
    data = png_file(width, height, 8, 2, zlib.compress(passes), interlace=1)
    img = assert_same_decode(data)
    assert np.array_equal(np.asarray(img), pixels)


def test_empty_idat_chunks_and_an_animated_png() -> None:
    height, width = 16, 16
    stream = zlib.compress(filtered(texture(height, width, 3).reshape(height, -1), 3, [2]))
    data = png_file(width, height, 8, 2, stream, idat_size=len(stream))
    idat = data.index(b"IDAT") - 4
    assert_same_decode(data[:idat] + chunk(b"IDAT", b"") + data[idat:])
    frames = [Image.fromarray(texture(40, 50, 3, seed=s)) for s in range(3)]
    out = io.BytesIO()
    frames[0].save(out, "PNG", save_all=True, append_images=frames[1:])
    first = assert_same_decode(out.getvalue())
    assert first.tobytes() == frames[0].tobytes()


def test_a_large_flat_image_is_inflated_in_bounded_steps() -> None:
    # 2,000 x 1,500 RGB: 9 MB of rows from a ~9 KB stream, several of the decoder's steps
    data = pillow_png(Image.new("RGB", (2000, 1500), (12, 200, 99)))
    assert len(data) < 100_000
    assert_same_decode(data)


def _outcome(data: bytes, fast: bool) -> tuple[str, bytes | None]:
    try:
        img = decode(data, fast)
    except Exception as exc:  # the oracle is whatever Pillow raises
        return f"{type(exc).__name__}: {exc}", None
    return "ok", img.tobytes()


def test_broken_files_end_as_pillow_ends_them() -> None:
    good = pillow_png(Image.fromarray(texture(64, 64, 3)))
    start = good.index(b"IDAT") + 4
    corrupt = bytearray(good)
    corrupt[start + 40:start + 60] = b"\xff" * 20
    short_stream = zlib.compress(filtered(texture(10, 8, 3).reshape(10, -1), 3, [0]))
    early_end = png_file(8, 20, 8, 2, short_stream)  # a complete stream with half the rows
    rows = bytearray(filtered(texture(6, 8, 3).reshape(6, -1), 3, [0]))
    rows[25] = 7  # the second row's filter byte: no such filter
    bad_filter = png_file(8, 6, 8, 2, zlib.compress(bytes(rows)))
    truncated = good[: len(good) // 2]
    cases = {"corrupt": bytes(corrupt), "early end": early_end, "bad filter": bad_filter,
             "truncated": truncated}
    for name, data in cases.items():
        assert _outcome(data, fast=True) == _outcome(data, fast=False), name
    assert _outcome(bytes(corrupt), fast=True)[0].startswith("OSError")
    for data in (bytes(corrupt), truncated):
        with pytest.raises(PixelError, match="cannot decode image"):
            analyze_pixels(io.BytesIO(data))


def test_analysis_is_the_same_with_and_without_isal(monkeypatch: pytest.MonkeyPatch) -> None:
    data = pillow_png(Image.fromarray(texture(300, 420, 4)))
    ours = analyze_pixels(io.BytesIO(data))
    monkeypatch.setattr(png, "isal_zlib", None)
    img = Image.open(io.BytesIO(data))
    assert png.inflate_with_isal(img) is False  # Pillow's decoder, as before
    assert analyze_pixels(io.BytesIO(data)) == ours


def test_only_pngs_opt_in() -> None:
    out = io.BytesIO()
    Image.fromarray(texture(20, 20, 3)).save(out, "JPEG")
    assert png.inflate_with_isal(Image.open(io.BytesIO(out.getvalue()))) is False
    loaded = Image.open(io.BytesIO(pillow_png(Image.new("L", (4, 4)))))
    loaded.load()
    assert png.inflate_with_isal(loaded) is False  # nothing left to decode
