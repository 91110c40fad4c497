"""File names that are not UTF-8 (any bytes Linux allows) are stored, shown and found losslessly;
text from files reaches a terminal with its control characters escaped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from alice_mcp import samples

pytestmark = pytest.mark.skipif(sys.platform != "linux",
                                reason="only Linux file systems take names that are not UTF-8")
BAD = b"bad\xff\xfe\x80name.png"


def _alice(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALICE_")}
    env["ALICE_PATHS__LAYOUT"] = "{project}/{stem}-{seq:05d}{ext}"
    env["COLUMNS"] = "400"  # a wide table: the whole path on one line
    return subprocess.run(
        [sys.executable, "-m", "alice_mcp", *args, "--inbox", str(tmp_path / "inbox"),
         "--organized", str(tmp_path / "organized"), "--database", str(tmp_path / "l.duckdb")],
        env=env, capture_output=True, text=True, timeout=120, errors="surrogateescape")


def _bad_inbox(tmp_path: Path) -> bytes:
    made = samples.make_sample_inbox(tmp_path / "inbox", count=2, seed=3)
    for extra in made[1:]:
        extra.unlink()
    target = os.fsencode(tmp_path / "inbox") + b"/" + BAD
    os.rename(os.fsencode(made[0]), target)
    return target


@pytest.mark.parametrize("move", [False, True])
def test_a_name_that_is_not_utf8_round_trips(tmp_path: Path, move: bool) -> None:
    source = _bad_inbox(tmp_path)
    first = _alice(tmp_path, "--json", *(["--move"] if move else []))
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["organized"] == 1 and report["errors"] == []
    assert os.fsencode(report["placements"][0]["source"]) == source
    placed = os.fsencode(report["placements"][0]["destination"])
    assert os.path.isfile(placed) and b"\xff\xfe\x80" in placed
    assert os.path.exists(source) is not move
    if move:
        return  # journaled and moved; the rest is the same for both modes

    again = json.loads(_alice(tmp_path, "--json").stdout)
    assert again["organized"] == 0 and again["errors"] == []  # recorded: not re-hashed

    found = _alice(tmp_path, "search", "--json")
    assert found.returncode == 0, found.stderr
    hit = json.loads(found.stdout)["results"][0]
    assert os.fsencode(hit["path"]) == placed

    shown = _alice(tmp_path, "search")
    assert shown.returncode == 0, shown.stderr
    assert "\\xff\\xfe\\x80" in shown.stdout


def test_escape_sequences_in_metadata_are_escaped_in_the_terminal(tmp_path: Path) -> None:
    from PIL import Image, PngImagePlugin
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "evil \x1b[2J\x1b]8;;http://x\x07link [red]markup[/red]\n"
                  "Steps: 20, Sampler: Euler, Seed: 1, Size: 8x8")
    (tmp_path / "inbox").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "inbox" / "evil.png", pnginfo=info)
    shown = _alice(tmp_path, "inspect", str(tmp_path / "inbox" / "evil.png"))
    assert "\x1b" not in shown.stdout and "\x07" not in shown.stdout
    assert "\\x1b[2J" in shown.stdout and "[red]markup[/red]" in shown.stdout
    exact = _alice(tmp_path, "inspect", "--json", str(tmp_path / "inbox" / "evil.png"))
    assert "\x1b[2J" in json.loads(exact.stdout)["prompt"]

    assert _alice(tmp_path).returncode == 0  # organize it; then search and show print it
    found = _alice(tmp_path, "search", "--json")
    hit = json.loads(found.stdout)["results"][0]
    assert "\x1b[2J" in hit["prompt"]  # JSON keeps the text exact
    for shown in (_alice(tmp_path, "search"), _alice(tmp_path, "show", hit["asset_id"])):
        assert shown.returncode == 0, shown.stderr
        assert "\x1b" not in shown.stdout and "\x07" not in shown.stdout
        assert "\\x1b[2J" in shown.stdout


@pytest.mark.anyio
async def test_mcp_answers_with_a_printable_form_of_such_a_name(tmp_path: Path) -> None:
    from mcp import Client

    from alice_mcp.config import load_settings
    from alice_mcp.server import build_server
    _bad_inbox(tmp_path)
    settings = load_settings(flags={
        "paths.inbox": tmp_path / "inbox", "paths.organized": tmp_path / "organized",
        "paths.database": tmp_path / "l.duckdb",
        "paths.layout": "{project}/{stem}-{seq:05d}{ext}"}).settings
    async with Client(build_server(settings)) as client:
        done = await client.call_tool("organize", {})
        assert not done.is_error, done.content
        assert done.structured_content["organized"] == 1
        found = await client.call_tool("search", {})
        assert not found.is_error, found.content
        assert "bad\\xff\\xfe\\x80name" in found.structured_content["results"][0]["path"]
