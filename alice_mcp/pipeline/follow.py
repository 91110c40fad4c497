"""Follow the organized tree: a file moved or renamed there by hand is re-linked (same bytes,
same asset), one that vanished is marked missing, one added by hand is indexed in place, and
one changed in place is a new asset at that path (the former asset, left without a file, is
missing). A file modified in the last settle_seconds may still be being written: left for the
next walk, as it was. The same walk indexes a collection where it lies (`alice index`), its
files in the role "indexed".

An unchanged file costs the one stat of the walk; only files at a path the index does not
know (or whose size or mtime changed) are read and hashed.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from alice_mcp.media.probe import media_type_for
from alice_mcp.pipeline.indexer import Failed, Indexed, asset_row, file_row, index_file
from alice_mcp.pipeline.scan import UNCATEGORIZED, Candidate, ScanResult, _walk
from alice_mcp.store import assets, locations
from alice_mcp.store.db import Database
from alice_mcp.store.writer import BatchWriter, Write

SIDECAR_SUFFIX = ".xmp"
BATCH = 200  # files read, then written, at a time: a big collection never sits in memory
FUTURE_NS = 60 * 10**9  # an mtime this far ahead of the clock is not "being written"


@dataclass(slots=True)
class TreeState:
    """What one walk of the organized tree found and did."""

    unchanged: int = 0
    relinked: list[str] = field(default_factory=list)  # new paths of known assets
    indexed_in_place: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # last paths of assets now missing
    deferred: list[str] = field(default_factory=list)  # changed too recently: the next walk
    media: list[Path] = field(default_factory=list)
    sidecars: dict[str, tuple[int, int]] = field(default_factory=dict)  # path -> (size, mtime)
    problems: list[tuple[str, str]] = field(default_factory=list)
    stats: int = 0


@dataclass(slots=True)
class TreeWalk:
    """What the walk found before any file is read: the files to read and what the index knew."""

    root: Path
    role: str
    state: TreeState
    fresh: list[Candidate] = field(default_factory=list)  # to read: unknown or changed paths
    known: dict[str, Any] = field(default_factory=dict)  # known paths not walked: vanished
    former: dict[str, str] = field(default_factory=dict)  # changed path -> the asset it had
    now_at: dict[str, str] = field(default_factory=dict)  # path -> the asset recorded now


def follow_tree(db: Database, root: Path | None, now: datetime, *,
                stars_thresholds: tuple[float, float, float, float],
                thumb_size: int = 256, stealth: bool = False, settle_seconds: float = 0.0,
                role: str = "organized", workers: int = 1,
                on_indexed: Callable[[int, int], None] | None = None) -> TreeState:
    """Walk root once, bring the index in line with it, and say what changed (None: no walk).

    role: "organized" for the organized tree, "indexed" for a collection indexed where it lies
    (`alice index`). Fresh files are read by `workers` threads, BATCH at a time; on_indexed
    (done, total) is called after each batch."""
    if root is None or not root.is_dir():
        return TreeState()
    walk = walk_tree(db, root, settle_seconds=settle_seconds, role=role)
    return follow_walk(db, walk, now, stars_thresholds=stars_thresholds, thumb_size=thumb_size,
                       stealth=stealth, workers=workers, on_indexed=on_indexed)


def follow_walk(db: Database, walk: TreeWalk, now: datetime, *,
                stars_thresholds: tuple[float, float, float, float], thumb_size: int = 256,
                stealth: bool = False, workers: int = 1,
                on_indexed: Callable[[int, int], None] | None = None) -> TreeState:
    """Read a walk's fresh files in `workers` threads, BATCH at a time, record each batch, and
    finish the walk (moves re-linked, vanished files marked missing)."""
    work = functools.partial(index_file, thumb_size=thumb_size, stealth=stealth)
    fresh = walk.fresh
    with ThreadPoolExecutor(max_workers=max(1, workers),
                            thread_name_prefix="alice-follow") as pool:
        for start in range(0, len(fresh), BATCH):
            record_batch(db, walk, list(pool.map(work, fresh[start:start + BATCH])), now,
                         stars_thresholds)
            if on_indexed is not None:
                on_indexed(min(start + BATCH, len(fresh)), len(fresh))
    return finish_walk(db, walk, now)


def walk_tree(db: Database, root: Path, *, settle_seconds: float = 0.0,
              role: str = "organized") -> TreeWalk:
    """The walk: one stat per file, compared with what the index knows under root."""
    walk = TreeWalk(root, role, TreeState(), known=locations.known_organized_files(db, root, role))
    state, known = walk.state, walk.known
    walked = ScanResult()
    # (a file dated far in the future is not waited for: it would be deferred forever)
    young = (time.time_ns() - int(settle_seconds * 1e9), time.time_ns() + FUTURE_NS)
    for path, st in _walk(root, (), walked):
        if path.name.endswith(SIDECAR_SUFFIX):
            state.sidecars[str(path)] = (st.st_size, st.st_mtime_ns)
            continue
        media_type = media_type_for(path)
        if media_type is None:
            continue
        state.media.append(path)
        seen = known.pop(str(path), None)
        if seen is not None and (seen.size, seen.mtime_ns) == (st.st_size, st.st_mtime_ns):
            state.unchanged += 1
        elif settle_seconds > 0 and young[0] < st.st_mtime_ns < young[1]:
            state.deferred.append(str(path))  # still being written, perhaps; as it was till then
        else:
            if seen is not None:
                walk.former[str(path)] = seen.asset_id
            walk.fresh.append(Candidate(path, st.st_size, st.st_mtime_ns, _project(root, path),
                                        media_type))
    state.stats = walked.stats
    walk.fresh.sort(key=lambda c: (c.mtime_ns, str(c.path)))  # the oldest copy of a duplicate first
    return walk


def finish_walk(db: Database, walk: TreeWalk, now: datetime) -> TreeState:
    """After every fresh file is recorded: what was not walked is missing, and so is the former
    asset of a path whose bytes changed. (A run stopped before this marks nothing missing.)"""
    state = walk.state
    state.missing = locations.vanish(db, sorted(walk.known), now)
    state.missing += locations.replaced(
        db, [(p, a) for p, a in walk.former.items() if walk.now_at.get(p, a) != a], now)
    return state


def record_batch(db: Database, walk: TreeWalk, results: list[Indexed | Failed], now: datetime,
                 stars_thresholds: tuple[float, float, float, float]) -> None:
    """Record one batch of fresh files read (here or on Dask workers), committed."""
    walk.now_at.update(_record(db, results, now, walk.state, stars_thresholds, walk.role))


def _record(db: Database, results: list[Indexed | Failed], now: datetime, state: TreeState,
            stars_thresholds: tuple[float, float, float, float], role: str) -> dict[str, str]:
    """Record one batch of files read at unknown (or changed) paths: known bytes are
    re-linked, new bytes indexed in place. Returns path -> the asset now recorded there."""
    found = [r for r in results if not isinstance(r, Failed)]
    have = set(assets.asset_ids(db, [r.asset_id for r in found]))
    writes: list[Write] = []
    recorded: dict[str, str] = {}
    for item in results:
        if isinstance(item, Failed):
            state.problems.append((str(item.candidate.path), item.reason))
            continue
        cand = item.candidate
        if item.asset_id in have:
            state.relinked.append(str(cand.path))
        else:
            have.add(item.asset_id)
            state.indexed_in_place.append(str(cand.path))
            writes.append(Write("assets", asset_row(item, stars_thresholds, now)))
            if item.pixels is not None:
                writes.append(Write("thumbnails", {"asset_id": item.asset_id,
                                                   "mime": item.pixels.thumbnail_mime,
                                                   "data": item.pixels.thumbnail}))
        writes.append(file_row(cand.path, item.asset_id, role, cand.size, cand.mtime_ns, now))
        recorded[str(cand.path)] = item.asset_id
    if writes:
        BatchWriter(db).write_all(writes)
    return recorded


def _project(root: Path, path: Path) -> str:
    """The project folder of the default layout ({date}/{project}/...), else uncategorized."""
    parts = path.relative_to(root).parts
    return parts[1] if len(parts) > 2 else UNCATEGORIZED
