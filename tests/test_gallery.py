"""The MCP Apps gallery in a real browser: a test host page on loopback embeds the app's HTML
(read from a running `alice mcp-server` with resources/read) in a sandboxed iframe in headless
Chromium, answers the handshake with the spec's messages, hands it a real search result, and
forwards the app's tools/call to that server."""

from __future__ import annotations

import os
import shutil
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from PIL import Image

from alice_mcp import samples
from alice_mcp.apps import APP_MIME, GALLERY_URI

pytestmark = pytest.mark.anyio
HOST_PAGE = Path(__file__).with_name("gallery_host.html")
CHROMIUM = os.environ.get("ALICE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
# what a host MUST apply when a resource declares no external domains (spec: "Restrictive Default")
HOST_CSP = ("default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' "
            "'unsafe-inline'; img-src 'self' data:; media-src 'self' data:; connect-src 'none'")
TIMEOUT_MS = 15_000


def _browser_or_skip() -> Any:
    """The Playwright module, when it and Debian's chromium are both there; else a printed skip."""
    try:
        from playwright import async_api
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[dev]')")
    if not (os.access(CHROMIUM, os.X_OK) or shutil.which("chromium")):
        pytest.skip(f"no chromium at {CHROMIUM} (make test installs Debian's chromium; "
                    "or apt-get install chromium)")
    return async_api


@contextmanager
def _host_server() -> Iterator[str]:
    """Serve the test host page on 127.0.0.1 with the spec's restrictive default CSP."""
    page = HOST_PAGE.read_bytes()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            if self.path != "/host.html":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Security-Policy", HOST_CSP)
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *_: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/host.html"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _stdio(tmp_path: Path, inbox: Path) -> StdioServerParameters:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALICE_")}
    env.update({"ALICE_PATHS__INBOX": str(inbox),
                "ALICE_PATHS__ORGANIZED": str(tmp_path / "organized"),
                "ALICE_PATHS__DATABASE": str(tmp_path / "lib.duckdb")})
    return StdioServerParameters(command=sys.executable, args=["-m", "alice_mcp", "mcp-server"],
                                 env=env, cwd=str(tmp_path))


def _wire(result: Any) -> dict[str, Any]:
    """A CallToolResult as it travels in JSON-RPC (camelCase), for the app."""
    return result.model_dump(by_alias=True, mode="json", exclude_none=True)


@contextmanager
def _printing_where(path: Path) -> Iterator[None]:
    """Say where the screenshot is, pass or fail."""
    try:
        yield
    finally:
        print(f"gallery screenshot: {path}")


async def _open_gallery(async_api: Any, client: Client, url: str, tool: str,
                        args: dict[str, Any], theme: str = "dark"):  # noqa: ANN202
    """Launch chromium, load the host page, and show the app with a real result of `tool`."""
    read = await client.read_resource(GALLERY_URI)
    content = read.contents[0]
    assert content.mime_type == APP_MIME
    result = await client.call_tool(tool, args)
    assert not result.is_error, result.content
    playwright = await async_api.async_playwright().start()
    browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    page = await browser.new_page(viewport={"width": 1000, "height": 760})
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    calls: list[str] = []

    async def call_server(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        calls.append(name)
        return _wire(await client.call_tool(name, arguments))

    await page.expose_function("callServer", call_server)
    await page.goto(url)
    await page.evaluate("(a) => window.loadApp(a)", {
        "html": content.text, "toolArgs": args, "toolResult": _wire(result),
        "hostContext": {"theme": theme, "displayMode": "inline", "platform": "web",
                        "toolInfo": {"tool": {"name": tool, "inputSchema": {"type": "object"}}},
                        "styles": {"variables": {"--color-ring-primary": "#f59e0b"}}}})
    return playwright, browser, page, result.structured_content, calls, requests


async def test_gallery_shows_a_search_and_tags_through_the_bridge(tmp_path: Path) -> None:
    async_api = _browser_or_skip()
    inbox = tmp_path / "inbox"
    samples.make_sample_inbox(inbox, count=24, seed=21)
    shot = tmp_path / "gallery.png"
    async with Client(_stdio(tmp_path, inbox)) as client:
        assert (await client.call_tool("organize", {})).structured_content["organized"] == 23
        with _host_server() as url, _printing_where(shot):
            playwright, browser, page, found, calls, requests = await _open_gallery(
                async_api, client, url, "search", {"limit": 12})
            try:
                app = page.frame_locator("#app")
                tiles = app.locator(".tile")
                await tiles.nth(11).wait_for(timeout=TIMEOUT_MS)
                ids = [r["asset_id"] for r in found["results"]]
                assert [await t.get_attribute("data-id") for t in await tiles.all()] == ids
                # every thumbnail arrived through view, as a data URI
                # sandboxed without allow-same-origin: the host page cannot reach into it
                assert await page.evaluate(
                    "document.getElementById('app').contentDocument === null")
                for img in await app.locator("img.thumb").all():
                    await app.locator(f'img.thumb[data-thumb="{await img.get_attribute("data-thumb")}"]'
                                      '[src^="data:image/jpeg;base64,"]').wait_for(timeout=TIMEOUT_MS)
                first = found["results"][0]
                assert await tiles.nth(0).locator('[data-field="source"]').inner_text() == first["source"]
                # select three: a click on its box, Space on a focused tile, ctrl-click
                await tiles.nth(0).locator(".pick").click()
                await tiles.nth(1).focus()
                await page.keyboard.press("ArrowRight")
                await page.keyboard.press("Space")
                await tiles.nth(4).click(modifiers=["Control"])
                await app.locator("#selected").filter(has_text="3 selected").wait_for()
                picked = [ids[0], ids[2], ids[4]]
                await app.locator("#tag-input").fill("From-Gallery")
                await app.locator("#add-tag").click()
                await app.locator("#status").filter(has_text="on 3 assets").wait_for(
                    timeout=TIMEOUT_MS)
                hits = (await client.call_tool("search", {"tags_all": ["from-gallery"]})
                        ).structured_content
                assert sorted(r["asset_id"] for r in hits["results"]) == sorted(picked)
                for n in (0, 2, 4):
                    assert "from-gallery" in await tiles.nth(n).locator(".chips").inner_text()
                # untag one from the UI
                await app.locator("#clear").click()
                await tiles.nth(2).locator(".pick").click()
                await app.locator("#remove-tag").click()
                await app.locator("#status").filter(has_text="Removed").wait_for(timeout=TIMEOUT_MS)
                hits = (await client.call_tool("search", {"tags_all": ["from-gallery"]})
                        ).structured_content
                assert sorted(r["asset_id"] for r in hits["results"]) == sorted([ids[0], ids[4]])
                # Enter opens one large with its prompt and parameters (get_asset); Escape closes
                detail = (await client.call_tool("get_asset", {"asset_id": ids[3]})).structured_content
                await tiles.nth(3).focus()
                await page.keyboard.press("Enter")
                dialog = app.locator("dialog#detail")
                await dialog.locator("table tr").first.wait_for(timeout=TIMEOUT_MS)
                prompt = detail["fields"].get("prompt") or "(no prompt)"
                assert await dialog.locator("#detail-prompt").inner_text() == prompt
                assert await dialog.locator("th", has_text="source").count() == 1
                await page.screenshot(path=str(tmp_path / "gallery-detail.png"))
                await page.keyboard.press("Escape")
                await dialog.wait_for(state="hidden")
                # the next page, with the search cursor
                await app.locator("#more").click()
                await tiles.nth(found["total"] - 1).wait_for(timeout=TIMEOUT_MS)
                assert await tiles.count() == found["total"]
                assert await app.locator("#more").is_hidden()
                await page.screenshot(path=str(shot), full_page=True)
                log = await page.evaluate("window.hostLog")
            finally:
                await browser.close()
                await playwright.stop()
    # the handshake per the spec: ui/initialize (with capabilities), then initialized
    assert log[0]["method"] == "ui/initialize"
    init = log[0]["params"]
    assert init["protocolVersion"] == "2026-01-26" and init["appInfo"]["name"]
    assert "appCapabilities" in init
    assert log[1]["method"] == "ui/notifications/initialized"
    assert {"view", "tag", "get_asset", "search"} <= set(calls)
    assert all(m.get("method") != "ui/initialize" for m in log[1:])
    # nothing but the host page itself was fetched: the app reaches nothing external
    assert {u for u in requests if not u.startswith("data:")} == {url}
    assert shot.stat().st_size > 10_000


async def test_gallery_keeps_one_of_a_duplicate_group(tmp_path: Path) -> None:
    async_api = _browser_or_skip()
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    picture = Image.radial_gradient("L").convert("RGB").resize((320, 320))
    picture.save(inbox / "a.png")
    picture.save(inbox / "b.jpg", quality=95)
    picture.resize((300, 300)).save(inbox / "c.webp", quality=90)
    async with Client(_stdio(tmp_path, inbox)) as client:
        assert (await client.call_tool("organize", {})).structured_content["organized"] == 3
        ids = [r["asset_id"] for r in
               (await client.call_tool("search", {})).structured_content["results"]]
        await client.call_tool("tag", {"asset_ids": ids[:1], "add": ["sunset"]})
        await client.call_tool("tag", {"asset_ids": ids[1:2], "add": ["gradient"]})
        with _host_server() as url, _printing_where(tmp_path / "duplicates.png"):
            playwright, browser, page, found, calls, _ = await _open_gallery(
                async_api, client, url, "find_duplicates", {"max_distance": 4}, theme="light")
            try:
                assert found["total_groups"] == 1 and len(found["groups"][0]["assets"]) == 3
                app = page.frame_locator("#app")
                keep = found["groups"][0]["assets"][2]["asset_id"]
                tile = app.locator(f'.tile[data-id="{keep}"]')
                # hits of find_duplicates carry no tags: the app fills them in with get_asset
                await app.locator(".tile .chips .chip").filter(has_text="gradient").wait_for(
                    timeout=TIMEOUT_MS)
                await tile.locator(".keep").click()
                await app.locator("#status").filter(has_text="marked duplicate").wait_for(
                    timeout=TIMEOUT_MS)
                await page.screenshot(path=str(tmp_path / "duplicates.png"), full_page=True)
            finally:
                await browser.close()
                await playwright.stop()
        kept = (await client.call_tool("get_asset", {"asset_id": keep})).structured_content
        assert {"sunset", "gradient"} <= {t["tag"] for t in kept["tags"]}
        assert "duplicate" not in {t["tag"] for t in kept["tags"]}
        marked = (await client.call_tool("search", {"tags_all": ["duplicate"]})).structured_content
        assert sorted(r["asset_id"] for r in marked["results"]) == sorted(set(ids) - {keep})
    assert "resolve_duplicates" in calls
    assert len([p for p in (tmp_path / "organized").rglob("*") if p.is_file()]) == 3

