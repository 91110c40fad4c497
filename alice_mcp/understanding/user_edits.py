"""Tags the user removed, so that no analysis brings them back.

Decision: a user's edit wins for good. `tag --remove` deletes a tag of every origin; a later
analysis (a rerun with --force, a new model, another provider) must not put it back. The
removal is derived from what is stored, without a table of its own: the latest stored
analysis of each provider lists the tags that provider gave (its full answer is kept), and
the tags table holds what the asset has now. A tag the latest analyses gave but the asset no
longer has was removed by the user. It stays suppressed because the new analysis is stored
with its full answer too, while only the tags the user did not remove are written.
A tag the user adds back (`tag --add`) is on the asset again, so it is no longer suppressed.
"""

from __future__ import annotations

import json

from alice_mcp.store.assets import normalise_tag
from alice_mcp.store.db import Database


def removed_tags(db: Database, asset_id: str) -> set[str]:
    """Normalised tags some provider's latest analysis gave this asset and the asset lacks now."""
    rows = db.fetchall(
        """SELECT result FROM (
               SELECT result, row_number() OVER (PARTITION BY provider
                                                 ORDER BY created_at DESC) AS rn
               FROM analyses WHERE asset_id = ?) WHERE rn = 1""", [asset_id])
    given: set[str] = set()
    for (result,) in rows:
        data = json.loads(result) if isinstance(result, str) else result
        for tag in (data or {}).get("tags") or []:
            if isinstance(tag, dict) and isinstance(tag.get("tag"), str):
                given.add(normalise_tag(tag["tag"]))
    if not given:
        return set()
    present = {t for (t,) in db.fetchall("SELECT tag FROM tags WHERE asset_id = ?", [asset_id])}
    return given - present
