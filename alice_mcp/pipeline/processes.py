"""The per-file work in worker processes (performance.executor: processes): no GIL between files.

A thread pool leaves part of each file's work (numpy's small steps, Pillow's allocations and
copies) on one GIL shared with the event loop, the writer and the copies, so two cores gave
1.4-1.6x of one (issue 19). Here each worker is a process with the readers imported once; it
gets one file at a time over a pipe (two in flight, so it never waits for the next) and sends
back the compact record, never the pixels nor the file's bytes: organize's workers write those
to the run's staging folder and placing names that copy (staging.py); without one, placing
reads them again and checks them against the hash. Processes start from a
forkserver where the platform has one (the readers imported once, in the server), else they
are spawned (Windows).

A file over its time budget, or one that kills its worker (a decoder crash), costs only that
file: the worker is stopped, replaced, and the files it had in hand are sent again.
"""

from __future__ import annotations

import contextlib
import functools
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import aclosing
from datetime import datetime
from multiprocessing import connection, forkserver
from pathlib import Path
from typing import Any

import anyio
import structlog

from alice_mcp import threads
from alice_mcp.config import Settings
from alice_mcp.errors import WorkersLost
from alice_mcp.pipeline.follow import (
    BATCH,
    TreeState,
    finish_walk,
    follow_walk,
    record_batch,
    walk_tree,
)
from alice_mcp.pipeline.indexer import Failed, Indexed
from alice_mcp.pipeline.pool import PoolPlan, Watchdog, file_watchdog, worth_workers
from alice_mcp.pipeline.scan import Candidate
from alice_mcp.pipeline.worker import READY, serve
from alice_mcp.store.db import Database

log = structlog.get_logger(__name__)
IN_FLIGHT = 2  # files sent ahead to each worker: the next is there when one is done
STOP_SECONDS = 2.0  # a worker asked to stop is killed after this
DEATHS_IN_A_ROW = 3  # workers replaced without one answer between them: the run stops
CLOSING_POLL = 0.05  # seconds between the driver's looks at whether the pool is closing
PRELOAD = ["alice_mcp.pipeline.worker", "alice_mcp.pipeline.indexer", "alice_mcp.media.pixels",
           "alice_mcp.media.png", "alice_mcp.metadata"]  # what every worker needs, imported once

USE_THREADS = "set performance.executor: local to read files in threads only"

Result = Indexed | Failed


def _context(start_method: str | None = None) -> Any:
    """forkserver where the platform has it (the readers imported once, in the server), else
    spawn (Windows); never fork: this process runs DuckDB's and anyio's threads."""
    if start_method is None:
        methods = multiprocessing.get_all_start_methods()
        start_method = "forkserver" if "forkserver" in methods else "spawn"
    context = multiprocessing.get_context(start_method)
    if start_method == "forkserver":
        context.set_forkserver_preload(PRELOAD)
    return context


class Worker:
    """One worker process and its end of the pipe."""

    def __init__(self, context: Any, thumb_size: int, stealth: bool,
                 staging: Path | None = None) -> None:
        self.conn, child = context.Pipe()
        self.process = context.Process(target=serve, args=(child, thumb_size, stealth, staging),
                                       daemon=True, name="alice-indexer")
        self.process.start()
        child.close()
        self.in_hand: deque[tuple[int, Candidate]] = deque()  # sent, not answered, in order
        self.ready = False  # it said READY: it started, and a death from now on is a file's
        self.since = time.monotonic()  # when the oldest file in hand became the one worked on

    def send(self, index: int, cand: Candidate) -> None:
        if not self.in_hand:
            self.since = time.monotonic()
        self.in_hand.append((index, cand))
        self.conn.send(cand)

    def stop(self) -> None:
        """Ask the worker to stop; kill it if it does not within STOP_SECONDS."""
        with contextlib.suppress(OSError):
            self.conn.send(None)
        self.process.join(STOP_SECONDS)
        self.kill()

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
            self.process.join(STOP_SECONDS)
        self.conn.close()


class ProcessPool:
    """`workers` worker processes indexing files; started and stopped by its owner (`async with`)."""

    def __init__(self, workers: int, *, thumb_size: int, stealth: bool,
                 staging: Path | None = None, start_method: str | None = None) -> None:
        self.size = max(1, workers)
        self.thumb_size = thumb_size
        self.stealth = stealth
        self.staging = staging  # where the workers write copies of the files (staging.py)
        self._context = _context(start_method)
        self._workers: list[Worker] = []
        self._deaths = 0  # workers replaced since the last answer
        # the thread driving the workers (_run_batch): its own, never the "files" family's,
        # which placing needs meanwhile
        self._driver = anyio.CapacityLimiter(1)
        self._driving = threading.Lock()  # held by that thread; closing waits for it
        self._closing = threading.Event()  # the driver stops at once when set

    @classmethod
    def for_cores(cls, max_workers: int, *, thumb_size: int, stealth: bool,
                  staging: Path | None = None) -> ProcessPool:
        """One worker per core, at most max_workers: a process does not wait on a lock, so
        one more than the cores (as threads have) would only contend for them."""
        return cls(min(max_workers, os.cpu_count() or 1), thumb_size=thumb_size, stealth=stealth,
                   staging=staging)

    async def __aenter__(self) -> ProcessPool:
        try:
            _start_server_deaf_to_ctrl_c(self._context)
            for _ in range(self.size):
                self._workers.append(await threads.run_in("files", self._start))
        except BaseException as exc:
            with anyio.CancelScope(shield=True):
                await threads.run_in("files", self._stop_all, True)
            if isinstance(exc, (OSError, EOFError)):  # EOFError: the forkserver died
                raise _cannot_start(exc) from exc
            raise
        return self

    async def __aexit__(self, exc_type: object, *exc: object) -> None:
        """Workers are asked to stop after a whole run; killed at once when it was cancelled
        or failed (what they have in hand is not wanted)."""
        self._closing.set()
        with anyio.CancelScope(shield=True):
            await threads.run_in("files", self._stop_all, exc_type is not None)

    def _start(self) -> Worker:
        return Worker(self._context, self.thumb_size, self.stealth, self.staging)

    def _stop_all(self, kill: bool) -> None:
        with self._driving:  # a cancelled batch's driver leaves within CLOSING_POLL
            for worker in self._workers:
                if kill:
                    worker.kill()
                else:
                    worker.stop()
            self._workers = []

    async def map_batches(self, items: Sequence[Candidate], plan: PoolPlan,
                          watchdog: Watchdog[Candidate, Result]) -> AsyncIterator[list[Result]]:
        """Yield each batch's results in input order, as pool.map_batches does for threads.
        One thread drives the workers through a whole batch: the event loop wakes once a batch,
        not for every answer (issue 19: a thread hop and a wake-up per answer cost the placing
        process ~0.2 ms of CPU a file, on the cores the workers need)."""
        for batch in plan.batches(items):
            yield await anyio.to_thread.run_sync(self._run_batch, batch, watchdog,
                                                 limiter=self._driver, abandon_on_cancel=True)

    def _run_batch(self, batch: Sequence[Candidate],
                   watchdog: Watchdog[Candidate, Result]) -> list[Result]:
        """Keep every worker busy with the batch's files until each file has its answer (the
        worker's, the watchdog's, or an error when its worker died), or the pool closes."""
        results: list[Result | None] = [None] * len(batch)
        todo = deque(enumerate(batch))
        with self._driving:
            while not self._closing.is_set():
                for slot in range(len(self._workers)):
                    self._feed(slot, results, todo, watchdog)
                busy = [w for w in self._workers if w.in_hand]
                if not busy:
                    break
                now = time.monotonic()
                left = min(w.since + watchdog.budget(w.in_hand[0][1]) - now for w in busy)
                connection.wait([w.conn for w in busy], max(0.0, min(left, CLOSING_POLL)))
                for slot, worker in enumerate(self._workers):
                    if worker.in_hand:
                        self._collect(slot, results, todo, watchdog)
        return results  # type: ignore[return-value]  # every one set, unless closing (unused)

    def _feed(self, slot: int, results: list[Result | None],
              todo: deque[tuple[int, Candidate]], watchdog: Watchdog[Candidate, Result]) -> None:
        """Send the slot's worker files until it holds IN_FLIGHT. A worker found gone here has
        its answers taken and the file it died on failed (_collect); one that held nothing is
        replaced, and the fresh one gets the files."""
        worker = self._workers[slot]
        while todo and len(worker.in_hand) < IN_FLIGHT:
            try:
                worker.send(*todo.popleft())
            except OSError:
                todo.appendleft(worker.in_hand.pop())  # the one it never got
                self._collect(slot, results, todo, watchdog)
                if self._workers[slot] is worker:
                    self._replace(slot, todo, died=True)
                worker = self._workers[slot]

    def _collect(self, slot: int, results: list[Result | None],
                 todo: deque[tuple[int, Candidate]], watchdog: Watchdog[Candidate, Result]) -> None:
        """Take the slot's worker's answers that have come. A worker that died after it started
        fails the file it was reading (one that never started, a broken interpreter, fails
        none); one past that file's budget gets the watchdog's answer for it. Either is
        replaced, and the files it held go back to todo."""
        worker = self._workers[slot]
        try:
            while worker.in_hand and worker.conn.poll():
                answer = worker.conn.recv()
                if answer == READY:  # its first file's budget starts now
                    worker.ready, worker.since = True, time.monotonic()
                    continue
                results[worker.in_hand.popleft()[0]] = answer
                worker.since = time.monotonic()
                self._deaths = 0
        except (EOFError, OSError):
            if not worker.ready:
                self._replace(slot, todo, died=True)
                return
            index, cand = worker.in_hand.popleft()
            log.warning("indexing worker died", path=str(cand.path))
            results[index] = Failed(cand, "the worker reading it stopped (a decoder crash?); "
                                          "file skipped")
            self._replace(slot, todo, died=True)
            return
        if not worker.in_hand:
            return
        index, cand = worker.in_hand[0]
        budget = watchdog.budget(cand)
        if time.monotonic() - worker.since < budget:
            return
        worker.in_hand.popleft()
        results[index] = watchdog.overdue(cand, budget)
        self._replace(slot, todo, died=False)

    def _replace(self, slot: int, todo: deque[tuple[int, Candidate]], *, died: bool) -> None:
        """Stop the slot's worker and start another; the files it had in hand go back first.
        Workers that die one after another without answering (a broken interpreter, a reader
        that cannot load) stop the run instead of being replaced for ever."""
        self._deaths += died
        if self._deaths > DEATHS_IN_A_ROW * self.size:
            raise WorkersLost("the indexing worker processes stop as soon as they start "
                              f"(their errors, if any, are on standard error); {USE_THREADS}")
        worker = self._workers[slot]
        todo.extendleft(reversed(worker.in_hand))
        worker.in_hand.clear()
        worker.kill()
        try:
            self._workers[slot] = self._start()
        except (OSError, EOFError) as exc:
            raise _cannot_start(exc) from exc


def say_threads_take_over(lost: WorkersLost, left: int) -> None:
    """The warning when the worker processes are lost and threads read the `left` files."""
    log.warning("no worker processes; threads read the rest", reason=str(lost), files=left)


def _start_server_deaf_to_ctrl_c(context: Any) -> None:
    """Start the forkserver with SIGINT ignored. A terminal's Ctrl-C reaches every process of
    the group: the forkserver would die of it while it imports the readers (it ignores SIGINT
    only after), and the workers it forks take its first handlers. The run is stopped from
    here, and stops them. Only the main thread may set handlers; Ctrl-C is ignored here for the
    ~10 ms the server takes to start."""
    if (context.get_start_method() != "forkserver"
            or threading.current_thread() is not threading.main_thread()):
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        forkserver.ensure_running()
    finally:
        signal.signal(signal.SIGINT, previous)


def _cannot_start(exc: OSError | EOFError) -> WorkersLost:
    return WorkersLost(f"cannot start the indexing worker processes: {exc}; {USE_THREADS}")


async def follow_tree_in_processes(db: Database, root: Path, now: datetime, settings: Settings, *,
                                   role: str = "indexed",
                                   on_indexed: Callable[[int, int], None] | None = None
                                   ) -> TreeState:
    """follow_tree with the fresh files read by worker processes: the walk and the writes here,
    each batch committed as it comes back. Below parallel_threshold fresh files, no workers:
    threads read them, as with executor local, and they read the rest if the workers are lost."""
    perf, media, stealth = settings.performance, settings.media, settings.metadata.stealth
    walk = await threads.run_in("files", functools.partial(walk_tree, db, root, role=role))
    fresh, done = walk.fresh, 0

    def counted(reading: int, total: int) -> None:  # the threads' count after the workers'
        if on_indexed is not None:
            on_indexed(done + reading, done + total)

    if worth_workers(len(fresh), parallel_threshold=perf.parallel_threshold,
                     parallel=perf.parallel_metadata_extraction):
        watchdog = file_watchdog(settings.metadata.file_timeout_seconds)
        try:
            async with ProcessPool.for_cores(perf.max_workers, thumb_size=media.thumbnail_size,
                                             stealth=stealth) as pool, \
                    aclosing(pool.map_batches(fresh, PoolPlan(BATCH, pool.size),
                                              watchdog)) as batches:
                async for results in batches:
                    await threads.run_in("files", record_batch, db, walk, results, now,
                                         media.stars_thresholds)
                    done += len(results)
                    counted(0, len(fresh) - done)
            return await threads.run_in("files", finish_walk, db, walk, now)
        except WorkersLost as lost:
            say_threads_take_over(lost, len(fresh) - done)
            walk.fresh = fresh[done:]
    return await threads.run_in("files", functools.partial(
        follow_walk, db, walk, now, stars_thresholds=media.stars_thresholds,
        thumb_size=media.thumbnail_size, stealth=stealth, workers=perf.max_workers,
        on_indexed=counted))
