"""The per-file work on Dask workers (performance.executor: dask); the library stays here.

Each batch of files goes to a worker as one task; the worker reads its files (through the path
map, where it mounts the collection elsewhere) and returns compact records: hashes, metadata,
pHash/dHash, quality and the thumbnail, never the pixels. Batches come back in the order they
were sent, so sequence numbers and rows match a local run; the one DuckDB writer stays in this
process (DuckDB allows one writing process). A worker lost mid-run costs only its batches: the
scheduler runs them again on another worker. Dask is an extra: `pip install 'alice-mcp[dask]'`.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import structlog

from alice_mcp.errors import SettingsError
from alice_mcp.pipeline.indexer import Failed, Indexed, index_file
from alice_mcp.pipeline.pool import PoolPlan
from alice_mcp.pipeline.scan import Candidate

log = structlog.get_logger(__name__)
CONNECT_SECONDS = 5.0  # a wrong scheduler address is an error within this
IN_FLIGHT_PER_WORKER = 2  # batches sent ahead per worker: busy workers, bounded memory here


def index_batch(candidates: list[Candidate], thumb_size: int,
                stealth: bool) -> list[Indexed | Failed]:
    """What runs on a worker: each file of one batch read and indexed, in order."""
    return [index_file(c, thumb_size=thumb_size, stealth=stealth) for c in candidates]


def map_path(path: Path, path_map: Mapping[str, str]) -> Path:
    """The path as the workers see it: the longest matching prefix replaced."""
    text = str(path)
    for here in sorted(path_map, key=len, reverse=True):
        if text == here or text.startswith(here.rstrip("/\\") + ("/" if "/" in here else "\\")):
            return Path(path_map[here] + text[len(here.rstrip("/\\")):])
    return path


@asynccontextmanager
async def dask_client(scheduler: str, workers: int) -> AsyncIterator[Any]:
    """A Dask client: to the scheduler at `scheduler`, or ("local") to a LocalCluster of
    `workers` processes started for the run and stopped after it."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise SettingsError("performance.executor is dask but Dask is not installed: "
                            "pip install 'alice-mcp[dask]', or set performance.executor: "
                            "local") from None
    logging.getLogger("distributed").setLevel(logging.WARNING)  # its INFO lines per worker
    if scheduler == "local":
        async with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                asynchronous=True, dashboard_address=None) as cluster, \
                Client(cluster, asynchronous=True) as client:
            yield client
        return
    try:
        client = await Client(scheduler, asynchronous=True, timeout=CONNECT_SECONDS)
    except (OSError, TimeoutError) as exc:
        raise SettingsError(f"cannot reach the Dask scheduler at {scheduler!r} "
                            f"(performance.dask_scheduler): {exc}; start it with `dask "
                            "scheduler` and check the address, or set it to local") from None
    try:
        yield client
    finally:
        await client.close()


async def map_batches_on(client: Any, items: Sequence[Candidate], plan: PoolPlan, *,
                         thumb_size: int, stealth: bool,
                         path_map: Mapping[str, str]) -> AsyncIterator[list[Indexed | Failed]]:
    """Yield each batch's results in the order the batches were sent, as map_batches does."""
    work: Callable[..., list[Indexed | Failed]] = functools.partial(
        index_batch, thumb_size=thumb_size, stealth=stealth)
    workers = max(1, len(client.scheduler_info()["workers"]))
    window = workers * IN_FLIGHT_PER_WORKER
    batches = plan.batches(items)
    pending: deque[tuple[Sequence[Candidate], Any]] = deque()
    sent = 0
    try:
        while sent < len(batches) or pending:
            while sent < len(batches) and len(pending) < window:
                batch = batches[sent]
                there = [dataclasses.replace(c, path=map_path(c.path, path_map)) for c in batch]
                pending.append((batch, client.submit(work, there, pure=False)))
                sent += 1
            batch, future = pending.popleft()
            results = await future
            yield [dataclasses.replace(r, candidate=c) for r, c in zip(results, batch, strict=True)]
    finally:
        with anyio.CancelScope(shield=True):
            if pending:  # cancelled or failed: the workers stop the batches not yet done
                await client.cancel([f for _, f in pending])
