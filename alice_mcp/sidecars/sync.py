"""Sidecars against the index: write them for assets, and read back the ones a user edited.

A sidecar is read only when its size or mtime differs from what alice last wrote or read
(table sidecars); a keyword it held then and lacks now was removed by the user, and goes as
with `tag --remove` (no analysis brings it back: understanding/user_edits.py); before alice rewrites a sidecar a user changed, it reads it first, so an
edit made in digiKam or Lightroom is never overwritten by alice's older view.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from alice_mcp.errors import SidecarError
from alice_mcp.sidecars.xmp import (
    MAX_SIDECAR_BYTES,
    SidecarFacts,
    merge_sidecar,
    read_sidecar,
    sidecar_path,
    write_atomically,
)
from alice_mcp.store import locations
from alice_mcp.store import sidecars as stored
from alice_mcp.store.db import Database

# asset column -> property in alice's own XMP namespace
GENERATION = {"source": "Generator", "model": "Model", "prompt": "Prompt",
              "negative_prompt": "NegativePrompt", "seed": "Seed", "steps": "Steps",
              "sampler": "Sampler", "cfg": "CFGScale"}


@dataclass(slots=True)
class SyncOutcome:
    """What one pass over sidecars did; problems are (path, why), one per file."""

    written: int = 0
    read: int = 0
    tags_added: int = 0
    tags_removed: int = 0
    stars_changed: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)


def pair_sidecars(sidecars: dict[str, tuple[int, int]],
                  media: Sequence[Path]) -> list[tuple[str, str, tuple[int, int]]]:
    """(sidecar, media file, sidecar stat) for each sidecar beside a media file, in either
    naming: `<file>.<ext>.xmp` first, else `<file>.xmp` when one file has that stem."""
    files = dict.fromkeys(media)  # each once, in order
    by_name = {str(m) + ".xmp": str(m) for m in files}
    by_stem: dict[str, str | None] = {}
    for m in files:
        key = str(m.with_suffix(".xmp"))
        by_stem[key] = None if key in by_stem else str(m)
    pairs = []
    for side, stat in sorted(sidecars.items()):
        target = by_name.get(side) or by_stem.get(side)
        if target is not None:
            pairs.append((side, target, stat))
    return pairs


def bring_along(sidecars: dict[str, tuple[int, int]], placed: dict[str, tuple[str, str]], *,
                move: bool, naming: str, outcome: SyncOutcome) -> dict[str, tuple[int, int]]:
    """Each inbox sidecar of a file placed in this run goes beside the placed file (moved
    with move, else copied), whole and untouched. A sidecar already at the destination is
    left alone (a problem). Returns the sidecars brought, with their stat, to be read."""
    brought: dict[str, tuple[int, int]] = {}
    for side, media, _ in pair_sidecars(sidecars, [Path(p) for p in placed]):
        target = sidecar_path(Path(placed[media][1]), naming)
        if target.exists():
            outcome.problems.append((side, f"not brought along: {target} already exists"))
            continue
        try:
            write_atomically(target, Path(side).read_bytes())
            if move:
                Path(side).unlink()
            st = target.stat()
        except OSError as exc:
            outcome.problems.append((side, f"not brought along: {exc.strerror or exc}"))
            continue
        brought[str(target)] = (st.st_size, st.st_mtime_ns)
    return brought


def move_sidecars_along(moved: Sequence[tuple[Path, Path]]) -> list[tuple[str, str]]:
    """The sidecar beside each moved file (either naming) follows it to its new place, whole
    and untouched; one already at the target is left alone. Returns the problems."""
    problems: list[tuple[str, str]] = []
    for src, dst in moved:
        for naming in ("ext", "stem"):
            side, target = sidecar_path(src, naming), sidecar_path(dst, naming)
            if not side.is_file():
                continue
            if target.exists():
                problems.append((str(side), f"not moved along: {target} already exists"))
                continue
            try:
                write_atomically(target, side.read_bytes())
                side.unlink()
            except OSError as exc:
                problems.append((str(side), f"not moved along: {exc.strerror or exc}"))
    return problems


def read_changed(db: Database, pairs: Sequence[tuple[str, str, tuple[int, int]]],
                 now: datetime, outcome: SyncOutcome) -> None:
    """Read each sidecar changed since alice last saw it; its keywords and rating become the
    asset's user tags and stars. A broken or hostile sidecar is a problem of its own file."""
    seen = stored.recorded(db, [s for s, _, _ in pairs])
    owners = locations.assets_at(db, [m for _, m, _ in pairs])
    records = []
    for side, media, stat in pairs:
        asset_id = owners.get(media)
        last_stat, last_tags = seen.get(side, (None, []))
        if asset_id is None or last_stat == stat:
            continue
        try:
            if stat[0] > MAX_SIDECAR_BYTES:
                raise SidecarError(f"sidecar is larger than {MAX_SIDECAR_BYTES // 1024} KiB; "
                                   "not read")
            found = read_sidecar(Path(side).read_bytes())
        except (OSError, SidecarError) as exc:
            outcome.problems.append((side, str(exc)))
            continue
        now_tags = [t for _, t in found.tags]
        removed = sorted(set(last_tags) - set(now_tags))  # taken out of the sidecar by the user
        added, changed = stored.apply_edits(db, asset_id, found.tags, found.stars, removed)
        outcome.read += 1
        outcome.tags_added += added
        outcome.tags_removed += len(removed)
        outcome.stars_changed += changed
        records.append((side, asset_id, *stat, now_tags))
    stored.record(db, records, now)


def write_sidecars(db: Database, asset_ids: Sequence[str], naming: str, now: datetime,
                   outcome: SyncOutcome) -> None:
    """Write the sidecar of every organized location of these assets (a user's unread edit
    in an existing sidecar is read first); originals are never opened for writing."""
    targets = _targets(db, asset_ids, naming)
    read_changed(db, [(str(s), m, st) for s, m, st, _ in targets if st is not None], now,
                 outcome)
    facts = stored.facts_of(db, asset_ids)  # again: the edits just read are part of it
    records = []
    for side, _, _, asset_id in targets:
        row = facts[asset_id]
        try:
            existing = side.read_bytes() if side.exists() else None
            data = merge_sidecar(existing, facts_for(row))
            if data != existing:  # the same bytes again cost no fsync and keep the mtime
                write_atomically(side, data)
                outcome.written += 1
            st = side.stat()
        except (OSError, SidecarError) as exc:
            outcome.problems.append((str(side), f"sidecar not written: {exc}"))
            continue
        records.append((str(side), row["asset_id"], st.st_size, st.st_mtime_ns,
                        [t for _, t in row["tags"]]))
    stored.record(db, records, now)


def _targets(db: Database, asset_ids: Sequence[str],
             naming: str) -> list[tuple[Path, str, tuple[int, int] | None, str]]:
    """(sidecar, media file, the sidecar's stat if it exists, asset id) of each present
    organized file of these assets."""
    found = []
    for asset_id, row in stored.facts_of(db, asset_ids).items():
        for media in row["paths"]:
            if not Path(media).is_file():
                continue
            side = sidecar_path(Path(media), naming)
            try:
                st = side.stat()
                stat: tuple[int, int] | None = (st.st_size, st.st_mtime_ns)
            except FileNotFoundError:
                stat = None
            found.append((side, media, stat, asset_id))
    return found


def facts_for(row: dict[str, Any]) -> SidecarFacts:
    """The sidecar facts of one asset row of store.sidecars.facts_of."""
    generation = {"AssetID": row["asset_id"]}
    for column, name in GENERATION.items():
        value = row.get(column)
        if value is not None and value != "":
            generation[name] = value if isinstance(value, str) else json.dumps(value)
    return SidecarFacts(tags=list(row["tags"]), stars=row["stars"],
                        description=row["description"],
                        generated=row.get("source") not in (None, "unknown"),
                        generation=generation)
