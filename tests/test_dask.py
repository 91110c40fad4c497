"""performance.executor: dask: the per-file work on Dask workers (a LocalCluster of worker
processes here), the rows the same as a local run, paths mapped for the workers, a wrong
scheduler address a clear error."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import pytest

from alice_mcp import samples
from alice_mcp.config import Settings, load_settings
from alice_mcp.errors import SettingsError, WorkersLost
from alice_mcp.library import Library
from alice_mcp.pipeline.remote import map_path

pytest.importorskip("distributed", reason="the dask extra is not installed")
pytestmark = pytest.mark.anyio
TIMESTAMPS = ("indexed_at", "updated_at", "seen_at", "analyzed_at")


def _settings(root: Path, inbox: Path, **performance: object) -> Settings:
    flags = {f"performance.{k}": v for k, v in performance.items()}
    return load_settings(flags={"paths.inbox": inbox, "paths.organized": root / "organized",
                                "paths.database": root / "lib.duckdb",
                                "performance.batch_size": 5, **flags}, environ={}).settings


def _asset_rows(lib: Library) -> list[tuple]:
    """Every asset row, its timestamps left out."""
    columns = [c for (c,) in lib.db.fetchall(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = 'assets' "
        "AND data_type NOT LIKE 'TIMESTAMP%' ORDER BY column_index")]
    return lib.db.fetchall(f"SELECT {', '.join(columns)} FROM assets ORDER BY asset_id")


def _rows(lib: Library, root: Path) -> tuple[list[tuple], list[tuple]]:
    """Every asset row (timestamps left out) and every file row with paths relative to root."""
    assets = _asset_rows(lib)
    files = [(str(Path(p).relative_to(root)), a, r, s) for p, a, r, s in lib.db.fetchall(
        "SELECT path, asset_id, role, size FROM files WHERE role = 'organized' ORDER BY path")]
    return assets, files


async def test_dask_workers_give_the_same_rows_as_local_threads(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    samples.make_sample_inbox(inbox, count=24, seed=7)
    found = {}
    for executor in ("local", "dask"):
        root = tmp_path / executor
        with Library(_settings(root, inbox, executor=executor, dask_workers=2)) as lib:
            report = await lib.organize()
            assert report.organized == 23 and not report.errors, report.errors
            found[executor] = _rows(lib, root) + (_rows_of_inbox(lib, inbox),)
    assert found["dask"] == found["local"]


def _rows_of_inbox(lib: Library, inbox: Path) -> list[tuple]:
    return lib.db.fetchall("SELECT path, asset_id FROM files WHERE role = 'inbox' "
                           "ORDER BY path")


async def test_the_path_map_is_what_the_workers_read(tmp_path: Path) -> None:
    """Workers that see the inbox under another name read it there; a map to a folder that does
    not exist on them fails every file there, per file, and places nothing."""
    inbox, alias = tmp_path / "inbox", tmp_path / "mounted-elsewhere"
    samples.make_sample_inbox(inbox, count=6, seed=2)
    shutil.copytree(inbox, alias)
    with Library(_settings(tmp_path / "good", inbox, executor="dask", dask_workers=1,
                           path_map={str(inbox): str(alias)})) as lib:
        report = await lib.organize()
    assert report.organized == 5 and not report.errors
    with Library(_settings(tmp_path / "bad", inbox, executor="dask", dask_workers=1,
                           path_map={str(inbox): str(tmp_path / "nowhere")})) as lib:
        report = await lib.organize()
    assert report.organized == 0 and len(report.errors) == 6
    assert all(str(tmp_path / "nowhere") not in e.path for e in report.errors)
    assert not (tmp_path / "bad" / "organized").exists() or not any(
        (tmp_path / "bad" / "organized").rglob("*.png"))


def test_map_path_replaces_the_longest_prefix_only_at_a_folder_boundary() -> None:
    path_map = {"/Volumes/nas": "/mnt/nas", "/Volumes/nas/ai": "/data/ai"}
    assert map_path(Path("/Volumes/nas/ai/x.png"), path_map) == Path("/data/ai/x.png")
    assert map_path(Path("/Volumes/nas/other/y.png"), path_map) == Path("/mnt/nas/other/y.png")
    assert map_path(Path("/Volumes/nasty/z.png"), path_map) == Path("/Volumes/nasty/z.png")
    assert map_path(Path("/elsewhere/z.png"), path_map) == Path("/elsewhere/z.png")


async def test_a_wrong_scheduler_address_is_a_clear_error_within_seconds(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = tmp_path / "inbox"
    samples.make_sample_inbox(inbox, count=3, seed=1)
    started = time.monotonic()
    settings = _settings(tmp_path, inbox, executor="dask", dask_scheduler=f"tcp://127.0.0.1:{port}")
    with Library(settings) as lib, pytest.raises(SettingsError, match="performance.dask_scheduler"):
        await lib.organize()
    assert time.monotonic() - started < 30
    assert not any((tmp_path / "organized").rglob("*.png")) if (tmp_path / "organized").exists() \
        else True


async def test_a_worker_killed_mid_run_costs_only_its_batch(tmp_path: Path) -> None:
    """SIGKILL one worker process after the first batch: its batches run again elsewhere, and
    every file is organized exactly once."""
    import psutil

    inbox = tmp_path / "inbox"
    samples.make_sample_inbox(inbox, count=40, seed=11)
    killed: list[int] = []

    async def kill_one_worker(done: int, total: int, message: str) -> None:
        if done and not killed:
            workers = [p for p in psutil.Process().children(recursive=True)  # the nannies'
                       if "spawn_main" in " ".join(p.cmdline())]  # (not the resource tracker)
            assert workers, "no worker process found"
            os.kill(workers[0].pid, signal.SIGKILL)
            killed.append(workers[0].pid)

    settings = _settings(tmp_path, inbox, executor="dask", dask_workers=2, batch_size=2)
    with Library(settings) as lib:
        report = await lib.organize(listeners=[kill_one_worker])
        organized = lib.db.fetchall("SELECT count(*), count(DISTINCT asset_id) FROM files "
                                    "WHERE role = 'organized'")[0]
    assert killed
    assert report.organized == 39 and not report.errors, report.errors
    assert organized == (39, 39)
    placed = [p for p in (tmp_path / "organized").rglob("*") if p.is_file()]
    assert len(placed) == 39


def _index_settings(root: Path, collection: Path, **performance: object) -> Settings:
    flags = {f"performance.{k}": v for k, v in performance.items()}
    return load_settings(flags={"paths.database": root / "lib.duckdb",
                                "paths.extra_roots": [str(collection)],
                                "performance.batch_size": 4, **flags}, environ={}).settings


def _indexed_rows(lib: Library) -> tuple[list[tuple], list[tuple]]:
    """Every asset row (timestamps left out) and every file row of the indexed collection."""
    assets = _asset_rows(lib)
    files = lib.db.fetchall("SELECT path, asset_id, role, size, mtime_ns FROM files "
                            "ORDER BY path")
    thumbs = lib.db.fetchall("SELECT asset_id, md5(data) FROM thumbnails ORDER BY asset_id")
    return assets, files + thumbs


async def test_index_in_place_on_dask_gives_the_same_rows_as_local(tmp_path: Path) -> None:
    """`alice index` reads the fresh files on the workers; rows, files and thumbnails are the
    local run's, and a rerun (nothing changed) starts no cluster and reads nothing."""
    collection = tmp_path / "collection"
    made = samples.make_sample_inbox(collection, count=18, seed=4)
    found, progress = {}, []
    for executor in ("local", "dask"):
        settings = _index_settings(tmp_path / executor, collection, executor=executor,
                                   dask_workers=2)
        with Library(settings) as lib:
            report = await lib.index(collection, on_indexed=lambda d, t: progress.append((d, t)))
            assert (report.indexed, report.relinked, report.errors) == (len(made) - 1, 1, [])
            found[executor] = _indexed_rows(lib)
            if executor == "dask":
                again = await lib.index(collection)
                assert (again.indexed, again.unchanged) == (0, len(made))
    assert found["dask"] == found["local"]
    assert len(found["dask"][0]) == len(made) - 1
    assert progress[-1] == (len(made), len(made))


async def _cluster_idle(scheduler: object, seconds: float = 30.0) -> bool:
    """Whether the scheduler holds no task and no worker is processing one, within seconds."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        busy = [w.processing for w in scheduler.workers.values() if w.processing]  # type: ignore[attr-defined]
        if not scheduler.tasks and not busy:  # type: ignore[attr-defined]
            return True
        await anyio.sleep(0.1)
    return False


def _finished(scheduler: object) -> set[str]:
    """The keys of the tasks that ran to the end on a worker (the scheduler's transition log)."""
    return {str(t[0]) for t in scheduler.transition_log if t[2] == "memory"}  # type: ignore[attr-defined]


async def test_cancelling_organize_cancels_the_workers_batches(tmp_path: Path) -> None:
    """Cancel the run when the first batch is back: the batches still on the cluster are
    cancelled (most never run), nothing more is placed, and a rerun organizes the rest, each
    file exactly once."""
    from distributed import LocalCluster

    inbox = tmp_path / "inbox"
    samples.make_sample_inbox(inbox, count=80, seed=12)
    async with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                            asynchronous=True, dashboard_address=None) as cluster:
        settings = _settings(tmp_path, inbox, executor="dask", batch_size=2,
                             dask_scheduler=cluster.scheduler_address)
        with Library(settings) as lib:
            with anyio.CancelScope() as scope:
                async def cancel_at_first(done: int, total: int, message: str) -> None:
                    if done:
                        scope.cancel()
                await lib.organize(listeners=[cancel_at_first])
            assert scope.cancelled_caught
            assert await _cluster_idle(cluster.scheduler)
            ran = len(_finished(cluster.scheduler))
            assert 1 <= ran < 40 // 2, ran  # 40 batches sent in all: at most a window ran
            first = _organized(lib, tmp_path)
            assert 0 < first[0] < 79 and first[0] == first[1] == first[2]
            report = await lib.organize()
            assert report.organized == 79 - first[0] and not report.errors, report.errors
            assert _organized(lib, tmp_path) == (79, 79, 79)


def _organized(lib: Library, root: Path) -> tuple[int, int, int]:
    """Files recorded in the organized tree, their distinct assets, files placed on disk."""
    rows, assets = lib.db.fetchall("SELECT count(*), count(DISTINCT asset_id) FROM files "
                                   "WHERE role = 'organized'")[0]
    return rows, assets, sum(1 for p in (root / "organized").rglob("*") if p.is_file())


def _start(args: list[str], cwd: Path) -> subprocess.Popen[bytes]:
    """A Dask command (`dask scheduler`, `dask worker`) as its own process, as on another host."""
    return subprocess.Popen([sys.executable, "-m", *args], cwd=cwd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@contextmanager
def _machines(tmp_path: Path, workers: int,
              mounts: dict[str, Path] | None = None) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A `dask scheduler` and `workers` `dask worker` processes (1 thread, 300 MB each), each
    in its own folder (with a symlink name -> target of `mounts`: its view of a NAS); yields
    the scheduler's address and process; all stopped after."""
    ready = tmp_path / "scheduler.json"
    started = [_start(["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
                       "--no-dashboard", "--scheduler-file", str(ready)], tmp_path)]
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        address = json.loads(ready.read_text())["address"]
        for n in range(workers):
            host = tmp_path / f"machine-{n}"
            host.mkdir()
            for name, target in (mounts or {}).items():
                (host / name).parent.mkdir(parents=True, exist_ok=True)
                (host / name).symlink_to(target, target_is_directory=True)
            started.append(_start(["distributed.cli.dask_worker", address, "--nthreads", "1",
                                   "--memory-limit", "300MB", "--no-nanny", "--no-dashboard",
                                   "--local-directory", str(host)], host))
        yield address, started[0]
    finally:
        for process in started:
            process.kill()
            process.wait(timeout=30)


async def _wait_for_workers(address: str, count: int) -> None:
    from distributed import Client

    async with Client(address, asynchronous=True, timeout=30) as client:
        await client.wait_for_workers(count, timeout=60)


async def test_a_scheduler_lost_mid_run_stops_cleanly_and_a_rerun_resumes(tmp_path: Path) -> None:
    """SIGKILL the `dask scheduler` when the first batch is back: the run ends with one
    WorkersLost line, what was placed so far is recorded (nothing half done), and a rerun
    organizes the rest, each file exactly once."""
    inbox = tmp_path / "inbox"
    samples.make_sample_inbox(inbox, count=80, seed=13)
    with _machines(tmp_path, workers=1) as (address, scheduler):
        await _wait_for_workers(address, 1)

        async def kill_the_scheduler(done: int, total: int, message: str) -> None:
            if done and scheduler.poll() is None:
                os.kill(scheduler.pid, signal.SIGKILL)
                scheduler.wait()

        settings = _settings(tmp_path, inbox, executor="dask", batch_size=2,
                             dask_scheduler=address)
        with Library(settings) as lib, pytest.raises(WorkersLost) as lost:
            await lib.organize(listeners=[kill_the_scheduler])
    message = str(lost.value)
    assert "\n" not in message and address in message and "run again" in message
    assert "connection to the scheduler was lost" in message, message
    with Library(_settings(tmp_path, inbox, executor="local")) as lib:
        first = _organized(lib, tmp_path)
        assert 0 < first[0] < 79 and first[0] == first[1] == first[2]
        assert not lib.db.fetchall("SELECT * FROM journal WHERE state = 'planned'")
        report = await lib.organize()
        assert report.organized == 79 - first[0] and not report.errors, report.errors
        assert _organized(lib, tmp_path) == (79, 79, 79)


async def test_three_machines_index_a_collection_through_their_own_mount(tmp_path: Path) -> None:
    """Several machines on one: a `dask scheduler` and three `dask worker` processes, each in
    its own folder holding mnt/nas, a symlink to the collection standing in for its NAS mount.
    The path map sends the workers the relative mnt/nas/... (a name only they can resolve, so
    no worker can have read the collection at its path here); every row is the local run's."""
    collection = tmp_path / "collection"
    made = samples.make_sample_inbox(collection, count=30, seed=21)
    with Library(_index_settings(tmp_path / "local", collection, executor="local")) as lib:
        await lib.index(collection)
        expected = _indexed_rows(lib)
    assert not (Path.cwd() / "mnt" / "nas").exists()
    with _machines(tmp_path, workers=3, mounts={"mnt/nas": collection}) as (address, _):
        await _wait_for_workers(address, 3)
        settings = _index_settings(tmp_path / "dask", collection, executor="dask",
                                   batch_size=2, dask_scheduler=address,
                                   path_map={str(collection.resolve()): "mnt/nas"})
        with Library(settings) as lib:
            report = await lib.index(collection)
            assert (report.indexed, report.relinked, report.errors) == (len(made) - 1, 1, [])
            assert _indexed_rows(lib) == expected
        from distributed import Client

        async with Client(address, asynchronous=True, timeout=30) as client:
            ran = await client.run(lambda dask_worker: dask_worker.state.executed_count)
    assert len(ran) == 3 and all(ran.values()), ran  # every machine read its share
    assert sum(ran.values()) == len(made) // 2  # each batch of two once (nothing lost or twice)


async def test_a_scheduler_lost_mid_index_keeps_its_batches_and_marks_nothing_missing(
        tmp_path: Path) -> None:
    """`alice index` with the scheduler killed at the first batch back: WorkersLost, the batches
    recorded so far kept, nothing marked missing (the walk was not finished); a rerun on the
    local executor reads only the rest."""
    collection = tmp_path / "collection"
    made = samples.make_sample_inbox(collection, count=40, seed=22)
    with _machines(tmp_path, workers=1) as (address, scheduler):
        await _wait_for_workers(address, 1)

        def kill_the_scheduler(done: int, total: int) -> None:
            if scheduler.poll() is None:
                os.kill(scheduler.pid, signal.SIGKILL)
                scheduler.wait()

        settings = _index_settings(tmp_path, collection, executor="dask", batch_size=2,
                                   dask_scheduler=address)
        with Library(settings) as lib, pytest.raises(WorkersLost):
            await lib.index(collection, on_indexed=kill_the_scheduler)
    with Library(_index_settings(tmp_path, collection, executor="local")) as lib:
        kept = lib.db.fetchall("SELECT count(*) FROM files")[0][0]
        assert 0 < kept < len(made)
        assert not lib.db.fetchall("SELECT asset_id FROM assets WHERE missing_since IS NOT NULL")
        report = await lib.index(collection)
        assert (report.unchanged, report.missing, report.errors) == (kept, [], [])
        assert report.indexed + report.relinked == len(made) - kept
        assert lib.db.fetchall("SELECT count(*), count(DISTINCT path) FROM files")[0] == (
            len(made), len(made))
