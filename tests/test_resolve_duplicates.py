"""Keeping one of a duplicate group: tags and stars merge into it; in a library organized with
--move the others' organized files go to <organized>/_duplicates/<date>/ (journaled, nothing
deleted); in a copied library no file moves. Real files, a real DuckDB file, the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from alice_mcp import samples
from alice_mcp.library import Library
from alice_mcp.store import journal

pytestmark = pytest.mark.anyio


def _group(inbox: Path) -> None:
    """Three near-duplicates: the same picture with other infotext, so other bytes."""
    for n, word in enumerate(("knight", "queen", "bishop")):
        samples.write_a1111_png(inbox / f"{word}.png", prompt=f"a {word}", seed=n)


async def _ids(library: Library) -> dict[str, str]:
    return {word: (await library.search(word)).results[0].asset_id
            for word in ("knight", "queen", "bishop")}


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


async def test_move_sets_the_others_aside_and_merges_tags_and_stars(
        library: Library, inbox: Path, organized: Path) -> None:
    _group(inbox)
    await library.organize(move=True)
    ids = await _ids(library)
    await library.tag([ids["knight"]], stars=0)  # the kept one has no stars of its own
    await library.tag([ids["queen"]], ["crown"], stars=4)
    await library.tag([ids["bishop"]], ["mitre"], stars=2)
    queen_at = (await library.get_asset(ids["queen"])).locations[0].path
    Path(queen_at + ".xmp").write_bytes(b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")  # a user's
    before = _tree(organized)

    result = await library.resolve_duplicates(ids["knight"], [ids["queen"], ids["bishop"][:10]],
                                              move=True)

    assert result.kept == ids["knight"] and result.stars == 4
    assert result.merged_tags == ["crown", "mitre"] and result.problems == []
    assert sorted(m.asset_id for m in result.moved) == sorted([ids["queen"], ids["bishop"]])
    after = _tree(organized)
    assert sorted(after.values()) == sorted(before.values())  # every byte still there, once
    aside = sorted(p for p in after if p.startswith("_duplicates/"))
    names = sorted([Path(m.source).name for m in result.moved] + [Path(queen_at).name + ".xmp"])
    assert sorted(Path(p).name for p in aside) == names  # each keeps its name, its sidecar along
    assert (Path(queen_at).parent / (Path(queen_at).name + ".xmp")).exists() is False
    assert not Path(queen_at).exists()
    for moved in result.moved:
        assert Path(moved.destination).is_file() and not Path(moved.source).exists()
        locations = (await library.get_asset(moved.asset_id)).locations
        assert [loc.path for loc in locations] == [moved.destination]
        assert locations[0].role == "organized"
    knight = await library.get_asset(ids["knight"])
    assert knight.fields["stars"] == 4 and {"crown", "mitre"} <= {t.tag for t in knight.tags}
    assert journal.pending(library.db) == []
    hidden = await library.search("-tag:duplicate")
    assert [r.asset_id for r in hidden.results] == [ids["knight"]]
    # the index already knows where everything is: a rescan finds nothing moved or missing
    again = await library.organize(move=True)
    assert again.relinked == 0 and again.missing == [] and again.indexed_in_place == 0
    # resolving again moves nothing a second time
    repeat = await library.resolve_duplicates(ids["knight"], [ids["queen"]], move=True)
    assert repeat.moved == [] and _tree(organized) == after


async def test_copy_mode_only_marks_and_keeps_own_stars(library: Library, inbox: Path,
                                                        organized: Path) -> None:
    _group(inbox)
    await library.organize()
    ids = await _ids(library)
    await library.tag([ids["knight"]], stars=2)
    await library.tag([ids["queen"]], stars=5)
    before = _tree(organized), _tree(inbox)

    result = await library.resolve_duplicates(ids["knight"], [ids["queen"]])

    assert result.stars == 2 and result.moved == []  # its own stars are kept
    assert (_tree(organized), _tree(inbox)) == before
    assert (await library.get_asset(ids["knight"])).fields["stars"] == 2


def test_cli_keep_with_move(tmp_path: Path, inbox: Path, organized: Path) -> None:
    _group(inbox)
    db = tmp_path / "cli.duckdb"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALICE_")}

    def alice(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "alice_mcp", *args, "--database", str(db),
                               "--inbox", str(inbox), "--organized", str(organized)],
                              capture_output=True, text=True, env=env, timeout=120)
    assert alice("--move", "--quiet").returncode == 0
    found = json.loads(alice("search", "--json").stdout)["results"]
    by_prompt = {r["prompt"]: r["asset_id"] for r in found}
    queen_at = Path(next(r["path"] for r in found if r["prompt"] == "a queen"))
    kept = alice("keep", by_prompt["a knight"], by_prompt["a queen"], "--move")
    assert kept.returncode == 0, kept.stderr
    assert "1 files moved to _duplicates/" in kept.stdout
    assert [p.name for p in (organized / "_duplicates").rglob("*.png")] == [queen_at.name]
    assert not queen_at.exists() and len(list(organized.rglob("*.png"))) == 3
