"""Set aside the organized files of assets the user resolved as duplicates: each moves into
`<organized>/_duplicates/<date>/`, the way `organize --move` files an exact duplicate.

Every move is journaled (committed before a byte moves), placed by `place` (atomic, never
overwriting, verified by hash) and recorded as a location of the same asset; nothing is
deleted. A killed run is settled by recovery like any placement.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from alice_mcp.pipeline.indexer import file_row
from alice_mcp.pipeline.place import DUPLICATES, Layout, Planner, place
from alice_mcp.pipeline.scan import UNCATEGORIZED
from alice_mcp.store import locations
from alice_mcp.store.db import Database
from alice_mcp.store.writer import BatchWriter, Write


@dataclass(slots=True)
class SetAside:
    """What one set-aside moved (source, destination, asset_id) and what it could not."""

    moved: list[tuple[str, str, str]] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)


def set_aside(db: Database, asset_ids: list[str], roots: list[Path], layout: str,
              now: datetime) -> SetAside:
    """Move each organized file of these assets (under one of roots, not yet under its
    _duplicates/) into that root's _duplicates/<date>/; blocking (call from a thread)."""
    outcome = SetAside()
    planners: dict[Path, Planner] = {}
    steps: list[tuple[str, Path, Path, str]] = []  # op_id, src, dst, asset_id
    for asset_id, stored in locations.organized_files(db, asset_ids):
        src = Path(stored)
        root = next((r for r in roots if src.is_relative_to(r)), None)
        if root is None:
            outcome.problems.append((stored, "not inside the organized folder; left in place"))
            continue
        if src.relative_to(root).parts[0] == DUPLICATES:
            continue  # already set aside
        planner = planners.setdefault(root, Planner(root, Layout(layout)))
        steps.append((uuid.uuid4().hex, src, planner.duplicate_destination(now, src.name),
                      asset_id))
    if not steps:
        return outcome
    BatchWriter(db).write_all([Write("journal", {
        "op_id": op_id, "src": str(src), "dst": str(dst), "asset_id": asset_id, "mode": "move",
        "project": UNCATEGORIZED, "state": "planned", "updated_at": now})
        for op_id, src, dst, asset_id in steps])
    writes: list[Write] = []
    for op_id, src, dst, asset_id in steps:
        writes += _move_one(src, dst, asset_id, now, outcome)
        writes.append(Write("journal_done", {"op_id": op_id}))
    BatchWriter(db).write_all(writes)
    return outcome


def _move_one(src: Path, dst: Path, asset_id: str, now: datetime,
              outcome: SetAside) -> list[Write]:
    """Place one file at dst by a verified move; the rows recording where it is now."""
    try:
        note = place(src, dst, move=True, asset_id=asset_id)
    except OSError as exc:
        outcome.problems.append((str(src), f"not set aside: {exc.strerror or exc}; left in place"))
        return []
    st = dst.stat()
    writes = [file_row(dst, asset_id, "organized", st.st_size, st.st_mtime_ns, now)]
    if note is not None:
        outcome.problems.append((str(src), note))
    else:
        writes.append(Write("delete_files", {"path": str(src)}))
    outcome.moved.append((str(src), str(dst), asset_id))
    return writes
