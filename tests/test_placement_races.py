"""Placement against other writers in the organized tree: the final name is claimed atomically.

Two alice processes with their own databases move into one organized folder at the same time;
every file must survive exactly once, and every index row must name the bytes at its path.
"""

from __future__ import annotations

import errno
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from alice_mcp.errors import PlacementError
from alice_mcp.media.probe import hash_file
from alice_mcp.pipeline.place import DestinationTaken, place
from alice_mcp.store.db import Database

ROUNDS = int(os.environ.get("ALICE_RACE_ROUNDS", "3"))  # `make stress` runs 30
PER_INBOX = 30


def _noise_pngs(folder: Path, count: int, seed: int) -> list[Path]:
    """Small, distinct PNGs in one project folder (so both runs aim at the same names)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"img-{seed}-{i}.png"
        Image.frombytes("RGB", (16, 16), rng.randbytes(16 * 16 * 3)).save(path)
        os.utime(path, ns=(1_600_000_000 * 10**9, 1_600_000_000 * 10**9))
        paths.append(path)
    return paths


def _run(tmp_path: Path, name: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALICE_")}
    env["ALICE_PATHS__LAYOUT"] = "{project}/{seq:05d}{ext}"
    env["ALICE_PERFORMANCE__BATCH_SIZE"] = "4"
    return subprocess.Popen(
        [sys.executable, "-m", "alice_mcp", "--inbox", str(tmp_path / f"inbox-{name}"),
         "--organized", str(tmp_path / "organized"), "--database",
         str(tmp_path / f"{name}.duckdb"), "--move"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _rows(db_path: Path) -> list[tuple[str, str]]:
    db = Database(db_path, read_only=True)
    try:
        return db.fetchall("SELECT path, asset_id FROM files WHERE role = 'organized'")
    finally:
        db.close()


@pytest.mark.skipif(sys.platform == "win32", reason="two processes racing on POSIX semantics")
def test_two_movers_into_one_organized_folder_lose_and_overwrite_nothing(tmp_path: Path) -> None:
    originals: Counter[str] = Counter()
    for number in range(ROUNDS):
        for name in ("a", "b"):
            made = _noise_pngs(tmp_path / f"inbox-{name}" / "shared", PER_INBOX,
                               seed=number * 10 + (name == "b"))
            originals.update(hash_file(p) for p in made)
        runs = [_run(tmp_path, "a"), _run(tmp_path, "b")]
        for proc in runs:
            _, err = proc.communicate(timeout=120)
            assert proc.returncode in (0, 1), err
    placed = Counter(hash_file(p) for p in (tmp_path / "organized").rglob("*") if p.is_file())
    left = [p for name in "ab" for p in (tmp_path / f"inbox-{name}").rglob("*") if p.is_file()]
    assert placed == originals, "a file was lost or overwritten"
    assert left == []
    for name in "ab":
        rows = _rows(tmp_path / f"{name}.duckdb")
        # each library records its own placements, and (following the organized tree) may
        # index what the other process placed there too
        assert len(rows) >= ROUNDS * PER_INBOX
        wrong = [p for p, asset_id in rows if hash_file(p) != asset_id]
        assert wrong == [], f"index {name} names other bytes at {wrong[:3]}"


def _png(path: Path, seed: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.frombytes("RGB", (8, 8), random.Random(seed).randbytes(192)).save(path)
    return path


@pytest.mark.parametrize("move", [False, True])
def test_place_never_replaces_a_name_another_writer_took(tmp_path: Path, move: bool) -> None:
    src = _png(tmp_path / "in" / "a.png", 1)
    dst = _png(tmp_path / "out" / "00001.png", 2)
    theirs = dst.read_bytes()
    with pytest.raises(DestinationTaken):
        place(src, dst, move=move, asset_id=hash_file(src))
    assert dst.read_bytes() == theirs and src.exists()
    assert [p.name for p in dst.parent.iterdir()] == ["00001.png"]  # no temporary left


@pytest.mark.parametrize("move", [False, True])
def test_place_refuses_a_source_that_changed_since_it_was_hashed(tmp_path: Path,
                                                                 move: bool) -> None:
    src = _png(tmp_path / "in" / "a.png", 1)
    stale = hash_file(src)
    _png(src, 3)  # rewritten after indexing
    dst = tmp_path / "out" / "00001.png"
    with pytest.raises(PlacementError) as caught:
        place(src, dst, move=move, asset_id=stale)
    assert caught.value.errno == errno.ESTALE
    assert not dst.exists() and src.exists()
    assert list(dst.parent.iterdir()) == []


def test_cross_device_move_copies_verifies_then_removes_the_source(tmp_path: Path,
                                                                   monkeypatch) -> None:
    src = _png(tmp_path / "in" / "a.png", 1)
    asset = hash_file(src)
    dst = tmp_path / "out" / "00001.png"

    real_link = os.link

    def other_disk(a: object, b: object, **kwargs: object) -> None:
        if Path(str(a)) == src:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        real_link(a, b, **kwargs)  # type: ignore[arg-type]
    monkeypatch.setattr(os, "link", other_disk)
    place(src, dst, move=True, asset_id=asset)
    assert hash_file(dst) == asset and not src.exists()
    assert [p.name for p in dst.parent.iterdir()] == ["00001.png"]


def test_a_move_whose_source_cannot_be_removed_is_still_a_placement(tmp_path: Path,
                                                                    monkeypatch) -> None:
    src = _png(tmp_path / "in" / "a.png", 1)
    asset = hash_file(src)
    dst = tmp_path / "out" / "00001.png"
    real_unlink = os.unlink

    def stuck(path: object, *args: object, **kwargs: object) -> None:
        if Path(str(path)) == src:
            raise OSError(errno.EACCES, "Permission denied")
        real_unlink(path, *args, **kwargs)  # type: ignore[arg-type]
    monkeypatch.setattr(os, "unlink", stuck)
    note = place(src, dst, move=True, asset_id=asset)
    assert note is not None and "source" in note
    assert hash_file(dst) == asset and src.exists()


@pytest.mark.anyio
@pytest.mark.parametrize("move", [False, True])
async def test_files_rewritten_during_a_run_are_never_indexed_under_a_stale_id(
        library, inbox: Path, organized: Path, move: bool) -> None:
    """A writer keeps rewriting inbox files while organize runs: every organized file must hold
    the bytes its row names, and a rerun after the writer stops organizes the rest."""
    import threading

    import anyio

    paths = _noise_pngs(inbox / "p", 60, seed=7)
    stop = threading.Event()

    def rewrite() -> None:
        rng = random.Random(8)
        while not stop.is_set():
            path = rng.choice(paths)
            if path.exists():
                tmp = path.with_name(path.name + ".w")
                Image.frombytes("RGB", (16, 16), rng.randbytes(768)).save(tmp, "PNG")
                os.replace(tmp, path)  # a new version of the file, as an editor saves it
            stop.wait(0.001)

    writer = threading.Thread(target=rewrite)
    writer.start()
    try:
        await library.organize(move=move)
    finally:
        stop.set()
        writer.join()
    await anyio.sleep(0)
    await library.organize(move=move)
    rows = library.db.fetchall("SELECT path, asset_id FROM files WHERE role = 'organized'")
    assert rows and all(hash_file(p) == a for p, a in rows), "an index row names stale bytes"
    placed = {hash_file(p) for p in organized.rglob("*.png")}
    assert {hash_file(p) for p in paths if p.exists()} <= placed


@pytest.mark.anyio
@pytest.mark.parametrize("move", [False, True])
async def test_a_name_taken_at_the_last_moment_goes_to_the_next_sequence_number(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, move: bool) -> None:
    """Another program (not alice) writes the planned name just before alice claims it: its
    file is kept as it is, alice's goes to the next number, journaled, and indexed rightly."""
    from alice_mcp.config import load_settings
    from alice_mcp.library import Library

    src = _png(tmp_path / "inbox" / "p" / "a.png", 1)
    asset = hash_file(src)
    organized = tmp_path / "organized"
    theirs = b"another program's file"
    real_link = os.link
    taken: list[Path] = []

    def other_writer_first(a: object, b: object, **kwargs: object) -> None:
        target = Path(str(b))
        if not taken and target.is_relative_to(organized) and not target.name.startswith("."):
            target.write_bytes(theirs)  # the name is taken between planning and claiming
            taken.append(target)
        real_link(a, b, **kwargs)  # type: ignore[arg-type]
    monkeypatch.setattr(os, "link", other_writer_first)
    settings = load_settings(flags={
        "paths.inbox": tmp_path / "inbox", "paths.organized": organized,
        "paths.database": tmp_path / "lib.duckdb",
        "paths.layout": "{project}/{seq:05d}{ext}"}).settings
    with Library(settings) as lib:
        report = await lib.organize(move=move)
        assert report.organized == 1 and not report.errors, report.errors
        rows = lib.db.fetchall("SELECT path FROM files WHERE role = 'organized' "
                               "AND asset_id = ?", [asset])
        assert lib.db.fetchall("SELECT count(*) FROM journal")[0][0] == 0
    assert [p.name for p in taken] == ["00001.png"] and taken[0].read_bytes() == theirs
    assert [Path(p).name for (p,) in rows] == ["00002.png"]
    assert hash_file(organized / "p" / "00002.png") == asset
    assert src.exists() is not move


@pytest.mark.anyio
async def test_a_cross_disk_move_whose_source_stays_is_recorded_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--move to another disk where the source cannot be removed: one copy placed and recorded
    with what happened; reruns place no second copy and report no "cannot place" error."""
    from alice_mcp.config import load_settings
    from alice_mcp.library import Library

    src = _png(tmp_path / "inbox" / "p" / "a.png", 1)
    asset = hash_file(src)
    real_link, real_unlink = os.link, os.unlink

    def other_disk(a: object, b: object, **kwargs: object) -> None:
        if Path(str(a)) == src:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        real_link(a, b, **kwargs)  # type: ignore[arg-type]

    def stuck(path: object, *args: object, **kwargs: object) -> None:
        if Path(str(path)) == src:
            raise OSError(errno.EACCES, "Permission denied")
        real_unlink(path, *args, **kwargs)  # type: ignore[arg-type]
    monkeypatch.setattr(os, "link", other_disk)
    monkeypatch.setattr(os, "unlink", stuck)
    settings = load_settings(flags={
        "paths.inbox": tmp_path / "inbox", "paths.organized": tmp_path / "organized",
        "paths.database": tmp_path / "lib.duckdb"}).settings
    with Library(settings) as lib:
        first = await lib.organize(move=True)
        assert first.organized == 1
        said = [p.reason for p in first.errors + first.warnings]
        assert len(said) == 1 and said[0].startswith("placed, but cannot remove the source")
        for _ in range(2):  # the source is a duplicate now: it cannot be moved aside either
            again = await lib.organize(move=True)
            assert again.organized == 0 and again.duplicates_moved == 0, again
            said = [p.reason for p in again.errors + again.warnings]
            assert len(said) == 1 and said[0].startswith("a duplicate, not moved aside: "
                                                         "cannot remove the source"), said
        rows = lib.db.fetchall("SELECT path FROM files WHERE role = 'organized'")
    placed = [p for p in (tmp_path / "organized").rglob("*") if p.is_file()
              and not p.name.endswith(".xmp")]
    assert len(placed) == 1 and hash_file(placed[0]) == asset and src.exists()
    assert [Path(p) for (p,) in rows] == placed
