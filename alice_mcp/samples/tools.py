"""Samples of InvokeAI 1/2, Fooocus, SwarmUI, Easy Diffusion and Draw Things files.

Each writer stores the metadata where (and in the shape) that tool writes it; see
/work/shared/FORMATS.md and the parsers in alice_mcp.metadata.generators.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from alice_mcp.samples.a1111 import exif_with_comment
from alice_mcp.samples.images import Size, sample_image, save, seed_of, write_png_text


def write_invokeai_dream_png(
    path: Path,
    prompt: str = "a retro robot in a field",
    negative: str = "blurry",
    seed: int = 2980747362,
    size: Size = (64, 64),
) -> Path:
    """InvokeAI 1: `Dream` = `"prompt [negative]" -s 50 -S seed -W 512 -H 768 -C 7.5 -A k_lms`."""
    dream = f'"{prompt} [{negative}]" -s 50 -S {seed} -W 512 -H 768 -C 7.5 -A k_lms'
    return write_png_text(path, {"Dream": dream}, size, seed=seed)


def write_invokeai_sdmeta_png(
    path: Path,
    prompt: str = "a sunflower field at noon",
    negative: str = "rendering, glowing eyes",
    seed: int = 1618,
    size: Size = (64, 64),
) -> Path:
    """InvokeAI 2: `sd-metadata` JSON (and the `Dream` line it also writes)."""
    meta = {
        "model": "stable diffusion",
        "model_weights": "deliberateForInvoke_v08",
        "model_hash": "56d1442a0feefd64836a19ac8e3527ec71c884fc962e246ddf67b03e42921272",
        "app_id": "invoke-ai/InvokeAI",
        "app_version": "2.3.0",
        "image": {
            "prompt": [{"prompt": f"{prompt} [{negative}]", "weight": 1.0}],
            "steps": 40,
            "cfg_scale": 5,
            "threshold": 0,
            "perlin": 0,
            "height": 768,
            "width": 512,
            "seed": seed,
            "seamless": False,
            "hires_fix": False,
            "type": "txt2img",
            "postprocessing": None,
            "sampler": "k_lms",
            "variations": [],
        },
    }
    dream = f'"{prompt} [{negative}]" -s 40 -S {seed} -W 512 -H 768 -C 5.0 -A k_lms'
    texts = {"Dream": dream, "sd-metadata": json.dumps(meta)}
    return write_png_text(path, texts, size, seed=seed)


def fooocus_parameters(
    prompt: str, negative: str, seed: int, model: str = "juggernautXL_v8Rundiffusion"
) -> dict[str, Any]:
    """The flat settings object of Fooocus' own metadata scheme."""
    return {
        "adm_guidance": "(1.5, 0.8, 0.3)",
        "base_model": f"{model}.safetensors",
        "base_model_hash": "aeb7e9e689",
        "full_negative_prompt": [negative],
        "full_prompt": [prompt],
        "guidance_scale": 4.0,
        "lora_combined_1": "sd_xl_offset_example-lora_1.0.safetensors : 0.1",
        "metadata_scheme": "fooocus",
        "negative_prompt": negative,
        "performance": "Speed",
        "prompt": prompt,
        "prompt_expansion": f"{prompt}, intricate",
        "refiner_model": "None",
        "refiner_switch": 0.5,
        "resolution": "(1152, 896)",
        "sampler": "dpmpp_2m_sde_gpu",
        "scheduler": "karras",
        "seed": str(seed),
        "sharpness": 2.0,
        "steps": 30,
        "styles": "['Fooocus V2', 'Fooocus Enhance']",
        "vae": "Default (model)",
        "version": "Fooocus v2.5.5",
    }


def write_fooocus_png(
    path: Path,
    prompt: str = "a misty forest, volumetric light",
    negative: str = "lowres",
    seed: int = 8675309,
    size: Size = (64, 64),
) -> Path:
    """Fooocus PNG: `parameters` = the JSON, `fooocus_scheme` = "fooocus"."""
    body = json.dumps(fooocus_parameters(prompt, negative, seed))
    return write_png_text(path, {"parameters": body, "fooocus_scheme": "fooocus"}, size, seed)


def write_fooocus_jpeg(
    path: Path,
    prompt: str = "a desert caravan at dusk",
    negative: str = "",
    seed: int = 4242,
    size: Size = (64, 64),
) -> Path:
    """Fooocus JPEG: UserComment = JSON, Software, MakerNote = scheme (all in IFD0, as Fooocus does)."""
    exif = Image.Exif()
    exif[0x9286] = json.dumps(fooocus_parameters(prompt, negative, seed))
    exif[0x0131] = "Fooocus v2.5.5"
    exif[0x927C] = "fooocus"
    img = sample_image(size, seed_of(prompt, seed))
    return save(img, path, "JPEG", exif=exif.tobytes(), quality=85)


def swarmui_parameters(prompt: str, negative: str, seed: int) -> dict[str, Any]:
    """SwarmUI's metadata object."""
    params = {
        "prompt": prompt,
        "negativeprompt": negative,
        "model": "Flux/flux1-dev-fp8",
        "seed": seed,
        "steps": 25,
        "cfgscale": 1.0,
        "aspectratio": "Custom",
        "width": 832,
        "height": 1216,
        "sampler": "euler",
        "scheduler": "normal",
        "loras": ["Flux/detail-tweaker", "style-lora"],
        "loraweights": ["0.8", "0.5"],
        "swarm_version": "0.9.1.1",
        "date": "2024-08-07",
        "generation_time": "0.55 (prep) and 21.10 (gen) seconds",
    }
    models = [{"name": "flux1-dev-fp8.safetensors", "param": "model", "hash": "0x1234"}]
    return {"sui_image_params": params, "sui_models": models}


def write_swarmui_png(
    path: Path,
    prompt: str = "an astronaut cat, studio photo",
    negative: str = "cartoon",
    seed: int = 305223794,
    size: Size = (64, 64),
) -> Path:
    """SwarmUI PNG: `parameters` iTXt holding the JSON (indented, as Swarm writes it)."""
    info = PngInfo()
    info.add_itxt("parameters", json.dumps(swarmui_parameters(prompt, negative, seed), indent=2))
    return save(sample_image(size, seed_of(prompt, seed)), path, "PNG", pnginfo=info)


def write_swarmui_jpeg(
    path: Path,
    prompt: str = "a koi pond, top view",
    negative: str = "",
    seed: int = 77,
    size: Size = (64, 64),
) -> Path:
    """SwarmUI JPEG: the JSON in EXIF UserComment."""
    body = json.dumps(swarmui_parameters(prompt, negative, seed))
    img = sample_image(size, seed_of(prompt, seed))
    return save(img, path, "JPEG", exif=exif_with_comment(body, "unicode-be"), quality=85)


def easydiffusion_settings(prompt: str, negative: str, seed: int) -> dict[str, Any]:
    """Easy Diffusion's request keys."""
    return {
        "prompt": prompt,
        "negative_prompt": negative,
        "seed": seed,
        "use_stable_diffusion_model": "C:\\EasyDiffusion\\models\\stable-diffusion\\sd-v1-5.ckpt",
        "clip_skip": False,
        "use_vae_model": "",
        "sampler_name": "euler_a",
        "width": 512,
        "height": 640,
        "num_inference_steps": 25,
        "guidance_scale": 7.5,
        "use_lora_model": "add_detail",
        "lora_alpha": 0.5,
    }


LABELS = {
    "prompt": "Prompt",
    "negative_prompt": "Negative Prompt",
    "seed": "Seed",
    "use_stable_diffusion_model": "Stable Diffusion model",
    "clip_skip": "Clip Skip",
    "use_vae_model": "VAE model",
    "sampler_name": "Sampler",
    "width": "Width",
    "height": "Height",
    "num_inference_steps": "Steps",
    "guidance_scale": "Guidance Scale",
    "use_lora_model": "LoRA model",
    "lora_alpha": "LoRA Strength",
}


def write_easydiffusion_png(
    path: Path,
    prompt: str = "a castle on a hill, matte painting",
    negative: str = "people",
    seed: int = 31337,
    size: Size = (64, 64),
    *,
    labels: bool = False,
) -> Path:
    """Easy Diffusion PNG: one text chunk per setting (request keys, or display labels)."""
    settings = easydiffusion_settings(prompt, negative, seed)
    texts = {(LABELS[k] if labels else k): str(v) for k, v in settings.items()}
    return write_png_text(path, texts, size, seed=seed)


def write_easydiffusion_jpeg(
    path: Path,
    prompt: str = "a snowy mountain village",
    negative: str = "",
    seed: int = 99,
    size: Size = (64, 64),
) -> Path:
    """Easy Diffusion JPEG: the settings as JSON in EXIF UserComment."""
    body = json.dumps(easydiffusion_settings(prompt, negative, seed))
    img = sample_image(size, seed_of(prompt, seed))
    return save(img, path, "JPEG", exif=exif_with_comment(body, "ascii"), quality=85)


def drawthings_xmp(prompt: str, negative: str, seed: int) -> str:
    """Draw Things' XMP packet: description text plus the JSON configuration."""
    config = {
        "c": prompt, "uc": negative, "seed": seed, "steps": 8, "scale": 4.5,
        "sampler": "DPM++ 2M Karras", "model": "flux_1_schnell_q5p.ckpt", "size": "768x1024",
        "strength": 1, "seed_mode": "Scale Alike", "shift": 3,
        "v2": {"loras": [{"file": "detail_slider_v2.ckpt", "weight": 0.6, "mode": "all"}]},
    }  # fmt: skip
    desc = (
        f"{prompt}\n-{negative}\nSteps: 8, Sampler: DPM++ 2M Karras, Guidance Scale: 4.5, "
        f"Seed: {seed}, Size: 768x1024, Model: flux_1_schnell_q5p.ckpt"
    )
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 6.0.0">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:exif="http://ns.adobe.com/exif/1.0/">'
        '<dc:description><rdf:Alt><rdf:li xml:lang="x-default">'
        f"{html.escape(desc, quote=False).replace(chr(10), '&#xA;')}</rdf:li></rdf:Alt>"
        "</dc:description><xmp:CreatorTool>Draw Things</xmp:CreatorTool>"
        '<exif:UserComment><rdf:Alt><rdf:li xml:lang="x-default">'
        f"{html.escape(json.dumps(config), quote=False)}</rdf:li></rdf:Alt></exif:UserComment>"
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
    )


def write_drawthings_png(
    path: Path,
    prompt: str = "lichen colony, (mist:1.3) & bark <close-up>",
    negative: str = "blurry",
    seed: int = 1172910896,
    size: Size = (64, 64),
    fmt: str = "PNG",
) -> Path:
    """Draw Things PNG (iTXt XML:com.adobe.xmp) or JPEG (`fmt="JPEG"`, APP1 XMP)."""
    xmp = drawthings_xmp(prompt, negative, seed)
    img = sample_image(size, seed_of(prompt, seed))
    if fmt == "PNG":
        info = PngInfo()
        info.add_itxt("XML:com.adobe.xmp", xmp)
        return save(img, path, "PNG", pnginfo=info)
    return save(img, path, fmt, xmp=xmp.encode("utf-8"), quality=85)
