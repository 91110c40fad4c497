"""MCP `organize` writes only into the organized folder and takes files only from the inbox, or
from an extra root marked `mode: write`; plain extra roots are read-only."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client

from alice_mcp import samples
from alice_mcp.config import load_settings
from alice_mcp.server import build_server

pytestmark = pytest.mark.anyio


def _settings(tmp_path: Path, extra: list) -> object:
    return load_settings(flags={"paths.inbox": tmp_path / "inbox",
                                "paths.organized": tmp_path / "organized",
                                "paths.database": tmp_path / "lib.duckdb",
                                "paths.extra_roots": extra}).settings


async def test_organize_into_or_out_of_a_read_only_extra_root_is_refused(tmp_path: Path) -> None:
    (tmp_path / "inbox").mkdir()
    shelf = tmp_path / "shelf"
    kept = samples.make_sample_inbox(shelf, count=3, seed=4)
    async with Client(build_server(_settings(tmp_path, [str(shelf)]))) as client:
        out = await client.call_tool("organize", {"inbox": str(shelf), "move": True})
        assert out.is_error
        assert "may not take files from" in out.content[0].text
        assert "mode: write" in out.content[0].text
        into = await client.call_tool("organize", {"organized": str(shelf / "sorted")})
        assert into.is_error and "may not write into" in into.content[0].text
    assert all(p.exists() for p in kept) and not (shelf / "sorted").exists()


async def test_an_extra_root_marked_writable_may_be_organized(tmp_path: Path) -> None:
    (tmp_path / "inbox").mkdir()
    drop = tmp_path / "drop"
    samples.make_sample_inbox(drop, count=3, seed=4)
    settings = _settings(tmp_path, [{"path": str(drop), "mode": "write"}])
    async with Client(build_server(settings)) as client:
        done = await client.call_tool("organize", {"inbox": str(drop)})
        assert not done.is_error, done.content
        assert done.structured_content["organized"] == 2
