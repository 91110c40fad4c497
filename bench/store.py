"""Index writes: asset rows batched (BatchWriter) vs one row per statement, and 500 tag updates."""

from __future__ import annotations

import json
import random
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio

from alice_mcp.config import load_settings
from alice_mcp.library import Library
from alice_mcp.store.db import Database
from alice_mcp.store.writer import BatchWriter, Write
from bench import synthetic
from bench.report import Row, ratio_row, seconds, time_row
from bench.timing import summarize, time_async_calls, time_calls

PER_ROW_SAMPLE = 2_000  # one-row-per-statement is timed on this many rows and scaled up
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def asset_rows(count: int, seed: int = 0) -> list[dict[str, Any]]:
    """Rows shaped like pipeline.indexer.asset_row output: every column, realistic values."""
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        model, family = synthetic.MODELS[rng.randrange(len(synthetic.MODELS))]
        words = " ".join(rng.choice(synthetic.WORDS) for _ in range(10))
        prompt = f"{words}, {rng.choice(synthetic.STYLES)}, {rng.choice(synthetic.STYLES)}"
        seed_value = rng.randrange(2**32)
        side = rng.choice((512, 768, 1024))
        params = {"source": "a1111", "prompt": prompt, "seed": seed_value, "steps": 30,
                  "sampler": "DPM++ 2M Karras", "cfg": 7.0, "model": model,
                  "width": side, "height": side}
        rows.append({
            "asset_id": f"{rng.getrandbits(128):032x}", "media_type": "image",
            "mime": "image/png", "bytes": rng.randrange(100_000, 2_000_000), "width": side,
            "height": side, "duration_s": None, "codec": None,
            "created_at": EPOCH + timedelta(seconds=rng.randrange(3 * 365 * 86400)),
            "source": rng.choice(synthetic.SOURCES), "source_name": "AUTOMATIC1111",
            "confidence": 0.95, "model": model, "model_family": family, "prompt": prompt,
            "negative_prompt": "blurry, lowres", "seed": seed_value, "steps": 30,
            "sampler": "DPM++ 2M Karras", "scheduler": "karras", "cfg": 7.0,
            "loras": ["detail_tweaker"] if i % 5 == 0 else [],
            "params": json.dumps(params), "phash": rng.randrange(-(2**63), 2**63),
            "dhash": rng.randrange(-(2**63), 2**63), "quality": rng.uniform(10, 95),
            "stars": rng.randrange(1, 6), "project": rng.choice(synthetic.PROJECTS),
            "errors": None, "indexed_at": EPOCH,
        })  # fmt: skip
    return rows


def _insert_seconds(rows: list[dict[str, Any]], workdir: Path, *, batched: bool,
                    repeats: int) -> list[float]:
    """Seconds to write and commit `rows` into a fresh library file, once per repeat."""
    writes = [Write("assets", r) for r in rows]
    samples = []
    for attempt in range(repeats + 1):  # the first run warms caches and is not kept
        path = workdir / f"insert-{batched}-{attempt}.duckdb"
        db = Database(path)
        db.conn.execute("CHECKPOINT")
        writer = BatchWriter(db, batched=batched)
        seconds = time_calls(lambda w=writer: w.write_all(writes), repeats=1, warmup=0)[0]
        assert writer.stats.rows == len(rows), writer.stats
        db.close()
        path.unlink()
        if attempt:
            samples.append(seconds)
    return samples


def _floor_seconds(rows: list[dict[str, Any]], workdir: Path, repeats: int) -> list[float]:
    """DuckDB's own cost for the same rows: INSERT ... SELECT from a copy already in DuckDB
    (no Python values cross over), into a fresh library, committed; a plain INSERT, as the
    writer's own into a library that has none of the keys yet."""
    staged = workdir / "staged.duckdb"
    db = Database(staged)
    BatchWriter(db).write_all([Write("assets", r) for r in rows])
    db.close()
    samples = []
    for attempt in range(repeats + 1):
        path = workdir / f"floor-{attempt}.duckdb"
        target = Database(path)
        cur = target.conn
        cur.execute(f"ATTACH '{staged}' AS staged (READ_ONLY)")
        cur.execute("CREATE TEMP TABLE copy AS SELECT * FROM staged.assets")
        cur.execute("DETACH staged")

        def insert(cur: Any = cur) -> None:
            cur.execute("BEGIN TRANSACTION")
            cur.execute("INSERT INTO assets SELECT * FROM copy")
            cur.execute("COMMIT")
        seconds = time_calls(insert, repeats=1, warmup=0)
        target.close()
        path.unlink()
        if attempt:
            samples.extend(seconds)
    staged.unlink()
    return samples


def insert_rows(sizes: tuple[int, ...], repeats: int, workdir: Path) -> list[Row]:
    """Batched writer vs one INSERT per row, into a fresh library, for each size."""
    out = []
    for size in sizes:
        rows = asset_rows(size, seed=size)
        batched = summarize(_insert_seconds(rows, workdir, batched=True, repeats=repeats))
        sample = min(size, PER_ROW_SAMPLE)
        per_row_raw = _insert_seconds(rows[:sample], workdir, batched=False,
                                      repeats=max(1, repeats // 2))
        scaled = [s * size / sample for s in per_row_raw]
        per_row = summarize(scaled)
        limit = 0.010 if size <= 1_000 else 0.5
        note = (f"one-row-per-statement timed on {sample:,} rows and scaled x{size / sample:g}"
                if sample < size else "")
        floor = summarize(_floor_seconds(rows, workdir, repeats))
        row = time_row(f"insert.{size}", f"insert {size:,} asset rows, batched writer "
                       "(BatchWriter.write_all, default batch sizes)", batched,
                       target_seconds=limit)
        row.versus = (f"DuckDB's own floor (INSERT ... SELECT of the same rows already in "
                      f"DuckDB): {seconds(floor.median)}")
        row.ratio = batched.median / floor.median
        out.append(row)
        out.append(ratio_row(f"insert.{size}.ratio",
                             f"insert {size:,} rows: batched vs one row per statement",
                             batched, per_row, versus="one INSERT per row",
                             ratio=per_row.median / batched.median, minimum=100.0, note=note))
    return out


async def _tag_rows(db_path: Path, repeats: int, count: int) -> list[float]:
    settings = load_settings(flags={"paths.database": db_path}, environ={}).settings
    ids = [synthetic.asset_id_of(i) for i in range(1_000, 1_000 + count)]
    with Library(settings) as library:
        samples = []
        for i in range(repeats + 1):
            tag = f"bench-{i}"
            seconds = await time_async_calls(lambda _i, t=tag: library.tag(ids, add=[t]),
                                             repeats=1, warmup=0)
            await library.tag(ids, remove=[tag])
            if i:
                samples.extend(seconds)
        return samples


def tag_update(library_path: Path, assets: int, repeats: int, count: int = 500) -> Row:
    """Library.tag adding one tag to `count` assets (full ids, one call), on a synthetic library."""
    samples = anyio.run(_tag_rows, library_path, repeats, count)
    return time_row("tag.500", f"tag update of {count} assets (Library.tag, {assets:,}-asset "
                    "library)", summarize(samples), target_seconds=0.020)


def scratch_dir(root: Path) -> Path:
    """A fresh scratch folder for the write benchmarks."""
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="store-", dir=root))
