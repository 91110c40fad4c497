"""One normaliser for tags on every path in and out: mixed case, repeated spaces and Unicode forms
are the same tag in the terminal and over MCP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from mcp import Client

from alice_mcp import samples
from alice_mcp.config import load_settings
from alice_mcp.server import build_server
from alice_mcp.store.tags import normalise_tag

DECOMPOSED = unicodedata.normalize("NFD", "Café  Noir")  # 'e' + combining acute accent
SPELLINGS = ['tag:"neon city"', 'tag:"NEON   CITY"', "tag:Neon\u00a0City"]


def test_the_normaliser() -> None:
    assert normalise_tag("Neon  City ") == normalise_tag("neon city") == "neon city"
    assert normalise_tag(DECOMPOSED) == normalise_tag("CAFÉ NOIR") == "café noir"
    assert DECOMPOSED != "Café  Noir" and len(normalise_tag(DECOMPOSED)) == len("café noir")


@pytest.fixture
def library(tmp_path: Path) -> tuple[Path, Path, Path]:
    inbox, organized, db = tmp_path / "in", tmp_path / "out", tmp_path / "lib.duckdb"
    samples.make_sample_inbox(inbox, count=4, seed=8)
    return inbox, organized, db


def _alice(paths: tuple[Path, Path, Path], *args: str) -> subprocess.CompletedProcess[str]:
    inbox, organized, db = paths
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALICE_")}
    return subprocess.run([sys.executable, "-m", "alice_mcp", *args, "--database", str(db),
                           "--inbox", str(inbox), "--organized", str(organized)],
                          capture_output=True, text=True, env=env, timeout=120)


def _ids(run: subprocess.CompletedProcess[str]) -> list[str]:
    assert run.returncode == 0, run.stderr
    return [r["asset_id"] for r in json.loads(run.stdout)["results"]]


def test_cli_tags_and_finds_any_spelling(library: tuple[Path, Path, Path]) -> None:
    assert _alice(library, "--quiet").returncode == 0
    first = _ids(_alice(library, "search", "--json", "--limit", "1"))[0]
    assert _alice(library, "tag", first, "--add", "Neon  City", "--add", DECOMPOSED).returncode == 0
    for spelling in SPELLINGS:
        assert _ids(_alice(library, "search", spelling, "--json")) == [first], spelling
    assert _ids(_alice(library, "search", "--tag", "NEON city", "--json")) == [first]
    assert _ids(_alice(library, "search", 'tag:"CAFÉ NOIR"', "--json")) == [first]
    assert _ids(_alice(library, "search", 'tag:"neon city" -tag:CAFÉ\u00a0noir', "--json")) == []
    shown = json.loads(_alice(library, "show", first, "--json").stdout)
    assert {"neon city", "café noir"} <= {t["tag"] for t in shown["tags"]}
    removed = _alice(library, "tag", first, "--remove", "NEON CITY")
    assert "-1 tags" in removed.stdout
    assert _ids(_alice(library, "search", 'tag:"neon city"', "--json")) == []


@pytest.mark.anyio
async def test_mcp_tags_and_finds_any_spelling(library: tuple[Path, Path, Path]) -> None:
    inbox, organized, db = library
    settings = load_settings(flags={"paths.inbox": inbox, "paths.organized": organized,
                                    "paths.database": db}).settings
    async with Client(build_server(settings)) as client:
        await client.call_tool("organize", {})
        first = (await client.call_tool("search", {"limit": 1})).structured_content
        asset_id = first["results"][0]["asset_id"]
        tagged = await client.call_tool("tag", {"asset_ids": [asset_id],
                                                "add": ["Neon  City", DECOMPOSED]})
        assert tagged.structured_content["added"] == 2

        async def found(**args: object) -> list[str]:
            page = (await client.call_tool("search", args)).structured_content
            return [r["asset_id"] for r in page["results"]]

        for spelling in SPELLINGS:
            assert await found(query=spelling) == [asset_id], spelling
        assert await found(tags_all=["NEON   city"]) == [asset_id]
        assert await found(tags_any=["café noir", "nothing"]) == [asset_id]
        assert asset_id not in await found(tags_none=["CAFÉ NOIR"])
        hit = first["results"][0]
        assert (await found(query='"neon  city"'))[:1] == [hit["asset_id"]]  # a free phrase too
