"""Draw Things (iOS/macOS): XMP with CreatorTool "Draw Things" and a JSON exif:UserComment.

The JSON has `c` (prompt), `uc` (negative), seed, steps, scale, sampler, model,
size "WxH", strength and LoRAs (`lora` or `v2.loras`: [{file, weight}]). The XMP
dc:description repeats it as text (`prompt\\n-negative\\nSteps: ...`), used as a fallback.
"""

from __future__ import annotations

from typing import Any

from alice_mcp.metadata.base import XMP
from alice_mcp.metadata.containers import ContainerMeta
from alice_mcp.metadata.families import model_family
from alice_mcp.metadata.generators import (
    add_unique,
    clean_model_name,
    load_json,
    parse_size,
    to_float,
    to_int,
    to_text,
)
from alice_mcp.metadata.generators.a1111 import PARAM_RE, unquote
from alice_mcp.metadata.models import GenerationInfo
from alice_mcp.metadata.xmp import xmp_value

CREATOR = "Draw Things"
READS = frozenset({XMP})  # the fields `parse` looks at


def parse(meta: ContainerMeta, filename: str) -> GenerationInfo | None:
    """Recognise Draw Things by its XMP CreatorTool and read the JSON UserComment."""
    xmp = meta.xmp
    if not xmp or CREATOR not in xmp or xmp_value(xmp, "xmp:CreatorTool") != CREATOR:
        return None
    info = GenerationInfo(
        source="drawthings", source_name="Draw Things", confidence=0.9,
        evidence=[f"{meta.format}:xmp:CreatorTool"],
    )  # fmt: skip
    comment = xmp_value(xmp, "exif:UserComment")
    data = load_json(comment, "drawthings UserComment", info) if comment else None
    if isinstance(data, dict):
        info.confidence = 0.95
        info.evidence.append(f"{meta.format}:xmp:exif:UserComment")
        info.add_raw("xmp:UserComment", comment or "")
        _apply(info, data)
    else:
        description = xmp_value(xmp, "dc:description")
        if description:
            info.add_raw("xmp:description", description)
            _apply_description(info, description)
    info.model_family = model_family(info.model, info.width, info.height)
    return info


def _apply(info: GenerationInfo, data: dict[str, Any]) -> None:
    """Copy the JSON keys into the typed fields."""
    info.prompt = to_text(data.get("c"))
    info.negative_prompt = to_text(data.get("uc"))
    info.seed = to_int(data.get("seed"))
    info.steps = to_int(data.get("steps"))
    info.cfg = to_float(data.get("scale"))
    info.sampler = to_text(data.get("sampler"))
    info.model = clean_model_name(to_text(data.get("model")))
    size = parse_size(to_text(data.get("size")))
    if size:
        info.width, info.height = size
    v2 = data.get("v2") if isinstance(data.get("v2"), dict) else {}
    for loras in (data.get("lora"), v2.get("loras")):
        for item in loras if isinstance(loras, list) else []:
            if isinstance(item, dict):
                add_unique(info.loras, clean_model_name(to_text(item.get("file"))))


def _apply_description(info: GenerationInfo, text: str) -> None:
    """Fallback: `prompt`, `-negative`, then an A1111-like parameter line."""
    lines = text.replace("\r\n", "\n").split("\n")
    params: dict[str, str] = {}
    if lines and len(PARAM_RE.findall(lines[-1])) >= 2:
        params = {k.strip(): unquote(v.strip()) for k, v in PARAM_RE.findall(lines.pop())}
    negative = [ln[1:] for ln in lines if ln.startswith("-")]
    positive = [ln for ln in lines if not ln.startswith("-")]
    info.prompt = "\n".join(positive).strip() or None
    info.negative_prompt = "\n".join(negative).strip() or None
    info.seed = to_int(params.get("Seed"))
    info.steps = to_int(params.get("Steps"))
    info.cfg = to_float(params.get("Guidance Scale"))
    info.sampler = to_text(params.get("Sampler"))
    info.model = clean_model_name(params.get("Model"))
    size = parse_size(params.get("Size"))
    if size:
        info.width, info.height = size
