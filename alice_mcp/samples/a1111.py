"""AUTOMATIC1111-style samples: infotext in a PNG `parameters` chunk or an EXIF UserComment."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from alice_mcp.samples.images import Size, sample_image, save, seed_of

CHARSETS = {
    "unicode-be": (b"UNICODE\x00", "utf-16-be"),
    "unicode-le": (b"UNICODE\x00", "utf-16-le"),
    "ascii": (b"ASCII\x00\x00\x00", "utf-8"),
    "undefined": (b"\x00" * 8, "utf-8"),
}


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
    return save(sample_image(size, seed_of(prompt, seed)), path, "PNG", pnginfo=info)


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
    img = sample_image(size, seed_of(prompt, seed))
    return save(img, path, "JPEG", exif=exif_with_comment(text, encoding), quality=85)


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
    img = sample_image(size, seed_of(prompt, seed))
    return save(img, path, "WEBP", exif=exif_with_comment(text, encoding), quality=80)
