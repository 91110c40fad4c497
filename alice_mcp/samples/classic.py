"""Samples of Midjourney, NovelAI and InvokeAI 3 PNGs (text chunks as those tools write them)."""

from __future__ import annotations

import json
from pathlib import Path

from alice_mcp.samples.images import Size, seed_of, write_png_text


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
    return write_png_text(path, texts, size, seed=seed_of(job_id))


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
