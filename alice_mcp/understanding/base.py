"""What every understanding provider takes and gives: an item to analyze and its Analysis."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel, Field

from alice_mcp.errors import UnderstandingError

__all__ = ["Analysis", "Item", "Provider", "TagGuess", "UnderstandingError", "Usage"]


@dataclass(slots=True)
class Item:
    """One asset as a provider sees it: stored metadata plus its downscaled thumbnail."""

    asset_id: str
    prompt: str | None
    model_family: str | None
    width: int | None
    height: int | None
    thumbnail: bytes | None
    params: dict[str, Any] = field(default_factory=dict)


class TagGuess(BaseModel):
    tag: str
    category: str
    confidence: float = Field(ge=0, le=1)


class Analysis(BaseModel):
    """A provider's answer for one asset."""

    description: str | None = None
    caption: str | None = None
    tags: list[TagGuess] = Field(default_factory=list)
    reconstructed_prompt: str | None = None  # the offline provider's guess; remote ones: None


@dataclass(slots=True)
class Usage:
    """What one provider call cost."""

    tokens_in: int = 0
    tokens_out: int = 0
    usd: float = 0.0


class Provider(Protocol):
    """Analyzes a batch of items in one call (as many as the API allows in one request).

    Remote providers also have `max_batch` (images per request), `needs_images`,
    `estimate(images) -> Usage` (the cost of one call before it is made), `price` and
    `aclose()`; the service treats a provider without them as free and unlimited.
    """

    name: str
    model: str
    prompt_version: str

    async def analyze(self, items: list[Item]) -> tuple[list[Analysis | Exception], Usage]: ...
