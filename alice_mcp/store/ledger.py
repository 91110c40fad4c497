"""The costs table: one row per provider call that reported usage; what was spent since when."""

from __future__ import annotations

from datetime import datetime

from alice_mcp.store.db import Database


def record_cost(db: Database, provider: str, model: str, tokens_in: int, tokens_out: int,
                usd: float) -> None:
    """One call's usage and price."""
    with db.transaction() as cur:
        cur.execute("INSERT INTO costs VALUES (?, ?, ?, ?, ?, now())",
                    [provider, model, tokens_in, tokens_out, usd])


def spent_since(db: Database, since: datetime | None = None) -> float:
    """USD recorded since a moment (None: ever)."""
    if since is None:
        rows = db.fetchall("SELECT coalesce(sum(usd), 0) FROM costs")
    else:
        rows = db.fetchall("SELECT coalesce(sum(usd), 0) FROM costs WHERE created_at >= ?",
                           [since])
    return float(rows[0][0])
