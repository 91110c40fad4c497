"""Small sample images carrying real generator metadata, for tests, benchmarks and demos.

Every writer draws a distinct little picture (gradient + shapes, colours from a seed, so
perceptual hashes differ) and stores the metadata where the generator itself puts it.
Deterministic for a given seed; 64x64 pixels by default, so thousands take seconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw
from PIL.PngImagePlugin import PngInfo

Size = tuple[int, int]
CHARSETS = {
    "unicode-be": (b"UNICODE\x00", "utf-16-be"),
    "unicode-le": (b"UNICODE\x00", "utf-16-le"),
    "ascii": (b"ASCII\x00\x00\x00", "utf-8"),
    "undefined": (b"\x00" * 8, "utf-8"),
}
_WORDS = """portrait of a fox, castle on a hill, neon city at night, misty forest, astronaut cat,
watercolor harbor, cyberpunk street, desert caravan, snowy mountains, koi pond, steampunk airship,
sunflower field, underwater temple, retro robot, autumn library"""
WORDS = [w.strip() for w in _WORDS.split(",")]
STYLES = ("highly detailed", "cinematic lighting", "oil painting", "35mm photo", "anime style")


# ---------------------------------------------------------------- pixels


def sample_image(size: Size = (64, 64), seed: int = 0) -> Image.Image:
    """Draw a gradient with a few shapes; different seeds give visibly different images."""
    rng = random.Random(seed)
    w, h = size
    c1 = np.array([rng.randrange(256) for _ in range(3)], dtype=np.float32)
    c2 = np.array([rng.randrange(256) for _ in range(3)], dtype=np.float32)
    axis = np.linspace(0.0, 1.0, w if rng.random() < 0.5 else h, dtype=np.float32)
    if len(axis) == w:
        t = np.broadcast_to(axis[None, :], (h, w))
    else:
        t = np.broadcast_to(axis[:, None], (h, w))
    pixels = (c1 * (1 - t[..., None]) + c2 * t[..., None]).astype(np.uint8)
    img = Image.fromarray(pixels, "RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(rng.randint(2, 5)):
        x0, y0 = rng.randrange(w), rng.randrange(h)
        x1, y1 = x0 + rng.randint(w // 8, w // 2), y0 + rng.randint(h // 8, h // 2)
        colour = tuple(rng.randrange(256) for _ in range(3))
        shape = rng.choice(("ellipse", "rectangle", "polygon"))
        if shape == "ellipse":
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        elif shape == "rectangle":
            draw.rectangle((x0, y0, x1, y1), fill=colour)
        else:
            draw.polygon([(x0, y0), (x1, y0), ((x0 + x1) // 2, y1)], fill=colour)
    return img


def _seed_of(*parts: Any) -> int:
    """A stable integer from arbitrary values (drives the picture when no seed is given)."""
    return int.from_bytes(hashlib.blake2b(repr(parts).encode(), digest_size=4).digest(), "big")


# ---------------------------------------------------------------- A1111


def a1111_quote(value: str) -> str:
    """Quote a value the way A1111 does when it contains a comma, colon or newline."""
    if not any(c in value for c in ",:\n"):
        return value
    return json.dumps(value, ensure_ascii=False)


def a1111_infotext(
    prompt: str,
    negative: str | None = None,
    *,
    seed: int = 1234,
    steps: int = 20,
    sampler: str = "Euler a",
    cfg: float = 7.0,
    size: Size = (512, 512),
    model: str | None = "v1-5-pruned-emaonly",
    version: str = "v1.10.1",
    **params: Any,
) -> str:
    """Build A1111 infotext; extra keyword params become `Key name: value` (underscores->spaces)."""
    fields: dict[str, Any] = {
        "Steps": steps,
        "Sampler": sampler,
        "CFG scale": cfg,
        "Seed": seed,
        "Size": f"{size[0]}x{size[1]}",
    }
    if model:
        fields["Model hash"] = hashlib.sha256(model.encode()).hexdigest()[:10]
        fields["Model"] = model
    for key, value in params.items():
        fields[key.replace("_", " ").capitalize() if "_" in key else key] = value
    fields["Version"] = version
    last = ", ".join(f"{k}: {a1111_quote(str(v))}" for k, v in fields.items() if v is not None)
    lines = [prompt]
    if negative:
        lines.append(f"Negative prompt: {negative}")
    lines.append(last)
    return "\n".join(lines)


def write_a1111_png(
    path: Path,
    prompt: str = "a red fox in the snow, highly detailed",
    negative: str = "blurry",
    seed: int = 1234,
    model: str | None = "v1-5-pruned-emaonly",
    size: Size = (64, 64),
    **params: Any,
) -> Path:
    """PNG with the infotext in the `parameters` text chunk, as A1111/Forge save it."""
    text = a1111_infotext(prompt, negative, seed=seed, model=model, size=size, **params)
    info = PngInfo()
    info.add_text("parameters", text)
    return _save(sample_image(size, _seed_of(prompt, seed)), path, "PNG", pnginfo=info)


def user_comment(text: str, encoding: str = "unicode-be") -> bytes:
    """EXIF UserComment bytes: the 8-byte charset prefix, then the encoded text."""
    prefix, codec = CHARSETS[encoding]
    return prefix + text.encode(codec)


def exif_with_comment(text: str, encoding: str = "unicode-be", **tags: str) -> bytes:
    """EXIF block with UserComment in the Exif IFD (plus optional IFD0 strings like Software)."""
    exif = Image.Exif()
    names = {"Make": 0x010F, "Model": 0x0110, "Software": 0x0131, "ImageDescription": 0x010E}
    for name, value in tags.items():
        exif[names[name]] = value
    exif.get_ifd(0x8769)[0x9286] = user_comment(text, encoding)
    return exif.tobytes()


def write_a1111_jpeg(
    path: Path,
    prompt: str = "a lighthouse at dusk, oil painting",
    negative: str = "lowres",
    seed: int = 42,
    model: str | None = "sd_xl_base_1.0",
    size: Size = (64, 64),
    encoding: str = "unicode-be",
    **params: Any,
) -> Path:
    """JPEG with the infotext in EXIF UserComment (A1111 writes UNICODE, big-endian)."""
    text = a1111_infotext(prompt, negative, seed=seed, model=model, size=size, **params)
    img = sample_image(size, _seed_of(prompt, seed))
    return _save(img, path, "JPEG", exif=exif_with_comment(text, encoding), quality=85)


def write_a1111_webp(
    path: Path,
    prompt: str = "a koi pond in autumn, watercolor",
    negative: str = "jpeg artifacts",
    seed: int = 7,
    model: str | None = "flux1-dev",
    size: Size = (64, 64),
    encoding: str = "unicode-be",
    **params: Any,
) -> Path:
    """WebP with the infotext in EXIF UserComment."""
    text = a1111_infotext(prompt, negative, seed=seed, model=model, size=size, **params)
    img = sample_image(size, _seed_of(prompt, seed))
    return _save(img, path, "WEBP", exif=exif_with_comment(text, encoding), quality=80)


# ---------------------------------------------------------------- ComfyUI


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
    return _save(sample_image(size, _seed_of(prompt, seed)), path, "PNG", pnginfo=info)


# ---------------------------------------------------------------- other generators


def write_png_text(path: Path, texts: dict[str, str], size: Size = (64, 64), seed: int = 0) -> Path:
    """PNG carrying arbitrary text chunks (for edge cases and generators without a writer)."""
    info = PngInfo()
    for key, value in texts.items():
        info.add_text(key, value)
    return _save(
        sample_image(size, _seed_of(sorted(texts.items()), seed)), path, "PNG", pnginfo=info
    )


def write_midjourney_png(
    path: Path,
    prompt: str = "a steampunk airship over clouds --ar 1:1 --v 6.1",
    job_id: str = "0b3e1c9a-5f7d-4e2b-9a61-3c8d2f4e7a10",
    size: Size = (64, 64),
    created: str = "2024-05-04T12:30:00Z",
) -> Path:
    """PNG with Midjourney-style `Description` (prompt + Job ID), `Author`, `Creation Time`."""
    texts = {
        "Description": f"{prompt} Job ID: {job_id}",
        "Author": "sample_user",
        "Creation Time": created,
    }
    return write_png_text(path, texts, size, seed=_seed_of(job_id))


def write_novelai_png(
    path: Path,
    prompt: str = "1girl, cherry blossoms, masterpiece",
    negative: str = "lowres",
    seed: int = 3141,
    size: Size = (64, 64),
) -> Path:
    """PNG with NovelAI's Software/Description/Comment/Source text chunks."""
    comment = {
        "prompt": prompt,
        "steps": 28,
        "height": 1216,
        "width": 832,
        "scale": 5.0,
        "seed": seed,
        "sampler": "k_euler_ancestral",
        "noise_schedule": "karras",
        "uc": negative,
    }
    texts = {
        "Title": "NovelAI generated image",
        "Description": prompt,
        "Software": "NovelAI",
        "Source": "NovelAI Diffusion V3 7BCCAA2C",
        "Comment": json.dumps(comment),
    }
    return write_png_text(path, texts, size, seed=seed)


def write_invokeai_png(
    path: Path,
    prompt: str = "an underwater temple, god rays",
    negative: str = "text",
    seed: int = 2718,
    size: Size = (64, 64),
) -> Path:
    """PNG with InvokeAI 3's `invokeai_metadata` JSON chunk."""
    meta = {
        "generation_mode": "sdxl_txt2img",
        "positive_prompt": prompt,
        "negative_prompt": negative,
        "width": 1024,
        "height": 1024,
        "seed": seed,
        "steps": 30,
        "cfg_scale": 6.5,
        "scheduler": "dpmpp_2m_k",
        "model": {"name": "juggernautXL_v9", "base": "sdxl", "type": "main"},
        "loras": [{"model": {"name": "detail_tweaker_xl", "base": "sdxl"}, "weight": 0.6}],
        "app_version": "4.2.9",
    }
    return write_png_text(path, {"invokeai_metadata": json.dumps(meta)}, size, seed=seed)


def write_plain_png(path: Path, size: Size = (64, 64), seed: int = 0) -> Path:
    """PNG without any metadata (only the file name can say what made it)."""
    return _save(sample_image(size, seed), path, "PNG")


def write_plain_jpeg(path: Path, size: Size = (64, 64), seed: int = 0) -> Path:
    """JPEG without any metadata."""
    return _save(sample_image(size, seed), path, "JPEG", quality=85)


def _save(img: Image.Image, path: Path, fmt: str, **kwargs: Any) -> Path:
    """Save an image, creating parent folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, fmt, **kwargs)
    return path


# ---------------------------------------------------------------- inbox


def make_sample_inbox(root: Path, count: int = 24, seed: int = 0) -> list[Path]:
    """Fill an inbox with a varied, deterministic mix of generators, formats and folders.

    Some files sit in project folders, some in the root; the last one is a byte-identical
    copy of the first in a `duplicates` folder. File mtimes are fixed (one day apart).
    """
    root = Path(root)
    rng = random.Random(seed)
    folders = ("portraits", "landscapes", "", "abstract", "")
    writers = _inbox_writers()
    paths: list[Path] = []
    for i in range(count - 1 if count > 1 else count):
        prompt = f"{rng.choice(WORDS)}, {rng.choice(STYLES)}"
        s = rng.randrange(1, 2**32)
        stem, ext, write = writers[i % len(writers)]
        folder = root / folders[i % len(folders)]
        name = stem.format(i=i, s=s, d=1 + i % 9, hh=i // 3600 % 24, mm=i // 60 % 60, ss=i % 60,
                           pr=prompt.split(",")[0])
        path = write(folder / f"{name}{ext}", prompt, s)
        paths.append(path)
    if count > 1 and paths:
        dup = root / "duplicates" / paths[0].name
        dup.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(paths[0], dup)
        paths.append(dup)
    for i, path in enumerate(paths):
        when = 1_704_067_200 + 86_400 * i  # 2024-01-01 UTC + i days
        os.utime(path, (when, when))
    return paths


Writer = Callable[[Path, str, int], Path]


def _inbox_writers() -> list[tuple[str, str, Writer]]:
    """(name pattern, extension, writer) rows that make_sample_inbox cycles through."""
    return [
        ("{i:05d}-{s}", ".png", lambda p, pr, s: write_a1111_png(p, pr, seed=s)),
        ("ComfyUI_{i:05d}_", ".png", lambda p, pr, s: write_comfyui_png(p, pr, seed=s)),
        (
            "sample_user_{i}_mj",
            ".png",
            lambda p, pr, s: write_midjourney_png(
                p, f"{pr} --ar 1:1 --v 6.1", job_id=_fake_uuid(s)
            ),
        ),
        ("photo_{i}", ".jpg", lambda p, pr, s: write_a1111_jpeg(p, pr, seed=s)),
        (
            "DALL·E 2024-03-0{d} {hh:02d}.{mm:02d}.{ss:02d} - {pr}",
            ".png",
            lambda p, pr, s: write_plain_png(p, seed=s),
        ),
        ("render_{i}", ".webp", lambda p, pr, s: write_a1111_webp(p, pr, seed=s)),
        ("nai_{i}", ".png", lambda p, pr, s: write_novelai_png(p, pr, seed=s)),
        ("invoke_{i}", ".png", lambda p, pr, s: write_invokeai_png(p, pr, seed=s)),
        ("kling_{i}_frame", ".png", lambda p, pr, s: write_plain_png(p, seed=s)),
        (
            "workflow_only_{i}",
            ".png",
            lambda p, pr, s: write_comfyui_png(
                p, pr, seed=s, include_prompt=False, ckpt="flux1-dev-fp8.safetensors"
            ),
        ),
        ("IMG_{i:04d}", ".jpg", lambda p, pr, s: write_plain_jpeg(p, seed=s)),
        ("le_{i}", ".jpg", lambda p, pr, s: write_a1111_jpeg(p, pr, seed=s, encoding="unicode-le")),
    ]


def _fake_uuid(seed: int) -> str:
    """A deterministic UUID-shaped id."""
    h = hashlib.md5(str(seed).encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
