"""Schema-constrained analysis through both faces (issue 17): `alice analyze` and `search` as
subprocesses, the MCP `analyze` and `search` tools through the real SDK client, against a fake
OpenAI API on 127.0.0.1. Reruns make zero requests, --force makes them again, the ledger counts
each request once, and the API key is in no log line, error, `alice profiles` output or row."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from mcp import Client
from understanding_fakes import API_KEY, fake_api

from alice_mcp import samples
from alice_mcp.config import load_settings
from alice_mcp.library import Library
from alice_mcp.server import build_server

pytestmark = pytest.mark.anyio
ASSETS = 4


@pytest.fixture(autouse=True)
def straight_to_localhost(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                "all_proxy", "OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)


async def organize(tmp_path: Path, **flags: object):
    settings = load_settings(flags={
        "paths.inbox": tmp_path / "inbox", "paths.organized": tmp_path / "organized",
        "paths.database": tmp_path / "lib.duckdb", **flags}).settings
    samples.make_sample_inbox(tmp_path / "inbox", count=ASSETS + 1, seed=3)
    with Library(settings) as lib:
        await lib.organize()
    return settings


def alice(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith("ALICE_") and "PROXY" not in k.upper()}
    return subprocess.run([sys.executable, "-m", "alice_mcp", *args, "--database",
                           str(tmp_path / "lib.duckdb")], capture_output=True, text=True,
                          env={**clean, **env}, timeout=120)


def ledger_rows(tmp_path: Path) -> int:
    with duckdb.connect(str(tmp_path / "lib.duckdb"), read_only=True) as conn:
        return conn.execute("SELECT count(*) FROM costs").fetchone()[0]


async def test_cli_analyze_then_search_rerun_and_force(tmp_path: Path) -> None:
    await organize(tmp_path)
    with fake_api("openai", delay=0, script=["missing"]) as api:
        env = {"OPENAI_BASE_URL": api.base_url, "OPENAI_API_KEY": API_KEY,
               "ALICE_PERFORMANCE__UNDERSTANDING_BATCH_SIZE": str(ASSETS)}
        run = alice(tmp_path, env, "analyze", "--provider", "openai")
        assert run.returncode == 0, run.stderr
        assert f"{ASSETS} analyzed with openai (gpt-4.1-mini): {ASSETS} sent in 2 requests" \
            in run.stdout and "0 failed" in run.stdout
        assert api.requests == 2 and ledger_rows(tmp_path) == 2
        for query in ("vixen resting", "tag:fox"):
            found = alice(tmp_path, env, "search", query, "--json")
            assert json.loads(found.stdout)["total"] == ASSETS, (query, found.stderr)
        rerun = json.loads(alice(tmp_path, env, "analyze", "--provider", "openai",
                                 "--json").stdout)
        assert rerun["requests"] == 0 and rerun["sent"] == 0 and rerun["cached"] == ASSETS
        assert api.requests == 2 and ledger_rows(tmp_path) == 2
        forced = json.loads(alice(tmp_path, env, "analyze", "--provider", "openai", "--force",
                                  "--json").stdout)
        assert forced["requests"] == 1 and forced["sent"] == ASSETS and forced["cost_usd"] > 0
        assert api.requests == 3 and ledger_rows(tmp_path) == 3
    assert api.problems == []


async def test_mcp_analyze_reports_what_it_sent_and_cost_and_search_finds_it(
        tmp_path: Path) -> None:
    with fake_api("openai", delay=0) as api:
        settings = await organize(tmp_path, **{"understanding.openai.base_url": api.base_url,
                                               "understanding.provider": "openai"})
        async with Client(build_server(settings)) as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            hints = tools["analyze"].annotations
            assert hints.idempotent_hint is False and hints.read_only_hint is False
            assert hints.open_world_hint is True
            first = (await client.call_tool("analyze", {})).structured_content
            assert (first["sent"], first["cached"], first["failed"], first["requests"]) == \
                (ASSETS, 0, 0, 1)
            assert first["cost_usd"] > 0 and first["analyzed"] == ASSETS
            for query in ("vixen", "tag:fox"):
                page = (await client.call_tool("search", {"query": query})).structured_content
                assert page["total"] == ASSETS, query
            again = (await client.call_tool("analyze", {})).structured_content
            assert (again["sent"], again["cached"], again["requests"], again["cost_usd"]) == \
                (0, ASSETS, 0, 0)
            forced = (await client.call_tool("analyze", {"force": True})).structured_content
            assert forced["requests"] == 1 and forced["sent"] == ASSETS
    assert api.requests == 2 and ledger_rows(tmp_path) == 2


async def test_cli_failures_cost_nothing_twice_and_the_key_is_nowhere(tmp_path: Path) -> None:
    await organize(tmp_path)
    with fake_api("openai", delay=0, retry_after="0",
                  script=["429", "truncated", "truncated", "ok", "401"]) as api:
        env = {"OPENAI_BASE_URL": api.base_url, "OPENAI_API_KEY": API_KEY,
               "ALICE_PERFORMANCE__UNDERSTANDING_BATCH_SIZE": str(ASSETS),
               "ALICE_PERFORMANCE__MAX_CONCURRENT_API_CALLS": "1"}
        run = alice(tmp_path, env, "analyze", "--provider", "openai", "--verbose")
        assert run.returncode == 1 and "retrying" in run.stderr  # an image failed
        assert "3 analyzed" in run.stdout and "1 failed" in run.stdout
        assert "the answer was cut off at the output token limit" in run.stdout
        rerun = alice(tmp_path, env, "analyze", "--provider", "openai")
        assert rerun.returncode == 0 and "0 sent in 0 requests" in rerun.stdout
        assert "1 failed before (not sent again; --force retries them)" in rerun.stdout
        assert api.requests == 4 and ledger_rows(tmp_path) == 3  # the 429 reported no usage
        refused = alice(tmp_path, env, "analyze", "--provider", "openai", "--force",
                        "--verbose")
        assert refused.returncode == 5 and "HTTP 401" in refused.stderr
        assert "OPENAI_API_KEY" in refused.stderr
        profiles = alice(tmp_path, env, "profiles")
        assert profiles.returncode == 0 and "openai" in profiles.stdout
    assert API_KEY in str([s.headers for s in api.seen])  # it was sent, in a header
    outputs = [run, rerun, refused, profiles]
    text = "".join(p.stdout + p.stderr for p in outputs)
    assert API_KEY not in text and API_KEY[:12] not in text and API_KEY[-12:] not in text
    with duckdb.connect(str(tmp_path / "lib.duckdb"), read_only=True) as conn:
        tables = [t for (t,) in conn.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        assert "analysis_failures" in tables
        rows = {t: conn.execute(f'SELECT * FROM "{t}"').fetchall() for t in tables}
    assert rows["analysis_failures"] and rows["costs"]
    dumped = repr(rows)
    assert API_KEY not in dumped and API_KEY[:12] not in dumped


async def test_cli_analyze_with_a_pasted_curly_quote_in_the_key_says_what_to_fix(
        tmp_path: Path) -> None:
    await organize(tmp_path)
    with fake_api("openai", delay=0) as api:
        env = {"OPENAI_BASE_URL": api.base_url, "OPENAI_API_KEY": f"\u201c{API_KEY}\u201d"}
        run = alice(tmp_path, env, "analyze", "--provider", "openai")
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("alice: settings error: "), run.stderr
    assert "OPENAI_API_KEY" in lines[0] and "U+201C" in lines[0]
    assert API_KEY[:10] not in run.stderr + run.stdout and api.requests == 0
