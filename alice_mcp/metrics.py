"""Performance figures of this process, and a task that logs them every metrics_interval_seconds."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio
import structlog

from alice_mcp.progress import ProgressListener

log = structlog.get_logger("alice_mcp.metrics")


class Described(Protocol):
    """What keeps things in memory and says how well (the caches, the filter index)."""

    name: str

    def describe(self) -> dict[str, float | int | None]: ...


@dataclass(slots=True)
class Metrics:
    """Running totals for this process; snapshot() is what the metrics log line and stats show."""

    caches: Sequence[Described] = ()
    files_processed: int = 0
    processing_seconds: float = 0.0
    api_calls: int = 0
    cost_usd: float = 0.0
    started: float = field(default_factory=time.monotonic)

    def track(self) -> ProgressListener:
        """A progress listener that keeps the file count and processing time current during a run."""
        started, files, seconds = time.monotonic(), self.files_processed, self.processing_seconds

        async def on_progress(done: int, total: int, message: str) -> None:
            self.files_processed = files + done
            self.processing_seconds = seconds + (time.monotonic() - started)
        return on_progress

    def snapshot(self) -> dict[str, Any]:
        import psutil  # imported by the first snapshot: not part of every command's start-up

        files = self.files_processed
        return {
            "files_processed": files,
            "avg_seconds_per_file": round(self.processing_seconds / files, 5) if files else None,
            "files_per_second": round(files / self.processing_seconds, 2)
            if self.processing_seconds else None,
            "rss_mb": round(psutil.Process().memory_info().rss / 1e6, 1),
            "caches": {c.name: c.describe() for c in self.caches},
            "api_calls": self.api_calls,
            "cost_usd": round(self.cost_usd, 6),
            "uptime_seconds": round(time.monotonic() - self.started, 1),
        }


@asynccontextmanager
async def monitor(metrics: Metrics, enabled: bool, interval: float) -> AsyncIterator[None]:
    """While the block runs, log a metrics line every interval seconds (if enabled)."""
    if not enabled:
        yield
        return
    async with anyio.create_task_group() as tg:
        async def tick() -> None:
            while True:
                await anyio.sleep(interval)
                log.info("performance metrics", **metrics.snapshot())
        tg.start_soon(tick)
        try:
            yield
        finally:
            tg.cancel_scope.cancel()
