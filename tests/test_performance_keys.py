"""Every key of the performance block is accepted and changes what the program does."""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

import anyio
import pytest

from alice_mcp import samples
from alice_mcp.cache import BoundedCache
from alice_mcp.config import PerformanceSettings, Settings, load_settings
from alice_mcp.library import Library
from alice_mcp.logs import configure_logging
from alice_mcp.pipeline.pool import PoolPlan, map_batches
from alice_mcp.store.query import parse as lib_query
from alice_mcp.store.writer import BatchWriter, Write
from alice_mcp.understanding.base import Analysis, Item, Usage
from alice_mcp.understanding.service import UnderstandingService
from bench import store, synthetic

pytestmark = pytest.mark.anyio


def _settings(tmp_path: Path, **performance: object) -> Settings:
    flags = {f"performance.{k}": v for k, v in performance.items()}
    return load_settings(flags={"paths.inbox": tmp_path / "inbox",
                                "paths.organized": tmp_path / "organized",
                                "paths.database": tmp_path / "lib.duckdb", **flags}).settings


async def _organize(tmp_path: Path, count: int, **performance: object):
    samples.make_sample_inbox(tmp_path / "inbox", count=count, seed=3)
    messages: list[str] = []

    async def listen(done: int, total: int, message: str) -> None:
        messages.append(message)

    with Library(_settings(tmp_path, **performance)) as lib:
        report = await lib.organize(listeners=[listen])
    return report, messages


def test_the_keys_tested_here_are_all_the_keys() -> None:
    tested = {"max_workers", "batch_size", "parallel_threshold", "enable_batch_operations",
              "parallel_metadata_extraction", "batch_insert_size", "transaction_size",
              "max_memory_cache_mb", "duckdb_memory_limit_mb", "cache_ttl_seconds",
              "understanding_batch_size",
              "max_concurrent_api_calls", "search_cache_size", "max_concurrent_reads", "search_index_mb", "enable_performance_monitoring",
              "log_performance_metrics", "metrics_interval_seconds"}
    tested |= {"executor", "dask_scheduler", "dask_workers", "path_map"}  # tests/test_dask.py
    assert tested == set(PerformanceSettings.model_fields)


async def _peak_concurrency(plan: PoolPlan, items: int) -> int:
    lock, running, peak = threading.Lock(), [0], [0]

    def work(_: int) -> None:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.02)
        with lock:
            running[0] -= 1

    async for _ in map_batches(list(range(items)), work, plan):
        pass
    return peak[0]


@pytest.mark.parametrize(("workers", "parallel", "count", "cores", "expected"), [
    (3, True, 200, 16, 3),      # max_workers bounds the threads
    (6, True, 200, 16, 6),
    (6, True, 200, 2, 3),       # and one more than the cores do
    (6, False, 200, 16, 1),     # parallel_metadata_extraction off: in order
    (6, True, 50, 16, 1),       # below parallel_threshold (100): in order
])
async def test_max_workers_parallel_extraction_and_threshold(workers: int, parallel: bool,
                                                             count: int, cores: int,
                                                             expected: int) -> None:
    plan = PoolPlan.for_run(count, max_workers=workers, batch_size=100, parallel_threshold=100,
                            parallel=parallel, cores=cores)
    assert await _peak_concurrency(plan, count) == expected


async def test_batch_size_sets_the_batches(tmp_path: Path) -> None:
    report, messages = await _organize(tmp_path, 150, batch_size=40)
    assert messages[0] == "Processing 150 files in 4 batches"
    assert messages[1:] == [f"Processed {n}/150 files" for n in (40, 80, 120, 150)]
    assert report.errors == []


async def test_parallel_threshold_is_a_setting(tmp_path: Path) -> None:
    plan = PoolPlan.for_run(30, max_workers=4, batch_size=10, parallel_threshold=20, cores=8)
    assert plan.workers == 4


async def test_insert_size_transaction_size_and_batching(tmp_path: Path) -> None:
    batched, _ = await _organize(tmp_path / "a", 30, batch_insert_size=10, transaction_size=20)
    single, _ = await _organize(tmp_path / "b", 30, enable_batch_operations=False)
    rows = batched.counters.rows_written
    assert rows == single.counters.rows_written > 100
    # transaction_size 20: a commit every 20 rows; the default (5000) commits only at the
    # batch's journal barrier and at the end
    assert batched.counters.commits >= rows // 20 and single.counters.commits == 2
    # batch_insert_size 10: one statement per table per 10 writes; unbatched: one per row
    assert batched.counters.write_statements < rows / 2
    assert single.counters.write_statements > 2 * batched.counters.write_statements


async def test_search_cache_size_ttl_and_memory_budget() -> None:
    now = [0.0]
    cache: BoundedCache[str] = BoundedCache("t", max_entries=3, ttl_seconds=10,
                                            max_bytes=1000, sizeof=len, timer=lambda: now[0])
    for key in "abcd":
        cache.put(key, "x" * 10)
    assert cache.get("a") is None and cache.get("d") == "x" * 10  # search_cache_size = 3
    now[0] = 11.0
    assert cache.get("d") is None                                   # cache_ttl_seconds
    cache.put("big", "y" * 600)
    cache.put("big2", "z" * 600)
    assert cache.size_bytes <= 1000 and cache.get("big") is None    # max_memory_cache_mb
    assert cache.hits == 1 and cache.misses == 3


@pytest.mark.parametrize("bound", [2, 16])
async def test_max_concurrent_reads_bounds_the_reader_threads(tmp_path: Path, bound: int) -> None:
    lock, running, peak = threading.Lock(), [0], [0]

    def read() -> None:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1

    with Library(_settings(tmp_path, max_concurrent_reads=bound)) as lib:
        async with anyio.create_task_group() as tg:
            for _ in range(8):
                tg.start_soon(lib.read, read)
    assert peak[0] == min(bound, 8)


def test_a_page_read_before_a_write_is_not_cached() -> None:
    """A reader notes the generation before its query; a write that commits (and invalidates)
    meanwhile makes its page stale, so it is not kept."""
    cache: BoundedCache[str] = BoundedCache("t", max_entries=10, ttl_seconds=60, max_bytes=1000)
    before = cache.generation
    cache.invalidate()                      # a write committed while the reader ran
    cache.put("q", "old answer", before)
    assert cache.get("q") is None
    cache.put("q", "new answer", cache.generation)
    assert cache.get("q") == "new answer"


async def test_library_caches_follow_the_settings(tmp_path: Path) -> None:
    with Library(_settings(tmp_path, search_cache_size=2, cache_ttl_seconds=60,
                           max_memory_cache_mb=1)) as lib:
        assert lib.search_cache.max_bytes == 1024 * 1024
        for query in ("a", "b", "c"):
            await lib.search(query)
        assert lib.search_cache.describe()["entries"] == 2
        await lib.search("c")
        assert lib.search_cache.hits == 1
    with Library(_settings(tmp_path, search_cache_size=0)) as lib:
        await lib.search("a")
        await lib.search("a")
        assert lib.search_cache.hits == 0


async def _memory_limit_after_organize(tmp_path: Path, megabytes: int) -> str:
    samples.make_sample_inbox(tmp_path / "inbox", count=5, seed=3)
    with Library(_settings(tmp_path, duckdb_memory_limit_mb=megabytes)) as lib:
        await lib.organize()
        return lib.db.fetchall("SELECT current_setting('memory_limit')")[0][0]


@pytest.mark.parametrize("megabytes", [0, 8])
async def test_search_index_mb_holds_structured_searches_in_memory_or_not(
        tmp_path: Path, megabytes: int) -> None:
    await _organize(tmp_path, 6)
    with Library(_settings(tmp_path, search_index_mb=megabytes)) as lib:
        await lib.warm_up()
        index = lib.filter_index.current()
        assert (index is not None) == bool(megabytes)
        total = (await lib.search("type:image")).total
        assert total >= 4
        if index is not None:
            assert len(index.matching(lib_query("type:image"))) == total


async def test_duckdb_memory_limit_caps_the_database(tmp_path: Path) -> None:
    assert await _memory_limit_after_organize(tmp_path / "a", 48) == "48.0 MiB"
    assert await _memory_limit_after_organize(tmp_path / "b", 300) == "300.0 MiB"


async def test_a_low_duckdb_memory_limit_still_serves_a_big_library(tmp_path: Path) -> None:
    """DuckDB cannot spill ART indexes: under a plain 32 MiB limit this search and insert fail."""
    path = tmp_path / "big.duckdb"
    synthetic.build_library(path, 100_000)
    settings = load_settings(flags={"paths.database": path,
                                    "performance.duckdb_memory_limit_mb": 32}).settings
    with Library(settings) as lib:
        page = await lib.search("tag:portrait", limit=100)
        writes = [Write("assets", row) for row in store.asset_rows(5000, seed=1)]
        stats = BatchWriter(lib.db, batch_insert_size=1000).write_all(writes)
        limit = lib.db.fetchall("SELECT current_setting('memory_limit')")[0][0]
    assert len(page.results) == 100 and stats.rows == 5000 and not stats.rejected
    assert 32 < float(limit.split()[0]) < 256


async def test_a_page_larger_than_one_lookup_list_is_whole(tmp_path: Path) -> None:
    """A page's details are looked up 1,000 ids at a time: a 1,500-hit page keeps every hit."""
    path = tmp_path / "lib.duckdb"
    synthetic.build_library(path, 2_000)
    with Library(load_settings(flags={"paths.database": path}).settings) as lib:
        page = await lib.search(None, limit=1_500)
    assert len(page.results) == 1_500 and page.total == 2_000
    assert len({hit.asset_id for hit in page.results}) == 1_500
    assert all(hit.path and hit.tags == sorted(set(hit.tags)) for hit in page.results)


class SlowProvider:
    """A stand-in for a remote API: each call says how many items it got, and lasts until
    `expect` calls are in flight at once (or 5 s): on a loaded machine a fixed delay let one
    call end before the last allowed one started, and the test saw one fewer in flight."""

    name, model, prompt_version = "slow", "slow-1", "1"

    def __init__(self, expect: int) -> None:
        self.calls: list[int] = []
        self.in_flight = 0
        self.expect = expect
        self.reached = anyio.Event()

    async def analyze(self, items: list[Item]) -> tuple[list[Analysis | Exception], Usage]:
        self.calls.append(len(items))
        self.in_flight += 1
        if self.in_flight >= self.expect:
            self.reached.set()
        with anyio.move_on_after(5):
            await self.reached.wait()
        await anyio.sleep(0.01)
        self.in_flight -= 1
        return [Analysis(description="x") for _ in items], Usage(usd=0.001)


@pytest.mark.parametrize(("batch", "concurrent"), [(3, 2), (5, 1), (2, 4)])
async def test_understanding_batch_size_and_concurrency(tmp_path: Path, batch: int,
                                                        concurrent: int) -> None:
    _, _ = await _organize(tmp_path, 13)
    settings = _settings(tmp_path, understanding_batch_size=batch,
                         max_concurrent_api_calls=concurrent)
    with Library(settings) as lib:
        provider = SlowProvider(expect=concurrent)
        service = UnderstandingService(lib.db, settings)
        report = await service.analyze(None, provider)
    assert report.analyzed == 12
    assert len(provider.calls) == report.requests == math.ceil(12 / batch)
    assert max(provider.calls) == batch
    assert service.max_in_flight == concurrent
    assert report.cost_usd == pytest.approx(0.001 * report.requests)


async def test_performance_monitoring_logs_metrics(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info")
    await _organize(tmp_path, 150, enable_performance_monitoring=True,
                    metrics_interval_seconds=0.05, max_workers=2)
    err = capsys.readouterr().err
    assert "performance metrics" in err and "files_per_second" in err and "rss_mb" in err
    await _organize(tmp_path / "quiet", 150, metrics_interval_seconds=0.05)
    assert "performance metrics" not in capsys.readouterr().err


async def test_log_performance_metrics_adds_a_summary(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info")
    await _organize(tmp_path, 5, log_performance_metrics=True)
    err = capsys.readouterr().err
    assert "organize finished" in err and "hashed=5" in err
    await _organize(tmp_path / "quiet", 5)
    assert "organize finished" not in capsys.readouterr().err
