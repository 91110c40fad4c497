"""Copies staged in the organized tree by indexing worker processes (performance.executor:
processes): a worker writes the bytes it read and hashed there, and placing gives that file its
final name instead of reading and hashing the source a second time (issue 19).

A run's copies live in <organized>/.alice-staging/<library>/<run>/ (a dot folder: the walks of
the organized tree skip it). A run removes its folder when it ends; the next run of the same
library removes what a killed one left. Runs of other libraries, which may share the organized
tree, are never touched, and a library is organized by one process at a time (its database is
locked), so only this process's own live runs need to be known.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import uuid
from pathlib import Path

from alice_mcp.pipeline.place import TEMP_SUFFIX, write_copy

STAGING = ".alice-staging"
_live: set[Path] = set()  # run folders of this process's runs in progress
_live_lock = threading.Lock()


class RunStaging:
    """One organize run's staging folder: made by open(), removed with its contents by close()."""

    def __init__(self, organized: Path, library: Path) -> None:
        self.library_folder = library_folder(organized, library)
        self.folder = self.library_folder / uuid.uuid4().hex

    def open(self) -> Path | None:
        """Make this run's folder; None when it cannot be made (the run copies the sources
        itself, and says why a file cannot be placed if it cannot)."""
        with _live_lock:
            try:
                self.folder.mkdir(parents=True)
            except OSError:
                return None
            _live.add(self.folder)
        return self.folder

    def close(self) -> None:
        """Remove this run's folder, and the folders above it left empty."""
        with _live_lock:
            _live.discard(self.folder)
            _remove(self.folder)
            _remove_empty(self.library_folder)


def library_folder(organized: Path, library: Path) -> Path:
    """<organized>/.alice-staging/<a key of the library's database file>."""
    key = hashlib.blake2b(str(library.resolve()).encode(), digest_size=8).hexdigest()
    return organized / STAGING / key


def sweep(organized: Path, library: Path) -> None:
    """Remove what this library's ended (killed) runs left; every organize run starts with it
    (with or without worker processes), so nothing stays after the run that follows a kill."""
    folder = library_folder(organized, library)
    with _live_lock:
        for stale in _run_folders(folder):
            if stale not in _live:
                _remove(stale)
        _remove_empty(folder)


def stage_copy(data: bytes, src: Path, folder: Path) -> Path | None:
    """Write bytes read from src to a new file in folder, with src's times; None when it cannot
    be written (a full disk, a folder gone): placing then copies the source itself."""
    staged = folder / f"{uuid.uuid4().hex}{TEMP_SUFFIX}"
    try:
        write_copy(data, src, staged)
    except OSError:
        with contextlib.suppress(OSError):
            staged.unlink(missing_ok=True)
        return None
    return staged


def discard(staged: list[Path]) -> None:
    """Remove staged copies that were not placed (duplicates, files that failed)."""
    for path in staged:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)


def _remove_empty(library_folder: Path) -> None:
    for folder in (library_folder, library_folder.parent):
        with contextlib.suppress(OSError):  # not empty: another library's, or a run's
            folder.rmdir()


def _run_folders(library_folder: Path) -> list[Path]:
    try:
        return [library_folder / name for name in os.listdir(library_folder)]
    except FileNotFoundError:
        return []


def _remove(run_folder: Path) -> None:
    """Our staged copies in a run folder, then the folder; anything else there is left."""
    try:
        names = os.listdir(run_folder)
    except (FileNotFoundError, NotADirectoryError):
        return
    for name in names:
        if name.endswith(TEMP_SUFFIX):
            with contextlib.suppress(OSError):
                os.unlink(run_folder / name)
    with contextlib.suppress(OSError):
        run_folder.rmdir()
