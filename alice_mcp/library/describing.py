"""Use cases that describe assets: tags edited by the user, analyses by a provider."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from alice_mcp.errors import InvalidArgument, NotFound
from alice_mcp.library.sidecars import Sidecars
from alice_mcp.pipeline.aside import set_aside
from alice_mcp.pipeline.pool import in_thread
from alice_mcp.progress import Progress, ProgressListener
from alice_mcp.results import (
    AnalysisEstimate,
    AnalyzeReport,
    FileProblem,
    Placement,
    ResolveResult,
    TagResult,
)
from alice_mcp.sidecars.sync import move_sidecars_along
from alice_mcp.store import analyses, assets, locations, tags, upkeep
from alice_mcp.store import query as q

DUPLICATE_TAG = "duplicate"


class Describing(Sidecars):
    """tag, resolve_duplicates, analyze and estimate_analysis."""

    async def tag(self, asset_ids: Sequence[str], add: Sequence[str] = (),
                  remove: Sequence[str] = (), category: str = "custom",
                  stars: int | None = None) -> TagResult:
        """Add and remove tags on many assets in one transaction (user tags, never overwritten),
        and set their stars (1-5, 0 clears) if given."""
        if category not in tags.TAG_CATEGORIES:
            raise InvalidArgument(f"unknown tag category {category!r}; use one of "
                                  f"{', '.join(tags.TAG_CATEGORIES)}")
        if not add and not remove and stars is None:
            raise InvalidArgument("nothing to do: give tags to add and/or remove, or stars")
        if stars is not None and not 0 <= stars <= 5:
            raise InvalidArgument(f"stars={stars}: give 1 to 5 stars, or 0 to clear them")

        def run() -> tuple[TagResult, list[str]]:
            found = assets.resolve_prefixes(self.db, asset_ids)
            ids = sorted({m[0] for m in found.values() if len(m) == 1})
            unknown = [given for given, m in found.items() if len(m) != 1]
            added, removed = (tags.edit_tags(self.db, ids, add, remove, category)
                               if ids and (add or remove) else (0, 0))
            if ids and stars is not None:
                assets.set_stars(self.db, ids, stars or None)
            if added >= upkeep.CHECK_AFTER_ROWS:
                upkeep.order_tags_if_needed(self.db)
            return TagResult(updated_assets=len(ids), added=added, removed=removed,
                             unknown_ids=unknown), ids
        result, ids = await in_thread(run)
        self.search_cache.invalidate()
        written = await self.sidecars_after(ids)
        result.sidecars_written = written.written if written else 0
        return result

    async def resolve_duplicates(self, keep: str, others: Sequence[str], *,
                                 move: bool = False) -> ResolveResult:
        """Keep one asset of a duplicate group: the others' tags merge into it (and their
        highest stars, when it has none), the others are tagged 'duplicate' (`keep` loses that
        tag). With move (a library organized with --move), the others' organized files go to
        <organized>/_duplicates/<date>/, journaled; without, no file moves. Nothing is deleted."""
        def run() -> ResolveResult:
            kept = self.resolve_id(keep)
            found = assets.resolve_prefixes(self.db, others)
            ids = sorted({m[0] for m in found.values() if len(m) == 1} - {kept})
            unknown = [given for given, m in found.items() if len(m) != 1]
            if not ids:
                raise InvalidArgument("give at least one other asset of the group (not the "
                                      "kept one) to mark as its duplicate")
            merged, stars = tags.merge_into(self.db, kept, ids, DUPLICATE_TAG)
            result = ResolveResult(kept=kept, marked_duplicate=ids, merged_tags=merged,
                                   stars=stars, unknown_ids=unknown)
            if move:
                self._set_aside(ids, kept, result)
            return result
        result = await in_thread(run)
        self.search_cache.invalidate()
        await self.sidecars_after([result.kept])
        return result

    def _set_aside(self, ids: list[str], kept: str, result: ResolveResult) -> None:
        """Move the organized files of ids into _duplicates/ (their sidecars along with them)."""
        roots = self.settings.organize_roots("organized")
        outcome = set_aside(self.db, ids, roots, self.settings.paths.layout, datetime.now(UTC))
        kept_at = locations.organized_paths(self.db, [kept]).get(kept)
        result.moved = [Placement(source=s, destination=d, asset_id=a, duplicate_of=kept_at)
                        for s, d, a in outcome.moved]
        problems = outcome.problems + move_sidecars_along(
            [(Path(s), Path(d)) for s, d, _ in outcome.moved])
        result.problems = [FileProblem(path=p, reason=r) for p, r in problems]

    async def analyze(self, asset_ids: Sequence[str] | None = None,
                      paths: Sequence[Path | str] | None = None, *, provider: str | None = None,
                      force: bool = False, query: str | None = None,
                      listeners: Sequence[ProgressListener] = ()) -> AnalyzeReport:
        """Describe and tag assets with a provider; the selection is the ids, paths and query
        given, and without any of them every asset that this provider has not analyzed yet."""
        from alice_mcp.understanding.service import UnderstandingService, make_provider

        chosen = make_provider(provider or self.settings.understanding.provider,
                               self.settings.understanding)
        ids = await self._analysis_selection(asset_ids, paths, query)
        service = UnderstandingService(self.db, self.settings)
        try:
            started = datetime.now(UTC)
            report = await service.analyze(ids, chosen, force=force,
                                           progress=Progress(listeners, noun="assets"))
            await in_thread(upkeep.order_tags_if_needed, self.db)
            if self.settings.sidecars.write == "auto":
                await self.sidecars_after(await in_thread(
                    analyses.analyzed_since, self.db, started))
        finally:
            self.search_cache.invalidate()
        self.metrics.api_calls += report.requests
        self.metrics.cost_usd += report.cost_usd
        return report

    async def estimate_analysis(self, asset_ids: Sequence[str] | None = None,
                                paths: Sequence[Path | str] | None = None, *,
                                provider: str | None = None, force: bool = False,
                                query: str | None = None) -> AnalysisEstimate:
        """What analyze would send and cost, without calling anything (no API key needed)."""
        from alice_mcp.understanding.service import UnderstandingService, make_provider

        chosen = make_provider(provider or self.settings.understanding.provider,
                               self.settings.understanding, require_key=False)
        ids = await self._analysis_selection(asset_ids, paths, query)
        return await UnderstandingService(self.db, self.settings).estimate(ids, chosen,
                                                                           force=force)

    async def _analysis_selection(self, asset_ids: Sequence[str] | None,
                                  paths: Sequence[Path | str] | None,
                                  query: str | None) -> list[str] | None:
        if asset_ids is None and paths is None and not query:
            return None
        ids = await in_thread(
            lambda: [self.resolve_id(a) for a in asset_ids or []]
            + self._ids_of_paths(paths or []))
        if query:
            ids += await in_thread(self._matching_ids, q.parse(query))
        return ids

    def _ids_of_paths(self, paths: Sequence[Path | str]) -> list[str]:
        resolved = [str(self.allowed(p)) for p in paths]
        known = locations.assets_at(self.db, resolved)
        missing = [p for p in resolved if p not in known]
        if missing:
            raise NotFound(f"not in the library: {', '.join(missing[:5])}; organize them first")
        return [known[p] for p in resolved]
