"""Use cases of search by meaning: embed assets, fetch models, hybrid search, look-alikes by
meaning. The models and vectors are the Embedder's (embeddings/), imported by the methods
that use them: numpy, Pillow and httpx stay out of a CLI start-up that needs none of them."""

from __future__ import annotations

from collections.abc import Sequence

import anyio
import structlog

from alice_mcp.embeddings.hybrid import fuse
from alice_mcp.errors import InvalidArgument
from alice_mcp.library.base import LibraryBase, excerpt
from alice_mcp.progress import Progress, ProgressListener
from alice_mcp.results import (
    AssetSummary,
    EmbedReport,
    MatchInfo,
    ModelStatus,
    SearchPage,
    SimilarHit,
)
from alice_mcp.store import assets
from alice_mcp.store import embeddings as vectors
from alice_mcp.store import query as q
from alice_mcp.store.tags import normalise_tag

log = structlog.get_logger(__name__)
RANKED = 100  # hits taken from each ranked list before fusion
AUTO_EVERY_SECONDS = 30.0
STOP_WORDS = frozenset(["the", "and", "with", "for", "from", "into", "onto", "over", "under", "near", "that", "this", "its", "are", "was", "were", "has", "have", "had", "not", "but", "all", "any"])


class Meaning(LibraryBase):
    """embed, models_status, pull_models, and the hybrid ranking behind search and similar."""

    async def embed(self, query: str | q.Query | None = None, *,
                    listeners: Sequence[ProgressListener] = ()) -> EmbedReport:
        """Give assets (those the query matches, else all) the vectors they lack."""
        ids = None
        if query:
            parsed = query if isinstance(query, q.Query) else q.parse(query)
            ids = await self.read(self._matching_ids, parsed)
        report = None
        try:
            report = await self.embedder.embed(ids, progress=Progress(listeners, noun="assets"))
            return report
        finally:  # a run that embedded nothing leaves the caches and the filter index current
            if report is None or report.text_embedded or report.image_embedded:
                self.search_cache.invalidate()

    async def embed_new(self) -> EmbedReport | None:
        """embeddings.auto: embed what lacks vectors; a missing model is logged once, not raised."""
        from alice_mcp.embeddings import models as embedding_models

        try:
            report = await self.embed()
        except embedding_models.ModelMissing as exc:
            if not getattr(self, "_auto_warned", False):
                log.warning("embeddings.auto is on but no model is here", reason=str(exc))
                self._auto_warned = True
            return None
        if report.text_embedded or report.image_embedded:
            log.info("embedded new assets", text=report.text_embedded,
                     image=report.image_embedded, seconds=report.seconds)
        return report

    async def warm_up(self) -> None:
        """Read the text index into memory now (the server does it at start), so the first
        search by meaning does not wait for it: 2.6 s per 100,000 assets, 34 s per 1,000,000
        (BENCHMARKS.md). Nothing happens without a text model or vectors."""
        if self.embedder.present("text") and vectors.counts(self.db):
            await self.read(len, self.embedder.index("text"))

    async def embed_while_serving(self, every_seconds: float = AUTO_EVERY_SECONDS) -> None:
        """The server's share of embeddings.auto: now and then, embed what arrived."""
        while True:
            await anyio.sleep(every_seconds)
            await self.embed_new()

    def models_status(self) -> list[ModelStatus]:
        """Each configured model: here or not, where, vectors made, how to get it."""
        from alice_mcp.embeddings import models as embedding_models

        counts = vectors.counts(self.db)
        conf = self.settings.embeddings
        found = []
        for space in vectors.SPACES:
            name = self.embedder.model_name(space)
            present = self.embedder.present(space)
            found.append(ModelStatus(
                space=space, model=name, present=present,
                folder=str(embedding_models.model_folder(conf.models_dir, name)),
                vectors=counts.get((space, name), 0),
                how_to_get=None if present else embedding_models.missing_message(
                    conf.models_dir, name, space)))
        return found

    async def pull_models(self, listener: ProgressListener | None = None) -> list[ModelStatus]:
        """Download the configured models that are not here yet (the only network use)."""
        from alice_mcp.embeddings.pull import pull

        wanted = [s.model for s in self.models_status() if not s.present]
        await pull(self.settings.embeddings, wanted, listener)
        return self.models_status()

    def _search_by_meaning(self, parsed: q.Query, limit: int, offset: int) -> SearchPage:
        """Keyword, text-meaning and picture rankings within the query's filters, fused
        (embeddings/hybrid.py says how)."""
        from alice_mcp.embeddings import models as embedding_models

        text = parsed.semantic or ""
        narrowed = parsed.without_meaning()
        # an unfiltered query narrows only if some asset is missing (hidden by default)
        filtered = (len(q.build_where(narrowed).where) > 1 or narrowed.missing
                    or assets.any_missing(self.db))
        among = set(self._matching_ids(narrowed)) if filtered else None
        usable = [s for s in vectors.SPACES if self.embedder.present(s)]
        if not usable:
            raise embedding_models.ModelMissing(
                "search by meaning needs an embedding model; " + "; and ".join(
                    embedding_models.missing_message(self.settings.embeddings.models_dir,
                                                     self.embedder.model_name(s), s)
                    for s in vectors.SPACES))
        lists: dict[str, list[tuple[str, float, float]]] = {}
        for space, name in (("text", "text"), ("image", "picture")):
            if space in usable and len(self.embedder.index(space)):
                vector = self.embedder.query_vector(space, text)
                lists[name] = [(n.asset_id, n.score, n.standing) for n in
                               self.embedder.index(space).nearest(vector, RANKED, among)]
        keyword_ids = self._keyword_hits(narrowed, text, lists)
        fused = fuse(keyword_ids, lists)
        page = fused[offset:offset + limit]
        rows = self._summaries([h.asset_id for h in page])
        results = [AssetSummary(
            asset_id=r["asset_id"], path=r["path"], source=r["source"], model=r["model"],
            prompt=excerpt(r["prompt"]), tags=r["tags"], stars=r["stars"], width=r["width"],
            height=r["height"], media_type=r["media_type"], created_at=r["created_at"],
            match=MatchInfo(keyword=h.keyword, text=_rounded(h.similarity, "text"),
                            picture=_rounded(h.similarity, "picture"),
                            score=round(h.score, 6)))
            for h in page if (r := rows.get(h.asset_id))]
        more = offset + len(page) < len(fused)
        return SearchPage(results=results, total=len(fused),
                          next_cursor=q.encode_cursor(offset + len(page), parsed) if more
                          else None)

    def _keyword_hits(self, narrowed: q.Query, text: str,
                      lists: dict[str, list[tuple[str, float, float]]]) -> list[str]:
        """Assets holding every significant word of the description. With a text space, only
        its nearest assets are checked, in the words the index holds (a prompt with all the
        words is near in meaning too, and a free-word scan of a big library costs hundreds of
        milliseconds); without one, the keyword search finds them."""
        words = significant_words(text)
        if not words:
            return []
        if "text" not in lists:
            wider = _with_words(narrowed, words)
            return [a for a, _ in self.db.fetchall(*q.page_sql(wider, RANKED, 0))]
        near = list(dict.fromkeys(a for ranked in lists.values() for a, _, _ in ranked))
        index = self.embedder.index("text")
        return [a for a in near if all(w in index.said(a) for w in words)]

    def _similar_by_meaning(self, reference: str, limit: int) -> list[SimilarHit]:
        """Assets nearest in meaning to one asset: by picture when it has one, else by text."""
        for space in ("image", "text"):
            if not self.embedder.present(space):
                continue
            index = self.embedder.index(space)
            vector = index.vector(reference)
            if vector is not None:
                return [SimilarHit(asset_id=n.asset_id, similarity=round(n.score, 6), path=None)
                        for n in index.nearest(vector, limit, exclude=reference)]
        if not any(self.embedder.present(s) for s in vectors.SPACES):
            self.embedder.model("image")  # raises ModelMissing with both ways to get it
        raise InvalidArgument(f"{reference} has no embedding yet; run `alice embed` (or the "
                              "embed tool) first")


def significant_words(text: str) -> list[str]:
    """The words of a description worth matching literally (no short or common words)."""
    words = [w.strip(".,;:!?\"'()") for w in normalise_tag(text).split()]
    return list(dict.fromkeys(w for w in words if len(w) > 2 and w not in STOP_WORDS))[:6]


def _with_words(query: q.Query, words: list[str]) -> q.Query:
    """The query with more free words, each of which must match."""
    extended = query.without_meaning()
    extended.words = [*query.words, *words]
    return extended


def _rounded(similarity: dict[str, float], name: str) -> float | None:
    value = similarity.get(name)
    return None if value is None else round(value, 6)
