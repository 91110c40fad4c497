"""Look-alikes by perceptual hash: neighbours of one hash and groups of near-identical assets,
found inside DuckDB (Hamming distance as bit_count(xor))."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from alice_mcp.store.db import Database
from alice_mcp.store.paths import from_stored

_BANDS_BITS = 64


def similar(db: Database, phash: int, exclude: str | None, max_distance: int,
            limit: int) -> list[tuple[str, int]]:
    """Assets whose pHash is within max_distance bits of phash, nearest first (computed in DuckDB)."""
    return [(a, d) for a, d in db.fetchall(
        """SELECT asset_id, bit_count(xor(phash, ?::BIGINT)) AS d FROM assets
           WHERE phash IS NOT NULL AND asset_id IS DISTINCT FROM ? AND d <= ?
           ORDER BY d, asset_id LIMIT ?""", [phash, exclude, max_distance, limit])]


def duplicate_groups(db: Database, max_distance: int, where: str = "TRUE",
                     params: Sequence[Any] = (), limit: int = 100) -> list[list[tuple[str, int]]]:
    """Groups of assets whose pHashes are within max_distance bits, largest groups first.

    Pairs are found inside DuckDB by banding: split the 64-bit hash into max_distance+1 bands;
    two hashes within max_distance bits agree exactly on at least one band (pigeonhole).
    """
    scoped = f"SELECT a.asset_id, a.phash FROM assets a WHERE a.phash IS NOT NULL AND {where}"
    if max_distance == 0:
        rows = db.fetchall(f"""SELECT list(asset_id ORDER BY asset_id) FROM ({scoped})
                               GROUP BY phash HAVING count(*) > 1
                               ORDER BY count(*) DESC, min(asset_id) LIMIT ?""",
                           [*params, limit])
        return [[(a, 0) for a in ids] for (ids,) in rows]
    bands = max_distance + 1
    width = _BANDS_BITS // bands
    band_exprs = " UNION ALL ".join(
        f"SELECT asset_id, phash, {b} AS band, (phash >> {b * width}) & {(1 << width) - 1} AS v "
        f"FROM scoped" for b in range(bands))
    pairs = db.fetchall(f"""
        WITH scoped AS ({scoped}), banded AS ({band_exprs})
        SELECT DISTINCT x.asset_id, y.asset_id FROM banded x JOIN banded y
          ON x.band = y.band AND x.v = y.v AND x.asset_id < y.asset_id
        WHERE bit_count(xor(x.phash, y.phash)) <= ?""", [*params, max_distance])
    return _connected(pairs)[:limit]


def _connected(pairs: list[tuple[str, str]]) -> list[list[tuple[str, int]]]:
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        parent[find(a)] = find(b)
    groups: dict[str, list[str]] = {}
    for node in parent:
        groups.setdefault(find(node), []).append(node)
    ordered = sorted((sorted(g) for g in groups.values()), key=lambda g: (-len(g), g[0]))
    return [[(a, 0) for a in g] for g in ordered]


def hit_facts(db: Database, asset_ids: Sequence[str]) -> dict[str, tuple[str, str | None, str | None]]:
    """asset_id -> (source, prompt, first path, organized first) of look-alike hits."""
    if not asset_ids:
        return {}
    rows = db.fetchall(
        """SELECT a.asset_id, a.source, a.prompt,
                  (SELECT f.path FROM files f WHERE f.asset_id = a.asset_id
                   ORDER BY f.role = 'organized' DESC, f.path LIMIT 1)
           FROM assets a WHERE a.asset_id IN (SELECT unnest(?::VARCHAR[]))""", [list(asset_ids)])
    return {a: (s, p, path if path is None else from_stored(path)) for a, s, p, path in rows}
