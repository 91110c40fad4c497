"""MCP hardening: hostile strings in every search field, list limits, bounded responses,
and many concurrent tool calls."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest
from mcp import Client

from alice_mcp import samples
from alice_mcp.config import Settings, load_settings
from alice_mcp.media.probe import hash_file
from alice_mcp.server import build_server

pytestmark = pytest.mark.anyio
INJECTIONS = ["'; DROP TABLE assets; --", "\" OR 1=1 --", "x') OR ('1'='1", "%", "_", "*",
              "\\", "tag:' OR 1=1", "1; DELETE FROM files", "$(rm -rf /)", "\x00", "🎨' --",
              "a" * 900]
SEARCH_FIELDS = ["query", "tags_all", "tags_any", "tags_none", "source", "model", "after",
                 "before", "sort", "cursor"]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    inbox = tmp_path / "inbox"
    samples.make_sample_inbox(inbox, count=16, seed=8)
    samples.write_comfyui_png(inbox / "huge.png", "huge workflow", seed=1)
    return load_settings(flags={"paths.inbox": inbox, "paths.organized": tmp_path / "organized",
                                "paths.database": tmp_path / "l.duckdb"}).settings


async def _counts(client: Client) -> tuple[int, int, int]:
    stats = (await client.call_tool("stats", {})).structured_content
    return stats["assets"], stats["files"], stats["tags"]


async def test_injection_strings_in_every_search_field(settings: Settings) -> None:
    async with Client(build_server(settings)) as client:
        await client.call_tool("organize", {})
        ids = [r["asset_id"] for r in
               (await client.call_tool("search", {"limit": 3})).structured_content["results"]]
        await client.call_tool("tag", {"asset_ids": ids, "add": ["keep"]})
        before = await _counts(client)
        for field in SEARCH_FIELDS:
            for evil in INJECTIONS:
                value: object = [evil] if field.startswith("tags_") else evil
                result = await client.call_tool("search", {field: value})
                if result.is_error:
                    text = result.content[0].text
                    assert "Traceback" not in text and len(text) < 2000, (field, evil)
                else:
                    page = result.structured_content
                    assert 0 <= page["total"] <= before[0], (field, evil, page["total"])
        assert await _counts(client) == before
        # LIKE wildcards and quotes are plain characters, not SQL
        for literal in ("%", "' OR 1=1 --", "x') OR ('1'='1"):
            hits = (await client.call_tool("search", {"query": f'"{literal}"'}))
            assert hits.is_error or hits.structured_content["total"] == 0, literal
        tagged = (await client.call_tool("search", {"tags_all": ["keep"]})).structured_content
        assert tagged["total"] == 3


async def test_injection_strings_in_tag_and_scope_arguments(settings: Settings) -> None:
    async with Client(build_server(settings)) as client:
        await client.call_tool("organize", {})
        before = await _counts(client)
        ids = [r["asset_id"] for r in
               (await client.call_tool("search", {"limit": 2})).structured_content["results"]]
        result = await client.call_tool("tag", {"asset_ids": ids, "add": INJECTIONS[:5]})
        assert result.structured_content["added"] == 10
        for evil in INJECTIONS:
            found = await client.call_tool("search", {"tags_all": [evil.lower()]})
            too_long = len(evil) > 100  # tags are at most 100 characters, checked before SQL
            assert found.is_error == too_long, evil
            dup = await client.call_tool("find_duplicates", {"scope": evil})
            assert dup.is_error or dup.structured_content["total_groups"] >= 0
        assert (await _counts(client))[:2] == before[:2]


@pytest.mark.parametrize(("tool", "args"), [
    ("tag", {"asset_ids": ["abcdef"] * 1001, "add": ["x"]}),
    ("tag", {"asset_ids": ["abcdef"], "add": ["x"] * 51}),
    ("view", {"asset_ids": ["abcdef"] * 65}),
    ("search", {"limit": 101}),
    ("search", {"tags_all": ["x"] * 21}),
    ("search", {"query": "x" * 1001}),
    ("find_similar", {"asset_id": "abcdef", "max_distance": 33}),
    ("find_duplicates", {"max_distance": 11}),
    ("get_asset", {"asset_id": "abc"}),
])
async def test_limits_on_every_list_and_number(settings: Settings, tool: str, args: dict) -> None:
    async with Client(build_server(settings)) as client:
        result = await client.call_tool(tool, args)
    assert result.is_error
    assert "validation error" in result.content[0].text


async def test_responses_stay_bounded(settings: Settings, tmp_path: Path) -> None:
    graph = {str(i): {"class_type": "Note", "inputs": {"text": "x" * 10_000}} for i in range(300)}
    giant = samples.write_png_text(settings.paths.inbox / "giant-workflow.png",
                                   {"workflow": json.dumps(graph), "prompt": json.dumps(graph)})
    async with Client(build_server(settings)) as client:
        await client.call_tool("organize", {})
        page = await client.call_tool("search", {"limit": 100})
        assert len(page.content[0].text) < 200_000
        detail = await client.call_tool("get_asset", {"asset_id": hash_file(giant)})
        assert not detail.is_error
        assert len(detail.content[0].text) < 1_000_000
        shown = await client.call_tool("view", {"asset_ids": [r["asset_id"] for r in
                                                               page.structured_content["results"][:8]],
                                                 "size": 1024})
        total = sum(len(b.data) for b in shown.content if b.type == "image")
        assert total < 6 * 1024 * 1024


async def test_fifty_concurrent_tool_calls_are_all_answered_correctly(settings: Settings) -> None:
    async with Client(build_server(settings)) as client:
        await client.call_tool("organize", {})
        page = (await client.call_tool("search", {"limit": 50})).structured_content
        ids = [r["asset_id"] for r in page["results"]]
        expected_detail = {a: (await client.call_tool("get_asset", {"asset_id": a})
                               ).structured_content["fields"]["prompt"] for a in ids}
        answers: dict[int, object] = {}

        async def call(n: int) -> None:
            kind = n % 5
            if kind == 0:
                r = await client.call_tool("search", {"limit": 50})
                answers[n] = r.structured_content["total"] == page["total"]
            elif kind == 1:
                a = ids[n % len(ids)]
                r = await client.call_tool("get_asset", {"asset_id": a})
                answers[n] = r.structured_content["fields"]["prompt"] == expected_detail[a]
            elif kind == 2:
                r = await client.call_tool("stats", {})
                answers[n] = r.structured_content["assets"] == page["total"]
            elif kind == 3:
                a = ids[n % len(ids)]
                r = await client.call_tool("find_similar", {"asset_id": a, "max_distance": 32,
                                                            "limit": 5})
                answers[n] = not r.is_error
            else:
                r = await client.call_tool("tag", {"asset_ids": [ids[n % len(ids)]],
                                                   "add": [f"concurrent-{n}"]})
                answers[n] = r.structured_content["added"] == 1

        async with anyio.create_task_group() as tg:
            for n in range(50):
                tg.start_soon(call, n)
        assert len(answers) == 50 and all(answers.values())
        tagged = (await client.call_tool("stats", {})).structured_content["tags"]
        assert tagged == 10
