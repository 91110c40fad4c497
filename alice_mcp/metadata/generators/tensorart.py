"""TensorArt: a `generation_data` JSON chunk beside the ComfyUI graph it ran.

`generation_data` (NUL-padded) holds prompt, negativePrompt, seed (a string), steps,
cfgScale, width, height, clipSkip and baseModel {modelFileName, hash}. The graph names
models by TensorArt's internal ids (`EMS-<n>-EMS`); the ids are kept in `extra`, the
model is the file name where `generation_data` gives one, else the id. A graph whose
checkpoint is an `EMS-` id is TensorArt's even without `generation_data`: the ComfyUI parser
names it (`comfyui.tensorart_ids`), so ComfyUI files pay no extra scan here.
"""

from __future__ import annotations

import re
from typing import Any

from alice_mcp.metadata.containers import ContainerMeta
from alice_mcp.metadata.families import model_family
from alice_mcp.metadata.generators import clean_model_name, load_json, to_float, to_int, to_text
from alice_mcp.metadata.models import GenerationInfo

READS = frozenset({"generation_data"})  # the fields `parse` looks at
EMS_ID = re.compile(r"EMS-\d{1,20}-EMS")
MAX_IDS = 20
TYPED = {"prompt", "negativePrompt", "seed", "steps", "cfgScale", "width", "height", "baseModel",
         "sampler"}  # fmt: skip


def parse(meta: ContainerMeta, filename: str) -> GenerationInfo | None:
    """Read `generation_data`, and the EMS model ids of the graph."""
    data_text = meta.text.get("generation_data")
    if data_text is None:
        return None
    info = GenerationInfo(source="tensorart", source_name="TensorArt", engine="comfyui",
                          confidence=0.9)  # fmt: skip
    info.evidence.append(f"{meta.text_source.get('generation_data', meta.format)}:generation_data")
    ids = ems_ids(meta.text.get("prompt", ""))
    if ids:
        info.extra["model_ids"] = ", ".join(ids)
    info.add_raw("generation_data", data_text)
    data = load_json(data_text.rstrip("\x00"), "tensorart generation_data", info)
    if isinstance(data, dict):
        info.confidence = 0.95
        _apply(info, data)
    elif data is not None:
        info.errors.append("tensorart: generation_data is not an object")
    if info.model is None and ids:
        info.model = ids[0]
    info.model_family = model_family(info.model, info.width, info.height)
    return info


def ems_ids(text: str) -> list[str]:
    """The distinct `EMS-<n>-EMS` ids of a graph, in order, at most MAX_IDS."""
    ids: list[str] = []
    for m in EMS_ID.finditer(text):
        if m.group(0) not in ids:
            ids.append(m.group(0))
            if len(ids) >= MAX_IDS:
                break
    return ids


def _apply(info: GenerationInfo, data: dict[str, Any]) -> None:
    """Copy generation_data into the typed fields; keep the others in `extra`."""
    info.prompt = to_text(data.get("prompt"))
    info.negative_prompt = to_text(data.get("negativePrompt"))
    info.seed = to_int(data.get("seed"))
    info.steps = to_int(data.get("steps"))
    info.cfg = to_float(data.get("cfgScale"))
    info.sampler = to_text(data.get("sampler"))
    info.width, info.height = to_int(data.get("width")), to_int(data.get("height"))
    base = data.get("baseModel")
    if isinstance(base, dict):
        info.model = clean_model_name(to_text(base.get("modelFileName")))
        if to_text(base.get("hash")):
            info.add_extra("model_hash", base["hash"])
    for key, value in data.items():
        if key not in TYPED and value not in (None, "", [], {}):
            info.add_extra(key, value)
