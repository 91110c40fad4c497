"""`alice index FOLDER`: a collection indexed where it lies, nothing copied or moved; reruns
read only what changed, follow files moved inside it and mark vanished ones missing."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from alice_mcp import samples
from alice_mcp.config import load_settings
from alice_mcp.errors import InvalidArgument, OutsideRoots
from alice_mcp.library import Library

pytestmark = pytest.mark.anyio


def _contents(root: Path) -> dict[str, str]:
    """Every file under root -> the hash of its bytes."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_cli_indexes_a_collection_in_place_and_touches_nothing(tmp_path: Path) -> None:
    collection, db = tmp_path / "collection", tmp_path / "lib.duckdb"
    made = samples.make_sample_inbox(collection, count=10, seed=3)
    before = _contents(collection)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALICE_")}
    run = subprocess.run([sys.executable, "-m", "alice_mcp", "index", str(collection),
                          "--database", str(db), "--json"], capture_output=True, text=True,
                         env=env, cwd=tmp_path, timeout=120)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    # the sample's last file is a byte copy of its first: one asset, recorded at both paths
    assert (report["indexed"], report["relinked"], report["errors"]) == (len(made) - 1, 1, [])
    assert _contents(collection) == before  # not one byte changed, nothing added
    made_here = {p.name for p in tmp_path.iterdir()} - {"home"}  # home: the tests' $HOME
    assert made_here == {"collection", "lib.duckdb"}
    found = subprocess.run([sys.executable, "-m", "alice_mcp", "search", "--database", str(db),
                            "--json", "--limit", "50"], capture_output=True, text=True,
                           env=env, cwd=tmp_path, timeout=120)
    page = json.loads(found.stdout)
    assert page["total"] == len(made) - 1
    assert all(Path(hit["path"]).is_relative_to(collection.resolve()) for hit in page["results"])


def _settings(tmp_path: Path, collection: Path):
    return load_settings(flags={"paths.database": tmp_path / "lib.duckdb",
                                "paths.extra_roots": [str(collection)]}, environ={}).settings


async def test_a_rerun_reads_only_changes_follows_moves_and_marks_vanished(tmp_path: Path) -> None:
    collection = tmp_path / "collection"
    made = samples.make_sample_inbox(collection, count=8, seed=5)
    with Library(_settings(tmp_path, collection)) as lib:
        first = await lib.index(collection)
        assert first.indexed == len(made) - 1
        asset_at = {hit.path: hit.asset_id for hit in (await lib.search(None, limit=50)).results}
        again = await lib.index(collection)
        assert (again.indexed, again.relinked, again.unchanged) == (0, 0, len(made))

        moved_from, gone = made[1], made[2]
        moved_to = collection / "elsewhere" / moved_from.name
        moved_to.parent.mkdir()
        moved_from.rename(moved_to)
        gone.unlink()
        third = await lib.index(collection)
        assert (third.indexed, third.relinked) == (0, 1)
        assert third.missing == [str(gone)]
        assert third.unchanged == len(made) - 2
        page = await lib.search(None, limit=50)
        paths = {hit.path for hit in page.results}
        assert str(moved_to) in paths and str(moved_from) not in paths
        assert page.total == len(made) - 2  # the vanished asset is hidden by default
        hidden = await lib.search("missing:true", limit=50)
        assert [hit.asset_id for hit in hidden.results] == [asset_at[str(gone)]]


async def test_a_folder_outside_the_roots_or_inside_the_organized_tree_is_refused(
        tmp_path: Path) -> None:
    outside, organized = tmp_path / "outside", tmp_path / "organized"
    outside.mkdir()
    (organized / "2026").mkdir(parents=True)
    settings = load_settings(flags={"paths.database": tmp_path / "lib.duckdb",
                                    "paths.organized": organized}, environ={}).settings
    with Library(settings) as lib:
        with pytest.raises(OutsideRoots):
            await lib.index(outside)
        with pytest.raises(InvalidArgument, match="inside the organized folder"):
            await lib.index(organized / "2026")
