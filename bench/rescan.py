"""Rescan of an unchanged, already organized library: Library.organize() when nothing is new."""

from __future__ import annotations

from pathlib import Path

import anyio

from alice_mcp.config import load_settings
from alice_mcp.library import Library
from bench.corpus import Corpus
from bench.memory import OrganizeRun, organize_cli
from bench.report import Row, rate_row
from bench.timing import rates, summarize, time_async_calls


async def _rescans(run: OrganizeRun, corpus: Corpus, repeats: int) -> list[float]:
    settings = load_settings(flags={"paths.database": run.database,
                                    "paths.inbox": corpus.inbox,
                                    "paths.organized": run.organized}, environ={}).settings
    with Library(settings) as library:
        async def once(_: int) -> None:
            report = await library.organize()
            if report.unchanged != len(corpus.files) or report.organized:
                raise RuntimeError(f"the rescan was not of an unchanged library: {report}")
        return await time_async_calls(once, repeats, warmup=1)


def measure(corpus: Corpus, workdir: Path, repeats: int, run: OrganizeRun | None) -> Row:
    """Files/s of a rescan that finds every file unchanged (one stat each, one index query)."""
    if run is None:
        run = organize_cli("default", corpus, workdir, tag="-rescan")
    seconds = anyio.run(_rescans, run, corpus, repeats)
    n = len(corpus.files)
    return rate_row("rescan", f"rescan of an unchanged library of {n:,} files "
                    "(Library.organize, warm)", summarize(rates(n, seconds)),
                    min_rate=20_000)
