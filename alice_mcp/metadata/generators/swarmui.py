"""SwarmUI (StableSwarmUI): JSON `{"sui_image_params": {...}, "sui_models": [...]}`.

PNG: the `parameters` text chunk; JPEG/WebP: EXIF UserComment. Parameter ids are
lower-case names without spaces: prompt, negativeprompt, model, seed, steps, cfgscale,
width, height, sampler, scheduler, loras, swarm_version, date.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from alice_mcp.metadata.base import USER_COMMENT
from alice_mcp.metadata.containers import ContainerMeta
from alice_mcp.metadata.families import model_family
from alice_mcp.metadata.generators import (
    add_unique,
    clean_model_name,
    load_json,
    to_float,
    to_int,
    to_text,
)
from alice_mcp.metadata.models import GenerationInfo

MARKER = '"sui_image_params"'
READS = frozenset({"parameters", USER_COMMENT})  # the fields `parse` looks at


def parse(meta: ContainerMeta, filename: str) -> GenerationInfo | None:
    """Read SwarmUI's JSON from `parameters` or the EXIF UserComment."""
    text, where = _find(meta)
    if text is None:
        return None
    info = GenerationInfo(source="swarmui", source_name="SwarmUI", confidence=0.6, evidence=[where])
    info.add_raw("parameters", text)
    data = load_json(text, "swarmui parameters", info)
    params = data.get("sui_image_params") if isinstance(data, dict) else None
    if isinstance(params, dict):
        info.confidence = 0.95
        _apply(info, params)
    elif data is not None:
        info.errors.append("swarmui: sui_image_params is not an object")
    return info


def _find(meta: ContainerMeta) -> tuple[str | None, str]:
    """JSON text carrying the `sui_image_params` marker."""
    text = meta.text.get("parameters")
    if text is not None and MARKER in text[:4096]:
        return text, f"{meta.text_source.get('parameters', 'png')}:parameters"
    comment = meta.exif_user_comment
    if comment is not None and MARKER in comment[:4096]:
        return comment, f"{meta.format}:exif:UserComment"
    return None, ""


def _apply(info: GenerationInfo, p: dict[str, Any]) -> None:
    """Copy SwarmUI parameter ids into the typed fields."""
    info.prompt = to_text(p.get("prompt"))
    info.negative_prompt = to_text(p.get("negativeprompt"))
    info.seed = to_int(p.get("seed"))
    info.steps = to_int(p.get("steps"))
    info.cfg = to_float(p.get("cfgscale"))
    info.sampler = to_text(p.get("sampler"))
    info.scheduler = to_text(p.get("scheduler"))
    info.model = clean_model_name(to_text(p.get("model")))
    info.width, info.height = to_int(p.get("width")), to_int(p.get("height"))
    loras = p.get("loras")
    for name in loras if isinstance(loras, list) else []:
        add_unique(info.loras, clean_model_name(to_text(name)))
    info.created_at = _date(p.get("date"))
    info.model_family = model_family(info.model, info.width, info.height)


def _date(value: Any) -> datetime | None:
    """SwarmUI's `date` (YYYY-MM-DD, sometimes with a time) as aware UTC."""
    if not isinstance(value, str) or not value.strip():
        return None
    return _parse_date(value)


@lru_cache(maxsize=1024)
def _parse_date(value: str) -> datetime | None:
    """Parse a non-empty date text; cached, as many files share a day."""
    try:
        dt = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).astimezone(UTC)
