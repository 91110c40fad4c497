"""A varied, deterministic sample inbox (generators, formats, folders, one duplicate)."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
from collections.abc import Callable
from pathlib import Path

from alice_mcp.samples.a1111 import write_a1111_jpeg, write_a1111_png, write_a1111_webp
from alice_mcp.samples.classic import write_invokeai_png, write_midjourney_png, write_novelai_png
from alice_mcp.samples.comfyui import write_comfyui_png
from alice_mcp.samples.images import STYLES, WORDS, write_plain_jpeg, write_plain_png


def make_sample_inbox(root: Path, count: int = 24, seed: int = 0) -> list[Path]:
    """Fill an inbox with a varied, deterministic mix of generators, formats and folders.

    Some files sit in project folders, some in the root; the last one is a byte-identical
    copy of the first in a `duplicates` folder. File mtimes are fixed (one day apart).
    """
    root = Path(root)
    rng = random.Random(seed)
    folders = ("portraits", "landscapes", "", "abstract", "")
    writers = _inbox_writers()
    paths: list[Path] = []
    for i in range(count - 1 if count > 1 else count):
        prompt = f"{rng.choice(WORDS)}, {rng.choice(STYLES)}"
        s = rng.randrange(1, 2**32)
        stem, ext, write = writers[i % len(writers)]
        folder = root / folders[i % len(folders)]
        name = stem.format(
            i=i,
            s=s,
            d=1 + i % 9,
            hh=i // 3600 % 24,
            mm=i // 60 % 60,
            ss=i % 60,
            pr=prompt.split(",")[0],
        )
        path = write(folder / f"{name}{ext}", prompt, s)
        paths.append(path)
    if count > 1 and paths:
        dup = root / "duplicates" / paths[0].name
        dup.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(paths[0], dup)
        paths.append(dup)
    for i, path in enumerate(paths):
        when = 1_704_067_200 + 86_400 * i  # 2024-01-01 UTC + i days
        os.utime(path, (when, when))
    return paths


Writer = Callable[[Path, str, int], Path]


def _inbox_writers() -> list[tuple[str, str, Writer]]:
    """(name pattern, extension, writer) rows that make_sample_inbox cycles through."""
    return [
        ("{i:05d}-{s}", ".png", lambda p, pr, s: write_a1111_png(p, pr, seed=s)),
        ("ComfyUI_{i:05d}_", ".png", lambda p, pr, s: write_comfyui_png(p, pr, seed=s)),
        (
            "sample_user_{i}_mj",
            ".png",
            lambda p, pr, s: write_midjourney_png(
                p, f"{pr} --ar 1:1 --v 6.1", job_id=_fake_uuid(s)
            ),
        ),
        ("photo_{i}", ".jpg", lambda p, pr, s: write_a1111_jpeg(p, pr, seed=s)),
        (
            "DALL·E 2024-03-0{d} {hh:02d}.{mm:02d}.{ss:02d} - {pr}",
            ".png",
            lambda p, pr, s: write_plain_png(p, seed=s),
        ),
        ("render_{i}", ".webp", lambda p, pr, s: write_a1111_webp(p, pr, seed=s)),
        ("nai_{i}", ".png", lambda p, pr, s: write_novelai_png(p, pr, seed=s)),
        ("invoke_{i}", ".png", lambda p, pr, s: write_invokeai_png(p, pr, seed=s)),
        ("kling_{i}_frame", ".png", lambda p, pr, s: write_plain_png(p, seed=s)),
        (
            "workflow_only_{i}",
            ".png",
            lambda p, pr, s: write_comfyui_png(
                p, pr, seed=s, include_prompt=False, ckpt="flux1-dev-fp8.safetensors"
            ),
        ),
        ("IMG_{i:04d}", ".jpg", lambda p, pr, s: write_plain_jpeg(p, seed=s)),
        ("le_{i}", ".jpg", lambda p, pr, s: write_a1111_jpeg(p, pr, seed=s, encoding="unicode-le")),
    ]


def _fake_uuid(seed: int) -> str:
    """A deterministic UUID-shaped id."""
    h = hashlib.md5(str(seed).encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
