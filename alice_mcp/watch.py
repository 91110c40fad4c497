"""Watch mode: organize the inbox, then keep organizing what arrives, driven by OS file events.

A file changed in the last `settle_seconds` may still be being written, so each run defers it
and the watcher runs again once it has settled. Bursts of events become one run. If the inbox
disappears, the watcher waits for it to come back. Cancelling the watcher (Ctrl-C, SIGTERM, the
server stopping) cancels the current run, which stops cleanly between files.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import structlog
import watchfiles

from alice_mcp.library import Library
from alice_mcp.results import OrganizeReport

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class WatchState:
    """What the watcher has done so far (shown by tests and the final log line)."""

    runs: int = 0
    organized: int = 0
    errors: int = 0
    reports: deque[OrganizeReport] = field(default_factory=lambda: deque(maxlen=20))  # latest


def log_watch_summary(state: WatchState) -> None:
    log.info("stopped watching", runs=state.runs, organized=state.organized, errors=state.errors)


async def watch(library: Library, state: WatchState | None = None, *,
                inbox: Path | None = None, organized: Path | None = None, move: bool = False,
                settle_seconds: float = 1.0, poll_seconds: float = 0.5,
                on_report: Callable[[OrganizeReport], None] | None = None) -> None:
    """Organize now, then on every change, until cancelled; progress is kept in state."""
    state = state if state is not None else WatchState()
    folder = library.allowed(inbox) if inbox else library.settings.paths.inbox
    if folder is None:
        await library.organize(inbox, organized)  # raises the library's "no inbox" error
    folder = Path(folder).expanduser().resolve()

    async def run() -> OrganizeReport:
        report = await library.organize(inbox, organized, move=move,
                                        settle_seconds=settle_seconds)
        state.runs += 1
        state.organized += report.organized
        state.errors += len(report.errors)
        state.reports.append(report)
        if on_report:
            on_report(report)
        if report.organized or report.errors:
            log.info("watch: organized new files", organized=report.organized,
                     duplicates=report.duplicates, errors=len(report.errors),
                     deferred=report.deferred)
        return report

    log.info("watching the inbox", inbox=str(folder), settle_seconds=settle_seconds)
    while True:
        await _wait_for(folder, poll_seconds)
        identity = _identity(folder)
        since = anyio.current_time() if (await run()).deferred else None
        async for changes in watchfiles.awatch(folder, debounce=int(poll_seconds * 1000),
                                               step=50, rust_timeout=int(poll_seconds * 1000),
                                               yield_on_timeout=True, recursive=True):
            if _identity(folder) != identity:
                log.warning("the inbox was removed or replaced; waiting for it", inbox=str(folder))
                break
            now = anyio.current_time()
            if changes and since is None:
                since = now
            # run once the folder has been quiet a moment, or at the latest after a few settle
            # periods of a steady stream of arrivals
            if since is not None and (not changes or now - since > 5 * settle_seconds):
                await anyio.sleep(settle_seconds)
                since = anyio.current_time() if (await run()).deferred else None


async def _wait_for(folder: Path, poll_seconds: float) -> None:
    while not folder.is_dir():
        await anyio.sleep(poll_seconds)


def _identity(folder: Path) -> tuple[int, int] | None:
    """The folder's device and inode: a removed-and-recreated inbox is a different folder."""
    try:
        st = os.stat(folder)
    except OSError:
        return None
    return st.st_dev, st.st_ino
