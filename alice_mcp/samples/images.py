"""The pictures behind every sample: deterministic gradients with shapes, saved by Pillow."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw
from PIL.PngImagePlugin import PngInfo

Size = tuple[int, int]
_WORDS = """portrait of a fox, castle on a hill, neon city at night, misty forest, astronaut cat,
watercolor harbor, cyberpunk street, desert caravan, snowy mountains, koi pond, steampunk airship,
sunflower field, underwater temple, retro robot, autumn library"""
WORDS = [w.strip() for w in _WORDS.split(",")]
STYLES = ("highly detailed", "cinematic lighting", "oil painting", "35mm photo", "anime style")


def sample_image(size: Size = (64, 64), seed: int = 0) -> Image.Image:
    """Draw a gradient with a few shapes; different seeds give visibly different images."""
    rng = random.Random(seed)
    w, h = size
    c1 = np.array([rng.randrange(256) for _ in range(3)], dtype=np.float32)
    c2 = np.array([rng.randrange(256) for _ in range(3)], dtype=np.float32)
    axis = np.linspace(0.0, 1.0, w if rng.random() < 0.5 else h, dtype=np.float32)
    if len(axis) == w:
        t = np.broadcast_to(axis[None, :], (h, w))
    else:
        t = np.broadcast_to(axis[:, None], (h, w))
    pixels = (c1 * (1 - t[..., None]) + c2 * t[..., None]).astype(np.uint8)
    img = Image.fromarray(pixels, "RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(rng.randint(2, 5)):
        x0, y0 = rng.randrange(w), rng.randrange(h)
        x1, y1 = x0 + rng.randint(w // 8, w // 2), y0 + rng.randint(h // 8, h // 2)
        colour = tuple(rng.randrange(256) for _ in range(3))
        shape = rng.choice(("ellipse", "rectangle", "polygon"))
        if shape == "ellipse":
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        elif shape == "rectangle":
            draw.rectangle((x0, y0, x1, y1), fill=colour)
        else:
            draw.polygon([(x0, y0), (x1, y0), ((x0 + x1) // 2, y1)], fill=colour)
    return img


def seed_of(*parts: Any) -> int:
    """A stable integer from arbitrary values (drives the picture when no seed is given)."""
    return int.from_bytes(hashlib.blake2b(repr(parts).encode(), digest_size=4).digest(), "big")


def write_png_text(path: Path, texts: dict[str, str], size: Size = (64, 64), seed: int = 0) -> Path:
    """PNG carrying arbitrary text chunks (for edge cases and generators without a writer)."""
    info = PngInfo()
    for key, value in texts.items():
        info.add_text(key, value)
    return save(sample_image(size, seed_of(sorted(texts.items()), seed)), path, "PNG", pnginfo=info)


def write_plain_png(path: Path, size: Size = (64, 64), seed: int = 0) -> Path:
    """PNG without any metadata (only the file name can say what made it)."""
    return save(sample_image(size, seed), path, "PNG")


def write_plain_jpeg(path: Path, size: Size = (64, 64), seed: int = 0) -> Path:
    """JPEG without any metadata."""
    return save(sample_image(size, seed), path, "JPEG", quality=85)


def save(img: Image.Image, path: Path, fmt: str, **kwargs: Any) -> Path:
    """Save an image, creating parent folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, fmt, **kwargs)
    return path
