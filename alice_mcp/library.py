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
from alice_mcp.metadata import detect_path
from alice_mcp.metrics import Metrics, monitor
from alice_mcp.pipeline.organize import OrganizeRun
from alice_mcp.pipeline.progress import Progress, ProgressListener
from alice_mcp.results import AssetSummary, Counted, LibraryStats, OrganizeReport, SearchPage
from alice_mcp.store import query as q
from alice_mcp.store.db import Database

log = structlog.get_logger(__name__)
PROMPT_EXCERPT = 200


class LibraryError(ValueError):
    """A request the library cannot carry out; the message says what to do instead."""


class Library:
    """One library: its settings, its DuckDB index, its caches and metrics."""

    def __init__(self, settings: Settings, *, read_only: bool = False) -> None:
        self.settings = settings
        self.db = Database(settings.database_path, read_only=read_only,
                           lock_timeout=settings.server.lock_timeout_seconds)
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
                       move: bool = False, dry_run: bool = False,
                       listeners: Sequence[ProgressListener] = ()) -> OrganizeReport:
        """Index the inbox and place each new file in the organized tree (copy unless move)."""
        inbox_dir = self._folder(inbox or self.settings.paths.inbox, "inbox", must_exist=True)
        organized_dir = self._folder(organized or self.settings.paths.organized, "organized")
        if inbox_dir == organized_dir or inbox_dir.is_relative_to(organized_dir):
            raise LibraryError(f"the inbox {inbox_dir} lies inside the organized folder "
                               f"{organized_dir}; choose folders that do not overlap")
        run = OrganizeRun(self.db, self.settings, inbox_dir, organized_dir, move=move,
                          dry_run=dry_run, progress=Progress([*listeners, self.metrics.track()]))
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

    async def inspect(self, paths: Sequence[Path]) -> list[dict[str, Any]]:
        """What generated each file and with which parameters; errors are per file."""
        def one(path: Path) -> dict[str, Any]:
            if not path.is_file():
                return {"path": str(path), "error": "no such file"}
            return {"path": str(path), **detect_path(path).to_dict()}
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

    def _search(self, parsed: q.Query, limit: int, offset: int) -> SearchPage:
        sql, params = q.search_sql(parsed, limit, offset)
        cur = self.db.cursor()
        try:
            rel = cur.execute(sql, params)
            names = [d[0] for d in rel.description]
            rows = [dict(zip(names, row, strict=True)) for row in rel.fetchall()]
        finally:
            cur.close()
        total = rows[0]["total"] if rows else 0
        results = [AssetSummary(
            asset_id=r["asset_id"], path=r["path"], source=r["source"], model=r["model"],
            prompt=_excerpt(r["prompt"]), tags=r["tags"] or [], stars=r["stars"],
            width=r["width"], height=r["height"], media_type=r["media_type"],
            created_at=r["created_at"]) for r in rows]
        more = offset + len(results) < total
        return SearchPage(results=results, total=total,
                          next_cursor=_encode_cursor(offset + len(results), parsed) if more else None)

    # -- stats ------------------------------------------------------------------------------

    async def stats(self) -> LibraryStats:
        """Counts by source, model family, month, stars and media type."""
        return await anyio.to_thread.run_sync(self._stats)

    def _stats(self) -> LibraryStats:
        def counted(expr: str) -> list[Counted]:
            rows = self.db.fetchall(f"SELECT {expr} AS k, count(*) FROM assets GROUP BY k "
                                    "ORDER BY count(*) DESC, k")
            return [Counted(key=None if k is None else str(k), count=n) for k, n in rows]
        assets = self.db.fetchall("SELECT count(*) FROM assets")[0][0]
        files = self.db.fetchall("SELECT count(*) FROM files")[0][0]
        return LibraryStats(
            assets=assets, files=files, by_source=counted("source"),
            by_model_family=counted("model_family"),
            by_month=counted("strftime(created_at, '%Y-%m')"), by_stars=counted("stars"),
            by_media_type=counted("media_type"), database=str(self.db.path or ":memory:"))


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
