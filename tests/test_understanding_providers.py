"""Each remote provider against a fake of its API on 127.0.0.1: wire format, batching,
concurrency, retries, timeouts, malformed answers, costs, cache. No test reaches the internet."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest
from understanding_fakes import API_KEY, TOKENS_IN_PER_CALL, TOKENS_IN_PER_IMAGE, fake_api

from alice_mcp import samples
from alice_mcp.config import Settings, load_settings
from alice_mcp.library import Library
from alice_mcp.logs import configure_logging
from alice_mcp.understanding.http import (
    ProviderAuthError,
    RetryPolicy,
)
from alice_mcp.understanding.providers import make_provider
from alice_mcp.understanding.service import UnderstandingService

pytestmark = pytest.mark.anyio
KINDS = ("openai", "anthropic", "google", "ollama")
KEY_VARS = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY",
            "google": "GEMINI_API_KEY"}
FAST = RetryPolicy(max_retries=2, base_delay=0.01, max_delay=0.05)
ASSETS = 12  # make_sample_inbox(count=13): 12 distinct images and one duplicate


@pytest.fixture(autouse=True)
def no_proxies_and_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests go straight to 127.0.0.1; every provider key is the fake one."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                "all_proxy", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "OLLAMA_HOST",
                "GOOGLE_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    for var in KEY_VARS.values():
        monkeypatch.setenv(var, API_KEY)


def make_settings(tmp_path: Path, kind: str, base_url: str, **flags: object) -> Settings:
    base = {"paths.inbox": tmp_path / "inbox", "paths.organized": tmp_path / "organized",
            "paths.database": tmp_path / "lib.duckdb", "understanding.provider": kind,
            f"understanding.{kind}.base_url": base_url,
            f"understanding.{kind}.max_images_per_request": 16,
            f"understanding.{kind}.timeout_seconds": 5}
    return load_settings(flags={**base, **flags}).settings


async def organized_library(tmp_path: Path, settings: Settings) -> None:
    samples.make_sample_inbox(tmp_path / "inbox", count=ASSETS + 1, seed=5)
    with Library(settings) as lib:
        report = await lib.organize()
    assert report.organized + report.duplicates == ASSETS + 1


def costs(lib: Library) -> list[tuple]:
    return lib.db.fetchall("SELECT provider, model, tokens_in, tokens_out, usd FROM costs "
                           "ORDER BY created_at")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("batch", "concurrent"), [(5, 2), (4, 3)])
async def test_batches_concurrency_costs_and_cache(tmp_path: Path, kind: str, batch: int,
                                                   concurrent: int) -> None:
    with fake_api(kind, delay=0.15) as api:
        settings = make_settings(tmp_path, kind, api.base_url,
                                 **{"performance.understanding_batch_size": batch,
                                    "performance.max_concurrent_api_calls": concurrent,
                                    "understanding.budget_usd_per_run": 100.0,
                                    "understanding.budget_usd_per_month": 100.0})
        await organized_library(tmp_path, settings)
        with Library(settings) as lib:
            report = await lib.analyze()
            assert api.problems == []
            assert report.analyzed == ASSETS and report.errors == []
            assert api.requests == report.requests == math.ceil(ASSETS / batch)
            assert sorted(s.images for s in api.seen) == sorted(
                [batch] * (ASSETS // batch) + ([ASSETS % batch] if ASSETS % batch else []))
            assert api.max_in_flight == concurrent  # bound reached, never exceeded
            ledger = costs(lib)
            assert len(ledger) == report.requests
            assert sum(r[2] for r in ledger) == (TOKENS_IN_PER_CALL * report.requests
                                                 + TOKENS_IN_PER_IMAGE * ASSETS)
            if kind == "ollama":
                assert report.cost_usd == 0 and all(r[4] == 0 for r in ledger)
            else:
                assert report.cost_usd > 0
                assert sum(r[4] for r in ledger) == pytest.approx(report.cost_usd)
            tags = lib.db.fetchall("SELECT DISTINCT tag, category, origin FROM tags")
            assert ("fox", "subject", kind) in tags and ("orange", "color", kind) in tags
            assert ("golden hour", "lighting", kind) in tags
            page = await lib.search("tag:fox")
            assert page.total == ASSETS

            again = await lib.analyze()  # the cache: nothing is paid for twice
            assert again.requests == 0 and again.analyzed == 0 and again.cached == ASSETS
            assert api.requests == report.requests and len(costs(lib)) == report.requests


@pytest.mark.parametrize("kind", KINDS)
async def test_retry_after_429_then_success(tmp_path: Path, kind: str) -> None:
    with fake_api(kind, script=["429"], retry_after="1", delay=0) as api:
        settings = make_settings(tmp_path, kind, api.base_url,
                                 **{"performance.understanding_batch_size": 12})
        await organized_library(tmp_path, settings)
        with Library(settings) as lib:
            provider = make_provider(kind, settings.understanding, retry=FAST)
            report = await UnderstandingService(lib.db, settings).analyze(None, provider)
    assert report.analyzed == ASSETS and report.requests == 1
    assert api.requests == 2
    assert api.seen[1].at - api.seen[0].at >= 0.95  # Retry-After honoured, not the 10 ms backoff


@pytest.mark.parametrize("kind", KINDS)
async def test_5xx_is_retried_with_backoff(tmp_path: Path, kind: str) -> None:
    with fake_api(kind, script=["500", "503"], delay=0) as api:
        settings = make_settings(tmp_path, kind, api.base_url,
                                 **{"performance.understanding_batch_size": 12})
        await organized_library(tmp_path, settings)
        with Library(settings) as lib:
            provider = make_provider(kind, settings.understanding, retry=FAST)
            report = await UnderstandingService(lib.db, settings).analyze(None, provider)
    assert report.analyzed == ASSETS and api.requests == 3 and report.errors == []


async def test_persistent_500_fails_the_batch_not_the_run(tmp_path: Path) -> None:
    with fake_api("openai", script=["500"] * 3, delay=0) as api:
        settings = make_settings(tmp_path, "openai", api.base_url,
                                 **{"performance.understanding_batch_size": 6,
                                    "performance.max_concurrent_api_calls": 1})
        await organized_library(tmp_path, settings)
        with Library(settings) as lib:
            provider = make_provider("openai", settings.understanding, retry=FAST)
            report = await UnderstandingService(lib.db, settings).analyze(None, provider)
            assert report.analyzed == 6 and len(report.errors) == 6
            assert all("HTTP 500" in e.reason for e in report.errors)
            assert api.requests == 3 + 1
            rerun = await UnderstandingService(lib.db, settings).analyze(
                None, make_provider("openai", settings.understanding, retry=FAST))
            assert rerun.analyzed == 6 and rerun.cached == 6  # only the failed ones again


@pytest.mark.parametrize("kind", KINDS)
async def test_timeouts_are_retried_then_reported(tmp_path: Path, kind: str) -> None:
    with fake_api(kind, script=["slow", "slow"], delay=0) as api:
        settings = make_settings(tmp_path, kind, api.base_url,
                                 **{"performance.understanding_batch_size": 12,
                                    f"understanding.{kind}.timeout_seconds": 0.3,
                                    f"understanding.{kind}.max_retries": 1})
        await organized_library(tmp_path, settings)
        with Library(settings) as lib:
            provider = make_provider(kind, settings.understanding,
                                     retry=RetryPolicy(max_retries=1, base_delay=0.01))
            started = time.monotonic()
            report = await UnderstandingService(lib.db, settings).analyze(None, provider)
            assert time.monotonic() - started < 2.0
    assert api.requests == 2 and report.analyzed == 0 and len(report.errors) == ASSETS
    assert "did not answer within 0.3 s" in report.errors[0].reason
    assert "timeout_seconds" in report.errors[0].reason


@pytest.mark.parametrize("kind", KINDS)
async def test_malformed_answers_are_retried_alone_and_a_bad_body_is_not_recorded(
        tmp_path: Path, kind: str) -> None:
    with fake_api(kind, script=["partial", "ok", "bad_answer", "ok", "ok", "ok", "ok",
                                "bad_body"], delay=0) as api:
        settings = make_settings(tmp_path, kind, api.base_url,
                                 **{"performance.understanding_batch_size": 4,
                                    "performance.max_concurrent_api_calls": 1})
        await organized_library(tmp_path, settings)
        with Library(settings) as lib:
            ids = [a for (a,) in lib.db.fetchall("SELECT asset_id FROM assets ORDER BY 1")]
            service = UnderstandingService(lib.db, settings)
            provider = make_provider(kind, settings.understanding, retry=FAST)
            # one malformed entry: that image alone is asked again
            first = await service.analyze(ids[:4], provider)
            assert first.analyzed == 4 and first.requests == 2 and first.errors == []
            assert [s.images for s in api.seen] == [4, 1]
            # an answer that is not JSON at all (or, from a forced tool, not the schema):
            # every image alone again
            second = await service.analyze(ids[4:8], make_provider(
                kind, settings.understanding, retry=FAST))
            assert second.analyzed == 4 and second.requests == 5 and second.failed == 0
            # an HTTP body that is not JSON is the gateway's fault, not the model's: an error,
            # no retry, nothing recorded, so the next run sends it again
            third = await service.analyze(ids[8:9], make_provider(
                kind, settings.understanding, retry=FAST))
            assert third.analyzed == 0 and third.failed == 0 and len(third.errors) == 1
            assert "not JSON" in third.errors[0].reason and "base_url" in third.errors[0].reason
            assert lib.db.fetchall("SELECT count(*) FROM analysis_failures")[0][0] == 0
            again = await service.analyze(ids[8:9], make_provider(
                kind, settings.understanding, retry=FAST))
            assert again.analyzed == 1 and again.requests == 1
    assert api.problems == []


@pytest.mark.parametrize("kind", ["openai", "anthropic", "google"])
async def test_the_api_key_is_sent_but_never_logged(tmp_path: Path, kind: str,
                                                    capsys: pytest.CaptureFixture[str],
                                                    caplog: pytest.LogCaptureFixture) -> None:
    configure_logging("debug")
    with fake_api(kind, script=["429", "500", "ok", "401"], retry_after="0", delay=0) as api:
        settings = make_settings(tmp_path, kind, api.base_url,
                                 **{"performance.understanding_batch_size": 6,
                                    "performance.max_concurrent_api_calls": 1})
        await organized_library(tmp_path, settings)
        with Library(settings) as lib:
            provider = make_provider(kind, settings.understanding, retry=FAST)
            assert API_KEY not in repr(provider) and API_KEY not in repr(provider.__dict__)
            with pytest.raises(ProviderAuthError) as caught:
                await UnderstandingService(lib.db, settings).analyze(None, provider)
            assert lib.db.fetchall("SELECT count(*) FROM analyses")[0][0] == 6
    message = str(caught.value)
    assert "HTTP 401" in message and KEY_VARS[kind] in message and API_KEY not in message
    headers = {k: v for s in api.seen for k, v in s.headers.items()}
    assert API_KEY in str(headers)  # it was sent (in a header, not the URL)
    assert all(API_KEY not in s.path for s in api.seen)
    out = capsys.readouterr()
    assert "retrying" in out.err  # the logs were captured
    assert API_KEY not in out.out + out.err + caplog.text
    assert API_KEY[:12] not in out.err + caplog.text


async def test_a_missing_key_names_the_variable(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from alice_mcp.understanding.base import UnderstandingError

    for var in KEY_VARS.values():
        monkeypatch.delenv(var)
    settings = make_settings(tmp_path, "anthropic", "http://127.0.0.1:9")
    for kind, var in KEY_VARS.items():
        with pytest.raises(UnderstandingError, match=var):
            make_provider(kind, settings.understanding)
    with pytest.raises(UnderstandingError, match="GOOGLE_API_KEY"):
        make_provider("google", settings.understanding)
    monkeypatch.setenv("GOOGLE_API_KEY", "g-key")
    assert make_provider("google", settings.understanding).name == "google"
    # a compatible server that is not api.openai.com may need no key; Ollama never does
    local_openai = load_settings(flags={"understanding.openai.base_url":
                                        "http://127.0.0.1:8000/v1"}).settings
    assert make_provider("openai", local_openai.understanding).name == "openai"
    assert make_provider("ollama", settings.understanding).name == "ollama"
    with Library(settings) as lib, pytest.raises(UnderstandingError, match="ANTHROPIC_API_KEY"):
        await lib.analyze(provider="anthropic")


async def test_conventional_environment_variables_give_the_address(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with fake_api("anthropic", delay=0) as anthropic, fake_api("ollama", delay=0) as ollama, \
            fake_api("openai", delay=0) as openai:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", anthropic.base_url)
        monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{ollama.port}")
        monkeypatch.setenv("OPENAI_BASE_URL", openai.base_url)
        settings = load_settings(flags={"paths.inbox": tmp_path / "inbox",
                                        "paths.organized": tmp_path / "organized",
                                        "paths.database": tmp_path / "lib.duckdb"}).settings
        await organized_library(tmp_path, settings)
        with Library(settings) as lib:
            reports = {kind: await lib.analyze(provider=kind, query="source:a1111")
                       for kind in ("anthropic", "ollama", "openai")}
    for kind, api in (("anthropic", anthropic), ("ollama", ollama), ("openai", openai)):
        assert reports[kind].analyzed > 1 and api.requests > 0 and api.problems == []
    assert ollama.requests == reports["ollama"].analyzed  # by default one image per request
    assert anthropic.requests < reports["anthropic"].analyzed


def leaked(text: str, key: str = API_KEY, piece: int = 5) -> list[str]:
    """Pieces of the key (any letter case) found in the text."""
    low, k = text.lower(), key.lower()
    return [k[i:i + piece] for i in range(len(k) - piece + 1) if k[i:i + piece] in low]


@pytest.mark.parametrize("echo", [
    API_KEY.lower(), API_KEY.upper(), f"{API_KEY[:11]}...", f"...{API_KEY[-9:]}",
    f"{API_KEY[:8]}{'*' * 16}{API_KEY[-4:]}", API_KEY[5:17], "x" * 262 + API_KEY],
    ids=["lower", "upper", "head", "tail", "masked", "middle", "cut-off"])
async def test_a_key_echoed_in_part_or_in_another_case_is_redacted(
        tmp_path: Path, echo: str, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("debug")
    with fake_api("openai", script=["401"], delay=0, auth_echo=echo) as api:
        settings = make_settings(tmp_path, "openai", api.base_url)
        await organized_library(tmp_path, settings)
        with Library(settings) as lib, pytest.raises(ProviderAuthError) as caught:
            await UnderstandingService(lib.db, settings).analyze(
                None, make_provider("openai", settings.understanding, retry=FAST))
    message = str(caught.value)
    assert "HTTP 401" in message and "Incorrect API key provided" in message
    assert leaked(message) == [], message
    assert leaked(capsys.readouterr().err) == []


@pytest.mark.parametrize("pasted", [
    API_KEY + "\u201d", "\u201c" + API_KEY + "\u201d", API_KEY[:10] + "\u00a0" + API_KEY[10:],
    '"' + API_KEY + '"', API_KEY[:6] + "\t" + API_KEY[6:], API_KEY + "\u200b"],
    ids=["curly-quote", "curly-quotes", "no-break-space", "straight-quotes", "tab",
         "zero-width-space"])
def test_a_key_with_a_character_no_key_has_is_a_settings_error_naming_the_variable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pasted: str) -> None:
    from alice_mcp.errors import SettingsError

    monkeypatch.setenv("OPENAI_API_KEY", pasted)
    settings = make_settings(tmp_path, "openai", "http://127.0.0.1:9/v1")
    with pytest.raises(SettingsError) as caught:
        make_provider("openai", settings.understanding)
    message = str(caught.value)
    assert "OPENAI_API_KEY" in message and "U+" in message and "set OPENAI_API_KEY again" \
        in message
    assert leaked(message) == [], message


def test_a_key_in_a_settings_file_is_refused_without_echoing_it(tmp_path: Path) -> None:
    from alice_mcp.errors import SettingsError

    config = tmp_path / "settings.yaml"
    config.write_text(f"understanding:\n  openai:\n    api_key: {API_KEY}\n")
    with pytest.raises(SettingsError) as caught:
        load_settings(config)
    message = str(caught.value).replace(str(config), "settings.yaml")
    assert "api_key" in message and "OPENAI_API_KEY" in message and leaked(message) == []


def test_a_key_that_reaches_a_log_line_is_masked(capsys: pytest.CaptureFixture[str]) -> None:
    import structlog

    configure_logging("info")
    log = structlog.get_logger("test")
    log.warning("a careless line", detail=f"key {API_KEY} or {API_KEY.lower()}")
    try:
        raise RuntimeError(f"boom {API_KEY}")
    except RuntimeError:
        log.exception("failed")
    err = capsys.readouterr().err
    assert "a careless line" in err and "boom ***" in err
    assert API_KEY not in err and API_KEY.lower() not in err
