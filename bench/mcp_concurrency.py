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
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import anyio
from mcp import Client

from alice_mcp.results import SearchPage  # the bare server's output schema is alice's
from bench import synthetic
from bench.memory import clean_env, config_file
from bench.report import Row, latency_row, rate_row
from bench.search import queries
from bench.timing import summarize

PACE_SECONDS = 0.5
PACED_P50, PACED_P95 = 0.040, 0.100
WARM_SECONDS = 3.0


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


def bare_command(port: int, page: Path | None = None) -> tuple[list[str], dict[str, str]]:
    extra = ["--page", str(page)] if page else []
    return ([sys.executable, "-m", "bench.mcp_concurrency", "--bare", str(port), *extra],
            dict(os.environ))


def real_page(database: Path, workdir: Path) -> Path:
    """A page alice answers on this library (20 hits of a combined query), saved as JSON: what
    the bare server returns, so both carry the same bytes and output schema."""
    from alice_mcp.config import load_settings
    from alice_mcp.library import Library

    settings = load_settings(flags={"paths.database": database}, environ={}).settings

    async def first() -> str:
        with Library(settings) as library:
            page = await library.search(queries("combined")(0), limit=20)
        return page.model_dump_json()

    out = workdir / "page.json"
    out.write_text(anyio.run(first))
    return out


@dataclass
class Load:
    """What many sessions saw: latencies of the answered calls, calls lost with a dropped
    session, and when the calls began (every session connected and warm). `first` holds each
    session's first call, made before: the SDK client lists the tools and compiles the output
    schema's validator then (~15 ms of client CPU), for any server."""

    latencies: list[float] = field(default_factory=list)
    first: list[float] = field(default_factory=list)
    lost: int = 0
    started: float = 0.0


async def _drive(url: str, sessions: int, calls: int,
                 run: Callable[[int, Client, Load], Awaitable[None]]) -> Load:
    """Connect every session, then let each run its calls; a session whose connection drops
    counts its unanswered calls as lost instead of stopping the others."""
    load = Load()
    ready = anyio.Event()
    arrived = [0]

    def arrive() -> None:
        arrived[0] += 1
        if arrived[0] == sessions:
            load.started = time.perf_counter()
            ready.set()

    async def session(n: int) -> None:
        joined, before = False, len(load.latencies)
        try:
            async with Client(url) as client:
                started = time.perf_counter()
                await _search(client, "", None)
                load.first.append(time.perf_counter() - started)
                arrive()
                joined = True
                await ready.wait()
                await run(n, client, load)
        except Exception:  # a dropped connection ends this session only
            if not joined:
                arrive()
            load.lost += calls - (len(load.latencies) - before)

    async with anyio.create_task_group() as tg:
        for n in range(sessions):
            tg.start_soon(session, n)
    return load


async def _search(client: Client, query: str, load: Load | None) -> None:
    started = time.perf_counter()
    result = await client.call_tool("search", {"query": query, "limit": 20})
    if result.is_error:
        raise RuntimeError(f"search failed: {result.content}")
    if load is not None:
        load.latencies.append(time.perf_counter() - started)


async def burst(url: str, sessions: int, calls: int) -> tuple[Load, float]:
    """Every session connects, then all call `search` back to back; (load, wall seconds)."""
    make = queries("combined")

    async def run(n: int, client: Client, load: Load) -> None:
        for i in range(calls):
            await _search(client, make(n * calls + i), load)

    load = await _drive(url, sessions, calls, run)
    return load, time.perf_counter() - load.started


def warm_up(url: str, seconds: float = WARM_SECONDS) -> None:
    """Call the server for a while before timing it: alice reads its search index into memory
    at start (0.6 s for 100,000 assets), and answers through DuckDB until it has."""
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        anyio.run(burst, url, 1, 5)


async def paced(url: str, sessions: int, seconds: float) -> Load:
    """Every session calls `search` every PACE_SECONDS (start times spread over one pace), for
    `seconds`: sessions / PACE_SECONDS calls per second in all."""
    make = queries("combined")
    calls = max(1, int(seconds / PACE_SECONDS))

    async def run(n: int, client: Client, load: Load) -> None:
        for k in range(calls):
            due = load.started + 0.2 + k * PACE_SECONDS + n * PACE_SECONDS / sessions
            await anyio.sleep(max(0.0, due - time.perf_counter()))
            await _search(client, make(n * 1000 + k), load)

    return await _drive(url, sessions, calls, run)


def measure(database: Path, size: int, workdir: Path, sessions: int, calls: int,
            paced_seconds: float, single_calls: int) -> list[Row]:
    """Rows over HTTP, each against bare SDK servers measured in the same run: one client;
    a burst of sessions x calls back to back; sessions paced at one call per 0.5 s each.

    Two bare servers: one returning an empty page (the SDK's floor), one returning a real page
    of alice's with alice's output schema (the same bytes to send and, in the client, to
    validate against the schema: ~5 ms of client CPU a call): the burst's target compares
    with the second, whose client does the same work as alice's."""
    figures: dict[str, dict[str, object]] = {}
    page = real_page(database, workdir)
    ports = {name: _free_port() for name in ("bare", "page", "alice")}
    for name, (command, env) in (
            ("bare", bare_command(ports["bare"])),
            ("page", bare_command(ports["page"], page)),
            ("alice", alice_command(database, workdir, ports["alice"]))):
        with serving(command, env, ports[name]) as url:
            warm_up(url, WARM_SECONDS if size >= 10_000 else 0.2)
            lone, _ = anyio.run(burst, url, 1, single_calls)
            many, wall = anyio.run(burst, url, sessions, calls)
            steady = anyio.run(paced, url, sessions, paced_seconds)
            figures[name] = {"lone": lone.latencies, "many": many.latencies,
                             "rate": len(many.latencies) / wall, "paced": steady.latencies,
                             "first": steady.first,
                             "lost": f"burst {many.lost}, paced {steady.lost}"}
    alice, bare, same = figures["alice"], figures["bare"], figures["page"]

    def ms(name: str, kind: str) -> str:
        found = summarize(figures[name][kind])  # type: ignore[arg-type]
        return f"p50 {found.median * 1000:.1f} ms, p95 {found.p95 * 1000:.1f} ms"

    what = f"MCP `search` over HTTP, {size:,} assets"
    paced_rows = summarize(alice["paced"])  # type: ignore[arg-type]
    paced_row = latency_row(
        f"mcp.http.paced.{size}", f"{what}, {sessions} sessions each calling every "
        f"{PACE_SECONDS:g} s for {paced_seconds:g} s ({sessions / PACE_SECONDS:g} calls/s)",
        paced_rows, target_p50=PACED_P50,
        note=f"bare SDK server, same load: returning alice's page {ms('page', 'paced')}; "
             f"returning an empty page {ms('bare', 'paced')}. Each session's first call, "
             f"made as the 50 connect, before the paced calls: alice {ms('alice', 'first')}, "
             f"bare with alice's page {ms('page', 'first')}")
    paced_row.target = f"p50 < {PACED_P50 * 1000:g} ms, p95 < {PACED_P95 * 1000:g} ms"
    paced_row.met = paced_rows.median < PACED_P50 and paced_rows.p95 < PACED_P95
    lost = ("calls lost with a dropped connection: "
            + ", ".join(f"{name} {figures[name]['lost']}" for name in ("alice", "page", "bare")))
    return [
        latency_row(f"mcp.http.single.{size}", f"{what}, one session, varied queries "
                    "(search cache off)", summarize(alice["lone"]),  # type: ignore[arg-type]
                    note=f"bare SDK server: returning alice's page {ms('page', 'lone')}; "
                         f"returning an empty page {ms('bare', 'lone')}"),
        rate_row(f"mcp.http.burst.{size}", f"{what}, {sessions} sessions x {calls} calls back "
                 "to back", summarize([alice["rate"]]), unit="calls/s",  # type: ignore[list-item]
                 versus=("bare SDK server returning alice's page",
                         summarize([same["rate"]])),  # type: ignore[list-item]
                 min_ratio=0.5,
                 note=f"bare SDK server returning an empty page: {bare['rate']:.0f} calls/s"),
        latency_row(f"mcp.http.burst.{size}.latency", f"{what}, latency in the burst",
                    summarize(alice["many"]), note=lost),  # type: ignore[arg-type]
        paced_row,
    ]


def run_bare(port: int, page: Path | None) -> None:
    """The reference: the SDK alone, a `search` that returns a constant: an empty page, or
    (with `page`) a real page of alice's, with alice's output schema."""
    from mcp.server.mcpserver import MCPServer

    server = MCPServer("bare")
    if page is None:
        @server.tool()
        def search(query: str = "", limit: int = 20) -> dict:
            """A constant page."""
            return {"results": [], "total": 0, "next_cursor": None}
    else:
        constant = SearchPage.model_validate_json(page.read_text())

        @server.tool()
        def search(query: str = "", limit: int = 20) -> SearchPage:  # noqa: F811
            """A constant page."""
            return constant

    anyio.run(lambda: server.run_streamable_http_async(host="127.0.0.1", port=port))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--assets", type=int, default=3000)
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--paced-seconds", type=float, default=20)
    parser.add_argument("--single", type=int, default=100, help="calls of one lone client")
    parser.add_argument("--bare", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--page", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare:
        run_bare(args.bare, args.page)
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
