"""Tests for alice_mcp.media (probe, pixels) and alice_mcp.media.quality on real Pillow-written files."""

from __future__ import annotations

import functools
import hashlib
import io
import itertools
import resource
import struct
import time
import zlib
from pathlib import Path

import duckdb
import imagehash
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

from alice_mcp.errors import MediaError
from alice_mcp.media.measures import QualityFeatures, stars
from alice_mcp.media.pixels import (
    PixelError,
    PixelInfo,
    analyze_image,
    analyze_pixels,
    hamming,
    hash_hex,
    signed64,
)
from alice_mcp.media.preview import render_preview
from alice_mcp.media.probe import (
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    content_hash,
    hash_file,
    media_type_for,
    mime_for,
)
from alice_mcp.media.quality import features_from_image, score

# ---------------------------------------------------------------- helpers


@functools.cache
def photo_like(seed: int, size: tuple[int, int] = (480, 360)) -> Image.Image:
    """A photo-ish RGB image: colour gradient, random shapes, multi-scale texture, mild noise.

    Cached: callers must not modify the returned image in place.
    """
    rng = np.random.default_rng(seed)
    w, h = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    corners = rng.uniform(30, 220, (4, 3)).astype(np.float32)
    u, v = (x / (w - 1))[..., None], (y / (h - 1))[..., None]
    base = (
        corners[0] * (1 - u) * (1 - v)
        + corners[1] * u * (1 - v)
        + corners[2] * (1 - u) * v
        + corners[3] * u * v
    )
    img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(6, 14))):
        x0, y0 = rng.uniform(-0.1, 0.9, 2) * (w, h)
        x1, y1 = (x0, y0) + rng.uniform(0.08, 0.5, 2) * (w, h)
        fill = tuple(int(c) for c in rng.integers(10, 246, 3))
        kind = rng.integers(0, 3)
        if kind == 0:
            draw.ellipse((x0, y0, x1, y1), fill=fill)
        elif kind == 1:
            draw.rectangle((x0, y0, x1, y1), fill=fill)
        else:
            draw.polygon([tuple(p) for p in rng.uniform(0, 1, (5, 2)) * (w, h)], fill=fill)
    arr = np.asarray(img).astype(np.float32)
    texture = np.zeros((h, w), np.float32)
    for radius, amplitude in ((1, 6), (3, 8), (9, 10)):
        n = Image.fromarray(np.clip(rng.normal(128, 60, (h, w)), 0, 255).astype(np.uint8))
        n = np.asarray(n.filter(ImageFilter.GaussianBlur(radius)), np.float32) - 128
        texture += n * amplitude / (n.std() + 1e-6)
    arr += texture[..., None] * rng.uniform(0.5, 1.2) + rng.normal(0, 1.5, arr.shape)
    out = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    return out.filter(ImageFilter.GaussianBlur(0.6))


def encode(img: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, fmt, **params)
    return buffer.getvalue()


def analyze(data: bytes, **kwargs: int) -> PixelInfo:
    return analyze_pixels(io.BytesIO(data), **kwargs)


def thumbnail_image(info: PixelInfo) -> Image.Image:
    img = Image.open(io.BytesIO(info.thumbnail))
    assert img.format == "JPEG" and info.thumbnail_mime == "image/jpeg"
    img.load()
    return img


def add_noise(img: Image.Image, sigma: float, seed: int = 1) -> Image.Image:
    arr = np.asarray(img).astype(np.float32)
    arr += np.random.default_rng(seed).normal(0, sigma, arr.shape)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


# ---------------------------------------------------------------- probe


def test_media_type_and_mime_by_extension() -> None:
    assert ".png" in IMAGE_EXTENSIONS and ".heic" in IMAGE_EXTENSIONS
    assert ".mkv" in VIDEO_EXTENSIONS and not IMAGE_EXTENSIONS & VIDEO_EXTENSIONS
    assert media_type_for(Path("a/B.JPG")) == "image"
    assert media_type_for(Path("clip.MoV")) == "video"
    assert media_type_for(Path("notes.txt")) is None
    assert media_type_for(Path("noext")) is None
    assert mime_for(Path("x.JPEG")) == "image/jpeg"
    assert mime_for(Path("x.webp")) == "image/webp"
    assert mime_for(Path("x.mov")) == "video/quicktime"
    assert mime_for(Path("x.unknownext")) == "application/octet-stream"


@pytest.mark.parametrize("size", [0, 1, 1000, (1 << 20) + 17, 3 * (1 << 20)])
def test_hash_file_streams_same_blake2b_128(tmp_path: Path, size: int) -> None:
    data = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes()
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    expected = hashlib.blake2b(data, digest_size=16).hexdigest()
    assert content_hash(data) == expected and len(expected) == 32
    assert hash_file(path) == expected
    assert hash_file(path, chunk_size=7) == expected


# ---------------------------------------------------------------- formats and modes


@pytest.mark.parametrize(
    ("fmt", "params"),
    [
        ("PNG", {}),
        ("JPEG", {"quality": 90}),
        ("WEBP", {"quality": 85}),
        ("BMP", {}),
        ("TIFF", {}),
        ("GIF", {}),
    ],
)
def test_formats_decode_to_full_size(tmp_path: Path, fmt: str, params: dict) -> None:
    img = photo_like(3, (900, 600))
    path = tmp_path / f"img.{fmt.lower()}"
    img.save(path, fmt, **params)
    with path.open("rb") as fp:
        info = analyze_pixels(fp)
    assert (info.width, info.height) == (900, 600)
    assert thumbnail_image(info).size == (256, 171)
    assert -(1 << 63) <= info.phash < (1 << 63) and -(1 << 63) <= info.dhash < (1 << 63)
    assert 0.0 <= info.quality <= 100.0
    assert info.features.resolution_mp == pytest.approx(0.54)


def test_rgba_transparency_composited_on_white() -> None:
    img = Image.new("RGBA", (300, 200), (255, 0, 0, 0))  # fully transparent red
    ImageDraw.Draw(img).rectangle((0, 0, 149, 199), fill=(0, 0, 255, 255))
    thumb = thumbnail_image(analyze(encode(img, "PNG")))
    assert thumb.mode == "RGB"
    right = thumb.getpixel((thumb.width - 5, thumb.height // 2))
    left = thumb.getpixel((5, thumb.height // 2))
    assert min(right) > 235  # white, not the hidden red
    assert left[2] > 200 and left[0] < 40


def test_p_mode_and_la_and_bilevel() -> None:
    base = photo_like(4, (320, 240))
    p_img = base.convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    p_img.info["transparency"] = 0
    for img in (p_img, base.convert("LA"), base.convert("1"), base.convert("CMYK")):
        fmt = "JPEG" if img.mode == "CMYK" else "PNG"
        info = analyze(encode(img, fmt))
        assert (info.width, info.height) == (320, 240)
        assert thumbnail_image(info).mode == "RGB"


def test_16bit_png_is_scaled_not_clipped() -> None:
    ramp = np.tile(np.linspace(0, 65535, 512, dtype=np.float64), (256, 1)).astype(np.uint16)
    data = encode(Image.fromarray(ramp), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I;16")
    info = analyze(data)
    assert (info.width, info.height) == (512, 256)
    assert info.features.brightness == pytest.approx(0.5, abs=0.03)
    thumb = np.asarray(thumbnail_image(info).convert("L"), dtype=np.float32)
    assert thumb[:, :10].mean() < 20 and thumb[:, -10:].mean() > 235


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_animated_uses_first_frame(fmt: str) -> None:
    frames = [Image.new("RGB", (120, 80), colour) for colour in ((220, 20, 20), (20, 20, 220))]
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 2
    info = analyze(data)
    red, _, blue = thumbnail_image(info).getpixel((60, 40))
    assert red > 150 and blue < 90


def test_exif_orientation_is_applied() -> None:
    img = photo_like(5, (400, 200))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    info = analyze(encode(img, "JPEG", exif=exif.tobytes()))
    assert (info.width, info.height) == (200, 400)
    assert thumbnail_image(info).size == (128, 256)


def test_tiny_and_extreme_aspect_images() -> None:
    for size in ((1, 1), (2, 2), (3000, 1), (1, 700)):
        info = analyze(encode(Image.new("RGB", size, (90, 120, 30)), "PNG"))
        assert (info.width, info.height) == size
        assert max(thumbnail_image(info).size) <= 256
        assert 0.0 <= info.quality <= 100.0


# ---------------------------------------------------------------- thumbnails


@pytest.mark.parametrize("thumb_size", [32, 128, 256, 400])
def test_thumbnail_bounded_and_valid_jpeg(thumb_size: int) -> None:
    for size in ((1024, 1024), (1216, 832), (333, 1000)):
        for fmt in ("JPEG", "PNG"):
            data = encode(photo_like(6, size), fmt)
            thumb = thumbnail_image(analyze(data, thumb_size=thumb_size))
            assert max(thumb.size) <= thumb_size
            assert max(thumb.size) >= min(thumb_size, max(size)) - 1
            assert thumb.mode == "RGB"


def test_small_image_is_not_upscaled() -> None:
    thumb = thumbnail_image(analyze(encode(photo_like(7, (100, 60)), "PNG")))
    assert thumb.size == (100, 60)


@pytest.mark.parametrize("size", [(512, 512), (512, 342), (1024, 1024)])
def test_thumbnail_is_the_bilinear_resize_when_halving(size: tuple[int, int]) -> None:
    """An exact 2x box reduce gives the same pixels as the bilinear resize it replaces."""
    img = photo_like(8, size)
    work = img.reduce(2) if max(size) > 512 else img
    thumb_size = _fit_side(work.size, 256)
    expected = encode(
        work.resize(thumb_size, Image.Resampling.BILINEAR, reducing_gap=1.0), "JPEG", quality=85
    )
    assert analyze(encode(img, "PNG")).thumbnail == expected


def _fit_side(size: tuple[int, int], side: int) -> tuple[int, int]:
    scale = side / max(size)
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


# ---------------------------------------------------------------- perceptual hashes


def test_phash_survives_resize_and_recompression() -> None:
    infos = []
    for seed in range(8):
        img = photo_like(seed, (640, 480))
        original = analyze(encode(img, "PNG"))
        smaller = analyze(
            encode(img.resize((320, 240), Image.Resampling.LANCZOS), "JPEG", quality=70)
        )
        larger = analyze(
            encode(img.resize((1280, 960), Image.Resampling.BICUBIC), "WEBP", quality=75)
        )
        for copy in (smaller, larger):
            assert hamming(original.phash, copy.phash) <= 6
            assert hamming(original.dhash, copy.dhash) <= 6
        infos.append(original)
    for a, b in itertools.combinations(infos, 2):
        assert hamming(a.phash, b.phash) > 16


def test_hash_packing_matches_imagehash_hex() -> None:
    img = photo_like(9, (64, 64)).convert("L")  # small: the pipeline hashes it unreduced
    info = analyze(encode(img, "PNG"))
    assert hash_hex(info.phash) == str(imagehash.phash(img))
    assert hash_hex(info.dhash) == str(imagehash.dhash(img))


def hash_cases() -> list[Image.Image]:
    """Grey images whose pHash is easy (photos, noise) or needs imagehash's own rounding (flat,
    mirror-symmetric, constant-column and ramp images, where DCT terms tie with the median)."""
    rng = np.random.default_rng(5)
    cases = [
        photo_like(s, size).convert("L")
        for s, size in enumerate([(64, 64), (100, 80), (127, 90), (77, 120), (96, 96), (120, 64)])
    ]
    cases += [
        Image.fromarray(rng.integers(0, 256, (70 + i, 90 - i), dtype=np.uint8)) for i in range(4)
    ]
    cases += [Image.new("L", (80, 64), v) for v in (0, 37, 128, 255)]
    half = rng.integers(0, 256, (72, 40), dtype=np.uint8)
    cases.append(Image.fromarray(np.concatenate([half, half[:, ::-1]], axis=1)))
    cases.append(Image.fromarray(np.tile(rng.integers(0, 256, 90, dtype=np.uint8), (66, 1))))
    cases.append(
        Image.fromarray((np.add.outer(np.arange(70), np.arange(110)) % 256).astype(np.uint8))
    )
    board = Image.new("L", (96, 96), 0)
    ImageDraw.Draw(board).rectangle((0, 0, 47, 95), fill=255)
    cases.append(board)
    return cases


@pytest.mark.parametrize("img", hash_cases())
def test_hashes_bit_identical_to_imagehash(img: Image.Image) -> None:
    """Stored pHash/dHash stay exactly imagehash's, including near-tie images it alone decides."""
    info = analyze_image(img)  # under 128 px: hashed unreduced
    assert hash_hex(info.phash) == str(imagehash.phash(img))
    assert hash_hex(info.dhash) == str(imagehash.dhash(img))


def test_hashes_of_big_images_are_imagehash_of_the_box_reduced_grey() -> None:
    """Past 128 px the hashes read the working image's grey, box-reduced to >= 64 px a side."""
    img = photo_like(14, (1024, 768))
    info = analyze(encode(img, "PNG"))
    grey = img.reduce(2).convert("L")  # the 512 px working image, then grey
    small = grey.reduce(min(grey.size) // 64)
    assert hash_hex(info.phash) == str(imagehash.phash(small))
    assert hash_hex(info.dhash) == str(imagehash.dhash(small))


def test_hamming_matches_duckdb_bit_count_xor() -> None:
    values = [0, 1, -1, (1 << 63) - 1, -(1 << 63), 0x5555_5555_5555_5555, signed64(0xAAAA << 48)]
    values += [analyze(encode(photo_like(s, (200, 150)), "PNG")).phash for s in range(4)]
    rng = np.random.default_rng(0)
    values += [int(v) for v in rng.integers(-(1 << 63), (1 << 63) - 1, 6, dtype=np.int64)]
    con = duckdb.connect()
    for a, b in itertools.product(values, repeat=2):
        (expected,) = con.execute("select bit_count(xor(?::BIGINT, ?::BIGINT))", [a, b]).fetchone()
        assert hamming(a, b) == expected
    assert signed64((1 << 64) - 1) == -1 and signed64(1 << 63) == -(1 << 63)


# ---------------------------------------------------------------- hostile and broken files


def png_claiming(width: int, height: int) -> bytes:
    """A valid small PNG whose IHDR is patched (with a correct CRC) to claim width x height."""
    data = bytearray(encode(Image.new("RGB", (8, 8), (1, 2, 3)), "PNG"))
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


@pytest.mark.parametrize(("width", "height"), [(100_000, 100_000), (8000, 8000)])
def test_decompression_bomb_refused_before_decoding(width: int, height: int) -> None:
    data = png_claiming(width, height)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    with pytest.raises(PixelError, match="pixels"):
        analyze(data)
    assert time.perf_counter() - start < 0.5
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 50_000


def test_max_pixels_is_configurable() -> None:
    data = encode(photo_like(1, (400, 300)), "PNG")
    with pytest.raises(PixelError):
        analyze(data, max_pixels=100_000)
    assert analyze(data, max_pixels=120_000).width == 400


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_truncated_file_raises_pixel_error(fmt: str) -> None:
    """Decision: a truncated file is an error, never a half-grey partial decode.

    Hashes and quality of a partial image would be wrong and would stick in the index; the
    file (often one still being written by a generator) is recorded as failed and retried.
    """
    data = encode(photo_like(2, (640, 480)), fmt)
    with pytest.raises(PixelError):
        analyze(data[: len(data) // 2])


@pytest.mark.parametrize("data", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\0" * 40])
def test_garbage_raises_pixel_error(data: bytes) -> None:
    with pytest.raises(PixelError):
        analyze(data)
    assert issubclass(PixelError, ValueError)


# ---------------------------------------------------------------- quality


def blurred(img: Image.Image) -> Image.Image:
    return img.filter(ImageFilter.GaussianBlur(3))


def noisier(img: Image.Image) -> Image.Image:
    return add_noise(img, 25)


def underexposed(img: Image.Image) -> Image.Image:
    return ImageEnhance.Brightness(img).enhance(0.25)


ORIGINALS = [
    (0, (480, 360)),
    (1, (360, 480)),
    (2, (512, 512)),
    (3, (640, 400)),
    (4, (300, 300)),
    (5, (1024, 768)),
    (6, (800, 600)),
    (7, (256, 384)),
]


@pytest.mark.parametrize(("seed", "size"), ORIGINALS)
@pytest.mark.parametrize("degrade", [blurred, noisier, underexposed])
def test_degraded_always_scores_lower(seed: int, size: tuple[int, int], degrade) -> None:
    original = photo_like(seed, size)
    worse = degrade(original)
    s_orig = score(features_from_image(original, original.size))
    s_worse = score(features_from_image(worse, worse.size))
    assert s_worse < s_orig
    # the same ordering holds through the full pipeline on encoded files
    assert analyze(encode(worse, "PNG")).quality < analyze(encode(original, "PNG")).quality


def test_degradations_visible_on_large_images() -> None:
    """Big images are analysed at >= 1/4 resolution, so a radius-3 blur still costs score."""
    original = photo_like(12, (3072, 2048))
    s_orig = analyze(encode(original, "JPEG", quality=90)).quality
    for degrade in (blurred, noisier, underexposed):
        assert analyze(encode(degrade(original), "JPEG", quality=90)).quality < s_orig


def test_analyze_image_matches_analyze_pixels() -> None:
    img = photo_like(13, (700, 500))
    from_file = analyze(encode(img, "PNG"))
    from_frame = analyze_image(img)
    assert (from_frame.width, from_frame.height) == (700, 500)
    assert from_frame.phash == from_file.phash and from_frame.quality == from_file.quality


def test_sampled_features_close_to_every_pixel(monkeypatch: pytest.MonkeyPatch) -> None:
    """The statistics read a sample of pixels; they stay close to reading every pixel.

    Noise is an integer median (steps of 0.247 grey levels), and sharpness subtracts the noise
    energy, so on noisy images one step moves sharpness a lot: it is compared on clean ones.
    """
    clean = [photo_like(s, size) for s, size in ((0, (480, 360)), (5, (1024, 768)))]
    images = [*clean, blurred(clean[1]), noisier(clean[0])]
    sampled = [features_from_image(img, img.size) for img in images]
    for name in ("_COLOUR_SAMPLES", "_GREY_SAMPLES", "_DETAIL_SAMPLES"):
        monkeypatch.setattr(f"alice_mcp.media.quality.{name}", 1 << 40)
    for index, (img, got) in enumerate(zip(images, sampled, strict=True)):
        every = features_from_image(img, img.size)
        if index < 3:
            assert got.sharpness == pytest.approx(every.sharpness, rel=0.05, abs=0.002)
        assert got.noise == pytest.approx(every.noise, abs=0.25)
        assert got.contrast == pytest.approx(every.contrast, rel=0.02)
        assert got.brightness == pytest.approx(every.brightness, abs=0.01)
        assert got.colourfulness == pytest.approx(every.colourfulness, rel=0.05)
        assert got.exposure == pytest.approx(every.exposure, abs=0.02)


def test_features_are_sensible() -> None:
    img = photo_like(11, (480, 360))
    features = features_from_image(img, (4800, 3600))
    assert isinstance(features, QualityFeatures)
    assert features.resolution_mp == pytest.approx(17.28)
    assert 0.2 < features.brightness < 0.8 and 0.0 <= features.exposure < 0.2
    # grey of RGB-independent noise has sigma * |(.299, .587, .114)| = 0.668 sigma
    noisy = features_from_image(add_noise(img, 10), img.size)
    assert noisy.noise == pytest.approx(6.68, rel=0.25)
    flat = features_from_image(Image.new("RGB", (200, 200), (128, 128, 128)), (200, 200))
    assert flat.sharpness == 0.0 and flat.noise == 0.0 and flat.colourfulness == 0.0


@pytest.mark.parametrize("colour", [(0, 0, 0), (255, 255, 255), (128, 128, 128)])
def test_flat_images_score_low(colour: tuple[int, int, int]) -> None:
    value = score(features_from_image(Image.new("RGB", (256, 256), colour), (256, 256)))
    assert 0.0 <= value < 20.0 and stars(value) == 1


def test_stars_thresholds() -> None:
    expected = {0: 1, 19.9: 1, 20: 2, 39.9: 2, 40: 3, 60: 4, 79.9: 4, 80: 5, 100: 5}
    assert {s: stars(s) for s in expected} == expected
    assert stars(50, thresholds=(10, 20, 30, 40)) == 5


def test_a_png_with_too_much_text_is_refused_before_pillow_reads_it(tmp_path: Path) -> None:
    """Pillow reads each text chunk whole while opening and only then applies its 64 MB text
    limit; alice refuses from the chunk headers, so 100 MB of text costs no 100 MB reads."""
    import tracemalloc

    from tests.test_bad_input import _big_text_chunk, _png

    path = tmp_path / "huge-text.png"
    _big_text_chunk(path)
    tracemalloc.start()
    try:
        with path.open("rb") as fp, pytest.raises(PixelError, match="bytes of PNG text chunks"):
            analyze_pixels(fp)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, peak  # was over 200 MB: the chunk read whole, then decoded
    tracemalloc.start()
    try:  # the preview for `view` asks the same question before Pillow opens the file
        with pytest.raises(MediaError, match="bytes of PNG text chunks"):
            render_preview(path, 64)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, peak
    after = tmp_path / "text-after-idat.png"  # Pillow reads those too, when it loads
    data = path.read_bytes()
    text_at, text_end = 33, 33 + 12 + 11 + 100 * 1024 * 1024
    after.write_bytes(data[:text_at] + data[text_end:-12] + data[text_at:text_end] + data[-12:])
    with after.open("rb") as fp, pytest.raises(PixelError, match="bytes of PNG text chunks"):
        analyze_pixels(fp)
    small = tmp_path / "small-text.png"  # text under the limit still opens and decodes
    small.write_bytes(_png(parameters="x" * 1_000_000))
    with small.open("rb") as fp:
        assert analyze_pixels(fp).width == 32
