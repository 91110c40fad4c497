"""Whole columns of the library, read at once for the in-memory search index (filter_index.py):
what a structured search filters and sorts on, each asset's tags and its first location."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from alice_mcp.store.db import Database

# NULLs come back as flags beside a placeholder: numpy has no NULL for integers
_ASSETS = """SELECT asset_id, missing_since IS NOT NULL AS missing, media_type,
    stars IS NULL AS stars_null, coalesce(stars, 0)::TINYINT AS stars,
    width IS NULL AS width_null, coalesce(width, 0) AS width,
    height IS NULL AS height_null, coalesce(height, 0) AS height,
    seed IS NULL AS seed_null, coalesce(seed, 0) AS seed,
    created_at IS NULL AS created_null, coalesce(epoch_us(created_at), 0) AS created_us,
    epoch_us(indexed_at) AS indexed_us,
    quality IS NULL AS quality_null, coalesce(quality, 0) AS quality,
    source, engine, model_family, project, sampler, model
FROM assets ORDER BY asset_id"""
# each asset's row in asset_id order, the order of _ASSETS
_ROWS = "(SELECT asset_id, (row_number() OVER (ORDER BY asset_id) - 1)::INTEGER AS row FROM assets)"


def counts(db: Database) -> tuple[int, int]:
    """(assets, tag rows): what sizes the index before it is read."""
    return db.fetchall("SELECT (SELECT count(*) FROM assets), (SELECT count(*) FROM tags)")[0]


def asset_columns(db: Database) -> dict[str, np.ndarray]:
    """The filter and sort columns of every asset, in asset_id order (strings as object arrays)."""
    with db.cursor() as cur:
        return cur.execute(_ASSETS).fetchnumpy()


def tag_pairs(db: Database) -> tuple[np.ndarray, list[str]]:
    """(asset rows, tags): each distinct (asset, tag) once, the row in asset_id order."""
    with db.cursor() as cur:
        found = cur.execute(f"SELECT r.row, t.tag FROM (SELECT DISTINCT asset_id, tag FROM tags) t "
                            f"JOIN {_ROWS} r USING (asset_id)").fetchnumpy()
    return found["row"].astype(np.int32), found["tag"].tolist()


def first_places(db: Database) -> tuple[np.ndarray, list[str]]:
    """(asset rows, paths): each asset's first location, organized first then by path, the
    way a page shows it; a vanished file's last path when it has no other."""
    with db.cursor() as cur:
        found = cur.execute(
            "WITH places AS (SELECT asset_id, role <> 'organized' AS elsewhere, path FROM files "
            "UNION ALL SELECT asset_id, false, path FROM missing_files) "
            "SELECT r.row, coalesce(min(p.path) FILTER (WHERE NOT p.elsewhere), min(p.path)) AS path "
            f"FROM places p JOIN {_ROWS} r USING (asset_id) GROUP BY r.row").fetchnumpy()
    return found["row"].astype(np.int32), found["path"].tolist()


def lowered(db: Database, values: Sequence[str | None]) -> list[str | None]:
    """The values in lower case as DuckDB lowers them (what the SQL filters compare)."""
    if not values:
        return []
    rows = db.fetchall("SELECT list_transform(?::VARCHAR[], lambda v: lower(v))", [list(values)])
    return list(rows[0][0])


def glob_matches(db: Database, values: Sequence[str | None], pattern: str) -> list[int]:
    """Positions of the values that match a GLOB pattern, as DuckDB's GLOB matches them."""
    if not values:
        return []
    rows = db.fetchall("SELECT list_filter(generate_series(1, len(?::VARCHAR[])), "
                       "lambda i: (?::VARCHAR[])[i] GLOB ?)", [list(values), list(values), pattern])
    return [i - 1 for i in rows[0][0] or []]
