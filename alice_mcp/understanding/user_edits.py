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

from alice_mcp.store.analyses import latest_results
from alice_mcp.store.db import Database
from alice_mcp.store.tags import normalise_tag, tag_names


def removed_tags(db: Database, asset_id: str) -> set[str]:
    """Normalised tags some provider's latest analysis gave this asset and the asset lacks now."""
    given: set[str] = set()
    for data in latest_results(db, asset_id):
        for tag in data.get("tags") or []:
            if isinstance(tag, dict) and isinstance(tag.get("tag"), str):
                given.add(normalise_tag(tag["tag"]))
    if not given:
        return set()
    return given - tag_names(db, asset_id)
