"""TTL/LRU caches bounded by entry count and by memory, with hit and miss counters."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from cachetools import TTLCache

V = TypeVar("V")


class BoundedCache(Generic[V]):
    """At most max_entries values, each living ttl_seconds, together at most max_bytes."""

    def __init__(self, name: str, *, max_entries: int, ttl_seconds: float, max_bytes: int,
                 sizeof: Callable[[V], int] = sys.getsizeof,
                 timer: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.max_bytes = max_bytes
        self.enabled = max_entries > 0 and ttl_seconds > 0
        self._cache: TTLCache[Hashable, V] = TTLCache(
            maxsize=max(max_bytes, 1), ttl=max(ttl_seconds, 0.001), timer=timer,
            getsizeof=sizeof)
        self._max_entries = max_entries
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.generation = 0  # bumped by invalidate(): a value read before a write is not kept

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            value = self._cache.get(key) if self.enabled else None
            if value is None:
                self.misses += 1
            else:
                self.hits += 1
            return value

    def put(self, key: Hashable, value: V, generation: int | None = None) -> None:
        """Keep value, unless generation (read before computing it) predates an invalidate():
        a page computed while a write committed may hold the old answer."""
        if not self.enabled:
            return
        with self._lock:
            if generation is not None and generation != self.generation:
                return
            try:
                self._cache[key] = value
            except ValueError:  # a single value larger than the whole budget is not kept
                return
            while len(self._cache) > self._max_entries:
                self._cache.popitem()

    def invalidate(self) -> None:
        """Forget everything: called after any write that could change an answer."""
        with self._lock:
            self.generation += 1
            self._cache.clear()

    @property
    def size_bytes(self) -> int:
        return int(self._cache.currsize)

    @property
    def hit_rate(self) -> float | None:
        total = self.hits + self.misses
        return self.hits / total if total else None

    def describe(self) -> dict[str, float | int | None]:
        return {"entries": len(self._cache), "size_mb": round(self.size_bytes / 2**20, 3),
                "max_mb": round(self.max_bytes / 2**20, 3), "hits": self.hits,
                "misses": self.misses, "hit_rate": self.hit_rate}
