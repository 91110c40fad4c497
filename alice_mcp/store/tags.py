"""The tags table: the one normaliser of tag text, user edits, and the tags of an asset."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Any

from alice_mcp.store.db import Database

TAG_CATEGORIES = ("style", "mood", "subject", "color", "lighting", "camera", "technical",
                  "quality", "custom")


def normalise_tag(tag: str) -> str:
    """How every tag is stored and compared: Unicode NFC, lower case, single spaces.

    'Neon  City ' == 'neon city'; a decomposed 'Cafe\\u0301' == 'café'."""
    return " ".join(unicodedata.normalize("NFC", tag).lower().split())


def edit_tags(db: Database, asset_ids: Sequence[str], add: Sequence[str], remove: Sequence[str],
              category: str, origin: str = "user") -> tuple[int, int]:
    """Add and remove tags on many assets in one transaction; returns (added, removed) rows."""
    add_n = sorted({normalise_tag(t) for t in add if t.strip()})
    remove_n = sorted({normalise_tag(t) for t in remove if t.strip()})
    with db.transaction() as cur:
        removed = 0
        if remove_n:
            removed = cur.execute(
                "DELETE FROM tags WHERE asset_id IN (SELECT unnest(?::VARCHAR[])) "
                "AND tag IN (SELECT unnest(?::VARCHAR[]))", [list(asset_ids), remove_n]
            ).fetchone()[0]
        added = 0
        if add_n:
            added = cur.execute(
                """INSERT INTO tags (asset_id, tag, category, origin, confidence)
                   SELECT a, t, ?, ?, 1.0 FROM (SELECT unnest(?::VARCHAR[]) AS a)
                   CROSS JOIN (SELECT unnest(?::VARCHAR[]) AS t)
                   ON CONFLICT (asset_id, tag, origin) DO UPDATE SET category = excluded.category""",
                [category, origin, list(asset_ids), add_n]).fetchone()[0]
    return added, removed


def tags_of(db: Database, asset_id: str) -> list[dict[str, Any]]:
    """Every tag row of one asset, by category then tag."""
    rows = db.fetchall("SELECT tag, category, origin, confidence FROM tags WHERE asset_id = ? "
                       "ORDER BY category, tag", [asset_id])
    return [{"tag": t, "category": c, "origin": o, "confidence": f} for t, c, o, f in rows]


def tag_names(db: Database, asset_id: str) -> set[str]:
    """The distinct tags one asset has now, of any origin."""
    return {t for (t,) in db.fetchall("SELECT tag FROM tags WHERE asset_id = ?", [asset_id])}


def merge_into(db: Database, keep: str, others: Sequence[str],
               marker: str) -> tuple[list[str], int | None]:
    """Keep one asset of a duplicate group, in one transaction: the others' tags (but the marker)
    are copied onto `keep` as the user's, `keep` loses the marker, the others get it, and
    `keep` takes the highest stars of the group unless it has stars of its own.
    Returns the tags `keep` did not have before, and its stars now."""
    others = [o for o in others if o != keep]
    with db.transaction() as cur:
        before = {t for (t,) in cur.execute("SELECT tag FROM tags WHERE asset_id = ?",
                                            [keep]).fetchall()}
        rows = cur.execute(
            "SELECT tag, min(category) FROM tags WHERE asset_id IN "
            "(SELECT unnest(?::VARCHAR[])) AND tag <> ? GROUP BY tag ORDER BY tag",
            [others, marker]).fetchall()
        if rows:
            cur.execute(
                """INSERT INTO tags (asset_id, tag, category, origin, confidence)
                   SELECT ?, t, c, 'user', 1.0
                   FROM (SELECT unnest(?::VARCHAR[]) AS t, unnest(?::VARCHAR[]) AS c)
                   ON CONFLICT (asset_id, tag, origin) DO NOTHING""",
                [keep, [t for t, _ in rows], [c for _, c in rows]])
        cur.execute("DELETE FROM tags WHERE asset_id = ? AND tag = ?", [keep, marker])
        cur.execute(
            """INSERT INTO tags (asset_id, tag, category, origin, confidence)
               SELECT unnest(?::VARCHAR[]), ?, 'custom', 'user', 1.0
               ON CONFLICT (asset_id, tag, origin) DO NOTHING""", [others, marker])
        cur.execute("""UPDATE assets SET stars = (SELECT max(stars) FROM assets WHERE asset_id
                       IN (SELECT unnest(?::VARCHAR[]))) WHERE asset_id = ? AND stars IS NULL""",
                    [others, keep])
        stars = cur.execute("SELECT stars FROM assets WHERE asset_id = ?", [keep]).fetchone()
    return sorted({t for t, _ in rows} - before), (stars[0] if stars else None)
