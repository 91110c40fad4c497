"""Many MCP sessions calling `search` at once over streamable HTTP: `alice mcp-server` on a
synthetic library, and a bare SDK server whose `search` returns a constant as the reference.

    python -m bench.mcp_concurrency --assets 3000 --sessions 50 --calls 20
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
from mcp import Client

from bench import synthetic
from bench.memory import clean_env, config_file
from bench.report import Row, latency_row, rate_row
from bench.search import queries
from bench.timing import summarize

PACE_SECONDS = 0.5
PACED_P50, PACED_P95 = 0.040, 0.100


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def serving(command: list[str], env: dict[str, str], port: int) -> Iterator[str]:
    """Run an HTTP MCP server until the block ends; yields its URL once it listens."""
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}: {command}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("server did not listen within 60 s") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def alice_command(database: Path, workdir: Path, port: int) -> tuple[list[str], dict[str, str]]:
    env = clean_env() | {"ALICE_PATHS__DATABASE": str(database),
                         "ALICE_CONFIG": str(config_file(workdir)),
                         "ALICE_SERVER__LOG_LEVEL": "warning",
                         # every call reaches the database: varied queries, none from the cache
                         "ALICE_PERFORMANCE__SEARCH_CACHE_SIZE": "0"}
    return ([sys.executable, "-m", "alice_mcp", "mcp-server", "--transport", "http", "--port",
             str(port)], env)


def bare_command(port: int) -> tuple[list[str], dict[str, str]]:
    return [sys.executable, "-m", "bench.mcp_concurrency", "--bare", str(port)], dict(os.environ)


async def burst(url: str, sessions: int, calls: int) -> tuple[list[float], float]:
    """Every session connects, then all call `search` back to back; (latencies, wall seconds)."""
    make = queries("combined")
    latencies: list[float] = []
    ready = anyio.Event()
    connected = 0

    async def session(n: int) -> None:
        nonlocal connected
        async with Client(url) as client:
            connected += 1
            if connected == sessions:
                ready.set()
            await ready.wait()
            for i in range(calls):
                started = time.perf_counter()
                result = await client.call_tool("search", {"query": make(n * calls + i),
                                                           "limit": 20})
                latencies.append(time.perf_counter() - started)
                if result.is_error:
                    raise RuntimeError(f"search failed: {result.content}")

    started = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for n in range(sessions):
            tg.start_soon(session, n)
        await ready.wait()
        started = time.perf_counter()
    return latencies, time.perf_counter() - started


async def paced(url: str, sessions: int, seconds: float) -> list[float]:
    """Every session calls `search` every PACE_SECONDS (start times spread over one pace), for
    `seconds`: sessions / PACE_SECONDS calls per second in all."""
    make = queries("combined")
    latencies: list[float] = []
    ready = anyio.Event()
    connected = 0
    t0 = [0.0]

    async def session(n: int) -> None:
        nonlocal connected
        async with Client(url) as client:
            connected += 1
            if connected == sessions:
                t0[0] = time.perf_counter() + 0.2
                ready.set()
            await ready.wait()
            for k in range(max(1, int(seconds / PACE_SECONDS))):
                due = t0[0] + k * PACE_SECONDS + n * PACE_SECONDS / sessions
                await anyio.sleep(max(0.0, due - time.perf_counter()))
                started = time.perf_counter()
                result = await client.call_tool("search", {"query": make(n * 1000 + k),
                                                           "limit": 20})
                latencies.append(time.perf_counter() - started)
                if result.is_error:
                    raise RuntimeError(f"search failed: {result.content}")

    async with anyio.create_task_group() as tg:
        for n in range(sessions):
            tg.start_soon(session, n)
    return latencies


def measure(database: Path, size: int, workdir: Path, sessions: int, calls: int,
            paced_seconds: float, single_calls: int) -> list[Row]:
    """Rows over HTTP, each against the bare SDK server measured in the same run: one client;
    a burst of sessions x calls back to back; sessions paced at one call per 0.5 s each."""
    figures: dict[str, dict[str, object]] = {}
    bare_port, alice_port = _free_port(), _free_port()
    for name, (command, env), port in (
            ("bare", bare_command(bare_port), bare_port),
            ("alice", alice_command(database, workdir, alice_port), alice_port)):
        with serving(command, env, port) as url:
            anyio.run(burst, url, 1, 5)  # warm up
            lone, _ = anyio.run(burst, url, 1, single_calls)
            many, wall = anyio.run(burst, url, sessions, calls)
            steady = anyio.run(paced, url, sessions, paced_seconds)
            figures[name] = {"lone": lone, "many": many, "rate": len(many) / wall,
                             "paced": steady}
    alice, bare = figures["alice"], figures["bare"]
    what = f"MCP `search` over HTTP, {size:,} assets"
    paced_rows = summarize(alice["paced"])  # type: ignore[arg-type]
    bare_paced = summarize(bare["paced"])  # type: ignore[arg-type]
    paced_row = latency_row(
        f"mcp.http.paced.{size}", f"{what}, {sessions} sessions each calling every "
        f"{PACE_SECONDS:g} s for {paced_seconds:g} s ({sessions / PACE_SECONDS:g} calls/s)",
        paced_rows, target_p50=PACED_P50,
        note=f"bare SDK server, same load: p50 {bare_paced.median * 1000:.1f} ms, "
             f"p95 {bare_paced.p95 * 1000:.1f} ms")
    paced_row.target = f"p50 < {PACED_P50 * 1000:g} ms, p95 < {PACED_P95 * 1000:g} ms"
    paced_row.met = paced_rows.median < PACED_P50 and paced_rows.p95 < PACED_P95
    return [
        latency_row(f"mcp.http.single.{size}", f"{what}, one session, varied queries "
                    "(search cache off)", summarize(alice["lone"]),  # type: ignore[arg-type]
                    note=f"bare SDK server: p50 "
                         f"{summarize(bare['lone']).median * 1000:.1f} ms"),  # type: ignore[arg-type]
        rate_row(f"mcp.http.burst.{size}", f"{what}, {sessions} sessions x {calls} calls back "
                 "to back", summarize([alice["rate"]]), unit="calls/s",  # type: ignore[list-item]
                 versus=("bare SDK server", summarize([bare["rate"]])),  # type: ignore[list-item]
                 min_ratio=0.5),
        latency_row(f"mcp.http.burst.{size}.latency", f"{what}, latency in the burst",
                    summarize(alice["many"])),  # type: ignore[arg-type]
        paced_row,
    ]


def run_bare(port: int) -> None:
    """The reference: the SDK alone, a `search` that returns a constant."""
    from mcp.server.mcpserver import MCPServer

    server = MCPServer("bare")

    @server.tool()
    def search(query: str = "", limit: int = 20) -> dict:
        """A constant page."""
        return {"results": [], "total": 0, "next_cursor": None}

    anyio.run(lambda: server.run_streamable_http_async(host="127.0.0.1", port=port))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--assets", type=int, default=3000)
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--paced-seconds", type=float, default=20)
    parser.add_argument("--single", type=int, default=100, help="calls of one lone client")
    parser.add_argument("--bare", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare:
        run_bare(args.bare)
        return
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        database = workdir / "lib.duckdb"
        synthetic.build_library(database, args.assets)
        for row in measure(database, args.assets, workdir, args.sessions, args.calls,
                           args.paced_seconds, args.single):
            print(f"{row.what}: {row.figure}; {row.versus} {row.target} "
                  f"{'' if row.met is None else 'met' if row.met else 'NOT met'} {row.note}")


if __name__ == "__main__":
    main()
