"""The embed stage: vectors for assets that lack one from the configured models, in batches that
are committed one by one (cancel any time; a rerun resumes), never in the way of organize.

The text space embeds what an asset says (prompt, description, tags; never the negative
prompt); the image space embeds its stored thumbnail with a CLIP image tower. A vector is
made again only when the model or what it was made from (its basis) changed.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from typing import Any

import anyio
import structlog
from cachetools import LRUCache

from alice_mcp import threads
from alice_mcp.embeddings import models
from alice_mcp.embeddings.index import VectorIndex
from alice_mcp.embeddings.settings import EmbeddingsSettings
from alice_mcp.progress import Progress
from alice_mcp.results import EmbedReport
from alice_mcp.store import embeddings as stored
from alice_mcp.store.db import Database

log = structlog.get_logger(__name__)
IMAGE_BASIS = "thumbnail"


def text_basis(text: str) -> str:
    """A fingerprint of the text a vector was made from."""
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


class Embedder:
    """The embedding models and vector indexes of one library, loaded on first use."""

    def __init__(self, db: Database, settings: EmbeddingsSettings) -> None:
        self.db = db
        self.settings = settings
        self._models: dict[str, Any] = {}
        self._indexes: dict[str, VectorIndex] = {}
        self._queries: LRUCache[tuple[str, str], Any] = LRUCache(maxsize=256)

    def model_name(self, space: str) -> str:
        return self.settings.text_model if space == "text" else self.settings.image_model

    def present(self, space: str) -> bool:
        return models.is_present(self.settings.models_dir, self.model_name(space), space)

    def model(self, space: str) -> Any:
        """The loaded model of a space; ModelMissing (saying how to get it) if absent."""
        if space not in self._models:
            self._models[space] = models.load(self.settings.models_dir, self.model_name(space),
                                              space)
        return self._models[space]

    def index(self, space: str) -> VectorIndex:
        name = self.model_name(space)
        found = self._indexes.get(space)
        if found is None or found.model != name:
            found = self._indexes[space] = VectorIndex(self.db, space, name)
        return found

    def query_vector(self, space: str, text: str) -> Any:
        """A description encoded for a space (cached: the same words give the same vector)."""
        key = (space, text)
        if key not in self._queries:
            self._queries[key] = self.model(space).encode_texts([text])[0]
        return self._queries[key]

    async def embed(self, asset_ids: Sequence[str] | None = None, *,
                    progress: Progress | None = None) -> EmbedReport:
        """Embed what lacks a current vector in every space whose model is here."""
        progress = progress or Progress(noun="assets")
        started = time.perf_counter()
        report = EmbedReport(models={s: self.model_name(s) for s in stored.SPACES})
        usable = [s for s in stored.SPACES if self.present(s)]
        report.missing = [models.missing_message(self.settings.models_dir, self.model_name(s),
                                                 s) for s in stored.SPACES if s not in usable]
        if not usable:
            raise models.ModelMissing("no embedding model is on this machine; "
                                      + "; and ".join(report.missing))
        plans = {s: await threads.run_in("files", self._todo, s, asset_ids) for s in usable}
        report.unchanged = sum(unchanged for _, unchanged in plans.values())
        total = sum(len(todo) for todo, _ in plans.values())
        size = self.settings.batch_size
        await progress.start(total, sum(-(-len(t) // size) for t, _ in plans.values()))
        try:
            for space, (todo, _) in plans.items():
                for start in range(0, len(todo), size):
                    batch = todo[start:start + size]
                    done = await threads.run_in("models", self._embed_batch, space,
                                                    batch)
                    setattr(report, f"{space}_embedded", getattr(report, f"{space}_embedded")
                            + done)
                    await progress.advance(len(batch))
        except anyio.get_cancelled_exc_class():
            report.cancelled = True
            raise
        finally:
            for space in usable:
                self.index(space).invalidate()
            report.seconds = round(time.perf_counter() - started, 3)
        return report

    def _todo(self, space: str, asset_ids: Sequence[str] | None) -> tuple[list[Any], int]:
        """What to embed in a space ([(asset_id, basis, text or None)]) and how many are current."""
        model = self.model_name(space)
        have = stored.stored(self.db, space)
        if space == "text":
            items = [(a, text_basis(t), t) for a, t in stored.texts(self.db, asset_ids).items()
                     if t.strip()]
        else:
            wanted = None if asset_ids is None else set(asset_ids)
            items = [(a, IMAGE_BASIS, None) for a in stored.thumbnail_ids(self.db)
                     if wanted is None or a in wanted]
        todo = [item for item in items if have.get(item[0]) != stored.Stored(model, item[1])]
        return todo, len(items) - len(todo)

    def _embed_batch(self, space: str, batch: list[tuple[str, str, str | None]]) -> int:
        model = self.model(space)
        if space == "text":
            vectors = model.encode_texts([text or "" for _, _, text in batch])
            rows = [(a, basis, v) for (a, basis, _), v in zip(batch, vectors, strict=True)]
        else:
            pictures = stored.thumbnails(self.db, [a for a, _, _ in batch])
            kept = [(a, basis) for a, basis, _ in batch if a in pictures]
            vectors = model.encode_images([pictures[a] for a, _ in kept]) if kept else []
            rows = [(a, basis, v) for (a, basis), v in zip(kept, vectors, strict=True)]
        return stored.write(self.db, space, model.name, rows)
