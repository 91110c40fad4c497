"""The files table: where each asset lies (inbox or organized), and what a rescan must remember."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from alice_mcp.store.db import Database
from alice_mcp.store.paths import from_stored, to_stored


@dataclass(frozen=True, slots=True)
class KnownFile:
    """What the index remembers of an inbox path."""

    size: int
    mtime_ns: int
    asset_id: str
    placed: bool  # the asset has an organized location


def locations_of(db: Database, asset_id: str) -> list[dict[str, Any]]:
    """Every stored location of one asset, organized copies first."""
    rows = db.fetchall("SELECT path, role, size, seen_at FROM files WHERE asset_id = ? "
                       "ORDER BY role DESC, path", [asset_id])
    return [{"path": from_stored(p), "role": r, "size": s, "seen_at": w} for p, r, s, w in rows]


def known_inbox_files(db: Database, inbox: Path) -> dict[str, KnownFile]:
    """The stored inbox files under this folder, each with whether its asset is organized."""
    prefix = str(inbox).rstrip(os.sep) + os.sep
    rows = db.fetchall(
        """SELECT f.path, f.size, f.mtime_ns, f.asset_id, o.asset_id IS NOT NULL
           FROM files f LEFT JOIN (SELECT asset_id FROM files WHERE role = 'organized'
                                   UNION SELECT asset_id FROM missing_files
                                   WHERE role = 'organized') o USING (asset_id)
           WHERE f.role = 'inbox' AND starts_with(f.path, ?)""", [to_stored(prefix)])
    return {from_stored(p): KnownFile(s, m, a, placed) for p, s, m, a, placed in rows}


def organized_paths(db: Database, asset_ids: Sequence[str]) -> dict[str, str]:
    """asset_id -> one organized location (the first by path), for those that have one."""
    if not asset_ids:
        return {}
    return {a: from_stored(p) for a, p in db.fetchall(
        """SELECT asset_id, min(path) FROM files WHERE role = 'organized'
           AND asset_id IN (SELECT unnest(?::VARCHAR[])) GROUP BY asset_id""", [list(asset_ids)])}


def organized_files(db: Database, asset_ids: Sequence[str]) -> list[tuple[str, str]]:
    """(asset_id, path) of every organized location of these assets, by path."""
    if not asset_ids:
        return []
    return [(a, from_stored(p)) for a, p in db.fetchall(
        """SELECT asset_id, path FROM files WHERE role = 'organized'
           AND asset_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY path""", [list(asset_ids)])]


def assets_at(db: Database, paths: Sequence[str]) -> dict[str, str]:
    """path -> asset_id for the given paths that are stored locations."""
    return {from_stored(p): a for p, a in db.fetchall(
        "SELECT path, asset_id FROM files WHERE path IN (SELECT unnest(?::VARCHAR[]))",
        [[to_stored(p) for p in paths]])}


def known_organized_files(db: Database, root: Path,
                          role: str = "organized") -> dict[str, KnownFile]:
    """The stored files of a library role under this folder (what a rescan of the tree
    compares): the organized tree, or a collection indexed where it lies ("indexed")."""
    prefix = str(root).rstrip(os.sep) + os.sep
    rows = db.fetchall("SELECT path, size, mtime_ns, asset_id FROM files "
                       "WHERE role = ? AND starts_with(path, ?)", [role, to_stored(prefix)])
    return {from_stored(p): KnownFile(s, m, a, True) for p, s, m, a in rows}


def vanish(db: Database, paths: Sequence[str], now: datetime) -> list[str]:
    """Forget library locations that are gone; an asset left with no organized or indexed
    location is marked missing (its last paths kept in missing_files; an inbox copy does not
    count: the organized tree and the collections indexed in place are the library), and an asset found again is no longer. Returns the paths
    whose asset became missing."""
    with db.transaction() as cur:
        if paths:
            cur.execute("""CREATE OR REPLACE TEMP TABLE gone AS SELECT * FROM files
                           WHERE path IN (SELECT unnest(?::VARCHAR[]))""", [[to_stored(p) for p in paths]])
            cur.execute("DELETE FROM files WHERE path IN (SELECT path FROM gone)")
            cur.execute("""INSERT INTO missing_files SELECT path, asset_id, role, ? FROM gone
                           WHERE asset_id NOT IN (SELECT asset_id FROM files WHERE role IN ('organized', 'indexed'))
                           ON CONFLICT (path) DO NOTHING""", [now])
            cur.execute("""UPDATE assets SET missing_since = ? WHERE missing_since IS NULL
                           AND asset_id IN (SELECT asset_id FROM gone)
                           AND asset_id NOT IN (SELECT asset_id FROM files WHERE role IN ('organized', 'indexed'))""", [now])
            lost = [p for (p,) in cur.execute(
                """SELECT path FROM gone WHERE asset_id NOT IN (SELECT asset_id FROM files WHERE role IN ('organized', 'indexed'))
                   ORDER BY path""").fetchall()]
            lost = [from_stored(p) for p in lost]
            cur.execute("DROP TABLE gone")
        else:
            lost = []
        cur.execute("""UPDATE assets SET missing_since = NULL WHERE missing_since IS NOT NULL
                       AND asset_id IN (SELECT asset_id FROM files WHERE role IN ('organized', 'indexed'))""")
        cur.execute("DELETE FROM missing_files WHERE asset_id IN "
                    "(SELECT asset_id FROM files WHERE role IN ('organized', 'indexed'))")
    return lost


def replaced(db: Database, overwritten: Sequence[tuple[str, str]], now: datetime) -> list[str]:
    """(path, former asset_id) of organized files changed in place (their path now records
    other bytes): each former asset left with no organized location is marked missing, that
    path kept as its last. Returns the paths whose former asset became missing."""
    if not overwritten:
        return []
    paths = [to_stored(p) for p, _ in overwritten]
    ids = [a for _, a in overwritten]
    with db.transaction() as cur:
        lost = cur.execute(
            """SELECT p, a FROM (SELECT unnest(?::VARCHAR[]) AS p, unnest(?::VARCHAR[]) AS a)
               WHERE a NOT IN (SELECT asset_id FROM files WHERE role IN ('organized', 'indexed'))
               ORDER BY p""", [paths, ids]).fetchall()
        if lost:
            cur.execute(
                """INSERT INTO missing_files SELECT unnest(?::VARCHAR[]), unnest(?::VARCHAR[]),
                   'organized', ? ON CONFLICT (path) DO UPDATE SET asset_id = excluded.asset_id,
                   role = excluded.role, missing_since = excluded.missing_since""",
                [[p for p, _ in lost], [a for _, a in lost], now])
            cur.execute("""UPDATE assets SET missing_since = ? WHERE missing_since IS NULL
                           AND asset_id IN (SELECT unnest(?::VARCHAR[]))""",
                        [now, [a for _, a in lost]])
    return [from_stored(p) for p, _ in lost]
