"""Worker-thread limiters, one set per event loop and one per family of work, so that no work
of alice's ever waits on (or fills) anyio's default limiter: the MCP stdio transport reads and
writes every message through that one, and a stuck file must not silence the server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, TypeVar

import anyio
from anyio.lowlevel import RunVar

R = TypeVar("R")
Family = Literal["files", "models", "writer"]
THREADS: dict[Family, int] = {
    "files": 16,  # file and index work outside the worker pool: scans, sidecars, export, plans
    "models": 4,  # CPU-bound model work: local analysis, embedding batches
    "writer": 4,  # the index writers' flushes and commits (one at a time per writer)
}
_LIMITERS: RunVar[dict[Family, anyio.CapacityLimiter]] = RunVar("alice_thread_limiters")


def limiter(family: Family) -> anyio.CapacityLimiter:
    """The running event loop's limiter for one family of work (made on first use)."""
    try:
        limiters = _LIMITERS.get()
    except LookupError:
        limiters = {}
        _LIMITERS.set(limiters)
    if family not in limiters:
        limiters[family] = anyio.CapacityLimiter(THREADS[family])
    return limiters[family]


async def run_in(family: Family, func: Callable[..., R], *args: object,
                 abandon_on_cancel: bool = False) -> R:
    """func(*args) in a worker thread under the family's limiter, never the default one."""
    return await anyio.to_thread.run_sync(func, *args, limiter=limiter(family),
                                          abandon_on_cancel=abandon_on_cancel)
