"""The part of Library every use case shares: settings, the index, caches, metrics, the path guard."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

from alice_mcp.cache import BoundedCache
from alice_mcp.config import Settings
from alice_mcp.errors import InvalidArgument, NotFound
from alice_mcp.metrics import Metrics, monitor
from alice_mcp.results import SearchPage
from alice_mcp.roots import inside
from alice_mcp.store import assets
from alice_mcp.store import query as q
from alice_mcp.store.db import Database
from alice_mcp.store.paths import from_stored

if TYPE_CHECKING:
    from alice_mcp.embeddings.stage import Embedder
    from alice_mcp.store.filter_index import FilterIndex, LiveFilterIndex

PROMPT_EXCERPT = 200
T = TypeVar("T")


class LibraryBase:
    """One library: its settings, its DuckDB index, its caches and metrics."""

    def __init__(self, settings: Settings, *, read_only: bool = False) -> None:
        self.settings = settings
        self.db = Database(settings.database_path, read_only=read_only,
                           lock_timeout=settings.store.lock_timeout_seconds,
                           memory_limit_mb=settings.performance.duckdb_memory_limit_mb)
        perf = settings.performance
        self.search_cache: BoundedCache[SearchPage] = BoundedCache(
            "search", max_entries=perf.search_cache_size, ttl_seconds=perf.cache_ttl_seconds,
            max_bytes=perf.max_memory_cache_mb * 1024 * 1024,
            sizeof=lambda page: len(page.model_dump_json()) + 256)
        self.metrics = Metrics(caches=[self.search_cache])
        self._monitoring = 0
        self._outside_seen = 0
        # read-only use cases run on threads of their own (each on its own DuckDB cursor), at
        # most this many at once, beside the writer and without waiting for one another
        self.readers = anyio.CapacityLimiter(perf.max_concurrent_reads)

    @functools.cached_property
    def embedder(self) -> Embedder:
        """The embedding models and vector indexes, made on first use (numpy and Pillow load
        with them, not with every Library)."""
        from alice_mcp.embeddings.stage import Embedder

        return Embedder(self.db, self.settings.embeddings)

    @functools.cached_property
    def filter_index(self) -> LiveFilterIndex:
        """The filter, sort and tag columns in memory for structured searches, made on first use
        (numpy loads with it, not with every Library)."""
        from alice_mcp.store.filter_index import LiveFilterIndex

        index = LiveFilterIndex(self.db, lambda: self.search_cache.generation,
                                self.settings.performance.search_index_mb)
        self.metrics.caches = [*self.metrics.caches, index]  # its figures in stats
        return index

    async def read(self, fn: Callable[..., T], *args: object) -> T:
        """Run a read-only fn(*args) on a reader thread."""
        return await anyio.to_thread.run_sync(fn, *args, limiter=self.readers)

    def close(self) -> None:
        """Close the index (a Library is also a context manager that does this)."""
        if "filter_index" in self.__dict__:
            self.filter_index.close()
        self.db.close()

    @asynccontextmanager
    async def monitoring(self) -> AsyncIterator[None]:
        """While the block runs, log the metrics line every interval (when enabled). The
        library is its one owner: a run inside a served or watched library logs no second line."""
        perf = self.settings.performance
        self._monitoring += 1
        try:
            async with monitor(self.metrics, perf.enable_performance_monitoring
                               and self._monitoring == 1, perf.metrics_interval_seconds):
                yield
        finally:
            self._monitoring -= 1

    def release_if_idle(self, idle_seconds: float) -> bool:
        """Let go of the database file if unused for idle_seconds (another process may need it)."""
        return self.db.release_if_idle(idle_seconds)

    def forget_outside_writes(self) -> None:
        """Forget cached answers if another process wrote while the file was let go of."""
        seen = self.db.outside_writes()
        if seen != self._outside_seen:
            self._outside_seen = seen
            self.search_cache.invalidate()

    def allowed(self, path: Path | str) -> Path:
        """The path resolved, if it lies inside the configured roots; else OutsideRoots."""
        return inside(Path(path), self.settings.roots)

    def _index_for(self, parsed: q.Query | None) -> FilterIndex | None:
        """The filter index, if it is current and answers the query (any, with None). Only
        warm_up makes one (the server's): a one-off command never imports numpy for it."""
        live: LiveFilterIndex | None = self.__dict__.get("filter_index")
        if live is None:
            return None
        return live.current() if parsed is None else live.for_query(parsed)

    def _matching_ids(self, parsed: q.Query) -> list[str]:
        """Every asset id a query matches: from the filter index when it answers, else SQL."""
        index = self._index_for(parsed)
        if index is not None:
            return index.matching(parsed)
        return q.matching_ids(self.db, parsed)

    def _summaries(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        """A page's display columns, first path and tags: the paths and tags from the filter
        index when it is current (two scans less), else from DuckDB."""
        index = self._index_for(None)
        if index is None:
            return assets.summaries(self.db, ids)
        rows = assets.display_rows(self.db, ids)
        for asset_id, row in rows.items():
            place = index.place(asset_id)
            row["path"] = from_stored(place) if place is not None else None
            row["tags"] = index.tags(asset_id)
        return rows

    def resolve_id(self, given: str) -> str:
        """A full asset id, from the id or a unique prefix of at least 6 characters."""
        matches = assets.resolve_prefixes(self.db, [given])[given]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise NotFound(f"no asset {given!r} in the library; use search to find asset ids")
        raise InvalidArgument(f"{given!r} matches several assets; give more characters of the id")



def bounded(name: str, value: int, low: int, high: int) -> int:
    """value when low <= value <= high, else InvalidArgument naming the range (both faces)."""
    if not low <= value <= high:
        raise InvalidArgument(f"{name} must be from {low} to {high}, not {value}")
    return value


def excerpt(text: str | None) -> str | None:
    """The first PROMPT_EXCERPT characters of a prompt, for lists of hits."""
    if text is None or len(text) <= PROMPT_EXCERPT:
        return text
    return text[:PROMPT_EXCERPT - 1].rstrip() + "…"
