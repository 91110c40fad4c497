"""Samples laid out the way services, front-ends and saver nodes write them today (issue 16).

Each writer puts the metadata where that tool does: SwarmUI's JSON beside the ComfyUI graph
it ran, NovelAI's WebP EXIF UserComment, ComfyUI saver nodes' EXIF (UserComment JSON without
a charset prefix; save-image-extended's `Prompt: ` Make and `Workflow: ` ImageDescription),
Civitai's infotext lines and upscale graphs, Stability Matrix, TensorArt, RuinedFooocus and
Hugging Face Spaces chunks.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from alice_mcp.samples.a1111 import a1111_infotext, exif_with_comment
from alice_mcp.samples.comfyui import comfyui_api_graph, comfyui_workflow
from alice_mcp.samples.images import Size, sample_image, save, seed_of
from alice_mcp.samples.tools import swarmui_parameters

FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
CIVITAI_RESOURCES = [
    {"type": "checkpoint", "modelVersionId": 290640, "modelName": "Pony Diffusion V6 XL",
     "modelVersionName": "V6 (start with this one)"},
    {"type": "lora", "weight": 0.8, "modelVersionId": 12345, "modelName": "Detail Tweaker",
     "modelVersionName": "v1.0"},
]  # fmt: skip


def _png(path: Path, texts: dict[str, str], seed: int, size: Size = (64, 64),
         itxt: tuple[str, ...] = ()) -> Path:  # fmt: skip
    """A PNG with text chunks in the given order (iTXt for the `itxt` keys, tEXt otherwise)."""
    info = PngInfo()
    for key, value in texts.items():
        if key in itxt:
            info.add_itxt(key, value)
        else:
            info.add_text(key, value)
    return save(sample_image(size, seed), path, "PNG", pnginfo=info)


def write_swarmui_comfy_png(path: Path, prompt: str = "a lighthouse, swarm", seed: int = 99) -> Path:
    """SwarmUI with its ComfyUI backend: `parameters` (sui JSON) and `prompt`/`workflow`."""
    graph = comfyui_api_graph("graph prompt text", "graph negative", seed=seed + 1,
                              ckpt="graph_model.safetensors")  # fmt: skip
    texts = {
        "parameters": json.dumps(swarmui_parameters(prompt, "ugly", seed), indent=2),
        "prompt": json.dumps(graph),
        "workflow": json.dumps(comfyui_workflow(graph)),
    }
    return _png(path, texts, seed_of(prompt, seed), itxt=("parameters",))


def novelai_fields(prompt: str, negative: str, seed: int) -> dict[str, str]:
    """NovelAI's text fields, the Comment holding the settings JSON as a string."""
    comment = {"prompt": prompt, "steps": 28, "height": 1216, "width": 832, "scale": 5.0,
               "seed": seed, "sampler": "k_euler_ancestral", "noise_schedule": "karras",
               "uc": negative}  # fmt: skip
    return {
        "Title": "NovelAI generated image",
        "Description": prompt,
        "Software": "NovelAI",
        "Source": "NovelAI Diffusion V4.5 4BDE2A90",
        "Generation time": "5.2",
        "Comment": json.dumps(comment),
    }


def write_novelai_webp(path: Path, prompt: str = "1girl, lantern festival",
                       negative: str = "lowres", seed: int = 555,
                       encoding: str = "unicode-be") -> Path:  # fmt: skip
    """NovelAI WebP: the text fields as one JSON object in EXIF UserComment."""
    body = json.dumps(novelai_fields(prompt, negative, seed))
    img = sample_image((64, 64), seed_of(prompt, seed))
    return save(img, path, "WEBP", exif=exif_with_comment(body, encoding), quality=80)


def _exif(user_comment: bytes | None = None, **strings: str) -> bytes:
    """EXIF with IFD0 strings and a UserComment stored as given (no charset prefix added)."""
    exif = Image.Exif()
    names = {"Make": 0x010F, "Model": 0x0110, "ImageDescription": 0x010E, "Software": 0x0131}
    for name, value in strings.items():
        exif[names[name]] = value
    if user_comment is not None:
        exif.get_ifd(0x8769)[0x9286] = user_comment
    return exif.tobytes()


def write_comfyui_exif(path: Path, fmt: str = "webp", *, layout: str = "usercomment",
                       prompt: str = "a paper boat, macro", seed: int = 808,
                       key_case: str = "lower") -> Path:  # fmt: skip
    """ComfyUI saver-node layouts in a JPEG/WebP:

    `usercomment`: UserComment = UTF-8 `{"prompt": {...}, "workflow": {...}}` (no prefix);
    `extended`: Make = `Prompt: {...}`, ImageDescription = `Workflow: {...}`
    (save-image-extended; `key_case` "lower" writes `prompt: `/`workflow: ` instead);
    `bare`: UserComment = the API graph alone, with Civitai's `extraMetadata` inside.
    """
    graph = comfyui_api_graph(prompt, "low quality", seed=seed, ckpt="juggernautXL_v9.safetensors")
    if layout == "usercomment":
        body = {"prompt": graph, "workflow": comfyui_workflow(graph)}
        exif = _exif(json.dumps(body).encode())
    elif layout == "extended":
        p, w = ("Prompt", "Workflow") if key_case == "title" else ("prompt", "workflow")
        exif = _exif(Make=f"{p}: {json.dumps(graph)}",
                     ImageDescription=f"{w}: {json.dumps(comfyui_workflow(graph))}")  # fmt: skip
    elif layout == "bare":
        extra = {"prompt": prompt, "negativePrompt": "bad hands", "cfgScale": 4.5,
                 "sampler": "Euler a", "clipSkip": 2, "steps": 30, "seed": seed,
                 "width": 832, "height": 1216, "baseModel": "Illustrious",
                 "transformations": [{"type": "upscale", "upscaleWidth": 1664,
                                      "upscaleHeight": 2432}]}  # fmt: skip
        upscale = {"10": {"class_type": "LoadImage", "inputs": {"image": "input.png"}},
                   "11": {"class_type": "UpscaleModelLoader",
                          "inputs": {"model_name": "4x-UltraSharp.pth"}},
                   "12": {"class_type": "ImageUpscaleWithModel",
                          "inputs": {"upscale_model": ["11", 0], "image": ["10", 0]}},
                   "extraMetadata": json.dumps(extra)}  # fmt: skip
        exif = _exif(json.dumps(upscale).encode())
    else:
        raise ValueError(f"unknown layout {layout!r}")
    img = sample_image((64, 64), seed_of(prompt, seed, layout))
    return save(img, path, FORMATS[fmt], exif=exif, quality=85)


def civitai_infotext(prompt: str, negative: str, seed: int) -> str:
    """Civitai's on-site generator infotext: no Model line; unquoted JSON resource lines."""
    text = a1111_infotext(prompt, negative, seed=seed, model=None, size=(832, 1216),
                          sampler="DPM++ 2M Karras", cfg=5.0, steps=25,
                          Clip_skip=2, version=None)  # fmt: skip
    resources = json.dumps(CIVITAI_RESOURCES, separators=(",", ":"))
    meta = json.dumps({"remixOfId": 987}, separators=(",", ":"))
    return f"{text}, Created Date: 2024-05-01T10:00:00.0000000Z, " \
           f"Civitai resources: {resources}, Civitai metadata: {meta}"  # fmt: skip


def write_civitai(path: Path, fmt: str = "png", prompt: str = "score_9, a fox knight",
                  seed: int = 4242) -> Path:  # fmt: skip
    """Civitai's generator: infotext in PNG `parameters` or JPEG EXIF UserComment."""
    text = civitai_infotext(prompt, "score_4", seed)
    if fmt == "png":
        return _png(path, {"parameters": text}, seed_of(prompt, seed))
    img = sample_image((64, 64), seed_of(prompt, seed))
    return save(img, path, FORMATS[fmt], exif=exif_with_comment(text, "unicode-be"), quality=85)


def write_stability_matrix_png(path: Path, prompt: str = "a glass castle, sm",
                               seed: int = 1717) -> Path:  # fmt: skip
    """Stability Matrix Inference: `parameters`, `parameters-json`, `smproj` and `prompt`."""
    graph = comfyui_api_graph(prompt, "lowres", seed=seed, ckpt="dreamshaperXL_v21.safetensors",
                              steps=30, cfg=6.0, sampler="dpmpp_2m")  # fmt: skip
    params = {"PositivePrompt": prompt, "NegativePrompt": "lowres", "Steps": 30,
              "Sampler": "DPM++ 2M", "CfgScale": 6.0, "Seed": seed, "Height": 1024,
              "Width": 1024, "ModelHash": "4496b36d48", "ModelName": "dreamshaperXL_v21",
              "FrameCount": 0, "MotionBucketId": 0, "Scheduler": "Karras"}  # fmt: skip
    infotext = a1111_infotext(prompt, "lowres", seed=seed, steps=30, sampler="DPM++ 2M",
                              cfg=6.0, size=(1024, 1024), model="dreamshaperXL_v21",
                              version="StabilityMatrix 2.11.0")  # fmt: skip
    project = {"Version": 2, "ProjectType": "TextToImage", "State": {"Model": "x"}}
    texts = {"parameters": infotext, "parameters-json": json.dumps(params),
             "smproj": json.dumps(project), "prompt": json.dumps(graph)}  # fmt: skip
    return _png(path, texts, seed_of(prompt, seed))


def write_tensorart_png(path: Path, prompt: str = "a jade dragon, ta", seed: int = 3030,
                        with_data: bool = True) -> Path:  # fmt: skip
    """TensorArt: a graph whose loader names `EMS-<n>-EMS` and NUL-padded `generation_data`."""
    graph = comfyui_api_graph(prompt, "bad anatomy", seed=seed, ckpt="EMS-309123-EMS.safetensors")
    graph["4"]["class_type"] = "ECHOCheckpointLoaderSimple"
    texts = {"prompt": json.dumps(graph)}
    if with_data:
        data = {"prompt": prompt, "negativePrompt": "bad anatomy", "width": 768,
                "height": 1152, "seed": str(seed), "steps": 25, "cfgScale": 7,
                "clipSkip": 2, "sampler": "Euler a",
                "baseModel": {"modelFileName": "majicMIX realistic v7", "hash": "7C819B6D13"},
                "models": [{"modelId": "EMS-309123-EMS", "type": "BASE_MODEL"}]}  # fmt: skip
        texts["generation_data"] = json.dumps(data) + "\x00\x00"
    return _png(path, texts, seed_of(prompt, seed, with_data))


def write_ruinedfooocus_png(path: Path, prompt: str = "a copper owl, rf", seed: int = 6060) -> Path:
    """RuinedFooocus: JSON `parameters` with Prompt/Negative/base_model_name."""
    data = {"Prompt": prompt, "Negative": "blurry", "steps": 30, "cfg": 8.0, "width": 1152,
            "height": 896, "seed": seed, "sampler_name": "dpmpp_2m_sde_gpu",
            "scheduler": "karras", "base_model_name": "sd_xl_base_1.0_0.9vae.safetensors",
            "base_model_hash": "e6bb9ea85b", "loras": [["sd_xl_offset_example-lora_1.0.safetensors", 0.5]],
            "start_step": 0, "denoise": None, "clip_skip": 1,
            "software": "RuinedFooocus"}  # fmt: skip
    return _png(path, {"parameters": json.dumps(data)}, seed_of(prompt, seed))


def write_hfspace_png(path: Path, prompt: str = "a tin robot, space", seed: int = 7070) -> Path:
    """A Hugging Face Space (Gradio + diffusers): JSON `parameters`."""
    data = {"prompt": prompt, "negative_prompt": "nsfw, lowres", "resolution": "832 x 1216",
            "guidance_scale": 7, "num_inference_steps": 28, "style_preset": "(None)",
            "seed": seed, "sampler": "Euler a", "Model": "Animagine XL 3.1",
            "Model hash": "e3c47aedb0", "use_upscaler": None}  # fmt: skip
    return _png(path, {"parameters": json.dumps(data)}, seed_of(prompt, seed))


def write_unknown_png(path: Path, texts: dict[str, Any] | None = None) -> Path:
    """A PNG whose text chunks no generator wrote (what `unknown` with a reason is for)."""
    texts = texts or {"Title": "holiday", "Comment": "made on my laptop", "mystery": "x=1;y=2"}
    return _png(path, {k: str(v) for k, v in texts.items()}, seed_of(*texts))
