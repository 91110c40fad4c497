"""Copies staged by worker processes (pipeline/staging.py): placing names the staged copy, or
refuses it when the source changed, keeps it when the name was taken, copies the source when it
is gone; a run's staging folder is removed when it ends, and what a killed run left is removed
by the next run of the same library only. Real files; organize end to end in test_processes.py,
killed mid-run in test_kill.py, on a full disk in test_full_disk.py."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from alice_mcp import samples
from alice_mcp.config import load_settings
from alice_mcp.library import Library
from alice_mcp.media.probe import content_hash, hash_file
from alice_mcp.pipeline import staging
from alice_mcp.pipeline.place import TEMP_SUFFIX, DestinationTaken, SourceChanged, put
from alice_mcp.pipeline.staging import (
    STAGING,
    RunStaging,
    discard,
    library_folder,
    stage_copy,
    sweep,
)


def source(tmp_path: Path, data: bytes = b"\x89PNG pixels" * 1000) -> tuple[Path, str, tuple]:
    """A source file, its asset id, and its (size, mtime_ns) as a scan saw it."""
    src = tmp_path / "inbox" / "a.png"
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_bytes(data)
    os.utime(src, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    st = src.stat()
    return src, content_hash(data), (st.st_size, st.st_mtime_ns)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    staging = tmp_path / "organized" / STAGING / "run"
    staging.mkdir(parents=True)
    return staging


def test_the_staged_copy_takes_the_name_with_the_sources_times(tmp_path: Path,
                                                               folder: Path) -> None:
    src, asset_id, seen = source(tmp_path)
    staged = stage_copy(src.read_bytes(), src, folder)
    assert staged is not None and staged.name.endswith(TEMP_SUFFIX)
    inode = staged.stat().st_ino
    dst = tmp_path / "organized" / "2020" / "a-00001.png"
    assert put(src, dst, move=False, asset_id=asset_id, seen=seen, staged=staged) is False
    assert dst.stat().st_ino == inode  # named, not copied again
    assert hash_file(dst) == asset_id and dst.stat().st_mtime_ns == seen[1]
    assert not staged.exists() and src.read_bytes() == dst.read_bytes()


def test_a_source_changed_since_the_scan_refuses_the_staged_copy(tmp_path: Path,
                                                                 folder: Path) -> None:
    src, asset_id, seen = source(tmp_path)
    staged = stage_copy(src.read_bytes(), src, folder)
    assert staged is not None
    src.write_bytes(b"edited meanwhile")
    dst = tmp_path / "organized" / "a-00001.png"
    with pytest.raises(SourceChanged):
        put(src, dst, move=False, asset_id=asset_id, seen=seen, staged=staged)
    assert not dst.exists() and not staged.exists()


def test_a_taken_name_keeps_the_staged_copy_for_the_next_one(tmp_path: Path,
                                                             folder: Path) -> None:
    src, asset_id, seen = source(tmp_path)
    staged = stage_copy(src.read_bytes(), src, folder)
    assert staged is not None
    taken = tmp_path / "organized" / "a-00001.png"
    taken.parent.mkdir(parents=True, exist_ok=True)
    taken.write_bytes(b"another writer's file")
    with pytest.raises(DestinationTaken):
        put(src, taken, move=False, asset_id=asset_id, seen=seen, staged=staged)
    assert staged.exists() and taken.read_bytes() == b"another writer's file"
    nxt = tmp_path / "organized" / "a-00002.png"
    put(src, nxt, move=False, asset_id=asset_id, seen=seen, staged=staged)
    assert hash_file(nxt) == asset_id and not staged.exists()


def test_a_staged_copy_gone_means_the_source_is_copied(tmp_path: Path, folder: Path) -> None:
    src, asset_id, seen = source(tmp_path)
    staged = stage_copy(src.read_bytes(), src, folder)
    assert staged is not None
    staged.unlink()
    dst = tmp_path / "organized" / "a-00001.png"
    put(src, dst, move=False, asset_id=asset_id, seen=seen, staged=staged)
    assert hash_file(dst) == asset_id


def test_a_destination_on_another_filesystem_gets_a_copy_of_the_source(
        tmp_path: Path, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder of the tree mounted apart: the staged copy cannot take the name (EXDEV)."""
    src, asset_id, seen = source(tmp_path)
    staged = stage_copy(src.read_bytes(), src, folder)
    assert staged is not None

    real_link = os.link

    def cross_device(a: Path, b: Path, **kwargs: bool) -> None:
        if Path(a).parent == folder:  # from the staging folder, not from beside dst
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        real_link(a, b, **kwargs)
    monkeypatch.setattr(os, "link", cross_device)
    dst = tmp_path / "organized" / "mounted" / "a-00001.png"
    put(src, dst, move=False, asset_id=asset_id, seen=seen, staged=staged)
    assert hash_file(dst) == asset_id and not staged.exists()


def test_staging_into_a_folder_that_is_gone_gives_none(tmp_path: Path, folder: Path) -> None:
    src, _, _ = source(tmp_path)
    folder.rmdir()
    assert stage_copy(src.read_bytes(), src, folder) is None
    assert not folder.exists()


def test_a_run_removes_what_killed_runs_of_its_library_left_and_nothing_else(
        tmp_path: Path) -> None:
    organized, library, other = tmp_path / "organized", tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    killed = RunStaging(organized, library)
    killed_folder = killed.open()
    assert killed_folder is not None
    (killed_folder / f"x{TEMP_SUFFIX}").write_bytes(b"left by a killed run")
    (killed_folder / "a user's file.png").write_bytes(b"not ours")
    neighbour = RunStaging(organized, other)  # another library sharing the tree, running
    neighbour_folder = neighbour.open()
    assert neighbour_folder is not None
    (neighbour_folder / f"y{TEMP_SUFFIX}").write_bytes(b"in use")
    live = RunStaging(organized, library)  # a run of this process, still going
    live_folder = live.open()
    assert live_folder is not None
    (live_folder / f"z{TEMP_SUFFIX}").write_bytes(b"in use")
    staging._live.discard(killed_folder)  # killed: never closed, and not a run of this process
    sweep(organized, library)  # what the next run of the library does first
    assert sorted(p.name for p in killed_folder.iterdir()) == ["a user's file.png"]
    assert (neighbour_folder / f"y{TEMP_SUFFIX}").exists()
    assert (live_folder / f"z{TEMP_SUFFIX}").exists()

    run = RunStaging(organized, library)
    assert run.open() is not None
    (run.folder / f"w{TEMP_SUFFIX}").write_bytes(b"a duplicate's copy")
    run.close()
    assert not run.folder.exists()
    live.close()
    neighbour.close()
    assert not neighbour.library_folder.exists()
    assert killed_folder.exists()  # it holds a file that is not ours: left, with its folders


def test_discard_removes_copies_not_placed_and_ignores_ones_gone(tmp_path: Path,
                                                                folder: Path) -> None:
    src, _, _ = source(tmp_path)
    kept = [stage_copy(src.read_bytes(), src, folder) for _ in range(2)]
    assert all(kept)
    discard([p for p in kept if p] + [folder / f"gone{TEMP_SUFFIX}"])
    assert list(folder.iterdir()) == []


@pytest.mark.anyio
async def test_the_run_after_a_kill_removes_its_staged_copies_without_workers(
        tmp_path: Path) -> None:
    """Found by the kill test: the run after a killed one had too few new files for worker
    processes, so it made no staging folder and left the killed run's copies there (the
    organized tree then held one file twice). Every run removes them first."""
    inbox, organized, database = tmp_path / "in", tmp_path / "organized", tmp_path / "l.duckdb"
    samples.make_sample_inbox(inbox, count=3, seed=9)
    left = library_folder(organized, database) / "a-killed-run"
    left.mkdir(parents=True)
    (left / f"0123{TEMP_SUFFIX}").write_bytes(b"a copy staged before the kill")
    settings = load_settings(flags={"paths.inbox": inbox, "paths.organized": organized,
                                    "paths.database": database}, environ={}).settings
    with Library(settings) as lib:
        report = await lib.organize()
    assert report.organized > 0 and not report.errors
    assert not (organized / STAGING).exists()
