"""Stability Matrix (Inference tab): its own JSON beside a ComfyUI graph and A1111 text.

PNG text chunks: `parameters-json` (GenerationParameters with PascalCase keys:
PositivePrompt, NegativePrompt, Seed, Steps, CfgScale, Sampler, Scheduler, ModelName,
ModelHash, Width, Height), `smproj` (the project document), `parameters` (A1111 text)
and `prompt` (the ComfyUI graph it ran). Its own JSON wins; the graph and the A1111 text
fill gaps (detect merges them) and stay as evidence.
"""

from __future__ import annotations

from typing import Any

from alice_mcp.metadata.containers import ContainerMeta
from alice_mcp.metadata.families import model_family
from alice_mcp.metadata.generators import clean_model_name, load_json, to_float, to_int, to_text
from alice_mcp.metadata.models import GenerationInfo

KEYS = ("parameters-json", "smproj")
READS = frozenset(KEYS)  # the fields `parse` looks at
TYPED = {"PositivePrompt", "NegativePrompt", "Seed", "Steps", "CfgScale", "Sampler",
         "Scheduler", "ModelName", "Width", "Height"}  # fmt: skip


def parse(meta: ContainerMeta, filename: str) -> GenerationInfo | None:
    """Read `parameters-json`; `smproj` alone still names Stability Matrix."""
    present = [key for key in KEYS if key in meta.text]
    if not present:
        return None
    info = GenerationInfo(source="stability-matrix", source_name="Stability Matrix",
                          engine="comfyui", confidence=0.9)  # fmt: skip
    for key in present:
        info.evidence.append(f"{meta.text_source.get(key, meta.format)}:{key}")
        info.add_raw(key, meta.text[key])
    text = meta.text.get("parameters-json")
    data = load_json(text, "stability matrix parameters-json", info) if text else None
    if isinstance(data, dict):
        info.confidence = 0.95
        _apply(info, data)
    elif data is not None:
        info.errors.append("stability matrix: parameters-json is not an object")
    return info


def _apply(info: GenerationInfo, data: dict[str, Any]) -> None:
    """Copy GenerationParameters into the typed fields; keep the others in `extra`."""
    info.prompt = to_text(data.get("PositivePrompt"))
    info.negative_prompt = to_text(data.get("NegativePrompt"))
    info.seed = to_int(data.get("Seed"))
    info.steps = to_int(data.get("Steps"))
    info.cfg = to_float(data.get("CfgScale"))
    info.sampler = to_text(data.get("Sampler"))
    info.scheduler = to_text(data.get("Scheduler"))
    info.model = clean_model_name(to_text(data.get("ModelName")))
    info.width, info.height = to_int(data.get("Width")), to_int(data.get("Height"))
    for key, value in data.items():
        if key not in TYPED and value not in (None, "", [], {}):
            info.add_extra(key, value)
    info.model_family = model_family(info.model, info.width, info.height)
