"""File, model and index work never shares a thread limiter with the MCP transport: anyio's
default limiter (the stdio transport reads and writes each message through it) can be full and
every tool still finishes; each family's limiter can be full and ping and stats still answer."""

from __future__ import annotations

import ast
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
from mcp import Client

import alice_mcp
from alice_mcp import samples, threads
from alice_mcp.config import Settings, load_settings
from alice_mcp.server import build_server
from tests.embedding_models import tiny_clip_dir

pytestmark = pytest.mark.anyio
PACKAGE = Path(alice_mcp.__file__).parent


@pytest.fixture
def served(tmp_path: Path) -> Settings:
    samples.make_sample_inbox(tmp_path / "inbox", count=12, seed=5)
    models = tmp_path / "models"
    tiny_clip_dir(models)
    return load_settings(flags={
        "paths.inbox": tmp_path / "inbox", "paths.organized": tmp_path / "organized",
        "paths.database": tmp_path / "lib.duckdb", "embeddings.model_dir": models,
        "embeddings.image_model": "tiny-clip", "sidecars.write": "auto"}).settings


@asynccontextmanager
async def _all_tokens_held(limiter: anyio.CapacityLimiter,
                           seconds: float = 30) -> AsyncIterator[Callable[[], bool]]:
    """Every token of the limiter borrowed, as threads stuck in it would hold them; given
    back after `seconds` at the latest, so work that waits on them ends (and the test fails
    on held() rather than hanging). Yields held(): whether all are still borrowed."""
    holders = [object() for _ in range(int(limiter.total_tokens))]
    for holder in holders:
        await limiter.acquire_on_behalf_of(holder)
    lent: list[object] = list(holders)

    def give_back() -> None:
        while lent:
            limiter.release_on_behalf_of(lent.pop())

    async def give_back_later() -> None:
        await anyio.sleep(seconds)
        give_back()

    async with anyio.create_task_group() as tg:
        tg.start_soon(give_back_later)
        try:
            yield lambda: len(lent) == len(holders) and limiter.available_tokens == 0
        finally:
            give_back()
            tg.cancel_scope.cancel()


def test_every_worker_thread_names_its_limiter() -> None:
    """No to_thread.run_sync in alice_mcp falls back to anyio's default limiter."""
    unnamed = []
    for module in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(module.read_text("utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "run_sync"
                    and not any(k.arg == "limiter" for k in node.keywords)):
                unnamed.append(f"{module.relative_to(PACKAGE)}:{node.lineno}")
    assert unnamed == []


async def test_every_tool_finishes_while_the_default_limiter_is_full(served: Settings) -> None:
    default = anyio.to_thread.current_default_thread_limiter()
    async with Client(build_server(served), raise_exceptions=True) as client:
        with anyio.fail_after(240):
            async with _all_tokens_held(default) as held:
                organized = await client.call_tool("organize", {})  # scan, pool, writer, follow
                assert not organized.is_error, organized.content
                assert organized.structured_content["organized"] > 0
                assert organized.structured_content["sidecars_written"] > 0
                for name, args in (("write_sidecars", {}), ("export", {"limit": 5}),
                                   ("analyze", {"provider": "local"}), ("embed", {}),
                                   ("search", {"query": "source:a1111"}), ("stats", {})):
                    result = await client.call_tool(name, args)
                    assert not result.is_error, (name, result.content)
                analyzed = await client.call_tool("analyze", {"provider": "local"})
                embedded = await client.call_tool("embed", {})
                assert held(), "a tool waited for anyio's default thread limiter"
    assert analyzed.structured_content["cached"] > 0  # the first analyze stored its answers
    assert embedded.structured_content["unchanged"] > 0


@pytest.mark.parametrize("family", sorted(threads.THREADS))
async def test_ping_and_stats_answer_while_a_family_is_full(served: Settings,
                                                            family: threads.Family) -> None:
    async with Client(build_server(served), raise_exceptions=True, mode="legacy") as client:
        assert not (await client.call_tool("organize", {})).is_error
        with anyio.fail_after(30):
            async with _all_tokens_held(threads.limiter(family)) as held:
                await client.send_ping()
                stats = await client.call_tool("stats", {})
                assert not stats.is_error and stats.structured_content["assets"] > 0
                assert held()
