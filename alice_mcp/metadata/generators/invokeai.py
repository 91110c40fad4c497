"""InvokeAI 3+ PNG: `invokeai_metadata` JSON (positive_prompt, seed, model{...}, ...)."""

from __future__ import annotations

from typing import Any

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

READS = frozenset({"invokeai_metadata"})  # the fields `parse` looks at
BASE_FAMILY = {"sd-1": "sd15", "sd-2": "sd2", "sdxl": "sdxl", "sd-3": "sd3", "flux": "flux"}


def parse(meta: ContainerMeta, filename: str) -> GenerationInfo | None:
    """Read InvokeAI's `invokeai_metadata` JSON chunk."""
    text = meta.text.get("invokeai_metadata")
    if text is None:
        return None
    info = GenerationInfo(
        source="invokeai",
        source_name="InvokeAI",
        confidence=0.6,
        evidence=[f"{meta.text_source.get('invokeai_metadata', 'png')}:invokeai_metadata"],
    )
    info.add_raw("invokeai_metadata", text)
    data = load_json(text, "invokeai metadata", info)
    if isinstance(data, dict):
        info.confidence = 0.95
        _apply(info, data)
    return info


def _apply(info: GenerationInfo, data: dict[str, Any]) -> None:
    """Copy the known keys into the typed fields."""
    info.prompt = to_text(data.get("positive_prompt"))
    info.negative_prompt = to_text(data.get("negative_prompt"))
    info.seed = to_int(data.get("seed"))
    info.steps = to_int(data.get("steps"))
    info.cfg = to_float(data.get("cfg_scale"))
    info.sampler = to_text(data.get("scheduler"))  # InvokeAI calls the sampler "scheduler"
    info.width = to_int(data.get("width"))
    info.height = to_int(data.get("height"))
    model = data.get("model")
    base = None
    if isinstance(model, dict):
        info.model = clean_model_name(
            to_text(model.get("name")) or to_text(model.get("model_name"))
        )
        base = to_text(model.get("base")) or to_text(model.get("base_model"))
    else:
        info.model = clean_model_name(to_text(model))
    for lora in data.get("loras") or []:
        if isinstance(lora, dict):
            ref = lora.get("model") or lora.get("lora") or {}
            name = ref.get("name") or ref.get("model_name") if isinstance(ref, dict) else None
            add_unique(info.loras, clean_model_name(to_text(name)))
    info.model_family = BASE_FAMILY.get(base or "") or model_family(info.model)
