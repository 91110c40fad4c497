"""SIGKILL organize at random moments, many times; a rerun must leave every file exactly once,
byte-identical, no temporary files, and an index that agrees with the disk.

ALICE_KILL_ROUNDS sets the number of kills per mode (default: 30 copy + 20 move = 50);
`make stress` runs more.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from alice_mcp import samples
from alice_mcp.pipeline.place import DUPLICATES, TEMP_SUFFIX
from alice_mcp.pipeline.staging import STAGING
from alice_mcp.store.db import Database

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX-only")
ROUNDS = int(os.environ.get("ALICE_KILL_ROUNDS", "0"))


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def _command(tmp_path: Path, move: bool) -> list[str]:
    return [sys.executable, "-m", "alice_mcp", "--inbox", str(tmp_path / "inbox"),
            "--organized", str(tmp_path / "organized"), "--database", str(tmp_path / "l.duckdb"),
            "--batch-size", "15", *(["--move"] if move else [])]


def _env(executor: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALICE_")}
    env["ALICE_PERFORMANCE__TRANSACTION_SIZE"] = "40"  # many commits: more places to die
    env["ALICE_PERFORMANCE__EXECUTOR"] = executor
    if executor == "processes":  # they stage copies in the organized tree (staging.py): a
        env["ALICE_PERFORMANCE__PARALLEL_THRESHOLD"] = "2"  # kill leaves them for the next run
    return env


def _kill_repeatedly(tmp_path: Path, move: bool, executor: str, rounds: int,
                     rng: random.Random, written: Counter[str]) -> tuple[int, int]:
    """Each round new files arrive (as they do), a run starts, and is killed at a random moment:
    mostly a moment after it starts placing files, sometimes earlier (recovery, scan).
    Returns the kills, and how many staged copies the killed runs left.

    The moment after "Processing" is drawn from a window that shrinks to the length of a run
    that finished before its kill, so a faster machine or pipeline still gets killed mid-way."""
    kills, staged, window = 0, 0, 0.6
    for number in range(rounds):
        arrived = samples.make_sample_inbox(tmp_path / "inbox" / f"arrivals-{number}", count=20,
                                            seed=10_000 + number)
        written.update(_digest(p) for p in arrived)
        proc = subprocess.Popen(_command(tmp_path, move), env=_env(executor),
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        processing = None
        if rng.random() < 0.2:
            time.sleep(rng.uniform(0.2, 1.5))
        else:
            assert proc.stderr is not None
            for line in proc.stderr:
                if "Processing" in line:
                    processing = time.monotonic()
                    break
            time.sleep(rng.uniform(0.0, window))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        elif processing is not None:
            window = max(0.05, 0.9 * (time.monotonic() - processing))
        proc.communicate()
        staged += len(_files(tmp_path / "organized" / STAGING))
    return kills, staged


@pytest.mark.parametrize(("move", "executor", "default_rounds"), [
    (False, "processes", 30), (True, "processes", 20), (False, "local", 20)])
def test_organize_survives_sigkill(tmp_path: Path, move: bool, executor: str,
                                   default_rounds: int) -> None:
    inbox, organized = tmp_path / "inbox", tmp_path / "organized"
    originals = Counter(_digest(p) for p in samples.make_sample_inbox(inbox, count=200, seed=99))
    rng = random.Random(1234 + move)
    kills, staged = _kill_repeatedly(tmp_path, move, executor, ROUNDS or default_rounds, rng,
                                     originals)
    assert kills >= (ROUNDS or default_rounds) * 0.6, f"only {kills} runs were killed mid-way"
    if executor == "processes" and not move:  # a move links the source itself: no copies
        assert staged > 0, "no kill left a staged copy behind"

    final = subprocess.run(_command(tmp_path, move), env=_env(executor), capture_output=True,
                           text=True, timeout=300)
    assert final.returncode == 0, final.stderr

    duplicates = organized / DUPLICATES
    placed = Counter(_digest(p) for p in _files(organized) if not p.is_relative_to(duplicates))
    moved_aside = Counter(_digest(p) for p in _files(duplicates))
    left = Counter(_digest(p) for p in _files(inbox))
    assert set(placed) == set(originals), "a file is missing from the organized tree"
    assert all(n == 1 for n in placed.values()), "a file was organized twice"
    if move:
        # the extra copies of organized files went to _duplicates/: the inbox is empty, and
        # every byte written to it exists once in the organized tree
        assert not left and placed + moved_aside == originals
    else:
        assert not moved_aside
        assert left == originals, "an inbox file changed or disappeared"
    everything = _files(tmp_path)
    assert not [p for p in everything if p.name.endswith(TEMP_SUFFIX)], "temporary file left"
    assert not (organized / STAGING).exists()

    db = Database(tmp_path / "l.duckdb", read_only=True)
    try:
        recorded = {p for (p,) in db.fetchall("SELECT path FROM files WHERE role='organized'")}
        inbox_rows = {p for (p,) in db.fetchall("SELECT path FROM files WHERE role='inbox'")}
        journal = db.fetchall("SELECT count(*) FROM journal")[0][0]
        orphans = db.fetchall("SELECT count(*) FROM files ANTI JOIN assets USING (asset_id)")[0][0]
        wrong = [p for p, a in db.fetchall("SELECT path, asset_id FROM files WHERE role = "
                                           "'organized'") if not _asset_matches(Path(p), a)]
    finally:
        db.close()
    assert recorded == {str(p) for p in _files(organized)}
    assert inbox_rows == {str(p) for p in _files(inbox)}
    assert journal == 0 and orphans == 0 and wrong == []


def _asset_matches(path: Path, asset_id: str) -> bool:
    from alice_mcp.media.probe import hash_file

    return hash_file(path) == asset_id
