"""NovelAI PNG: `Software`=NovelAI, `Description`=prompt, `Comment`=JSON settings, `Source`=model."""

from __future__ import annotations

from typing import Any

from alice_mcp.metadata.containers import ContainerMeta
from alice_mcp.metadata.generators import load_json, to_float, to_int, to_text
from alice_mcp.metadata.models import GenerationInfo

READS = frozenset({"Software"})  # the fields `parse` looks at


def parse(meta: ContainerMeta, filename: str) -> GenerationInfo | None:
    """Recognise NovelAI by its Software text and read the Comment JSON."""
    if not meta.text.get("Software", "").strip().lower().startswith("novelai"):
        return None
    stealth = meta.text_source.get("Software", "").endswith(":stealth")
    where = f"{meta.format}:stealth" if stealth else meta.format
    info = GenerationInfo(
        source="novelai",
        source_name="NovelAI",
        confidence=0.95,
        evidence=[f"{where}:Software:NovelAI"],
    )
    for key in ("Description", "Comment", "Source"):
        if key in meta.text:
            info.add_raw(key, meta.text[key])
    info.prompt = to_text(meta.text.get("Description"))
    info.model = to_text(meta.text.get("Source"))
    info.model_family = "novelai"
    comment = meta.text.get("Comment")
    data = load_json(comment, "novelai comment", info) if comment else None
    if isinstance(data, dict):
        _apply(info, data)
    return info


def _apply(info: GenerationInfo, data: dict[str, Any]) -> None:
    """Copy settings from the Comment JSON (v3 keys and v4 caption objects)."""
    info.prompt = info.prompt or to_text(data.get("prompt")) or _caption(data.get("v4_prompt"))
    info.negative_prompt = to_text(data.get("uc")) or _caption(data.get("v4_negative_prompt"))
    info.seed = to_int(data.get("seed"))
    info.steps = to_int(data.get("steps"))
    info.cfg = to_float(data.get("scale"))
    info.sampler = to_text(data.get("sampler"))
    info.scheduler = to_text(data.get("noise_schedule"))
    info.width = to_int(data.get("width"))
    info.height = to_int(data.get("height"))


def _caption(value: Any) -> str | None:
    """`{"caption": {"base_caption": text}}` of NovelAI v4."""
    if isinstance(value, dict) and isinstance(value.get("caption"), dict):
        return to_text(value["caption"].get("base_caption"))
    return None
