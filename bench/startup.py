"""Start-up as the user meets it: `alice --version`, `alice --help` and an unchanged rescan, each a
whole process from exec to exit (issue 19, deliverable 1).

The command is the installed `alice` script next to the interpreter (what a user types), else
`python -m alice_mcp`. The rescan row organizes the corpus once into a fresh library, then times
the same command again with nothing changed: process start, imports, settings, opening DuckDB,
one stat a file, one index query, the report.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from bench.corpus import Corpus
from bench.memory import clean_env, config_file, organize_cli
from bench.report import Row, time_row
from bench.timing import summarize

TARGETS = {"version": 0.15, "help": 0.3, "rescan": 0.5}  # seconds, issue 19


def alice_command() -> list[str]:
    """The `alice` console script beside this interpreter, else `python -m alice_mcp`."""
    script = Path(sys.executable).with_name("alice")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "alice_mcp"]


def time_process(args: list[str], workdir: Path, repeats: int,
                 check: bool = True) -> tuple[list[float], str]:
    """Wall seconds of each run of args (one untimed warm-up first); the last run's stdout."""
    times, _, out = time_process_cpu(args, workdir, repeats, check)
    return times, out


def time_process_cpu(args: list[str], workdir: Path, repeats: int,
                     check: bool = True) -> tuple[list[float], list[float], str]:
    """Wall seconds and CPU seconds (user + system of the child; none where the resource
    module is missing, on Windows) of each run of args, and the last run's stdout."""
    times: list[float] = []
    cpu: list[float] = []
    out = ""
    for i in range(repeats + 1):
        before = children_cpu()
        started = time.perf_counter()
        done = subprocess.run(args, cwd=workdir, env=clean_env(), capture_output=True,
                              text=True, check=False)
        took = time.perf_counter() - started
        used = children_cpu()
        if check and done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} exited {done.returncode}: {done.stderr[-2000:]}")
        if i:
            times.append(took)
            if used is not None and before is not None:
                cpu.append(used - before)
        out = done.stdout
    return times, cpu, out


def children_cpu() -> float | None:
    """User + system seconds of this process's waited-for children so far."""
    try:
        import resource
    except ImportError:
        return None
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(corpus: Corpus, workdir: Path, repeats: int) -> list[Row]:
    """Rows: --version, --help and an unchanged rescan of the corpus, as whole processes."""
    alice = alice_command()
    rows = []
    for flag in ("version", "help"):
        seconds, out = time_process([*alice, f"--{flag}"], workdir, repeats)
        if "alice" not in out:
            raise RuntimeError(f"`alice --{flag}` printed {out[:200]!r}")
        rows.append(time_row(f"startup.{flag}", f"`alice --{flag}`, a whole process",
                             summarize(seconds), target_seconds=TARGETS[flag]))
    run = organize_cli("default", corpus, workdir, tag="-startup")
    args = [*alice, "--config", str(config_file(workdir)), "--inbox", str(corpus.inbox),
            "--organized", str(run.organized), "--database", str(run.database), "--json", "-q"]
    seconds, cpu, out = time_process_cpu(args, workdir, repeats)
    report = json.loads(out)
    if report["unchanged"] != len(corpus.files) or report["organized"]:
        raise RuntimeError(f"the rescan was not of an unchanged library: {out[:2000]}")
    rows.append(time_row(
        "startup.rescan", f"`alice` rescan of an unchanged library of {len(corpus.files):,} "
        "files, a whole process (start-up, settings, DuckDB, one stat a file)",
        summarize(seconds), target_seconds=TARGETS["rescan"]))
    if cpu:  # steadier than wall time where other work shares the cores
        rows.append(time_row(
            "startup.rescan_cpu", "the same rescan's CPU time (user + system of the process)",
            summarize(cpu)))
    return rows
