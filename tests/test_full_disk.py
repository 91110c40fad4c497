"""A full organized disk mid-run: one clear message (what happened, what to do), nothing lost,
and the next run finishes. Fault injection (ENOSPC from the copy path) and, where the machine
lets a test mount one, a real 2 MB tmpfs."""

from __future__ import annotations

import errno
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from PIL import Image

from alice_mcp.config import load_settings
from alice_mcp.errors import DiskFull
from alice_mcp.library import Library
from alice_mcp.media.probe import hash_file
from alice_mcp.pipeline.place import TEMP_SUFFIX
from alice_mcp.pipeline.staging import STAGING

pytestmark = pytest.mark.anyio


def noise_pngs(folder: Path, count: int, side: int = 96) -> dict[str, str]:
    """Incompressible PNGs (~side*side*3 bytes each); their hashes by name."""
    folder.mkdir(parents=True, exist_ok=True)
    hashes = {}
    for i in range(count):
        path = folder / f"noise-{i:02d}.png"
        data = random.Random(i).randbytes(side * side * 3)
        Image.frombytes("RGB", (side, side), data).save(path)
        hashes[path.name] = hash_file(path)
    return hashes


def hashes_under(folder: Path) -> list[str]:
    return [hash_file(p) for p in folder.rglob("*") if p.is_file() and p.suffix == ".png"]


def temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(TEMP_SUFFIX)]


async def test_enospc_while_copying_stops_the_run_with_one_message_and_loses_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inbox, organized = tmp_path / "in", tmp_path / "out"
    originals = noise_pngs(inbox, 8, side=16)
    settings = load_settings(flags={"paths.inbox": inbox, "paths.organized": organized,
                                    "paths.database": tmp_path / "lib.duckdb"}).settings
    real_fsync, calls = os.fsync, []

    def filling_fsync(fd: int) -> None:  # the disk fills after three placed files
        calls.append(fd)
        if len(calls) > 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    def no_links(*args: object, **kwargs: object) -> None:  # no hard links: copy, verify, remove
        raise OSError(errno.EPERM, "Operation not permitted")
    monkeypatch.setattr(os, "fsync", filling_fsync)
    monkeypatch.setattr(os, "link", no_links)
    with Library(settings) as lib:
        with pytest.raises(DiskFull) as caught:
            await lib.organize(move=True)
        message = str(caught.value)
        assert "disk holding" in message and "full" in message and "Free some space" in message
        assert "Nothing was lost" in message and "run organize again" in message
        assert "after placing 3 files" in message
        monkeypatch.undo()
        placed, left = hashes_under(organized), hashes_under(inbox)
        assert len(placed) == 3 and sorted(placed + left) == sorted(originals.values())
        assert temporaries(organized) == []
        report = await lib.organize(move=True)  # space freed: the rerun finishes
        assert report.organized == 5 and report.errors == []
        assert sorted(hashes_under(organized)) == sorted(originals.values())
        assert hashes_under(inbox) == []
        assert lib.db.fetchall("SELECT count(*) FROM journal")[0][0] == 0


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path | None]:
    """A 2 MB tmpfs, or None (with the reason printed) where mounting is not allowed."""
    mount = tmp_path / "small"
    mount.mkdir()
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
                              capture_output=True, text=True, check=False)
        why = (done.stderr.strip() or f"exit {done.returncode}") if done.returncode else ""
    except OSError as exc:  # no mount command on this system
        why = str(exc)
    if why:
        print(f"no real full disk: cannot mount a tmpfs here ({why}); "
              "the fault-injection test covers the same path")
        yield None
        return
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def alice(*args: str, env_extra: dict[str, str] | None = None
          ) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALICE_")} | (env_extra or {})
    return subprocess.run([sys.executable, "-m", "alice_mcp", *args, "-q"], capture_output=True,
                          text=True, env=env, timeout=120, check=False)


def test_a_real_full_organized_disk_mid_move(tmp_path: Path, small_disk: Path | None) -> None:
    if small_disk is None:
        return
    inbox, organized = tmp_path / "in", small_disk / "organized"
    originals = noise_pngs(inbox, 16, side=256)  # ~3 MB onto a 2 MB disk
    args = ("--inbox", str(inbox), "--organized", str(organized),
            "--database", str(tmp_path / "lib.duckdb"), "--move")
    run = alice(*args)
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr and "ExceptionGroup" not in run.stderr, run.stderr
    last = (run.stderr.strip().splitlines() or [""])[-1]
    assert last.startswith(f"alice: the disk holding {organized} is full"), run.stderr
    assert "Free some space" in last and "Nothing was lost" in last
    placed, left = hashes_under(organized), hashes_under(inbox)
    assert 0 < len(placed) < 16 and sorted(placed + left) == sorted(originals.values())
    assert temporaries(organized) == []
    subprocess.run(["mount", "-o", "remount,size=16m", str(small_disk)], check=True)
    again = alice(*args)
    assert again.returncode == 0, again.stderr
    assert sorted(hashes_under(organized)) == sorted(originals.values())
    assert hashes_under(inbox) == []


def test_a_real_full_organized_disk_with_worker_processes_staging_copies(
        tmp_path: Path, small_disk: Path | None) -> None:
    """Worker processes write their copies into the organized tree (pipeline/staging.py): when
    that disk fills, the run stops with the same message, and nothing is left staged."""
    if small_disk is None:
        return
    inbox, organized = tmp_path / "in", small_disk / "organized"
    originals = noise_pngs(inbox, 16, side=256)  # ~3 MB onto a 2 MB disk
    args = ("--inbox", str(inbox), "--organized", str(organized),
            "--database", str(tmp_path / "lib.duckdb"))
    workers = {"ALICE_PERFORMANCE__EXECUTOR": "processes",
               "ALICE_PERFORMANCE__PARALLEL_THRESHOLD": "2", "ALICE_PERFORMANCE__BATCH_SIZE": "4"}
    run = alice(*args, env_extra=workers)
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr and "ExceptionGroup" not in run.stderr, run.stderr
    last = (run.stderr.strip().splitlines() or [""])[-1]
    assert last.startswith(f"alice: the disk holding {organized} is full"), run.stderr
    placed = hashes_under(organized)
    assert 0 < len(placed) < 16 and set(placed) <= set(originals.values())
    assert sorted(hashes_under(inbox)) == sorted(originals.values())  # copies: all still there
    assert temporaries(organized) == [] and not (organized / STAGING).exists()
    subprocess.run(["mount", "-o", "remount,size=16m", str(small_disk)], check=True)
    again = alice(*args, env_extra=workers)
    assert again.returncode == 0, again.stderr
    assert sorted(hashes_under(organized)) == sorted(originals.values())
    assert temporaries(organized) == [] and not (organized / STAGING).exists()


def test_a_real_full_disk_under_the_database_and_the_organized_folder(
        tmp_path: Path, small_disk: Path | None) -> None:
    if small_disk is None:
        return
    subprocess.run(["mount", "-o", "remount,size=3m", str(small_disk)], check=True)
    inbox, organized, database = tmp_path / "in", small_disk / "organized", small_disk / "l.duckdb"
    originals = noise_pngs(inbox, 40, side=160)  # ~3 MB, plus the index and its thumbnails
    args = ("--inbox", str(inbox), "--organized", str(organized), "--database", str(database),
            "--move")
    run = alice(*args)
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr and "ExceptionGroup" not in run.stderr, run.stderr
    last = (run.stderr.strip().splitlines() or [""])[-1]
    assert last.startswith("alice: the disk holding ") and " is full" in last, run.stderr
    assert "Free some space" in last and "Nothing was lost" in last
    assert sorted(hashes_under(organized) + hashes_under(inbox)) == sorted(originals.values())
    subprocess.run(["mount", "-o", "remount,size=32m", str(small_disk)], check=True)
    again = alice(*args)
    assert again.returncode == 0, again.stderr
    assert sorted(hashes_under(organized)) == sorted(originals.values())
    assert hashes_under(inbox) == [] and temporaries(organized) == []
    with duckdb.connect(str(database), read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM journal").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM files WHERE role = 'organized'").fetchone() \
            == (40,)
