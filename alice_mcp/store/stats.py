"""Counts over the whole library, grouped the ways `stats` shows them."""

from __future__ import annotations

from typing import Any

from alice_mcp.store.db import Database

# the groupings stats shows: name -> expression over assets (constants, never user text)
GROUPINGS = {
    "source": "source",
    "model_family": "model_family",
    "month": "strftime(created_at, '%Y-%m')",
    "stars": "stars",
    "media_type": "media_type",
}


def totals(db: Database) -> dict[str, Any]:
    """assets, files, tags, missing assets and USD spent in all."""
    assets, files, tags, cost, missing = db.fetchall(
        """SELECT (SELECT count(*) FROM assets), (SELECT count(*) FROM files),
                  (SELECT count(*) FROM tags), (SELECT coalesce(sum(usd), 0) FROM costs),
                  (SELECT count(*) FROM assets WHERE missing_since IS NOT NULL)""")[0]
    return {"assets": assets, "files": files, "tags": tags, "cost_usd": cost,
            "missing": missing}


def counted(db: Database, grouping: str) -> list[tuple[str | None, int]]:
    """(key, assets) of one of GROUPINGS, largest first."""
    expr = GROUPINGS[grouping]
    rows = db.fetchall(f"SELECT {expr} AS k, count(*) FROM assets GROUP BY k "
                       "ORDER BY count(*) DESC, k")
    return [(None if k is None else str(k), n) for k, n in rows]
