"""organize end to end on real images and a real DuckDB file: layout, modes, duplicates, reruns."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import duckdb
import pytest

from alice_mcp import samples
from alice_mcp.config import load_settings
from alice_mcp.errors import InvalidArgument
from alice_mcp.library import Library
from alice_mcp.pipeline.place import TEMP_SUFFIX

pytestmark = pytest.mark.anyio


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _tree_digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): _digest(p) for p in _files(root)}


async def test_layout_date_project_source_sequence(library: Library, inbox: Path,
                                                   organized: Path) -> None:
    (inbox / "portraits").mkdir()
    samples.write_a1111_png(inbox / "portraits" / "b.png", prompt="a knight", seed=2)
    samples.write_a1111_png(inbox / "portraits" / "a.png", prompt="a queen", seed=1)
    samples.write_comfyui_png(inbox / "portraits" / "c.png", prompt="a castle", seed=3)
    samples.write_plain_png(inbox / "loose.png", seed=4)
    for age, name in enumerate(["portraits/a.png", "portraits/b.png", "portraits/c.png",
                                "loose.png"]):
        os.utime(inbox / name, (1_700_000_000 + age, 1_700_000_000 + age))

    report = await library.organize()

    assert report.organized == 4 and report.errors == [] and report.duplicates == 0
    rel = sorted(str(p.relative_to(organized)).split("/", 1)[1] for p in _files(organized))
    assert rel == ["portraits/a1111/portraits-00001.png", "portraits/a1111/portraits-00002.png",
                   "portraits/comfyui/portraits-00001.png",
                   "uncategorized/unknown/uncategorized-00001.png"]
    dates = {p.relative_to(organized).parts[0] for p in _files(organized)}
    assert all(len(d) == 10 and d[4] == "-" and d[7] == "-" for d in dates)
    # files are numbered oldest first, and each copy is byte-identical to its source
    first = organized / next(iter(dates)) / "portraits" / "a1111" / "portraits-00001.png"
    assert _digest(first) == _digest(inbox / "portraits" / "a.png")


async def test_copy_keeps_the_inbox_and_records_both_locations(library: Library, inbox: Path,
                                                               organized: Path) -> None:
    samples.write_a1111_png(inbox / "one.png", prompt="red fox", seed=1)
    before = _tree_digests(inbox)
    report = await library.organize()
    assert report.organized == 1
    assert _tree_digests(inbox) == before
    roles = library.db.fetchall("SELECT role, count(*) FROM files GROUP BY role ORDER BY role")
    assert roles == [("inbox", 1), ("organized", 1)]


async def test_move_empties_the_inbox_and_keeps_every_byte(library: Library, inbox: Path,
                                                           organized: Path) -> None:
    samples.make_sample_inbox(inbox, count=12, seed=3)
    before = sorted(_digest(p) for p in _files(inbox))
    report = await library.organize(move=True)
    after_inbox = _files(inbox)
    moved = sorted(_digest(p) for p in _files(organized))
    # the duplicate that make_sample_inbox writes goes to _duplicates/: nothing is ever deleted
    assert after_inbox == [] and report.duplicates >= 1
    assert report.duplicates_moved == report.duplicates
    assert sorted(moved) == before
    assert len(_files(organized / "_duplicates")) == report.duplicates
    assert library.db.fetchall("SELECT count(*) FROM files WHERE role = 'inbox'")[0][0] == 0


async def test_dry_run_touches_nothing(settings, inbox: Path, organized: Path,
                                       tmp_path: Path) -> None:
    samples.make_sample_inbox(inbox, count=10, seed=5)
    before = _tree_digests(inbox)
    with Library(settings, read_only=True) as lib:
        report = await lib.organize(dry_run=True)
    assert report.dry_run and report.organized > 0
    assert len(report.placements) == report.organized + report.duplicates
    assert all(p.destination.startswith(str(organized)) for p in report.placements)
    assert not organized.exists()
    assert not (tmp_path / "library.duckdb").exists()
    assert _tree_digests(inbox) == before


async def test_dry_run_plan_matches_the_real_run(settings, inbox: Path) -> None:
    samples.make_sample_inbox(inbox, count=10, seed=6)
    with Library(settings, read_only=True) as lib:
        plan = await lib.organize(dry_run=True)
    with Library(settings) as lib:
        done = await lib.organize()
    assert [(p.source, p.destination) for p in plan.placements] == \
           [(p.source, p.destination) for p in done.placements]


async def test_identical_files_are_duplicates_not_second_copies(library: Library, inbox: Path,
                                                                organized: Path) -> None:
    samples.write_a1111_png(inbox / "z-original.png", prompt="same", seed=9)
    (inbox / "elsewhere").mkdir()
    shutil.copy(inbox / "z-original.png", inbox / "elsewhere" / "copy.png")
    os.utime(inbox / "z-original.png", (1_700_000_000, 1_700_000_000))
    report = await library.organize()
    assert (report.organized, report.duplicates) == (1, 1)
    assert len(_files(organized)) == 1
    # the oldest copy is the original, whatever its name
    placed = next(p for p in report.placements if p.duplicate_of is None)
    assert Path(placed.source).name == "z-original.png"
    # a later inbox file identical to something organized is a duplicate too
    shutil.copy(inbox / "z-original.png", inbox / "later.png")
    report = await library.organize()
    assert (report.organized, report.duplicates) == (0, 1)
    assert len(_files(organized)) == 1


async def test_second_run_does_nothing_new(library: Library, inbox: Path,
                                           organized: Path) -> None:
    samples.make_sample_inbox(inbox, count=16, seed=7)
    first = await library.organize()
    tree = _tree_digests(organized)
    second = await library.organize()
    assert second.organized == 0 and second.duplicates == 0
    assert second.unchanged == first.scanned - len(first.errors)
    assert second.counters.hashed == 0 and second.counters.decoded == 0
    assert _tree_digests(organized) == tree


async def test_a_corrupt_file_is_reported_and_the_rest_organized(library: Library, inbox: Path,
                                                                 organized: Path) -> None:
    for i in range(5):
        samples.write_a1111_png(inbox / f"good{i}.png", prompt=f"good {i}", seed=i)
    good = (inbox / "good0.png").read_bytes()
    (inbox / "broken.png").write_bytes(good[: len(good) // 3])
    (inbox / "empty.jpg").write_bytes(b"")
    report = await library.organize()
    assert report.organized == 5
    assert sorted(Path(e.path).name for e in report.errors) == ["broken.png", "empty.jpg"]
    assert all(e.reason for e in report.errors)
    assert len(_files(organized)) == 5


async def test_no_temporary_files_are_left(library: Library, inbox: Path,
                                           organized: Path) -> None:
    samples.make_sample_inbox(inbox, count=12, seed=8)
    await library.organize()
    assert not [p for p in organized.rglob(f"*{TEMP_SUFFIX}")]


async def test_existing_numbers_are_continued_never_overwritten(library: Library, inbox: Path,
                                                                organized: Path) -> None:
    samples.write_a1111_png(inbox / "a.png", prompt="first", seed=1)
    await library.organize()
    samples.write_a1111_png(inbox / "b.png", prompt="second", seed=2)
    await library.organize()
    names = sorted(p.name for p in _files(organized))
    assert names == ["uncategorized-00001.png", "uncategorized-00002.png"]


async def test_layout_pattern_is_a_setting(tmp_path: Path, inbox: Path, organized: Path) -> None:
    samples.write_a1111_png(inbox / "a.png", prompt="x", seed=1, model="flux1-dev")
    loaded = load_settings(flags={"paths.inbox": inbox, "paths.organized": organized,
                                  "paths.database": tmp_path / "l.duckdb",
                                  "paths.layout": "{source}/{model_family}/{stem}-{seq:03d}{ext}"})
    with Library(loaded.settings) as lib:
        await lib.organize()
    assert [str(p.relative_to(organized)) for p in _files(organized)] == ["a1111/flux/a-001.png"]


async def test_inbox_inside_the_organized_tree_is_refused(library: Library,
                                                          organized: Path) -> None:
    (organized / "incoming").mkdir(parents=True)
    with pytest.raises(InvalidArgument, match="inside the organized folder"):
        await library.organize(inbox=organized / "incoming", organized=organized)


async def test_organized_tree_inside_the_inbox_is_not_rescanned(library: Library,
                                                                inbox: Path) -> None:
    samples.write_a1111_png(inbox / "a.png", prompt="x", seed=1)
    library.settings.paths.organized = inbox / "sorted"  # configured: organize writes only there
    await library.organize()
    again = await library.organize()
    assert (again.scanned, again.unchanged, again.organized) == (1, 1, 0)


async def test_index_agrees_with_disk(library: Library, inbox: Path, organized: Path,
                                      tmp_path: Path) -> None:
    samples.make_sample_inbox(inbox, count=20, seed=11)
    await library.organize()
    library.close()
    con = duckdb.connect(str(tmp_path / "library.duckdb"), read_only=True)
    recorded = {p for (p,) in con.execute("SELECT path FROM files WHERE role='organized'").fetchall()}
    assert recorded == {str(p) for p in _files(organized)}
    orphans = con.execute("SELECT count(*) FROM files f ANTI JOIN assets a USING (asset_id)"
                          ).fetchone()[0]
    assert orphans == 0
    con.close()


@pytest.mark.parametrize("profile", ["memory_constrained", "large_collection"])
async def test_parallel_run_over_many_files(tmp_path: Path, inbox: Path, organized: Path,
                                            monkeypatch: pytest.MonkeyPatch, profile: str) -> None:
    """Above the parallel threshold work is batched over the pool; the result is the same."""
    monkeypatch.setenv("ALICE_PERFORMANCE", profile)
    samples.make_sample_inbox(inbox, count=150, seed=13)
    loaded = load_settings(flags={"paths.inbox": inbox, "paths.organized": organized,
                                  "paths.database": tmp_path / "l.duckdb"})
    with Library(loaded.settings) as lib:
        report = await lib.organize()
    assert report.errors == []
    assert report.organized + report.duplicates == report.scanned == 150
    assert len(_files(organized)) == report.organized


async def test_rerun_over_an_unchanged_2000_file_inbox_hashes_and_decodes_nothing(
        library: Library, inbox: Path) -> None:
    samples.make_sample_inbox(inbox, count=2000, seed=17)
    first = await library.organize()
    assert first.counters.hashed == 2000 and first.counters.decoded == 2000
    second = await library.organize()
    assert second.scanned == 2000 and second.unchanged == 2000
    assert second.counters.stat == 2000
    assert (second.counters.hashed, second.counters.decoded, second.counters.bytes_read,
            second.counters.rows_written) == (0, 0, 0, 0)


async def test_ctrl_c_while_the_next_batch_waits_to_be_placed_ends_as_a_cancel(
        tmp_path: Path) -> None:
    """The next batch is indexed while one is placed. Ctrl-C cancels the run's own task first
    (asyncio's runner does), so the placing side stops while the indexing side waits to hand
    over its batch: the run must still end as cancelled, not with the hand-over's "nobody
    receives" error (CI saw `alice` exit 1 with a traceback instead of 130), and a rerun
    finishes."""
    import asyncio

    inbox, organized = tmp_path / "inbox", tmp_path / "organized"
    samples.make_sample_inbox(inbox, count=30, seed=2)
    settings = load_settings(flags={"paths.inbox": inbox, "paths.organized": organized,
                                    "paths.database": tmp_path / "lib.duckdb",
                                    "performance.batch_size": 5,
                                    "performance.parallel_threshold": 1}).settings
    with Library(settings) as lib:
        run: asyncio.Task | None = None

        async def ctrl_c_after_the_first_batch(done: int, total: int, message: str) -> None:
            if message.startswith("Processed") and run is not None:
                await asyncio.sleep(1.0)  # the next batch is indexed and waits meanwhile
                run.cancel()  # what asyncio's runner does on Ctrl-C

        run = asyncio.ensure_future(lib.organize(listeners=[ctrl_c_after_the_first_batch]))
        (ended,) = await asyncio.gather(run, return_exceptions=True)
        assert isinstance(ended, asyncio.CancelledError), repr(ended)
        rest = await lib.organize()
        again = await lib.organize()
    assert rest.errors == [] and rest.organized > 0 and again.organized == 0
    assert not [p for p in organized.rglob("*") if p.name.endswith(TEMP_SUFFIX)]
