"""The result of generator detection: what made a file and with which parameters."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

RAW_VALUE_CAP = 64 * 1024
MAX_EXTRA = 200  # extra parameters kept per file


def _json(value: object) -> str:
    """Compact JSON of a parsed value (str() when it is not JSON-able)."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return str(value)[:RAW_VALUE_CAP]


@dataclass(slots=True)
class GenerationInfo:
    """Generator, parameters and evidence for one file; every field optional but source."""

    source: str = "unknown"
    source_name: str = "Unknown"
    engine: str | None = None  # the engine a service or front-end runs (comfyui, a1111, ...)
    confidence: float = 0.0
    evidence: list[str] = field(default_factory=list)
    prompt: str | None = None
    negative_prompt: str | None = None
    seed: int | None = None
    steps: int | None = None
    sampler: str | None = None
    scheduler: str | None = None
    cfg: float | None = None
    model: str | None = None
    model_family: str | None = None
    loras: list[str] = field(default_factory=list)
    width: int | None = None
    height: int | None = None
    created_at: datetime | None = None
    media_type: str | None = None  # "image" or "video", from the container
    duration_s: float | None = None  # videos and animated GIFs
    codec: str | None = None
    fps: float | None = None
    # parameters beyond the typed fields, never dropped (A1111-style text: every key as written)
    extra: dict[str, str] = field(default_factory=dict)
    raw: dict[str, str] = field(default_factory=dict)
    reason: str | None = None  # why a file with metadata is still `unknown`
    errors: list[str] = field(default_factory=list)

    def add_raw(self, key: str, value: str) -> None:
        """Keep a raw text chunk for full-text search, capped so one file cannot bloat the index."""
        self.raw[key] = value[:RAW_VALUE_CAP]

    def add_extra(self, key: str, value: object) -> None:
        """Keep a parameter the typed fields do not hold (capped like raw text)."""
        if key not in self.extra and len(self.extra) < MAX_EXTRA:
            text = value if isinstance(value, str) else _json(value)
            self.extra[key] = text[:RAW_VALUE_CAP]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (datetimes as ISO strings, lists copied)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, list):
                value = list(value)
            elif isinstance(value, dict):
                value = dict(value)
            out[f.name] = value
        return out
