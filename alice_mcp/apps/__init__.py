"""MCP Apps (in-chat UI): the gallery that `search`, `find_similar` and `find_duplicates` show in
hosts that render MCP Apps (spec 2026-01-26). One self-contained HTML document, no network: the
page talks only to its host over postMessage and fetches thumbnails with the `view` tool."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from mcp.server.apps import APP_MIME_TYPE, Apps, ResourceCsp

GALLERY_URI = "ui://alice/gallery.html"
APP_MIME = APP_MIME_TYPE
# every list empty: no external origin for fetches, images, scripts, frames or base URIs
NOTHING_EXTERNAL = ResourceCsp(connect_domains=[], resource_domains=[], frame_domains=[],
                               base_uri_domains=[])

__all__ = ["APP_MIME", "GALLERY_URI", "gallery_apps", "gallery_html"]


@cache
def gallery_html() -> str:
    """The gallery page, as shipped in this package."""
    return files(__package__).joinpath("gallery.html").read_text("utf-8")


def gallery_apps() -> Apps:
    """The Apps extension carrying the gallery resource; UI tools are bound to it by the server."""
    apps = Apps()
    apps.add_html_resource(
        GALLERY_URI, gallery_html(), name="gallery", title="alice gallery",
        description="Thumbnails of search results, look-alikes and duplicate groups: open one "
                    "large with its prompt and parameters, tag or untag several, keep one of "
                    "a duplicate group.",
        csp=NOTHING_EXTERNAL, prefers_border=True)
    return apps
