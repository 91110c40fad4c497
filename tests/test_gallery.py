"""The MCP Apps gallery in a real browser: a test host page on loopback embeds the app's HTML
(read from a running `alice mcp-server` with resources/read) in a sandboxed iframe in headless
Chromium, answers the handshake with the spec's messages, hands it a real search result, and
forwards the app's tools/call to that server."""

from __future__ import annotations

import os
import random
import shutil
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from PIL import Image

from alice_mcp import samples
from alice_mcp.apps import APP_MIME, GALLERY_URI
from alice_mcp.media.probe import hash_file

pytestmark = pytest.mark.anyio
HOST_PAGE = Path(__file__).with_name("gallery_host.html")
# Debian's chromium (or the one ALICE_TEST_CHROMIUM names); Playwright never downloads a browser
CHROMIUM = os.environ.get("ALICE_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
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
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"no chromium at {CHROMIUM} (make test installs Debian's chromium with "
                    "apt-get; or apt-get install chromium)")
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
                "ALICE_PATHS__DATABASE": str(tmp_path / "lib.duckdb"),
                # below the app's first guess of 8: it must learn the cap from view's error
                "ALICE_SERVER__MAX_VIEW_IMAGES": "5"})
    return StdioServerParameters(command=sys.executable, args=["-m", "alice_mcp", "mcp-server"],
                                 env=env, cwd=str(tmp_path))


def _wire(result: Any) -> dict[str, Any]:
    """A CallToolResult as it travels in JSON-RPC (camelCase), for the app."""
    return result.model_dump(by_alias=True, mode="json", exclude_none=True)


@asynccontextmanager
async def _chromium(async_api: Any) -> AsyncIterator[Any]:
    """Debian's chromium, headless, driven by Playwright (never a downloaded browser)."""
    playwright = await async_api.async_playwright().start()
    try:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()
    finally:
        await playwright.stop()


class Shown:
    """One app shown by the test host: the page, the result it was given, what it asked for."""

    def __init__(self, page: Any, found: dict[str, Any]) -> None:
        self.page, self.found = page, found
        self.app = page.frame_locator("#app")
        self.calls: list[str] = []
        self.requests: list[str] = []


async def _show(browser: Any, client: Client, url: str, tool: str, args: dict[str, Any],
                theme: str) -> Shown:
    """Load the host page and show the app (HTML from resources/read) with a real result of
    `tool`; the app's tools/call go to `client`, the running server."""
    content = (await client.read_resource(GALLERY_URI)).contents[0]
    assert content.mime_type == APP_MIME
    result = await client.call_tool(tool, args)
    assert not result.is_error, result.content
    page = await browser.new_page(viewport={"width": 1000, "height": 760})
    shown = Shown(page, result.structured_content)
    page.on("request", lambda r: shown.requests.append(r.url))

    async def call_server(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        shown.calls.append(name)
        return _wire(await client.call_tool(name, arguments))

    await page.expose_function("callServer", call_server)
    await page.goto(url)
    await page.evaluate("(a) => window.loadApp(a)", {
        "html": content.text, "toolArgs": args, "toolResult": _wire(result),
        "hostContext": {"theme": theme, "displayMode": "inline", "platform": "web",
                        "toolInfo": {"tool": {"name": tool, "inputSchema": {"type": "object"}}},
                        "styles": {"variables": {"--color-ring-primary": "#f59e0b"}}}})
    return shown


def _contents(root: Path) -> dict[Path, bytes]:
    return {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _duplicate_trio(inbox: Path) -> list[str]:
    """One picture three ways (PNG, JPEG, smaller WebP): three assets, one duplicate group.
    Returns their asset ids."""
    rng = random.Random(3)
    cells = Image.frombytes("RGB", (8, 8), bytes(rng.randrange(256) for _ in range(8 * 8 * 3)))
    picture = cells.resize((320, 320), Image.Resampling.BICUBIC)
    picture.save(inbox / "trio-a.png")
    picture.save(inbox / "trio-b.jpg", quality=95)
    picture.resize((300, 300)).save(inbox / "trio-c.webp", quality=90)
    return [hash_file(inbox / name) for name in ("trio-a.png", "trio-b.jpg", "trio-c.webp")]


async def test_gallery_in_chromium_against_a_running_server(tmp_path: Path) -> None:
    """One server and one browser (starting them is most of the time) for both views."""
    async_api = _browser_or_skip()
    inbox = tmp_path / "inbox"
    samples.make_sample_inbox(inbox, count=24, seed=21)
    trio = _duplicate_trio(inbox)
    async with Client(_stdio(tmp_path, inbox)) as client:
        assert (await client.call_tool("organize", {})).structured_content["organized"] == 26
        files = _contents(tmp_path / "organized")
        with _host_server() as url:
            async with _chromium(async_api) as browser:
                shown = await _show(browser, client, url, "search", {"limit": 13}, "dark")
                await _search_view(shown, client, tmp_path / "gallery.png")
                await _readable(shown, "dark")
                dupes = await _show(browser, client, url, "find_duplicates",
                                    {"max_distance": 4}, "light")
                await _duplicates_view(dupes, client, trio, tmp_path / "duplicates.png")
                await _readable(dupes, "light")
        # nothing but the host page itself was fetched: the app reaches nothing external
        for one in (shown, dupes):
            assert {u for u in one.requests if not u.startswith("data:")} == {url}
        # no file was deleted: the same bytes, two of them now under _duplicates/
        after = _contents(tmp_path / "organized")
        assert sorted(after.values()) == sorted(files.values())
        assert len([p for p in after if p.parts[0] == "_duplicates"]) == 2


async def _search_view(shown: Shown, client: Client, shot: Path) -> None:
    """The grid shows the hits with thumbnails; selecting and tagging changes the library;
    Enter opens one large with its prompt and parameters; Load more follows the cursor."""
    page, app, found = shown.page, shown.app, shown.found
    tiles = app.locator(".tile")
    await tiles.nth(12).wait_for(timeout=TIMEOUT_MS)
    ids = [r["asset_id"] for r in found["results"]]
    assert [await t.get_attribute("data-id") for t in await tiles.all()] == ids
    # sandboxed without allow-same-origin: the host page cannot reach into it
    assert await page.evaluate("document.getElementById('app').contentDocument === null")
    for asset_id in ids:  # every thumbnail arrived through view, as a data URI
        await app.locator(f'img.thumb[data-thumb="{asset_id}"][src^="data:image/jpeg;base64,"]'
                          ).wait_for(timeout=TIMEOUT_MS)
    first = found["results"][0]
    assert await tiles.nth(0).locator('[data-field="source"]').inner_text() == first["source"]
    # select three: a click on its box, Space on a tile reached with the arrow keys, ctrl-click
    await tiles.nth(0).locator(".pick").click()
    await tiles.nth(1).focus()
    await page.keyboard.press("ArrowRight")
    await page.keyboard.press("Space")
    await tiles.nth(4).click(modifiers=["Control"])
    await app.locator("#selected").filter(has_text="3 selected").wait_for()
    await app.locator("#tag-input").fill("From-Gallery")
    await app.locator("#add-tag").click()
    await app.locator("#status").filter(has_text="on 3 assets").wait_for(timeout=TIMEOUT_MS)
    hits = (await client.call_tool("search", {"tags_all": ["from-gallery"]})).structured_content
    assert sorted(r["asset_id"] for r in hits["results"]) == sorted([ids[0], ids[2], ids[4]])
    for n in (0, 2, 4):
        assert "from-gallery" in await tiles.nth(n).locator(".chips").inner_text()
    # untag one
    await app.locator("#clear").click()
    await tiles.nth(2).locator(".pick").click()
    await app.locator("#remove-tag").click()
    await app.locator("#status").filter(has_text="Removed").wait_for(timeout=TIMEOUT_MS)
    hits = (await client.call_tool("search", {"tags_all": ["from-gallery"]})).structured_content
    assert sorted(r["asset_id"] for r in hits["results"]) == sorted([ids[0], ids[4]])
    await _stars(shown, client, ids)
    # Enter opens one large with its prompt and parameters (get_asset); Escape closes it
    detail = (await client.call_tool("get_asset", {"asset_id": ids[5]})).structured_content
    await tiles.nth(5).focus()
    await page.keyboard.press("Enter")
    dialog = app.locator("dialog#detail")
    await dialog.locator("table tr").first.wait_for(timeout=TIMEOUT_MS)
    prompt = detail["fields"].get("prompt") or "(no prompt)"
    assert await dialog.locator("#detail-prompt").inner_text() == prompt
    shown_fields = await dialog.locator("th").all_inner_texts()
    scalars = {k for k, v in detail["fields"].items() if v not in (None, "")
               and not isinstance(v, dict | list) and k not in ("prompt", "thumbnail")}
    assert set(shown_fields) == scalars and {"source", "width", "height"} <= scalars
    await page.screenshot(path=str(shot.with_name("gallery-detail.png")))
    await page.keyboard.press("Escape")
    await dialog.wait_for(state="hidden")
    # the next page, with the search cursor
    await app.locator("#more").click()
    await tiles.nth(found["total"] - 1).wait_for(timeout=TIMEOUT_MS)
    assert await tiles.count() == found["total"] == 26
    assert await app.locator("#more").is_hidden()
    # the app reports its size; the host fits the frame to it (then all 26 are in the picture)
    await page.wait_for_function(
        "() => window.hostLog.filter(m => m.method === 'ui/notifications/size-changed')"
        ".some(m => m.params.height > 5 * 200)", timeout=TIMEOUT_MS)
    height = await page.evaluate("document.getElementById('app').offsetHeight")
    await page.set_viewport_size({"width": 1000, "height": height})
    await page.wait_for_timeout(300)
    await page.screenshot(path=str(shot))
    print(f"gallery screenshots: {shot} and {shot.with_name('gallery-detail.png')}")
    # the handshake per the spec: ui/initialize (with capabilities), then initialized, once
    log = await page.evaluate("window.hostLog")
    assert log[0]["method"] == "ui/initialize"
    init = log[0]["params"]
    assert init["protocolVersion"] == "2026-01-26" and init["appInfo"]["name"]
    assert init["appCapabilities"]["availableDisplayModes"]
    assert log[1]["method"] == "ui/notifications/initialized"
    assert all(m.get("method") != "ui/initialize" for m in log[1:])
    assert {"view", "tag", "get_asset", "search"} <= set(shown.calls)


# WCAG contrast of each text on a tile against the tile, and of the page's text on the page
CONTRASTS = """(tile) => {
  const lum = (c) => 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  const linear = (css) => css.match(/[0-9.]+/g).slice(0, 3).map(Number).map((v) => {
    v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
  const ratio = (a, b) => { const [x, y] = [lum(linear(a)), lum(linear(b))].sort((p, q) => q - p);
    return (x + 0.05) / (y + 0.05); };
  const style = (e) => getComputedStyle(e);
  const texts = [...tile.querySelectorAll('.sub, [data-field]')].filter((e) => e.innerText.trim());
  const body = document.body;
  return {page: lum(linear(style(body).backgroundColor)),
          ratios: [ratio(style(body).color, style(body).backgroundColor),
                   ...texts.map((e) => ratio(style(e).color, style(tile).backgroundColor))]};
}"""


async def _readable(shown: Shown, theme: str) -> None:
    """The host's theme is applied, and every text on a tile reads at WCAG AA (4.5:1)."""
    app = shown.app
    assert await app.locator("html").get_attribute("data-theme") == theme
    found = await app.locator(".tile").first.evaluate(CONTRASTS)
    assert len(found["ratios"]) > 2 and min(found["ratios"]) >= 4.5, found
    assert (found["page"] < 0.05) if theme == "dark" else (found["page"] > 0.7), found


async def _stars_of(client: Client, asset_id: str) -> int | None:
    return (await client.call_tool("get_asset", {"asset_id": asset_id})
            ).structured_content["fields"]["stars"]


async def _stars(shown: Shown, client: Client, ids: list[str]) -> None:
    """Stars from the keyboard (a digit rates the selection, or the focused tile when nothing
    is selected) and from the buttons (0 clears); each goes through tag and changes the library."""
    page, app = shown.page, shown.app
    tiles, status = app.locator(".tile"), app.locator("#status")
    await tiles.nth(2).focus()  # the selection is tile 2
    await page.keyboard.press("4")
    await status.filter(has_text="Set 4 stars on 1 assets").wait_for(timeout=TIMEOUT_MS)
    assert await _stars_of(client, ids[2]) == 4
    label = tiles.nth(2).locator('[data-field="stars"]')
    assert await label.get_attribute("aria-label") == "4 stars"
    assert await label.inner_text() == "★★★★☆"
    await app.locator("#clear").click()
    await tiles.nth(6).focus()
    await page.keyboard.press("5")
    await status.filter(has_text="Set 5 stars on 1 assets").wait_for(timeout=TIMEOUT_MS)
    assert (await _stars_of(client, ids[6]), await _stars_of(client, ids[2])) == (5, 4)
    await tiles.nth(2).locator(".pick").click()
    await tiles.nth(6).locator(".pick").click()
    await app.locator('#stars button[data-stars="0"]').click()
    await status.filter(has_text="Cleared the stars of 2 assets").wait_for(timeout=TIMEOUT_MS)
    assert (await _stars_of(client, ids[2]), await _stars_of(client, ids[6])) == (None, None)
    for n in (2, 6):
        assert await tiles.nth(n).locator('[data-field="stars"]').inner_text() == "no stars"
    await app.locator("#clear").click()
    assert await app.locator('#stars button[data-stars="3"]').is_disabled()


async def _duplicates_view(shown: Shown, client: Client, trio: list[str], shot: Path) -> None:
    """A duplicate group: its hits get their tags through get_asset, "Keep this one" (with
    the others' files moved aside) calls resolve_duplicates, and the library shows the merge
    of tags and stars."""
    app = shown.app
    group = next(g["assets"] for g in shown.found["groups"] if g["assets"][0]["asset_id"] in trio)
    ids = [a["asset_id"] for a in group]
    assert sorted(ids) == sorted(trio)
    await client.call_tool("tag", {"asset_ids": ids[:1], "add": ["sunset"]})
    await client.call_tool("tag", {"asset_ids": ids[1:2], "add": ["gradient"], "stars": 5})
    await client.call_tool("tag", {"asset_ids": ids[2:], "stars": 0})
    keep = ids[2]
    await app.locator(f'.tile[data-id="{keep}"]').wait_for(timeout=TIMEOUT_MS)
    # hits of find_duplicates carry no tags: the app fills them in with get_asset
    await app.locator(f'.tile[data-id="{keep}"][data-filled="true"]').wait_for(timeout=TIMEOUT_MS)
    await app.locator("#move-aside").check()
    await app.locator(f'.tile[data-id="{keep}"] .keep').click()
    await app.locator("#status").filter(has_text="2 files moved to _duplicates/"
                                        ).wait_for(timeout=TIMEOUT_MS)
    stars = app.locator(f'.tile[data-id="{keep}"] [data-field="stars"]')
    assert await stars.get_attribute("aria-label") == "5 stars"
    for other in ids[:2]:
        chips = app.locator(f'.tile[data-id="{other}"] .chips')
        assert "duplicate" in await chips.inner_text()
    await shown.page.screenshot(path=str(shot), full_page=True)
    kept = (await client.call_tool("get_asset", {"asset_id": keep})).structured_content
    assert {"sunset", "gradient"} <= {t["tag"] for t in kept["tags"]}
    assert "duplicate" not in {t["tag"] for t in kept["tags"]} and kept["fields"]["stars"] == 5
    for other in ids[:2]:
        where = (await client.call_tool("get_asset", {"asset_id": other})).structured_content
        organized = [loc["path"] for loc in where["locations"] if loc["role"] == "organized"]
        assert len(organized) == 1 and "/_duplicates/" in organized[0], organized
    marked = (await client.call_tool("search", {"tags_all": ["duplicate"]})).structured_content
    assert sorted(r["asset_id"] for r in marked["results"]) == sorted(ids[:2])
    assert "resolve_duplicates" in shown.calls and "get_asset" in shown.calls
