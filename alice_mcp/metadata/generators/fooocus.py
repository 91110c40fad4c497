"""Fooocus with its own ("fooocus") metadata scheme: a flat JSON object of settings.

PNG: text `parameters` = the JSON and `fooocus_scheme` = "fooocus". JPEG/WebP: EXIF
UserComment = the JSON, MakerNote = the scheme, Software = "Fooocus v2...". With the
"a1111" scheme Fooocus writes A1111 infotext instead, which the a1111 parser reads
(its `Version: Fooocus v...` names Fooocus).
"""

from __future__ import annotations

import ast
import re
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

READS = frozenset({"parameters", USER_COMMENT})  # the fields `parse` looks at
RESOLUTION = re.compile(r"(\d{2,5})\D+(\d{2,5})")


def parse(meta: ContainerMeta, filename: str) -> GenerationInfo | None:
    """Recognise the Fooocus JSON scheme by its scheme marker, Software tag or keys."""
    text, where = _find(meta)
    if text is None or not text.lstrip().startswith("{"):
        return None
    scheme = (meta.text.get("fooocus_scheme") or meta.exif.get("MakerNote") or "").lower()
    software = meta.exif.get("Software", "")
    marked = scheme == "fooocus" or software.lower().startswith("fooocus")
    if not marked and '"base_model"' not in text and "Fooocus" not in text[:4096]:
        return None
    info = GenerationInfo(source="fooocus", source_name="Fooocus", confidence=0.6)
    info.evidence.append(where)
    if scheme:
        info.evidence.append(f"{meta.format}:fooocus_scheme:{scheme}")
    info.add_raw("parameters", text)
    data = load_json(text, "fooocus parameters", info)
    if not isinstance(data, dict):
        return info if marked else None
    if (
        not marked
        and "base_model" not in data
        and "fooocus" not in str(data.get("version")).lower()
    ):
        return None
    info.confidence = 0.95
    _apply(info, data)
    return info


def _find(meta: ContainerMeta) -> tuple[str | None, str]:
    """The JSON text: PNG `parameters`, else the EXIF UserComment."""
    if "parameters" in meta.text:
        return meta.text["parameters"], f"{meta.text_source.get('parameters', 'png')}:parameters"
    if meta.exif_user_comment:
        return meta.exif_user_comment, f"{meta.format}:exif:UserComment"
    return None, ""


def _apply(info: GenerationInfo, data: dict[str, Any]) -> None:
    """Copy the Fooocus keys into the typed fields."""
    info.prompt = to_text(data.get("prompt")) or to_text(data.get("full_prompt"))
    info.negative_prompt = to_text(data.get("negative_prompt")) or to_text(
        data.get("full_negative_prompt")
    )
    info.seed = to_int(data.get("seed"))
    info.steps = to_int(data.get("steps"))
    info.cfg = to_float(data.get("guidance_scale"))
    info.sampler = to_text(data.get("sampler"))
    info.scheduler = to_text(data.get("scheduler"))
    info.model = clean_model_name(to_text(data.get("base_model")))
    size = _resolution(data.get("resolution"))
    if size:
        info.width, info.height = size
    for name in _loras(data):
        add_unique(info.loras, clean_model_name(name))
    info.model_family = model_family(info.model, info.width, info.height)


def _resolution(value: Any) -> tuple[int, int] | None:
    """`"(1152, 896)"`, `[1152, 896]` or `"1152×896"` -> (width, height)."""
    if isinstance(value, list | tuple) and len(value) == 2:
        w, h = to_int(value[0]), to_int(value[1])
        return (w, h) if w and h else None
    m = RESOLUTION.search(value) if isinstance(value, str) else None
    return (int(m.group(1)), int(m.group(2))) if m else None


def _loras(data: dict[str, Any]) -> list[str]:
    """LoRA names from `lora_combined_N: "name : weight"` keys or a `loras` list."""
    names: list[str] = []
    for key in sorted(k for k in data if k.startswith("lora_combined_")):
        value = data[key]
        if isinstance(value, str) and value.strip():
            names.append(value.rsplit(" : ", 1)[0].strip())
    loras = data.get("loras")
    if isinstance(loras, str) and len(loras) < 65536:
        try:
            loras = ast.literal_eval(loras)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            loras = None
    for item in loras if isinstance(loras, list) else []:
        if isinstance(item, list | tuple) and item and isinstance(item[0], str):
            names.append(item[0])
        elif isinstance(item, dict) and isinstance(item.get("name"), str):
            names.append(item["name"])
    return [n for n in names if n and n != "None"]
