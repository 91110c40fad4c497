"""The library's filter, sort and tag columns held in memory as numpy arrays, so a structured
search (tags, source, model, stars, dates...) finds and orders its page without a statement.

A page through SQL costs ~5 ms of CPU on 100,000 assets (the matches are scanned, counted and
sorted) and the tags and paths of its hits two scans more; from these arrays, under 1 ms. The
answers are the SQL path's (tests/test_filter_index.py compares both on many queries); free
words and searches by meaning still go to DuckDB.
"""

from __future__ import annotations

import bisect
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import structlog

from alice_mcp.store import columns
from alice_mcp.store.db import Database
from alice_mcp.store.query import Query

log = structlog.get_logger(__name__)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# after a write, the index is read again in the background, at most this often (and never more
# than a third of the time): meanwhile searches take the SQL path
REFRESH_SECONDS = 1.0
# what one asset and one tag row cost in memory, for the estimate made before reading them
BYTES_PER_ASSET = 260
BYTES_PER_TAG = 8
ID_BYTES = 32
GLOB_CACHE = 256  # model patterns whose matching models are remembered (codes, not masks)


def estimate_bytes(assets: int, tag_rows: int) -> int:
    """Memory an index of this size will hold (paths dominate: ~100 bytes an asset)."""
    return assets * BYTES_PER_ASSET + tag_rows * BYTES_PER_TAG


@dataclass(slots=True)
class Category:
    """A string column as codes into its distinct values, with the values DuckDB-lowered."""

    codes: np.ndarray
    values: list[str | None]
    lower: list[str | None]

    def where_in(self, wanted: set[str], lowered: bool = True) -> np.ndarray:
        names = self.lower if lowered else self.values
        picked = [i for i, v in enumerate(names) if v is not None and v in wanted]
        return np.isin(self.codes, np.asarray(picked, dtype=self.codes.dtype))


def _categorise(db: Database, name: str, codes: np.ndarray) -> Category:
    values = columns.category_values(db, name)
    return Category(codes.astype(np.int32), values, columns.lowered(db, values))


def _microseconds(when: datetime) -> int:
    delta = when - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


@dataclass(slots=True)
class FilterIndex:
    """One snapshot of the library's searchable columns; rows are assets in asset_id order."""

    ids: np.ndarray  # S32, sorted
    numbers: dict[str, np.ndarray]
    categories: dict[str, Category]
    tag_names: list[str]  # sorted: a tag's code is its place here
    tag_starts: np.ndarray  # rows carrying tag c: tag_rows[tag_starts[c]:tag_starts[c + 1]]
    tag_rows: np.ndarray
    asset_starts: np.ndarray  # tags of row r: asset_tags[asset_starts[r]:asset_starts[r + 1]]
    asset_tags: np.ndarray
    path_bytes: bytearray
    path_starts: np.ndarray  # row r's path: path_bytes[path_starts[r]:path_starts[r + 1]]
    path_has: np.ndarray  # False: no location known
    orders: dict[str, np.ndarray] = field(default_factory=dict)
    _globs: dict[str, np.ndarray] = field(default_factory=dict)  # pattern -> model codes
    _db: Database | None = None

    @classmethod
    def load(cls, db: Database) -> FilterIndex:
        """Read the columns of every asset, its tags and its first location."""
        ids, raw = columns.asset_columns(db)
        categories = {name: _categorise(db, name, raw.pop(name)) for name in columns.CATEGORIES}
        tag_rows, tag_codes, names = columns.tag_pairs(db)
        by_tag = np.lexsort((tag_rows, tag_codes))
        by_row = np.lexsort((tag_codes, tag_rows))
        index = cls(ids=ids, numbers=raw, categories=categories, tag_names=names,
                    tag_starts=_starts(tag_codes[by_tag], len(names)),
                    tag_rows=tag_rows[by_tag],
                    asset_starts=_starts(tag_rows[by_row], len(ids)),
                    asset_tags=tag_codes[by_row], **_pack(columns.first_places(db), len(ids)))
        index._db = db
        index.orders = index._sort_orders()
        return index

    @property
    def nbytes(self) -> int:
        arrays = [self.ids, self.tag_starts, self.tag_rows, self.asset_starts, self.asset_tags,
                  self.path_starts, self.path_has, *self.numbers.values(), *self.orders.values(),
                  *(c.codes for c in self.categories.values())]
        return (sum(a.nbytes for a in arrays) + len(self.path_bytes)
                + sum(sys.getsizeof(t) for t in self.tag_names))

    @staticmethod
    def covers(q: Query) -> bool:
        """Whether this index answers the query: everything but free words and meaning."""
        return not (q.words or q.not_words or q.semantic)

    def page(self, q: Query, limit: int, offset: int) -> tuple[list[str], int]:
        """(asset ids of one page in the query's order, how many match in all)."""
        mask = self._mask(q)
        order = self.orders[q.sort]
        ranked = order[mask[order]]
        rows = ranked[offset:offset + limit]
        return [self.ids[r].decode() for r in rows], int(ranked.size)

    def matching(self, q: Query) -> list[str]:
        """Every asset id the query matches, in id order."""
        return [i.decode() for i in self.ids[self._mask(q)]]

    def place(self, asset_id: str) -> str | None:
        """The first location of an asset, as a page shows it (None: none known)."""
        row = self._row(asset_id)
        if row is None or not self.path_has[row]:
            return None
        start, end = self.path_starts[row], self.path_starts[row + 1]
        return self.path_bytes[start:end].decode("utf-8", "surrogatepass")

    def tags(self, asset_id: str) -> list[str]:
        """The asset's tags, sorted."""
        row = self._row(asset_id)
        if row is None:
            return []
        codes = self.asset_tags[self.asset_starts[row]:self.asset_starts[row + 1]]
        return [self.tag_names[c] for c in sorted(codes)]

    def _row(self, asset_id: str) -> int | None:
        key = asset_id.encode()
        row = int(np.searchsorted(self.ids, key))
        return row if row < len(self.ids) and self.ids[row] == key else None

    def _mask(self, q: Query) -> np.ndarray:
        n = self.numbers
        mask = n["missing"].copy() if q.missing else ~n["missing"]
        for tag in q.tags_all:
            mask &= self._tagged([tag])
        if q.tags_any:
            mask &= self._tagged(q.tags_any)
        for tag in q.tags_none:
            mask &= ~self._tagged([tag])
        for name, values in (("source", q.sources), ("engine", q.engines),
                             ("model_family", q.families), ("sampler", q.samplers)):
            if values:
                mask &= self.categories[name].where_in(set(values))
        if q.projects:
            mask &= self.categories["project"].where_in(set(q.projects), lowered=False)
        if q.asset_ids:  # an id of another length matches nothing (S32 would cut it to fit)
            wanted = [key for a in q.asset_ids if len(key := a.encode()) == ID_BYTES]
            mask &= np.isin(self.ids, np.asarray(wanted, dtype="S32"))
        if q.models:
            mask &= self._models(q.models)
        if q.media_type:
            mask &= self.categories["media_type"].where_in({q.media_type}, lowered=False)
        for column, comparisons in (("stars", q.stars), ("width", q.width), ("height", q.height)):
            for op, number in comparisons:
                mask &= ~n[f"{column}_null"] & _compare(n[column], op, number)
        if q.seed is not None:
            mask &= ~n["seed_null"] & (n["seed"] == q.seed)
        for when, op in ((q.after, ">="), (q.before, "<")):
            if when is not None:
                mask &= ~n["created_null"] & _compare(n["created_us"], op, _microseconds(when))
        return mask

    def _tagged(self, tags: list[str]) -> np.ndarray:
        mask = np.zeros(len(self.ids), dtype=bool)
        for tag in tags:
            code = _find(self.tag_names, tag)
            if code is not None:
                mask[self.tag_rows[self.tag_starts[code]:self.tag_starts[code + 1]]] = True
        return mask

    def _models(self, patterns: list[str]) -> np.ndarray:
        """Assets whose lower-cased model matches any pattern (a bare word: anywhere in it)."""
        models = self.categories["model"]
        mask = np.zeros(len(self.ids), dtype=bool)
        for given in patterns:
            pattern = given if any(c in given for c in "*?[") else f"*{given}*"
            picked = self._globs.get(pattern)
            if picked is None:
                assert self._db is not None
                if len(self._globs) >= GLOB_CACHE:  # every query may bring its own pattern
                    self._globs.clear()
                picked = np.asarray(columns.glob_matches(self._db, models.lower, pattern),
                                    dtype=np.int32)
                self._globs[pattern] = picked
            mask |= np.isin(models.codes, picked)
        return mask

    def _sort_orders(self) -> dict[str, np.ndarray]:
        """Every row in each sort's order (ties by asset_id: the row order), as SORTS says."""
        n, rows = self.numbers, np.arange(len(self.ids))
        quality = (n["quality_null"], -n["quality"])
        return {name: np.lexsort((rows, *reversed(keys))).astype(np.int32) for name, keys in {
            "newest": (n["created_null"], -n["created_us"]),
            "oldest": (n["created_null"], n["created_us"]),
            "stars": (n["stars_null"], -n["stars"].astype(np.int16), *quality),
            "quality": quality,
            "indexed": (-n["indexed_us"],),
        }.items()}


def _compare(values: np.ndarray, op: str, number: int) -> np.ndarray:
    match op:
        case ">=":
            return values >= number
        case "<=":
            return values <= number
        case ">":
            return values > number
        case "<":
            return values < number
    return values == number


def _find(names: list[str], name: str) -> int | None:
    at = bisect.bisect_left(names, name)
    return at if at < len(names) and names[at] == name else None


def _starts(sorted_keys: np.ndarray, count: int) -> np.ndarray:
    """Where each key's run begins in sorted_keys (count + 1 entries)."""
    return np.searchsorted(sorted_keys, np.arange(count + 1)).astype(np.int64)


def _pack(places: Iterator[tuple[int, str]], count: int) -> dict[str, object]:
    """Paths (in row order) as one UTF-8 buffer with offsets: a fraction of the memory of
    Python strings, never all of them at once."""
    buffer = bytearray()
    ends = np.zeros(count + 1, dtype=np.int64)
    has = np.zeros(count, dtype=bool)
    last = 0
    for row, path in places:
        ends[last + 1:row + 1] = len(buffer)  # rows without a path: empty
        buffer += path.encode("utf-8", "surrogatepass")
        ends[row + 1] = len(buffer)
        has[row] = True
        last = row + 1
    ends[last + 1:] = len(buffer)
    return {"path_bytes": buffer, "path_has": has, "path_starts": ends}  # no copy to bytes


class LiveFilterIndex:
    """The FilterIndex of a library, current or absent: valid until the next write (the search
    cache's generation moves) or until another process is found to have written while the file
    was let go of. A stale index is read again on a thread of its own.

    Nothing is read until load() is called (the server's warm-up): a one-off command searches
    once and would wait for an index it never uses."""

    def __init__(self, db: Database, generation: Callable[[], int], max_mb: int) -> None:
        self.db = db
        self.generation = generation
        self.max_bytes = max_mb * 2**20
        self._current: tuple[FilterIndex, tuple[int, int]] | None = None  # swapped whole
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self._next_build = 0.0
        self._wanted = False
        self._closed = False
        self.name = "filter_index"
        self.hits = 0  # structured searches answered from memory
        self.misses = 0  # and through DuckDB while the index was absent or stale

    def current(self) -> FilterIndex | None:
        """The index if it reflects the library as it is now; else None (and a read begins)."""
        if not (self.max_bytes and self._wanted):
            return None
        current = self._current
        if current is not None and current[1] == (self.generation(), self.db.outside_writes()):
            return current[0]
        self._refresh_soon()
        return None

    def for_query(self, q: Query) -> FilterIndex | None:
        """The current index if it answers q (counted as a hit; a structured search it cannot
        answer now, as a miss); None sends q to DuckDB."""
        if not FilterIndex.covers(q):
            return None
        index = self.current()
        if index is None:
            self.misses += 1
        else:
            self.hits += 1
        return index

    def describe(self) -> dict[str, float | int | None]:
        """Figures for the stats tool, as the caches give theirs."""
        current = self._current
        total = self.hits + self.misses
        return {"entries": len(current[0].ids) if current else 0,
                "size_mb": round(current[0].nbytes / 2**20, 3) if current else 0.0,
                "max_mb": round(self.max_bytes / 2**20, 3), "hits": self.hits,
                "misses": self.misses, "hit_rate": self.hits / total if total else None}

    def load(self) -> None:
        """Read the index now, in this thread (the server's warm-up)."""
        if self.max_bytes:
            self._wanted = True
            self._build()

    def close(self) -> None:
        """Wait for a read in progress; none starts after this."""
        with self._lock:
            self._closed, worker = True, self._worker
        if worker is not None:
            worker.join()

    def _refresh_soon(self) -> None:
        with self._lock:
            if (self._closed or (self._worker is not None and self._worker.is_alive())
                    or time.monotonic() < self._next_build):
                return
            self._worker = threading.Thread(target=self._build, name="alice-filter-index",
                                            daemon=True)
            self._worker.start()

    def _build(self) -> None:
        started = time.monotonic()
        try:
            with self.db.cursor():  # holds the file open: the stamp stays true while reading
                stamp = (self.generation(), self.db.outside_writes())
                assets, tag_rows = columns.counts(self.db)
                if estimate_bytes(assets, tag_rows) > self.max_bytes:
                    log.info("library too large for the in-memory search index; searches use "
                             "DuckDB (raise performance.search_index_mb to hold it)",
                             assets=assets, max_mb=self.max_bytes // 2**20)
                    self._current = None
                    self._next_build = float("inf")
                    return
                index = FilterIndex.load(self.db)
            self._current = (index, stamp)
            log.debug("search index read", assets=assets, mb=round(index.nbytes / 2**20, 1),
                      seconds=round(time.monotonic() - started, 3))
        except Exception as exc:  # a failed read leaves searches on the SQL path
            log.info("search index not read; searches use DuckDB", error=str(exc))
        finally:
            took = time.monotonic() - started
            self._next_build = max(self._next_build, time.monotonic() + max(REFRESH_SECONDS,
                                                                             2 * took))
