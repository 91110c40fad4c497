"""NovelAI: `Software`=NovelAI, `Description`=prompt, `Comment`=JSON settings, `Source`=model.

PNG: text chunks of those names. WebP: the same fields as one JSON object in the EXIF
UserComment, `{"Software": "NovelAI", "Comment": "<the Comment JSON as a string>", ...}`.
"""

from __future__ import annotations

from typing import Any

from alice_mcp.metadata.base import USER_COMMENT_JSON
from alice_mcp.metadata.containers import ContainerMeta
from alice_mcp.metadata.generators import load_json, to_float, to_int, to_text
from alice_mcp.metadata.models import GenerationInfo

READS = frozenset({"Software", USER_COMMENT_JSON})  # the fields `parse` looks at
FIELDS = ("Description", "Comment", "Source")


def parse(meta: ContainerMeta, filename: str) -> GenerationInfo | None:
    """Recognise NovelAI by its Software text and read the Comment JSON."""
    if not meta.text.get("Software", "").strip().lower().startswith("novelai"):
        return _from_user_comment(meta)
    stealth = meta.text_source.get("Software", "").endswith(":stealth")
    where = f"{meta.format}:stealth" if stealth else meta.format
    return _read(meta.text, where)


def _from_user_comment(meta: ContainerMeta) -> GenerationInfo | None:
    """NovelAI WebP: the PNG's text fields as one JSON object in the EXIF UserComment."""
    comment = meta.exif_user_comment
    if not comment or not comment[:8].lstrip().startswith("{") or "NovelAI" not in comment:
        return None
    probe = GenerationInfo()
    data = load_json(comment, "novelai UserComment", probe)
    if data is None:  # names NovelAI but is broken: say so rather than drop it
        return GenerationInfo(source="novelai", source_name="NovelAI", confidence=0.3,
                              evidence=[f"{meta.format}:exif:UserComment"], errors=probe.errors)  # fmt: skip
    if not isinstance(data, dict):
        return None
    software = data.get("Software")
    named = isinstance(software, str) and software.strip().lower().startswith("novelai")
    if not named and not isinstance(data.get("Comment"), str):
        return None
    fields = {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}
    info = _read(fields, f"{meta.format}:exif:UserComment")
    info.errors[:0] = probe.errors
    return info


def _read(text: dict[str, str], where: str) -> GenerationInfo:
    """NovelAI's fields (Description, Comment, Source) into a result."""
    info = GenerationInfo(
        source="novelai",
        source_name="NovelAI",
        confidence=0.95,
        evidence=[f"{where}:Software:NovelAI"],
    )
    for key in FIELDS:
        if key in text:
            info.add_raw(key, text[key])
    info.prompt = to_text(text.get("Description"))
    info.model = to_text(text.get("Source"))
    info.model_family = "novelai"
    comment = text.get("Comment")
    data = load_json(comment, "novelai comment", info) if comment else None
    if isinstance(data, dict):
        _apply(info, data)
    elif data is not None:
        info.errors.append("novelai: Comment is not an object")
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
