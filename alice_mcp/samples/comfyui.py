"""ComfyUI samples: API `prompt` graphs and UI `workflow` JSON in PNG text chunks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PIL.PngImagePlugin import PngInfo

from alice_mcp.samples.images import Size, sample_image, save, seed_of


def comfyui_api_graph(
    prompt: str,
    negative: str,
    *,
    seed: int = 1,
    ckpt: str = "sd_xl_base_1.0.safetensors",
    steps: int = 20,
    cfg: float = 7.0,
    sampler: str = "euler",
    scheduler: str = "normal",
    latent: Size = (1024, 1024),
    loras: tuple[str, ...] = (),
) -> dict[str, Any]:
    """API graph: CheckpointLoaderSimple [-> LoraLoader...] -> CLIPTextEncode x2 -> KSampler."""
    graph: dict[str, Any] = {"4": _node("CheckpointLoaderSimple", ckpt_name=ckpt)}
    model, clip = ["4", 0], ["4", 1]
    for i, lora in enumerate(loras):
        nid = str(20 + i)
        graph[nid] = _node("LoraLoader", lora_name=lora, strength_model=0.8, strength_clip=0.8,
                           model=model, clip=clip)  # fmt: skip
        model, clip = [nid, 0], [nid, 1]
    graph["5"] = _node("EmptyLatentImage", width=latent[0], height=latent[1], batch_size=1)
    graph["6"] = _node("CLIPTextEncode", text=prompt, clip=clip)
    graph["7"] = _node("CLIPTextEncode", text=negative, clip=clip)
    graph["3"] = _node(
        "KSampler", seed=seed, steps=steps, cfg=cfg, sampler_name=sampler, scheduler=scheduler,
        denoise=1.0, model=model, positive=["6", 0], negative=["7", 0], latent_image=["5", 0],
    )  # fmt: skip
    graph["8"] = _node("VAEDecode", samples=["3", 0], vae=["4", 2])
    graph["9"] = _node("SaveImage", filename_prefix="ComfyUI", images=["8", 0])
    return graph


_WIDGET_ORDER = {
    "CheckpointLoaderSimple": ["ckpt_name"],
    "LoraLoader": ["lora_name", "strength_model", "strength_clip"],
    "EmptyLatentImage": ["width", "height", "batch_size"],
    "CLIPTextEncode": ["text"],
    "KSampler": ["seed", "control_after_generate", "steps", "cfg", "sampler_name", "scheduler",
                 "denoise"],
    "SaveImage": ["filename_prefix"],
}  # fmt: skip


def _node(ctype: str, **inputs: Any) -> dict[str, Any]:
    """One API-graph node."""
    return {"class_type": ctype, "inputs": inputs}


def comfyui_workflow(graph: dict[str, Any]) -> dict[str, Any]:
    """UI workflow JSON (nodes, links, widgets_values) equivalent to an API graph."""
    nodes: dict[str, dict[str, Any]] = {}
    links: list[list[Any]] = []
    for nid, node in graph.items():
        ctype, inputs = node["class_type"], node["inputs"]
        order = _WIDGET_ORDER.get(ctype, [k for k, v in inputs.items() if not isinstance(v, list)])
        widgets = ["fixed" if k == "control_after_generate" else inputs.get(k) for k in order]
        nodes[nid] = dict(
            id=int(nid), type=ctype, pos=[0, 0], size=[300, 100], flags={}, order=len(nodes),
            mode=0, inputs=[], outputs=[], properties={}, widgets_values=widgets,
        )  # fmt: skip
    for nid, node in graph.items():
        for name, value in node["inputs"].items():
            if isinstance(value, list) and str(value[0]) in nodes:
                link_id = len(links) + 1
                links.append([link_id, int(value[0]), value[1], int(nid), 0, "*"])
                nodes[nid]["inputs"].append({"name": name, "type": "*", "link": link_id})
                nodes[str(value[0])]["outputs"].append(
                    {"name": "out", "type": "*", "links": [link_id], "slot_index": value[1]}
                )
    last = max(int(n) for n in nodes)
    return dict(last_node_id=last, last_link_id=len(links), nodes=list(nodes.values()),
                links=links, groups=[], config={}, extra={}, version=0.4)  # fmt: skip


def write_comfyui_png(
    path: Path,
    prompt: str = "a neon city at night, cinematic lighting",
    negative: str = "blurry, watermark",
    seed: int = 123456789,
    ckpt: str = "sd_xl_base_1.0.safetensors",
    size: Size = (64, 64),
    *,
    include_prompt: bool = True,
    include_workflow: bool = True,
    graph: dict[str, Any] | None = None,
    **graph_args: Any,
) -> Path:
    """PNG with ComfyUI's `prompt` (API graph) and/or `workflow` (UI JSON) text chunks."""
    graph = graph or comfyui_api_graph(prompt, negative, seed=seed, ckpt=ckpt, **graph_args)
    info = PngInfo()
    if include_prompt:
        info.add_text("prompt", json.dumps(graph))
    if include_workflow:
        info.add_text("workflow", json.dumps(comfyui_workflow(graph)))
    return save(sample_image(size, seed_of(prompt, seed)), path, "PNG", pnginfo=info)


def write_comfyui_webp(
    path: Path,
    prompt: str = "a retro robot, studio light",
    negative: str = "blurry",
    seed: int = 31,
    size: Size = (64, 64),
    **graph_args: Any,
) -> Path:
    """WebP with `workflow:`/`prompt:` JSON in EXIF Make/Model, as ComfyUI's WebP saver does."""
    from PIL import Image

    graph = comfyui_api_graph(prompt, negative, seed=seed, **graph_args)
    exif = Image.Exif()
    exif[0x010F] = "workflow:" + json.dumps(comfyui_workflow(graph))
    exif[0x0110] = "prompt:" + json.dumps(graph)
    img = sample_image(size, seed_of(prompt, seed))
    return save(img, path, "WEBP", exif=exif.tobytes(), quality=80)
