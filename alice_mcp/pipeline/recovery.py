"""Finish or roll back the placements a killed run left in the journal, before anything else runs.

A journal row means: this placement was planned and may have happened, but its index rows were
never committed. If the destination holds the asset's exact bytes, the placement happened: index
the destination (and, for a move, remove the source only when it is still byte-identical).
Otherwise nothing was placed: remove the placement's temporary files and forget the row.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import structlog

from alice_mcp.media.probe import hash_file, media_type_for
from alice_mcp.pipeline.indexer import Indexed, asset_row, file_row, index_file
from alice_mcp.pipeline.place import TEMP_SUFFIX
from alice_mcp.pipeline.scan import Candidate
from alice_mcp.store.db import Database
from alice_mcp.store.journal import pending
from alice_mcp.store.writer import Write

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class Recovery:
    """What recovery did, and the index rows it produced (written by the caller's writer)."""

    finished: int = 0
    rolled_back: int = 0
    notes: list[str] = field(default_factory=list)
    writes: list[Write] = field(default_factory=list)


def recover(db: Database, stars_thresholds: tuple[float, float, float, float],
            thumb_size: int) -> Recovery:
    """Settle every journaled placement; blocking (call from a worker thread)."""
    outcome = Recovery()
    rows = pending(db)
    now = datetime.now(UTC)
    for op_id, src, dst, asset_id, mode, project in rows:
        source, target = Path(src), Path(dst)
        _remove_temporaries(target)
        if _holds(target, asset_id):
            outcome.writes += _finish(source, target, asset_id, mode, project,
                                      stars_thresholds, thumb_size, now, outcome)
            outcome.finished += 1
        else:
            if target.exists():
                outcome.notes.append(f"{target} exists with other content; left untouched")
            outcome.rolled_back += 1
        outcome.writes.append(Write("journal_done", {"op_id": op_id}))
    if rows:
        log.warning("recovered an interrupted run", finished=outcome.finished,
                    rolled_back=outcome.rolled_back)
    return outcome


def _finish(source: Path, target: Path, asset_id: str, mode: str, project: str,
            thresholds: tuple[float, float, float, float], thumb_size: int, now: datetime,
            outcome: Recovery) -> list[Write]:
    if mode == "move" and _holds(source, asset_id):
        os.unlink(source)  # the move had copied and verified; only the source removal was left
    st = target.stat()
    cand = Candidate(target, st.st_size, st.st_mtime_ns, project,
                     media_type_for(target) or "image")
    writes = [file_row(target, asset_id, "organized", st.st_size, st.st_mtime_ns, now)]
    item = index_file(cand, thumb_size=thumb_size)
    if isinstance(item, Indexed):
        writes.append(Write("assets", asset_row(item, thresholds, now)))
        if item.pixels is not None:
            writes.append(Write("thumbnails", {"asset_id": asset_id, "data": item.pixels.thumbnail,
                                               "mime": item.pixels.thumbnail_mime}))
    else:
        outcome.notes.append(f"{target}: {item.reason}")
    if mode == "copy" and source.exists():
        sst = source.stat()
        writes.append(file_row(source, asset_id, "inbox", sst.st_size, sst.st_mtime_ns, now))
    return writes


def _holds(path: Path, asset_id: str) -> bool:
    try:
        return path.is_file() and hash_file(path) == asset_id
    except OSError:
        return False


def _remove_temporaries(target: Path) -> None:
    for leftover in target.parent.glob(f".{glob.escape(target.name)}.*{TEMP_SUFFIX}"):
        leftover.unlink(missing_ok=True)
