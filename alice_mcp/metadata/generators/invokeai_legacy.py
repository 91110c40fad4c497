"""InvokeAI 1 (`Dream` text) and 2 (`sd-metadata` JSON) PNG metadata.

`Dream` is a command line: `"prompt [negative]" -s 50 -S 123 -W 512 -H 768 -C 7.5 -A k_lms`.
`sd-metadata` is `{"model_weights", "app_version", "image": {"prompt": [{"prompt",
"weight"}], "seed", "steps", "cfg_scale", "sampler", "width", "height", ...}}`. In both,
text inside [square brackets] is the negative prompt.
"""

from __future__ import annotations

import re
from typing import Any

from alice_mcp.metadata.containers import ContainerMeta
from alice_mcp.metadata.families import model_family
from alice_mcp.metadata.generators import clean_model_name, load_json, to_float, to_int, to_text
from alice_mcp.metadata.models import GenerationInfo

READS = frozenset({"sd-metadata", "Dream"})  # the fields `parse` looks at
DREAM_FLAG = re.compile(r"\s-(\w+)\s+(\S+)")
BRACKETS = re.compile(r"\[([^\[\]]*)\]")


def parse(meta: ContainerMeta, filename: str) -> GenerationInfo | None:
    """Read `sd-metadata` (InvokeAI 2), else `Dream` (InvokeAI 1)."""
    if "sd-metadata" in meta.text:
        return _sd_metadata(meta)
    if "Dream" in meta.text:
        return _dream(meta.text["Dream"], meta)
    return None


def _new(meta: ContainerMeta, key: str) -> GenerationInfo:
    """A result carrying the evidence and raw text of one chunk."""
    info = GenerationInfo(
        source="invokeai",
        source_name="InvokeAI",
        confidence=0.6,
        evidence=[f"{meta.text_source.get(key, meta.format)}:{key}"],
    )
    info.add_raw(key, meta.text[key])
    return info


def _sd_metadata(meta: ContainerMeta) -> GenerationInfo:
    """InvokeAI 2: JSON with an `image` object."""
    info = _new(meta, "sd-metadata")
    data = load_json(meta.text["sd-metadata"], "invokeai sd-metadata", info)
    image = data.get("image") if isinstance(data, dict) else None
    if not isinstance(image, dict):
        if data is not None:
            info.errors.append("invokeai sd-metadata: no image object")
        return info
    info.confidence = 0.95
    info.prompt, info.negative_prompt = split_prompt(_prompt_text(image.get("prompt")))
    info.seed = to_int(image.get("seed"))
    info.steps = to_int(image.get("steps"))
    info.cfg = to_float(image.get("cfg_scale"))
    info.sampler = to_text(image.get("sampler"))
    info.width, info.height = to_int(image.get("width")), to_int(image.get("height"))
    info.model = clean_model_name(to_text(data.get("model_weights")))
    info.model_family = model_family(info.model, info.width, info.height)
    if "Dream" in meta.text:
        info.add_raw("Dream", meta.text["Dream"])
    return info


def _prompt_text(value: Any) -> str:
    """`prompt` is a string or a list of {prompt, weight} parts."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        parts = [p.get("prompt") for p in value if isinstance(p, dict)]
        return " ".join(p for p in parts if isinstance(p, str))
    return ""


def _dream(text: str, meta: ContainerMeta) -> GenerationInfo:
    """InvokeAI 1: a quoted prompt followed by command-line flags."""
    info = _new(meta, "Dream")
    stripped = text.strip()
    end = stripped.rfind('"')
    if not stripped.startswith('"') or end <= 0:
        info.errors.append("invokeai Dream: no quoted prompt")
        return info
    info.confidence = 0.95
    info.prompt, info.negative_prompt = split_prompt(stripped[1:end])
    flags = dict(DREAM_FLAG.findall(" " + stripped[end + 1 :]))
    info.steps = to_int(flags.get("s"))
    info.seed = to_int(flags.get("S"))
    info.width, info.height = to_int(flags.get("W")), to_int(flags.get("H"))
    info.cfg = to_float(flags.get("C"))
    info.sampler = to_text(flags.get("A"))
    info.model = clean_model_name(to_text(flags.get("m")))
    info.model_family = model_family(info.model, info.width, info.height)
    return info


def split_prompt(text: str) -> tuple[str | None, str | None]:
    """Split `positive [negative] more [negative2]` into (positive, negative)."""
    negatives = [part.strip() for part in BRACKETS.findall(text) if part.strip()]
    positive = re.sub(r"\s{2,}", " ", BRACKETS.sub(" ", text)).strip(" ,")
    return positive or None, ", ".join(negatives) or None
