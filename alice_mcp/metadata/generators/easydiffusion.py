"""Easy Diffusion: one PNG text chunk per setting, or one JSON object (JPEG/WebP UserComment).

Two spellings exist: labels ("Prompt", "Negative Prompt", "Stable Diffusion model",
"Guidance Scale", ...) and request keys ("prompt", "negative_prompt",
"use_stable_diffusion_model", "guidance_scale", "num_inference_steps", ...).
"""

from __future__ import annotations

from pathlib import PurePosixPath, PureWindowsPath
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

# field -> (label spelling, request-key spelling)
FIELDS = {
    "prompt": ("Prompt", "prompt"),
    "negative": ("Negative Prompt", "negative_prompt"),
    "seed": ("Seed", "seed"),
    "model": ("Stable Diffusion model", "use_stable_diffusion_model"),
    "sampler": ("Sampler", "sampler_name"),
    "steps": ("Steps", "num_inference_steps"),
    "cfg": ("Guidance Scale", "guidance_scale"),
    "width": ("Width", "width"),
    "height": ("Height", "height"),
    "lora": ("LoRA model", "use_lora_model"),
}
MARKERS = ("use_stable_diffusion_model", "Stable Diffusion model", "num_inference_steps")
TEXT_MARKERS = (*MARKERS, "negative_prompt", "Negative Prompt")  # text keys that name it
READS = frozenset({*TEXT_MARKERS, USER_COMMENT})  # the fields `parse` looks at


def parse(meta: ContainerMeta, filename: str) -> GenerationInfo | None:
    """Recognise Easy Diffusion's own key names in PNG text or a UserComment JSON."""
    values, evidence = _from_text(meta)
    comment = meta.exif_user_comment or ""
    if values is None and not (
        comment.lstrip().startswith("{") and any(m in comment for m in MARKERS)
    ):
        return None
    info = GenerationInfo(source="easydiffusion", source_name="Easy Diffusion", confidence=0.9)
    if values is None:
        data = load_json(comment, "easydiffusion comment", info)
        if not isinstance(data, dict) or not any(m in data for m in MARKERS):
            return None
        values, evidence = data, f"{meta.format}:exif:UserComment"
        info.add_raw("exif:UserComment", comment)
    info.evidence.append(evidence)
    _apply(info, values)
    return info


def _from_text(meta: ContainerMeta) -> tuple[dict[str, Any] | None, str]:
    """Settings from per-key text chunks, when the keys are Easy Diffusion's."""
    keys = meta.text.keys()
    if keys.isdisjoint(TEXT_MARKERS):
        return None, ""
    marker = next(k for k in TEXT_MARKERS if k in keys)
    return dict(meta.text), f"{meta.text_source.get(marker, meta.format)}:{marker}"


def _get(values: dict[str, Any], name: str) -> Any:
    """A field in either spelling."""
    label, key = FIELDS[name]
    return values.get(key, values.get(label))


def _apply(info: GenerationInfo, values: dict[str, Any]) -> None:
    """Copy the settings into the typed fields."""
    info.prompt = to_text(_get(values, "prompt"))
    info.negative_prompt = to_text(_get(values, "negative"))
    info.seed = to_int(_get(values, "seed"))
    info.steps = to_int(_get(values, "steps"))
    info.cfg = to_float(_get(values, "cfg"))
    info.sampler = to_text(_get(values, "sampler"))
    info.width, info.height = to_int(_get(values, "width")), to_int(_get(values, "height"))
    info.model = clean_model_name(_base_name(to_text(_get(values, "model"))))
    lora = _get(values, "lora")
    for name in lora if isinstance(lora, list) else [lora]:
        add_unique(info.loras, clean_model_name(_base_name(to_text(name))))
    info.model_family = model_family(info.model, info.width, info.height)


def _base_name(path: str | None) -> str | None:
    """File name of a model path written on Windows or POSIX."""
    if not path:
        return None
    pure = PureWindowsPath(path) if ("\\" in path or PureWindowsPath(path).drive) else None
    return (pure or PurePosixPath(path)).name or path
