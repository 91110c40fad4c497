"""The sidecars table (what alice last wrote or read beside each file) and the facts a sidecar carries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from alice_mcp.store.db import Database

GENERATION_COLUMNS = ("source", "model", "prompt", "negative_prompt", "seed", "steps",
                      "sampler", "cfg")


def recorded(db: Database, paths: Sequence[str]) -> dict[str, tuple[tuple[int, int], list[str]]]:
    """path -> ((size, mtime_ns), keywords) of the given sidecars as alice last wrote or
    read them."""
    if not paths:
        return {}
    rows = db.fetchall("SELECT path, size, mtime_ns, tags FROM sidecars WHERE path IN "
                       "(SELECT unnest(?::VARCHAR[]))", [list(paths)])
    return {p: ((s, m), list(t)) for p, s, m, t in rows}


def record(db: Database, rows: Sequence[tuple[str, str, int, int, list[str]]],
           now: datetime) -> None:
    """Remember (path, asset_id, size, mtime_ns, keywords) of sidecars just written or read."""
    if not rows:
        return
    latest = {r[0]: r for r in rows}  # one row per path (a statement may not update one twice)
    paths, ids, sizes, mtimes, keywords = zip(*latest.values(), strict=True)
    with db.transaction() as cur:  # one statement of zipped lists: executemany cost 5 ms a row
        cur.execute("""INSERT INTO sidecars
                       SELECT unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), unnest(?::BIGINT[]),
                              unnest(?::BIGINT[]), unnest(?::VARCHAR[][]), ?
                       ON CONFLICT (path) DO UPDATE
                       SET asset_id = excluded.asset_id, size = excluded.size,
                           mtime_ns = excluded.mtime_ns, tags = excluded.tags,
                           synced_at = excluded.synced_at""",
                    [list(paths), list(ids), list(sizes), list(mtimes),
                     [sorted(set(t)) for t in keywords], now])


def without_sidecar(db: Database) -> list[str]:
    """Assets with an organized location but no sidecar written or read yet."""
    return [a for (a,) in db.fetchall(
        """SELECT DISTINCT f.asset_id FROM files f WHERE f.role = 'organized'
           AND NOT EXISTS (SELECT 1 FROM sidecars s WHERE s.asset_id = f.asset_id)
           ORDER BY 1""")]


def facts_of(db: Database, asset_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """asset_id -> stars, description, generation columns, tags [(category, tag)] and the
    organized paths: everything a sidecar says."""
    ids = list(asset_ids)
    if not ids:
        return {}
    with db.cursor() as cur:
        rel = cur.execute(f"SELECT asset_id, stars, description, {', '.join(GENERATION_COLUMNS)} "
                          "FROM assets WHERE asset_id IN (SELECT unnest(?::VARCHAR[]))", [ids])
        names = [d[0] for d in rel.description]
        facts = {r[0]: dict(zip(names, r, strict=True)) for r in rel.fetchall()}
    for row in facts.values():
        row["tags"], row["paths"] = [], []
    for asset_id, category, tag in db.fetchall(
            "SELECT DISTINCT asset_id, category, tag FROM tags WHERE asset_id IN "
            "(SELECT unnest(?::VARCHAR[])) ORDER BY tag", [ids]):
        facts[asset_id]["tags"].append((category, tag))
    for asset_id, path in db.fetchall(
            "SELECT asset_id, path FROM files WHERE role = 'organized' AND asset_id IN "
            "(SELECT unnest(?::VARCHAR[])) ORDER BY path", [ids]):
        facts[asset_id]["paths"].append(path)
    return facts


def apply_edits(db: Database, asset_id: str, found: Sequence[tuple[str, str]],
                stars: int | None, removed: Sequence[str] = ()) -> tuple[int, bool]:
    """A sidecar's keywords the asset lacks (of any origin) become user tags, the removed
    ones go (of every origin, as `tag --remove`); its rating becomes the stars. Returns
    (tags added, stars changed)."""
    with db.transaction() as cur:
        if removed:
            cur.execute("DELETE FROM tags WHERE asset_id = ? AND tag IN "
                        "(SELECT unnest(?::VARCHAR[]))", [asset_id, list(removed)])
        have = {t for (t,) in cur.execute("SELECT tag FROM tags WHERE asset_id = ?",
                                          [asset_id]).fetchall()}
        new = [(asset_id, t, c) for c, t in found if t not in have]
        if new:
            cur.executemany("INSERT INTO tags (asset_id, tag, category, origin, confidence) "
                            "VALUES (?, ?, ?, 'user', 1.0) ON CONFLICT DO NOTHING", new)
        changed = False
        if stars is not None:
            changed = cur.execute("UPDATE assets SET stars = ? WHERE asset_id = ? AND "
                                  "stars IS DISTINCT FROM ?", [stars, asset_id, stars]
                                  ).fetchone()[0] > 0
    return len(new), changed
