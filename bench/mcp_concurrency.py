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
from bench.search import queries
from bench.timing import percentile


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


def _report(name: str, latencies: list[float], wall: float) -> str:
    return (f"{name}: {len(latencies)} calls, p50 {percentile(latencies, 50) * 1000:.1f} ms, "
            f"p95 {percentile(latencies, 95) * 1000:.1f} ms, {len(latencies) / wall:.0f} calls/s")


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
        bare_port, alice_port = _free_port(), _free_port()
        for name, (command, env), port in (
                ("bare SDK", bare_command(bare_port), bare_port),
                (f"alice {args.assets:,} assets", alice_command(database, workdir, alice_port),
                 alice_port)):
            with serving(command, env, port) as url:
                anyio.run(burst, url, 1, 10)  # warm up
                lone, wall = anyio.run(burst, url, 1, args.single)
                print(_report(f"{name}, 1 session", lone, wall))
                many, wall = anyio.run(burst, url, args.sessions, args.calls)
                print(_report(f"{name}, {args.sessions} sessions x {args.calls}", many, wall))


if __name__ == "__main__":
    main()
