"""Property tests: arbitrary input never makes a parser raise anything but the project's own errors."""

from __future__ import annotations

import importlib
import io
import json
import os
import pkgutil
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from alice_mcp.errors import InvalidQuery
from alice_mcp.metadata import detect, generators
from alice_mcp.metadata.base import ContainerMeta
from alice_mcp.store import assets
from alice_mcp.store import query as q
from alice_mcp.store.db import Database

MODULES = [importlib.import_module(f"alice_mcp.metadata.generators.{m.name}")
           for m in pkgutil.iter_modules(generators.__path__)]
PARSERS = [m for m in MODULES if hasattr(m, "parse")]
SCALE = float(os.environ.get("ALICE_PROPERTY_SCALE", "1"))  # `make stress` raises it
TEXT_KEYS = ["parameters", "prompt", "workflow", "Comment", "Description", "Software", "Source",
             "invokeai_metadata", "invokeai_graph", "sd-metadata", "Dream", "fooocus_scheme",
             "negative_prompt", "seed", "use_stable_diffusion_model", "Author", "Title"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner,
                                                                 max_size=5),
    max_leaves=30)
texts = st.one_of(st.text(max_size=300), json_values.map(json.dumps),
                  st.builds(lambda p, rest: f"{p}\nNegative prompt: x\n{rest}", st.text(max_size=50),
                            st.text(max_size=120)))
metas = st.builds(
    lambda text, comment, exif, xmp, fmt: ContainerMeta(format=fmt, text=text,
                                                         exif_user_comment=comment, exif=exif,
                                                         xmp=xmp),
    st.dictionaries(st.sampled_from(TEXT_KEYS), texts, max_size=4),
    st.none() | texts,
    st.dictionaries(st.sampled_from(["Make", "Model", "Software", "ImageDescription"]), texts,
                    max_size=2),
    st.none() | st.text(max_size=200),
    st.sampled_from(["png", "jpeg", "webp", "mp4", "unknown"]))
names = st.text(max_size=60).map(lambda s: s.replace("/", "_") + ".png")


def test_every_generator_module_is_covered() -> None:
    covered = {m.__name__.rsplit(".", 1)[1] for m in PARSERS}
    assert covered >= {"a1111", "comfyui", "filename", "midjourney", "novelai", "invokeai"}


@pytest.mark.parametrize("parser", PARSERS, ids=lambda m: m.__name__.rsplit(".", 1)[1])
@settings(max_examples=int(150 * SCALE), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(meta=metas, filename=names)
def test_generator_parsers_never_raise(parser, meta: ContainerMeta, filename: str) -> None:
    found = parser.parse(meta, filename)
    assert found is None or found.source


@settings(max_examples=int(60 * SCALE), deadline=None)
@given(chunks=st.dictionaries(st.sampled_from(TEXT_KEYS), texts, max_size=4), name=names)
def test_detection_of_valid_images_with_arbitrary_text_never_raises(chunks: dict[str, str],
                                                                    name: str) -> None:
    info = PngInfo()
    for key, value in chunks.items():
        info.add_itxt(key, value)
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, "PNG", pnginfo=info)
    found = detect(io.BytesIO(buffer.getvalue()), name)
    assert found.width == 4 and found.height == 4
    json.dumps(found.to_dict())  # always serialisable for inspect --json and the index


@pytest.fixture(scope="module")
def empty_library(tmp_path_factory: pytest.TempPathFactory) -> Database:
    db = Database(tmp_path_factory.mktemp("prop") / "q.duckdb")
    db.conn  # noqa: B018 - create the schema
    return db


query_words = st.one_of(
    st.text(max_size=20),
    st.builds(lambda f, v: f"{f}:{v}", st.sampled_from(q.FIELDS), st.text(max_size=15)),
    st.builds(lambda f, v: f"-{f}:{v}", st.sampled_from(q.FIELDS), st.text(max_size=15)),
    st.sampled_from(["'", '"', "\\", "%", "_", "*", "?", "[", ";", "--", "' OR 1=1 --",
                     "stars:>=", "after:7x", "w:>>3", "\x00"]))


@settings(max_examples=int(300 * SCALE), deadline=None)
@given(words=st.lists(query_words, max_size=6))
def test_search_language_raises_only_query_errors_and_always_makes_valid_sql(
        empty_library: Database, words: list[str]) -> None:
    text = " ".join(words)
    try:
        parsed = q.parse(text, now=datetime(2025, 6, 1, tzinfo=UTC))
    except InvalidQuery as exc:
        assert str(exc)
        return
    assert empty_library.fetchall(*q.page_sql(parsed, 10, 0)) == []
    assert assets.summaries(empty_library, ["x' OR 1=1 --", "0" * 32]) == {}
