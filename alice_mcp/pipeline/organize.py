"""One organize run: scan -> index in the worker pool -> place -> BatchWriter, cancellable at any await.

A batch's placements and the rows that record them are shielded together, so a cancel never
leaves a placed file unrecorded; the writer is shielded too and commits everything it was sent.
Each batch's steps are planned here and carried out by pipeline/placing.py (journal, put,
one durability point, record).
"""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import structlog
from anyio.streams.memory import MemoryObjectSendStream

from alice_mcp.config import Settings
from alice_mcp.errors import AliceError, WorkersLost
from alice_mcp.pipeline.indexer import (
    Failed,
    Indexed,
    asset_row,
    created_at,
    file_row,
    index_file,
)
from alice_mcp.pipeline.place import Layout, Planner
from alice_mcp.pipeline.placing import Placing, Step, send_all
from alice_mcp.pipeline.pool import (
    ByteBudget,
    PoolPlan,
    Watchdog,
    file_watchdog,
    in_thread,
    map_batches,
    worth_workers,
)
from alice_mcp.pipeline.recovery import recover
from alice_mcp.pipeline.remote import index_on_dask
from alice_mcp.pipeline.scan import Candidate, ScanResult, scan
from alice_mcp.pipeline.staging import RunStaging, sweep
from alice_mcp.progress import Progress
from alice_mcp.results import FileProblem, OrganizeReport, Placement
from alice_mcp.store import assets, locations
from alice_mcp.store.db import Database
from alice_mcp.store.writer import BatchWriter, Commit, Write

log = structlog.get_logger(__name__)
MAX_REPORTED_PLACEMENTS = 1000  # a dry run reports every placement; a real run the first ones


class OrganizeRun:
    """Organize one inbox into one organized tree, recording everything in the index."""

    def __init__(self, db: Database, settings: Settings, inbox: Path, organized: Path, *,
                 move: bool = False, dry_run: bool = False, settle_seconds: float = 0.0,
                 progress: Progress | None = None) -> None:
        self.db = db
        self.settings = settings
        self.perf = settings.performance
        self.inbox = inbox
        self.organized = organized
        self.move = move
        self.dry_run = dry_run
        self.settle_seconds = settle_seconds
        self.progress = progress or Progress()
        self.planner = Planner(organized, Layout(settings.paths.layout))
        self.report = OrganizeReport(inbox=str(inbox), organized_root=str(organized),
                                     move=move, dry_run=dry_run)
        self._placed_in_run: dict[str, str] = {}
        self.sidecars: dict[str, tuple[int, int]] = {}  # the inbox's .xmp files, as scanned
        self.placed: dict[str, tuple[str, str]] = {}  # source -> (asset_id, destination)
        self._now = datetime.now(UTC)
        self.placing = Placing(self.report, self.planner, organized, move=move, dry_run=dry_run,
                               now=self._now, placed_in_run=self._placed_in_run,
                               placed=self.placed)
        # each file read once (issue 19): bytes kept from index to copy, within this budget
        self._kept = ByteBudget(0) if dry_run else ByteBudget.for_cache(
            self.perf.max_memory_cache_mb)
        self._staging: RunStaging | None = None  # made when worker processes start

    async def perform(self) -> OrganizeReport:
        """Run the whole organize: recover, scan, index, place, record; the report says what."""
        started = time.perf_counter()
        writer = BatchWriter(self.db, batch_insert_size=self.perf.batch_insert_size,
                             transaction_size=self.perf.transaction_size,
                             batched=self.perf.enable_batch_operations)
        self.placing.writer = writer
        send, receive = anyio.create_memory_object_stream[Write | Commit](
            self.perf.batch_insert_size * 2)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._drain, writer, receive)
                with send:
                    await self._produce(send)
        except anyio.get_cancelled_exc_class():
            self.report.cancelled = True
            log.warning("organize cancelled; everything placed so far is recorded")
            raise
        except BaseExceptionGroup as group:  # the task group wraps what stopped the run
            raise first_alice_error(group) from None
        finally:
            if self._staging is not None:
                with anyio.CancelScope(shield=True):
                    await in_thread(self._staging.close)
            counters = self.report.counters
            counters.rows_written = writer.stats.rows
            counters.write_statements = writer.stats.statements
            counters.commits = writer.stats.commits
            self.report.errors.extend(FileProblem(path=k, reason=f"index write failed: {r}")
                                      for k, r in writer.stats.rejected)
            self.report.seconds = round(time.perf_counter() - started, 3)
        return self.report

    async def _drain(self, writer: BatchWriter, receive: Any) -> None:
        with anyio.CancelScope(shield=True):
            if self.dry_run:
                async with receive:
                    async for _ in receive:
                        pass
            else:
                await writer.run(receive)

    async def _produce(self, send: MemoryObjectSendStream[Write | Commit]) -> None:
        if not self.dry_run:
            await self._recover(send)
        known = await in_thread(locations.known_inbox_files, self.db, self.inbox)
        found: ScanResult = await in_thread(
            functools.partial(scan, self.inbox, known, exclude=(self.organized,),
                              settle_seconds=self.settle_seconds, keep_placed=self.move))
        report = self.report
        report.counters.stat = found.stats
        self.sidecars = found.sidecars
        report.scanned = len(found.new) + len(found.unplaced) + found.unchanged
        report.unchanged = found.unchanged - len(found.placed)  # a move takes those out
        report.skipped = len(found.skipped)
        report.deferred = len(found.deferred)
        report.skipped_files = [FileProblem(path=p, reason=r) for p, r in found.skipped[:200]]
        await self._place_known(found.unplaced, send)
        if self.move and found.placed:
            await self._place_known(found.placed, send)
        plan = PoolPlan.for_run(len(found.new), max_workers=self.perf.max_workers,
                                batch_size=self.perf.batch_size,
                                parallel_threshold=self.perf.parallel_threshold,
                                parallel=self.perf.parallel_metadata_extraction)
        await self.progress.start(len(found.new), len(plan.batches(found.new)))
        # one batch ahead: the workers index the next batch while this one is placed (issue 19:
        # placing in turn with indexing left a core idle, 2 workers gave 1.44x of one)
        ahead, batches = anyio.create_memory_object_stream[list[Indexed | Failed]](0)
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._index_ahead, found.new, plan, ahead)
            async with batches:
                async for results in batches:
                    await self._handle_batch(results, send)
                    await self.progress.advance(len(results))

    async def _index_ahead(self, new: list[Candidate], plan: PoolPlan,
                           ahead: MemoryObjectSendStream[list[Indexed | Failed]]) -> None:
        """Send each indexed batch on; the next is indexed while the one sent is placed. If
        the placing side has stopped (cancelled, or failed), this side stops quietly: the
        reason the run ends is the placing side's, not "nobody receives"."""
        async with ahead, aclosing(self._indexed(new, plan)) as batches:
            async for results in batches:
                try:
                    await ahead.send(results)
                except anyio.BrokenResourceError:
                    return

    async def _indexed(self, new: list[Candidate],
                       plan: PoolPlan) -> AsyncIterator[list[Indexed | Failed]]:
        """Each batch of new files read and indexed: in this process's threads, in worker
        processes, or on Dask workers (performance.executor), in the same order either way.
        Worker processes that cannot start or keep dying leave the rest to threads."""
        thumb_size, stealth = self.settings.media.thumbnail_size, self.settings.metadata.stealth
        perf = self.perf
        if perf.executor == "processes" and worth_workers(
                len(new), parallel_threshold=perf.parallel_threshold,
                parallel=perf.parallel_metadata_extraction):
            from alice_mcp.pipeline.processes import ProcessPool, say_threads_take_over
            staging, done = await self._staging_folder(), 0
            try:
                async with ProcessPool.for_cores(perf.max_workers, thumb_size=thumb_size,
                                                 stealth=stealth, staging=staging) as pool, \
                        aclosing(pool.map_batches(new, plan, self._watchdog())) as batches:
                    async for results in batches:
                        done += len(results)
                        yield results
                return
            except WorkersLost as lost:
                say_threads_take_over(lost, len(new) - done)
                new = new[done:]
        if self.perf.executor in ("local", "processes") or not new:
            work = functools.partial(index_file, thumb_size=thumb_size, stealth=stealth,
                                     keep_bytes=self._kept.take)
            async with aclosing(map_batches(new, work, plan, self._watchdog())) as batches:
                async for results in batches:
                    yield results
            return
        async with aclosing(index_on_dask(new, plan, self.perf, thumb_size=thumb_size,
                                          stealth=stealth)) as batches:
            async for results in batches:
                yield results

    async def _staging_folder(self) -> Path | None:
        """Where worker processes write the copies placing names (pipeline/staging.py): when
        copying (a move links the source itself) into the tree of a library on disk."""
        if self.move or self.dry_run or self.db.path is None:
            return None
        self._staging = RunStaging(self.organized, self.db.path)
        return await in_thread(self._staging.open)

    def _watchdog(self) -> Watchdog[Candidate, Indexed | Failed]:
        return file_watchdog(self.settings.metadata.file_timeout_seconds)

    async def _recover(self, send: MemoryObjectSendStream[Write | Commit]) -> None:
        """Settle what a killed run left journaled, and commit it before the scan reads the
        index; remove the copies it left staged."""
        if self.db.path is not None:
            await in_thread(sweep, self.organized, self.db.path)
        found = await in_thread(
            recover, self.db, self.settings.media.stars_thresholds,
            self.settings.media.thumbnail_size)
        if not found.writes:
            return
        self.report.recovered, self.report.rolled_back = found.finished, found.rolled_back
        self.report.errors += [FileProblem(path="(recovery)", reason=n) for n in found.notes]
        await send_all(send, found.writes)
        barrier = Commit()
        await send.send(barrier)
        await barrier.done.wait()

    async def _handle_batch(self, results: list[Indexed | Failed],
                            send: MemoryObjectSendStream[Write | Commit]) -> None:
        indexed = [r for r in results if isinstance(r, Indexed)]
        try:
            await self._index_batch(results, indexed, send)
        finally:  # the kept bytes are used (or not needed): the budget has them back
            self._kept.give(sum(len(r.data) for r in indexed if r.data is not None))
            for item in indexed:
                item.data = None

    async def _index_batch(self, results: list[Indexed | Failed], indexed: list[Indexed],
                           send: MemoryObjectSendStream[Write | Commit]) -> None:
        already = await in_thread(locations.organized_paths, self.db,
                                                 [r.asset_id for r in indexed])
        counters = self.report.counters
        steps: list[Step] = []
        for item in results:
            if isinstance(item, Failed):
                self.report.errors.append(FileProblem(path=str(item.candidate.path),
                                                      reason=item.reason))
                continue
            counters.hashed += 1
            counters.detected += 1
            counters.decoded += item.pixels is not None
            counters.bytes_read += item.candidate.size
            row = asset_row(item, self.settings.media.stars_thresholds, self._now)
            writes = [Write("assets", row)]
            if item.pixels is not None:
                writes.append(Write("thumbnails", {"asset_id": item.asset_id,
                                                   "mime": item.pixels.thumbnail_mime,
                                                   "data": item.pixels.thumbnail}))
            step = self._plan(item.candidate, item.asset_id, created_at(item), row["source"],
                              row["model_family"], already.get(item.asset_id), writes)
            step.data, step.staged = item.data, item.staged
            steps.append(step)
        await self.placing.carry_out(steps, send)

    async def _place_known(self, unplaced: list[tuple[Candidate, str]],
                           send: MemoryObjectSendStream[Write | Commit]) -> None:
        """Known inbox files whose asset has no organized copy yet: place them without re-indexing."""
        if not unplaced:
            return
        ids = [a for _, a in unplaced]
        rows = await in_thread(assets.placement_facts, self.db, ids)
        already = await in_thread(locations.organized_paths, self.db, ids)
        steps = []
        for cand, asset_id in unplaced:
            when, source, family = rows.get(asset_id, (None, "unknown", None))
            when = when or datetime.fromtimestamp(cand.mtime_ns / 1e9, UTC).astimezone()
            steps.append(self._plan(cand, asset_id, when, source, family,
                                    already.get(asset_id), []))
        await self.placing.carry_out(steps, send)

    def _plan(self, cand: Candidate, asset_id: str, when: datetime, source: str,
              family: str | None, organized_at: str | None, writes: list[Write]) -> Step:
        """Decide, without touching anything, whether a file is a duplicate or where it goes."""
        duplicate_of = organized_at or self._placed_in_run.get(asset_id)
        if duplicate_of is not None and self.move:
            self.report.duplicates += 1
            dst = self.planner.duplicate_destination(self._now, cand.path.name)
            self._note(Placement(source=str(cand.path), destination=str(dst),
                                 asset_id=asset_id, duplicate_of=duplicate_of))
            return Step(cand, asset_id, dst, writes, duplicate=True)
        if duplicate_of is not None:
            self.report.duplicates += 1
            writes.append(self._file_row(cand.path, asset_id, "inbox", cand.size, cand.mtime_ns))
            self._note(Placement(source=str(cand.path), destination=duplicate_of,
                                 asset_id=asset_id, duplicate_of=duplicate_of))
            return Step(cand, asset_id, None, writes)
        where = {"when": when, "project": cand.project, "source": source,
                 "ext": cand.path.suffix, "stem": cand.path.stem, "model_family": family}
        dst = self.planner.destination(**where)
        self._placed_in_run[asset_id] = str(dst)
        self._note(Placement(source=str(cand.path), destination=str(dst), asset_id=asset_id))
        return Step(cand, asset_id, dst, writes, where=where)

    def _note(self, placement: Placement) -> None:
        if self.dry_run or len(self.report.placements) < MAX_REPORTED_PLACEMENTS:
            self.report.placements.append(placement)

    def _file_row(self, path: Path, asset_id: str, role: str, size: int, mtime_ns: int) -> Write:
        return file_row(path, asset_id, role, size, mtime_ns, self._now)


def first_alice_error(group: BaseExceptionGroup) -> BaseException:
    """The AliceError that stopped a task group (a message for the user), else the group."""
    for exc in group.exceptions:
        found = first_alice_error(exc) if isinstance(exc, BaseExceptionGroup) else exc
        if isinstance(found, AliceError):
            return found
    return group
