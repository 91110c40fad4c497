"""Export rows of a search (paths, generation, tags, stars, description), written by DuckDB's COPY."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from alice_mcp.store import query as q
from alice_mcp.store.db import Database

COLUMNS = """a.asset_id,
    (SELECT list(path ORDER BY role DESC, path) FROM files f WHERE f.asset_id = a.asset_id)
        AS paths,
    a.source AS generator, a.prompt, a.negative_prompt AS negative, a.seed, a.steps,
    a.sampler, a.cfg, a.model,
    coalesce((SELECT list(DISTINCT tag ORDER BY tag) FROM tags t
              WHERE t.asset_id = a.asset_id), []::VARCHAR[]) AS tags,
    a.stars, a.description"""
OPTIONS = {"csv": "FORMAT csv, HEADER", "json": "FORMAT json, ARRAY true",
           "parquet": "FORMAT parquet"}


def _select(query: q.Query) -> tuple[str, list[Any]]:
    sql = q.build_where(query)
    return (f"SELECT {COLUMNS} FROM assets a WHERE {' AND '.join(sql.where) or 'TRUE'} "
            f"ORDER BY {q.SORTS[query.sort]}", sql.params)


def copy_to(db: Database, query: q.Query, target: Path, fmt: str) -> int:
    """Write every matching row to target (csv, json or parquet); returns how many."""
    select, params = _select(query)
    literal = "'" + str(target).replace("'", "''") + "'"  # COPY takes no parameter for its file
    with db.cursor() as cur:
        cur.execute(f"COPY ({select}) TO {literal} ({OPTIONS[fmt]})", params)
        return int(cur.execute(f"SELECT count(*) FROM ({select})", params).fetchone()[0])


def rows(db: Database, query: q.Query, limit: int | None) -> tuple[list[dict[str, Any]], int]:
    """The first limit matching rows as dicts, and how many match in all."""
    select, params = _select(query)
    with db.cursor() as cur:
        rel = cur.execute(select + (" LIMIT ?" if limit is not None else ""),
                          params + ([limit] if limit is not None else []))
        names = [d[0] for d in rel.description]
        found = [dict(zip(names, r, strict=True)) for r in rel.fetchall()]
        total = int(cur.execute(f"SELECT count(*) FROM ({select})", params).fetchone()[0])
    return json.loads(json.dumps(found, default=str)), total
