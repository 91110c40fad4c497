"""Progress events of a long run, fanned out to log lines, a CLI progress bar, MCP notifications."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import structlog

log = structlog.get_logger("alice_mcp.progress")

# (done, total, message): the shape of MCP progress notifications, used by every listener.
ProgressListener = Callable[[int, int, str], Awaitable[None]]


class Progress:
    """Reports a run's start and each finished batch to every listener and to the log."""

    def __init__(self, listeners: Sequence[ProgressListener] = (), noun: str = "files") -> None:
        self.listeners = list(listeners)
        self.noun = noun
        self.total = 0
        self.done = 0

    async def start(self, total: int, batches: int) -> None:
        self.total, self.done = total, 0
        message = f"Processing {total} {self.noun} in {batches} batches"
        log.info(message, files=total, batches=batches)
        await self._emit(message)

    async def advance(self, count: int) -> None:
        self.done += count
        message = f"Processed {self.done}/{self.total} {self.noun}"
        log.info(message, done=self.done, total=self.total)
        await self._emit(message)

    async def _emit(self, message: str) -> None:
        for listener in self.listeners:
            await listener(self.done, self.total, message)
