"""Carrying out a batch's placements: journal rows committed, each file put in place, one
durability point (place.make_durable), then moved sources removed and each file recorded.

A batch's placements and the rows that record them are shielded together, so a cancel never
leaves a placed file unrecorded; a row is closed, and a source removed, only once its copy is
durable. OrganizeRun (pipeline/organize.py) plans the steps; Placing carries them out.
"""

from __future__ import annotations

import errno
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectSendStream

from alice_mcp.errors import DiskFull
from alice_mcp.pipeline.indexer import file_row
from alice_mcp.pipeline.place import (
    DestinationTaken,
    Planner,
    SourceChanged,
    make_durable,
    put,
    release_source,
    withdraw,
)
from alice_mcp.pipeline.pool import in_thread
from alice_mcp.pipeline.scan import Candidate
from alice_mcp.pipeline.staging import discard
from alice_mcp.results import FileProblem, OrganizeReport
from alice_mcp.store.writer import BatchWriter, Commit, Write

MAX_CLAIMS = 50  # names another writer took in a row before one file is given up
FULL = frozenset({errno.ENOSPC, errno.EDQUOT})  # a full (or over-quota) organized disk


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
    staged: Path | None = None  # those bytes written by a worker process, named instead


class Placing:
    """Carries out the steps OrganizeRun planned, batch by batch, recording them in the index."""

    def __init__(self, report: OrganizeReport, planner: Planner, organized: Path, *,
                 move: bool, dry_run: bool, now: datetime, placed_in_run: dict[str, str],
                 placed: dict[str, tuple[str, str]]) -> None:
        self.report = report
        self.planner = planner
        self.organized = organized
        self.move = move
        self.dry_run = dry_run
        self.now = now
        self.placed_in_run = placed_in_run  # asset_id -> destination, shared with the planning
        self.placed = placed  # source -> (asset_id, destination)
        self.writer: BatchWriter | None = None  # set once the run's writer exists

    async def carry_out(self, steps: list[Step],
                        send: MemoryObjectSendStream[Write | Commit]) -> None:
        """Journal the batch's placements (committed), put each file in place, make them
        durable at once, then remove moved sources and record each file (its journal row
        closed): a row is closed, and a source removed, only once its copy is durable."""
        if self.dry_run:
            self.report.organized += sum(1 for s in steps if s.dst is not None and not s.duplicate)
            return
        moving = [s for s in steps if s.dst is not None]
        if moving:
            await send_all(send, [self._journal(step) for step in moving])
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
                    self.placed_in_run.pop(step.asset_id, None)
                    self.report.errors.append(FileProblem(
                        path=str(step.candidate.path), reason="the index refused its journal "
                        "row; not placed (nothing was touched)"))
                elif step.dst is None:
                    await send_all(send, step.writes)
                elif full is not None:  # the disk is full: the rest are not tried
                    await self._unplaced(step, send)
                else:
                    try:
                        put.append((step, await self._placed(step, tried.get(step.op_id), send)))
                    except OSError as exc:
                        full = exc if exc.errno in FULL else None
                        await self._unplaced(step, send, None if full else exc)
            full = await self._settle(put, send) or full
            if leftovers := [s.staged for s in steps if s.staged is not None]:
                await in_thread(discard, leftovers)
        if full is not None:  # every other file would fail too: stop the run
            raise self._disk_full(full) from None

    def _journal(self, step: Step) -> Write:
        """The journal row of a planned placement (committed before any byte moves)."""
        return Write("journal", {
            "op_id": step.op_id, "src": str(step.candidate.path), "dst": str(step.dst),
            "asset_id": step.asset_id, "mode": "move" if self.move else "copy",
            "project": step.candidate.project, "state": "planned", "updated_at": self.now})

    def _put(self, step: Step) -> bool:
        """Give step.dst the file's bytes (place.put); True when a move was a hard link."""
        assert step.dst is not None
        linked = put(step.candidate.path, step.dst, move=self.move, asset_id=step.asset_id,
                     data=step.data, seen=(step.candidate.size, step.candidate.mtime_ns),
                     staged=step.staged)
        step.staged = None  # placed: the staged copy took the name (or was not needed)
        return linked

    def _put_all(self, steps: list[Step]) -> dict[str, bool | OSError]:
        """Put a batch's files in place in one worker call (one thread hand-off a batch, not one
        a file: they cost the indexing threads the GIL); stops at a full disk. op_id -> what put
        returned or raised."""
        tried: dict[str, bool | OSError] = {}
        for step in steps:
            try:
                tried[step.op_id] = self._put(step)
            except OSError as exc:
                tried[step.op_id] = exc
                if exc.errno in FULL:
                    break
        return tried

    async def _placed(self, step: Step, tried: bool | OSError | None,
                      send: MemoryObjectSendStream[Write | Commit]) -> bool:
        """The outcome of a put tried by _put_all; a name another writer took is given up for
        the next one, which is claimed; a file not tried is put now."""
        if isinstance(tried, bool):
            return tried
        if isinstance(tried, DestinationTaken):
            await self._next_name(step, send)
        elif isinstance(tried, OSError):
            raise tried
        return await self._claim(step, send)

    async def _claim(self, step: Step, send: MemoryObjectSendStream[Write | Commit]) -> bool:
        """Put the file in place; when another writer took the name, journal the next one and
        retry. True when a move was made by a hard link."""
        for _ in range(MAX_CLAIMS):
            try:
                return await in_thread(self._put, step)
            except DestinationTaken:
                await self._next_name(step, send)
        raise DestinationTaken(17, f"{MAX_CLAIMS} names in a row were taken by another writer",
                               str(step.dst))

    async def _next_name(self, step: Step, send: MemoryObjectSendStream[Write | Commit]) -> None:
        """Close the journal row of a name another writer took; journal (committed) the next."""
        await send.send(Write("journal_done", {"op_id": step.op_id}))
        step.op_id = uuid.uuid4().hex
        step.dst = self.planner.destination(**step.where, taken=True)
        self.placed_in_run[step.asset_id] = str(step.dst)
        await send.send(self._journal(step))
        barrier = Commit()
        await send.send(barrier)
        await barrier.done.wait()

    async def _unplaced(self, step: Step, send: MemoryObjectSendStream[Write | Commit],
                        exc: OSError | None = None) -> None:
        """A planned file that is not in place: close its journal row, say why if known."""
        self.placed_in_run.pop(step.asset_id, None)
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
        await send_all(send, writes)

    def _disk_full(self, exc: OSError) -> DiskFull:
        return DiskFull(
            f"the disk holding {self.organized} is full ({exc.strerror or exc}); organize "
            f"stopped after placing {self.report.organized} files. Nothing was lost: the files "
            "not placed are still in the inbox. Free some space there and run organize again "
            "to finish")

    def _rejected(self) -> set[str]:
        """Keys (op ids, paths) of rows the index refused so far."""
        return set() if self.writer is None else {k for k, _ in self.writer.stats.rejected}


    def _file_row(self, path: Path, asset_id: str, role: str, size: int, mtime_ns: int) -> Write:
        return file_row(path, asset_id, role, size, mtime_ns, self.now)


async def send_all(send: MemoryObjectSendStream[Write | Commit], writes: list[Write]) -> None:
    """Send rows to the writer, yielding to the event loop only when its buffer is full (a
    checkpoint a row cost a loop iteration each: ~2,400 for 400 files)."""
    for write in writes:
        try:
            send.send_nowait(write)
        except anyio.WouldBlock:
            await send.send(write)
