"""`alice index` on a Dask LocalCluster vs the local executor, the one writer's rate, and a
paper estimate for a million files on ten machines from those figures.

- local: Library.index of the corpus, performance.executor local (max_workers threads);
- dask: the same with executor dask, dask_scheduler local, 2 worker processes of 1 thread: the
  LocalCluster starts and stops inside each timed run, as in a user's run;
- per-file cost: index_batch (what a worker runs) on a sample, one thread, serially;
- the writer: record_batch of already indexed files (asset, thumbnail and file rows, 200 a
  batch, each committed) into a fresh library: the ceiling of any number of workers;
- the record: the pickled results of a batch (what a worker sends back), per file.
"""

from __future__ import annotations

import pickle
import resource
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import anyio

from alice_mcp.config import Settings, load_settings
from alice_mcp.library import Library
from alice_mcp.pipeline.follow import BATCH, record_batch, walk_tree
from alice_mcp.pipeline.remote import index_batch
from alice_mcp.store.db import Database
from bench.corpus import Corpus
from bench.memory import config_file
from bench.report import Row, rate_row, ratio_row, seconds
from bench.timing import summarize

DASK_WORKERS = 2
MAX_OVERHEAD = 1.15  # Dask on one machine: at most 15% slower than local threads
ESTIMATE_FILES, ESTIMATE_WORKERS = 1_000_000, 10
LINK_BYTES_PER_S = 110e6  # 1 Gbit/s Ethernet, as a NAS and the machines usually have


@dataclass(frozen=True, slots=True)
class Costs:
    """What the estimate is made of, all measured here."""

    per_file_s: float  # one core, one file: read, hash, detect, decode, hashes, thumbnail
    writer_files_s: float  # files the one writer records per second
    record_bytes: float  # sent back per file (compact record + thumbnail, pickled)
    file_bytes: float  # read from the NAS per file


def _settings(workdir: Path, inbox: Path, executor: str) -> Settings:
    return load_settings(config_file(workdir), environ={}, profile="default", flags={
        "paths.database": workdir / f"{executor}.duckdb", "paths.extra_roots": [str(inbox)],
        "performance.executor": executor, "performance.dask_workers": DASK_WORKERS}).settings


def _cpu_seconds() -> float:
    """CPU time of this process and of its children that ended (the LocalCluster's workers)."""
    here, children = (resource.getrusage(w) for w in (resource.RUSAGE_SELF,
                                                      resource.RUSAGE_CHILDREN))
    return here.ru_utime + here.ru_stime + children.ru_utime + children.ru_stime


def _index_once(workdir: Path, inbox: Path, executor: str, expected: int) -> tuple[float, float]:
    """Wall and CPU seconds (all processes) for one `alice index` of inbox into a fresh library."""
    settings = _settings(workdir, inbox, executor)
    settings.paths.database.unlink(missing_ok=True)

    async def run() -> tuple[float, float]:
        with Library(settings) as lib:
            started, cpu = time.perf_counter(), _cpu_seconds()
            report = await lib.index(inbox)
            took = time.perf_counter() - started, _cpu_seconds() - cpu
        if report.indexed + report.relinked != expected or report.errors:
            raise RuntimeError(f"{executor}: indexed {report.indexed}, relinked "
                               f"{report.relinked}, errors {report.errors[:3]}")
        return took
    try:
        return anyio.run(run)
    finally:
        settings.paths.database.unlink(missing_ok=True)


def _costs(corpus: Corpus, settings: Settings, workdir: Path, sample: int) -> Costs:
    """The per-file cost on one core, the writer's rate and the bytes per file, measured."""
    db_path = workdir / "writer.duckdb"
    db = Database(db_path)
    try:
        walk = walk_tree(db, corpus.inbox, role="indexed")
        thumb = settings.media.thumbnail_size
        started = time.perf_counter()
        index_batch(walk.fresh[:sample], thumb, False)
        per_file = (time.perf_counter() - started) / min(sample, len(walk.fresh))
        batches = [index_batch(walk.fresh[i:i + BATCH], thumb, False)
                   for i in range(0, len(walk.fresh), BATCH)]
        record = sum(len(pickle.dumps(b)) for b in batches) / len(walk.fresh)
        now, stars = datetime.now(UTC), settings.media.stars_thresholds
        started = time.perf_counter()
        for results in batches:
            record_batch(db, walk, results, now, stars)
        writer = len(walk.fresh) / (time.perf_counter() - started)
    finally:
        db.close()
        db_path.unlink(missing_ok=True)
    return Costs(per_file, writer, record, corpus.bytes / len(corpus.files))


def estimate(costs: Costs, files: int = ESTIMATE_FILES,
             workers: int = ESTIMATE_WORKERS) -> tuple[float, dict[str, float]]:
    """Seconds for `files` on `workers` single-core workers: the slowest of the stages, which
    run at once (workers read while the writer records): each stage's seconds by name."""
    stages = {
        f"{workers} workers' CPU": files * costs.per_file_s / workers,
        "the one writer": files / costs.writer_files_s,
        "the network back (records, 1 Gbit/s)": files * costs.record_bytes / LINK_BYTES_PER_S,
        "the NAS (file bytes, 1 Gbit/s)": files * costs.file_bytes / LINK_BYTES_PER_S,
    }
    return max(stages.values()), stages


def _duration(value: float) -> str:
    """Hours, minutes or seconds, whichever reads best."""
    if value >= 3 * 3600:
        return f"{value / 3600:.1f} h"
    return f"{value / 60:.0f} min" if value >= 120 else seconds(value)


def measure(corpus: Corpus, settings: Settings, workdir: Path, repeats: int) -> list[Row]:
    """Rows: Dask LocalCluster vs local, the per-file cost, the writer, the estimate."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        return []  # the dask extra is not installed: nothing to compare
    work = workdir / "executors"
    work.mkdir(parents=True, exist_ok=True)
    n = len(corpus.files)
    times: dict[str, list[float]] = {"local": [], "dask": []}
    cpu: dict[str, list[float]] = {"local": [], "dask": []}
    for attempt in range(repeats + 1):  # interleaved; the first round warms up, not kept
        for executor in times:
            took, used = _index_once(work, corpus.inbox, executor, n)
            if attempt:
                times[executor].append(took)
                cpu[executor].append(used)
    local, dask = summarize(times["local"]), summarize(times["dask"])
    local_cpu, dask_cpu = summarize(cpu["local"]), summarize(cpu["dask"])
    costs = _costs(corpus, settings, work, sample=min(n, 200))
    shutil.rmtree(work, ignore_errors=True)
    total, stages = estimate(costs)
    slowest = max(stages, key=lambda k: stages[k])
    label = (f"{n} files ({corpus.bytes / 2**20:,.0f} MB: PNG, JPEG, WebP at 512 and 1024 px); "
             f"local: {settings.performance.max_workers} threads; dask: {DASK_WORKERS} worker "
             "processes of 1 thread, the LocalCluster started and stopped in each run")
    stage_text = "; ".join(f"{k} {_duration(v)}" for k, v in stages.items())
    return [
        ratio_row("dask.overhead", "`alice index`, Dask LocalCluster / the local executor, "
                  "same files, fresh library", dask, local, versus="local executor",
                  ratio=dask.median / local.median, maximum=MAX_OVERHEAD, note=label),
        ratio_row("dask.cpu", "`alice index`, CPU seconds of every process (the client, the "
                  "scheduler and the workers), Dask LocalCluster / the local executor",
                  dask_cpu, local_cpu, versus="local executor",
                  ratio=dask_cpu.median / local_cpu.median, maximum=MAX_OVERHEAD,
                  note="what the work costs, whatever share of the 2 cores other load leaves"),
        Row("dask.per_file", "per-file cost on one core (index_batch: read, BLAKE2b, detect, "
            "decode, pHash/dHash, thumbnail, quality)", seconds(costs.per_file_s),
            costs.per_file_s, note=f"{min(n, 200)} files, one thread"),
        rate_row("dask.writer", "the one writer: files recorded (asset, thumbnail and file "
                 f"rows, record_batch of {BATCH}, committed)",
                 summarize([costs.writer_files_s])),
        Row("dask.record", "sent back per file (compact record and thumbnail, pickled) / read "
            "per file", f"{costs.record_bytes / 1024:.1f} KiB / "
            f"{costs.file_bytes / 1024:,.0f} KiB", costs.record_bytes),
        Row("dask.estimate", f"paper estimate: {ESTIMATE_FILES:,} files on "
            f"{ESTIMATE_WORKERS} single-core workers (the slowest stage)",
            _duration(total), total, note=f"bound by {slowest}; {stage_text}"),
    ]
