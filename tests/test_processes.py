"""performance.executor: processes: organize's and `alice index`'s per-file work in worker
processes (real ones, from a forkserver or spawned), the rows the same as with threads; a file
over its time budget, or a worker that dies holding it, costs only that file; workers that
cannot start, or are lost mid-run, stop the pool with a clear error and organize reads the rest
in threads; the stdio MCP server organizes with them."""

from __future__ import annotations

import multiprocessing
import multiprocessing.spawn
import os
import shutil
import sys
from multiprocessing import resource_tracker
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters
from PIL import Image

from alice_mcp import samples
from alice_mcp.config import Settings, load_settings
from alice_mcp.errors import WorkersLost
from alice_mcp.library import Library
from alice_mcp.pipeline import processes
from alice_mcp.pipeline.indexer import Failed, Indexed
from alice_mcp.pipeline.pool import PoolPlan, Watchdog
from alice_mcp.pipeline.processes import ProcessPool
from alice_mcp.pipeline.scan import Candidate, scan
from alice_mcp.pipeline.staging import STAGING

pytestmark = pytest.mark.anyio


def _settings(root: Path, inbox: Path, executor: str) -> Settings:
    return load_settings(flags={
        "paths.inbox": inbox, "paths.organized": root / "organized",
        "paths.database": root / "lib.duckdb", "performance.batch_size": 5,
        "performance.parallel_threshold": 2, "performance.max_workers": 2,
        "performance.executor": executor}, environ={}).settings


def _rows(lib: Library, root: Path) -> tuple[list[tuple], list[tuple], list[tuple]]:
    """Every asset row and thumbnail (timestamps left out), every organized file relative to root."""
    columns = [c for (c,) in lib.db.fetchall(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = 'assets' "
        "AND data_type NOT LIKE 'TIMESTAMP%' ORDER BY column_index")]
    assets = lib.db.fetchall(f"SELECT {', '.join(columns)} FROM assets ORDER BY asset_id")
    thumbs = lib.db.fetchall("SELECT asset_id, data FROM thumbnails ORDER BY asset_id")
    files = [(str(Path(p).relative_to(root)), a, s) for p, a, s in lib.db.fetchall(
        "SELECT path, asset_id, size FROM files WHERE role = 'organized' ORDER BY path")]
    return assets, thumbs, files


async def _organized(root: Path, inbox: Path, executor: str) -> tuple[tuple, list[bytes]]:
    """Organize the 24-file sample inbox into a fresh library under root: its rows, the bytes
    placed; every staged copy (one of a duplicate) named or removed."""
    with Library(_settings(root, inbox, executor)) as lib, anyio.fail_after(120):
        report = await lib.organize()
        assert report.organized == 23 and not report.errors, report.errors
        rows = _rows(lib, root)
    placed = sorted(p.read_bytes() for p in (root / "organized").rglob("*")
                    if p.is_file() and not p.name.startswith("."))
    assert not (root / "organized" / STAGING).exists()
    return rows, placed


async def test_worker_processes_give_the_same_library_as_threads(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    samples.make_sample_inbox(inbox, count=24, seed=11)
    local = await _organized(tmp_path / "local", inbox, "local")
    assert await _organized(tmp_path / "processes", inbox, "processes") == local
    assert not multiprocessing.active_children(), "the run left worker processes behind"


@pytest.mark.parametrize("workers_start", [True, False])
async def test_index_in_place_with_worker_processes_gives_the_same_rows(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers_start: bool) -> None:
    """`alice index` (follow_tree) with executor processes: the rows of a run on threads, also
    when no worker process can start (threads then read every file)."""
    collection = tmp_path / "collection"
    samples.make_sample_inbox(collection, count=12, seed=9)
    found = {}
    for executor in ("local", "processes"):
        if executor == "processes" and not workers_start:
            _spawned_from(monkeypatch, tmp_path)
            multiprocessing.spawn.set_executable(str(tmp_path / "no-python"))
        settings = load_settings(flags={
            "paths.database": tmp_path / executor / "lib.duckdb",
            "paths.extra_roots": [str(collection)], "performance.parallel_threshold": 2,
            "performance.max_workers": 2, "performance.executor": executor}, environ={}).settings
        with Library(settings) as lib:
            report = await lib.index(collection)
            assert report.indexed + report.relinked == 12 and not report.errors, report
            found[executor + " counts"] = [(report.indexed, report.relinked)]
            found[executor] = lib.db.fetchall(
                "SELECT a.asset_id, a.phash, a.quality, a.prompt, f.path FROM assets a "
                "JOIN files f USING (asset_id) ORDER BY f.path")
    assert found["processes"] == found["local"]
    assert found["processes counts"] == found["local counts"]
    assert not multiprocessing.active_children()


async def test_spawned_workers_index_as_forkserver_ones_do(tmp_path: Path) -> None:
    """Windows has no forkserver: its workers are spawned (fresh interpreters); that path runs
    here too, and gives the same records."""
    samples.make_sample_inbox(tmp_path / "inbox", count=5, seed=8)
    cands = _candidates(tmp_path / "inbox")
    found = {}
    for method in ("spawn", None):
        async with ProcessPool(1, thumb_size=64, stealth=False, start_method=method) as pool:
            found[method] = [r async for batch in pool.map_batches(
                cands, PoolPlan(batch_size=10, workers=1), _watchdog(lambda c: 60.0))
                for r in batch]
    assert all(isinstance(r, Indexed) for r in found["spawn"])
    assert [(r.asset_id, r.pixels) for r in found["spawn"]] == \
        [(r.asset_id, r.pixels) for r in found[None]]


def _candidates(inbox: Path) -> list[Candidate]:
    return sorted(scan(inbox, {}).new, key=lambda c: c.path.name)


def _watchdog(budget: object) -> Watchdog[Candidate, Indexed | Failed]:
    return Watchdog(budget=budget,  # type: ignore[arg-type]
                    overdue=lambda c, s: Failed(c, f"over its {s} s"))


async def _index(cands: list[Candidate], watchdog: Watchdog[Candidate, Indexed | Failed],
                 workers: int = 2) -> list[Indexed | Failed]:
    plan = PoolPlan(batch_size=4, workers=workers)
    results: list[Indexed | Failed] = []
    async with ProcessPool(workers, thumb_size=64, stealth=False) as pool:
        async for batch in pool.map_batches(cands, plan, watchdog):
            results.extend(batch)
    return results


async def test_a_file_over_its_budget_costs_only_that_file(tmp_path: Path) -> None:
    """The worker holding it is killed and replaced; the file it had next is read by the new one."""
    samples.make_sample_inbox(tmp_path / "inbox", count=10, seed=3)
    Image.new("RGB", (7000, 7000), (90, 120, 200)).save(tmp_path / "inbox" / "huge.png")
    cands = _candidates(tmp_path / "inbox")  # 49 M pixels: no worker decodes them at once
    slow = next(c for c in cands if c.path.name == "huge.png")
    before: set[int | None] = set()

    def budget(cand: Candidate) -> float:
        before.update(p.pid for p in multiprocessing.active_children())
        return 0.0 if cand is slow else 60.0

    results = await _index(cands, _watchdog(budget))
    assert [r.candidate.path for r in results] == [c.path for c in cands]
    failed = [r for r in results if isinstance(r, Failed)]
    assert [f.candidate for f in failed] == [slow] and failed[0].reason == "over its 0.0 s"
    assert all(isinstance(r, Indexed) and r.pixels is not None for r in results if r not in failed)
    assert len(before) == 3, "the stuck worker was not replaced by a new process"


async def test_a_worker_that_dies_holding_a_file_fails_that_file_only(tmp_path: Path) -> None:
    """A worker killed (as a decoder crash would) while files are in its hands: the one it was
    reading gets a per-file error, the other is sent to its replacement, every other is read."""
    samples.make_sample_inbox(tmp_path / "inbox", count=10, seed=4)
    cands = _candidates(tmp_path / "inbox")
    victim = cands[6]
    killed: list[int | None] = []

    def budget(cand: Candidate) -> float:
        if cand is victim and not killed:  # the worker holding it dies before answering
            for process in multiprocessing.active_children():
                if process.name == "alice-indexer":
                    process.kill()
                    process.join()
                    killed.append(process.pid)
                    break
        return 60.0

    results = await _index(cands, _watchdog(budget), workers=1)
    assert killed
    failed = [r for r in results if isinstance(r, Failed)]
    # the file it was reading: the victim, or the next one when the victim's answer was already
    # in the pipe at the kill (the other one it held is read again by its replacement)
    held = cands[cands.index(victim):cands.index(victim) + 2]
    assert len(failed) == 1 and failed[0].candidate in held, failed
    assert "worker reading it stopped" in failed[0].reason
    assert sum(isinstance(r, Indexed) for r in results) == len(cands) - 1


async def test_a_worker_gone_before_it_got_its_files_is_replaced(tmp_path: Path) -> None:
    samples.make_sample_inbox(tmp_path / "inbox", count=6, seed=5)
    cands = _candidates(tmp_path / "inbox")
    plan = PoolPlan(batch_size=10, workers=1)
    async with ProcessPool(1, thumb_size=64, stealth=False) as pool:
        for process in multiprocessing.active_children():
            process.kill()
            process.join()
        results = [r async for batch in pool.map_batches(cands, plan, _watchdog(lambda c: 60.0))
                   for r in batch]
    assert all(isinstance(r, Indexed) for r in results), results
    assert [r.candidate for r in results] == cands


async def test_a_cancelled_run_kills_its_workers(tmp_path: Path) -> None:
    samples.make_sample_inbox(tmp_path / "inbox", count=8, seed=6)
    cands = _candidates(tmp_path / "inbox")
    with anyio.move_on_after(60) as scope:
        async with ProcessPool(2, thumb_size=64, stealth=False) as pool:
            assert len(multiprocessing.active_children()) == 2
            async for _ in pool.map_batches(cands, PoolPlan(batch_size=2, workers=2),
                                            _watchdog(lambda c: 60.0)):
                scope.cancel()
    assert scope.cancelled_caught
    assert not multiprocessing.active_children()


async def test_a_run_cancelled_mid_batch_stops_at_once(tmp_path: Path) -> None:
    """The thread driving a batch sees the pool closing and lets go: the workers are killed
    in the middle of pictures that take ~0.4 s each (~1.7 s of work left), the run ends at once."""
    (tmp_path / "big").mkdir()
    Image.new("RGB", (7000, 7000), (90, 120, 200)).save(tmp_path / "big" / "huge-0.png")
    for n in range(1, 10):
        shutil.copyfile(tmp_path / "big" / "huge-0.png", tmp_path / "big" / f"huge-{n}.png")
    cands = _candidates(tmp_path / "big")
    with anyio.move_on_after(0.5) as scope:
        async with ProcessPool(2, thumb_size=64, stealth=False) as pool:
            async for _ in pool.map_batches(cands, PoolPlan(batch_size=10, workers=2),
                                            _watchdog(lambda c: 60.0)):
                pytest.fail("the batch finished before the cancel: the picture is too small")
    assert scope.cancelled_caught
    assert anyio.current_time() - scope.deadline < 0.8  # ~1.2 s when the driver goes on
    assert not multiprocessing.active_children()


@pytest.mark.parametrize("interpreter", ["missing", "exits at once"])
async def test_workers_that_cannot_start_stop_the_run_with_a_clear_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, interpreter: str) -> None:
    """An interpreter that cannot run (spawned from a path that does not exist, or one that
    runs a while and exits, as a broken install would) is not replaced for ever: WorkersLost
    names the setting that avoids worker processes. No file is failed for it: a worker that
    dies before it said it started read none of the files it held, so all are left to the
    threads."""
    if interpreter == "exits at once" and sys.platform == "win32":
        pytest.skip("the stand-in interpreter is a sh script")
    samples.make_sample_inbox(tmp_path / "inbox", count=8, seed=2)
    cands = _candidates(tmp_path / "inbox")
    python = tmp_path / "python"
    if interpreter == "exits at once":
        python.write_text("#!/bin/sh\nsleep 0.2\nexit 1\n")  # it takes the files first
        python.chmod(0o755)
    resource_tracker.ensure_running()  # it is spawned with the same interpreter: start it first
    monkeypatch.setattr(multiprocessing.spawn, "_python_exe", multiprocessing.spawn._python_exe)
    multiprocessing.spawn.set_executable(str(python))  # undone after the test
    answered: list[Indexed | Failed] = []
    with anyio.fail_after(60), pytest.raises(WorkersLost, match="executor: local"):
        async with ProcessPool(2, thumb_size=64, stealth=False, start_method="spawn") as pool:
            async for batch in pool.map_batches(cands, PoolPlan(batch_size=2, workers=2),
                                                _watchdog(lambda c: 60.0)):
                answered.extend(batch)
    assert answered == []
    assert not multiprocessing.active_children()


async def test_the_stdio_server_organizes_with_worker_processes(tmp_path: Path) -> None:
    """Through the MCP server over stdio: the workers and their forkserver are started from
    the server, whose stdout is the protocol's channel; the session stays intact."""
    inbox = tmp_path / "inbox"
    samples.make_sample_inbox(inbox, count=24, seed=21)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALICE_")}
    env.update({"ALICE_PATHS__INBOX": str(inbox),
                "ALICE_PATHS__ORGANIZED": str(tmp_path / "organized"),
                "ALICE_PATHS__DATABASE": str(tmp_path / "lib.duckdb"),
                "ALICE_PERFORMANCE__EXECUTOR": "processes",
                "ALICE_PERFORMANCE__PARALLEL_THRESHOLD": "2"})
    params = StdioServerParameters(command=sys.executable, args=["-m", "alice_mcp", "mcp-server"],
                                   env=env, cwd=str(tmp_path))
    async with Client(params) as client:
        organized = await client.call_tool("organize", {})
        assert not organized.is_error, organized.content
        assert organized.structured_content["organized"] == 23
        page = (await client.call_tool("search", {"limit": 5})).structured_content
        assert page["total"] == 23


def _spawned_from(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Worker processes spawned (not forked from a server) from a Python that does not exist,
    once set_executable points at it: none can start."""
    resource_tracker.ensure_running()  # it is spawned with the same interpreter: start it first
    monkeypatch.setattr(multiprocessing.spawn, "_python_exe", multiprocessing.spawn._python_exe)
    real = processes._context
    monkeypatch.setattr(processes, "_context", lambda start_method=None: real("spawn"))


async def test_organize_reads_in_threads_when_no_worker_process_starts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The run does not stop: threads read the files, the library is the one threads make."""
    inbox = tmp_path / "inbox"
    samples.make_sample_inbox(inbox, count=24, seed=11)
    _spawned_from(monkeypatch, tmp_path)
    multiprocessing.spawn.set_executable(str(tmp_path / "no-python"))
    without_workers = await _organized(tmp_path / "processes", inbox, "processes")
    assert without_workers == await _organized(tmp_path / "local", inbox, "local")
    assert not multiprocessing.active_children()


async def test_organize_lost_its_workers_mid_run_threads_read_the_rest(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """After the first batch the workers die and none can start again: the batch they were on
    is read again in threads, with the rest. A file a dying worker held is skipped (it may be
    the one that crashed it), and the next run organizes it."""
    inbox = tmp_path / "inbox"
    samples.make_sample_inbox(inbox, count=24, seed=12)
    _spawned_from(monkeypatch, tmp_path)
    batches: list[int] = []

    async def after_a_batch(done: int, total: int, message: str) -> None:
        batches.append(done)
        if len(batches) == 2:  # after "Processing", the first batch placed
            multiprocessing.spawn.set_executable(str(tmp_path / "no-python"))
            for process in multiprocessing.active_children():
                if process.name == "alice-indexer":
                    process.kill()

    with Library(_settings(tmp_path, inbox, "processes")) as lib, anyio.fail_after(120):
        report = await lib.organize(listeners=[after_a_batch])
        assert batches[-1] == 24 and len(batches) > 3
        assert all("worker reading it stopped" in e.reason for e in report.errors)
        assert report.organized + len(report.errors) == 23, report.errors
        assert not multiprocessing.active_children()
        again = await lib.organize()
        assert again.organized == len(report.errors) and not again.errors
        organized = lib.db.fetchall("SELECT count(*) FROM files WHERE role = 'organized'")
    assert organized == [(23,)]
