"""Use cases that bring files in: organize an inbox, watch it, index a collection in place,
inspect files."""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from alice_mcp.errors import InvalidArgument, NotFound, OutsideRoots
from alice_mcp.library.meaning import Meaning
from alice_mcp.library.sidecars import Sidecars
from alice_mcp.pipeline.follow import follow_tree
from alice_mcp.pipeline.organize import OrganizeRun
from alice_mcp.pipeline.pool import in_thread
from alice_mcp.pipeline.remote import follow_tree_on_dask
from alice_mcp.pipeline.watch import WatchState, watch_folder
from alice_mcp.progress import Progress, ProgressListener
from alice_mcp.results import FileProblem, IndexReport, OrganizeReport

log = structlog.get_logger(__name__)


class Organizing(Meaning, Sidecars):
    """organize, watch, index and inspect."""

    async def organize(self, inbox: Path | str | None = None,
                       organized: Path | str | None = None, *, move: bool = False,
                       dry_run: bool = False, settle_seconds: float = 0.0,
                       listeners: Sequence[ProgressListener] = (),
                       follow: bool = True) -> OrganizeReport:
        """Index the inbox and place each new file in the organized tree (copy unless move);
        with follow, then walk the organized tree to follow what changed there by hand."""
        inbox_dir, organized_dir = self._folders(inbox, organized)
        run = OrganizeRun(self.db, self.settings, inbox_dir, organized_dir, move=move,
                          dry_run=dry_run, settle_seconds=settle_seconds,
                          progress=Progress([*listeners, self.metrics.track()]))
        try:
            async with self.monitoring():
                report = await run.perform()
                if not dry_run:
                    await self.follow_organized(organized_dir, report, run, walk=follow)
        finally:
            if not dry_run:
                self.search_cache.invalidate()
        if self.settings.performance.log_performance_metrics:
            log.info("organize finished", seconds=report.seconds, organized=report.organized,
                     duplicates=report.duplicates, errors=len(report.errors),
                     **report.counters.model_dump())
        return report

    async def watch(self, state: WatchState | None = None, *, inbox: Path | None = None,
                    organized: Path | None = None, move: bool = False,
                    settle_seconds: float = 1.0,
                    on_report: Callable[[OrganizeReport], None] | None = None) -> None:
        """Organize the inbox now, then each time new files have settled, until cancelled."""
        state = state if state is not None else WatchState()
        folder, tree = self._folders(inbox, organized)

        async def run() -> bool:
            # every run follows the organized tree too (one stat per unchanged file): what the
            # user moved, renamed, changed or removed there by hand is followed while watching
            report = await self.organize(inbox, organized, move=move,
                                         settle_seconds=settle_seconds)
            state.record(report)
            if report.organized and self.settings.embeddings.auto:
                await self.embed_new()
            if on_report:
                on_report(report)
            if report.organized or report.errors:
                log.info("watch: organized new files", organized=report.organized,
                         duplicates=report.duplicates, errors=len(report.errors),
                         deferred=report.deferred)
            if report.relinked or report.indexed_in_place or report.missing:
                log.info("watch: followed the organized tree", relinked=report.relinked,
                         indexed_in_place=report.indexed_in_place, missing=len(report.missing))
            return bool(report.deferred)

        async with self.monitoring():
            await watch_folder(folder, run, also=[tree], settle_seconds=settle_seconds)

    def _folders(self, inbox: Path | str | None,
                 organized: Path | str | None) -> tuple[Path, Path]:
        """The inbox and organized folders to use: given ones inside the roots, else settings."""
        inbox_dir = self._folder(self.allowed(inbox) if inbox else self.settings.paths.inbox,
                                 "inbox", must_exist=True)
        organized_dir = self._folder(self.allowed(organized) if organized
                                     else self.settings.paths.organized, "organized")
        if inbox_dir == organized_dir or inbox_dir.is_relative_to(organized_dir):
            raise InvalidArgument(f"the inbox {inbox_dir} lies inside the organized folder "
                                  f"{organized_dir}; choose folders that do not overlap")
        if inbox:
            self._writable(inbox_dir, "inbox")
        if organized:
            self._writable(organized_dir, "organized")
        return inbox_dir, organized_dir

    def _writable(self, resolved: Path, role: str) -> Path:
        """A folder organize may use as its inbox or organized tree: inside the configured one
        of that role, or inside an extra root marked `mode: write` (others are read-only)."""
        scope = self.settings.organize_roots(role)
        if any(resolved == root or resolved.is_relative_to(root) for root in scope):
            return resolved
        verb = "take files from" if role == "inbox" else "write into"
        raise OutsideRoots(
            f"organize may not {verb} {resolved}: it is not inside paths.{role} "
            f"({', '.join(map(str, scope)) or 'not set'}), and extra roots are read-only unless "
            "marked `mode: write` in paths.extra_roots")

    def _folder(self, path: Path | None, role: str, must_exist: bool = False) -> Path:
        if path is None:
            raise InvalidArgument(f"no {role} folder given; pass --{role} PATH or set "
                                  f"paths.{role} in settings.yaml (see `alice profiles`)")
        resolved = Path(path).expanduser().resolve()
        if must_exist and not resolved.is_dir():
            raise NotFound(f"the {role} folder {resolved} does not exist or is not a folder")
        if resolved.exists() and not resolved.is_dir():
            raise InvalidArgument(f"the {role} path {resolved} is a file, not a folder")
        return resolved

    async def index(self, folder: Path | str, *,
                    on_indexed: Callable[[int, int], None] | None = None) -> IndexReport:
        """Index a collection where it lies: nothing is copied or moved. A rerun reads only
        what changed, re-links moved files and marks vanished ones missing (as the organized
        tree's rescan does); the folder must lie inside the roots."""
        root = self._folder(self.allowed(folder), "collection", must_exist=True)
        organized = self.settings.paths.organized
        if organized is not None and root.is_relative_to(organized.expanduser().resolve()):
            raise InvalidArgument(f"{root} lies inside the organized folder, which every "
                                  "organize run follows already; index another folder")
        started = time.perf_counter()
        media, perf = self.settings.media, self.settings.performance
        try:
            if perf.executor == "dask":  # the walk and the writes here, the reading on workers
                state = await follow_tree_on_dask(self.db, root, datetime.now(UTC),
                                                  self.settings, on_indexed=on_indexed)
            elif perf.executor == "processes":
                from alice_mcp.pipeline.processes import follow_tree_in_processes
                state = await follow_tree_in_processes(self.db, root, datetime.now(UTC),
                                                       self.settings, on_indexed=on_indexed)
            else:
                state = await in_thread(functools.partial(
                    follow_tree, self.db, root, datetime.now(UTC),
                    stars_thresholds=media.stars_thresholds, thumb_size=media.thumbnail_size,
                    stealth=self.settings.metadata.stealth, role="indexed",
                    workers=perf.max_workers, on_indexed=on_indexed))
        finally:
            self.search_cache.invalidate()
        return IndexReport(
            folder=str(root), unchanged=state.unchanged, indexed=len(state.indexed_in_place),
            relinked=len(state.relinked), missing=state.missing,
            errors=[FileProblem(path=p, reason=r) for p, r in state.problems],
            seconds=round(time.perf_counter() - started, 3))

    async def inspect(self, paths: Sequence[Path], *,
                      stealth: bool | None = None) -> list[dict[str, Any]]:
        """What generated each file and with which parameters; errors are per file."""
        from alice_mcp.metadata import detect_path  # the readers load when first used

        look_in_pixels = self.settings.metadata.stealth if stealth is None else stealth

        def one(path: Path) -> dict[str, Any]:
            if not path.is_file():
                return {"path": str(path), "error": "not a regular file (folder, device, pipe, "
                        "socket or a link that leads nowhere)" if os.path.lexists(path)
                        else "no such file"}
            return {"path": str(path), **detect_path(path, stealth=look_in_pixels).to_dict()}
        return [await in_thread(one, Path(p)) for p in paths]

