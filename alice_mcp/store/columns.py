"""Whole columns of the library, read at once for the in-memory search index (filter_index.py):
what a structured search filters and sorts on, each asset's tags and its first location."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from alice_mcp.store.db import Database

CATEGORIES = ("source", "engine", "model_family", "project", "sampler", "model", "media_type")
# Each string column comes back as codes into its distinct values (sorted, NULL last): a string
# per row and column as Python objects cost ~10x the index itself while it was read.
_VALUES = "SELECT v FROM (SELECT DISTINCT {c} AS v FROM assets) ORDER BY v NULLS LAST"
_CODED = ("(SELECT v, (row_number() OVER (ORDER BY v NULLS LAST) - 1)::INTEGER AS code "
          "FROM (SELECT DISTINCT {c} AS v FROM assets))")
# NULLs come back as flags beside a placeholder: numpy has no NULL for integers
_NUMBERS = """a.missing_since IS NOT NULL AS missing,
    a.stars IS NULL AS stars_null, coalesce(a.stars, 0)::TINYINT AS stars,
    a.width IS NULL AS width_null, coalesce(a.width, 0) AS width,
    a.height IS NULL AS height_null, coalesce(a.height, 0) AS height,
    a.seed IS NULL AS seed_null, coalesce(a.seed, 0) AS seed,
    a.created_at IS NULL AS created_null, coalesce(epoch_us(a.created_at), 0) AS created_us,
    epoch_us(a.indexed_at) AS indexed_us,
    a.quality IS NULL AS quality_null, coalesce(a.quality, 0) AS quality"""
# each asset's row in asset_id order, the order of asset_columns
_ROWS = "(SELECT asset_id, (row_number() OVER (ORDER BY asset_id) - 1)::INTEGER AS row FROM assets)"
CHUNK = 50_000  # rows of strings fetched at once


def counts(db: Database) -> tuple[int, int]:
    """(assets, tag rows): what sizes the index before it is read."""
    return db.fetchall("SELECT (SELECT count(*) FROM assets), (SELECT count(*) FROM tags)")[0]


def asset_columns(db: Database) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(asset ids as S32, columns) of every asset in asset_id order: the filter and sort
    columns as numbers, each string column of CATEGORIES as codes into category_values()."""
    joins = " ".join(f"LEFT JOIN {_CODED.format(c=c)} j{i} ON a.{c} = j{i}.v"
                     for i, c in enumerate(CATEGORIES))
    # a NULL joins nothing: its code is the last one, where NULLS LAST sorted it
    codes = ", ".join(f"coalesce(j{i}.code, (SELECT count(DISTINCT {c}) FROM assets))::INTEGER "
                      f"AS {c}" for i, c in enumerate(CATEGORIES))
    with db.cursor() as cur:
        found = cur.execute(f"SELECT a.asset_id, {_NUMBERS}, {codes} FROM assets a {joins} "
                            "ORDER BY a.asset_id").fetchnumpy()
    ids = np.asarray(found.pop("asset_id")).astype("S32")
    return ids, {k: np.asarray(v) for k, v in found.items()}


def category_values(db: Database, column: str) -> list[str | None]:
    """The distinct values of a string column of CATEGORIES, in code order."""
    assert column in CATEGORIES
    return [v for (v,) in db.fetchall(_VALUES.format(c=column))]


def tag_pairs(db: Database) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(asset rows, tag codes, tags in code order): each distinct (asset, tag) once, the row in
    asset_id order, the code the tag's place in sorted order."""
    tags = [t for (t,) in db.fetchall("SELECT DISTINCT tag FROM tags ORDER BY tag")]
    with db.cursor() as cur:
        found = cur.execute(
            "SELECT r.row, c.code FROM (SELECT DISTINCT asset_id, tag FROM tags) t "
            f"JOIN {_ROWS} r USING (asset_id) JOIN (SELECT tag, (row_number() OVER "
            "(ORDER BY tag) - 1)::INTEGER AS code FROM (SELECT DISTINCT tag FROM tags)) c "
            "USING (tag)").fetchnumpy()
    return found["row"].astype(np.int32), found["code"].astype(np.int32), tags


def first_places(db: Database) -> Iterator[tuple[int, str]]:
    """(asset row, path) of each asset's first location, organized first then by path, the
    way a page shows it (a vanished file's last path when it has no other), CHUNK at a time."""
    with db.cursor() as cur:
        cur.execute(
            "WITH places AS (SELECT asset_id, role <> 'organized' AS elsewhere, path FROM files "
            "UNION ALL SELECT asset_id, false, path FROM missing_files) "
            "SELECT r.row, coalesce(min(p.path) FILTER (WHERE NOT p.elsewhere), min(p.path)) "
            f"FROM places p JOIN {_ROWS} r USING (asset_id) GROUP BY r.row ORDER BY r.row")
        while rows := cur.fetchmany(CHUNK):
            yield from rows


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
