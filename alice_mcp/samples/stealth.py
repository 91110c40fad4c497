"""Stealth pnginfo samples: parameters hidden in pixel LSBs (A1111 extension, NovelAI)."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

from alice_mcp.samples.a1111 import a1111_infotext
from alice_mcp.samples.images import Size, sample_image, save, seed_of


def stealth_bits(payload: str, *, compressed: bool = True, mode: str = "alpha") -> np.ndarray:
    """Signature, 32-bit length in bits, then the (gzip) UTF-8 payload, as a bit array."""
    body = payload.encode("utf-8")
    if compressed:
        buf = io.BytesIO()
        with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
            gz.write(body)
        body = buf.getvalue()
    kind = "png" if mode == "alpha" else "rgb"
    head = f"stealth_{kind}{'comp' if compressed else 'info'}".encode()
    data = head + (len(body) * 8).to_bytes(4, "big") + body
    return np.unpackbits(np.frombuffer(data, dtype=np.uint8))


def embed_stealth(img: Image.Image, payload: str, *, compressed: bool = True,
                  mode: str = "alpha") -> Image.Image:  # fmt: skip
    """Hide a payload in the LSBs, column by column (alpha, or R, G, B in turn)."""
    img = img.convert("RGBA" if mode == "alpha" else "RGB")
    arr = np.array(img)
    bits = stealth_bits(payload, compressed=compressed, mode=mode)
    plane = arr[:, :, 3:4] if mode == "alpha" else arr[:, :, :3]
    cols = plane.transpose(1, 0, 2).reshape(-1).copy()  # x outer, y inner, channel innermost
    if len(bits) > len(cols):
        raise ValueError(f"payload of {len(bits)} bits does not fit in {len(cols)}")
    cols[: len(bits)] = (cols[: len(bits)] & 0xFE) | bits
    restored = cols.reshape(plane.shape[1], plane.shape[0], plane.shape[2]).transpose(1, 0, 2)
    if mode == "alpha":
        arr[:, :, 3:4] = restored
    else:
        arr[:, :, :3] = restored
    return Image.fromarray(arr, img.mode)


def write_stealth_a1111_png(
    path: Path,
    prompt: str = "a watercolor harbor at dawn",
    negative: str = "text",
    seed: int = 5150,
    size: Size = (128, 128),
    *,
    compressed: bool = True,
    mode: str = "alpha",
) -> Path:
    """A1111 PNG with the infotext only in the pixels (no text chunk), like the extension."""
    text = a1111_infotext(prompt, negative, seed=seed, size=(512, 512))
    img = sample_image(size, seed_of(prompt, seed)).convert("RGBA")
    if mode == "alpha":
        img.putalpha(255)
    return save(embed_stealth(img, text, compressed=compressed, mode=mode), path, "PNG")


def write_stealth_novelai_png(
    path: Path,
    prompt: str = "1girl, cherry blossoms, night",
    negative: str = "lowres",
    seed: int = 2024,
    size: Size = (128, 128),
) -> Path:
    """NovelAI PNG whose alpha LSBs carry the JSON of its text chunks (gzip, stealth_pngcomp)."""
    comment = {"prompt": prompt, "steps": 28, "width": 832, "height": 1216, "scale": 5.0,
               "seed": seed, "sampler": "k_euler_ancestral", "uc": negative}  # fmt: skip
    payload = {
        "Title": "NovelAI generated image",
        "Description": prompt,
        "Software": "NovelAI",
        "Source": "NovelAI Diffusion V4 4F49EC75",
        "Generation time": "3.2",
        "Comment": json.dumps(comment),
    }
    img = sample_image(size, seed_of(prompt, seed)).convert("RGBA")
    img.putalpha(254)
    return save(embed_stealth(img, json.dumps(payload)), path, "PNG")
