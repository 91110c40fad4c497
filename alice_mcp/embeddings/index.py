"""The vectors of one space held in memory for brute-force search, kept in step with the table.

A dot product of unit vectors is their cosine similarity. A matrix of 100,000 x 384 float32
(150 MB) answers a query in a few milliseconds with numpy, where DuckDB's
list_cosine_similarity over the same rows took ~100x longer; the matrix is read from the
embeddings table on first use and read again after the embed stage writes (stale flag), so
it can always be rebuilt from the table.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np

from alice_mcp.store import embeddings as stored
from alice_mcp.store.db import Database
from alice_mcp.store.tags import normalise_tag


@dataclass(frozen=True, slots=True)
class Neighbour:
    asset_id: str
    score: float  # cosine similarity, -1..1
    standing: float = 0.0  # how far above this space's typical similarity to the query, in SDs


class VectorIndex:
    """The (space, model) vectors of a library, searchable by a query vector."""

    def __init__(self, db: Database, space: str, model: str) -> None:
        self.db = db
        self.space = space
        self.model = model
        self._ids: list[str] = []
        self._row: dict[str, int] = {}
        self._matrix = np.zeros((0, 0), dtype=np.float32)
        self._said: dict[str, str] = {}
        self._stale = True
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        """The table changed: read it again before the next search."""
        self._stale = True

    @property
    def loaded(self) -> bool:
        """Whether the vectors are in memory and current (no read on the next search)."""
        return not self._stale

    def __len__(self) -> int:
        self._load()
        return len(self._ids)

    def vector(self, asset_id: str) -> np.ndarray | None:
        self._load()
        row = self._row.get(asset_id)
        return None if row is None else self._matrix[row]

    @property
    def nbytes(self) -> int:
        """Memory held: the matrix, the ids and the words (Python object sizes)."""
        self._load()
        strings = sum(sys.getsizeof(a) for a in self._ids)
        strings += sum(sys.getsizeof(t) for t in self._said.values())
        tables = sys.getsizeof(self._ids) + sys.getsizeof(self._row) + sys.getsizeof(self._said)
        return self._matrix.nbytes + strings + tables

    def said(self, asset_id: str) -> str:
        """What the text space embedded of an asset, in lower case ("" in the image space).

        Held with the vectors (about 20 MB per 100,000 assets) because looking up the words of
        a hundred near assets in DuckDB scans the assets and tags tables on every search (20 ms
        on 100,000 assets, ten times that on 1,000,000): it has no fast lookup by a list of ids."""
        self._load()
        return self._said.get(asset_id, "")

    def nearest(self, query: np.ndarray, limit: int, among: Collection[str] | None = None,
                exclude: str | None = None) -> list[Neighbour]:
        """The `limit` vectors most similar to query, best first; only `among` if given."""
        self._load()
        if not self._ids:
            return []
        everything = self._matrix @ np.asarray(query, dtype=np.float32)
        mean, spread = float(everything.mean()), float(everything.std()) or 1.0
        ids, scores, rows = self._ids, everything, None
        if among is not None:
            rows = np.fromiter((self._row[a] for a in among if a in self._row), dtype=np.int64)
            rows.sort()  # equal scores rank by row, not by how `among` happens to iterate
            if rows.size == 0:
                return []
            scores = everything[rows]
        k = min(limit + (exclude is not None), scores.size)
        top = np.argpartition(-scores, k - 1)[:k] if k < scores.size else np.arange(scores.size)
        top = top[np.lexsort((top, -scores[top]))]
        found = []
        for i in top:
            asset_id = ids[rows[i] if rows is not None else i]
            if asset_id != exclude:
                score = float(scores[i])
                found.append(Neighbour(asset_id, score, (score - mean) / spread))
        return found[:limit]

    def _load(self) -> None:
        if not self._stale:
            return
        with self._lock:
            if self._stale:
                ids, matrix = stored.vectors(self.db, self.space, self.model)
                self._ids, self._matrix = ids, matrix
                self._row = {a: i for i, a in enumerate(ids)}
                if self.space == "text":
                    self._said = {a: normalise_tag(t) for a, t in stored.texts(self.db).items()
                                  if a in self._row}
                self._stale = False
