"""Full indexing throughput vs imagehash.phash alone and vs the decode-only floor, same files.

All three use the same number of worker threads (the profile's max_workers):
- the pipeline: scan -> index_file in the worker pool (read, BLAKE2b, detect, one decode for
  pHash/dHash, thumbnail and quality) -> asset and thumbnail rows -> BatchWriter -> commit;
- imagehash.phash alone: Image.open + imagehash.phash per file;
- the floor: read the bytes and decode at the size the pipeline decodes at (pixels' own
  working-size decode: JPEG DCT scaling, else a full decode and box reduce), nothing else.
"""

from __future__ import annotations

import functools
import io
import statistics
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import anyio
import imagehash
from PIL import Image

from alice_mcp.config import Settings
from alice_mcp.media.pixels import _decode_working, _working_side
from alice_mcp.pipeline.indexer import Indexed, asset_row, index_file
from alice_mcp.pipeline.pool import PoolPlan, map_batches
from alice_mcp.pipeline.scan import scan
from alice_mcp.store.db import Database
from alice_mcp.store.writer import BatchWriter, Write
from bench.corpus import Corpus
from bench.report import Row, rate_row, ratio_row
from bench.timing import rates, summarize, time_calls


async def _index_into(db: Database, inbox: Path, settings: Settings) -> int:
    """The pipeline minus placement: every new file indexed and its rows committed."""
    perf = settings.performance
    found = scan(inbox, {})
    plan = PoolPlan.for_run(len(found.new), max_workers=perf.max_workers,
                            batch_size=perf.batch_size,
                            parallel_threshold=perf.parallel_threshold,
                            parallel=perf.parallel_metadata_extraction)
    work = functools.partial(index_file, thumb_size=settings.media.thumbnail_size)
    writer = BatchWriter(db, batch_insert_size=perf.batch_insert_size,
                         transaction_size=perf.transaction_size)
    send, receive = anyio.create_memory_object_stream[Write](perf.batch_insert_size * 2)
    now = datetime.now(UTC)
    indexed = 0
    async with anyio.create_task_group() as tg:
        tg.start_soon(writer.run, receive)
        async with send:
            async for results in map_batches(found.new, work, plan):
                for item in results:
                    if not isinstance(item, Indexed):
                        raise RuntimeError(f"indexing failed: {item}")
                    indexed += 1
                    await send.send(Write("assets", asset_row(
                        item, settings.media.stars_thresholds, now)))
                    if item.pixels is not None:
                        await send.send(Write("thumbnails", {
                            "asset_id": item.asset_id, "mime": item.pixels.thumbnail_mime,
                            "data": item.pixels.thumbnail}))
    return indexed


def _phash_only(path: Path) -> int:
    with Image.open(path) as img:
        return hash(imagehash.phash(img))


def _decode_only(thumb_size: int, path: Path) -> tuple[int, int]:
    with Image.open(io.BytesIO(path.read_bytes())) as img:
        work, _ = _decode_working(img, _working_side(max(img.size), thumb_size))
        return work.size


def measure(corpus: Corpus, settings: Settings, workdir: Path, repeats: int) -> list[Row]:
    """Rows: pipeline files/s vs phash alone, and pipeline time vs the decode-only floor."""
    workers = settings.performance.max_workers
    files = corpus.files
    decode = functools.partial(_decode_only, settings.media.thumbnail_size)
    pipeline_s, phash_s, floor_s = [], [], []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        def run_pipeline(attempt: int) -> None:
            path = workdir / f"index-{attempt}.duckdb"
            db = Database(path)
            db.conn.execute("CHECKPOINT")
            seconds = time_calls(lambda: anyio.run(_index_into, db, corpus.inbox, settings),
                                 repeats=1, warmup=0)
            db.close()
            path.unlink()
            if attempt:
                pipeline_s.extend(seconds)

        for attempt in range(repeats + 1):  # interleaved; the first round warms up, not kept
            run_pipeline(attempt)
            ph = time_calls(lambda: list(pool.map(_phash_only, files)), repeats=1, warmup=0)
            fl = time_calls(lambda: list(pool.map(decode, files)), repeats=1, warmup=0)
            if attempt:
                phash_s.extend(ph)
                floor_s.extend(fl)
    n = len(files)
    ours, theirs, floor = (summarize(rates(n, s)) for s in (pipeline_s, phash_s, floor_s))
    perf = settings.performance
    used = PoolPlan.for_run(n, max_workers=workers, batch_size=perf.batch_size,
                            parallel_threshold=perf.parallel_threshold).workers
    why = ("under parallel_threshold" if n < perf.parallel_threshold
           else "at most one more than the cores")
    threads = (f"{workers} worker threads each" if used == workers else
               f"{used} pipeline worker{'s' if used > 1 else ''} ({why}), {workers} threads "
               "for the comparisons")
    label = (f"{n} files ({corpus.bytes / 2**20:,.0f} MB: PNG, JPEG, WebP at 512 and 1024 px), "
             f"{threads}")
    return [
        rate_row("index.phash", "full indexing (detect, hash, pHash+dHash, thumbnail, quality, "
                 "DuckDB write)", ours, versus=("imagehash.phash alone", theirs), min_ratio=2.0,
                 note=label),
        ratio_row("index.floor", "full indexing time / decode-only floor (Pillow decoding the "
                  "same files at the pipeline's working size)", summarize(pipeline_s),
                  summarize(floor_s), versus=f"decode-only floor ({floor.median:,.0f} files/s)",
                  ratio=statistics.median(pipeline_s) / statistics.median(floor_s),
                  maximum=1.3, note=label),
    ]
