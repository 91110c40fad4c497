"""What the terminal face prints when its output is piped: whole keys, JSON, no tracebacks."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

from alice_mcp import samples

ALICE = f"{shlex.quote(sys.executable)} -m alice_mcp"


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("ALICE_")}


def test_profiles_piped_to_grep_shows_whole_keys(tmp_path: Path) -> None:
    run = subprocess.run(f"{ALICE} profiles | grep max_memory_cache_mb", shell=True,
                         capture_output=True, text=True, env=_env(), cwd=tmp_path, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "performance.max_memory_cache_mb = 512  # profile default (" \
        + run.stdout.split("(", 1)[1].strip()
    every = subprocess.run(f"{ALICE} profiles", shell=True, capture_output=True, text=True,
                           env=_env(), cwd=tmp_path, timeout=60).stdout
    assert "…" not in every and "store.lock_timeout_seconds = 10.0  # built-in default" in every


def test_profiles_json(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "alice_mcp", "profiles", "--json"],
                         capture_output=True, text=True, env=_env(), cwd=tmp_path, timeout=60)
    data = json.loads(run.stdout)
    keys = {row["key"]: row for row in data["settings"]}
    assert keys["performance.max_memory_cache_mb"]["value"] == 512
    assert keys["media.thumbnail_size"]["origin"] == "built-in default"


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    inbox, db = tmp_path / "in", tmp_path / "lib.duckdb"
    samples.make_sample_inbox(inbox, count=3, seed=2)
    base = [sys.executable, "-m", "alice_mcp", "--database", str(db)]
    subprocess.run([*base, "--inbox", str(inbox), "--organized", str(tmp_path / "out"), "-q"],
                   check=True, env=_env(), timeout=120)
    head = subprocess.run(f"{shlex.join(base)} search --json | head -1", shell=True,
                          capture_output=True, text=True, env=_env(), timeout=60)
    assert head.stdout == "{\n" and head.stderr == ""
    # the reader is gone before alice writes a byte
    proc = subprocess.Popen([*base, "search", "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=_env())
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0
    assert "Traceback" not in err and "BrokenPipe" not in err, err


def test_an_analysis_error_from_a_provider_reaches_the_terminal_escaped(capsys) -> None:
    """A provider's reason (it may quote what a model answered) is printed like file text."""
    from alice_mcp import display
    from alice_mcp.results import AnalyzeReport, FileProblem
    report = AnalyzeReport(provider="openai", model="m", errors=[
        FileProblem(path="0123456789abcdef0123", reason="bad answer: \x1b[2J\x1b]8;;http://x\x07")])
    display.analysis(report)
    shown = capsys.readouterr().out
    assert "\x1b" not in shown and "\x07" not in shown and "\\x1b[2J" in shown
