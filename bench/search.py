"""Search latency (tags, text, combined filters; uncached and cached) and find_similar, through
Library on synthetic libraries of N assets."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio

from alice_mcp.config import load_settings
from alice_mcp.library import Library
from alice_mcp.store import upkeep
from alice_mcp.store.db import Database
from bench import synthetic
from bench.report import Row, latency_row
from bench.timing import summarize, time_async_calls

TAG_TARGETS = {1_000_000: (0.050, 0.001)}  # size: (uncached p50, cached p50)
SIMILAR_TARGETS = {1_000_000: 0.100}


INDEX_MB = 1024  # performance.search_index_mb of the indexed rows (profile large_collection)


def queries(kind: str) -> Callable[[int], str]:
    """The i-th query of a kind; uncached runs walk through different values."""
    tags = synthetic.tag_vocabulary()
    words = synthetic.WORDS
    if kind == "tags":
        return lambda i: f"tag:{_quote(tags[(7 * i) % len(tags)])}"
    if kind == "text":
        return lambda i: words[(5 * i) % len(words)]
    sources = synthetic.SOURCES
    return lambda i: (f"tag:{_quote(tags[(3 * i) % len(tags)])} source:{sources[i % 7]} "
                      f"stars:>=3 after:2024-01-01 model:*xl*")


def _quote(tag: str) -> str:
    return f'"{tag}"' if " " in tag else tag


def library_for(path: Path, **performance: object) -> Library:
    flags = {"paths.database": path} | {f"performance.{k}": v for k, v in performance.items()}
    return Library(load_settings(flags=flags, environ={}).settings)


async def _search_latencies(path: Path, calls: int) -> dict[str, tuple[list[float], list[float]]]:
    out = {}
    with library_for(path) as library:
        for kind in ("tags", "text", "combined"):
            make = queries(kind)

            async def uncached(i: int, make: Callable[[int], str] = make) -> None:
                await library.search(make(i + 1000 if i < 0 else i))

            cold = await time_async_calls(uncached, calls, warmup=2,
                                          before=lambda _: library.search_cache.invalidate())

            async def cached(_: int, make: Callable[[int], str] = make) -> None:
                await library.search(make(0))

            warm = await time_async_calls(cached, calls, warmup=2)
            out[kind] = (cold, warm)
    return out


async def _indexed_latencies(path: Path, calls: int) -> dict[str, list[float]]:
    """As the MCP server searches: its filter index read at start, no search cache (the index
    may hold INDEX_MB: 1,000,000 assets need ~250 MB, over the default profile's 256 MB cap)."""
    out = {}
    with library_for(path, search_cache_size=0, search_index_mb=INDEX_MB) as library:
        await library.warm_up()
        if library.filter_index.current() is None:
            raise RuntimeError("the filter index was not read; these rows would time SQL")
        for kind in ("tags", "combined"):
            make = queries(kind)

            async def one(i: int, make: Callable[[int], str] = make) -> None:
                await library.search(make(i + 1000 if i < 0 else i))

            out[kind] = await time_async_calls(one, calls, warmup=2)
    return out


async def _similar_latencies(path: Path, size: int, calls: int) -> list[float]:
    with library_for(path) as library:
        async def one(i: int) -> None:
            await library.similar(synthetic.asset_id_of(abs(i) * 7919 % size), max_distance=10)
        return await time_async_calls(one, calls, warmup=2)


def measure(path: Path, size: int, calls: int) -> list[Row]:
    """Rows for one synthetic library: three query kinds x (uncached, cached), and similar."""
    rows = []
    results = anyio.run(_search_latencies, path, calls)
    labels = {"tags": "search by tag (tag:x)", "text": "search by text (free word)",
              "combined": "search, combined filters (tag, source, stars, after, model glob)"}
    for kind, (cold, warm) in results.items():
        cold_target, warm_target = TAG_TARGETS.get(size, (None, None)) if kind == "tags" \
            else (None, None)
        rows.append(latency_row(f"search.{kind}.{size}.uncached",
                                f"{labels[kind]}, {size:,} assets, uncached",
                                summarize(cold), target_p50=cold_target))
        rows.append(latency_row(f"search.{kind}.{size}.cached",
                                f"{labels[kind]}, {size:,} assets, cached",
                                summarize(warm), target_p50=warm_target))
    for kind, latencies in anyio.run(_indexed_latencies, path, calls).items():
        rows.append(latency_row(f"search.{kind}.{size}.indexed",
                                f"{labels[kind]}, {size:,} assets, uncached, from the in-memory "
                                f"filter index as the MCP server searches (search_index_mb "
                                f"{INDEX_MB})", summarize(latencies)))
    similar = anyio.run(_similar_latencies, path, size, calls)
    rows.append(latency_row(f"similar.{size}", f"find_similar (Library.similar, distance <= 10), "
                            f"{size:,} hashes", summarize(similar),
                            target_p50=SIMILAR_TARGETS.get(size)))
    return rows


def build(workdir: Path, size: int) -> tuple[Path, float, float]:
    """A synthetic library of `size` assets under workdir, then the upkeep `alice analyze` runs
    after adding tags (tags put in tag order once the library is big enough); returns its path,
    build seconds and upkeep seconds."""
    path = workdir / f"synthetic-{size}.duckdb"
    took = synthetic.build_library(path, size)
    db = Database(path)
    try:
        done = upkeep.order_tags_if_needed(db)
    finally:
        db.close()
    return path, took, done.seconds if done else 0.0
