"""Small pieces of understanding: Retry-After, backoff, redaction, the answer parser, prices,
OLLAMA_HOST, the offline provider's pixel and parameter tags."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import numpy as np
import pytest
from PIL import Image

from alice_mcp.understanding import pricing
from alice_mcp.understanding.base import Analysis, Item
from alice_mcp.understanding.budget import month_start
from alice_mcp.understanding.http import RetryPolicy, redact, retry_after_seconds
from alice_mcp.understanding.local import analyze_item, parameter_tags, pixel_tags
from alice_mcp.understanding.ollama import ollama_base_url
from alice_mcp.understanding.prompt import (
    RAW_EXCERPT,
    AnswerError,
    MalformedAnswerError,
    RefusedError,
    Reply,
    TruncatedAnswerError,
    read_reply,
    request_text,
)
from alice_mcp.understanding.schema import (
    ANSWER_CATEGORIES,
    BatchAnswer,
    ImageAnswer,
    answer_schema,
    openapi_schema,
    strict_schema,
)


def test_retry_after_in_seconds_or_as_an_http_date() -> None:
    now = datetime(2025, 5, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("7", now) == 7.0
    assert retry_after_seconds(" 0.5 ", now) == 0.5
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=30), usegmt=True),
                               now) == pytest.approx(30)
    assert retry_after_seconds(format_datetime(now - timedelta(seconds=30), usegmt=True),
                               now) == 0.0
    assert retry_after_seconds("-3", now) == 0.0
    for bad in (None, "", "soon", "Wed, 99 Foo"):
        assert retry_after_seconds(bad, now) is None


def test_backoff_is_exponential_with_full_jitter() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=4.0)
    assert [policy.backoff(a, rng=lambda: 1.0) for a in range(6)] == [0.5, 1, 2, 4, 4, 4]
    assert policy.backoff(3, rng=lambda: 0.0) == 0.0
    waits = [policy.backoff(2) for _ in range(200)]
    assert all(0 <= w <= 2.0 for w in waits) and len(set(waits)) > 100


def test_redaction_hides_the_key_and_long_pieces_of_it() -> None:
    key = "sk-proj-abcdefghijklmnopqrstuvwxyz"
    text = f"bad key {key}; prefix {key[:14]}...; suffix ...{key[-13:]}"
    cleaned = redact(text, key)
    assert key not in cleaned and key[:12] not in cleaned and key[-12:] not in cleaned
    assert redact("nothing here", None) == "nothing here"


def _entry(i: int, **changes: object) -> dict:
    tags = {c: [] for c in ANSWER_CATEGORIES}
    tags["subject"] = [{"tag": "cat", "confidence": 0.9}]
    return {"image": f"Image {i + 1}", "description": f"image {i}", "caption": "a cat",
            "tags": tags, **changes}


def _read(data: object, count: int, **flags: object) -> list:
    raw = data if isinstance(data, str) else json.dumps(data)
    return read_reply(Reply(data, raw, **flags), count)


def test_the_wire_schema_is_the_models_in_strict_form() -> None:
    schema = answer_schema()
    entry = schema["properties"]["images"]["items"]
    assert schema["required"] == ["images"] and schema["additionalProperties"] is False
    assert entry["required"] == list(ImageAnswer.model_fields) == \
        ["image", "description", "caption", "tags"]
    tags = entry["properties"]["tags"]
    assert tags["required"] == list(ANSWER_CATEGORIES) and tags["additionalProperties"] is False
    tag = tags["properties"]["subject"]["items"]
    assert tag["required"] == ["tag", "confidence"] and tag["properties"]["confidence"] == {
        "type": "number", "description": "how sure you are that the tag applies, 0 to 1"}
    def keys(node: object) -> set[str]:
        if isinstance(node, list):
            return set().union(*map(keys, node))
        if not isinstance(node, dict):
            return set()
        inner = [v for k, v in node.items() if k != "properties"] + \
            list((node.get("properties") or {}).values())
        return set(node) | set().union(*map(keys, inner))

    assert keys(schema) <= {"type", "properties", "required", "additionalProperties", "items",
                            "description"}
    assert BatchAnswer.model_json_schema()["properties"].keys() == schema["properties"].keys()


def test_answer_categories_are_library_categories() -> None:
    from alice_mcp.store.tags import TAG_CATEGORIES

    assert set(ANSWER_CATEGORIES) <= set(TAG_CATEGORIES)


def test_a_cut_through_entry_is_reported_as_cut_off() -> None:
    data = {"images": [_entry(0), {"image": "Image 2", "description": "A red f"}]}
    first, second = _read(data, 2, truncated=True)
    assert isinstance(first, Analysis) and isinstance(second, TruncatedAnswerError)


def test_optional_fields_become_a_type_list_with_null() -> None:
    from pydantic import BaseModel

    class Inner(BaseModel):
        note: str | None = None

    class Outer(BaseModel):
        inner: Inner
        count: int | None = None

    schema = strict_schema(Outer.model_json_schema())
    assert schema["properties"]["count"] == {"type": ["integer", "null"]}
    assert schema["properties"]["inner"]["properties"]["note"] == {"type": ["string", "null"]}
    assert schema["properties"]["inner"]["required"] == ["note"]
    assert schema["required"] == ["inner", "count"]


def test_gemini_openapi_subset_has_upper_case_types_and_property_order() -> None:
    schema = openapi_schema()
    assert schema["type"] == "OBJECT" and "additionalProperties" not in json.dumps(schema)
    entry = schema["properties"]["images"]["items"]
    assert entry["propertyOrdering"] == ["image", "description", "caption", "tags"]
    assert entry["properties"]["tags"]["properties"]["mood"]["items"]["properties"][
        "confidence"]["type"] == "NUMBER"
    nullable = openapi_schema({"type": ["string", "null"]})
    assert nullable == {"type": "STRING", "nullable": True}


@pytest.mark.parametrize("entry", [
    _entry(0),
    _entry(0, description="", caption=""),  # empty strings fit the schema
    _entry(0, tags={c: [] for c in ANSWER_CATEGORIES}),
    _entry(0, tags={**{c: [] for c in ANSWER_CATEGORIES},
                    "style": [{"tag": "x" * 200, "confidence": 3.5}] +
                    [{"tag": f"t{i}", "confidence": -1} for i in range(40)]}),
])
def test_every_answer_that_fits_the_wire_schema_parses(entry: dict) -> None:
    import jsonschema

    jsonschema.validate({"images": [entry]}, answer_schema())
    (only,) = _read({"images": [entry]}, 1)
    assert isinstance(only, Analysis)
    assert all(0 <= t.confidence <= 1 for t in only.tags) and len(only.tags) <= 12


def test_entries_are_matched_by_label_and_rejected_per_image() -> None:
    data = {"images": [_entry(2), _entry(0, tags={**{c: [] for c in ANSWER_CATEGORIES},
                                                   "color": [{"tag": "Deep Red",
                                                              "confidence": 0.5},
                                                             {"tag": "deep red",
                                                              "confidence": 0.9}]}),
                       _entry(1, description=7)]}
    out = _read(data, 4)
    assert isinstance(out[0], Analysis) and isinstance(out[2], Analysis)
    assert [(t.tag, t.category, t.confidence) for t in out[0].tags] == [
        ("deep red", "color", 0.5)]
    assert out[0].caption == "a cat" and out[0].description == "image 0"
    assert isinstance(out[1], MalformedAnswerError) and "Image 2" in str(out[1])
    assert isinstance(out[3], MalformedAnswerError) and "no entry" in str(out[3])
    assert out[3].raw == json.dumps(data)[:RAW_EXCERPT]


@pytest.mark.parametrize("text", [
    "```json\n" + json.dumps({"images": [_entry(0)]}) + "\n```",
    "Here you go: " + json.dumps({"images": [_entry(0)]}) + " Enjoy!",
    json.dumps(_entry(0)),  # a lone object for a lone image
    json.dumps({"images": [{k: v for k, v in _entry(0).items() if k != "image"}]}),
    json.dumps({"images": [_entry(0, image="image 1:")]}),
])
def test_the_parser_tolerates_fences_prose_and_loose_labels(text: str) -> None:
    (only,) = _read(text, 1)
    assert isinstance(only, Analysis) and only.description == "image 0"


@pytest.mark.parametrize("text", ["", "not json", '{"images": "nope"}', "[1, 2",
                                  '{"result": "a fox"}'])
def test_unusable_answers_fail_every_image_with_the_raw_answer(text: str) -> None:
    out = _read(text, 2)
    assert all(isinstance(o, MalformedAnswerError) for o in out)
    assert all(o.raw == text for o in out)


def test_a_cut_off_answer_keeps_the_whole_entries() -> None:
    whole = json.dumps({"images": [_entry(0), _entry(1), _entry(2)]})
    cut = whole[:whole.index('"Image 3"') + 20]
    out = _read(cut, 3, truncated=True)
    assert [type(o) for o in out] == [Analysis, Analysis, TruncatedAnswerError]
    assert "cut off at the output token limit" in str(out[2])
    assert out[2].raw == cut
    long = _read("x" * 2000, 1)[0]
    assert long.raw == "x" * RAW_EXCERPT


def test_a_refusal_is_an_error_for_every_image() -> None:
    out = read_reply(Reply(None, "I can't help", refusal="I can't help"), 2)
    assert all(isinstance(o, RefusedError) and "refused: I can't help" in str(o) for o in out)
    assert all(isinstance(o, AnswerError) for o in out)


def test_duplicate_and_out_of_range_labels_are_ignored() -> None:
    data = {"images": [_entry(0), _entry(0, description="second"), _entry(5), "junk"]}
    first, second = _read(data, 2)
    assert isinstance(first, Analysis) and first.description == "image 0"
    assert isinstance(second, MalformedAnswerError)


def test_the_request_text_names_the_labels_and_spells_out_the_schema_only_when_asked() -> None:
    assert "Image 1 to Image 3" in request_text(3) and "(Image 1)" in request_text(1)
    assert "JSON Schema" not in request_text(2)
    assert json.dumps(answer_schema()) in request_text(2, schema_in_text=True)


def test_prices_by_longest_prefix_fallback_and_overrides() -> None:
    assert pricing.price_for("openai", "gpt-4o-mini-2024-07-18").input_per_million == 0.15
    assert pricing.price_for("openai", "gpt-4o-2024-08-06").input_per_million == 2.50
    assert pricing.price_for("anthropic", "claude-3-5-haiku-20241022").output_per_million == 4.0
    assert pricing.price_for("google", "models/gemini-2.0-flash-lite").input_per_million == 0.075
    fallback = pricing.price_for("anthropic", "claude-next")
    assert fallback.source.startswith("fallback")
    assert fallback.output_per_million == max(p.output_per_million
                                              for p in pricing.PRICES["anthropic"].values())
    assert pricing.price_for("ollama", "llava").cost(10**6, 10**6) == 0
    custom = pricing.price_for("openai", "x", input_override=1.0, output_override=2.0)
    assert custom.cost(1_000_000, 500_000) == pytest.approx(2.0) and custom.source == "settings"
    price = pricing.price_for("openai", "gpt-4.1-mini")
    one, four = pricing.estimate(price, 1), pricing.estimate(price, 4)
    assert 0 < one.usd < four.usd < 4 * one.usd  # the instructions are paid once per call
    assert pricing.estimate(price, 0).usd == 0
    assert pricing.cost(price, 1000, 100).usd == pytest.approx((1000 * 0.4 + 100 * 1.6) / 1e6)


@pytest.mark.parametrize(("host", "url"), [
    ("0.0.0.0:11434", "http://127.0.0.1:11434"), ("localhost", "http://localhost:11434"),
    (":1234", "http://127.0.0.1:1234"), ("http://box:8080/", "http://box:8080"),
    ("https://ollama.example.com", "https://ollama.example.com"),
])
def test_ollama_host_is_read_as_ollama_reads_it(host: str, url: str) -> None:
    assert ollama_base_url(host) == url


def test_month_start_is_utc_midnight_on_the_first() -> None:
    assert month_start(datetime(2025, 3, 31, 23, 59, tzinfo=UTC)) == \
        datetime(2025, 3, 1, tzinfo=UTC)


def _jpeg(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.save(out, "JPEG", quality=92)
    return out.getvalue()


def test_local_pixel_tags_colourfulness_brightness_and_colours() -> None:
    grey = {t.tag for t in pixel_tags(_jpeg(Image.new("RGB", (128, 96), (120, 120, 120))))}
    assert {"gray", "monochrome"} <= grey
    dark = {t.tag for t in pixel_tags(_jpeg(Image.new("RGB", (64, 64), (10, 10, 12))))}
    assert "dark" in dark
    stripes = np.zeros((128, 128, 3), dtype=np.uint8)
    palette = [(255, 0, 0), (0, 200, 0), (0, 0, 255), (255, 220, 0), (255, 0, 255)]
    for i in range(128):
        stripes[:, i] = palette[(i // 8) % len(palette)]
    vivid = {t.tag for t in pixel_tags(_jpeg(Image.fromarray(stripes)))}
    assert "vibrant colors" in vivid and "monochrome" not in vivid


def test_local_parameter_tags_orientation_resolution_and_family() -> None:
    def tags(w: int, h: int) -> set[str]:
        return {t.tag for t in parameter_tags(Item("a", None, "sdxl", w, h, None))}
    assert tags(1216, 832) >= {"landscape orientation", "hd resolution", "sdxl"}
    assert "portrait orientation" in tags(512, 768) and "sd resolution" in tags(512, 768)
    assert "square orientation" in tags(4096, 4096) and "4k resolution" in tags(4096, 4096)
    found = analyze_item(Item("a", "a moody cyberpunk city at night, neon, 35mm", None, 512,
                              512, None))
    categories = {t.tag: t.category for t in found.tags}
    assert categories["cyberpunk"] == "style" and categories["neon"] == "lighting"
    assert categories["35mm"] == "camera" and categories["moody"] == "mood"
