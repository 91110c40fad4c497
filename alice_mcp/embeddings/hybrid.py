"""Hybrid ranking: a keyword list and one list per embedding space (text meaning, picture),
fused into one order; each hit keeps why it matched.

Fusion sums standardised scores (CombSUM of z-scores) rather than reciprocal ranks: a space's
similarities are measured in standard deviations above that space's typical similarity to the
query (over the whole library), so a list whose best hits barely stand out (a picture model
asked about words it cannot see) counts little, while a hit far above the rest counts a lot.
Reciprocal rank fusion gives the first hit of a meaningless list as much weight as the first
hit of a meaningful one; with a real prompt library that buried the right answer (tested).
A keyword hit (every word of the description in its prompt, description or tags) adds a
fixed KEYWORD_WEIGHT.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

KEYWORD_WEIGHT = 2.0  # a match of every word counts like a hit two deviations above typical


@dataclass(slots=True)
class Fused:
    """One asset's fused score, whether its words matched, its similarity in each space."""

    asset_id: str
    score: float = 0.0
    keyword: bool = False
    similarity: dict[str, float] = field(default_factory=dict)


def fuse(keyword: Sequence[str],
         spaces: dict[str, Sequence[tuple[str, float, float]]]) -> list[Fused]:
    """Keyword hits and (asset_id, similarity, standing) per space, fused, best first."""
    fused: dict[str, Fused] = {}
    for asset_id in keyword:
        hit = fused.setdefault(asset_id, Fused(asset_id))
        hit.keyword = True
        hit.score += KEYWORD_WEIGHT
    for name, ranked in spaces.items():
        for asset_id, similarity, standing in ranked:
            hit = fused.setdefault(asset_id, Fused(asset_id))
            hit.similarity[name] = similarity
            hit.score += max(standing, 0.0)
    return sorted(fused.values(), key=lambda h: (-h.score, h.asset_id))
