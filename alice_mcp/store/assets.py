"""The assets table (and thumbnails): one asset's fields, a page's display columns, id lookups."""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import wait
from datetime import datetime
from typing import Any

from alice_mcp.store.db import Database
from alice_mcp.store.paths import from_stored

ID_LENGTH = 32  # BLAKE2b-128 in hex: every asset_id
IN_LIST_CHUNK = 1000  # constants per IN list (index lookups; no giant statements)


def summaries(db: Database, asset_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Display columns, first location (organized first, then by path) and sorted tags."""
    ids = list(asset_ids)
    rows: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), IN_LIST_CHUNK):
        rows.update(_summaries(db, ids[start:start + IN_LIST_CHUNK]))
    return rows


def _summaries(db: Database, ids: list[str]) -> dict[str, dict[str, Any]]:
    """Three plain lookups by a list of constants, each answered by an index on asset_id, the
    paths and tags ones on threads of their own; choosing and sorting are done here. One
    statement joining them took twice as long on 1,000,000 assets, and grouping a page's rows
    in SQL cost more than the lookups."""
    marks = ", ".join("?" * len(ids))
    places = db.submit(db.fetchall, "SELECT asset_id, role <> 'organized', path "
                             f"FROM files WHERE asset_id IN ({marks}) UNION ALL "
                             "SELECT asset_id, false, path FROM missing_files "
                             f"WHERE asset_id IN ({marks})", ids + ids)
    labels = db.submit(db.fetchall,
                             f"SELECT asset_id, tag FROM tags WHERE asset_id IN ({marks})", ids)
    try:
        rows = display_rows(db, ids)
    finally:  # a failed read still waits for its lookups: none may outlive the call
        wait([places, labels])
    paths: dict[str, tuple[bool, str]] = {}
    for asset_id, elsewhere, path in places.result():
        paths[asset_id] = min(paths.get(asset_id, (elsewhere, path)), (elsewhere, path))
    tags: dict[str, set[str]] = {}
    for asset_id, tag in labels.result():
        tags.setdefault(asset_id, set()).add(tag)
    for asset_id, row in rows.items():
        row["path"] = from_stored(paths[asset_id][1]) if asset_id in paths else None
        row["tags"] = sorted(tags.get(asset_id, ()))
    return rows


def display_rows(db: Database, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The assets table's display columns of a page's hits (one lookup by the primary key)."""
    if not ids:
        return {}
    marks = ", ".join("?" * len(ids))
    with db.cursor() as cur:
        rel = cur.execute("SELECT asset_id, source, model, prompt, stars, width, height, "
                          "media_type, created_at, missing_since IS NOT NULL AS missing "
                          f"FROM assets WHERE asset_id IN ({marks})", list(ids))
        names = [d[0] for d in rel.description]
        return {r[0]: dict(zip(names, r, strict=True)) for r in rel.fetchall()}


def resolve_prefixes(db: Database, ids: Sequence[str]) -> dict[str, list[str]]:
    """Each given id or unique prefix (at least 6 characters) -> the asset ids it matches.

    Whole ids are looked up together in one statement (the primary-key index answers an IN
    list of constants); only the rest are searched as prefixes, one statement each. A whole
    id cannot also be the prefix of another: every asset id has the same length.
    """
    keys = {given: given.strip().lower() for given in ids}
    whole = sorted({k for k in keys.values() if len(k) == ID_LENGTH})
    exact: set[str] = set()
    for start in range(0, len(whole), IN_LIST_CHUNK):
        chunk = whole[start:start + IN_LIST_CHUNK]
        marks = ", ".join("?" * len(chunk))
        exact.update(a for (a,) in db.fetchall(
            f"SELECT asset_id FROM assets WHERE asset_id IN ({marks})", chunk))
    found: dict[str, list[str]] = {}
    for given, key in keys.items():
        if key in exact:
            found[given] = [key]
        elif len(key) >= 6 and len(key) != ID_LENGTH:
            found[given] = [a for (a,) in db.fetchall(
                "SELECT asset_id FROM assets WHERE starts_with(asset_id, ?) LIMIT 2", [key])]
        else:
            found[given] = []
    return found


def asset_fields(db: Database, asset_id: str) -> dict[str, Any] | None:
    """Every stored column of one asset (params decoded), or None if there is no such asset."""
    with db.cursor() as cur:
        rel = cur.execute("SELECT * FROM assets WHERE asset_id = ?", [asset_id])
        row = rel.fetchone()
        names = [d[0] for d in rel.description]
    if row is None:
        return None
    data = dict(zip(names, row, strict=True))
    if isinstance(data.get("params"), str):
        data["params"] = json.loads(data["params"])
    return data


def thumbnail_of(db: Database, asset_id: str) -> tuple[str, bytes] | None:
    """(mime, bytes) of the stored thumbnail, if the asset has one."""
    rows = db.fetchall("SELECT mime, data FROM thumbnails WHERE asset_id = ?", [asset_id])
    return (rows[0][0], bytes(rows[0][1])) if rows else None


def with_thumbnail(db: Database, asset_ids: Sequence[str]) -> set[str]:
    """Those of the assets that have a stored thumbnail."""
    return {a for (a,) in db.fetchall(
        "SELECT asset_id FROM thumbnails WHERE asset_id IN (SELECT unnest(?::VARCHAR[]))",
        [list(asset_ids)])}


def asset_ids(db: Database, among: Sequence[str] | None = None) -> list[str]:
    """Every asset id (or those of `among` that exist), in id order."""
    if among is None:
        return [a for (a,) in db.fetchall("SELECT asset_id FROM assets ORDER BY asset_id")]
    return [a for (a,) in db.fetchall("SELECT asset_id FROM assets WHERE asset_id IN "
                                      "(SELECT unnest(?::VARCHAR[])) ORDER BY asset_id",
                                      [sorted(set(among))])]


def placement_facts(db: Database,
                    ids: Sequence[str]) -> dict[str, tuple[datetime | None, str, str | None]]:
    """asset_id -> (created_at, source, model_family): what the layout of the organized tree
    needs to place a known asset again."""
    rows = db.fetchall("""SELECT asset_id, created_at, source, model_family FROM assets
                          WHERE asset_id IN (SELECT unnest(?::VARCHAR[]))""", [list(ids)])
    return {a: (c, s, f) for a, c, s, f in rows}


def phash_of(db: Database, asset_id: str) -> int | None:
    """The stored 64-bit perceptual hash of one asset (None for videos without a frame)."""
    rows = db.fetchall("SELECT phash FROM assets WHERE asset_id = ?", [asset_id])
    return rows[0][0] if rows else None


def set_stars(db: Database, asset_ids: Sequence[str], stars: int | None) -> int:
    """Set (or clear, with None) the stars of these assets; returns how many rows changed."""
    with db.transaction() as cur:
        return int(cur.execute("UPDATE assets SET stars = ? WHERE asset_id IN "
                               "(SELECT unnest(?::VARCHAR[]))", [stars, list(asset_ids)]
                               ).fetchone()[0])


def any_missing(db: Database) -> bool:
    """Whether some asset is marked missing (every organized file of it vanished)."""
    return bool(db.fetchall("SELECT EXISTS (SELECT 1 FROM assets WHERE missing_since IS NOT "
                            "NULL)")[0][0])
