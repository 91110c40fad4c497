"""The MCP server driven as a client drives it: in process with Client(server), and over stdio."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters
from PIL import Image

from alice_mcp import samples
from alice_mcp.apps import GALLERY_URI
from alice_mcp.config import Settings, load_settings
from alice_mcp.pipeline.place import TEMP_SUFFIX
from alice_mcp.server import build_server
from alice_mcp.store.db import Database

pytestmark = pytest.mark.anyio
SNAPSHOT = Path(__file__).parent / "snapshots" / "tools_list.json"


@pytest.fixture
def roots(tmp_path: Path) -> tuple[Path, Path]:
    inbox, organized = tmp_path / "inbox", tmp_path / "organized"
    samples.make_sample_inbox(inbox, count=24, seed=21)
    return inbox, organized


@pytest.fixture
def server_settings(tmp_path: Path, roots: tuple[Path, Path]) -> Settings:
    inbox, organized = roots
    return load_settings(flags={"paths.inbox": inbox, "paths.organized": organized,
                                "paths.database": tmp_path / "lib.duckdb"}).settings


async def _organized_client(settings: Settings):
    client = Client(build_server(settings), raise_exceptions=True)
    await client.__aenter__()
    result = await client.call_tool("organize", {})
    assert not result.is_error, result.content
    return client


def _tools_snapshot(tools) -> list[dict]:
    return [{"name": t.name, "title": t.title, "description": t.description,
             "input_schema": t.input_schema,
             "output_schema": t.output_schema,
             "annotations": t.annotations.model_dump(exclude_none=True) if t.annotations else None,
             "_meta": t.meta}
            for t in sorted(tools, key=lambda t: t.name)]


async def test_tools_list_matches_the_snapshot(server_settings: Settings) -> None:
    """Every change to the public surface shows up here in review (UPDATE_SNAPSHOTS=1 rewrites)."""
    async with Client(build_server(server_settings)) as client:
        tools = (await client.list_tools()).tools
    _check_snapshot(_tools_snapshot(tools), SNAPSHOT,
                    update=bool(os.environ.get("UPDATE_SNAPSHOTS")))


def _check_snapshot(current: list[dict], snapshot: Path, *, update: bool) -> None:
    """current must equal the snapshot file; only update (the explicit flag) rewrites it."""
    if update:
        snapshot.parent.mkdir(exist_ok=True)
        snapshot.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n", "utf-8")
    assert snapshot.exists(), f"{snapshot} is missing; write it with UPDATE_SNAPSHOTS=1"
    assert current == json.loads(snapshot.read_text("utf-8"))


def test_a_missing_snapshot_fails_and_is_not_written(tmp_path: Path) -> None:
    """Without the flag a missing snapshot is a failure, never silently recreated."""
    missing = tmp_path / "snapshots" / "tools_list.json"
    with pytest.raises(AssertionError, match="is missing"):
        _check_snapshot([{"name": "search"}], missing, update=False)
    assert not missing.exists()
    _check_snapshot([{"name": "search"}], missing, update=True)
    with pytest.raises(AssertionError):
        _check_snapshot([{"name": "stats"}], missing, update=False)


RESOURCES_SNAPSHOT = SNAPSHOT.with_name("resources_list.json")


async def test_resources_list_matches_the_snapshot(server_settings: Settings) -> None:
    """resources/list and resources/templates/list, with the gallery app (UPDATE_SNAPSHOTS=1
    rewrites): a resource or its metadata changing shows up in review."""
    async with Client(build_server(server_settings)) as client:
        listed = (await client.list_resources()).resources
        templates = (await client.list_resource_templates()).resource_templates
    current = {
        "resources": [r.model_dump(mode="json", by_alias=True, exclude_none=True)
                      for r in sorted(listed, key=lambda r: str(r.uri))],
        "templates": [t.model_dump(mode="json", by_alias=True, exclude_none=True)
                      for t in sorted(templates, key=lambda t: t.uri_template)]}
    if os.environ.get("UPDATE_SNAPSHOTS"):
        RESOURCES_SNAPSHOT.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n",
                                      "utf-8")
    assert RESOURCES_SNAPSHOT.exists(), f"{RESOURCES_SNAPSHOT} is missing; UPDATE_SNAPSHOTS=1"
    assert current == json.loads(RESOURCES_SNAPSHOT.read_text("utf-8"))
    gallery = next(r for r in current["resources"] if r["uri"].startswith("ui://"))
    assert gallery["mimeType"] == "text/html;profile=mcp-app"


async def test_every_tool_declares_honest_annotations(server_settings: Settings) -> None:
    async with Client(build_server(server_settings)) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == {"organize", "search", "tag", "analyze", "find_similar",
                          "find_duplicates", "resolve_duplicates", "get_asset", "view", "stats",
                          "embed", "export", "write_sidecars"}
    read_only = {"search", "find_similar", "find_duplicates", "get_asset", "view", "stats",
                 "export"}
    for name, tool in tools.items():
        ann = tool.annotations
        assert ann is not None and ann.read_only_hint == (name in read_only), name
        # only analyze may reach beyond the machine (when a remote provider is chosen)
        assert ann.open_world_hint is (name == "analyze"), name
        assert ann.destructive_hint is not None and ann.idempotent_hint is not None, name
        assert tool.description and len(tool.description) > 60, name
        if name != "view":
            assert tool.output_schema, name


async def test_export_tool_returns_the_rows_of_a_search(server_settings: Settings,
                                                        roots: tuple[Path, Path]) -> None:
    inbox, _ = roots
    samples.write_a1111_png(inbox / "k.png", prompt="a knight", seed=77)
    samples.write_a1111_png(inbox / "q.png", prompt="a queen", seed=78)
    async with Client(build_server(server_settings)) as client:
        await client.call_tool("organize", {})
        found = await client.call_tool("search", {"query": "knight"})
        asset = found.structured_content["results"][0]["asset_id"]
        await client.call_tool("tag", {"asset_ids": [asset], "add": ["hero"], "stars": 5})
        result = await client.call_tool("export", {"query": "knight"})
    rows = result.structured_content["rows"]
    assert result.structured_content["total"] == 1 and rows[0]["seed"] == 77
    assert rows[0]["tags"] == ["hero"] and rows[0]["stars"] == 5
    assert rows[0]["generator"] == "a1111" and rows[0]["prompt"] == "a knight"


async def test_write_sidecars_tool_writes_beside_the_organized_files(
        server_settings: Settings, roots: tuple[Path, Path]) -> None:
    inbox, organized = roots
    samples.write_a1111_png(inbox / "k.png", prompt="a knight", seed=77)
    async with Client(build_server(server_settings)) as client:
        await client.call_tool("organize", {})
        found = await client.call_tool("search", {"query": "knight"})
        asset = found.structured_content["results"][0]["asset_id"]
        await client.call_tool("tag", {"asset_ids": [asset], "add": ["hero"], "stars": 5})
        result = await client.call_tool("write_sidecars", {"query": "knight"})
        again = await client.call_tool("write_sidecars", {"query": "knight"})
        where = (await client.call_tool("get_asset", {"asset_id": asset})).structured_content
    assert not result.is_error and result.structured_content["written"] == 1
    assert again.structured_content["written"] == 0  # nothing changed: left as it is
    placed = next(loc["path"] for loc in where["locations"] if loc["role"] == "organized")
    assert sorted(organized.rglob("*.xmp")) == [Path(placed + ".xmp")]
    packet = Path(placed + ".xmp").read_text("utf-8")
    assert "hero" in packet and re.search(r'Rating(="|>)5', packet), packet[:400]
    assert not list(inbox.rglob("*.xmp"))  # originals and the inbox untouched


async def test_organize_reports_progress_and_counts(server_settings: Settings,
                                                    roots: tuple[Path, Path]) -> None:
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    async with Client(build_server(server_settings)) as client:
        result = await client.call_tool("organize", {"dry_run": True})
        assert not result.is_error
        planned = result.structured_content
        assert planned["dry_run"] and planned["organized"] > 0
        assert not roots[1].exists()
        result = await client.call_tool("organize", {}, progress_callback=on_progress)
    done = result.structured_content
    assert (done["organized"], done["duplicates"]) == (planned["organized"], planned["duplicates"])
    assert done["errors"] == []
    assert [m for _, _, m in seen] == ["Processing 24 files in 1 batches", "Processed 24/24 files"]
    assert [(p, t) for p, t, _ in seen] == [(0, 24), (24, 24)]


async def test_search_pages_with_an_opaque_cursor(server_settings: Settings) -> None:
    client = await _organized_client(server_settings)
    try:
        seen: list[str] = []
        cursor = None
        while True:
            args = {"limit": 5, **({"cursor": cursor} if cursor else {})}
            page = (await client.call_tool("search", args)).structured_content
            seen += [r["asset_id"] for r in page["results"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
            assert isinstance(cursor, str)
        assert len(seen) == len(set(seen)) == page["total"] == 23
        filtered = (await client.call_tool("search", {"source": "a1111", "limit": 100})
                    ).structured_content
        assert filtered["total"] > 0 and {r["source"] for r in filtered["results"]} == {"a1111"}
        same = (await client.call_tool("search", {"query": "source:a1111", "limit": 100})
                ).structured_content
        assert same["total"] == filtered["total"]
        bad = await client.call_tool("search", {"query": "colour:red"})
        assert bad.is_error and "unknown field" in bad.content[0].text
        wrong = await client.call_tool("search", {"query": "fox", "cursor": cursor or "eyJvIjo1fQ"})
        assert wrong.is_error
    finally:
        await client.__aexit__(None, None, None)


async def test_tag_search_by_tag_and_get_asset(server_settings: Settings) -> None:
    client = await _organized_client(server_settings)
    try:
        page = (await client.call_tool("search", {"limit": 3})).structured_content
        ids = [r["asset_id"] for r in page["results"]]
        tagged = (await client.call_tool("tag", {"asset_ids": ids, "add": ["Reference", "keep"]})
                  ).structured_content
        assert tagged == {"updated_assets": 3, "added": 6, "removed": 0, "unknown_ids": [],
                      "sidecars_written": 0}
        hits = (await client.call_tool("search", {"tags_all": ["reference", "keep"]})
                ).structured_content
        assert sorted(r["asset_id"] for r in hits["results"]) == sorted(ids)
        organized = server_settings.paths.organized.resolve()
        for hit in hits["results"]:  # tags sorted and unique, the organized copy shown first
            assert hit["tags"] == sorted(set(hit["tags"])) and {"keep", "reference"} <= set(hit["tags"])
            assert Path(hit["path"]).resolve().is_relative_to(organized), hit["path"]
        removed = (await client.call_tool("tag", {"asset_ids": ids[:1], "remove": ["keep"]})
                   ).structured_content
        assert removed["removed"] == 1
        detail = (await client.call_tool("get_asset", {"asset_id": ids[0]})).structured_content
        assert detail["asset_id"] == ids[0]
        assert [t["tag"] for t in detail["tags"]] == ["reference"]
        assert {loc["role"] for loc in detail["locations"]} == {"inbox", "organized"}
        assert detail["fields"]["phash"] is not None
        missing = await client.call_tool("get_asset", {"asset_id": "ffffffffffff"})
        assert missing.is_error and "search" in missing.content[0].text
    finally:
        await client.__aexit__(None, None, None)


async def test_analyze_tags_assets_with_the_offline_provider(server_settings: Settings) -> None:
    client = await _organized_client(server_settings)
    try:
        report = (await client.call_tool("analyze", {})).structured_content
        assert report["provider"] == "local" and report["analyzed"] == 23
        again = (await client.call_tool("analyze", {})).structured_content
        assert again["analyzed"] == 0 and again["requests"] == 0
        some = (await client.call_tool("search", {"limit": 1})).structured_content["results"][0]
        detail = (await client.call_tool("get_asset", {"asset_id": some["asset_id"]})
                  ).structured_content
        local = [t for t in detail["tags"] if t["origin"] == "local"]
        assert {t["category"] for t in local} >= {"color", "technical"}
        assert detail["analyses"][0]["provider"] == "local"
        stats = (await client.call_tool("stats", {})).structured_content
        assert stats["tags"] > 23 and stats["assets"] == 23
    finally:
        await client.__aexit__(None, None, None)


async def test_similar_and_duplicates_use_perceptual_hashes(server_settings: Settings,
                                                            roots: tuple[Path, Path]) -> None:
    inbox = roots[0]
    original = next(p for p in sorted(inbox.rglob("*.png")))
    Image.open(original).convert("RGB").resize((60, 60)).save(inbox / "resaved.jpg", quality=80)
    client = await _organized_client(server_settings)
    try:
        dupes = (await client.call_tool("find_duplicates", {"max_distance": 4})).structured_content
        groups = [{Path(a["path"]).suffix for a in g["assets"]} for g in dupes["groups"]]
        assert {".png", ".jpg"} in groups
        group = next(g for g in dupes["groups"] if len(g["assets"]) == 2)
        first, second = (a["asset_id"] for a in group["assets"])
        near = (await client.call_tool("find_similar", {"asset_id": first, "max_distance": 4})
                ).structured_content
        assert near["results"][0]["asset_id"] == second
        assert near["results"][0]["distance"] <= 4
        by_path = (await client.call_tool("find_similar", {"path": str(inbox / "resaved.jpg"),
                                                           "max_distance": 4})).structured_content
        assert {r["asset_id"] for r in by_path["results"]} >= {first, second} - {None}
        # keep one: the other's tags move over, the other is marked, no file is touched
        files = sorted(p for p in server_settings.paths.organized.rglob("*") if p.is_file())
        await client.call_tool("tag", {"asset_ids": [second], "add": ["Sunset", "keep me"]})
        await client.call_tool("tag", {"asset_ids": [first], "add": ["duplicate", "sunset"]})
        resolved = (await client.call_tool("resolve_duplicates", {"keep": first,
                                                                  "others": [second, first]})
                    ).structured_content
        stars = resolved.pop("stars")  # its own (from its quality), else the other's
        assert resolved == {"kept": first, "marked_duplicate": [second],
                            "merged_tags": ["keep me"], "moved": [], "problems": [],
                            "unknown_ids": []}
        kept = (await client.call_tool("get_asset", {"asset_id": first})).structured_content
        assert {t["tag"] for t in kept["tags"]} == {"sunset", "keep me"}
        assert kept["fields"]["stars"] == stars
        marked = (await client.call_tool("search", {"query": "tag:duplicate"})).structured_content
        assert [r["asset_id"] for r in marked["results"]] == [second]
        alone = await client.call_tool("resolve_duplicates", {"keep": first, "others": [first]})
        assert alone.is_error and "at least one other" in alone.content[0].text
        assert sorted(p for p in server_settings.paths.organized.rglob("*") if p.is_file()) == files
    finally:
        await client.__aexit__(None, None, None)


async def test_view_returns_images_the_assistant_can_see(server_settings: Settings) -> None:
    client = await _organized_client(server_settings)
    try:
        ids = [r["asset_id"] for r in
               (await client.call_tool("search", {"limit": 2})).structured_content["results"]]
        result = await client.call_tool("view", {"asset_ids": ids, "size": 128})
        images = [b for b in result.content if b.type == "image"]
        assert len(images) == 2 and all(b.mime_type == "image/jpeg" for b in images)
        with Image.open(io.BytesIO(base64.b64decode(images[0].data))) as img:
            assert max(img.size) <= 128
        too_many = await client.call_tool("view", {"asset_ids": ids * 5})
        assert too_many.is_error and "at most 8" in too_many.content[0].text
    finally:
        await client.__aexit__(None, None, None)


async def test_gallery_app_is_listed_and_bound_to_its_tools(server_settings: Settings) -> None:
    """MCP Apps: the ui:// resource is listed and readable as text/html;profile=mcp-app with a
    CSP that allows nothing external; search, find_similar and find_duplicates name it; a client
    without UI support still gets the same structured result and its text copy."""
    client = await _organized_client(server_settings)
    try:
        listed = {r.uri: r for r in (await client.list_resources()).resources}
        gallery = listed[GALLERY_URI]
        assert gallery.mime_type == "text/html;profile=mcp-app" and gallery.description
        read = (await client.read_resource(GALLERY_URI)).contents[0]
        assert read.mime_type == "text/html;profile=mcp-app"
        assert read.text.startswith("<!doctype html>") and "ui/initialize" in read.text
        assert read.meta["ui"]["csp"] == {"connectDomains": [], "resourceDomains": [],
                                          "frameDomains": [], "baseUriDomains": []}
        assert "http://" not in read.text and "https://" not in read.text
        assert "connect-src 'none'" in read.text  # the page's own CSP too
        tools = {t.name: t for t in (await client.list_tools()).tools}
        bound = {n for n, t in tools.items() if (t.meta or {}).get("ui")}
        assert bound == {"search", "find_similar", "find_duplicates"}
        assert all(tools[n].meta["ui"]["resourceUri"] == GALLERY_URI for n in bound)
        result = await client.call_tool("search", {"limit": 3})
        assert len(result.structured_content["results"]) == 3
        assert json.loads(result.content[0].text) == result.structured_content
    finally:
        await client.__aexit__(None, None, None)


async def test_resources_and_prompts(server_settings: Settings) -> None:
    client = await _organized_client(server_settings)
    try:
        asset_id = (await client.call_tool("search", {"limit": 1})
                    ).structured_content["results"][0]["asset_id"]
        detail = await client.read_resource(f"alice://asset/{asset_id}")
        assert json.loads(detail.contents[0].text)["asset_id"] == asset_id
        thumb = await client.read_resource(f"alice://asset/{asset_id}/thumbnail")
        assert thumb.contents[0].mime_type == "image/jpeg"
        assert base64.b64decode(thumb.contents[0].blob)[:2] == b"\xff\xd8"
        stats = json.loads((await client.read_resource("alice://stats")).contents[0].text)
        assert stats["assets"] == 23
        prompts = {p.name for p in (await client.list_prompts()).prompts}
        assert prompts == {"organize_inbox", "review_duplicates"}
        text = await client.get_prompt("organize_inbox", {})
        assert "dry_run" in text.messages[0].content.text
    finally:
        await client.__aexit__(None, None, None)


@pytest.mark.parametrize("escape", ["dotdot", "absolute", "symlink"])
async def test_path_escapes_are_rejected(server_settings: Settings, roots: tuple[Path, Path],
                                         tmp_path: Path, escape: str) -> None:
    inbox = roots[0]
    outside = tmp_path / "outside"
    outside.mkdir()
    samples.write_plain_png(outside / "secret.png", seed=1)
    path = {"dotdot": str(inbox / ".." / "outside"), "absolute": str(outside),
            "symlink": str(inbox / "link")}[escape]
    if escape == "symlink":
        (inbox / "link").symlink_to(outside, target_is_directory=True)
    async with Client(build_server(server_settings)) as client:
        for tool, args in (("organize", {"inbox": path, "dry_run": True}),
                           ("organize", {"organized": path, "dry_run": True}),
                           ("find_similar", {"path": str(Path(path) / "secret.png")}),
                           ("analyze", {"paths": [str(Path(path) / "secret.png")]})):
            result = await client.call_tool(tool, args)
            assert result.is_error, (tool, args)
            text = result.content[0].text
            assert "outside the library's folders" in text and str(inbox) in text, text
    assert not (tmp_path / "organized").exists()


async def test_cancelling_organize_leaves_a_consistent_index(tmp_path: Path) -> None:
    inbox, organized = tmp_path / "big", tmp_path / "organized"
    samples.make_sample_inbox(inbox, count=400, seed=4)
    settings = load_settings(flags={"paths.inbox": inbox, "paths.organized": organized,
                                    "paths.database": tmp_path / "c.duckdb",
                                    "performance.batch_size": 20}).settings
    async with Client(build_server(settings)) as client:
        with anyio.CancelScope() as scope:
            async def on_progress(progress: float, total: float | None, message: str | None):
                if progress >= 60:
                    scope.cancel()
            await client.call_tool("organize", {}, progress_callback=on_progress)
        assert scope.cancelled_caught
        await anyio.sleep(0.5)  # let the server finish the file it was placing
        # the server keeps serving after a cancel
        stats = (await client.call_tool("stats", {})).structured_content
    on_disk = {str(p) for p in organized.rglob("*") if p.is_file()}
    assert 0 < len(on_disk) < 400
    assert not [p for p in on_disk if p.endswith(TEMP_SUFFIX)]
    db = Database(tmp_path / "c.duckdb", read_only=True)
    recorded = {p for (p,) in db.fetchall("SELECT path FROM files WHERE role = 'organized'")}
    db.close()
    assert recorded == on_disk
    assert stats["files"] >= len(on_disk)
    async with Client(build_server(settings)) as client:
        rest = (await client.call_tool("organize", {})).structured_content
    total = len({str(p) for p in organized.rglob("*") if p.is_file()})
    assert rest["errors"] == [] and total == len(on_disk) + rest["organized"]


def _stdio_params(settings: Settings, tmp_path: Path) -> StdioServerParameters:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALICE_")}
    env.update({"ALICE_PATHS__INBOX": str(settings.paths.inbox),
                "ALICE_PATHS__ORGANIZED": str(settings.paths.organized),
                "ALICE_PATHS__DATABASE": str(settings.paths.database)})
    return StdioServerParameters(command=sys.executable, args=["-m", "alice_mcp", "mcp-server"],
                                 env=env, cwd=str(tmp_path))


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_stdio_subprocess_serves_every_tool(server_settings: Settings, tmp_path: Path,
                                                  mode: str) -> None:
    progress: list[str | None] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(message)

    async with Client(_stdio_params(server_settings, tmp_path), mode=mode) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert "search" in names and "organize" in names
        organized = await client.call_tool("organize", {}, progress_callback=on_progress)
        assert organized.structured_content["organized"] == 23
        assert "Processed 24/24 files" in progress
        page = (await client.call_tool("search", {"limit": 10})).structured_content
        ids = [r["asset_id"] for r in page["results"]]
        assert page["total"] == 23 and page["next_cursor"]
        page2 = (await client.call_tool("search", {"limit": 10, "cursor": page["next_cursor"]})
                 ).structured_content
        assert not set(ids) & {r["asset_id"] for r in page2["results"]}
        for tool, args in (("tag", {"asset_ids": ids[:2], "add": ["x"]}),
                           ("analyze", {"asset_ids": ids[:2]}),
                           ("find_similar", {"asset_id": ids[0]}),
                           ("find_duplicates", {}),
                           ("get_asset", {"asset_id": ids[0]}),
                           ("view", {"asset_ids": ids[:1]}),
                           ("stats", {})):
            result = await client.call_tool(tool, args)
            assert not result.is_error, (tool, result.content)


async def test_writes_invalidate_the_search_cache(server_settings: Settings) -> None:
    client = await _organized_client(server_settings)
    try:
        first = (await client.call_tool("search", {"query": "tag:fresh"})).structured_content
        assert first["total"] == 0
        asset_id = (await client.call_tool("search", {"limit": 1})
                    ).structured_content["results"][0]["asset_id"]
        await client.call_tool("tag", {"asset_ids": [asset_id], "add": ["fresh"]})
        again = (await client.call_tool("search", {"query": "tag:fresh"})).structured_content
        assert again["total"] == 1  # a stale cached answer would still say 0
        stats = (await client.call_tool("stats", {})).structured_content
        cache = next(c for c in stats["process"]["caches"] if c["name"] == "search")
        assert cache["misses"] >= 3 and cache["max_mb"] == 512
    finally:
        await client.__aexit__(None, None, None)


async def test_streamable_http_transport(server_settings: Settings, tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    params = _stdio_params(server_settings, tmp_path)
    proc = await anyio.open_process(
        [sys.executable, "-m", "alice_mcp", "mcp-server", "--transport", "http", "--port",
         str(port)], env=params.env)
    try:
        with anyio.fail_after(30):
            while True:
                try:
                    async with Client(f"http://127.0.0.1:{port}/mcp") as client:
                        names = {t.name for t in (await client.list_tools()).tools}
                        done = await client.call_tool("organize", {})
                        page = await client.call_tool("search", {"limit": 5})
                    break
                except (OSError, ExceptionGroup):
                    await anyio.sleep(0.3)
        assert "search" in names
        assert done.structured_content["organized"] == 23
        assert page.structured_content["total"] == 23
    finally:
        proc.terminate()
        await proc.wait()


def _type_lists(schema: object, where: str = "") -> list[str]:
    """Every place a schema says "type": [..] (clients wanting one type per property reject it)."""
    if isinstance(schema, dict):
        found = [where] if isinstance(schema.get("type"), list) else []
        return found + [p for k, v in schema.items() for p in _type_lists(v, f"{where}/{k}")]
    if isinstance(schema, list):
        return [p for i, v in enumerate(schema) for p in _type_lists(v, f"{where}/{i}")]
    return []


async def test_every_structured_result_validates_against_its_schema(
        server_settings: Settings) -> None:
    """jsonschema (Draft 2020-12, what the SDK client uses) over a result of every tool; and no
    nullable field is published as a type list."""
    from jsonschema import Draft202012Validator

    client = await _organized_client(server_settings)
    try:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        for tool in tools.values():
            assert _type_lists(tool.output_schema or {}) == [], tool.name
            assert _type_lists(tool.input_schema) == [], tool.name
            Draft202012Validator.check_schema(tool.output_schema or {})
        page = (await client.call_tool("search", {"limit": 3})).structured_content
        ids = [r["asset_id"] for r in page["results"]]
        calls = {"organize": {"dry_run": True}, "search": {"limit": 100},
                 "tag": {"asset_ids": ids, "add": ["x"]}, "analyze": {"asset_ids": ids},
                 "find_similar": {"asset_id": ids[0], "max_distance": 32},
                 "find_duplicates": {"max_distance": 10}, "get_asset": {"asset_id": ids[0]},
                 "stats": {}, "resolve_duplicates": {"keep": ids[0], "others": ids[1:]},
                 "embed": {}, "export": {"query": "", "limit": 5},
                 "write_sidecars": {"query": "tag:x"}}
        assert set(calls) == {n for n, t in tools.items() if t.output_schema}
        for name, args in calls.items():
            result = await client.call_tool(name, args)
            if name == "embed":  # no embedding model in this library: the error says so
                assert result.is_error and "alice models pull" in result.content[0].text
                continue
            assert not result.is_error, (name, result.content)
            errors = list(Draft202012Validator(tools[name].output_schema).iter_errors(
                result.structured_content))
            assert errors == [], (name, errors[:1])
        nulls = (await client.call_tool("search", {"limit": 100})).structured_content
        assert nulls["next_cursor"] is None  # a null really is sent, and validated above
    finally:
        await client.__aexit__(None, None, None)


UNKNOWN_PER_TOOL = {
    "organize": ({"move": True, "dryRun": True}, "dryRun", "dry_run"),
    "search": ({"qeury": "cat"}, "qeury", "query"),
    "tag": ({"asset_ids": ["aaaaaa"], "add": ["x"], "tags": ["y"]}, "tags", None),
    "analyze": ({"asset_id": "aaaaaa"}, "asset_id", "asset_ids"),
    "find_similar": ({"asset_id": "aaaaaa", "maxDistance": 3}, "maxDistance", "max_distance"),
    "find_duplicates": ({"scopes": "cat"}, "scopes", "scope"),
    "get_asset": ({"asset_id": "aaaaaa", "verbose": True}, "verbose", None),
    "view": ({"asset_ids": ["aaaaaa"], "Size": 128}, "Size", "size"),
    "stats": ({"detail": True}, "detail", None),
    "embed": ({"queries": "cat"}, "queries", "query"),
    "resolve_duplicates": ({"keep": "aaaaaa", "others": ["bbbbbb"], "force": True}, "force",
                           None),
    "export": ({"query": "cat", "fmt": "csv"}, "fmt", None),
    "write_sidecars": ({"queries": "cat"}, "queries", "query"),
}


async def test_unknown_arguments_are_refused_and_nothing_runs(server_settings: Settings,
                                                             roots: tuple[Path, Path]) -> None:
    inbox, organized = roots
    before = sorted(str(p.relative_to(inbox)) for p in inbox.rglob("*"))
    async with Client(build_server(server_settings)) as client:
        tools = (await client.list_tools()).tools
        assert {t.name for t in tools} == set(UNKNOWN_PER_TOOL)
        for tool in tools:
            assert tool.input_schema["additionalProperties"] is False, tool.name
        for name, (args, unknown, guess) in UNKNOWN_PER_TOOL.items():
            result = await client.call_tool(name, args)
            assert result.is_error, name
            text = result.content[0].text
            assert text.startswith(f"unknown argument {unknown!r}"), text
            if guess:
                assert f"did you mean {guess!r}?" in text, text
        stats = (await client.call_tool("stats", {})).structured_content
    assert stats["assets"] == 0 and stats["files"] == 0  # organize never ran, not even a scan
    assert sorted(str(p.relative_to(inbox)) for p in inbox.rglob("*")) == before
    assert not organized.exists()


async def test_fifty_concurrent_searches_answer_correctly(server_settings: Settings) -> None:
    """50 searches at once over one session (reader threads, their own cursors, the lookup
    threads shared) give each the same answer as alone, while a writer retags beside them."""
    client = await _organized_client(server_settings)
    try:
        queries = [{"source": s} for s in ("a1111", "comfyui", "novelai", "midjourney")] + \
                  [{"limit": n} for n in (1, 5, 23)] + [{"query": "tag:nothing-like-this"}]
        alone = {}
        for args in queries:
            page = (await client.call_tool("search", args)).structured_content
            alone[json.dumps(args)] = [r["asset_id"] for r in page["results"]], page["total"]
        assert len({v for v in map(str, alone.values())}) == len(queries)
        answers: list[tuple[str, object]] = []

        async def one(i: int) -> None:
            args = queries[i % len(queries)]
            result = await client.call_tool("search", args)
            assert not result.is_error, result.content
            page = result.structured_content
            answers.append((json.dumps(args), ([r["asset_id"] for r in page["results"]],
                                               page["total"])))

        some = alone[json.dumps({"limit": 1})][0]
        async with anyio.create_task_group() as tg:
            for i in range(50):
                tg.start_soon(one, i)
            tg.start_soon(client.call_tool, "tag", {"asset_ids": some, "add": ["busy"]})
        assert len(answers) == 50
        assert all(alone[key] == got for key, got in answers)
        tagged = (await client.call_tool("search", {"query": "tag:busy"})).structured_content
        assert tagged["total"] == 1  # the cache did not keep an answer from before the write
    finally:
        await client.__aexit__(None, None, None)
