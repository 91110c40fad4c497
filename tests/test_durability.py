"""Durability a batch at a time (issue 19, deliverable 3): each placed file is fsynced, with its
folder, before any source of its batch is removed and before its journal row is closed; one
durability point a batch, not one a file. The real pipeline; only os.fsync and os.unlink are
watched (they still run), through /proc/self/fd, so Linux only."""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path

import pytest

from alice_mcp import samples
from alice_mcp.config import Settings, load_settings
from alice_mcp.library import Library
from alice_mcp.media.probe import hash_file

pytestmark = [pytest.mark.anyio, pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads fsync'd paths from /proc/self/fd")]


def watch_disk(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every fsync (by path) and unlink, in order, as they happen."""
    events: list[tuple[str, str]] = []
    real_fsync, real_unlink = os.fsync, os.unlink

    def fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def unlink(path: str | Path, *args: object, **kwargs: object) -> None:
        events.append(("unlink", str(path)))
        real_unlink(path, *args, **kwargs)  # type: ignore[arg-type]
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "unlink", unlink)
    return events


def with_batch_size(settings: Settings, size: int) -> Settings:
    paths = settings.paths
    return load_settings(flags={"paths.inbox": paths.inbox, "paths.organized": paths.organized,
                                "paths.database": settings.database_path,
                                "performance.batch_size": size,
                                "performance.parallel_threshold": 1}).settings


@pytest.mark.parametrize("links", [True, False], ids=["hard-link move", "copy move"])
async def test_a_moved_source_goes_only_after_its_batch_is_durable(
        settings: Settings, inbox: Path, monkeypatch: pytest.MonkeyPatch, links: bool) -> None:
    samples.make_sample_inbox(inbox, count=9, seed=7)
    before = sorted(hash_file(p) for p in inbox.rglob("*") if p.is_file())
    if not links:
        def no_links(*args: object, **kwargs: object) -> None:  # copy, verify, claim by O_EXCL
            raise OSError(errno.EPERM, "Operation not permitted")
        monkeypatch.setattr(os, "link", no_links)
    events = watch_disk(monkeypatch)
    with Library(with_batch_size(settings, 4)) as lib:
        report = await lib.organize(move=True)
    monkeypatch.undo()
    assert report.errors == [] and report.organized + report.duplicates_moved == 9
    placed = {p.source: p.destination for p in report.placements}
    removed = [path for op, path in events if op == "unlink" and path in placed]
    assert sorted(removed) == sorted(placed)  # every source went, and only after...
    for source in removed:
        at = events.index(("unlink", source))
        synced = {path for op, path in events[:at] if op == "fsync"}
        assert placed[source] in synced  # ...its copy was fsynced
        assert str(Path(placed[source]).parent) in synced  # ...and so was its folder
    # one durability point a batch: the fsyncs come in runs, not one between each removal
    kinds = "".join("f" if op == "fsync" else "u" for op, path in events
                    if op == "fsync" or path in placed)
    runs = [run for run in kinds.replace("u", " ").split() if run]
    assert len(runs) <= 3  # 9 files in batches of 4: 3 batches
    assert max(map(len, runs)) >= 4
    after = sorted(hash_file(p) for p in Path(report.organized_root).rglob("*") if p.is_file())
    assert after == before and not [p for p in inbox.rglob("*") if p.is_file()]


async def test_copy_mode_fsyncs_each_placed_file_and_folder_once(
        settings: Settings, inbox: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    samples.make_sample_inbox(inbox, count=6, seed=8)
    events = watch_disk(monkeypatch)
    with Library(with_batch_size(settings, 100)) as lib:
        report = await lib.organize()
    monkeypatch.undo()
    assert report.errors == [] and report.organized == 5 and report.duplicates == 1
    synced = [path for op, path in events if op == "fsync"]
    files = [p.destination for p in report.placements if p.duplicate_of is None]
    folders = {str(Path(f).parent) for f in files}
    assert sorted(p for p in synced if p in files) == sorted(files)  # each file once
    assert sorted(p for p in synced if p in folders) == sorted(folders)  # each folder once
    assert all(Path(p.source).exists() for p in report.placements)  # copies: sources kept
