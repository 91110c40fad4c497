"""Start-up (issue 19): `alice --version` and `--help` answer without loading the Library or its
heavy dependencies, and an unchanged rescan loads none of the image readers. Real processes,
whose imports are read from Python's own `-X importtime` report; no timings are asserted
(bench/startup.py measures those)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from alice_mcp import __version__, samples
from alice_mcp.profile_files import known_profiles
from alice_mcp.store import query
from alice_mcp.store.sorts import SORTS

# what `--version` and `--help` must not import: the application and every heavy dependency
NOT_FOR_HELP = ("alice_mcp.commands", "alice_mcp.library", "alice_mcp.config", "duckdb",
                "numpy", "PIL", "rich", "pydantic", "pydantic_settings", "imagehash",
                "structlog", "anyio", "av", "httpx", "yaml")
# what a rescan that finds nothing new must not import: readers of new files, and rich
# (--json prints no table; the report lists a bare `rich` too: structlog's attempt, refused)
NOT_FOR_RESCAN = ("numpy", "PIL", "imagehash", "av", "httpx", "psutil", "rich.console",
                  "rich.traceback",
                  "alice_mcp.metadata",
                  "alice_mcp.media.pixels", "alice_mcp.embeddings.models",
                  "alice_mcp.understanding.service")
ENTRY_POINTS = {
    "script": [str(Path(sys.executable).with_name("alice"))],
    "module": [sys.executable, "-m", "alice_mcp"],
}


def run_importing(command: list[str], *args: str,
                  cwd: Path | None = None) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run a command with Python's import-time report on; the result and every module imported."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALICE_")}
    env["PYTHONPROFILEIMPORTTIME"] = "1"
    done = subprocess.run([*command, *args], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=120)
    modules = {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines()
               if line.startswith("import time:") and "|" in line}
    assert "alice_mcp.cli" in modules, done.stderr[-2000:]  # the report was read
    return done, modules


def loaded(modules: set[str], roots: tuple[str, ...]) -> list[str]:
    """The modules of the given packages (a root or anything below it) that were imported."""
    return sorted(m for m in modules if any(m == r or m.startswith(f"{r}.") for r in roots))


@pytest.fixture(params=sorted(ENTRY_POINTS))
def entry(request: pytest.FixtureRequest) -> list[str]:
    command = ENTRY_POINTS[request.param]
    if not Path(command[0]).is_file():
        pytest.skip(f"no {command[0]}: the package is not installed with its script here")
    return command


def test_version_loads_nothing_heavy(entry: list[str]) -> None:
    done, modules = run_importing(entry, "--version")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout == f"alice-mcp {__version__}\n"
    assert loaded(modules, NOT_FOR_HELP) == []


def test_help_loads_nothing_heavy_and_lists_every_command(entry: list[str]) -> None:
    done, modules = run_importing(entry, "--help")
    assert done.returncode == 0, done.stderr[-2000:]
    assert loaded(modules, NOT_FOR_HELP) == []
    text = " ".join(done.stdout.split())  # argparse wraps lines
    for command in ("profiles", "index", "inspect", "search", "stats", "tag", "sidecars",
                    "export", "similar", "duplicates", "keep", "show", "analyze", "embed",
                    "models", "mcp-server"):
        assert command in text, command
    assert "{" + ",".join(known_profiles()) + "}" in text  # --profile's choices, from the files


def test_search_help_lists_the_sort_keys_the_query_knows(entry: list[str]) -> None:
    done, modules = run_importing(entry, "search", "--help")
    assert done.returncode == 0, done.stderr[-2000:]
    assert loaded(modules, NOT_FOR_HELP) == []
    assert query.SORTS is SORTS  # one table: the parser's choices are the query's sort keys
    assert "{" + ",".join(SORTS) + "}" in " ".join(done.stdout.split())


def test_a_usage_error_still_exits_2_before_loading_anything(entry: list[str]) -> None:
    done, modules = run_importing(entry, "search", "--sort", "sideways")
    assert done.returncode == 2
    assert "invalid choice: 'sideways'" in done.stderr
    assert loaded(modules, NOT_FOR_HELP) == []


def test_unchanged_rescan_loads_no_image_reader(tmp_path: Path) -> None:
    inbox, organized, db = tmp_path / "in", tmp_path / "out", tmp_path / "lib.duckdb"
    samples.make_sample_inbox(inbox, count=8, seed=3)
    args = ("--inbox", str(inbox), "--organized", str(organized), "--database", str(db),
            "--json", "-q")
    first, modules = run_importing(ENTRY_POINTS["module"], *args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    placed = json.loads(first.stdout)["organized"]
    assert placed > 0
    assert {"numpy", "PIL", "alice_mcp.metadata"} <= modules  # new files: the readers ran

    again, modules = run_importing(ENTRY_POINTS["module"], *args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    report = json.loads(again.stdout)
    assert report["organized"] == 0 and report["unchanged"] >= placed
    assert report["errors"] == []
    assert loaded(modules, NOT_FOR_RESCAN) == []


def test_rendering_loads_rich_when_it_prints(tmp_path: Path) -> None:
    """rich is only deferred: without --json the report is still rendered with it."""
    inbox, organized, db = tmp_path / "in", tmp_path / "out", tmp_path / "lib.duckdb"
    samples.make_sample_inbox(inbox, count=3, seed=4)
    done, modules = run_importing(ENTRY_POINTS["module"], "--inbox", str(inbox),
                                  "--organized", str(organized), "--database", str(db), "-q",
                                  cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "rich.console" in modules and "rich.tree" in modules
    assert f"3 files found in {inbox}" in " ".join(done.stdout.split())


def test_a_program_ends_without_teardown_and_keeps_its_exit_work(tmp_path: Path) -> None:
    """Run as a program, alice ends with os._exit once its command is done (the interpreter's
    teardown cost ~0.1 s a command): the exit code, the whole report on stdout and the exit
    handlers (multiprocessing's, which removes the folder its worker processes' server used)
    are as at a normal exit."""
    inbox, organized, db = tmp_path / "in", tmp_path / "out", tmp_path / "lib.duckdb"
    temp = tmp_path / "tmp"
    temp.mkdir()
    samples.make_sample_inbox(inbox, count=6, seed=5)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALICE_")} | {
        "TMPDIR": str(temp), "ALICE_PERFORMANCE__EXECUTOR": "processes",
        "ALICE_PERFORMANCE__PARALLEL_THRESHOLD": "2"}
    done = subprocess.run([*ENTRY_POINTS["module"], "--inbox", str(inbox), "--organized",
                           str(organized), "--database", str(db), "--json", "-q"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["organized"] >= 2 and report["errors"] == [], report
    assert sorted(p.name for p in temp.iterdir()) == []


EXITING = """
import atexit, sys, threading, time
from alice_mcp.cli import _exit_without_teardown
atexit.register(print, "handler ran")
if sys.argv[1] == "busy":
    threading.Thread(target=time.sleep, args=(3,)).start()
print("done", end="")  # left in stdout's buffer: the exit flushes it
_exit_without_teardown(3)
print(" then exited normally")
"""


@pytest.mark.parametrize(("threads", "code", "out"), [
    ("idle", 3, "donehandler ran\n"),
    ("busy", 0, "done then exited normally\nhandler ran\n")])
def test_the_exit_without_teardown_does_the_exit_work_and_spares_busy_threads(
        threads: str, code: int, out: str) -> None:
    """Exit handlers run and stdout is flushed; a thread still working after the grace period
    gets the interpreter's normal exit, which waits for it."""
    done = subprocess.run([sys.executable, "-c", EXITING, threads], capture_output=True,
                          text=True, timeout=60)
    assert (done.returncode, done.stdout) == (code, out), done.stderr[-2000:]
