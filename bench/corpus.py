"""The benchmark corpus: 512x512 and 1024x1024 PNG, JPEG and WebP files with real generator metadata.

A pool of distinct pictures is written once: the metadata comes from the project's own sample
writers (alice_mcp.samples: A1111 infotext in a PNG chunk, a ComfyUI graph, A1111 in JPEG and
WebP EXIF), the pixels are photo-like texture (noise over gradients and shapes) so that files
compress and decode like real renders (a 1024x1024 PNG is ~1.5 MB). Larger corpora are made by
copying the pool with a per-copy marker (a PNG tEXt chunk, a JPEG COM segment, a WebP RIFF
chunk), so every file has its own bytes and content hash but costs no encoding. Corpora are
cached under bench/.corpus and rebuilt when their recipe changes.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter
from PIL.PngImagePlugin import PngInfo

from alice_mcp import samples

RECIPE = 3  # bump when the pictures or the layout change, so cached corpora are rebuilt
SIDES = (512, 1024)
PROJECTS = ("portraits", "landscapes", "", "abstract")
CACHE = Path(__file__).parent / ".corpus"
_PROMPTS = ("portrait of a fox, highly detailed", "neon city at night, cinematic lighting",
            "misty forest, oil painting", "astronaut cat, 35mm photo",
            "castle on a hill, anime style", "koi pond, watercolor")


@dataclass(frozen=True, slots=True)
class Kind:
    """One generator/format combination of the corpus."""

    name: str
    ext: str
    fmt: str
    write: Callable[[Path, str, int, tuple[int, int]], Path]


KINDS = (
    Kind("a1111-png", ".png", "PNG",
         lambda p, pr, s, size: samples.write_a1111_png(p, pr, seed=s, size=size)),
    Kind("comfyui-png", ".png", "PNG",
         lambda p, pr, s, size: samples.write_comfyui_png(p, pr, seed=s, size=size)),
    Kind("a1111-jpeg", ".jpg", "JPEG",
         lambda p, pr, s, size: samples.write_a1111_jpeg(p, pr, seed=s, size=size)),
    Kind("a1111-webp", ".webp", "WEBP",
         lambda p, pr, s, size: samples.write_a1111_webp(p, pr, seed=s, size=size)),
)


def texture(side: int, seed: int) -> Image.Image:
    """A photo-like picture: the sample drawing, soft low-frequency colour noise and grain."""
    rng = np.random.default_rng(seed)
    base = np.asarray(samples.sample_image((side, side), seed), dtype=np.float32)
    low = rng.normal(0.0, 1.0, (max(2, side // 16), max(2, side // 16), 3))
    blotches = Image.fromarray(np.clip(128 + low * 40, 0, 255).astype(np.uint8))
    blotches = blotches.resize((side, side), Image.Resampling.BICUBIC)
    pixels = base * 0.7 + np.asarray(blotches, dtype=np.float32) * 0.3
    pixels += rng.normal(0.0, 8.0, pixels.shape)
    img = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
    return img.filter(ImageFilter.SMOOTH)


def write_picture(kind: Kind, side: int, path: Path, seed: int) -> Path:
    """One file: the sample writer's metadata, on a textured picture of side x side pixels."""
    prompt = _PROMPTS[seed % len(_PROMPTS)]
    carrier = kind.write(path, prompt, seed, (side, side))
    with Image.open(carrier) as written:
        written.load()
        text = dict(getattr(written, "text", {}) or {})
        exif = written.info.get("exif")
    img = texture(side, seed)
    if kind.fmt == "PNG":
        info = PngInfo()
        for key, value in text.items():
            info.add_text(key, value)
        img.save(path, "PNG", pnginfo=info)
    elif kind.fmt == "JPEG":
        img.save(path, "JPEG", quality=92, exif=exif or b"")
    else:
        img.save(path, "WEBP", quality=90, exif=exif or b"")
    return path


def write_pool(folder: Path, per_kind: int) -> list[Path]:
    """per_kind distinct pictures of every kind at every side, alternating 512 and 1024."""
    folder.mkdir(parents=True, exist_ok=True)
    pool = []
    for n in range(per_kind):
        for side in SIDES:
            for k, kind in enumerate(KINDS):
                seed = 1000 * n + 10 * k + side // 512
                pool.append(write_picture(kind, side, folder / f"{kind.name}-{side}-{n}{kind.ext}",
                                          seed))
    return pool


def marked(data: bytes, ext: str, mark: bytes) -> bytes:
    """The same image with a harmless marker inserted, so the bytes (and asset id) differ."""
    if ext == ".png":
        body = b"tEXt" + b"alice-bench\x00" + mark
        chunk = struct.pack(">I", len(body) - 4) + body + struct.pack(">I", zlib.crc32(body))
        return data[:-12] + chunk + data[-12:]  # before IEND
    if ext == ".jpg":
        at = 2
        while data[at] == 0xFF and (0xE0 <= data[at + 1] <= 0xEF or data[at + 1] == 0xFE):
            at += 2 + struct.unpack(">H", data[at + 2:at + 4])[0]  # after SOI and APPn
        segment = b"\xff\xfe" + struct.pack(">H", len(mark) + 2) + mark
        return data[:at] + segment + data[at:]
    if ext == ".webp":
        chunk = b"ALIC" + struct.pack("<I", len(mark)) + mark + (b"\x00" if len(mark) % 2 else b"")
        out = data + chunk
        return out[:4] + struct.pack("<I", len(out) - 8) + out[8:]
    raise ValueError(f"no marker for {ext}")


def expand(pool: list[Path], dest: Path, count: int) -> list[Path]:
    """count files under dest (in project folders), each a marked copy of a pool picture."""
    paths = []
    blobs = {p: p.read_bytes() for p in pool}
    for i in range(count):
        source = pool[i % len(pool)]
        folder = dest / PROJECTS[i % len(PROJECTS)]
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{source.stem}-{i:06d}{source.suffix}"
        path.write_bytes(marked(blobs[source], source.suffix, f"copy {i}".encode()))
        when = 1_704_067_200 + 60 * i  # a minute apart, oldest first
        os.utime(path, (when, when))
        paths.append(path)
    return paths


@dataclass(frozen=True, slots=True)
class Corpus:
    """A folder of benchmark files (an inbox: project folders and loose files)."""

    inbox: Path
    files: list[Path]

    @property
    def bytes(self) -> int:
        return sum(p.stat().st_size for p in self.files)


def corpus(name: str, count: int, per_kind: int, root: Path = CACHE) -> Corpus:
    """The cached corpus `name` of count files (rebuilt if its recipe or size changed)."""
    folder = root / name
    stamp = folder / "recipe.json"
    recipe = {"recipe": RECIPE, "count": count, "per_kind": per_kind}
    if stamp.is_file() and json.loads(stamp.read_text()) == recipe:
        return Corpus(folder / "inbox", sorted(p for p in (folder / "inbox").rglob("*")
                                              if p.is_file()))
    shutil.rmtree(folder, ignore_errors=True)
    pool = write_pool(folder / "pool", per_kind)
    files = expand(pool, folder / "inbox", count)
    stamp.write_text(json.dumps(recipe))
    return Corpus(folder / "inbox", sorted(files))
