"""The layout rules of issue 15 kept true: only store/ talks to DuckDB, imports run downward
(nothing below library/ imports it or a face), a module over 400 lines says why at its top,
and importing the package starts no thread."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import alice_mcp

PACKAGE = Path(alice_mcp.__file__).parent
FACES = ("cli.py", "commands.py", "server.py", "__main__.py")  # commands.py: the CLI's handlers
MAX_LINES = 400


def _modules() -> dict[str, str]:
    """Each module's path inside the package (posix) -> its text."""
    return {p.relative_to(PACKAGE).as_posix(): p.read_text("utf-8")
            for p in sorted(PACKAGE.rglob("*.py"))}


def test_only_the_store_imports_duckdb_or_runs_sql() -> None:
    # the acceptance check: grep -rl "import duckdb\|\.execute(" alice_mcp | grep -v store/
    leaks = [name for name, text in _modules().items()
             if not name.startswith("store/") and re.search(r"import duckdb|\.execute\(", text)]
    assert leaks == []


def test_imports_run_downward() -> None:
    upward = re.compile(r"^\s*(from alice_mcp(\.library|\.server|\.cli)\b|"
                        r"from alice_mcp import .*\b(library|server|cli)\b|"
                        r"import alice_mcp\.(library|server|cli)\b)", re.MULTILINE)
    below = {name: text for name, text in _modules().items()
             if not name.startswith("library/") and name not in FACES}
    assert [name for name, text in below.items() if upward.search(text)] == []


def test_a_module_over_400_lines_says_why_at_its_top() -> None:
    silent = []
    for name, text in _modules().items():
        if text.count("\n") <= MAX_LINES:
            continue
        head = text.split('"""', 2)[1] if text.startswith('"""') else ""
        if f"{MAX_LINES} lines" not in head:
            silent.append(name)
    assert silent == []


def test_importing_the_package_starts_no_thread() -> None:
    code = ("import threading, alice_mcp.store.assets, alice_mcp.store.db, "
            "alice_mcp.store.writer, alice_mcp.library, alice_mcp.server, alice_mcp.cli; "
            "print(threading.active_count())")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True)
    assert run.stdout.strip() == "1"
