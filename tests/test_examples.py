"""The examples stay runnable: the sample inbox generator and the scripted MCP session."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_make_inbox_then_scripted_mcp_session(tmp_path: Path) -> None:
    made = subprocess.run([sys.executable, str(EXAMPLES / "make_inbox.py"), str(tmp_path / "in"),
                           "--count", "10"], capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    assert len([p for p in (tmp_path / "in").rglob("*") if p.is_file()]) == 10
    thumb = tmp_path / "thumb.jpg"
    run = subprocess.run([sys.executable, str(EXAMPLES / "mcp_session.py"), "--inbox",
                          str(tmp_path / "in"), "--organized", str(tmp_path / "out"),
                          "--database", str(tmp_path / "l.duckdb"), "--save-thumbnail",
                          str(thumb)], capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr
    assert "organized 9" in run.stdout and "tagged: 1 tag added" in run.stdout
    assert thumb.read_bytes()[:2] == b"\xff\xd8"


def test_example_settings_file_is_valid(tmp_path: Path) -> None:
    from alice_mcp.config import load_settings

    loaded = load_settings(EXAMPLES / "settings.yaml")
    assert loaded.profile == "default"
    assert loaded.settings.paths.inbox is not None
