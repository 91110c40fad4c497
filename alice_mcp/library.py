"""Library: the application core. The CLI and the MCP server call these methods and nothing deeper."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import structlog

from alice_mcp.cache import BoundedCache
from alice_mcp.config import Settings
from alice_mcp.media.pixels import PixelError, analyze_pixels
from alice_mcp.media.preview import PREVIEW_MIME, render_preview
from alice_mcp.metadata import detect_path
from alice_mcp.metrics import Metrics, monitor
from alice_mcp.pipeline.organize import OrganizeRun
from alice_mcp.pipeline.progress import Progress, ProgressListener
from alice_mcp.results import (
    AnalysisEstimate,
    AnalysisInfo,
    AnalyzeReport,
    AssetDetail,
    AssetSummary,
    CacheFigures,
    Counted,
    DuplicateGroup,
    DuplicatesResult,
    LibraryStats,
    Location,
    OrganizeReport,
    ProcessFigures,
    SearchPage,
    SimilarHit,
    SimilarResult,
    TagInfo,
    TagResult,
)
from alice_mcp.roots import inside
from alice_mcp.store import assets as store
from alice_mcp.store import query as q
from alice_mcp.store import upkeep
from alice_mcp.store.db import Database
from alice_mcp.understanding.service import UnderstandingService, make_provider

log = structlog.get_logger(__name__)
PROMPT_EXCERPT = 200


class LibraryError(ValueError):
    """A request the library cannot carry out; the message says what to do instead."""


class Library:
    """One library: its settings, its DuckDB index, its caches and metrics."""

    def __init__(self, settings: Settings, *, read_only: bool = False) -> None:
        self.settings = settings
        self.db = Database(settings.database_path, read_only=read_only,
                           lock_timeout=settings.server.lock_timeout_seconds,
                           memory_limit_mb=settings.performance.duckdb_memory_limit_mb)
        perf = settings.performance
        self.search_cache: BoundedCache[SearchPage] = BoundedCache(
            "search", max_entries=perf.search_cache_size, ttl_seconds=perf.cache_ttl_seconds,
            max_bytes=perf.max_memory_cache_mb * 1024 * 1024,
            sizeof=lambda page: len(page.model_dump_json()) + 256)
        self.metrics = Metrics(caches=[self.search_cache])

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    # -- organize ---------------------------------------------------------------------------

    async def organize(self, inbox: Path | None = None, organized: Path | None = None, *,
                       move: bool = False, dry_run: bool = False, settle_seconds: float = 0.0,
                       listeners: Sequence[ProgressListener] = ()) -> OrganizeReport:
        """Index the inbox and place each new file in the organized tree (copy unless move)."""
        inbox_dir = self._folder(self.allowed(inbox) if inbox else self.settings.paths.inbox,
                                 "inbox", must_exist=True)
        organized_dir = self._folder(self.allowed(organized) if organized
                                     else self.settings.paths.organized, "organized")
        if inbox_dir == organized_dir or inbox_dir.is_relative_to(organized_dir):
            raise LibraryError(f"the inbox {inbox_dir} lies inside the organized folder "
                               f"{organized_dir}; choose folders that do not overlap")
        run = OrganizeRun(self.db, self.settings, inbox_dir, organized_dir, move=move,
                          dry_run=dry_run, settle_seconds=settle_seconds,
                          progress=Progress([*listeners, self.metrics.track()]))
        perf = self.settings.performance
        try:
            async with monitor(self.metrics, perf.enable_performance_monitoring,
                               perf.metrics_interval_seconds):
                report = await run.execute()
        finally:
            if not dry_run:
                self.search_cache.invalidate()
        if perf.log_performance_metrics:
            log.info("organize finished", seconds=report.seconds, organized=report.organized,
                     duplicates=report.duplicates, errors=len(report.errors),
                     **report.counters.model_dump())
        return report

    def _folder(self, path: Path | None, role: str, must_exist: bool = False) -> Path:
        if path is None:
            raise LibraryError(f"no {role} folder given; pass --{role} PATH or set "
                               f"paths.{role} in settings.yaml (see `alice profiles`)")
        resolved = Path(path).expanduser().resolve()
        if must_exist and not resolved.is_dir():
            raise LibraryError(f"the {role} folder {resolved} does not exist or is not a folder")
        if resolved.exists() and not resolved.is_dir():
            raise LibraryError(f"the {role} path {resolved} is a file, not a folder")
        return resolved

    # -- inspect ----------------------------------------------------------------------------

    async def inspect(self, paths: Sequence[Path], *,
                      stealth: bool | None = None) -> list[dict[str, Any]]:
        """What generated each file and with which parameters; errors are per file."""
        look_in_pixels = self.settings.metadata.stealth if stealth is None else stealth

        def one(path: Path) -> dict[str, Any]:
            if not path.is_file():
                return {"path": str(path), "error": "no such file"}
            return {"path": str(path), **detect_path(path, stealth=look_in_pixels).to_dict()}
        return [await anyio.to_thread.run_sync(one, Path(p)) for p in paths]

    # -- search -----------------------------------------------------------------------------

    async def search(self, query: str | q.Query | None = None, *, limit: int = 20,
                     cursor: str | None = None) -> SearchPage:
        """One page of assets matching the query language (or a Query built from arguments)."""
        parsed = query if isinstance(query, q.Query) else q.parse(query)
        offset = _decode_cursor(cursor, parsed) if cursor else 0
        key = (parsed.key(), limit, offset)
        page = self.search_cache.get(key)
        if page is None:
            page = await anyio.to_thread.run_sync(self._search, parsed, limit, offset)
            self.search_cache.put(key, page)
        return page

    async def matching_ids(self, query: str | q.Query) -> list[str]:
        """Every asset id the query matches (for commands that act on a selection)."""
        parsed = query if isinstance(query, q.Query) else q.parse(query)
        where = q.build_where(parsed)
        sql = f"SELECT a.asset_id FROM assets a WHERE {' AND '.join(where.where) or 'TRUE'}"
        rows = await anyio.to_thread.run_sync(self.db.fetchall, sql, where.params)
        return [a for (a,) in rows]

    def _search(self, parsed: q.Query, limit: int, offset: int) -> SearchPage:
        page = self.db.fetchall(*q.page_sql(parsed, limit, offset))
        total = page[0][1] if page else 0
        rows = store.summaries(self.db, [a for a, _ in page])
        results = [AssetSummary(
            asset_id=r["asset_id"], path=r["path"], source=r["source"], model=r["model"],
            prompt=_excerpt(r["prompt"]), tags=r["tags"], stars=r["stars"],
            width=r["width"], height=r["height"], media_type=r["media_type"],
            created_at=r["created_at"]) for a, _ in page if (r := rows.get(a))]
        more = offset + len(page) < total
        return SearchPage(results=results, total=total,
                          next_cursor=_encode_cursor(offset + len(page), parsed) if more else None)

    # -- stats ------------------------------------------------------------------------------

    async def stats(self) -> LibraryStats:
        """Counts by source, model family, month, stars and media type."""
        return await anyio.to_thread.run_sync(self._stats)

    def _stats(self) -> LibraryStats:
        def counted(expr: str) -> list[Counted]:
            rows = self.db.fetchall(f"SELECT {expr} AS k, count(*) FROM assets GROUP BY k "
                                    "ORDER BY count(*) DESC, k")
            return [Counted(key=None if k is None else str(k), count=n) for k, n in rows]
        assets, files, tags, cost = self.db.fetchall(
            """SELECT (SELECT count(*) FROM assets), (SELECT count(*) FROM files),
                      (SELECT count(*) FROM tags), (SELECT coalesce(sum(usd), 0) FROM costs)""")[0]
        snap = self.metrics.snapshot()
        caches = [CacheFigures(name=name, **figures) for name, figures in snap.pop("caches").items()]
        return LibraryStats(
            assets=assets, files=files, tags=tags, cost_usd_total=cost,
            by_source=counted("source"), by_model_family=counted("model_family"),
            by_month=counted("strftime(created_at, '%Y-%m')"), by_stars=counted("stars"),
            by_media_type=counted("media_type"), database=str(self.db.path or ":memory:"),
            process=ProcessFigures(caches=caches, **snap))


    # -- paths and ids ----------------------------------------------------------------------

    def allowed(self, path: Path | str) -> Path:
        """The path resolved, if it lies inside the configured roots; else PathOutsideRootsError."""
        return inside(Path(path), self.settings.roots)

    def resolve_id(self, given: str) -> str:
        """A full asset id, from the id or a unique prefix of at least 6 characters."""
        matches = store.resolve_prefixes(self.db, [given])[given]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise LibraryError(f"no asset {given!r} in the library; use search to find asset ids")
        raise LibraryError(f"{given!r} matches several assets; give more characters of the id")

    # -- tags -------------------------------------------------------------------------------

    async def tag(self, asset_ids: Sequence[str], add: Sequence[str] = (),
                  remove: Sequence[str] = (), category: str = "custom") -> TagResult:
        """Add and remove tags on many assets in one transaction (user tags, never overwritten)."""
        if category not in store.TAG_CATEGORIES:
            raise LibraryError(f"unknown tag category {category!r}; use one of "
                               f"{', '.join(store.TAG_CATEGORIES)}")
        if not add and not remove:
            raise LibraryError("nothing to do: give tags to add and/or remove")

        def run() -> TagResult:
            found = store.resolve_prefixes(self.db, asset_ids)
            ids = sorted({m[0] for m in found.values() if len(m) == 1})
            unknown = [given for given, m in found.items() if len(m) != 1]
            added, removed = store.edit_tags(self.db, ids, add, remove, category) if ids else (0, 0)
            if added >= upkeep.CHECK_AFTER_ROWS:
                upkeep.order_tags_if_needed(self.db)
            return TagResult(updated_assets=len(ids), added=added, removed=removed,
                             unknown_ids=unknown)
        result = await anyio.to_thread.run_sync(run)
        self.search_cache.invalidate()
        return result

    # -- one asset --------------------------------------------------------------------------

    async def get_asset(self, asset_id: str) -> AssetDetail:
        """Every stored field of one asset, its tags, analyses and locations."""
        def run() -> AssetDetail:
            full = self.resolve_id(asset_id)
            row = store.asset_row(self.db, full) or {}
            return AssetDetail(
                asset_id=full, fields=json.loads(json.dumps(row, default=str)),
                tags=[TagInfo(**t) for t in store.tags_of(self.db, full)],
                analyses=[AnalysisInfo(**a) for a in store.analyses_of(self.db, full)],
                locations=[Location(**loc) for loc in store.locations_of(self.db, full)])
        return await anyio.to_thread.run_sync(run)

    async def preview(self, asset_id: str, size: int = 512) -> tuple[bytes, str]:
        """A JPEG of the asset, longest side <= size: from the original when the stored
        thumbnail is smaller than asked, else from the thumbnail."""
        def run() -> tuple[bytes, str]:
            full = self.resolve_id(asset_id)
            stored = store.thumbnail_of(self.db, full)
            if size > self.settings.understanding.thumbnail_size:
                for loc in store.locations_of(self.db, full):
                    try:
                        return render_preview(self.allowed(loc["path"]), size), PREVIEW_MIME
                    except (OSError, ValueError):
                        continue
            if stored is None:
                raise LibraryError(f"asset {full} has no thumbnail (videos and undecodable "
                                   "files have none) and no readable original")
            return render_preview(stored[1], size), PREVIEW_MIME
        return await anyio.to_thread.run_sync(run)

    # -- look-alikes ------------------------------------------------------------------------

    async def similar(self, asset_id: str | None = None, path: Path | str | None = None, *,
                      max_distance: int = 10, limit: int = 20) -> SimilarResult:
        """Assets whose perceptual hash is within max_distance bits of the reference."""
        def run() -> SimilarResult:
            if (asset_id is None) == (path is None):
                raise LibraryError("give exactly one of asset_id or path")
            if asset_id is not None:
                reference = self.resolve_id(asset_id)
                rows = self.db.fetchall("SELECT phash FROM assets WHERE asset_id = ?",
                                        [reference])
                phash = rows[0][0] if rows else None
            else:
                file = self.allowed(path)  # type: ignore[arg-type]
                reference = str(file)
                try:
                    with file.open("rb") as fp:
                        phash = analyze_pixels(fp).phash
                except (OSError, PixelError) as exc:
                    raise LibraryError(f"cannot read {file} as an image: {exc}") from None
            if phash is None:
                raise LibraryError(f"{reference} has no perceptual hash (not a decodable image)")
            hits = store.similar(self.db, phash, reference if asset_id else None,
                                 max_distance, limit)
            return SimilarResult(reference=reference, max_distance=max_distance,
                                 results=self._hits(hits))
        return await anyio.to_thread.run_sync(run)

    async def duplicates(self, scope: str | None = None, *, max_distance: int = 0,
                         limit: int = 50) -> DuplicatesResult:
        """Groups of assets that look the same; scope is a search-language query."""
        where = q.build_where(q.parse(scope))
        clause = " AND ".join(where.where) or "TRUE"

        def run() -> DuplicatesResult:
            groups = store.duplicate_groups(self.db, max_distance, clause, where.params,
                                            limit=10_000)
            shown = [DuplicateGroup(assets=self._hits(g)) for g in groups[:limit]]
            return DuplicatesResult(max_distance=max_distance, groups=shown,
                                    total_groups=len(groups))
        return await anyio.to_thread.run_sync(run)

    def _hits(self, hits: list[tuple[str, int]]) -> list[SimilarHit]:
        if not hits:
            return []
        rows = self.db.fetchall(
            """SELECT a.asset_id, a.source, a.prompt,
                      (SELECT f.path FROM files f WHERE f.asset_id = a.asset_id
                       ORDER BY f.role = 'organized' DESC, f.path LIMIT 1)
               FROM assets a WHERE a.asset_id IN (SELECT unnest(?::VARCHAR[]))""",
            [[a for a, _ in hits]])
        facts = {a: (s, p, path) for a, s, p, path in rows}
        found = []
        for asset_id, distance in hits:
            source, prompt, path = facts.get(asset_id, (None, None, None))
            found.append(SimilarHit(asset_id=asset_id, distance=distance, source=source,
                                    prompt=_excerpt(prompt), path=path))
        return found

    # -- understanding ----------------------------------------------------------------------

    async def analyze(self, asset_ids: Sequence[str] | None = None,
                      paths: Sequence[Path | str] | None = None, *, provider: str | None = None,
                      force: bool = False, query: str | None = None,
                      listeners: Sequence[ProgressListener] = ()) -> AnalyzeReport:
        """Describe and tag assets with a provider; the selection is the ids, paths and query
        given, and without any of them every asset that this provider has not analyzed yet."""
        chosen = make_provider(provider or self.settings.understanding.provider,
                               self.settings.understanding)
        ids = await self._analysis_selection(asset_ids, paths, query)
        service = UnderstandingService(self.db, self.settings)
        try:
            report = await service.analyze(ids, chosen, force=force,
                                           progress=Progress(listeners, noun="assets"))
            await anyio.to_thread.run_sync(upkeep.order_tags_if_needed, self.db)
        finally:
            self.search_cache.invalidate()
        self.metrics.api_calls += report.requests
        self.metrics.cost_usd += report.cost_usd
        return report

    async def estimate_analysis(self, asset_ids: Sequence[str] | None = None,
                                paths: Sequence[Path | str] | None = None, *,
                                provider: str | None = None, force: bool = False,
                                query: str | None = None) -> AnalysisEstimate:
        """What analyze would send and cost, without calling anything (no API key needed)."""
        chosen = make_provider(provider or self.settings.understanding.provider,
                               self.settings.understanding, require_key=False)
        ids = await self._analysis_selection(asset_ids, paths, query)
        return await UnderstandingService(self.db, self.settings).estimate(ids, chosen,
                                                                           force=force)

    async def _analysis_selection(self, asset_ids: Sequence[str] | None,
                                  paths: Sequence[Path | str] | None,
                                  query: str | None) -> list[str] | None:
        if asset_ids is None and paths is None and not query:
            return None
        ids = await anyio.to_thread.run_sync(
            lambda: [self.resolve_id(a) for a in asset_ids or []]
            + self._ids_of_paths(paths or []))
        if query:
            ids += await self.matching_ids(query)
        return ids

    def _ids_of_paths(self, paths: Sequence[Path | str]) -> list[str]:
        resolved = [str(self.allowed(p)) for p in paths]
        rows = self.db.fetchall("SELECT path, asset_id FROM files WHERE path IN "
                                "(SELECT unnest(?::VARCHAR[]))", [resolved])
        known = dict(rows)
        missing = [p for p in resolved if p not in known]
        if missing:
            raise LibraryError(f"not in the library: {', '.join(missing[:5])}; "
                               "organize them first")
        return [known[p] for p in resolved]


def _excerpt(text: str | None) -> str | None:
    if text is None or len(text) <= PROMPT_EXCERPT:
        return text
    return text[:PROMPT_EXCERPT - 1].rstrip() + "…"


def _fingerprint(parsed: q.Query) -> str:
    return hashlib.blake2b(repr(parsed.key()).encode(), digest_size=6).hexdigest()


def _encode_cursor(offset: int, parsed: q.Query) -> str:
    raw = json.dumps({"o": offset, "q": _fingerprint(parsed)}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, parsed: q.Query) -> int:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        offset, fingerprint = int(data["o"]), data["q"]
    except (ValueError, KeyError, TypeError):
        raise q.QueryError("the cursor is not one this library issued; "
                           "search again without a cursor") from None
    if fingerprint != _fingerprint(parsed) or offset < 0:
        raise q.QueryError("the cursor belongs to a different search; pass the same query "
                           "and filters as the first page, or start again without a cursor")
    return offset
