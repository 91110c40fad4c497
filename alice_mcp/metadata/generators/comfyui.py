"""ComfyUI: the API `prompt` graph and/or the UI `workflow` JSON, wherever ComfyUI puts them.

PNG text chunks, WebP EXIF `prompt:`/`workflow:` strings, video container tags (core
SaveVideo writes `prompt`/`workflow` tags; VideoHelperSuite writes one `comment` tag
holding `{"prompt": ..., "workflow": ...}`), and GIF comments. Both shapes are reduced to
one API-style graph `{node_id: {class_type, inputs}}` (link `[source_id, slot]`) and
walked by `comfyui_graph.extract`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from alice_mcp.metadata.base import EXIF_STRINGS, USER_COMMENT_JSON
from alice_mcp.metadata.containers import ContainerMeta
from alice_mcp.metadata.generators import load_json, to_float, to_int, to_text
from alice_mcp.metadata.generators.comfyui_graph import NO_SAMPLER, Graph, extract
from alice_mcp.metadata.models import GenerationInfo

KEYS = ("prompt", "workflow")
EXIF_PREFIXES = tuple((key, f"{key}:") for key in KEYS)  # EXIF strings "prompt:{...}" (core)
# and "Prompt: {...}" (save-image-extended): any case, spaces around the colon
EXIF_PREFIX = re.compile(r"^\s{0,8}(prompt|workflow)\s{0,8}:\s{0,8}(?=[{\[])", re.IGNORECASE)
READS = frozenset({*KEYS, "comment", "extraMetadata", EXIF_STRINGS, USER_COMMENT_JSON})
MAX_COMMENT_SCAN = 64  # characters at the start of a comment that must show a graph key
GRAPH_KEY_FIRST = re.compile(r'\{\s*"(?:prompt|workflow)"\s*:')  # not SwarmUI's nested "prompt"
BARE_GRAPH_SCAN = 512  # characters at the start of a UserComment that must show a node
EXTRA_METADATA = "extraMetadata"  # Civitai's original parameters beside an upscale graph

# Widget order of common UI nodes, to turn a `workflow` into named inputs.
WIDGETS: dict[str, list[str]] = {
    name: widgets.split()
    for name, widgets in {
        "CheckpointLoaderSimple": "ckpt_name",
        "CheckpointLoader": "config_name ckpt_name",
        "UNETLoader": "unet_name weight_dtype",
        "UnetLoaderGGUF": "unet_name",
        "CLIPTextEncode": "text",
        "CLIPTextEncodeSDXL": "width height crop_w crop_h target_width target_height text_g text_l",
        "CLIPTextEncodeFlux": "clip_l t5xxl guidance",
        "KSampler": "seed control_after_generate steps cfg sampler_name scheduler denoise",
        "KSamplerAdvanced": "add_noise noise_seed control_after_generate steps cfg sampler_name"
        " scheduler start_at_step end_at_step return_with_leftover_noise",
        "SamplerCustom": "add_noise noise_seed control_after_generate cfg",
        "RandomNoise": "noise_seed control_after_generate",
        "KSamplerSelect": "sampler_name",
        "BasicScheduler": "scheduler steps denoise",
        "CFGGuider": "cfg",
        "FluxGuidance": "guidance",
        "EmptyLatentImage": "width height batch_size",
        "EmptySD3LatentImage": "width height batch_size",
        "LoraLoader": "lora_name strength_model strength_clip",
        "LoraLoaderModelOnly": "lora_name strength_model",
        "PrimitiveNode": "value control_after_generate",
        "PrimitiveString": "value",
        "PrimitiveStringMultiline": "value",
        "PrimitiveInt": "value control_after_generate",
        "PrimitiveFloat": "value",
        "StringConcatenate": "string_a string_b delimiter",
    }.items()
}
CIVITAI_FIELDS = (
    ("prompt", "prompt", to_text), ("negative_prompt", "negativePrompt", to_text),
    ("seed", "seed", to_int), ("steps", "steps", to_int), ("cfg", "cfgScale", to_float),
    ("sampler", "sampler", to_text), ("model", "baseModel", to_text),
    ("width", "width", to_int), ("height", "height", to_int),
)  # fmt: skip
CIVITAI_KEYS = frozenset(key for _, key, _ in CIVITAI_FIELDS)
_WEIGHT_FILE = re.compile(r"\.(safetensors|ckpt|pt|pth|gguf|sft|bin)$", re.IGNORECASE)


def parse(meta: ContainerMeta, filename: str) -> GenerationInfo | None:
    """Read ComfyUI `prompt`/`workflow` JSON from text chunks, EXIF strings or video tags."""
    if not _may_hold_graph(meta):
        return None  # e.g. an A1111 JPEG: infotext in the UserComment, no EXIF strings
    info = GenerationInfo(source="comfyui", source_name="ComfyUI", confidence=0.6)
    found = _find(meta, info)
    if not found:
        if not info.errors:
            return None
        where = "comment" if "comment" in meta.text else "exif:UserComment"
        info.evidence.append(f"{meta.text_source.get('comment', meta.format)}:{where}")
        return info  # a comment shaped like ComfyUI's {"prompt": ...}, but broken
    prompt_value = found["prompt"][0] if "prompt" in found else None
    workflow_value = found["workflow"][0] if "workflow" in found else None
    plain_prompt = isinstance(prompt_value, str) and not prompt_value.lstrip().startswith("{")
    if workflow_value is None and plain_prompt:
        return None  # a plain-text `prompt` key belongs to other tools (Easy Diffusion)
    for key, (value, where) in found.items():
        info.evidence.append(f"{where}:{key}")
        info.add_raw(key, value if isinstance(value, str) else _dump(value))
    graph: Graph | None = None
    prompt_data: Any = None
    if prompt_value is not None:
        data = prompt_data = _load(prompt_value, "comfyui prompt", info)
        graph = api_graph(data)
        if data is not None and graph is None:
            if workflow_value is None:
                return None  # JSON, but not a ComfyUI graph
            info.errors.append("comfyui prompt: not an API graph")
    if graph is None and workflow_value is not None:
        data = _load(workflow_value, "comfyui workflow", info)
        graph = workflow_graph(data)
        if data is not None and graph is None:
            info.errors.append("comfyui workflow: no usable nodes")
    if graph:
        info.confidence = 0.95
        extract(graph, info)
        if info.model is not None and info.model.startswith("EMS-"):
            tensorart_ids(info, prompt_value if isinstance(prompt_value, str) else "")
    extra = data_extra(prompt_data, meta)
    if extra is not None:
        _civitai_extra(extra, info)
    return info


def _may_hold_graph(meta: ContainerMeta) -> bool:
    """Cheap look before any work: a graph key, an EXIF string, or a JSON-looking comment."""
    if meta.exif or "prompt" in meta.text or "workflow" in meta.text:
        return True
    for comment in (meta.text.get("comment"), meta.exif_user_comment):
        if comment and comment[:16].lstrip()[:1] == "{" and _graph_comment(comment):
            return True
    return False


def _graph_comment(comment: str) -> bool:
    """A comment whose JSON starts with a graph key, or a bare graph (a node near the start)."""
    head = comment[:MAX_COMMENT_SCAN].lstrip()
    return GRAPH_KEY_FIRST.match(head) is not None or '"class_type"' in comment[:BARE_GRAPH_SCAN]


def tensorart_ids(info: GenerationInfo, graph_text: str) -> None:
    """A graph whose checkpoint is a TensorArt id (`EMS-<n>-EMS`): TensorArt ran it."""
    from alice_mcp.metadata.generators.tensorart import ems_ids

    info.source, info.source_name, info.engine = "tensorart", "TensorArt", "comfyui"
    info.evidence.append("tensorart:EMS-id")
    info.extra["model_ids"] = ", ".join(ems_ids(graph_text) or [info.model or ""])


def data_extra(prompt_data: Any, meta: ContainerMeta) -> Any:
    """Civitai's `extraMetadata`: inside the graph (JPEG) or a text chunk of its own (PNG)."""
    if isinstance(prompt_data, dict) and EXTRA_METADATA in prompt_data:
        return prompt_data[EXTRA_METADATA]
    return meta.text.get(EXTRA_METADATA)


def _civitai_extra(value: Any, info: GenerationInfo) -> None:
    """Civitai ran this graph (an upscale or hires pass): its original parameters win."""
    data = load_json(value, "civitai extraMetadata", info) if isinstance(value, str) else value
    if not isinstance(data, dict):
        if data is not None:  # (a JSON failure is noted already)
            info.errors.append("civitai: extraMetadata is not an object")
        return
    info.source, info.source_name, info.engine = "civitai", "Civitai", "comfyui"
    info.evidence.append("civitai:extraMetadata")
    if NO_SAMPLER in info.errors:  # an upscale-only graph: the parameters are here instead
        info.errors.remove(NO_SAMPLER)
    for attr, key, convert in CIVITAI_FIELDS:
        value = convert(data.get(key))
        if value is not None:
            setattr(info, attr, value)
    for key, item in data.items():
        if key not in CIVITAI_KEYS and item not in (None, "", [], {}):
            info.add_extra(key, _dump(item) if isinstance(item, dict | list) else item)


def _find(meta: ContainerMeta, info: GenerationInfo) -> dict[str, tuple[Any, str]]:
    """Locate prompt/workflow values: text keys, EXIF strings, a JSON comment or UserComment."""
    found: dict[str, tuple[Any, str]] = {}
    for key in KEYS:
        if key in meta.text:
            found[key] = (meta.text[key], meta.text_source.get(key, meta.format))
    for tag, value in meta.exif.items():
        for key, prefix in EXIF_PREFIXES:  # core ComfyUI: exact `prompt:` (the common case)
            if key not in found and value.startswith(prefix):
                found[key] = (value[len(prefix) :], f"{meta.format}:exif:{tag}")
                break
        else:
            m = EXIF_PREFIX.match(value[:40]) if value[:1] in "pPwW \t" else None
            if m is not None and m.group(1).lower() not in found:
                found[m.group(1).lower()] = (value[m.end() :], f"{meta.format}:exif:{tag}")
    if len(found) < 2 and "comment" in meta.text:
        where = f"{meta.text_source.get('comment', meta.format)}:comment"
        _from_json_comment(meta.text["comment"], where, "comfyui comment", found, info)
    if len(found) < 2 and meta.exif_user_comment:
        where = f"{meta.format}:exif:UserComment"
        _from_json_comment(meta.exif_user_comment, where, "comfyui UserComment", found, info)
    return found


def _from_json_comment(
    comment: str, where: str, what: str, found: dict[str, tuple[Any, str]], info: GenerationInfo
) -> None:
    """`{"prompt": {...}, "workflow": {...}}` in a comment (saver nodes), or a bare API graph
    (Civitai's upscale files); anything else is left to other parsers."""
    head = comment[:MAX_COMMENT_SCAN].lstrip()
    if not head.startswith("{"):
        return
    keyed = GRAPH_KEY_FIRST.match(head) is not None
    if not keyed and '"class_type"' not in comment[:BARE_GRAPH_SCAN]:
        return
    data = load_json(comment, what, info)
    if not isinstance(data, dict):
        return
    if keyed:
        for key in KEYS:
            if key not in found and isinstance(data.get(key), dict | list | str):
                found[key] = (data[key], where)
    elif "prompt" not in found:
        found["prompt"] = (data, where)


def _load(value: Any, what: str, info: GenerationInfo) -> Any:
    """JSON text is parsed (bounded); an already-parsed object is used as it is."""
    return load_json(value, what, info) if isinstance(value, str) else value


def _dump(value: Any) -> str:
    """Compact JSON of an embedded object for the raw search text."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return str(value)[:1000]


def api_graph(data: Any) -> Graph | None:
    """Keep the well-formed nodes of an API graph; None when it is not one."""
    if not isinstance(data, dict):
        return None
    graph = {
        str(nid): node
        for nid, node in data.items()
        if isinstance(node, dict)
        and isinstance(node.get("class_type"), str)
        and isinstance(node.get("inputs", {}), dict)
    }
    for node in graph.values():
        node.setdefault("inputs", {})
    return graph or None


def workflow_graph(data: Any) -> Graph | None:
    """Convert a UI workflow (nodes + links) into an API-style graph."""
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), list):
        return None
    links: dict[Any, tuple[str, int]] = {}
    for link in data.get("links") or []:
        if isinstance(link, list) and len(link) >= 3:
            links[link[0]] = (str(link[1]), link[2] if isinstance(link[2], int) else 0)
        elif isinstance(link, dict) and "id" in link:
            links[link["id"]] = (str(link.get("origin_id")), to_int(link.get("origin_slot")) or 0)
    graph: Graph = {}
    for node in data["nodes"]:
        if not isinstance(node, dict) or not isinstance(node.get("type"), str):
            continue
        ctype = node["type"]
        inputs = _widget_inputs(ctype, node.get("widgets_values"))
        for inp in node.get("inputs") or []:
            if (
                isinstance(inp, dict)
                and inp.get("link") in links
                and isinstance(inp.get("name"), str)
            ):
                src, slot = links[inp["link"]]
                inputs[inp["name"]] = [src, slot]
        graph[str(node.get("id"))] = {
            "class_type": ctype,
            "inputs": inputs,
            "_off": node.get("mode") in (2, 4),
        }
    return graph or None


def _widget_inputs(ctype: str, values: Any) -> dict[str, Any]:
    """Name a node's widget values: known layouts, dict widgets, or type-based guesses."""
    if isinstance(values, dict):
        return {k: v for k, v in values.items() if isinstance(k, str)}
    if not isinstance(values, list):
        return {}
    if ctype in WIDGETS:
        return dict(zip(WIDGETS[ctype], values, strict=False))
    lower = ctype.lower()
    strings = [v for v in values if isinstance(v, str) and v.strip()]
    if "lora" in lower:
        names = [v for v in strings if _WEIGHT_FILE.search(v)]
        return {f"lora_name_{i}": v for i, v in enumerate(names)}
    if any(w in lower for w in ("checkpoint", "loader", "unet")):
        names = [v for v in strings if _WEIGHT_FILE.search(v)]
        return {"ckpt_name": names[0]} if names else {}
    if any(w in lower for w in ("text", "string", "prompt", "primitive", "wildcard")):
        out: dict[str, Any] = {f"text_{i}": v for i, v in enumerate(strings)}
        numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        if numbers and not strings:
            out["value"] = numbers[0]
        return out
    return {}
