"""The benchmark suite's command line: run every row family, print the table, write the report.

    python -m bench                 full sizes, writes BENCHMARKS.md (make bench)
    python -m bench --quick         under 2 minutes (make bench-quick)
    python -m bench --size tiny     a smoke run of a few seconds (tests/test_bench_smoke.py)
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from alice_mcp.config import load_settings
from alice_mcp.logs import configure_logging
from bench import (
    corpus,
    detection,
    endtoend,
    executors,
    indexing,
    mcp_concurrency,
    mcp_search,
    memory,
    rescan,
    search,
    semantic,
    startup,
    store,
)
from bench.report import Row, document, load_average, table
from bench.sizes import PRESETS, Sizes, with_overrides

ROOT = Path(__file__).resolve().parent.parent
FAMILIES = ("detect", "index", "store", "search", "mcp", "memory", "rescan", "semantic",
            "dask", "startup", "e2e")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_const", const="quick", dest="size",
                        help="quick sizes (under 2 minutes)")
    parser.add_argument("--size", choices=sorted(PRESETS))
    parser.set_defaults(size="full")
    parser.add_argument("--only", nargs="+", choices=FAMILIES, help="run only these families")
    parser.add_argument("--output", type=Path, help="report file (default: BENCHMARKS.md for "
                        "full runs, bench/.corpus/BENCHMARKS-<size>.md otherwise)")
    parser.add_argument("--workdir", type=Path, help="scratch folder (default: a temporary one, "
                        "removed afterwards)")
    parser.add_argument("--corpus-cache", type=Path, default=corpus.CACHE,
                        help="where generated image corpora are kept between runs")
    parser.add_argument("--organize-files", type=int, help="files for the memory and rescan rows")
    parser.add_argument("--index-files", type=int, help="files for the indexing rows")
    parser.add_argument("--search-sizes", type=int, nargs="+", help="synthetic library sizes")
    parser.add_argument("--profiles", nargs="+", help="profiles for the memory rows")
    return parser


def _say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _section(rows: list[Row], name: str, fn: Callable[[], list[Row]]) -> None:
    started = time.perf_counter()
    _say(f"{name} ...")
    found = fn()
    rows.extend(found)
    _say(f"{name}: {len(found)} rows in {time.perf_counter() - started:.1f} s")


def run_suite(sizes: Sizes, workdir: Path, cache: Path, only: tuple[str, ...]) -> list[Row]:
    """Every requested row family, in an order that lets later rows reuse earlier work."""
    rows: list[Row] = []
    settings = load_settings(memory.config_file(workdir), environ={}, profile="default").settings
    if "startup" in only:  # first: whole processes, timed before the machine warms up
        files = corpus.corpus(f"startup-{sizes.startup_files}", sizes.startup_files, 1,
                              root=cache)
        _section(rows, "start-up, whole processes", lambda: startup.measure(
            files, workdir, sizes.startup_repeats))
    if "e2e" in only:
        pngs = endtoend.png_corpus(sizes.e2e_files, root=cache)
        _section(rows, "alice end to end vs the decode floor and phash", lambda: endtoend.measure(
            pngs, workdir, sizes.e2e_repeats))
    if "detect" in only:
        _section(rows, "detection vs sd_parsers", lambda: detection.measure(
            workdir, sizes.detect_repeats, sizes.detect_files))
    if "index" in only:
        files = corpus.corpus(f"index-{sizes.index_files}", sizes.index_files, sizes.index_pool,
                              root=cache)
        _section(rows, "full indexing vs phash vs decode floor", lambda: indexing.measure(
            files, settings, workdir, sizes.index_repeats))
    if "dask" in only:
        files = corpus.corpus(f"index-{sizes.executor_files}", sizes.executor_files,
                              sizes.index_pool, root=cache)
        _section(rows, "alice index on a Dask LocalCluster vs local", lambda: executors.measure(
            files, settings, workdir, sizes.executor_repeats))
    if "store" in only:
        store.PER_ROW_SAMPLE = sizes.per_row_sample
        _section(rows, "batched vs per-row inserts", lambda: store.insert_rows(
            sizes.insert_sizes, sizes.insert_repeats, store.scratch_dir(workdir)))
    if "semantic" in only:
        _section(rows, "embedding throughput", lambda: semantic.throughput(
            workdir, sizes.search_calls // 4 or 1, sizes.embed_items))
    if {"search", "mcp", "store", "semantic"} & set(only):
        wanted = set(sizes.search_sizes) if "search" in only else set()
        wanted |= set(sizes.semantic_sizes) if "semantic" in only else set()
        mcp = {sizes.mcp_size} if {"mcp", "store"} & set(only) else set()
        for size in sorted(wanted | mcp):
            path, took, ordered = search.build(workdir, size)
            _say(f"synthetic library of {size:,} assets built in {took:.1f} s, "
                 f"tags put in tag order in {ordered:.1f} s")
            if "search" in only and size in sizes.search_sizes:
                _section(rows, f"search on {size:,}", lambda p=path, n=size: search.measure(
                    p, n, sizes.search_calls))
            if "mcp" in only and size == sizes.mcp_size:
                _section(rows, f"MCP search on {size:,}", lambda p=path, n=size: mcp_search.measure(
                    p, n, workdir, sizes.mcp_calls))
                _section(rows, f"MCP search over HTTP, many sessions, on {size:,}",
                         lambda p=path, n=size: mcp_concurrency.measure(
                             p, n, workdir, sizes.mcp_sessions, sizes.mcp_burst_calls,
                             sizes.mcp_paced_seconds, sizes.mcp_calls))
            if "store" in only and size == sizes.mcp_size:
                _section(rows, "tag update", lambda p=path, n=size: [store.tag_update(
                    p, n, sizes.tag_repeats, sizes.tag_assets)])
            if "semantic" in only and size in sizes.semantic_sizes:
                _section(rows, f"search by meaning on {size:,}", lambda p=path, n=size:
                         semantic.latency(p, n, sizes.search_calls, workdir))
            path.unlink(missing_ok=True)
    if {"memory", "rescan"} & set(only):
        files = corpus.corpus(f"organize-{sizes.organize_files}", sizes.organize_files,
                              sizes.organize_pool, root=cache)
        kept: list[memory.OrganizeRun | None] = [None]
        if "memory" in only:
            def memory_rows() -> list[Row]:
                found, kept[0] = memory.measure(files, workdir, list(sizes.profiles))
                return found
            _section(rows, f"peak memory organizing {len(files.files):,} files", memory_rows)
        if "rescan" in only:
            _section(rows, "unchanged rescan", lambda: [rescan.measure(
                files, workdir, sizes.rescan_repeats, kept[0])])
    return rows


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    configure_logging("warning")
    sizes = with_overrides(PRESETS[args.size], organize_files=args.organize_files,
                           index_files=args.index_files,
                           search_sizes=tuple(args.search_sizes) if args.search_sizes else None,
                           profiles=tuple(args.profiles) if args.profiles else None)
    only = tuple(args.only or FAMILIES)
    output = args.output or (ROOT / "BENCHMARKS.md" if sizes.name == "full"
                             else corpus.CACHE / f"BENCHMARKS-{sizes.name}.md")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="alice-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    started, clock, load_before = datetime.now(), time.perf_counter(), load_average()
    _say(f"{sizes.name} run in {workdir}")
    try:
        rows = run_suite(sizes, workdir, args.corpus_cache, only)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    taken = time.perf_counter() - clock
    print(table(rows))
    perf = load_settings(memory.config_file(Path(tempfile.gettempdir())), environ={},
                         profile="default").settings.performance
    settings_text = (f"profile default (max_workers {perf.max_workers}, batch_size "
                     f"{perf.batch_size}, batch_insert_size {perf.batch_insert_size}, "
                     f"transaction_size {perf.transaction_size}) unless a row says otherwise")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(document(rows, mode=sizes.name, started=started, seconds_taken=taken,
                               load_before=load_before, load_after=load_average(),
                               settings_text=settings_text), "utf-8")
    met = sum(1 for r in rows if r.met)
    _say(f"done in {taken:.0f} s: {met} of {sum(1 for r in rows if r.met is not None)} targets "
         f"met; report written to {output}")
    return 0
