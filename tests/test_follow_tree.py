"""The library follows the organized tree: a file changed in place there is a new asset and the
former one is missing; a watching server follows moves, renames, removals and changes made by
hand while it runs, on every pass. Real files, a real DuckDB file, a real `alice mcp-server`."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

from alice_mcp import samples
from alice_mcp.library import Library

pytestmark = pytest.mark.anyio


def _rewrite(path: Path, prompt: str, seed: int) -> None:
    """Other bytes at the same path (an editor saving over it), dated a moment ago so that
    even a coarse clock records another mtime."""
    samples.write_a1111_png(path, prompt=prompt, seed=seed)
    before = time.time_ns() - 10_000_000_000
    os.utime(path, ns=(before, before))


async def test_a_file_changed_in_place_is_a_new_asset_and_the_former_one_missing(
        library: Library, inbox: Path, organized: Path) -> None:
    samples.write_a1111_png(inbox / "a.png", prompt="a knight", seed=1)
    samples.write_a1111_png(inbox / "b.png", prompt="a queen", seed=2)
    await library.organize()
    knight = (await library.search("knight")).results[0]
    await library.tag([knight.asset_id], ["hero"])
    path = Path(knight.path or "")
    assert path.is_relative_to(organized)

    _rewrite(path, "a dragon", 3)
    report = await library.organize()

    assert report.indexed_in_place == 1 and report.missing == [str(path)]
    dragon = (await library.search("dragon")).results
    assert [(h.path, h.missing) for h in dragon] == [(str(path), False)]
    assert (await library.search("knight")).results == []  # missing: hidden by default
    lost = (await library.search("knight missing:true")).results
    assert [(h.asset_id, h.missing, h.tags) for h in lost] == [(knight.asset_id, True, ["hero"])]
    assert (await library.stats()).missing == 1
    # the inbox still holds the knight's bytes, but it is not placed again over the tree
    again = await library.organize()
    assert again.organized == 0 and again.missing == [] and again.indexed_in_place == 0
    assert len([p for p in organized.rglob("*.png")]) == 2


def _server(tmp_path: Path) -> StdioServerParameters:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALICE_")}
    env.update({"ALICE_PATHS__INBOX": str(tmp_path / "inbox"),
                "ALICE_PATHS__ORGANIZED": str(tmp_path / "organized"),
                "ALICE_PATHS__DATABASE": str(tmp_path / "lib.duckdb"),
                "ALICE_SERVER__WATCH_SETTLE_SECONDS": "0.4"})
    return StdioServerParameters(command=sys.executable,
                                 args=["-m", "alice_mcp", "mcp-server", "--watch"], env=env)


async def _search(client: Client, query: str) -> dict[str, Any]:
    return (await client.call_tool("search", {"query": query})).structured_content


async def _until(client: Client, query: str, want: Any, seconds: float = 30) -> dict[str, Any]:
    """Poll search until want(page) holds (the watcher works in the background)."""
    with anyio.fail_after(seconds):
        while not want(page := await _search(client, query)):
            await anyio.sleep(0.3)
    return page


@pytest.mark.skipif(sys.platform == "win32", reason="renames files a running server watches")
async def test_a_watching_server_follows_the_tree_on_every_pass(tmp_path: Path) -> None:
    inbox, organized = tmp_path / "inbox", tmp_path / "organized"
    inbox.mkdir()
    async with Client(_server(tmp_path)) as client:
        for n, word in enumerate(("knight", "queen", "bishop", "rook")):
            samples.write_a1111_png(inbox / f"{word}.png", prompt=f"a {word}", seed=n)
        await _until(client, "", lambda p: p["total"] == 4)
        at = {w: Path((await _search(client, w))["results"][0]["path"])
              for w in ("knight", "queen", "bishop", "rook")}
        knight = (await _search(client, "knight"))["results"][0]["asset_id"]
        await client.call_tool("tag", {"asset_ids": [knight], "add": ["hero"]})
        await anyio.sleep(0.5)  # after the first run: only a later pass can see these

        renamed = at["knight"].with_name("renamed-knight.png")
        at["knight"].rename(renamed)
        moved = organized / "by-hand" / "queen.png"
        moved.parent.mkdir()
        at["queen"].rename(moved)
        at["bishop"].unlink()
        _rewrite(at["rook"], "a dragon", 9)

        await _until(client, "knight", lambda p: [r["path"] for r in p["results"]]
                     == [str(renamed)])
        await _until(client, "queen", lambda p: [r["path"] for r in p["results"]] == [str(moved)])
        gone = await _until(client, "missing:true", lambda p: p["total"] == 2)
        assert sorted(r["path"] for r in gone["results"]) == sorted(
            [str(at["bishop"]), str(at["rook"])])
        dragon = await _until(client, "dragon", lambda p: p["total"] == 1)
        assert dragon["results"][0]["path"] == str(at["rook"])
        assert (await _search(client, "knight"))["results"][0]["tags"] == ["hero"]
        assert (await client.call_tool("stats", {})).structured_content["missing"] == 2
