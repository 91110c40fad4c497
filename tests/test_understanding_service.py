"""The understanding service around the providers: budgets, estimates, selection, user edits, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from understanding_fakes import API_KEY, fake_api

from alice_mcp import samples
from alice_mcp.config import Settings, load_settings
from alice_mcp.library import Library
from alice_mcp.understanding.budget import month_start
from alice_mcp.understanding.prompt import PROMPT_VERSION
from alice_mcp.understanding.providers import make_provider
from alice_mcp.understanding.service import UnderstandingService

pytestmark = pytest.mark.anyio
ASSETS = 12


@pytest.fixture(autouse=True)
def straight_to_localhost(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                "all_proxy", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "OLLAMA_HOST"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)


def make_settings(tmp_path: Path, base_url: str = "http://127.0.0.1:9/v1",
                  **flags: object) -> Settings:
    return load_settings(flags={
        "paths.inbox": tmp_path / "inbox", "paths.organized": tmp_path / "organized",
        "paths.database": tmp_path / "lib.duckdb", "understanding.openai.base_url": base_url,
        "performance.understanding_batch_size": 4, **flags}).settings


async def organize(tmp_path: Path, settings: Settings, count: int = ASSETS + 1,
                   seed: int = 5) -> None:
    samples.make_sample_inbox(tmp_path / "inbox", count=count, seed=seed)
    with Library(settings) as lib:
        await lib.organize()


# -- budgets ---------------------------------------------------------------------------------

@pytest.mark.parametrize("concurrent", [1, 3])
async def test_the_run_budget_stops_new_calls_before_it_is_exceeded(tmp_path: Path,
                                                                    concurrent: int) -> None:
    call = make_provider("openai", make_settings(tmp_path).understanding).estimate(4).usd
    limit = call * 1.3  # the fake's calls cost about a fifth of their estimate
    with fake_api("openai", delay=0.1) as api:
        settings = make_settings(tmp_path, api.base_url,
                                 **{"understanding.budget_usd_per_run": limit,
                                    "performance.max_concurrent_api_calls": concurrent})
        await organize(tmp_path, settings)
        with Library(settings) as lib:
            report = await lib.analyze(provider="openai")
            spent = lib.db.fetchall("SELECT sum(usd) FROM costs")[0][0]
    assert report.budget_stopped and report.budget_skipped == 4
    assert report.analyzed + report.budget_skipped == ASSETS
    # the first call costs less than its estimate, so a second one fits; a third would not
    # (concurrent calls wait for the ones in flight to settle instead of overshooting)
    assert api.requests == report.requests == 2 and api.max_in_flight == 1
    assert spent == pytest.approx(report.cost_usd) and report.cost_usd <= limit
    assert report.cost_usd + call > limit
    assert report.budget_left_usd == pytest.approx(limit - report.cost_usd, abs=1e-6)


async def test_budget_reservations_never_overshoot_with_calls_in_flight() -> None:
    import anyio

    from alice_mcp.understanding.budget import Budget

    budget, started, peak = Budget(limit=1.0), [], [0.0]

    async def call(cost: float) -> None:
        if await budget.reserve(0.3):
            started.append(cost)
            peak[0] = max(peak[0], budget.spent + budget.reserved)
            await anyio.sleep(0.01)
            budget.settle(0.3, cost)

    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(call, 0.1)
    assert peak[0] <= 1.0 + 1e-9 and budget.spent <= 1.0
    assert len(started) == 8  # 8 x 0.1 spent; the ninth would need 0.3 of the 0.2 left
    assert budget.stopped and not await budget.reserve(0.01)
    assert await budget.reserve(0)  # free calls are never stopped


async def test_the_monthly_budget_counts_this_months_ledger_only(tmp_path: Path) -> None:
    call = make_provider("openai", make_settings(tmp_path).understanding).estimate(4).usd
    with fake_api("openai", delay=0) as api:
        settings = make_settings(tmp_path, api.base_url,
                                 **{"understanding.budget_usd_per_month": 5.0})
        await organize(tmp_path, settings)
        with Library(settings) as lib:
            start = month_start()
            with lib.db.transaction() as cur:
                cur.execute("INSERT INTO costs VALUES ('openai', 'x', 0, 0, ?, ?)",
                            [5.0 - call / 2, start + timedelta(seconds=1)])
                cur.execute("INSERT INTO costs VALUES ('openai', 'x', 0, 0, 100.0, ?)",
                            [start - timedelta(days=1)])
            stopped = await lib.analyze(provider="openai")
            assert stopped.budget_stopped and stopped.requests == 0 == api.requests
            assert stopped.budget_skipped == ASSETS and stopped.analyzed == 0
            estimate = await lib.estimate_analysis(provider="openai")
            assert not estimate.within_budget and estimate.affordable_assets == 0
            assert estimate.spent_this_month_usd == pytest.approx(5.0 - call / 2)
            with lib.db.transaction() as cur:  # last month's spending no longer counts
                cur.execute("DELETE FROM costs WHERE usd < 100")
            done = await lib.analyze(provider="openai")
    assert done.analyzed == ASSETS and not done.budget_stopped


async def test_free_providers_are_never_stopped(tmp_path: Path) -> None:
    with fake_api("ollama", delay=0) as api:
        settings = make_settings(tmp_path, **{"understanding.ollama.base_url": api.base_url,
                                              "understanding.budget_usd_per_run": 0,
                                              "understanding.budget_usd_per_month": 0})
        await organize(tmp_path, settings)
        with Library(settings) as lib:
            ollama = await lib.analyze(provider="ollama")
            local = await lib.analyze(provider="local")
    assert ollama.analyzed == local.analyzed == ASSETS
    assert not ollama.budget_stopped and api.requests == ASSETS  # one image per request


# -- estimates -------------------------------------------------------------------------------

async def test_estimate_before_a_run_calls_nothing(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    with fake_api("openai", delay=0) as api:
        settings = make_settings(tmp_path, api.base_url)
        await organize(tmp_path, settings)
        monkeypatch.delenv("OPENAI_API_KEY")  # an estimate needs no key
        with Library(settings) as lib:
            estimate = await lib.estimate_analysis(provider="openai")
            provider = make_provider("openai", settings.understanding, require_key=False)
            assert api.requests == 0
            assert estimate.assets == ASSETS and estimate.requests == 3
            assert estimate.estimated_usd == pytest.approx(3 * provider.estimate(4).usd,
                                                           rel=1e-4)
            assert estimate.price_source == "price table" and estimate.within_budget
            assert estimate.affordable_assets == ASSETS
            subset = await lib.estimate_analysis(provider="openai", query="source:a1111")
            assert 0 < subset.assets < ASSETS
            monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
            report = await lib.analyze(provider="openai")
            assert report.cost_usd <= estimate.estimated_usd  # the estimate is a ceiling
            after = await lib.estimate_analysis(provider="openai")
    assert after.assets == 0 and after.cached == ASSETS and after.estimated_usd == 0


def test_unknown_models_are_priced_high_unless_the_settings_say(tmp_path: Path) -> None:
    known = make_provider("openai", make_settings(tmp_path).understanding)
    unknown = make_provider("openai", make_settings(
        tmp_path, **{"understanding.openai.model": "my-finetune"}).understanding)
    free = make_provider("openai", make_settings(
        tmp_path, **{"understanding.openai.model": "llava-local",
                     "understanding.openai.price_usd_per_million_input": 0,
                     "understanding.openai.price_usd_per_million_output": 0}).understanding)
    assert unknown.price.source.startswith("fallback")
    assert unknown.estimate(4).usd > known.estimate(4).usd
    assert free.estimate(4).usd == 0 and free.price.source == "settings"


# -- selection and the cache -----------------------------------------------------------------

async def test_no_query_means_not_yet_analyzed_by_that_provider(tmp_path: Path) -> None:
    with fake_api("openai", delay=0) as api:
        settings = make_settings(tmp_path, api.base_url)
        await organize(tmp_path, settings)
        with Library(settings) as lib:
            some = await lib.analyze(provider="local", query="source:a1111")
            assert 0 < some.analyzed < ASSETS
            remote = await lib.analyze(provider="openai")  # local's work does not count
            assert remote.analyzed == ASSETS and api.requests == 3
            rest = await lib.analyze(provider="local")
            assert rest.analyzed == ASSETS - some.analyzed and rest.cached == some.analyzed
            selected = await lib.analyze(provider="openai", query="source:a1111")
            assert selected.analyzed == 0 and selected.cached == some.analyzed
        samples.make_sample_inbox(tmp_path / "inbox" / "more", count=3, seed=99)
        with Library(settings) as lib:
            await lib.organize()
            new = await lib.analyze(provider="openai")
            assert new.analyzed == 2 and api.requests == 4  # only the new assets are sent
            forced = await lib.analyze(provider="openai", query="source:a1111", force=True)
            assert forced.analyzed > 0 and forced.cached == 0


async def test_a_new_model_or_prompt_version_is_a_new_cache_key(tmp_path: Path) -> None:
    with fake_api("openai", delay=0) as api:
        settings = make_settings(tmp_path, api.base_url)
        await organize(tmp_path, settings)
        other = make_settings(tmp_path, api.base_url, **{"understanding.openai.model": "gpt-4o"})
        with Library(settings) as lib:
            await lib.analyze(provider="openai")
        with Library(other) as lib:
            report = await lib.analyze(provider="openai")
            assert report.analyzed == ASSETS and report.model == "gpt-4o"
            provider = make_provider("openai", other.understanding)
            provider.prompt_version = "next"
            again = await UnderstandingService(lib.db, other).analyze(None, provider)
            assert again.analyzed == ASSETS
            models = lib.db.fetchall("SELECT DISTINCT model, prompt_version FROM analyses "
                                     "WHERE provider = 'openai' ORDER BY ALL")
    assert models == [("gpt-4.1-mini", PROMPT_VERSION), ("gpt-4o", PROMPT_VERSION),
                      ("gpt-4o", "next")]


async def test_assets_without_a_thumbnail_are_never_sent(tmp_path: Path) -> None:
    with fake_api("openai", delay=0) as api:
        settings = make_settings(tmp_path, api.base_url)
        await organize(tmp_path, settings)
        with Library(settings) as lib:
            (victim,) = lib.db.fetchall("SELECT asset_id FROM assets ORDER BY asset_id LIMIT 1")[0]
            with lib.db.transaction() as cur:  # as for a video or an undecodable file
                cur.execute("DELETE FROM thumbnails WHERE asset_id = ?", [victim])
            everything = await lib.analyze(provider="openai")
            assert everything.analyzed == ASSETS - 1 and everything.errors == []
            asked = await lib.analyze([victim], provider="openai")
            local = await lib.analyze([victim], provider="local")  # needs no image
    assert asked.analyzed == 0 and "no thumbnail" in asked.errors[0].reason
    assert local.analyzed == 1
    assert sum(s.images for s in api.seen) == ASSETS - 1


# -- user edits ------------------------------------------------------------------------------

async def test_user_tags_are_never_overwritten(tmp_path: Path) -> None:
    with fake_api("openai", delay=0) as api:
        settings = make_settings(tmp_path, api.base_url)
        await organize(tmp_path, settings)
        with Library(settings) as lib:
            await lib.analyze(provider="local")
            await lib.analyze(provider="openai")
            asset = (await lib.search("tag:fox", limit=1)).results[0].asset_id

            def tags() -> set[tuple[str, str]]:
                return {(t, o) for t, o in lib.db.fetchall(
                    "SELECT tag, origin FROM tags WHERE asset_id = ?", [asset])}

            assert ("fox", "openai") in tags()
            local_tag = next(t for t, o in tags() if o == "local")
            await lib.tag([asset], add=["keeper"], remove=["fox", local_tag])
            for provider in ("openai", "local"):
                await lib.analyze([asset], provider=provider, force=True)
            after = tags()
            assert ("keeper", "user") in after  # the user's own tag survives
            assert all(t not in ("fox", local_tag) for t, _ in after)  # removals stick
            assert ("snow", "openai") in after  # the rest of the answer is still written
            other = make_settings(tmp_path, api.base_url,
                                  **{"understanding.openai.model": "gpt-4o"})
        with Library(other) as lib:
            await lib.analyze([asset], provider="openai")  # a new model does not bring it back
            assert all(t != "fox" for t, _ in tags())
            await lib.tag([asset], add=["fox"])  # the user may add it again
            await lib.analyze([asset], provider="openai", force=True)
            assert {("fox", "user"), ("fox", "openai")} <= tags()


# -- the command line ------------------------------------------------------------------------

def _alice(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith("ALICE_") and "PROXY" not in k.upper()}
    return subprocess.run([sys.executable, "-m", "alice_mcp", *args, "--database",
                           str(tmp_path / "lib.duckdb")], capture_output=True, text=True,
                          env={**clean, **env}, timeout=120)


async def test_cli_analyze_estimate_then_run(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    await organize(tmp_path, settings)
    with fake_api("openai", delay=0) as api:
        env = {"OPENAI_BASE_URL": api.base_url, "OPENAI_API_KEY": API_KEY,
               "ALICE_PERFORMANCE__UNDERSTANDING_BATCH_SIZE": "5"}
        est = _alice(tmp_path, env, "analyze", "--provider", "openai", "--estimate", "--json")
        assert est.returncode == 0, est.stderr
        estimate = json.loads(est.stdout)
        assert estimate["assets"] == ASSETS and estimate["requests"] == 3
        assert estimate["estimated_usd"] > 0 and api.requests == 0
        readable = _alice(tmp_path, env, "analyze", "--provider", "openai", "--estimate")
        assert "12 assets to analyze with openai" in readable.stdout
        run = _alice(tmp_path, env, "analyze", "--provider", "openai", "--json")
        assert run.returncode == 0, run.stderr
        report = json.loads(run.stdout)
        assert report["analyzed"] == ASSETS and report["requests"] == 3 == api.requests
        assert API_KEY not in run.stdout + run.stderr + est.stderr
        rerun = json.loads(_alice(tmp_path, env, "analyze", "--provider", "openai",
                                  "--json").stdout)
        assert rerun["requests"] == 0 and rerun["cached"] == ASSETS and api.requests == 3
        stopped = _alice(tmp_path, {**env, "ALICE_UNDERSTANDING__BUDGET_USD_PER_RUN": "0"},
                         "analyze", "--provider", "openai", "--force")
        assert stopped.returncode == 1 and "budget reached: 12 assets" in stopped.stdout
        missing = _alice(tmp_path, {"OPENAI_API_KEY": ""}, "analyze", "--provider", "openai")
        assert missing.returncode == 2 and "set OPENAI_API_KEY" in missing.stderr
