"""recover() from each state a killed run can leave a journaled placement in, deterministically
(the kill test reaches these only by chance), plus placement's error paths with faults injected."""

from __future__ import annotations

import errno
import os
import random
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image

from alice_mcp.errors import PlacementError
from alice_mcp.media.probe import hash_file
from alice_mcp.pipeline.place import TEMP_SUFFIX, place
from alice_mcp.pipeline.recovery import recover
from alice_mcp.store.db import Database
from alice_mcp.store.paths import from_stored, to_stored
from alice_mcp.store.writer import BatchWriter, Write

THRESHOLDS = (0.2, 0.4, 0.6, 0.8)


def _png(path: Path, seed: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.frombytes("RGB", (8, 8), random.Random(seed).randbytes(192)).save(path)
    return path


@pytest.fixture
def db(tmp_path: Path):
    database = Database(tmp_path / "l.duckdb")
    yield database
    database.close()


def _journal(db: Database, src: Path, dst: Path, asset_id: str, mode: str) -> None:
    BatchWriter(db).write_all([Write("journal", {
        "op_id": "op1", "src": str(src), "dst": str(dst), "asset_id": asset_id, "mode": mode,
        "project": "p", "state": "planned", "updated_at": datetime.now(UTC)})])


def _settle(db: Database) -> tuple[int, int, list[str], dict[str, str]]:
    found = recover(db, THRESHOLDS, 64)
    BatchWriter(db).write_all(found.writes)
    rows = dict(db.fetchall("SELECT path, role FROM files"))
    assert db.fetchall("SELECT count(*) FROM journal")[0][0] == 0
    return found.finished, found.rolled_back, found.notes, rows


@pytest.mark.parametrize("mode", ["copy", "move"])
def test_planned_but_nothing_placed_rolls_back_and_removes_temporaries(
        db: Database, tmp_path: Path, mode: str) -> None:
    src = _png(tmp_path / "in" / "a.png", 1)
    dst = tmp_path / "out" / "00001.png"
    dst.parent.mkdir()
    leftover = dst.with_name(f".{dst.name}.abcd1234{TEMP_SUFFIX}")
    leftover.write_bytes(b"half")
    _journal(db, src, dst, hash_file(src), mode)
    finished, rolled_back, notes, rows = _settle(db)
    assert (finished, rolled_back, notes, rows) == (0, 1, [], {})
    assert src.exists() and not dst.exists() and not leftover.exists()


def test_a_copy_that_arrived_is_indexed(db: Database, tmp_path: Path) -> None:
    src = _png(tmp_path / "in" / "a.png", 1)
    dst = tmp_path / "out" / "00001.png"
    place(src, dst, move=False, asset_id=hash_file(src))
    _journal(db, src, dst, hash_file(src), "copy")
    finished, rolled_back, _, rows = _settle(db)
    assert (finished, rolled_back) == (1, 0)
    assert rows == {str(dst): "organized", str(src): "inbox"}


def test_a_move_killed_between_link_and_unlink_removes_the_source(db: Database,
                                                                  tmp_path: Path) -> None:
    src = _png(tmp_path / "in" / "a.png", 1)
    dst = tmp_path / "out" / "00001.png"
    dst.parent.mkdir()
    os.link(src, dst)  # the claim happened; the source removal did not
    _journal(db, src, dst, hash_file(src), "move")
    finished, _, _, rows = _settle(db)
    assert finished == 1 and not src.exists() and hash_file(dst)
    assert rows == {str(dst): "organized"}


@pytest.mark.skipif(sys.platform != "linux", reason="only Linux takes names that are not UTF-8")
def test_a_journaled_move_of_a_name_that_is_not_utf8_is_finished(db: Database,
                                                                 tmp_path: Path) -> None:
    """The journal holds such a name losslessly, so recovery finds both ends of the move."""
    src = _png(tmp_path / "in" / os.fsdecode(b"bad\xff\xfe\x80name.png"), 1)
    dst = tmp_path / "out" / os.fsdecode(b"bad\xff\xfe\x80name-00001.png")
    dst.parent.mkdir()
    os.link(src, dst)  # the claim happened; the source removal did not
    _journal(db, src, dst, hash_file(src), "move")
    finished, _, notes, rows = _settle(db)
    assert (finished, notes) == (1, []) and not src.exists() and hash_file(dst)
    assert rows == {to_stored(str(dst)): "organized"}  # as the index stores it (lossless)
    assert from_stored(to_stored(str(dst))) == str(dst)


def test_a_destination_with_other_bytes_is_left_untouched(db: Database, tmp_path: Path) -> None:
    src = _png(tmp_path / "in" / "a.png", 1)
    dst = _png(tmp_path / "out" / "00001.png", 2)  # another writer's file took the name
    theirs = dst.read_bytes()
    _journal(db, src, dst, hash_file(src), "move")
    finished, rolled_back, notes, rows = _settle(db)
    assert (finished, rolled_back, rows) == (0, 1, {})
    assert "exists with other content" in notes[0]
    assert dst.read_bytes() == theirs and src.exists()


@pytest.mark.parametrize("step", ["link", "fsync", "replace-free claim"])
def test_a_failure_at_any_step_of_a_copy_leaves_no_final_name_and_no_temporary(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str) -> None:
    src = _png(tmp_path / "in" / "a.png", 1)
    dst = tmp_path / "out" / "00001.png"

    def fail(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")
    if step == "link":
        monkeypatch.setattr(os, "link", fail)  # ENOSPC is not "links unsupported": it fails
    elif step == "fsync":
        monkeypatch.setattr(os, "fsync", fail)
    else:
        def no_links(*args: object, **kwargs: object) -> None:
            raise OSError(errno.EPERM, "Operation not permitted")
        monkeypatch.setattr(os, "link", no_links)
        monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError):
        place(src, dst, move=step != "fsync", asset_id=hash_file(src))
    monkeypatch.undo()
    assert src.exists()
    assert (list(dst.parent.iterdir()) if dst.parent.exists() else []) == []


def test_without_hard_links_the_name_is_still_claimed_exclusively(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = _png(tmp_path / "in" / "a.png", 1)
    dst = _png(tmp_path / "out" / "00001.png", 2)
    theirs = dst.read_bytes()

    def no_links(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")
    monkeypatch.setattr(os, "link", no_links)
    os.unlink(dst)
    place(src, dst, move=False, asset_id=hash_file(src))  # claims via O_EXCL, then replaces
    assert hash_file(dst) == hash_file(src)
    dst.write_bytes(theirs)
    with pytest.raises(PlacementError):
        place(src, dst, move=False, asset_id=hash_file(src))
    assert dst.read_bytes() == theirs
