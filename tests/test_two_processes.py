"""Two alice processes on one library: the MCP server and an `alice` command in a terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters

from alice_mcp import samples

pytestmark = pytest.mark.anyio


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALICE_")}
    env.update({"ALICE_PATHS__INBOX": str(tmp_path / "inbox"),
                "ALICE_PATHS__ORGANIZED": str(tmp_path / "organized"),
                "ALICE_PATHS__DATABASE": str(tmp_path / "lib.duckdb"), **extra})
    return env


def _server(tmp_path: Path, **extra: str) -> Client:
    return Client(StdioServerParameters(command=sys.executable,
                                        args=["-m", "alice_mcp", "mcp-server"],
                                        env=_env(tmp_path, **extra), cwd=str(tmp_path)))


async def _alice(tmp_path: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    done = await anyio.run_process([sys.executable, "-m", "alice_mcp", *args],
                                   env=_env(tmp_path, **extra), check=False)
    return subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode(),
                                       done.stderr.decode())


async def test_server_and_terminal_command_both_work(tmp_path: Path) -> None:
    samples.make_sample_inbox(tmp_path / "inbox", count=10, seed=2)
    async with _server(tmp_path, ALICE_SERVER__IDLE_RELEASE_SECONDS="0.5") as client:
        report = (await client.call_tool("organize", {})).structured_content
        assert report["organized"] == 9
        # the terminal command waits (bounded) until the idle server lets go of the file
        found = await _alice(tmp_path, "search", "--json")
        assert found.returncode == 0, found.stderr
        assert json.loads(found.stdout)["total"] == 9
        tagged = await _alice(tmp_path, "tag", json.loads(found.stdout)["results"][0]["asset_id"],
                              "--add", "from-terminal")
        assert tagged.returncode == 0, tagged.stderr
        # ... and the server sees the terminal's write on its next call
        hits = (await client.call_tool("search", {"tags_all": ["from-terminal"]})
                ).structured_content
        assert hits["total"] == 1


async def test_a_busy_library_is_a_clear_tool_error(tmp_path: Path) -> None:
    samples.make_sample_inbox(tmp_path / "inbox", count=4, seed=2)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
         "print('ready', flush=True); time.sleep(60)", str(tmp_path / "lib.duckdb")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        async with _server(tmp_path, ALICE_SERVER__LOCK_TIMEOUT_SECONDS="0.5") as client:
            result = await client.call_tool("search", {})
            assert result.is_error
            text = result.content[0].text
            assert f"PID {holder.pid}" in text and "try again" in text
        busy = await _alice(tmp_path, "search", ALICE_SERVER__LOCK_TIMEOUT_SECONDS="0.3")
        assert busy.returncode == 3
        assert f"PID {holder.pid}" in busy.stderr
    finally:
        holder.kill()
        holder.wait()
