"""Use cases that keep the library and the files in step: XMP sidecars written and read back,
the organized tree followed (moves, renames, files gone or added by hand), and export."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from alice_mcp.errors import InvalidArgument
from alice_mcp.library.base import LibraryBase
from alice_mcp.pipeline.follow import follow_tree
from alice_mcp.pipeline.organize import OrganizeRun
from alice_mcp.pipeline.pool import in_thread
from alice_mcp.results import ExportResult, FileProblem, OrganizeReport, SidecarReport
from alice_mcp.sidecars.sync import (
    SyncOutcome,
    bring_along,
    pair_sidecars,
    read_changed,
    write_sidecars,
)
from alice_mcp.store import export, sidecars
from alice_mcp.store import query as q

MAX_REPORTED = 200
EXPORT_FORMATS = ("csv", "json", "parquet")


class Sidecars(LibraryBase):
    """write_sidecars, export, and what organize does after placing: follow the tree."""

    async def write_sidecars(self, query: str | q.Query | None = None) -> SidecarReport:
        """Write `<file>.<ext>.xmp` beside every organized file of the assets the query
        matches (all without one); a sidecar a user edited is read back first."""
        parsed = query if isinstance(query, q.Query) else q.parse(query)

        def run() -> SyncOutcome:
            outcome = SyncOutcome()
            ids = q.matching_ids(self.db, parsed)
            write_sidecars(self.db, ids, self.settings.sidecars.naming, datetime.now(UTC),
                           outcome)
            return outcome
        outcome = await in_thread(run)
        self.search_cache.invalidate()
        return _sidecar_report(outcome)

    async def sidecars_after(self, asset_ids: Sequence[str]) -> SidecarReport | None:
        """With sidecars.write: auto, write the sidecars of these assets (after tag, analyze)."""
        if self.settings.sidecars.write != "auto" or not asset_ids:
            return None
        outcome = SyncOutcome()
        await in_thread(lambda: write_sidecars(
            self.db, list(asset_ids), self.settings.sidecars.naming, datetime.now(UTC), outcome))
        return _sidecar_report(outcome)

    async def follow_organized(self, organized: Path, report: OrganizeReport,
                               run: OrganizeRun | None = None, *, walk: bool = True) -> None:
        """After placing: bring the inbox's sidecars along with their files, walk the
        organized tree once (re-link, mark missing, index what was added by hand; skipped
        without walk), read the sidecars edited since, write the ones still unwritten."""
        media = self.settings.media

        def follow() -> None:
            now = datetime.now(UTC)
            outcome = SyncOutcome()
            brought = {} if run is None else bring_along(
                run.sidecars, run.placed, move=run.move, naming=self.settings.sidecars.naming,
                outcome=outcome)
            state = follow_tree(self.db, organized if walk else None, now,
                                stars_thresholds=media.stars_thresholds,
                                thumb_size=media.thumbnail_size,
                                stealth=self.settings.metadata.stealth,
                                workers=self.settings.performance.max_workers,
                                settle_seconds=run.settle_seconds if run is not None else 0.0)
            report.relinked = len(state.relinked)
            report.deferred += len(state.deferred)
            report.indexed_in_place = len(state.indexed_in_place)
            report.missing = state.missing[:MAX_REPORTED]
            placed = [Path(dst) for _, dst in run.placed.values()] if run is not None else []
            read_changed(self.db, pair_sidecars(state.sidecars | brought, state.media + placed),
                         now, outcome)
            if self.settings.sidecars.write == "auto":
                ids = {a for a, _ in run.placed.values()} if run is not None else set()
                write_sidecars(self.db, sorted(ids | set(sidecars.without_sidecar(self.db))),
                               self.settings.sidecars.naming, now, outcome)
            report.sidecars_read, report.sidecars_written = outcome.read, outcome.written
            report.warnings += [FileProblem(path=p, reason=r)
                                for p, r in (state.problems + outcome.problems)[:MAX_REPORTED]]
        await in_thread(follow)

    async def export(self, query: str | q.Query | None = None, *, fmt: str | None = None,
                     output: Path | str | None = None, limit: int | None = None) -> ExportResult:
        """The export rows of the assets a query matches: written to output (csv, json or
        parquet, by DuckDB's COPY) when given, else returned (at most limit of them)."""
        parsed = query if isinstance(query, q.Query) else q.parse(query)
        if output is not None:
            chosen = fmt or Path(output).suffix.lstrip(".").lower()
            if chosen not in EXPORT_FORMATS:
                raise InvalidArgument(f"cannot export as {chosen!r}; use --format "
                                      f"{'|'.join(EXPORT_FORMATS)}")
            target = Path(output).expanduser().absolute()  # the user's own file: any folder
            total = await in_thread(
                lambda: export.copy_to(self.db, parsed, target, chosen))
            return ExportResult(total=total, file=str(target), format=chosen)
        rows, total = await in_thread(
            lambda: export.rows(self.db, parsed, limit))
        return ExportResult(total=total, rows=rows)


def _sidecar_report(outcome: SyncOutcome) -> SidecarReport:
    return SidecarReport(written=outcome.written, read=outcome.read,
                         tags_added=outcome.tags_added, tags_removed=outcome.tags_removed,
                         stars_changed=outcome.stars_changed,
                         problems=[FileProblem(path=p, reason=r)
                                   for p, r in outcome.problems[:MAX_REPORTED]])
