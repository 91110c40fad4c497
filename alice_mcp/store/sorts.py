"""The search sort keys and their ORDER BY clauses: the CLI's parser lists the names without
importing the query module (and with it duckdb)."""

from __future__ import annotations

SORTS = {
    "newest": "a.created_at DESC NULLS LAST, a.asset_id",
    "oldest": "a.created_at ASC NULLS LAST, a.asset_id",
    "stars": "a.stars DESC NULLS LAST, a.quality DESC NULLS LAST, a.asset_id",
    "quality": "a.quality DESC NULLS LAST, a.asset_id",
    "indexed": "a.indexed_at DESC, a.asset_id",
}
