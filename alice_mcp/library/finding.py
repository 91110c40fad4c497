"""Use cases that find and show assets: search, stats, one asset, previews, look-alikes."""

from __future__ import annotations

import json
from pathlib import Path

from alice_mcp.errors import InvalidArgument, MediaError, NotFound
from alice_mcp.library.base import bounded, excerpt
from alice_mcp.library.meaning import Meaning
from alice_mcp.media.probe import open_regular
from alice_mcp.results import (
    AnalysisFailureInfo,
    AnalysisInfo,
    AssetDetail,
    AssetSummary,
    CacheFigures,
    Counted,
    DuplicateGroup,
    DuplicatesResult,
    LibraryStats,
    Location,
    ProcessFigures,
    SearchPage,
    SimilarHit,
    SimilarResult,
    TagInfo,
)
from alice_mcp.store import analyses, assets, locations, stats, tags
from alice_mcp.store import query as q
from alice_mcp.store import similar as lookalikes

MAX_PAGE = 10_000  # results or groups in one answer
MAX_SIMILAR_DISTANCE = 32  # of 64 pHash bits; beyond it everything is "similar"
MAX_DUPLICATE_DISTANCE = 10  # grouping compares every pair within this distance


class Finding(Meaning):
    """search, stats, get_asset, preview, similar and duplicates (by pixels or by meaning)."""

    async def search(self, query: str | q.Query | None = None, *, limit: int = 20,
                     cursor: str | None = None) -> SearchPage:
        """One page of assets matching the query language (or a Query built from filters)."""
        bounded("limit", limit, 1, MAX_PAGE)
        parsed = query if isinstance(query, q.Query) else q.parse(query)
        offset = q.decode_cursor(cursor, parsed) if cursor else 0
        self.forget_outside_writes()
        key = (parsed.key(), limit, offset)
        page = self.search_cache.get(key)
        if page is None:
            generation = self.search_cache.generation
            run = self._search_by_meaning if parsed.semantic else self._search
            page = await self.read(run, parsed, limit, offset)
            self.search_cache.put(key, page, generation)
        return page

    async def matching_ids(self, query: str | q.Query) -> list[str]:
        """Every asset id the query matches (for commands that act on a selection)."""
        parsed = query if isinstance(query, q.Query) else q.parse(query)
        self.forget_outside_writes()
        return await self.read(self._matching_ids, parsed)

    async def warm_up(self) -> None:
        """Read the search indexes into memory now (the server does it at start): the filter
        index (0.6 s per 100,000 assets), then the text vectors if there are any."""
        await self.read(self.filter_index.load)
        await super().warm_up()

    def _search(self, parsed: q.Query, limit: int, offset: int) -> SearchPage:
        index = self._index_for(parsed)
        if index is not None:
            ids, total = index.page(parsed, limit, offset)
        else:
            page = self.db.fetchall(*q.page_sql(parsed, limit, offset))
            ids, total = [a for a, _ in page], (page[0][1] if page else 0)
            if not page and offset:  # past the last page (matches went away since the first)
                total = self.db.fetchall(*q.count_sql(parsed))[0][0]
        rows = self._summaries(ids)
        results = [AssetSummary(
            asset_id=r["asset_id"], path=r["path"], source=r["source"], model=r["model"],
            prompt=excerpt(r["prompt"]), tags=r["tags"], stars=r["stars"],
            width=r["width"], height=r["height"], media_type=r["media_type"],
            created_at=r["created_at"], missing=r["missing"]) for a in ids
            if (r := rows.get(a))]
        more = offset + len(ids) < total
        return SearchPage(results=results, total=total,
                          next_cursor=q.encode_cursor(offset + len(ids), parsed) if more else None)

    async def stats(self) -> LibraryStats:
        """Counts by source, model family, month, stars and media type."""
        return await self.read(self._stats)

    def _stats(self) -> LibraryStats:
        def counted(grouping: str) -> list[Counted]:
            return [Counted(key=k, count=n) for k, n in stats.counted(self.db, grouping)]
        total = stats.totals(self.db)
        snap = self.metrics.snapshot()
        caches = [CacheFigures(name=name, **figures) for name, figures in snap.pop("caches").items()]
        return LibraryStats(
            assets=total["assets"], files=total["files"], tags=total["tags"],
            missing=total["missing"],
            cost_usd_total=total["cost_usd"], by_source=counted("source"),
            by_model_family=counted("model_family"), by_month=counted("month"),
            by_stars=counted("stars"), by_media_type=counted("media_type"),
            database=str(self.db.path or ":memory:"),
            process=ProcessFigures(caches=caches, **snap))

    async def get_asset(self, asset_id: str) -> AssetDetail:
        """Every stored field of one asset, its tags, analyses and locations."""
        def run() -> AssetDetail:
            full = self.resolve_id(asset_id)
            row = assets.asset_fields(self.db, full) or {}
            return AssetDetail(
                asset_id=full, fields=json.loads(json.dumps(row, default=str)),
                tags=[TagInfo(**t) for t in tags.tags_of(self.db, full)],
                analyses=[AnalysisInfo(**a) for a in analyses.analyses_of(self.db, full)],
                failed_analyses=[AnalysisFailureInfo(**f)
                                 for f in analyses.failures_of(self.db, full)],
                locations=[Location(**loc) for loc in locations.locations_of(self.db, full)])
        return await self.read(run)

    async def preview(self, asset_id: str, size: int = 512) -> tuple[bytes, str]:
        """A JPEG of the asset, longest side <= size: from the original when the stored
        thumbnail is smaller than asked, else from the thumbnail."""
        from alice_mcp.media.preview import PREVIEW_MIME, render_preview  # Pillow, when used

        def run() -> tuple[bytes, str]:
            full = self.resolve_id(asset_id)
            stored = assets.thumbnail_of(self.db, full)
            if size > self.settings.media.thumbnail_size:
                for loc in locations.locations_of(self.db, full):
                    try:
                        return render_preview(self.allowed(loc["path"]), size), PREVIEW_MIME
                    except (OSError, ValueError):
                        continue
            if stored is None:
                raise NotFound(f"asset {full} has no thumbnail (videos and undecodable files "
                               "have none) and no readable original")
            return render_preview(stored[1], size), PREVIEW_MIME
        return await self.read(run)

    async def similar(self, asset_id: str | None = None, path: Path | str | None = None, *,
                      max_distance: int = 10, limit: int = 20,
                      by: str = "pixels") -> SimilarResult:
        """Look-alikes of an asset (or an image file): by pixels, assets whose perceptual hash
        is within max_distance bits; by meaning, the nearest embeddings (asset ids only)."""
        from alice_mcp.media.pixels import analyze_pixels  # Pillow and numpy, when used

        bounded("max_distance", max_distance, 0, MAX_SIMILAR_DISTANCE)
        bounded("limit", limit, 1, MAX_PAGE)
        def run() -> SimilarResult:
            if (asset_id is None) == (path is None):
                raise InvalidArgument("give exactly one of asset_id or path")
            if by not in ("pixels", "meaning"):
                raise InvalidArgument(f"by={by!r}: use 'pixels' or 'meaning'")
            if by == "meaning":
                if asset_id is None:
                    raise InvalidArgument("by='meaning' needs an asset_id (an indexed asset)")
                reference = self.resolve_id(asset_id)
                found = self._similar_by_meaning(reference, limit)
                facts = lookalikes.hit_facts(self.db, [h.asset_id for h in found])
                for hit in found:
                    hit.source, prompt, hit.path = facts.get(hit.asset_id, (None, None, None))
                    hit.prompt = excerpt(prompt)
                return SimilarResult(reference=reference, max_distance=max_distance, by=by,
                                     results=found)
            if asset_id is not None:
                reference = self.resolve_id(asset_id)
                phash = assets.phash_of(self.db, reference)
            else:
                file = self.allowed(path)  # type: ignore[arg-type]
                reference = str(file)
                try:
                    with open_regular(file) as fp:
                        phash = analyze_pixels(fp).phash
                except (OSError, MediaError) as exc:
                    raise InvalidArgument(f"cannot read {file} as an image: {exc}") from None
            if phash is None:
                raise InvalidArgument(f"{reference} has no perceptual hash (not a decodable "
                                      "image)")
            hits = lookalikes.similar(self.db, phash, reference if asset_id else None,
                                   max_distance, limit)
            return SimilarResult(reference=reference, max_distance=max_distance,
                                 results=self._hits(hits))
        return await self.read(run)

    async def duplicates(self, scope: str | None = None, *, max_distance: int = 0,
                         limit: int = 50) -> DuplicatesResult:
        """Groups of assets that look the same; scope is a search-language query."""
        bounded("max_distance", max_distance, 0, MAX_DUPLICATE_DISTANCE)
        bounded("limit", limit, 1, MAX_PAGE)
        where = q.build_where(q.parse(scope))
        clause = " AND ".join(where.where) or "TRUE"

        def run() -> DuplicatesResult:
            groups = lookalikes.duplicate_groups(self.db, max_distance, clause, where.params,
                                              limit=10_000)
            shown = [DuplicateGroup(assets=self._hits(g)) for g in groups[:limit]]
            return DuplicatesResult(max_distance=max_distance, groups=shown,
                                    total_groups=len(groups))
        return await self.read(run)

    def _hits(self, hits: list[tuple[str, int]]) -> list[SimilarHit]:
        facts = lookalikes.hit_facts(self.db, [a for a, _ in hits])
        found = []
        for asset_id, distance in hits:
            source, prompt, path = facts.get(asset_id, (None, None, None))
            found.append(SimilarHit(asset_id=asset_id, distance=distance, source=source,
                                    prompt=excerpt(prompt), path=path))
        return found

