"""Peak memory of the real `alice` command organizing a corpus, under each performance profile.

Each run is a fresh process (`python -m alice_mcp --profile P --inbox ... --organized ...`)
with a fresh database and organized folder. Its peak resident set size is the kernel's
high-water mark of the process (VmHWM in /proc/PID/status), read every 20 ms until it exits.
(ru_maxrss from wait4 cannot be used: Linux records the forking parent's RSS there at exec.)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from alice_mcp.config import known_profiles
from bench.corpus import Corpus
from bench.report import Row, memory_row, rate_row
from bench.timing import summarize

TARGETS_MB = {"memory_constrained": 250, "default": 600}


@dataclass(frozen=True, slots=True)
class OrganizeRun:
    """One `alice` organize process: what it took and where it left its library."""

    profile: str
    peak_rss: int  # bytes
    seconds: float
    database: Path
    organized: Path
    report: dict


def config_file(workdir: Path) -> Path:
    """An empty settings file, so no user or working-folder settings leak into the runs."""
    path = workdir / "settings.yaml"
    path.write_text("paths: {}\n", "utf-8")
    return path


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("ALICE_")}


def organize_cli(profile: str, corpus: Corpus, workdir: Path, tag: str = "") -> OrganizeRun:
    """Run `alice` once on the corpus with a fresh library; raise if it fails."""
    run_dir = workdir / f"organize-{profile}{tag}"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    database, organized = run_dir / "library.duckdb", run_dir / "organized"
    args = [sys.executable, "-m", "alice_mcp", "--config", str(config_file(workdir)),
            "--profile", profile, "--inbox", str(corpus.inbox), "--organized", str(organized),
            "--database", str(database), "--json", "-q"]
    started = time.perf_counter()
    with open(run_dir / "stdout.json", "wb") as out, open(run_dir / "stderr.log", "wb") as err:
        proc = subprocess.Popen(args, stdout=out, stderr=err, cwd=workdir, env=clean_env())
        peak = _watch_peak(proc)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"alice --profile {profile} exited {proc.returncode}: "
                           f"{(run_dir / 'stderr.log').read_text()[-2000:]}")
    report = json.loads((run_dir / "stdout.json").read_text() or "{}")
    return OrganizeRun(profile, peak, seconds, database, organized, report)


def _high_water(pid: int) -> int:
    """VmHWM of a live process in bytes (0 if it is gone or not yet exec'd into Python)."""
    return _status_bytes(pid, "VmHWM:")


def _resident(pid: int) -> int:
    """VmRSS of a live process in bytes (0 if it is gone)."""
    return _status_bytes(pid, "VmRSS:")


def _status_bytes(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    """Every live process below pid (performance.executor: processes: the forkserver and the
    indexing workers)."""
    found, todo = [], [pid]
    while todo:
        try:
            children = Path(f"/proc/{todo.pop()}/task").glob("*/children")
            kids = [int(k) for c in children for k in c.read_text().split()]
        except (OSError, ValueError):
            continue
        found += kids
        todo += kids
    return found


def _watch_peak(proc: subprocess.Popen[bytes]) -> int:
    """The peak RSS of proc's program with its worker processes, polled until it exits: the
    program's high-water mark plus its descendants' RSS at the same moment (pages the workers
    share with their forkserver are counted in each: an upper bound)."""
    peak = 0
    while proc.poll() is None:
        try:
            with open(f"/proc/{proc.pid}/cmdline", "rb") as f:
                running_python = b"alice_mcp" in f.read()
        except OSError:
            running_python = False
        if running_python:  # after exec: the high-water mark is the new program's own
            peak = max(peak, _high_water(proc.pid)
                       + sum(_resident(p) for p in _descendants(proc.pid)))
        time.sleep(0.02)
    return peak


def measure(corpus: Corpus, workdir: Path, profiles: list[str] | None = None,
            keep: str = "default") -> tuple[list[Row], OrganizeRun | None]:
    """Rows: peak RSS per profile (and end-to-end organize files/s); the `keep` run is returned
    with its library left in place (for the rescan row), the others' folders are removed."""
    rows, kept = [], None
    n = len(corpus.files)
    for profile in profiles or known_profiles():
        run = organize_cli(profile, corpus, workdir)
        organized = run.report.get("organized", 0) + run.report.get("duplicates", 0)
        if organized != n:
            raise RuntimeError(f"{profile}: organized {organized} of {n} files: {run.report}")
        target = TARGETS_MB.get(profile)
        rows.append(memory_row(
            f"memory.{profile}", f"peak RSS, `alice` organizing {n:,} files, profile {profile}",
            summarize([run.peak_rss]), target_bytes=target * 2**20 if target else None))
        rows.append(rate_row(
            f"organize.{profile}", f"organize end to end (process start, scan, index, copy "
            f"with fsync, commit), profile {profile}", summarize([n / run.seconds]),
            note=f"{corpus.bytes / 2**30:.1f} GB"))
        if profile == keep:
            kept = run
        else:
            shutil.rmtree(run.organized.parent, ignore_errors=True)
    return rows, kept
