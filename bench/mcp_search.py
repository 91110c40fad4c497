"""Round trip of the MCP `search` tool over stdio: the real client, `python -m alice_mcp
mcp-server` in a subprocess, a synthetic library of N assets."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import anyio
from mcp import Client, StdioServerParameters

from bench.memory import clean_env, config_file
from bench.report import Row, latency_row
from bench.search import queries
from bench.timing import summarize, time_async_calls

TARGET_P50 = 0.020
WARM_SECONDS = 2.0


async def _round_trips(database: Path, workdir: Path, calls: int) -> tuple[list[float], list[float]]:
    env = clean_env() | {"ALICE_PATHS__DATABASE": str(database),
                         "ALICE_CONFIG": str(config_file(workdir))}
    params = StdioServerParameters(command=sys.executable,
                                   args=["-m", "alice_mcp", "mcp-server"], env=env,
                                   cwd=str(workdir))
    make = queries("tags")
    async with Client(params) as client:
        async def call(query: str) -> None:
            result = await client.call_tool("search", {"query": query, "limit": 20})
            if result.is_error:
                raise RuntimeError(f"search failed over MCP: {result.content}")

        # the server reads its search index into memory as it starts (0.6 s for 100,000
        # assets) and answers through DuckDB until then: time it once that is done
        # (with other queries than the timed ones: there are only 100 tags, and a warm-up
        # through them would leave every timed query in the search cache)
        warm, until, k = queries("combined"), time.monotonic() + WARM_SECONDS, 0
        while time.monotonic() < until:
            await call(warm(k))
            k += 1
        fresh = await time_async_calls(lambda i: call(make(i + 1000 if i < 0 else i)), calls,
                                       warmup=3)
        repeated = await time_async_calls(lambda _: call(make(0)), calls, warmup=2)
    return fresh, repeated


def measure(database: Path, size: int, workdir: Path, calls: int) -> list[Row]:
    """Rows: p50/p95 of the search tool's round trip, a different tag each call and the same
    query again (answered from the server's search cache)."""
    fresh, repeated = anyio.run(_round_trips, database, workdir, calls)
    what = f"MCP `search` tool call over stdio, {size:,} assets"
    return [
        latency_row(f"mcp.search.{size}.uncached", f"{what}, a different tag each call",
                    summarize(fresh), target_p50=TARGET_P50),
        latency_row(f"mcp.search.{size}.cached", f"{what}, the same query again (cached)",
                    summarize(repeated), target_p50=TARGET_P50),
    ]
