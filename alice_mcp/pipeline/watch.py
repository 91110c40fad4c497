"""Watch mode's file events: when a folder has changes worth a run, and when they have settled.

Besides the inbox, the watcher listens to other folders (the organized tree: a file moved,
renamed, changed or removed there by hand is followed on the next run), once they exist.

A file changed in the last `settle_seconds` may still be being written, so a run defers it and
the watcher runs again once it has settled. A file that lands after a run listed the inbox but
before the watcher listens makes no event: the folders' mtimes, compared once it listens, catch
it. Bursts of events become one run. If the folder disappears, the watcher waits for it to come
back. What a run does is the caller's: Library.watch() passes a function that organizes the
inbox and says whether it deferred files.
Cancelling the watcher cancels the current run, which stops cleanly between files.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import structlog
import watchfiles

from alice_mcp import threads
from alice_mcp.results import OrganizeReport

log = structlog.get_logger(__name__)

# a run of the caller's; True when it left files for later (they changed too recently)
Run = Callable[[], Awaitable[bool]]


@dataclass(slots=True)
class WatchState:
    """What the watcher has done so far (shown by tests and the final log line)."""

    runs: int = 0
    organized: int = 0
    errors: int = 0
    reports: deque[OrganizeReport] = field(default_factory=lambda: deque(maxlen=20))  # latest

    def record(self, report: OrganizeReport) -> None:
        """Count one run's outcome."""
        self.runs += 1
        self.organized += report.organized
        self.errors += len(report.errors)
        self.reports.append(report)

    def log_summary(self) -> None:
        log.info("stopped watching", runs=self.runs, organized=self.organized,
                 errors=self.errors)


async def watch_folder(folder: Path, run: Run, *, also: Sequence[Path] = (),
                       settle_seconds: float = 1.0, poll_seconds: float = 0.5) -> None:
    """Call run() now, then whenever the changes in the folder (or in those of `also` that
    exist) have settled, until cancelled."""
    log.info("watching the inbox", inbox=str(folder), settle_seconds=settle_seconds,
             also=[str(p) for p in also])
    while True:
        await _wait_for(folder, poll_seconds)
        identity = _identity(folder)
        before = await threads.run_in("files", _folders_stamp, folder)
        since = anyio.current_time() if await run() else None
        watched = _existing(folder, also)
        listening = False
        async for changes in watchfiles.awatch(*watched, debounce=int(poll_seconds * 1000),
                                               step=50, rust_timeout=int(poll_seconds * 1000),
                                               yield_on_timeout=True, recursive=True):
            if _identity(folder) != identity:
                log.warning("the inbox was removed or replaced; waiting for it", inbox=str(folder))
                break
            if _existing(folder, also) != watched:
                break  # an also-folder appeared (the first run made the organized tree) or went
            now = anyio.current_time()
            if not listening:  # a file that landed after the run listed the inbox, before the
                listening = True  # watcher listened, made no event: its folder's mtime says so
                if since is None and await threads.run_in(
                        "files", _folders_stamp, folder) != before:
                    since = now
            if changes and since is None:
                since = now
            # run once the folder has been quiet a moment, or at the latest after a few settle
            # periods of a steady stream of arrivals
            if since is not None and (not changes or now - since > 5 * settle_seconds):
                await anyio.sleep(settle_seconds)
                since = anyio.current_time() if await run() else None


def _existing(folder: Path, also: Sequence[Path]) -> list[Path]:
    """The folders to listen to now: the inbox, and those of `also` that are folders."""
    return [folder, *(p for p in also if p.is_dir() and p != folder)]


async def _wait_for(folder: Path, poll_seconds: float) -> None:
    while not folder.is_dir():
        await anyio.sleep(poll_seconds)


def _folders_stamp(folder: Path) -> tuple[int, int]:
    """How many folders the tree has and the latest mtime among them: an entry added to or
    removed from any folder changes it (one stat a folder, none a file)."""
    count, latest = 0, 0
    for root, _dirs, _files in os.walk(folder):
        try:
            mtime = os.stat(root).st_mtime_ns
        except OSError:
            continue
        count, latest = count + 1, max(latest, mtime)
    return count, latest


def _identity(folder: Path) -> tuple[int, int] | None:
    """The folder's device and inode: a removed-and-recreated inbox is a different folder."""
    try:
        st = os.stat(folder)
    except OSError:
        return None
    return st.st_dev, st.st_ino
