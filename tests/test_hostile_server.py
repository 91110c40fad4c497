"""The MCP server over real stdio keeps answering while hostile files are in its roots."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters

from tests.test_hostile_parsers import HOSTILE

pytestmark = [pytest.mark.anyio,
              pytest.mark.skipif(sys.platform == "win32", reason="FIFOs are POSIX-only")]


def _server(tmp_path: Path) -> Client:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALICE_")}
    env.update({"ALICE_PATHS__INBOX": str(tmp_path / "inbox"),
                "ALICE_PATHS__ORGANIZED": str(tmp_path / "organized"),
                "ALICE_PATHS__DATABASE": str(tmp_path / "lib.duckdb")})
    return Client(StdioServerParameters(command=sys.executable,
                                        args=["-m", "alice_mcp", "mcp-server"], env=env,
                                        cwd=str(tmp_path)), mode="legacy")  # ping: legacy only


async def test_fifo_paths_are_refused_and_the_server_keeps_answering(tmp_path: Path) -> None:
    (tmp_path / "inbox").mkdir()
    fifo = tmp_path / "inbox" / "pipe.png"
    os.mkfifo(fifo)
    async with _server(tmp_path) as client:
        with anyio.fail_after(30):
            for _ in range(50):
                result = await client.call_tool("find_similar", {"path": str(fifo)})
                assert result.is_error
                assert "not a regular file" in result.content[0].text
            await client.send_ping()
            assert not (await client.call_tool("stats", {})).is_error


async def test_ping_answers_while_hostile_files_are_organized(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for number, (make, ext) in enumerate(HOSTILE.values()):
        (inbox / f"hostile-{number}{ext}").write_bytes(make())
    async with _server(tmp_path) as client:
        slowest = 0.0
        report: dict = {}

        async def organize() -> None:
            report.update((await client.call_tool("organize", {})).structured_content or {})

        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                tg.start_soon(organize)
                while not report:
                    started = time.perf_counter()
                    await client.send_ping()
                    slowest = max(slowest, time.perf_counter() - started)
                    await anyio.sleep(0.05)
        assert slowest < 1.0, f"ping took {slowest:.2f} s during organize"
        assert report["organized"] + len(report["errors"]) == len(HOSTILE)
