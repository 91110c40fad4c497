"""Hugging Face Spaces (Gradio + diffusers apps): a JSON `parameters` chunk.

Keys: prompt, negative_prompt, resolution ("832 x 1216"), guidance_scale,
num_inference_steps, seed, sampler, style_preset, Model, "Model hash", use_upscaler.
Recognised by `num_inference_steps`, or by `Model` together with `resolution`.
"""

from __future__ import annotations

from typing import Any

from alice_mcp.metadata.containers import ContainerMeta
from alice_mcp.metadata.families import model_family
from alice_mcp.metadata.generators import clean_model_name, load_json, to_float, to_int, to_text
from alice_mcp.metadata.generators.fooocus import RESOLUTION
from alice_mcp.metadata.models import GenerationInfo

READS = frozenset({"parameters"})  # the fields `parse` looks at
TYPED = {"prompt", "negative_prompt", "resolution", "guidance_scale", "num_inference_steps",
         "seed", "sampler", "Model"}  # fmt: skip


def parse(meta: ContainerMeta, filename: str) -> GenerationInfo | None:
    """Read the diffusers-style JSON of a Space from `parameters`."""
    text = meta.text.get("parameters")
    if text is None or not text[:8].lstrip().startswith("{"):
        return None
    if '"num_inference_steps"' not in text and not ('"Model"' in text and '"resolution"' in text):
        return None
    info = GenerationInfo(source="hf-space", source_name="Hugging Face Space", engine="diffusers",
                          confidence=0.6)  # fmt: skip
    info.evidence.append(f"{meta.text_source.get('parameters', 'png')}:parameters")
    info.add_raw("parameters", text)
    data = load_json(text, "hf-space parameters", info)
    if not isinstance(data, dict):
        return info if data is None else None
    if "prompt" not in data:
        return None
    info.confidence = 0.9
    _apply(info, data)
    return info


def _apply(info: GenerationInfo, data: dict[str, Any]) -> None:
    """Copy the Space's keys into the typed fields; keep the others in `extra`."""
    info.prompt = to_text(data.get("prompt"))
    info.negative_prompt = to_text(data.get("negative_prompt"))
    info.seed = to_int(data.get("seed"))
    info.steps = to_int(data.get("num_inference_steps"))
    info.cfg = to_float(data.get("guidance_scale"))
    info.sampler = to_text(data.get("sampler"))
    info.model = clean_model_name(to_text(data.get("Model")))
    resolution = data.get("resolution")
    m = RESOLUTION.search(resolution) if isinstance(resolution, str) else None
    if m:
        info.width, info.height = int(m.group(1)), int(m.group(2))
    for key, value in data.items():
        if key not in TYPED and value not in (None, "", [], {}):
            info.add_extra(key, value)
    info.model_family = model_family(info.model, info.width, info.height)
