"""The journal table: placements planned (committed before any byte moves) and not yet recorded.

Rows are written by the BatchWriter ('journal', and 'journal_done' to delete one); a row still
here after a crash is finished or rolled back by pipeline/recovery.py.
"""

from __future__ import annotations

from typing import NamedTuple

from alice_mcp.store.db import Database
from alice_mcp.store.paths import from_stored


class Planned(NamedTuple):
    """One journaled placement."""

    op_id: str
    src: str
    dst: str
    asset_id: str
    mode: str  # copy | move
    project: str


def pending(db: Database) -> list[Planned]:
    """Every journaled placement, oldest operation id first."""
    return [Planned(op, from_stored(src), from_stored(dst), *rest) for op, src, dst, *rest in
            db.fetchall("SELECT op_id, src, dst, asset_id, mode, project FROM journal "
                        "ORDER BY op_id")]
