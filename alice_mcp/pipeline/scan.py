"""Walk an inbox and diff it against the index: an unchanged file costs one stat and nothing else."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from alice_mcp.media.probe import media_type_for

if TYPE_CHECKING:  # not imported at run time: worker processes unpickle Candidates
    from alice_mcp.store.locations import KnownFile

UNCATEGORIZED = "uncategorized"
_IGNORED_NAMES = frozenset({"Thumbs.db", "desktop.ini", ".DS_Store"})


@dataclass(frozen=True, slots=True)
class Candidate:
    """A media file found in the inbox, with the stat the diff used."""

    path: Path
    size: int
    mtime_ns: int
    project: str
    media_type: str


@dataclass(slots=True)
class ScanResult:
    new: list[Candidate] = field(default_factory=list)
    unplaced: list[tuple[Candidate, str]] = field(default_factory=list)  # known, not organized yet
    placed: list[tuple[Candidate, str]] = field(default_factory=list)  # known, organized (keep_placed)
    unchanged: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    deferred: list[str] = field(default_factory=list)  # changed too recently: may be growing
    stats: int = 0
    sidecars: dict[str, tuple[int, int]] = field(default_factory=dict)  # .xmp -> (size, mtime)


def scan(inbox: Path, known: Mapping[str, KnownFile], exclude: tuple[Path, ...] = (),
         settle_seconds: float = 0.0, keep_placed: bool = False) -> ScanResult:
    """Every media file under inbox, oldest first, split into new / known-but-unplaced / unchanged;
    files changed in the last settle_seconds are deferred (they may still be being written);
    with keep_placed, unchanged files whose asset is organized are listed too (a move takes
    them out of the inbox).

    Oldest first makes the earliest copy of a duplicate the original, and numbers files in the
    order they were made."""
    result = ScanResult()
    young = time.time_ns() - int(settle_seconds * 1e9) if settle_seconds > 0 else None
    for path, st in _walk(inbox, exclude, result):
        if path.suffix.lower() == ".xmp":  # a sidecar: it travels with its file (sidecars/)
            result.sidecars[str(path)] = (st.st_size, st.st_mtime_ns)
            continue
        media_type = media_type_for(path)
        if media_type is None:
            result.skipped.append((str(path), "not an image or video file"))
            continue
        if young is not None and st.st_mtime_ns > young:
            result.deferred.append(str(path))
            continue
        cand = Candidate(path, st.st_size, st.st_mtime_ns, project_of(inbox, path), media_type)
        seen = known.get(str(path))
        if seen is None or (seen.size, seen.mtime_ns) != (cand.size, cand.mtime_ns):
            result.new.append(cand)
        elif seen.placed:
            result.unchanged += 1
            if keep_placed:
                result.placed.append((cand, seen.asset_id))
        else:
            result.unplaced.append((cand, seen.asset_id))
    result.new.sort(key=lambda c: (c.mtime_ns, str(c.path)))
    return result


def project_of(inbox: Path, path: Path) -> str:
    """The first folder under the inbox, or 'uncategorized' for files in the inbox root."""
    parts = path.relative_to(inbox).parts
    return parts[0] if len(parts) > 1 else UNCATEGORIZED


def _walk(root: Path, exclude: tuple[Path, ...],
          result: ScanResult) -> Iterator[tuple[Path, os.stat_result]]:
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as exc:
            result.skipped.append((str(folder), f"cannot list folder: {exc.strerror}"))
            continue
        for entry in entries:
            if entry.name.startswith(".") or entry.name in _IGNORED_NAMES:
                continue
            path = Path(entry.path)
            try:
                if entry.is_symlink():
                    result.skipped.append((str(path), "symbolic link (not followed)"))
                elif entry.is_dir(follow_symlinks=False):
                    if path not in exclude:
                        stack.append(path)
                elif entry.is_file(follow_symlinks=False):
                    result.stats += 1
                    yield path, entry.stat(follow_symlinks=False)
                else:
                    result.skipped.append((str(path), "not a regular file (device, pipe, socket)"))
            except OSError as exc:
                result.skipped.append((str(path), f"cannot stat: {exc.strerror}"))
