"""The per-file work on Dask workers (performance.executor: dask); the library stays here.

Each batch of files goes to a worker as one task; the worker reads its files (through the path
map, where it mounts the collection elsewhere) and returns compact records: hashes, metadata,
pHash/dHash, quality and the thumbnail, never the pixels. Batches come back in the order they
were sent, so sequence numbers and rows match a local run; the one DuckDB writer stays in this
process (DuckDB allows one writing process). A worker lost mid-run costs only its batches: the
scheduler runs them again on another worker; a cancelled run cancels the batches still on the
cluster; a scheduler lost mid-run is WorkersLost (what was recorded stays, a rerun reads the
rest). Used by organize (OrganizeRun) and `alice index` (follow_tree_on_dask). Dask is an
extra: `pip install 'alice-mcp[dask]'`.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import aclosing, asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
import structlog

from alice_mcp.allocator import tune_allocator
from alice_mcp.config import PerformanceSettings, Settings
from alice_mcp.errors import SettingsError, WorkersLost
from alice_mcp.pipeline.follow import TreeState, finish_walk, record_batch, walk_tree
from alice_mcp.pipeline.indexer import Failed, Indexed, index_file
from alice_mcp.pipeline.pool import PoolPlan, in_thread
from alice_mcp.pipeline.scan import Candidate
from alice_mcp.store.db import Database

log = structlog.get_logger(__name__)
CONNECT_SECONDS = 5.0  # a wrong scheduler address is an error within this
CLOSE_SECONDS = 10.0  # closing the client, the cluster, cancelling what is pending: at most
IN_FLIGHT_PER_WORKER = 2  # batches sent ahead per worker: busy workers, bounded memory here


def index_batch(candidates: list[Candidate], thumb_size: int,
                stealth: bool) -> list[Indexed | Failed]:
    """What runs on a worker: each file of one batch read and indexed, in order."""
    tune_allocator()  # as the local pool does (once per worker process)
    return [index_file(c, thumb_size=thumb_size, stealth=stealth) for c in candidates]


def map_path(path: Path, path_map: Mapping[str, str]) -> Path:
    """The path as the workers see it: the longest matching prefix replaced."""
    text = str(path)
    for here in sorted(path_map, key=len, reverse=True):
        if text == here or text.startswith(here.rstrip("/\\") + ("/" if "/" in here else "\\")):
            return Path(path_map[here] + text[len(here.rstrip("/\\")):])
    return path


def local_worker_config() -> dict[str, Any]:
    """Dask settings for the LocalCluster's workers: no statistical profiler (it samples every
    thread every 10 ms) and glibc's heap left as in a local run (Dask's nannies set
    MALLOC_TRIM_THRESHOLD_=65536, which hands every freed decode buffer back to the OS)."""
    import dask

    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", default={}))
    environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    return {"distributed.worker.profile.enabled": False,
            "distributed.nanny.pre-spawn-environ": environ}


@asynccontextmanager
async def dask_client(scheduler: str, workers: int) -> AsyncIterator[Any]:
    """A Dask client: to the scheduler at `scheduler`, or ("local") to a LocalCluster of
    `workers` processes started for the run and stopped after it (even when cancelled)."""
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError:
        raise SettingsError("performance.executor is dask but Dask is not installed: "
                            "pip install 'alice-mcp[dask]', or set performance.executor: "
                            "local") from None
    logging.getLogger("distributed").setLevel(logging.ERROR)  # its INFO lines per worker
    cluster = None
    if scheduler == "local":
        with dask.config.set(local_worker_config()):
            cluster = await LocalCluster(n_workers=workers, threads_per_worker=1,
                                         processes=True, asynchronous=True,
                                         dashboard_address=None)
        client = await Client(cluster, asynchronous=True)
    else:
        try:
            client = await Client(scheduler, asynchronous=True, timeout=CONNECT_SECONDS)
        except (OSError, TimeoutError) as exc:
            raise SettingsError(f"cannot reach the Dask scheduler at {scheduler!r} "
                                f"(performance.dask_scheduler): {exc}; start it with `dask "
                                "scheduler` and check the address, or set it to local") from None
    try:
        yield client
    finally:
        with anyio.CancelScope(shield=True), anyio.move_on_after(CLOSE_SECONDS):
            await client.close(timeout=CLOSE_SECONDS)
            if cluster is not None:
                await cluster.close()


async def index_on_dask(items: Sequence[Candidate], plan: PoolPlan, perf: PerformanceSettings,
                        *, thumb_size: int,
                        stealth: bool) -> AsyncIterator[list[Indexed | Failed]]:
    """Each batch of items indexed on the Dask workers performance.* names, in send order; the
    client (and a LocalCluster) is closed when the caller stops, cancelled or not."""
    async with dask_client(perf.dask_scheduler, perf.dask_workers) as client, aclosing(
            map_batches_on(client, items, plan, thumb_size=thumb_size, stealth=stealth,
                           path_map=perf.path_map, scheduler=perf.dask_scheduler)) as batches:
        async for results in batches:
            yield results


async def map_batches_on(client: Any, items: Sequence[Candidate], plan: PoolPlan, *,
                         thumb_size: int, stealth: bool, path_map: Mapping[str, str],
                         scheduler: str = "local") -> AsyncIterator[list[Indexed | Failed]]:
    """Yield each batch's results in the order the batches were sent, as map_batches does.
    Stopped or cancelled, the batches not yet back are cancelled on the cluster; a scheduler
    lost mid-run is WorkersLost (what was yielded so far is the caller's to keep)."""
    work: Callable[..., list[Indexed | Failed]] = functools.partial(
        index_batch, thumb_size=thumb_size, stealth=stealth)
    workers = max(1, len(client.scheduler_info()["workers"]))
    window = workers * IN_FLIGHT_PER_WORKER
    batches = plan.batches(items)
    pending: deque[tuple[Sequence[Candidate], Any]] = deque()
    sent = done = 0
    try:
        while sent < len(batches) or pending:
            try:  # index_file never raises: what does here is the cluster's
                while sent < len(batches) and len(pending) < window:
                    batch = batches[sent]
                    there = [dataclasses.replace(c, path=map_path(c.path, path_map))
                             for c in batch]
                    pending.append((batch, client.submit(work, there, pure=False)))
                    sent += 1
                batch, future = pending.popleft()
                results = await future
            except Exception as exc:  # noqa: BLE001
                raise _lost(scheduler, client, exc, done, len(items)) from None
            done += len(batch)
            yield [dataclasses.replace(r, candidate=c) for r, c in zip(results, batch, strict=True)]
    finally:
        with anyio.CancelScope(shield=True), anyio.move_on_after(CLOSE_SECONDS):
            if pending and client.status == "running":  # the workers drop what is not done
                await client.cancel([f for _, f in pending])


def _lost(scheduler: str, client: Any, exc: BaseException, done: int,
          total: int) -> WorkersLost:
    """One line for a batch the cluster could not give back (index_file never raises)."""
    if client.status != "running":
        reason = "the connection to the scheduler was lost"
    else:  # a batch that killed one worker after another (KilledWorker), say
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
    log.warning("dask batch lost", error=repr(exc))
    return WorkersLost(
        f"the Dask cluster ({scheduler}) stopped mid-run after {done} of {total} files: "
        f"{reason}; everything read so far is recorded. Restart the scheduler and workers "
        "(or set performance.executor: local) and run again: the rerun reads only the rest")


async def follow_tree_on_dask(db: Database, root: Path, now: datetime, settings: Settings, *,
                              role: str = "indexed",
                              on_indexed: Callable[[int, int], None] | None = None) -> TreeState:
    """follow_tree with the fresh files read on Dask workers: the walk and the writes here,
    each batch committed as it comes back (a stopped run keeps them; a rerun reads the rest).
    No cluster is started when nothing changed."""
    perf, media = settings.performance, settings.media
    walk = await in_thread(functools.partial(walk_tree, db, root, role=role))
    fresh = walk.fresh
    if fresh:
        plan = PoolPlan(batch_size=perf.batch_size, workers=perf.dask_workers)
        done = 0
        async with aclosing(index_on_dask(fresh, plan, perf, thumb_size=media.thumbnail_size,
                                          stealth=settings.metadata.stealth)) as batches:
            async for results in batches:
                await in_thread(record_batch, db, walk, results, now, media.stars_thresholds)
                done += len(results)
                if on_indexed is not None:
                    on_indexed(done, len(fresh))
    return await in_thread(finish_walk, db, walk, now)
