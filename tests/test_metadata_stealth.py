"""Stealth pnginfo (parameters in pixel LSBs): opt-in, alpha and RGB, compressed or not."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from alice_mcp import samples
from alice_mcp.metadata import detect, detect_path
from alice_mcp.metadata.stealth import extract


@pytest.mark.parametrize(
    ("mode", "compressed"), [("alpha", True), ("alpha", False), ("rgb", True), ("rgb", False)]
)
def test_a1111_stealth_every_signature(tmp_path: Path, mode: str, compressed: bool) -> None:
    path = samples.write_stealth_a1111_png(
        tmp_path / "s.png", prompt="a harbor at dawn", negative="text", seed=5150,
        mode=mode, compressed=compressed,
    )  # fmt: skip
    info = detect_path(path, stealth=True)
    assert (info.source, info.confidence) == ("a1111", 0.95)
    assert info.evidence == ["png:stealth:parameters"]
    assert (info.prompt, info.negative_prompt, info.seed, info.steps) == (
        "a harbor at dawn", "text", 5150, 20,
    )  # fmt: skip
    assert (info.sampler, info.cfg, info.model, info.model_family) == (
        "Euler a", 7.0, "v1-5-pruned-emaonly", "sd15",
    )  # fmt: skip
    assert (info.width, info.height) == (512, 512)
    assert info.raw["parameters"].startswith("a harbor at dawn\nNegative prompt: text")
    assert info.errors == []


def test_stealth_is_off_by_default(tmp_path: Path) -> None:
    path = samples.write_stealth_a1111_png(tmp_path / "s.png")
    info = detect_path(path)
    assert info.source == "unknown" and info.raw == {} and (info.width, info.height) == (128, 128)


def test_novelai_stealth_json(tmp_path: Path) -> None:
    path = samples.write_stealth_novelai_png(
        tmp_path / "n.png", prompt="1girl, night", negative="lowres", seed=2024
    )
    info = detect_path(path, stealth=True)
    assert (info.source, info.source_name, info.confidence) == ("novelai", "NovelAI", 0.95)
    assert info.evidence == ["png:stealth:Software:NovelAI"]
    assert (info.prompt, info.negative_prompt, info.seed, info.steps, info.cfg) == (
        "1girl, night", "lowres", 2024, 28, 5.0,
    )  # fmt: skip
    assert (info.sampler, info.model, info.model_family) == (
        "k_euler_ancestral", "NovelAI Diffusion V4 4F49EC75", "novelai",
    )  # fmt: skip
    assert (info.width, info.height) == (832, 1216)
    assert json.loads(info.raw["Comment"])["seed"] == 2024


def test_text_chunk_wins_over_stealth_copy(tmp_path: Path) -> None:
    path = samples.write_stealth_a1111_png(tmp_path / "s.png", prompt="hidden")
    img = Image.open(path)
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("parameters", samples.a1111_infotext("visible", None, seed=1))
    both = tmp_path / "both.png"
    img.save(both, pnginfo=info)
    result = detect_path(both, stealth=True)
    assert result.prompt == "visible" and result.evidence == ["png:tEXt:parameters"]


def test_no_signature_and_opaque_images(tmp_path: Path) -> None:
    plain = samples.write_plain_png(tmp_path / "p.png")
    assert detect_path(plain, stealth=True).errors == []
    rgba = Image.new("RGBA", (32, 32), (10, 20, 30, 255))
    buf = io.BytesIO()
    rgba.save(buf, "PNG")
    assert detect(buf, "x.png", stealth=True).source == "unknown"


def test_broken_payloads_give_notes() -> None:
    base = np.array(samples.sample_image((64, 64)).convert("RGBA"))
    img = samples.embed_stealth(Image.fromarray(base), "x" * 50, compressed=True)
    arr = np.array(img)
    arr[:, 3:, 3] ^= 1  # flip bits after the header: gzip body breaks
    text, note = extract(arr)
    assert text is None and "bad gzip" in (note or "")
    huge = np.array(samples.embed_stealth(Image.fromarray(base), "y", compressed=False))
    bits = np.unpackbits(np.frombuffer(b"stealth_pnginfo" + (10**9).to_bytes(4, "big"), np.uint8))
    col = huge[:, :, 3].T.reshape(-1)
    col[: len(bits)] = (col[: len(bits)] & 0xFE) | bits
    huge[:, :, 3] = col.reshape(64, 64).T
    text, note = extract(huge)
    assert text is None and "impossible length" in (note or "")


def test_stealth_on_non_png_and_undecodable(tmp_path: Path) -> None:
    jpeg = samples.write_plain_jpeg(tmp_path / "j.jpg")
    assert detect_path(jpeg, stealth=True).errors == []  # JPEG pixels are lossy: not scanned
    data = samples.write_a1111_png(tmp_path / "a.png", seed=3).read_bytes()
    cut = data[: len(data) - 40]
    info = detect(io.BytesIO(cut), "cut.png", stealth=True)
    assert info.seed == 3 and any(e.startswith("stealth: cannot decode") for e in info.errors)


@pytest.mark.parametrize("kind", ["stealth", "plain", "truncated"])
def test_indexing_with_stealth_decodes_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            kind: str) -> None:
    """The indexer hands its decode to the stealth reader: a PNG is decoded once, and indexes
    exactly as it would without the shared decode (a truncated one still fails)."""
    from PIL import ImageFile

    from alice_mcp.media.pixels import analyze_pixels
    from alice_mcp.pipeline.indexer import Failed, Indexed, index_file
    from alice_mcp.pipeline.scan import Candidate

    path = samples.write_stealth_a1111_png(tmp_path / "s.png", seed=77, size=(300, 200),
                                           mode="rgb")
    if kind == "plain":
        samples.write_plain_png(path, size=(300, 200), seed=3)
    elif kind == "truncated":
        path.write_bytes(path.read_bytes()[:-4000])
    decodes = []
    load = ImageFile.ImageFile.load

    def counting_load(img: ImageFile.ImageFile) -> object:
        if img.tile:  # an image not yet decoded
            decodes.append(img.format)
        return load(img)

    monkeypatch.setattr(ImageFile.ImageFile, "load", counting_load)
    st = path.stat()
    result = index_file(Candidate(path, st.st_size, st.st_mtime_ns, "p", "image"), stealth=True)
    if kind == "truncated":
        assert isinstance(result, Failed) and "cannot decode image" in result.reason
        return
    assert isinstance(result, Indexed)
    assert decodes == ["PNG"]
    assert result.info.source == ("a1111" if kind == "stealth" else "unknown")
    if kind == "stealth":
        assert result.info.seed == 77 and result.info.evidence == ["png:stealth:parameters"]
    with path.open("rb") as fp:
        assert result.pixels == analyze_pixels(fp)
