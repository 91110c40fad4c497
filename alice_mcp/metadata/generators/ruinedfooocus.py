"""RuinedFooocus: a JSON `parameters` chunk whose keys differ from Fooocus's.

Keys: Prompt, Negative, steps, cfg, width, height, seed, sampler_name, scheduler,
base_model_name, base_model_hash, loras, clip_skip, software ("RuinedFooocus").
Some versions store the JSON as a JSON string (encoded twice); both are read.
"""

from __future__ import annotations

from typing import Any

from alice_mcp.metadata.base import USER_COMMENT_JSON
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

READS = frozenset({"parameters", USER_COMMENT_JSON})  # the fields `parse` looks at
MARKERS = ("RuinedFooocus", "base_model_name")  # (the key, quoted or escaped-quoted)
_JSON_STARTS = ("{", '"')
TYPED = {"Prompt", "Negative", "steps", "cfg", "width", "height", "seed", "sampler_name",
         "scheduler", "base_model_name", "loras"}  # fmt: skip


def parse(meta: ContainerMeta, filename: str) -> GenerationInfo | None:
    """Recognise RuinedFooocus JSON by its software name or `base_model_name` key."""
    text, where = _find(meta)
    if text is None:
        return None
    info = GenerationInfo(source="ruinedfooocus", source_name="RuinedFooocus", engine="fooocus",
                          confidence=0.6, evidence=[where])  # fmt: skip
    info.add_raw("parameters", text)
    data = load_json(text, "ruinedfooocus parameters", info)
    if isinstance(data, str) and data.lstrip().startswith("{"):
        data = load_json(data, "ruinedfooocus parameters", info)  # encoded twice
    if not isinstance(data, dict):
        if data is not None:
            info.errors.append("ruinedfooocus: parameters is not an object")
        return info
    if "Prompt" not in data and "base_model_name" not in data:
        return None  # the marker was only in a value: someone else's JSON
    info.confidence = 0.95
    _apply(info, data)
    return info


def _find(meta: ContainerMeta) -> tuple[str | None, str]:
    """JSON text carrying a RuinedFooocus marker, from `parameters` or the UserComment."""
    text = meta.text.get("parameters")
    if text is not None and _marked(text):
        return text, f"{meta.text_source.get('parameters', 'png')}:parameters"
    text = meta.exif_user_comment
    if text is not None and _marked(text):
        return text, f"{meta.format}:exif:UserComment"
    return None, ""


def _marked(text: str) -> bool:
    """JSON (or JSON encoded as a JSON string) naming RuinedFooocus or its model key."""
    return text[:8].lstrip()[:1] in _JSON_STARTS and (MARKERS[0] in text or MARKERS[1] in text)


def _apply(info: GenerationInfo, data: dict[str, Any]) -> None:
    """Copy the RuinedFooocus keys into the typed fields; keep the others in `extra`."""
    info.prompt = to_text(data.get("Prompt"))
    info.negative_prompt = to_text(data.get("Negative"))
    info.seed = to_int(data.get("seed"))
    info.steps = to_int(data.get("steps"))
    info.cfg = to_float(data.get("cfg"))
    info.sampler = to_text(data.get("sampler_name"))
    info.scheduler = to_text(data.get("scheduler"))
    info.model = clean_model_name(to_text(data.get("base_model_name")))
    info.width, info.height = to_int(data.get("width")), to_int(data.get("height"))
    loras = data.get("loras")
    for item in loras if isinstance(loras, list) else []:
        name = item[0] if isinstance(item, list | tuple) and item else item
        add_unique(info.loras, clean_model_name(to_text(name)))
    for key, value in data.items():
        if key not in TYPED and value not in (None, "", [], {}):
            info.add_extra(key, value)
    info.model_family = model_family(info.model, info.width, info.height)
