"""Ctrl-C is heard while organize reads hostile text (once, the A1111 split held the GIL for
hours and SIGINT was ignored): the run stops with the interrupted exit code, and a rerun
organizes every file exactly once."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import psutil
import pytest
from PIL import Image, PngImagePlugin

from alice_mcp.errors import EXIT_INTERRUPTED
from alice_mcp.media.probe import hash_file

FILES = 300


def _letters_png(path: Path, number: int) -> None:
    """The 212 KB PNG of the issue: 200,000 letters `a` as its `parameters` text."""
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a" * 200_000 + f" {number}")
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (number % 256, number // 256, 7)).save(out, "PNG", pnginfo=info)
    path.write_bytes(out.getvalue())


def _alice(tmp_path: Path, start_new_session: bool = False,
           executor: str = "processes") -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALICE_")}
    env["ALICE_PERFORMANCE__BATCH_SIZE"] = "8"
    env["ALICE_PERFORMANCE__EXECUTOR"] = executor
    return subprocess.Popen(
        [sys.executable, "-m", "alice_mcp", "--inbox", str(tmp_path / "inbox"), "--organized",
         str(tmp_path / "organized"), "--database", str(tmp_path / "l.duckdb")],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        start_new_session=start_new_session)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child is POSIX-only")
def test_ctrl_c_stops_organize_on_hostile_text_and_a_rerun_finishes(tmp_path: Path) -> None:
    (tmp_path / "inbox").mkdir()
    for number in range(FILES):
        _letters_png(tmp_path / "inbox" / f"letters-{number:03d}.png", number)
    originals = Counter(hash_file(p) for p in (tmp_path / "inbox").iterdir())
    proc = _alice(tmp_path, executor="local")  # the text is split in this process's threads
    deadline = time.monotonic() + 60
    while not any((tmp_path / "organized").rglob("*.png")):  # mid-run: placing has begun
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, "nothing was placed within 60 s"
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)  # heard at once, not after the run
    placed = len(list((tmp_path / "organized").rglob("*.png")))
    if proc.returncode == 0:  # the run ended before the signal arrived: nothing to show
        pytest.skip(f"organize finished all {FILES} files before SIGINT arrived")
    assert proc.returncode == EXIT_INTERRUPTED, err
    assert "Traceback" not in err and "Run again to finish" in err
    assert placed < FILES

    rerun = _alice(tmp_path)
    _, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    organized = Counter(hash_file(p) for p in (tmp_path / "organized").rglob("*.png"))
    assert organized == originals


def _forkserver_of(pid: int) -> bool:
    try:
        return any("forkserver" in " ".join(child.cmdline())
                   for child in psutil.Process(pid).children())
    except psutil.Error:
        return False


@pytest.mark.skipif(sys.platform == "win32", reason="a process group's SIGINT is POSIX-only")
def test_ctrl_c_in_a_terminal_stops_the_workers_too_without_a_traceback(tmp_path: Path) -> None:
    """A terminal's Ctrl-C reaches the whole process group: alice, the forkserver of its worker
    processes (still importing the readers), the workers. The run stops with the interrupted
    exit code and one line (once: EOFError tracebacks from a forkserver killed mid-import), and
    a rerun organizes every file exactly once."""
    (tmp_path / "inbox").mkdir()
    for number in range(FILES):
        _letters_png(tmp_path / "inbox" / f"letters-{number:03d}.png", number)
    originals = Counter(hash_file(p) for p in (tmp_path / "inbox").iterdir())
    proc = _alice(tmp_path, start_new_session=True)
    deadline = time.monotonic() + 60
    while not _forkserver_of(proc.pid):  # just started: it is importing the readers
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1]
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode in (EXIT_INTERRUPTED, 0), err
    assert "Traceback" not in err and "EOFError" not in err, err
    rerun = _alice(tmp_path)
    _, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    organized = Counter(hash_file(p) for p in (tmp_path / "organized").rglob("*.png"))
    assert organized == originals
