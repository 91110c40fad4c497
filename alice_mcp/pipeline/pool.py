"""The worker pool: CPU-bound work in threads under a CapacityLimiter, in batches, cancellable."""

from __future__ import annotations

import os
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import anyio

from alice_mcp import threads
from alice_mcp.allocator import tune_allocator
from alice_mcp.pipeline.indexer import Failed, Indexed
from alice_mcp.pipeline.scan import Candidate

BYTES_PER_SECOND = 20 * 1024 * 1024  # the slowest read a file's time budget allows for
T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class PoolPlan:
    """How a run is split: batches of batch_size, and how many run at once."""

    batch_size: int
    workers: int

    @classmethod
    def for_run(cls, count: int, *, max_workers: int, batch_size: int, parallel_threshold: int,
                parallel: bool = True, cores: int | None = None) -> PoolPlan:
        """Below parallel_threshold files (or with parallelism off) work is done in order.

        At most one thread more than the machine has cores: indexing is decoding and hashing,
        and more threads only contend for the cores (400 PNGs on 2 cores, whole runs: 8 threads
        125 files/s, 4: 138, 3: 147, 2: 149); the one more overlaps a slow disk's reads."""
        if not worth_workers(count, parallel_threshold=parallel_threshold, parallel=parallel):
            return cls(batch_size=batch_size, workers=1)
        cores = cores or os.cpu_count() or 1
        return cls(batch_size=batch_size, workers=min(max_workers, cores + 1))

    def batches(self, items: Sequence[T]) -> list[Sequence[T]]:
        return [items[i:i + self.batch_size] for i in range(0, len(items), self.batch_size)]


def worth_workers(count: int, *, parallel_threshold: int, parallel: bool = True) -> bool:
    """Whether count files are worth workers (threads or processes): parallelism on
    (performance.parallel_metadata_extraction) and at least parallel_threshold of them."""
    return parallel and count >= parallel_threshold


KEPT_SHARE = 8  # files' bytes held between indexing and placing: this share of the caches' ...
KEPT_MAX_BYTES = 128 * 2**20  # ... budget, at most this, and none below KEPT_FROM_CACHE_MB
KEPT_FROM_CACHE_MB = 256  # (memory_constrained, 100 MB: its 10,000-file peak is 231 of 250 MB)


class ByteBudget:
    """Bytes that may be held at once, taken by worker threads and given back when used."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self._lock = threading.Lock()

    @classmethod
    def for_cache(cls, max_memory_cache_mb: int) -> ByteBudget:
        """The budget for files' bytes kept from indexing to placing, from the caches' budget
        (default 512 MB -> 64 MB; ~1 ms of CPU saved a 400 KB file): small machines keep none."""
        if max_memory_cache_mb < KEPT_FROM_CACHE_MB:
            return cls(0)
        return cls(min(KEPT_MAX_BYTES, max_memory_cache_mb * 2**20 // KEPT_SHARE))

    def take(self, size: int) -> bool:
        """Hold size bytes if they fit in the budget (True), else hold nothing (False)."""
        with self._lock:
            if self.held + size > self.limit:
                return False
            self.held += size
            return True

    def give(self, size: int) -> None:
        with self._lock:
            self.held -= size


@dataclass(frozen=True, slots=True)
class Watchdog(Generic[T, R]):
    """A per-item time budget for work a thread cannot be interrupted in: past it, the item is
    abandoned (its thread finishes in the background, its result unused) and overdue() is used."""

    budget: Callable[[T], float]
    overdue: Callable[[T, float], R]


def file_watchdog(timeout_seconds: float) -> Watchdog[Candidate, Indexed | Failed]:
    """A file's time budget: metadata.file_timeout_seconds plus 1 s per 20 MB; past it the file
    is a per-file error that says which setting to raise."""
    def overdue(cand: Candidate, seconds: float) -> Failed:
        return Failed(cand, f"reading took longer than {seconds:.1f} s; abandoned (raise "
                            "metadata.file_timeout_seconds for slow disks)")
    return Watchdog(budget=lambda c: timeout_seconds + c.size / BYTES_PER_SECOND,
                    overdue=overdue)


async def map_batches(items: Sequence[T], work: Callable[[T], R], plan: PoolPlan,
                      watchdog: Watchdog[T, R] | None = None) -> AsyncIterator[list[R]]:
    """Yield each batch's results, in input order, after running work(item) in worker threads.

    Cancelling the caller stops scheduling at once; threads already running finish their file
    (a thread cannot be interrupted) and their results are discarded. With a watchdog, an item
    over its time budget is abandoned the same way and gets the watchdog's result instead.
    """
    tune_allocator()
    limiter = anyio.CapacityLimiter(plan.workers)
    for batch in plan.batches(items):
        results: list[R | None] = [None] * len(batch)

        async def run_one(index: int, item: T, results: list[R | None] = results) -> None:
            if watchdog is None:
                results[index] = await anyio.to_thread.run_sync(work, item, limiter=limiter)
                return
            seconds = watchdog.budget(item)
            with anyio.move_on_after(seconds):
                results[index] = await anyio.to_thread.run_sync(work, item, limiter=limiter,
                                                                abandon_on_cancel=True)
                return
            results[index] = watchdog.overdue(item, seconds)

        if plan.workers == 1:
            for index, item in enumerate(batch):
                await run_one(index, item)
        else:
            async with anyio.create_task_group() as tg:
                for index, item in enumerate(batch):
                    tg.start_soon(run_one, index, item)
        yield results  # type: ignore[misc]


def file_work_limiter() -> anyio.CapacityLimiter:
    """The event loop's limiter for file and index work (threads.limiter("files")): never
    anyio's default one, which the MCP stdio transport needs to read and write messages."""
    return threads.limiter("files")


async def in_thread(func: Callable[..., R], *args: object) -> R:
    """func(*args) in a worker thread under file_work_limiter()."""
    return await threads.run_in("files", func, *args)
