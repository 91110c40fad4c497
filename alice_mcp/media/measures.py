"""What one decode of an image yields (PixelInfo, QualityFeatures), and stars from its score.

Plain records with no numpy or Pillow behind them: the placing process unpickles them from
the worker processes (pipeline/processes.py) and turns them into rows without loading the
readers (issue 19: ~0.1 s of imports on the cores the workers need). media/pixels.py and
media/quality.py compute them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True, frozen=True)
class QualityFeatures:
    """Pixel statistics behind the quality score, each comparable across image sizes."""

    sharpness: float  # noise-corrected RMS Laplacian / (grey std-dev + 1); 0 = no fine detail
    exposure: float  # penalty 0..1 for clipped shadows/highlights and a mean far from mid-grey
    noise: float  # std-dev of additive noise, 8-bit grey levels (Immerkær mask, MAD; <= 63)
    contrast: float  # RMS contrast: grey-level std-dev / 255 (0..0.5)
    colourfulness: float  # Hasler-Süsstrunk colourfulness M / 100 (0 = grey, ~1 = vivid)
    brightness: float  # mean grey level / 255 (0..1)
    resolution_mp: float  # full-size width * height in megapixels


@dataclass(slots=True)
class PixelInfo:
    """Everything the index derives from an image's pixels."""

    width: int  # full displayed width (EXIF orientation applied), from the header
    height: int  # full displayed height
    phash: int  # imagehash.phash as a signed 64-bit int (DuckDB BIGINT)
    dhash: int  # imagehash.dhash as a signed 64-bit int
    thumbnail: bytes  # JPEG, RGB, longest side <= thumb_size
    thumbnail_mime: str  # always THUMBNAIL_MIME
    features: QualityFeatures  # no-reference quality statistics
    quality: float  # 0..100, quality.score(features)


def stars(score: float, thresholds: tuple[float, float, float, float] = (20, 40, 60, 80)) -> int:
    """Map a 0..100 score to 1..5 stars: one more star per threshold reached."""
    return 1 + sum(1 for t in thresholds if score >= t)
