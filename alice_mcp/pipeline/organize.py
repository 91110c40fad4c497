"""One organize run: scan -> index in the worker pool -> place -> BatchWriter, cancellable at any await.

A batch's placements and the rows that record them are shielded together, so a cancel never
leaves a placed file unrecorded; the writer is shielded too and commits everything it was sent.
Placement is batch by batch: journal rows committed, each file put in place, one durability
point (pipeline/place.py make_durable), then moved sources removed and rows recorded.
Just over 400 lines: the placement steps share the run's report, planner and journal state;
they are what would move to a class of their own next.
"""

from __future__ import annotations

import errno
import functools
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import structlog
from anyio.streams.memory import MemoryObjectSendStream

from alice_mcp.config import Settings
from alice_mcp.errors import AliceError, DiskFull
from alice_mcp.pipeline.indexer import (
    Failed,
    Indexed,
    asset_row,
    created_at,
    file_row,
    index_file,
)
from alice_mcp.pipeline.place import (
    DestinationTaken,
    Layout,
    Planner,
    SourceChanged,
    make_durable,
    put,
    release_source,
    withdraw,
)
from alice_mcp.pipeline.pool import ByteBudget, PoolPlan, Watchdog, in_thread, map_batches
from alice_mcp.pipeline.recovery import recover
from alice_mcp.pipeline.remote import index_on_dask
from alice_mcp.pipeline.scan import Candidate, ScanResult, scan
from alice_mcp.progress import Progress
from alice_mcp.results import FileProblem, OrganizeReport, Placement
from alice_mcp.store import assets, locations
from alice_mcp.store.db import Database
from alice_mcp.store.writer import BatchWriter, Commit, Write

log = structlog.get_logger(__name__)
BYTES_PER_SECOND = 20 * 1024 * 1024  # the slowest read a file's time budget allows for
MAX_CLAIMS = 50  # names another writer took in a row before one file is given up
FULL = frozenset({errno.ENOSPC, errno.EDQUOT})  # a full (or over-quota) organized disk
MAX_REPORTED_PLACEMENTS = 1000  # a dry run reports every placement; a real run the first ones


@dataclass(slots=True)
class Step:
    """One file's part of a batch: a duplicate (dst None) or a placement at dst."""

    candidate: Candidate
    asset_id: str
    dst: Path | None
    writes: list[Write]
    op_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    where: dict[str, Any] = field(default_factory=dict)  # the Planner's arguments for dst
    duplicate: bool = False  # with move: a duplicate moved into <organized>/_duplicates/
    data: bytes | None = None  # the bytes the indexer read, written instead of read again


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
        self._writer: BatchWriter | None = None
        self.sidecars: dict[str, tuple[int, int]] = {}  # the inbox's .xmp files, as scanned
        self.placed: dict[str, tuple[str, str]] = {}  # source -> (asset_id, destination)
        self._now = datetime.now(UTC)
        # each file read once (issue 19): bytes kept from index to copy, within this budget
        self._kept = ByteBudget(0) if dry_run else ByteBudget.for_cache(
            self.perf.max_memory_cache_mb)

    async def perform(self) -> OrganizeReport:
        """Run the whole organize: recover, scan, index, place, record; the report says what."""
        started = time.perf_counter()
        self._writer = writer = BatchWriter(self.db, batch_insert_size=self.perf.batch_insert_size,
                             transaction_size=self.perf.transaction_size,
                             batched=self.perf.enable_batch_operations)
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
        """Each batch of new files read and indexed: in this process's threads, or on Dask
        workers (performance.executor), in the same order either way."""
        thumb_size, stealth = self.settings.media.thumbnail_size, self.settings.metadata.stealth
        if self.perf.executor == "local" or not new:
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

    def _watchdog(self) -> Watchdog[Candidate, Indexed | Failed]:
        """A file's time budget: metadata.file_timeout_seconds plus 1 s per 20 MB."""
        base = self.settings.metadata.file_timeout_seconds

        def overdue(cand: Candidate, seconds: float) -> Failed:
            return Failed(cand, f"reading took longer than {seconds:.1f} s; abandoned (raise "
                                "metadata.file_timeout_seconds for slow disks)")
        return Watchdog(budget=lambda c: base + c.size / BYTES_PER_SECOND, overdue=overdue)

    async def _recover(self, send: MemoryObjectSendStream[Write | Commit]) -> None:
        """Settle what a killed run left journaled, and commit it before the scan reads the index."""
        found = await in_thread(
            recover, self.db, self.settings.media.stars_thresholds,
            self.settings.media.thumbnail_size)
        if not found.writes:
            return
        self.report.recovered, self.report.rolled_back = found.finished, found.rolled_back
        self.report.errors += [FileProblem(path="(recovery)", reason=n) for n in found.notes]
        await _send_all(send, found.writes)
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
            step.data = item.data
            steps.append(step)
        await self._carry_out(steps, send)

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
        await self._carry_out(steps, send)

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

    async def _carry_out(self, steps: list[Step],
                         send: MemoryObjectSendStream[Write | Commit]) -> None:
        """Journal the batch's placements (committed), put each file in place, make them
        durable at once, then remove moved sources and record each file (its journal row
        closed): a row is closed, and a source removed, only once its copy is durable."""
        if self.dry_run:
            self.report.organized += sum(1 for s in steps if s.dst is not None and not s.duplicate)
            return
        moving = [s for s in steps if s.dst is not None]
        if moving:
            await _send_all(send, [self._journal(step) for step in moving])
            barrier = Commit()
            await send.send(barrier)
            await barrier.done.wait()
        unjournaled = self._rejected()
        put: list[tuple[Step, bool]] = []  # placed, not yet durable; True: a hard-link move
        full: OSError | None = None
        with anyio.CancelScope(shield=True):  # a cancel lands after the batch is recorded
            tried = await in_thread(self._put_all, [s for s in steps if s.dst is not None
                                                    and s.op_id not in unjournaled])
            for step in steps:
                if step.dst is not None and step.op_id in unjournaled:  # never move unjournaled
                    self._placed_in_run.pop(step.asset_id, None)
                    self.report.errors.append(FileProblem(
                        path=str(step.candidate.path), reason="the index refused its journal "
                        "row; not placed (nothing was touched)"))
                elif step.dst is None:
                    await _send_all(send, step.writes)
                elif full is not None:  # the disk is full: the rest are not tried
                    await self._unplaced(step, send)
                else:
                    try:
                        put.append((step, await self._placed(step, tried.get(step.op_id), send)))
                    except OSError as exc:
                        full = exc if exc.errno in FULL else None
                        await self._unplaced(step, send, None if full else exc)
            full = await self._settle(put, send) or full
        if full is not None:  # every other file would fail too: stop the run
            raise self._disk_full(full) from None

    def _journal(self, step: Step) -> Write:
        """The journal row of a planned placement (committed before any byte moves)."""
        return Write("journal", {
            "op_id": step.op_id, "src": str(step.candidate.path), "dst": str(step.dst),
            "asset_id": step.asset_id, "mode": "move" if self.move else "copy",
            "project": step.candidate.project, "state": "planned", "updated_at": self._now})

    def _put_all(self, steps: list[Step]) -> dict[str, bool | OSError]:
        """Put a batch's files in place in one worker call (one thread hand-off a batch, not one
        a file: they cost the indexing threads the GIL); stops at a full disk. op_id -> what put
        returned or raised."""
        tried: dict[str, bool | OSError] = {}
        for step in steps:
            assert step.dst is not None
            try:
                tried[step.op_id] = put(step.candidate.path, step.dst, move=self.move,
                                        asset_id=step.asset_id, data=step.data,
                                        seen=(step.candidate.size, step.candidate.mtime_ns))
            except OSError as exc:
                tried[step.op_id] = exc
                if exc.errno in FULL:
                    break
        return tried

    async def _placed(self, step: Step, tried: bool | OSError | None,
                      send: MemoryObjectSendStream[Write | Commit]) -> bool:
        """The outcome of a put tried by _put_all; a name another writer took is claimed again
        (under a new name), a file not tried is put now."""
        if isinstance(tried, bool):
            return tried
        if isinstance(tried, OSError) and not isinstance(tried, DestinationTaken):
            raise tried
        return await self._claim(step, send)

    async def _claim(self, step: Step, send: MemoryObjectSendStream[Write | Commit]) -> bool:
        """Put the file in place; when another writer took the name, journal the next one and
        retry. True when a move was made by a hard link."""
        for _ in range(MAX_CLAIMS):
            assert step.dst is not None
            try:
                return await in_thread(
                    functools.partial(put, step.candidate.path, step.dst, move=self.move,
                                      asset_id=step.asset_id, data=step.data,
                                      seen=(step.candidate.size, step.candidate.mtime_ns)))
            except DestinationTaken:
                await send.send(Write("journal_done", {"op_id": step.op_id}))
                step.op_id = uuid.uuid4().hex
                step.dst = self.planner.destination(**step.where, taken=True)
                self._placed_in_run[step.asset_id] = str(step.dst)
                await send.send(self._journal(step))
                barrier = Commit()
                await send.send(barrier)
                await barrier.done.wait()
        raise DestinationTaken(17, f"{MAX_CLAIMS} names in a row were taken by another writer",
                               str(step.dst))

    async def _unplaced(self, step: Step, send: MemoryObjectSendStream[Write | Commit],
                        exc: OSError | None = None) -> None:
        """A planned file that is not in place: close its journal row, say why if known."""
        self._placed_in_run.pop(step.asset_id, None)
        if exc is not None:
            reason = (f"{exc.strerror}; left in place" if isinstance(exc, SourceChanged)
                      else f"cannot place at {step.dst}: {exc.strerror or exc}")
            self.report.errors.append(FileProblem(path=str(step.candidate.path), reason=reason))
        await send.send(Write("journal_done", {"op_id": step.op_id}))

    async def _settle(self, put_steps: list[tuple[Step, bool]],
                      send: MemoryObjectSendStream[Write | Commit]) -> OSError | None:
        """One durability point for the batch's placed files; then each durable one has its
        moved source removed and is recorded, each other one is taken back. Returns the
        full-disk error that made some not durable, if one did."""
        if not put_steps:
            return None
        failed = await in_thread(make_durable, [s.dst for s, _ in put_steps if s.dst])
        durable = [(s, linked) for s, linked in put_steps if s.dst not in failed]
        notes = await in_thread(self._release, durable) if self.move else [None] * len(durable)
        for (step, _), note in zip(durable, notes, strict=True):
            await self._record(step, note, send)
        full = None
        for step, _ in put_steps:
            if step.dst in failed:
                exc = failed[step.dst]
                await in_thread(withdraw, step.dst)
                full = full or (exc if exc.errno in FULL else None)
                await self._unplaced(step, send, None if exc.errno in FULL else exc)
        return full

    @staticmethod
    def _release(durable: list[tuple[Step, bool]]) -> list[str | None]:
        """Remove the moved sources whose copies are durable (a note for each kept)."""
        return [release_source(s.candidate.path, s.asset_id, linked=linked)
                for s, linked in durable]

    async def _record(self, step: Step, note: str | None,
                      send: MemoryObjectSendStream[Write | Commit]) -> None:
        """The rows of one durable placement, its journal row closed last."""
        cand, writes, dst = step.candidate, step.writes, step.dst
        assert dst is not None
        if step.duplicate and note is not None:
            # the source stays (same bytes, its asset organized already): a copy aside
            # would only pile up again on every rerun, so our own new copy is taken back
            await in_thread(withdraw, dst)
            self.report.errors.append(FileProblem(path=str(cand.path), reason=(
                f"a duplicate, not moved aside: {note.split(', but ', 1)[-1]}; it stays "
                "where it is")))
            await send.send(Write("journal_done", {"op_id": step.op_id}))
            return
        self.placed[str(cand.path)] = (step.asset_id, str(dst))
        if step.duplicate:
            self.report.duplicates_moved += 1
        else:
            self.report.organized += 1
        st = dst.stat()
        writes.append(self._file_row(dst, step.asset_id, "organized", st.st_size,
                                     st.st_mtime_ns))
        if note is not None:
            self.report.errors.append(FileProblem(path=str(cand.path), reason=note))
        if self.move and note is None:
            writes.append(Write("delete_files", {"path": str(cand.path)}))
        elif cand.path.exists():
            writes.append(self._file_row(cand.path, step.asset_id, "inbox", cand.size,
                                         cand.mtime_ns))
        writes.append(Write("journal_done", {"op_id": step.op_id}))
        await _send_all(send, writes)

    def _disk_full(self, exc: OSError) -> DiskFull:
        return DiskFull(
            f"the disk holding {self.organized} is full ({exc.strerror or exc}); organize "
            f"stopped after placing {self.report.organized} files. Nothing was lost: the files "
            "not placed are still in the inbox. Free some space there and run organize again "
            "to finish")

    def _rejected(self) -> set[str]:
        """Keys (op ids, paths) of rows the index refused so far."""
        return set() if self._writer is None else {k for k, _ in self._writer.stats.rejected}

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


async def _send_all(send: MemoryObjectSendStream[Write | Commit], writes: list[Write]) -> None:
    """Send rows to the writer, yielding to the event loop only when its buffer is full (a
    checkpoint a row cost a loop iteration each: ~2,400 for 400 files)."""
    for write in writes:
        try:
            send.send_nowait(write)
        except anyio.WouldBlock:
            await send.send(write)
