"""The MCP face: tools, resources and prompts over the same Library the CLI uses. No logic of its own.

Over 400 lines: the whole tool surface (each signature is its input schema) sits here so the
tools/list snapshot reviews it as one; the next split moves resources and prompts out.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Annotated, Any, Literal, TypeVar

import anyio
import structlog
from mcp.server.apps import Apps
from mcp.server.mcpserver import Context, Image, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp.types import TextContent, ToolAnnotations
from pydantic import BaseModel, Field
from pydantic_core import PydanticSerializationError

from alice_mcp import __version__
from alice_mcp.apps import GALLERY_URI, gallery_apps
from alice_mcp.config import Settings
from alice_mcp.errors import AliceError, InvalidArgument, NotFound
from alice_mcp.library import Library
from alice_mcp.results import (
    AnalyzeReport,
    AssetDetail,
    DuplicatesResult,
    EmbedReport,
    ExportResult,
    LibraryStats,
    OrganizeReport,
    ResolveResult,
    SearchPage,
    SidecarReport,
    SimilarResult,
    TagResult,
)
from alice_mcp.store.query import SORTS, Query
from alice_mcp.store.tags import TAG_CATEGORIES
from alice_mcp.strict import AliceServer
from alice_mcp.text import display_text

log = structlog.get_logger(__name__)

INSTRUCTIONS = """\
alice-mcp is the user's library of AI-generated images and videos.
- `search` finds assets (free words match prompts, descriptions and tags; the query language
  also takes tag:, -tag:, source:, model:, stars:>=4, after:, before:, type:video, project:).
- `view` shows you thumbnails so you can look at the pictures; `get_asset` gives all details.
- `organize` files new images from the inbox (try dry_run=true first and show the plan).
- `tag`, `analyze`, `find_similar`, `find_duplicates`, `resolve_duplicates`, `stats`, `export`,
  `write_sidecars` do what their names say. Hosts that render MCP Apps show search, look-alike and duplicate
  results in a gallery where the user can open, tag and keep assets.
Nothing is ever deleted. Paths must lie inside the library's folders."""

F = TypeVar("F", bound=Callable[..., Any])
REPORTED_PLACEMENTS = 50
MAX_VIEW_BYTES = 4 * 1024 * 1024

AssetId = Annotated[str, Field(min_length=6, max_length=64,
                               description="an asset_id from search (or its first 6+ characters)")]
TagName = Annotated[str, Field(min_length=1, max_length=100)]


def _tool(target: MCPServer | Apps, title: str, *, structured_output: bool | None = None,
          ui: str | None = None, **hints: bool) -> Callable[[F], F]:
    """Register a tool with a title, its docstring (dedented) as description, honest
    annotations, and the library's errors turned into tool errors the model can act on.
    With `ui` (on an Apps target) the tool also names the MCP Apps view of its results."""
    def register(fn: F) -> F:
        @functools.wraps(fn)
        async def call(*args: Any, **kwargs: Any) -> Any:
            with _mcp_errors():
                return _utf8(await fn(*args, **kwargs))
        options = {"title": title, "description": inspect.cleandoc(fn.__doc__ or ""),
                   "annotations": _annotations(**hints), "structured_output": structured_output}
        if isinstance(target, Apps):
            target.tool(resource_uri=ui or GALLERY_URI, **options)(call)
        else:
            target.tool(**options)(call)
        return fn
    return register


def _utf8(result: Any) -> Any:
    """The result, with names that are not UTF-8 shown as \\xNN (the protocol is UTF-8 JSON;
    the CLI's --json keeps them exact)."""
    if not isinstance(result, BaseModel):
        return result
    try:
        result.model_dump_json()
    except PydanticSerializationError:
        return type(result).model_validate(_printable_strings(result.model_dump()))
    return result


def _printable_strings(value: Any) -> Any:
    if isinstance(value, str):
        return display_text(value)
    if isinstance(value, dict):
        return {k: _printable_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_printable_strings(v) for v in value]
    return value


def _annotations(*, read_only: bool, destructive: bool = False, idempotent: bool = True,
                 open_world: bool = False) -> ToolAnnotations:
    return ToolAnnotations(read_only_hint=read_only, destructive_hint=destructive,
                           idempotent_hint=idempotent, open_world_hint=open_world)


@contextmanager
def _mcp_errors(resource: bool = False) -> Iterator[None]:
    """The one place the library's errors meet the protocol: a tool error with the library's
    own message, or for a resource a not-found answer (-32602) with the next step. The SDK
    logs both at info, without a traceback."""
    try:
        yield
    except AliceError as exc:
        if not resource:
            raise ToolError(str(exc)) from None
        if isinstance(exc, NotFound):
            raise ResourceNotFoundError(str(exc)) from None
        raise ResourceError(str(exc)) from None


def _progress(ctx: Context):  # noqa: ANN202 - a ProgressListener
    async def listener(done: int, total: int, message: str) -> None:
        await ctx.report_progress(done, total or None, message)
    return listener


def build_server(settings: Settings, *, auth: dict[str, Any] | None = None) -> MCPServer:
    """An MCPServer whose lifespan opens the library of these settings; auth holds the SDK's
    token_verifier/auth hooks when HTTP requests must carry a bearer token (exposure.py)."""

    opened: list[Library] = []  # for handlers without a Context (static resources)

    @asynccontextmanager
    async def lifespan(_: MCPServer) -> AsyncIterator[Library]:
        with Library(settings) as library:
            opened.append(library)
            try:
                async with library.monitoring(), anyio.create_task_group() as tg:
                    tg.start_soon(_release_when_idle, library, settings.server.idle_release_seconds)
                    if settings.server.watch:
                        tg.start_soon(_watch_inbox, library, settings)
                    tg.start_soon(library.warm_up)
                    if settings.embeddings.auto:
                        tg.start_soon(library.embed_while_serving)
                    yield library
                    tg.cancel_scope.cancel()
            finally:
                opened.remove(library)

    def lib(ctx: Context) -> Library:
        return ctx.request_context.lifespan_context

    # the tools whose results the gallery shows: bound to the Apps extension, which the
    # server consumes when it is built
    apps = gallery_apps()

    @_tool(apps, "Search the library", read_only=True)
    async def search(
        ctx: Context,
        query: Annotated[str | None, Field(max_length=1000, description=(
            "search language: free words match prompt/description/tags; also tag:x -tag:y "
            "source:midjourney model:flux* stars:>=4 after:2025-01-01 before:7d type:video "
            "project:name w:>=1024 seed:123 sort:stars"))] = None,
        tags_all: Annotated[list[TagName] | None, Field(max_length=20)] = None,
        tags_any: Annotated[list[TagName] | None, Field(max_length=20)] = None,
        tags_none: Annotated[list[TagName] | None, Field(max_length=20)] = None,
        source: Annotated[str | None, Field(max_length=50, description="generator slug, e.g. "
                                            "a1111, comfyui, midjourney, dalle")] = None,
        model: Annotated[str | None, Field(max_length=200, description="model name or glob")] = None,
        after: Annotated[str | None, Field(description="YYYY-MM-DD, today, yesterday or an "
                                           "age like 7d, 2w, 3m")] = None,
        before: Annotated[str | None, Field(description="same forms as after")] = None,
        min_stars: Annotated[int | None, Field(ge=1, le=5)] = None,
        media_type: Literal["image", "video"] | None = None,
        sort: Annotated[str | None, Field(description=f"one of {', '.join(SORTS)}")] = None,
        limit: Annotated[int, Field(ge=1, le=100)] = 20,
        cursor: Annotated[str | None, Field(max_length=200, description="next_cursor of the "
                                            "previous page")] = None,
        semantic: Annotated[str | None, Field(max_length=500, description=(
            "a description to rank by meaning, e.g. 'a sad robot in the rain': finds assets "
            "whose prompt, description or picture means that, fused with keyword hits, "
            "within the other filters; each hit says why it matched"))] = None,
    ) -> SearchPage:
        """Find assets in the library. Combine the query language with the filter arguments;
        results are newest first unless sort says otherwise. Page with next_cursor (pass the
        same query and filters). Use view to look at results and get_asset for details."""
        parsed = Query.from_filters(query, tags_all=tags_all or (), tags_any=tags_any or (),
                                    tags_none=tags_none or (), source=source, model=model,
                                    after=after, before=before, min_stars=min_stars,
                                    media_type=media_type, sort=sort, semantic=semantic)
        return await lib(ctx).search(parsed, limit=limit, cursor=cursor)

    @_tool(apps, "Find look-alikes", read_only=True)
    async def find_similar(
        ctx: Context,
        asset_id: AssetId | None = None,
        path: Annotated[str | None, Field(description="an image file inside the library's "
                                          "folders, instead of asset_id")] = None,
        max_distance: Annotated[int, Field(ge=0, le=32, description="bits of pHash that may "
                                           "differ: 0 same picture, ~10 similar")] = 10,
        limit: Annotated[int, Field(ge=1, le=100)] = 20,
        by: Annotated[Literal["pixels", "meaning"], Field(description=(
            "pixels: the same picture re-encoded or resized (perceptual hash); meaning: "
            "pictures of the same kind of thing (embeddings, asset_id only)"))] = "pixels",
    ) -> SimilarResult:
        """Assets that look like one asset (or an image file), nearest first: by pixels, the
        Hamming distance between 64-bit perceptual hashes; by meaning, the similarity of
        their embeddings (run embed first)."""
        return await lib(ctx).similar(asset_id, path, max_distance=max_distance, limit=limit,
                                      by=by)

    @_tool(apps, "Find duplicates", read_only=True)
    async def find_duplicates(
        ctx: Context,
        scope: Annotated[str | None, Field(max_length=1000, description="a search query "
                                           "limiting which assets are compared")] = None,
        max_distance: Annotated[int, Field(ge=0, le=10, description="0: identical pictures; "
                                           "higher also finds near-duplicates")] = 0,
        limit: Annotated[int, Field(ge=1, le=200, description="groups to return")] = 50,
    ) -> DuplicatesResult:
        """Groups of assets that look the same (re-encodes, resizes, near-identical variations),
        largest groups first. Nothing is deleted: show the groups and let the user decide."""
        return await lib(ctx).duplicates(scope, max_distance=max_distance, limit=limit)

    server = AliceServer("alice-mcp", version=__version__, instructions=INSTRUCTIONS,
                         lifespan=lifespan, extensions=[apps], **(auth or {}))

    @_tool(server, "Organize the inbox", read_only=False, destructive=True)
    async def organize(
        ctx: Context,
        inbox: Annotated[str | None, Field(description="folder of new files; default: the "
                                           "configured inbox")] = None,
        organized: Annotated[str | None, Field(description="the organized tree; default: the "
                                               "configured one")] = None,
        move: Annotated[bool, Field(description="move files instead of copying them")] = False,
        dry_run: Annotated[bool, Field(description="only plan; touch nothing")] = False,
    ) -> OrganizeReport:
        """Index new images and videos in the inbox and file them under
        <organized>/<date>/<project>/<source>/. Copies by default (move=true moves; nothing is
        ever deleted or overwritten); identical files are counted as duplicates, unchanged
        files are skipped, so running it again is safe. Reports progress; can be cancelled.
        Suggest dry_run=true first. The result lists the first 50 placements."""
        report = await lib(ctx).organize(inbox=inbox, organized=organized, move=move,
                                         dry_run=dry_run, listeners=[_progress(ctx)])
        report.placements = report.placements[:REPORTED_PLACEMENTS]
        return report

    @_tool(server, "Tag assets", read_only=False, destructive=True)
    async def tag(
        ctx: Context,
        asset_ids: Annotated[list[AssetId], Field(min_length=1, max_length=1000)],
        add: Annotated[list[TagName] | None, Field(max_length=50)] = None,
        remove: Annotated[list[TagName] | None, Field(max_length=50)] = None,
        category: Annotated[str, Field(description=f"one of {', '.join(TAG_CATEGORIES)}")]
        = "custom",
        stars: Annotated[int | None, Field(ge=0, le=5, description="set the stars (1-5; "
                                           "0 clears them)")] = None,
    ) -> TagResult:
        """Add and/or remove tags on many assets at once, in one transaction, and set their
        stars. Tags are lower-cased. The user's tags are never overwritten by analyze."""
        return await lib(ctx).tag(asset_ids, add or [], remove or [], category, stars=stars)

    # not idempotent: with a remote provider a call may spend money (a forced call spends it
    # again); open world: remote providers are reached over the network
    @_tool(server, "Analyze assets", read_only=False, idempotent=False, open_world=True)
    async def analyze(
        ctx: Context,
        asset_ids: Annotated[list[AssetId] | None, Field(max_length=10_000)] = None,
        paths: Annotated[list[str] | None, Field(max_length=10_000)] = None,
        provider: Annotated[str | None, Field(description="understanding provider; default "
                                              "from settings ('local': offline, free)")] = None,
        force: Annotated[bool, Field(description="analyze again even if cached")] = False,
        query: Annotated[str | None, Field(max_length=2000, description="search-language "
                                           "query selecting assets, e.g. 'stars:>=4 "
                                           "source:comfyui'")] = None,
    ) -> AnalyzeReport:
        """Describe and tag assets (colours, subjects, styles, moods, technical facts) with the
        understanding provider. Without asset_ids, paths or query: every asset not yet analyzed
        by that provider. Results are cached per asset, provider, model and prompt version, and
        so are answers that did not fit (failed): neither is sent again unless force. Remote
        providers may cost money and stop before exceeding the configured budgets
        (budget_stopped); the result says how many assets were sent, cached and failed, the
        requests made and their cost_usd. Reports progress; can be cancelled. Tags removed by
        the user are never put back."""
        return await lib(ctx).analyze(asset_ids, paths, provider=provider, force=force,
                                      query=query, listeners=[_progress(ctx)])

    @_tool(server, "Embed for search by meaning", read_only=False, destructive=False)
    async def embed(
        ctx: Context,
        query: Annotated[str | None, Field(max_length=2000, description="search-language "
                                           "query selecting assets; default: all")] = None,
    ) -> EmbedReport:
        """Compute the local embeddings that search by meaning (search's `semantic` argument,
        find_similar by='meaning') uses, for assets that lack them. Runs on this machine with
        local models, no network; unchanged assets cost nothing; reports progress; can be
        cancelled and resumed. If a model is missing, the error says how to get it."""
        return await lib(ctx).embed(query, listeners=[_progress(ctx)])

    @_tool(server, "Resolve a duplicate group", read_only=False, destructive=True)
    async def resolve_duplicates(
        ctx: Context,
        keep: Annotated[AssetId, Field(description="the asset of the group to keep")],
        others: Annotated[list[AssetId], Field(min_length=1, max_length=1000, description=(
            "the rest of the group (from find_duplicates)"))],
        move: Annotated[bool, Field(description=(
            "the library is organized with move: also move the others' organized files into "
            "<organized>/_duplicates/<date>/"))] = False,
    ) -> ResolveResult:
        """Keep one asset of a duplicate group: the tags of the others are merged into it (as
        the user's), it takes their highest stars if it has none, and the others are tagged
        'duplicate' so search can leave them out (-tag:duplicate). With move=true their
        organized files go to <organized>/_duplicates/<date>/; otherwise no file moves. No file
        is ever deleted. Ask the user which one to keep."""
        return await lib(ctx).resolve_duplicates(keep, others, move=move)

    @_tool(server, "Asset details", read_only=True)
    async def get_asset(ctx: Context, asset_id: AssetId) -> AssetDetail:
        """Every stored field of one asset (generator, prompt, seed, model, size, quality...),
        with its tags, analyses and file locations."""
        return await lib(ctx).get_asset(asset_id)

    @_tool(server, "View thumbnails", read_only=True, structured_output=False)
    async def view(
        ctx: Context,
        asset_ids: Annotated[list[AssetId], Field(min_length=1, max_length=64)],
        size: Annotated[int, Field(ge=64, le=1024, description="longest side in pixels")] = 512,
    ) -> list[Image | TextContent]:
        """Look at assets: returns each as a JPEG thumbnail with a caption line. At most
        server.max_view_images per call (default 8); large requests are scaled down to stay
        under 4 MB."""
        library = lib(ctx)
        cap = library.settings.server.max_view_images
        if len(asset_ids) > cap:
            raise InvalidArgument(f"view takes at most {cap} assets per call; split the list")
        blocks: list[Image | TextContent] = []
        budget = MAX_VIEW_BYTES
        for asset_id in asset_ids:
            data, _ = await library.preview(asset_id, size)
            while len(data) > budget // max(1, len(asset_ids)) and size > 64:
                size //= 2
                data, _ = await library.preview(asset_id, size)
            budget -= len(data)
            blocks.append(TextContent(type="text", text=f"asset {asset_id}"))
            blocks.append(Image(data=data, format="jpeg"))
        return blocks

    @_tool(server, "Library statistics", read_only=True)
    async def stats(ctx: Context) -> LibraryStats:
        """Counts by source, model family, month, stars and media type; cache hit rates,
        process performance figures and money spent on analysis."""
        return await lib(ctx).stats()

    @_tool(server, "Export search rows", read_only=True)
    async def export(
        ctx: Context,
        query: Annotated[str | None, Field(max_length=2000, description="search language; "
                                           "empty: every asset")] = None,
        limit: Annotated[int, Field(ge=1, le=10_000)] = 1000,
    ) -> ExportResult:
        """The rows `alice export` writes, for the assets a search matches: paths, generator,
        prompt, negative, seed, steps, sampler, cfg, model, tags, stars, description."""
        return await lib(ctx).export(query, limit=limit)

    @_tool(server, "Write XMP sidecars", read_only=False, destructive=False, idempotent=True)
    async def write_sidecars(
        ctx: Context,
        query: Annotated[str | None, Field(max_length=2000, description="search language "
                                           "selecting assets; empty: every asset")] = None,
    ) -> SidecarReport:
        """Write (or refresh) the XMP sidecar beside every organized file of the assets a
        search matches, so tags, stars, description and generation parameters travel with
        the files to digiKam, darktable, Lightroom or Immich (`<file>.<ext>.xmp`, or
        `<file>.xmp` with sidecars.naming: stem). A sidecar edited outside alice is read back
        first (the user's edit wins); everything alice does not own in it is kept; originals
        are never touched."""
        return await lib(ctx).write_sidecars(query)

    _resources(server, lib, opened)
    _prompts(server)
    return server


async def _watch_inbox(library: Library, settings: Settings) -> None:
    """`alice mcp-server --watch`: organize new inbox files while serving (one process to run)."""
    try:
        await library.watch(settle_seconds=settings.server.watch_settle_seconds)
    except AliceError as exc:
        log.error("watching the inbox stopped", error=str(exc))


async def _release_when_idle(library: Library, idle_seconds: float) -> None:
    """Let go of the database file between requests so an `alice` command can use the library."""
    if idle_seconds <= 0:
        return
    while True:
        await anyio.sleep(min(idle_seconds, 1.0))
        library.release_if_idle(idle_seconds)


def _resources(server: MCPServer, lib, opened: list[Library]) -> None:  # noqa: ANN001
    @server.resource("alice://asset/{asset_id}", mime_type="application/json")
    async def asset_resource(asset_id: str, ctx: Context) -> str:
        """Every stored field of one asset, as JSON."""
        with _mcp_errors(resource=True):
            return (await lib(ctx).get_asset(asset_id)).model_dump_json(indent=2)

    @server.resource("alice://asset/{asset_id}/thumbnail", mime_type="image/jpeg")
    async def thumbnail_resource(asset_id: str, ctx: Context) -> bytes:
        """The asset's thumbnail as a JPEG."""
        with _mcp_errors(resource=True):
            data, _ = await lib(ctx).preview(asset_id, 256)
        return data

    @server.resource("alice://stats", mime_type="application/json")
    async def stats_resource() -> str:
        """Library counts and process figures, as JSON."""
        return (await opened[-1].stats()).model_dump_json(indent=2)


def _prompts(server: MCPServer) -> None:
    @server.prompt(title="Organize my inbox")
    def organize_inbox() -> str:
        """Plan, confirm and run the organization of the inbox."""
        return ("Please organize my inbox of AI images. First call `organize` with "
                "dry_run=true and summarize the plan (how many files, which projects and "
                "generators, duplicates, errors). Ask me to confirm, then run it for real "
                "(copy mode) and report the result.")

    @server.prompt(title="Review duplicates")
    def review_duplicates(max_distance: str = "0") -> str:
        """Find duplicate pictures and help decide which to keep (nothing is deleted)."""
        return (f"Find duplicate images in my library with `find_duplicates` "
                f"(max_distance={max_distance}). For each group, `view` the images and "
                "compare `get_asset` details (size, quality, stars, prompt). Recommend which "
                "one to keep, and once I agree call `resolve_duplicates` (it merges the "
                "others' tags into the kept one and tags the others 'duplicate'). "
                "Do not delete anything.")

