"""The terminal mirrors the MCP tools over the same core: tag, similar, duplicates, show, analyze."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from alice_mcp import samples


def _alice(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALICE_")}
    return subprocess.run([sys.executable, "-m", "alice_mcp", *args, "--database", str(db)],
                          capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture
def library(tmp_path: Path) -> tuple[Path, list[str]]:
    inbox, db = tmp_path / "in", tmp_path / "l.duckdb"
    samples.make_sample_inbox(inbox, count=10, seed=4)
    first = sorted(inbox.rglob("*.png"))[0]
    Image.open(first).convert("RGB").save(inbox / "resaved.jpg", quality=85)
    run = _alice(db, "--inbox", str(inbox), "--organized", str(tmp_path / "out"), "--quiet")
    assert run.returncode == 0, run.stderr
    page = json.loads(_alice(db, "search", "--json", "--limit", "100").stdout)
    return db, [r["asset_id"] for r in page["results"]]


def test_tag_then_search_by_tag(library: tuple[Path, list[str]]) -> None:
    db, ids = library
    done = _alice(db, "tag", ids[0][:8], ids[1], "--add", "Keeper", "--add", "ref")
    assert done.returncode == 0, done.stderr
    assert "2 assets: +4 -0 tags" in done.stdout
    found = json.loads(_alice(db, "search", "tag:keeper", "--json").stdout)
    assert sorted(r["asset_id"] for r in found["results"]) == sorted(ids[:2])
    removed = json.loads(_alice(db, "tag", ids[0], "--remove", "keeper", "--json").stdout)
    assert removed["removed"] == 1
    unknown = _alice(db, "tag", "ffffffffff", "--add", "x")
    assert unknown.returncode == 1 and "unknown: ffffffffff" in unknown.stdout


def test_show_similar_and_duplicates(library: tuple[Path, list[str]]) -> None:
    db, ids = library
    dupes = json.loads(_alice(db, "duplicates", "--max-distance", "4", "--json").stdout)
    assert dupes["total_groups"] >= 1
    pair = [a["asset_id"] for a in dupes["groups"][0]["assets"]]
    similar = json.loads(_alice(db, "similar", pair[0], "--max-distance", "4", "--json").stdout)
    assert pair[1] in [r["asset_id"] for r in similar["results"]]
    table = _alice(db, "similar", pair[0][:10])
    assert table.returncode == 0 and pair[1][:12] in table.stdout
    shown = json.loads(_alice(db, "show", ids[0], "--json").stdout)
    assert shown["asset_id"] == ids[0] and shown["locations"]
    readable = _alice(db, "show", ids[0][:7])
    assert f"asset {ids[0]}" in readable.stdout and "organized:" in readable.stdout
    missing = _alice(db, "show", "0000000000")
    assert missing.returncode == 2 and "use search" in missing.stderr
    # keep one of the pair: the other's tags move over, the other is tagged duplicate
    assert _alice(db, "tag", pair[1], "--add", "favourite").returncode == 0
    kept = _alice(db, "keep", pair[0][:10], pair[1])
    assert kept.returncode == 0, kept.stderr
    assert f"kept {pair[0][:12]}; 1 tagged duplicate; merged tags: favourite" in kept.stdout
    marked = json.loads(_alice(db, "search", "tag:duplicate", "--json").stdout)
    assert [r["asset_id"] for r in marked["results"]] == [pair[1]]


def test_analyze_a_selection_then_everything(library: tuple[Path, list[str]]) -> None:
    db, ids = library
    some = json.loads(_alice(db, "analyze", "source:a1111", "--json").stdout)
    assert 0 < some["analyzed"] < len(ids)
    rest = json.loads(_alice(db, "analyze", "--json").stdout)
    assert some["analyzed"] + rest["analyzed"] == len(ids)
    again = json.loads(_alice(db, "analyze", "--json").stdout)
    assert again["analyzed"] == 0 and again["requests"] == 0
    nothing = json.loads(_alice(db, "analyze", "source:nobody", "--json").stdout)
    assert nothing["analyzed"] == 0


def test_stars_sidecars_write_and_export(library: tuple[Path, list[str]],
                                         tmp_path: Path) -> None:
    db, ids = library
    done = _alice(db, "tag", ids[0], "--add", "keeper", "--stars", "5")
    assert done.returncode == 0, done.stderr
    written = _alice(db, "sidecars", "write", f"id:{ids[0]}", "--organized",
                     str(tmp_path / "out"))
    assert written.returncode == 0, written.stderr
    assert written.stdout.startswith("1 sidecars written"), written.stdout
    side = next((tmp_path / "out").rglob("*.xmp"))
    assert "<xmp:Rating>5</xmp:Rating>" in side.read_text("utf-8")
    out = tmp_path / "rows.json"
    exported = _alice(db, "export", "tag:keeper", "--format", "json", "-o", str(out))
    assert exported.returncode == 0, exported.stderr
    assert f"1 rows written to {out} (json)" in exported.stdout
    rows = json.loads(out.read_text())
    assert rows[0]["asset_id"] == ids[0] and rows[0]["stars"] == 5 and rows[0]["tags"] == ["keeper"]
    bad = _alice(db, "export", "-o", str(tmp_path / "rows.txt"))
    assert bad.returncode != 0 and "cannot export as 'txt'" in bad.stderr
