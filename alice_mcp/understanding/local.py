"""The offline default provider: tags from the prompt, the parameters and the pixels. Free, no network."""

from __future__ import annotations

import io
import re
from functools import cache

import numpy as np
from PIL import Image, ImageStat

from alice_mcp import threads
from alice_mcp.understanding.base import Analysis, Item, TagGuess, Usage
from alice_mcp.understanding.vocabulary import VOCABULARY

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (200, 30, 30), "orange": (240, 140, 20), "yellow": (240, 220, 40),
    "green": (40, 160, 60), "teal": (20, 150, 150), "blue": (30, 70, 200),
    "purple": (130, 50, 170), "pink": (240, 120, 180), "brown": (120, 75, 40),
    "black": (15, 15, 15), "white": (240, 240, 240), "gray": (128, 128, 128),
}


@cache
def _patterns() -> list[tuple[str, str, re.Pattern[str]]]:
    return [(word, category, re.compile(rf"(?<![\w-]){re.escape(word)}(?![\w-])", re.I))
            for category, words in VOCABULARY.items() for word in words]


def prompt_tags(prompt: str | None) -> list[TagGuess]:
    """Vocabulary words found in the prompt, as tags with their category."""
    if not prompt:
        return []
    return [TagGuess(tag=word, category=category, confidence=0.9)
            for word, category, pattern in _patterns() if pattern.search(prompt)]


def parameter_tags(item: Item) -> list[TagGuess]:
    """Model family, orientation and resolution class from the generation parameters."""
    tags = []
    if item.model_family:
        tags.append(TagGuess(tag=item.model_family, category="technical", confidence=1.0))
    if item.width and item.height:
        ratio = item.width / item.height
        shape = "square" if 0.9 <= ratio <= 1.1 else "landscape" if ratio > 1 else "portrait"
        tags.append(TagGuess(tag=f"{shape} orientation", category="technical", confidence=1.0))
        pixels = item.width * item.height
        size = "4k" if pixels >= 8e6 else "hd" if pixels >= 9e5 else "sd"
        tags.append(TagGuess(tag=f"{size} resolution", category="technical", confidence=1.0))
    return tags


def colourfulness(rgb: Image.Image) -> float:
    """Hasler-Süsstrunk colourfulness of an RGB image: ~0 grey, ~35 moderate, > 80 vivid."""
    pixels = np.asarray(rgb, dtype=np.float32).reshape(-1, 3)
    r, g, b = pixels[:, 0], pixels[:, 1], pixels[:, 2]
    rg, yb = r - g, 0.5 * (r + g) - b
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def colourfulness_tag(value: float) -> TagGuess | None:
    """'monochrome', 'muted colors' or 'vibrant colors' for clear cases; None in between."""
    if value < 8:
        return TagGuess(tag="monochrome", category="color", confidence=0.8)
    if value < 25:
        return TagGuess(tag="muted colors", category="color", confidence=0.6)
    if value > 80:
        return TagGuess(tag="vibrant colors", category="color", confidence=0.7)
    return None


def pixel_tags(thumbnail: bytes | None) -> list[TagGuess]:
    """Dominant colours, colourfulness and overall brightness of the thumbnail."""
    if not thumbnail:
        return []
    with Image.open(io.BytesIO(thumbnail)) as img:
        rgb = img.convert("RGB")
        rgb.thumbnail((64, 64))
    palette = rgb.quantize(colors=6, method=Image.Quantize.MEDIANCUT)
    counts = sorted(palette.getcolors() or [], reverse=True)
    colours = palette.getpalette() or []
    total = sum(n for n, _ in counts) or 1
    shares: dict[str, float] = {}
    for n, index in counts:
        r, g, b = colours[index * 3:index * 3 + 3]
        name = min(COLOURS, key=lambda c: sum((x - y) ** 2 for x, y in
                                              zip(COLOURS[c], (r, g, b), strict=True)))
        shares[name] = shares.get(name, 0.0) + n / total
    tags = [TagGuess(tag=name, category="color", confidence=round(min(share * 2, 1.0), 3))
            for name, share in sorted(shares.items(), key=lambda kv: -kv[1]) if share >= 0.15]
    vividness = colourfulness_tag(colourfulness(rgb))
    if vividness is not None:
        tags.append(vividness)
    brightness = ImageStat.Stat(rgb.convert("L")).mean[0]
    if brightness < 70:
        tags.append(TagGuess(tag="dark", category="mood", confidence=0.7))
    elif brightness > 190:
        tags.append(TagGuess(tag="bright", category="mood", confidence=0.7))
    return tags


def analyze_item(item: Item) -> Analysis:
    """Everything the offline provider can say about one asset."""
    seen: dict[str, TagGuess] = {}
    for guess in [*prompt_tags(item.prompt), *parameter_tags(item), *pixel_tags(item.thumbnail)]:
        seen.setdefault(guess.tag, guess)
    tags = list(seen.values())
    subjects = [t.tag for t in tags if t.category in ("subject", "style")][:4]
    colours = [t.tag for t in tags if t.category == "color"][:2]
    description = None
    if subjects or colours:
        description = " ".join(filter(None, [
            ("A " + ", ".join(subjects)) if subjects else "An image",
            f"in {' and '.join(colours)} tones" if colours else "",
        ])) + "."
    return Analysis(description=description, tags=tags,
                    reconstructed_prompt=item.prompt or ", ".join(t.tag for t in tags) or None)


class LocalProvider:
    """Offline analysis; a batch is just items analyzed in a worker thread."""

    name = "local"
    model = "local-v1"
    prompt_version = "1"

    async def analyze(self, items: list[Item]) -> tuple[list[Analysis | Exception], Usage]:
        def run() -> list[Analysis | Exception]:
            out: list[Analysis | Exception] = []
            for item in items:
                try:
                    out.append(analyze_item(item))
                except (OSError, ValueError) as exc:
                    out.append(exc)
            return out
        return await threads.run_in("models", run), Usage()
