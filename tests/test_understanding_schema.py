"""Schema-constrained answers (issue 17), against fakes of each provider's API on 127.0.0.1.

Each case checks that the request carries the answer schema the way that API documents it
(the fake refuses it otherwise), what the user sees (the report) and what is stored (analyses,
analysis_failures, the costs ledger): a conforming batch, a batch with one image missing, an
answer cut off at the token limit, a refusal, and a server too old for the schema.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from understanding_fakes import (
    API_KEY,
    NO_JSON_SCHEMA_ERROR,
    OLD_OLLAMA_ERROR,
    REFUSAL,
    fake_api,
)

from alice_mcp import samples
from alice_mcp.config import Settings, load_settings
from alice_mcp.library import Library
from alice_mcp.logs import configure_logging
from alice_mcp.understanding.http import RetryPolicy
from alice_mcp.understanding.prompt import PROMPT_VERSION, RAW_EXCERPT
from alice_mcp.understanding.providers import make_provider
from alice_mcp.understanding.schema import SCHEMA_NAME, answer_schema, openapi_schema
from alice_mcp.understanding.service import UnderstandingService

pytestmark = pytest.mark.anyio
KINDS = ("openai", "anthropic", "google", "ollama")
KEY_VARS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY")
ASSETS = 4  # make_sample_inbox(count=5): 4 distinct images and one duplicate
FAST = RetryPolicy(max_retries=1, base_delay=0.01, max_delay=0.02)


@pytest.fixture(autouse=True)
def straight_to_localhost(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                "all_proxy", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "OLLAMA_HOST",
                "GOOGLE_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    for var in KEY_VARS:
        monkeypatch.setenv(var, API_KEY)


def make_settings(tmp_path: Path, kind: str, base_url: str, **flags: object) -> Settings:
    return load_settings(flags={
        "paths.inbox": tmp_path / "inbox", "paths.organized": tmp_path / "organized",
        "paths.database": tmp_path / "lib.duckdb", "understanding.provider": kind,
        f"understanding.{kind}.base_url": base_url,
        f"understanding.{kind}.max_images_per_request": 8,
        "performance.understanding_batch_size": ASSETS,
        "performance.max_concurrent_api_calls": 2, **flags}).settings


async def organized(tmp_path: Path, settings: Settings) -> None:
    samples.make_sample_inbox(tmp_path / "inbox", count=ASSETS + 1, seed=7)
    with Library(settings) as lib:
        await lib.organize()


async def analyze(lib: Library, settings: Settings, kind: str, *, force: bool = False):
    provider = make_provider(kind, settings.understanding, retry=FAST)
    return await UnderstandingService(lib.db, settings).analyze(None, provider, force=force)


def stored(lib: Library, kind: str) -> dict[str, object]:
    """What the run left in the index for this provider."""
    db = lib.db
    return {
        "analyses": db.fetchall("SELECT count(*) FROM analyses WHERE provider = ? AND "
                                "prompt_version = ?", [kind, PROMPT_VERSION])[0][0],
        "failures": db.fetchall("SELECT reason, raw_answer FROM analysis_failures WHERE "
                                "provider = ? ORDER BY asset_id", [kind]),
        "ledger": db.fetchall("SELECT count(*), coalesce(sum(tokens_in), 0) FROM costs WHERE "
                              "provider = ?", [kind])[0],
    }


def the_schema_as_sent(kind: str, body: dict) -> dict:
    """Where each API documents the schema goes, read back from a request body."""
    if kind == "openai":
        fmt = body["response_format"]
        assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
        assert fmt["json_schema"]["name"] == SCHEMA_NAME
        return fmt["json_schema"]["schema"]
    if kind == "anthropic":
        (tool,) = body["tools"]
        assert body["tool_choice"] == {"type": "tool", "name": tool["name"]}
        return tool["input_schema"]
    if kind == "google":
        assert body["generationConfig"]["responseMimeType"] == "application/json"
        return body["generationConfig"]["responseJsonSchema"]
    return body["format"]


# -- a conforming batch ------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
async def test_a_conforming_batch(tmp_path: Path, kind: str) -> None:
    with fake_api(kind, delay=0) as api:
        settings = make_settings(tmp_path, kind, api.base_url)
        await organized(tmp_path, settings)
        with Library(settings) as lib:
            report = await analyze(lib, settings, kind)
            found = stored(lib, kind)
            tags = lib.db.fetchall("SELECT DISTINCT tag, category, confidence FROM tags "
                                   "WHERE origin = ? ORDER BY tag", [kind])
            (result,) = lib.db.fetchall("SELECT result FROM analyses LIMIT 1")[0]
    assert api.problems == []  # the schema went where the API documents it, answers fit it
    assert [s.images for s in api.seen] == [ASSETS]
    assert the_schema_as_sent(kind, api.seen[0].body) == answer_schema()
    assert (report.analyzed, report.sent, report.cached, report.failed, report.requests) == \
        (ASSETS, ASSETS, 0, 0, 1)
    assert report.errors == [] and (report.cost_usd > 0) == (kind != "ollama")
    assert found["analyses"] == ASSETS and found["failures"] == []
    assert found["ledger"][0] == 1  # one row for the one request
    assert ("fox", "subject", 0.97) in tags and ("orange", "color", 0.85) in tags
    caption = json.loads(result)["caption"]
    assert caption.startswith("Vixen at rest")


async def test_older_gemini_models_get_the_openapi_subset(tmp_path: Path) -> None:
    with fake_api("google", delay=0) as api:
        settings = make_settings(tmp_path, "google", api.base_url,
                                 **{"understanding.google.model": "gemini-2.0-flash"})
        await organized(tmp_path, settings)
        with Library(settings) as lib:
            report = await analyze(lib, settings, "google")
    config = api.seen[0].body["generationConfig"]
    assert config["responseSchema"] == openapi_schema() and "responseJsonSchema" not in config
    assert report.analyzed == ASSETS and api.problems == []


# -- one image missing ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
async def test_a_batch_with_one_image_missing_retries_it_alone(tmp_path: Path, kind: str) -> None:
    with fake_api(kind, script=["missing"], delay=0) as api:
        settings = make_settings(tmp_path, kind, api.base_url)
        await organized(tmp_path, settings)
        with Library(settings) as lib:
            report = await analyze(lib, settings, kind)
            found = stored(lib, kind)
    assert [s.images for s in api.seen] == [ASSETS, 1]  # the missing one, alone
    assert (report.analyzed, report.sent, report.failed, report.requests) == (ASSETS, ASSETS, 0, 2)
    assert report.errors == [] and api.problems == []
    assert found["analyses"] == ASSETS and found["failures"] == []
    assert found["ledger"][0] == 2  # each request once


@pytest.mark.parametrize("kind", KINDS)
async def test_an_image_missing_twice_is_recorded_and_not_sent_again(tmp_path: Path,
                                                                     kind: str) -> None:
    with fake_api(kind, script=["missing", "missing"], delay=0) as api:
        settings = make_settings(tmp_path, kind, api.base_url)
        await organized(tmp_path, settings)
        with Library(settings) as lib:
            report = await analyze(lib, settings, kind)
            found = stored(lib, kind)
            assert (report.analyzed, report.failed, report.requests) == (ASSETS - 1, 1, 2)
            (problem,) = report.errors
            assert problem.reason == "the answer has no entry for this image"
            ((reason, raw),) = found["failures"]
            assert reason == problem.reason and raw.startswith('{"images": [')
            rerun = await analyze(lib, settings, kind)
            assert rerun.requests == 0 and rerun.failed_before == 1
            assert rerun.cached == ASSETS - 1 and api.requests == 2
            detail = await lib.get_asset(problem.path)
            assert detail.failed_analyses[0].reason == reason
            forced = await analyze(lib, settings, kind, force=True)
            assert forced.requests == 1 and forced.analyzed == ASSETS and forced.failed == 0
            after = stored(lib, kind)
    assert after["failures"] == [] and after["ledger"][0] == 3 == api.requests


async def test_a_recorded_failure_is_sent_again_for_a_changed_model_or_prompt(
        tmp_path: Path) -> None:
    # a failure is recorded per (model, prompt version): another model or a new prompt version
    # asks again, without --force
    with fake_api("openai", script=["missing", "missing"], delay=0) as api:
        settings = make_settings(tmp_path, "openai", api.base_url)
        await organized(tmp_path, settings)
        with Library(settings) as lib:
            first = await analyze(lib, settings, "openai")
            assert (first.failed, api.requests) == (1, 2)
            failed_id = lib.db.fetchall("SELECT asset_id FROM analysis_failures")[0][0]
        other = make_settings(tmp_path, "openai", api.base_url,
                              **{"understanding.openai.model": "gpt-4o"})
        with Library(other) as lib:
            report = await analyze(lib, other, "openai")
            assert report.failed_before == 0 and report.failed == 0
            assert (report.sent, report.requests, api.requests) == (ASSETS, 1, 3)
            provider = make_provider("openai", other.understanding, retry=FAST)
            provider.prompt_version = "next"
            again = await UnderstandingService(lib.db, other).analyze(None, provider)
            assert (again.failed_before, again.sent, again.requests) == (0, ASSETS, 1)
            analysed = {row[0] for row in lib.db.fetchall(
                "SELECT asset_id FROM analyses WHERE model = 'gpt-4o' AND prompt_version = 'next'")}
    assert failed_id in analysed and api.requests == 4


# -- an answer cut off at the token limit -----------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
async def test_a_truncated_answer_keeps_the_whole_entries(tmp_path: Path, kind: str) -> None:
    # the batch is cut off after 2 of its 4 entries; the other two are asked alone: one fits,
    # one is cut off again and recorded
    with fake_api(kind, script=["truncated", "truncated"], delay=0) as api:
        settings = make_settings(tmp_path, kind, api.base_url,
                                 **{"performance.max_concurrent_api_calls": 1})
        await organized(tmp_path, settings)
        with Library(settings) as lib:
            report = await analyze(lib, settings, kind)
            found = stored(lib, kind)
            rerun = await analyze(lib, settings, kind)
    assert [s.images for s in api.seen] == [ASSETS, 1, 1]
    assert (report.analyzed, report.failed, report.requests) == (ASSETS - 1, 1, 3)
    assert "cut off at the output token limit" in report.errors[0].reason
    assert found["analyses"] == ASSETS - 1 and found["ledger"][0] == 3
    ((reason, raw),) = found["failures"]
    assert "cut off" in reason and 0 < len(raw) <= RAW_EXCERPT
    assert rerun.requests == 0 and rerun.failed_before == 1 and api.requests == 3


# -- a refusal ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
async def test_a_refusal_is_a_per_image_error(tmp_path: Path, kind: str) -> None:
    # the whole batch is refused; alone, three images are described and one is refused again
    with fake_api(kind, script=["refusal", "ok", "refusal"], delay=0) as api:
        settings = make_settings(tmp_path, kind, api.base_url,
                                 **{"performance.max_concurrent_api_calls": 1})
        await organized(tmp_path, settings)
        with Library(settings) as lib:
            report = await analyze(lib, settings, kind)
            found = stored(lib, kind)
    assert [s.images for s in api.seen] == [ASSETS, 1, 1, 1, 1]
    assert (report.analyzed, report.failed, report.requests) == (ASSETS - 1, 1, 5)
    ((reason, raw),) = found["failures"]
    expected = {"openai": f"the model refused: {REFUSAL}",
                "anthropic": f"the model refused: {REFUSAL}",
                "google": "the model refused: stopped for SAFETY",
                "ollama": "the model ignored the schema"}[kind]  # Ollama refuses in prose
    assert expected in reason and reason == report.errors[0].reason
    assert raw == (REFUSAL if kind != "google" else None)
    assert found["ledger"][0] == 5


# -- servers too old for the schema ------------------------------------------------------------

@pytest.mark.parametrize(("kind", "flag", "error"), [
    ("openai", {"json_schema_supported": False}, NO_JSON_SCHEMA_ERROR),
    ("ollama", {"old_ollama": True}, OLD_OLLAMA_ERROR)])
async def test_a_server_rejecting_the_schema_gets_plain_json_once_per_run(
        tmp_path: Path, kind: str, flag: dict, error: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info")
    with fake_api(kind, delay=0, **flag) as api:
        settings = make_settings(tmp_path, kind, api.base_url,
                                 **{"performance.understanding_batch_size": 2,
                                    "performance.max_concurrent_api_calls": 1})
        await organized(tmp_path, settings)
        with Library(settings) as lib:
            report = await analyze(lib, settings, kind)
            found = stored(lib, kind)
    assert [s.status for s in api.seen] == [400, 200, 200]  # refused once, then plain JSON
    assert api.seen[0].schema == answer_schema()
    later = api.seen[2].body
    if kind == "openai":
        assert later["response_format"] == {"type": "json_object"}
        assert json.dumps(answer_schema()) in later["messages"][-1]["content"][-1]["text"]
    else:
        assert later["format"] == "json"
        assert json.dumps(answer_schema()) in later["messages"][-1]["content"]
    assert (report.analyzed, report.requests, report.failed) == (ASSETS, 2, 0)
    assert report.errors == [] and api.problems == []
    assert found["analyses"] == ASSETS and found["ledger"][0] == 2  # the 400 cost nothing
    err = capsys.readouterr().err
    said = "json_schema" if kind == "openai" else "too old"
    assert sum(said in line and "rest of this run" in line for line in err.splitlines()) == 1
    assert error[:30] in err


def test_only_a_400_naming_the_schema_downgrades() -> None:
    from alice_mcp.understanding.http import ProviderRequestError

    settings = load_settings(flags={"understanding.openai.base_url":
                                    "http://127.0.0.1:9/v1"}).settings
    provider = make_provider("openai", settings.understanding)
    refused = ProviderRequestError("x")
    refused.status, refused.detail = 400, "image too large"
    assert provider.downgrade(refused) is False and provider.native_schema
    refused.status, refused.detail = 422, "response_format json_schema unsupported"
    assert provider.downgrade(refused) is False
    refused.status, refused.detail = 400, "Invalid schema for response_format 'image_analyses'"
    assert provider.downgrade(refused) is True and not provider.native_schema
    assert provider.body(["x"])["response_format"] == {"type": "json_object"}


async def test_a_library_from_before_failures_were_recorded_gets_the_table(tmp_path: Path) -> None:
    import duckdb

    settings = make_settings(tmp_path, "openai", "http://127.0.0.1:9/v1")
    await organized(tmp_path, settings)
    with duckdb.connect(str(tmp_path / "lib.duckdb")) as conn:
        conn.execute("DROP TABLE analysis_failures")
    with Library(settings, read_only=True) as lib:  # read-only: nothing failed, nothing breaks
        estimate = await lib.estimate_analysis(provider="openai")
        assert estimate.assets == ASSETS and estimate.failed_before == 0
    with Library(settings) as lib:
        assert lib.db.fetchall("SELECT count(*) FROM analysis_failures")[0][0] == 0
