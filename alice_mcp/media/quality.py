"""No-reference image quality: cheap pixel statistics -> a 0..100 score -> 1..5 stars."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from alice_mcp.media.measures import QualityFeatures

ANALYSIS_MAX_SIDE = 1024  # larger images are box-reduced first (the pipeline passes <= 1024)
_COLOUR_SAMPLES = 4_096  # pixels sampled for the colour statistics
_GREY_SAMPLES = 16_384  # pixels sampled for the grey-level histogram
_DETAIL_SAMPLES = 98_304  # filter centres sampled for the sharpness and noise statistics
_MAD_TO_SIGMA = 1.0 / (0.6745 * 6.0)  # Immerkær mask gain is 6 (sqrt of the sum of squares, 36)
_LAPLACIAN_NOISE_GAIN = 20.0  # white noise of variance s^2 gives Laplacian variance 20 s^2

# Scales of the score terms (see score()); tuned so that blur, noise and under-exposure of
# photo-like images (256 px to 2048 px) always lower the score.
_K_SHARP = 0.25
_NOISE_FREE = 2.5  # grey levels of "noise" not penalised: at ~512 px fine texture reads as noise
_K_NOISE = 2.0
_K_CONTRAST = 0.06
_K_COLOUR = 0.25
_K_RES_MP = 0.25
_WEIGHTS = {
    "sharp": 0.36,
    "noise": 0.22,
    "exposure": 0.22,
    "contrast": 0.1,
    "colour": 0.04,
    "resolution": 0.06,
}


def _bounded(img: Image.Image, max_side: int = ANALYSIS_MAX_SIDE) -> Image.Image:
    """Box-reduce an image so its long side is <= max_side (cheap, keeps statistics honest)."""
    factor = math.ceil(max(img.size) / max_side)
    return img.reduce(factor) if factor > 1 else img


def _exposure_penalty(hist: np.ndarray, brightness: float) -> float:
    """0..1 penalty from the clipped tails of the grey histogram and the distance from mid-grey."""
    total = float(hist.sum())
    clipped = (float(hist[:3].sum()) + float(hist[253:].sum())) / total
    clip_penalty = min(1.0, 2.0 * max(0.0, clipped - 0.02))
    off_mid = abs(brightness - 0.5) / 0.5  # 0 at mid-grey, 1 at pure black/white
    mean_penalty = min(1.0, max(0.0, off_mid - 0.2) / 0.8) ** 1.5
    return 1.0 - (1.0 - clip_penalty) * (1.0 - mean_penalty)


def _nearest_sample(img: Image.Image, samples: int) -> Image.Image:
    """A nearest-neighbour subsample of about `samples` pixels (the image itself if smaller)."""
    step = math.sqrt(img.width * img.height / samples)
    if step <= 1.0:
        return img
    size = (max(1, round(img.width / step)), max(1, round(img.height / step)))
    return img.resize(size, Image.Resampling.NEAREST)


def _colourfulness(img: Image.Image) -> float:
    """Hasler-Süsstrunk colourfulness (divided by 100) on a nearest-neighbour pixel sample."""
    if img.mode != "RGB":
        return 0.0
    rgb = np.asarray(_nearest_sample(img, _COLOUR_SAMPLES), dtype=np.float64).reshape(-1, 3)
    r, g, b = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    rg = r - g
    yb = 0.5 * (r + g) - b
    mean_rg, mean_yb = float(rg.sum()) / rg.size, float(yb.sum()) / yb.size
    variance = float(rg @ rg + yb @ yb) / rg.size - mean_rg**2 - mean_yb**2  # var(rg) + var(yb)
    spread = math.sqrt(max(0.0, variance))
    return (spread + 0.3 * math.hypot(mean_rg, mean_yb)) / 100.0


def _median_level(values: np.ndarray) -> float:
    """Median of a non-negative int array, values above 255 counted as 255 (a C histogram)."""
    levels = values.clip(0, 255).astype(np.uint8)
    cumulative = np.cumsum(Image.fromarray(levels).histogram())
    return float(np.searchsorted(cumulative, (levels.size + 1) // 2))


def _detail_and_noise(grey: np.ndarray) -> tuple[float, float]:
    """Mean-square Laplacian and Immerkær/MAD noise sigma of a uint8 grey array.

    Both 3x3 filters are evaluated at every centre of every k-th row (at most _DETAIL_SAMPLES
    centres): whole rows keep the arrays contiguous, and the statistics stay unbiased.
    """
    height, width = grey.shape
    if height < 3 or width < 3:
        return 0.0, 0.0
    k = max(1, -(-(height - 2) * (width - 2) // _DETAIL_SAMPLES))  # ceil: <= _DETAIL_SAMPLES
    above, row, below = grey[: height - 2 : k], grey[1 : height - 1 : k], grey[2::k]
    vertical = np.add(above, below, dtype=np.int16)
    cross = vertical[:, 1:-1] + np.add(row[:, :-2], row[:, 2:], dtype=np.int16)
    lap = cross - np.multiply(row[:, 1:-1], 4, dtype=np.int16)
    flat = lap.astype(np.float32).ravel()
    mean_square = float(np.dot(flat, flat)) / flat.size
    # Immerkær's mask [[1,-2,1],[-2,4,-2],[1,-2,1]] = corners - 2 cross + 4 centre
    # = corners - cross - lap: blind to linear ramps and to Laplacian edges.
    resid = np.abs(vertical[:, :-2] + vertical[:, 2:] - cross - lap)
    return mean_square, _median_level(resid) * _MAD_TO_SIGMA


def features_from_image(
    img: Image.Image, full_size: tuple[int, int], *, grey: Image.Image | None = None
) -> QualityFeatures:
    """Measure quality features on a (bounded) working image; `grey` reuses a known L version."""
    img = _bounded(img)
    if img.mode not in ("RGB", "L"):
        img = img.convert("RGB")
    if grey is None or grey.size != img.size:
        grey = img if img.mode == "L" else img.convert("L")
    hist = np.asarray(_nearest_sample(grey, _GREY_SAMPLES).histogram(), dtype=np.float64)
    levels = np.arange(256, dtype=np.float64)
    total = float(hist.sum()) or 1.0
    mean = float(hist @ levels) / total
    std = math.sqrt(max(0.0, float(hist @ (levels * levels)) / total - mean * mean))
    mean_square_lap, noise = _detail_and_noise(np.asarray(grey))
    detail = math.sqrt(max(0.0, mean_square_lap - _LAPLACIAN_NOISE_GAIN * noise * noise))
    brightness = mean / 255.0
    return QualityFeatures(
        sharpness=detail / (std + 1.0),
        exposure=_exposure_penalty(hist, brightness),
        noise=noise,
        contrast=std / 255.0,
        colourfulness=_colourfulness(img),
        brightness=brightness,
        resolution_mp=full_size[0] * full_size[1] / 1e6,
    )


def score(features: QualityFeatures) -> float:
    """Combine the features into a 0..100 score (weighted geometric mean of 0..1 terms)."""
    terms = {
        "sharp": 1.0 - math.exp(-features.sharpness / _K_SHARP),
        "noise": 1.0 / (1.0 + (max(0.0, features.noise - _NOISE_FREE) / _K_NOISE) ** 2),
        "exposure": 1.0 - features.exposure,
        "contrast": 1.0 - math.exp(-features.contrast / _K_CONTRAST),
        "colour": 0.5 + 0.5 * (1.0 - math.exp(-features.colourfulness / _K_COLOUR)),
        "resolution": 1.0 - math.exp(-features.resolution_mp / _K_RES_MP),
    }
    log_sum = sum(w * math.log(max(terms[name], 1e-6)) for name, w in _WEIGHTS.items())
    return max(0.0, min(100.0, 100.0 * math.exp(log_sum)))
