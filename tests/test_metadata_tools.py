"""InvokeAI 1/2, Fooocus, SwarmUI, Easy Diffusion and Draw Things: every field, plus bad input."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image

from alice_mcp import samples
from alice_mcp.metadata import detect, detect_path
from alice_mcp.metadata.generators.invokeai_legacy import split_prompt


def fields(info: object, *names: str) -> tuple[object, ...]:
    """Several attributes at once, for compact assertions."""
    return tuple(getattr(info, n) for n in names)


GEN = ("prompt", "negative_prompt", "seed", "steps", "sampler", "scheduler", "cfg")
MODEL = ("model", "model_family", "loras", "width", "height")

# ---------------------------------------------------------------- InvokeAI 1 and 2


def test_invokeai_1_dream(tmp_path: Path) -> None:
    path = samples.write_invokeai_dream_png(
        tmp_path / "000001.2980747362.png", prompt="a retro robot", negative="blurry, text", seed=7
    )
    info = detect_path(path)
    assert (info.source, info.source_name, info.confidence) == ("invokeai", "InvokeAI", 0.95)
    assert info.evidence == ["png:tEXt:Dream"]
    assert fields(info, *GEN) == ("a retro robot", "blurry, text", 7, 50, "k_lms", None, 7.5)
    assert fields(info, *MODEL) == (None, "sd15", [], 512, 768)
    assert info.raw["Dream"].startswith('"a retro robot [blurry, text]" -s 50')
    assert info.media_type == "image" and info.errors == []


def test_invokeai_2_sd_metadata(tmp_path: Path) -> None:
    path = samples.write_invokeai_sdmeta_png(
        tmp_path / "i2.png", prompt="a sunflower field", negative="rendering", seed=2980747362
    )
    info = detect_path(path)
    assert (info.source, info.confidence) == ("invokeai", 0.95)
    assert info.evidence == ["png:tEXt:sd-metadata"]
    assert fields(info, *GEN) == (
        "a sunflower field",
        "rendering",
        2980747362,
        40,
        "k_lms",
        None,
        5.0,
    )
    assert fields(info, *MODEL) == ("deliberateForInvoke_v08", "sd15", [], 512, 768)
    assert json.loads(info.raw["sd-metadata"])["app_version"] == "2.3.0"
    assert "Dream" in info.raw and info.errors == []


def test_invokeai_legacy_prompt_splitting() -> None:
    assert split_prompt("a cat [dog] on a mat [blurry, lowres]") == (
        "a cat on a mat",
        "dog, blurry, lowres",
    )
    assert split_prompt("no negatives here") == ("no negatives here", None)
    assert split_prompt("[only negative]") == (None, "only negative")


def test_invokeai_legacy_bad_input(tmp_path: Path) -> None:
    broken = samples.write_png_text(tmp_path / "b.png", {"sd-metadata": '{"image": {"prompt": '})
    info = detect_path(broken)
    assert info.source == "invokeai" and info.confidence < 0.9 and info.prompt is None
    assert any("invokeai sd-metadata: invalid JSON" in e for e in info.errors)
    no_image = detect_path(samples.write_png_text(tmp_path / "n.png", {"sd-metadata": "[1, 2]"}))
    assert any("no image object" in e for e in no_image.errors)
    dream = detect_path(samples.write_png_text(tmp_path / "d.png", {"Dream": "unquoted -s 5"}))
    assert dream.source == "invokeai" and dream.steps is None
    assert any("no quoted prompt" in e for e in dream.errors)


# ---------------------------------------------------------------- Fooocus


def test_fooocus_png_json_scheme(tmp_path: Path) -> None:
    path = samples.write_fooocus_png(
        tmp_path / "f.png", prompt="a misty forest", negative="lowres", seed=11
    )
    info = detect_path(path)
    assert (info.source, info.source_name, info.confidence) == ("fooocus", "Fooocus", 0.95)
    assert info.evidence == ["png:tEXt:parameters", "png:fooocus_scheme:fooocus"]
    assert fields(info, *GEN) == (
        "a misty forest",
        "lowres",
        11,
        30,
        "dpmpp_2m_sde_gpu",
        "karras",
        4.0,
    )
    assert fields(info, *MODEL) == (
        "juggernautXL_v8Rundiffusion", "sdxl", ["sd_xl_offset_example-lora_1.0"], 1152, 896,
    )  # fmt: skip
    assert json.loads(info.raw["parameters"])["version"] == "Fooocus v2.5.5"
    assert info.errors == []


def test_fooocus_jpeg_exif_scheme(tmp_path: Path) -> None:
    path = samples.write_fooocus_jpeg(
        tmp_path / "f.jpg", prompt="a caravan", negative="", seed=4242
    )
    info = detect_path(path)
    assert info.source == "fooocus" and info.confidence == 0.95
    assert info.evidence == ["jpeg:exif:UserComment", "jpeg:fooocus_scheme:fooocus"]
    assert fields(info, *GEN) == ("a caravan", None, 4242, 30, "dpmpp_2m_sde_gpu", "karras", 4.0)
    assert fields(info, *MODEL)[:2] == ("juggernautXL_v8Rundiffusion", "sdxl")
    assert info.raw["exif:Software"] == "Fooocus v2.5.5" and info.raw["exif:MakerNote"] == "fooocus"


def test_fooocus_a1111_scheme_is_read_as_infotext(tmp_path: Path) -> None:
    path = samples.write_a1111_png(
        tmp_path / "fa.png", prompt="a koi", seed=5, version="Fooocus v2.5.5"
    )
    info = detect_path(path)
    assert info.source == "fooocus" and info.prompt == "a koi" and info.seed == 5


def test_fooocus_broken_json_with_scheme(tmp_path: Path) -> None:
    texts = {"parameters": '{"prompt": "cut', "fooocus_scheme": "fooocus"}
    info = detect_path(samples.write_png_text(tmp_path / "fb.png", texts))
    assert info.source == "fooocus" and info.confidence < 0.9
    assert any("fooocus parameters: invalid JSON" in e for e in info.errors)


def test_unmarked_json_parameters_stay_unknown(tmp_path: Path) -> None:
    body = json.dumps({"prompt": "x", "steps": 3})
    info = detect_path(samples.write_png_text(tmp_path / "u.png", {"parameters": body}))
    assert info.source == "unknown" and info.raw["parameters"] == body


# ---------------------------------------------------------------- SwarmUI


def test_swarmui_png(tmp_path: Path) -> None:
    path = samples.write_swarmui_png(
        tmp_path / "s.png", prompt="an astronaut cat", negative="cartoon", seed=9
    )
    info = detect_path(path)
    assert (info.source, info.source_name, info.confidence) == ("swarmui", "SwarmUI", 0.95)
    assert info.evidence == ["png:iTXt:parameters"]
    assert fields(info, *GEN) == ("an astronaut cat", "cartoon", 9, 25, "euler", "normal", 1.0)
    assert fields(info, *MODEL) == (
        "Flux/flux1-dev-fp8", "flux", ["Flux/detail-tweaker", "style-lora"], 832, 1216,
    )  # fmt: skip
    assert info.created_at == datetime(2024, 8, 7, tzinfo=UTC)
    assert '"swarm_version": "0.9.1.1"' in info.raw["parameters"] and info.errors == []


def test_swarmui_jpeg_user_comment(tmp_path: Path) -> None:
    info = detect_path(
        samples.write_swarmui_jpeg(tmp_path / "s.jpg", prompt="koi", negative="", seed=77)
    )
    assert info.source == "swarmui" and info.evidence == ["jpeg:exif:UserComment"]
    assert fields(info, "prompt", "negative_prompt", "seed", "model_family") == (
        "koi",
        None,
        77,
        "flux",
    )


def test_swarmui_bad_params(tmp_path: Path) -> None:
    body = '{"sui_image_params": "not an object"}'
    info = detect_path(samples.write_png_text(tmp_path / "sb.png", {"parameters": body}))
    assert info.source == "swarmui" and info.confidence < 0.9
    assert any("sui_image_params is not an object" in e for e in info.errors)


# ---------------------------------------------------------------- Easy Diffusion


@pytest.mark.parametrize("labels", [False, True])
def test_easydiffusion_png_both_spellings(tmp_path: Path, labels: bool) -> None:
    path = samples.write_easydiffusion_png(
        tmp_path / "e.png", prompt="a castle", negative="people", seed=31337, labels=labels
    )
    info = detect_path(path)
    assert (info.source, info.source_name, info.confidence) == (
        "easydiffusion",
        "Easy Diffusion",
        0.9,
    )
    marker = "Stable Diffusion model" if labels else "use_stable_diffusion_model"
    assert info.evidence == [f"png:tEXt:{marker}"]
    assert fields(info, *GEN) == ("a castle", "people", 31337, 25, "euler_a", None, 7.5)
    assert fields(info, *MODEL) == ("sd-v1-5", "sd15", ["add_detail"], 512, 640)
    assert info.errors == []


def test_easydiffusion_jpeg_json(tmp_path: Path) -> None:
    path = samples.write_easydiffusion_jpeg(
        tmp_path / "e.jpg", prompt="a village", negative="", seed=99
    )
    info = detect_path(path)
    assert info.source == "easydiffusion" and info.evidence == ["jpeg:exif:UserComment"]
    assert fields(info, *GEN) == ("a village", None, 99, 25, "euler_a", None, 7.5)
    assert fields(info, *MODEL) == ("sd-v1-5", "sd15", ["add_detail"], 512, 640)


def test_plain_prompt_key_alone_is_not_easydiffusion(tmp_path: Path) -> None:
    info = detect_path(samples.write_png_text(tmp_path / "p.png", {"prompt": "just words"}))
    assert info.source == "unknown"


# ---------------------------------------------------------------- Draw Things


@pytest.mark.parametrize(
    ("name", "fmt", "where"), [("d.png", "PNG", "png"), ("d.jpg", "JPEG", "jpeg")]
)
def test_drawthings_xmp(tmp_path: Path, name: str, fmt: str, where: str) -> None:
    prompt = "lichen colony, (mist:1.3) & bark <close-up>"
    path = samples.write_drawthings_png(
        tmp_path / name, prompt=prompt, negative="blurry", seed=5, fmt=fmt
    )
    info = detect_path(path)
    assert (info.source, info.source_name, info.confidence) == ("drawthings", "Draw Things", 0.95)
    assert info.evidence == [f"{where}:xmp:CreatorTool", f"{where}:xmp:exif:UserComment"]
    assert fields(info, *GEN) == (prompt, "blurry", 5, 8, "DPM++ 2M Karras", None, 4.5)
    assert fields(info, *MODEL) == ("flux_1_schnell_q5p", "flux", ["detail_slider_v2"], 768, 1024)
    assert json.loads(info.raw["xmp:UserComment"])["seed_mode"] == "Scale Alike"
    assert info.errors == []


def test_drawthings_description_fallback(tmp_path: Path) -> None:
    xmp = samples.drawthings_xmp("a moth\nat night", "noise", 42)
    start = xmp.index("<exif:UserComment>")
    xmp = xmp[:start] + xmp[xmp.index("</exif:UserComment>") + len("</exif:UserComment>") :]
    buf = io.BytesIO()
    samples.sample_image().save(buf, "JPEG", xmp=xmp.encode())
    info = detect(buf, "dt.jpg")
    assert info.source == "drawthings" and info.confidence == 0.9
    assert fields(info, *GEN) == ("a moth\nat night", "noise", 42, 8, "DPM++ 2M Karras", None, 4.5)
    assert (info.model, info.width, info.height) == ("flux_1_schnell_q5p", 768, 1024)


def test_drawthings_broken_json(tmp_path: Path) -> None:
    xmp = samples.drawthings_xmp("p", "n", 1).replace('{"c": "p"', '{"c": ')
    buf = io.BytesIO()
    samples.sample_image().save(buf, "PNG", pnginfo=_xmp_info(xmp))
    info = detect(buf, "dt.png")
    assert info.source == "drawthings" and info.prompt == "p" and info.seed == 1  # from the text
    assert any("drawthings UserComment: invalid JSON" in e for e in info.errors)


def _xmp_info(xmp: str):  # noqa: ANN202 - PngInfo
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_itxt("XML:com.adobe.xmp", xmp)
    return info


def test_other_xmp_creator_is_not_drawthings() -> None:
    xmp = samples.drawthings_xmp("p", "n", 1).replace("Draw Things", "Photoshop")
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "PNG", pnginfo=_xmp_info(xmp))
    assert detect(buf, "x.png").source == "unknown"


DEEP = '{"a": ' * 100_000 + "1" + "}" * 100_000


@pytest.mark.parametrize(
    ("texts", "source"),
    [
        ({"sd-metadata": DEEP}, "invokeai"),
        ({"parameters": DEEP, "fooocus_scheme": "fooocus"}, "fooocus"),
        ({"parameters": '{"sui_image_params": ' + DEEP + "}"}, "swarmui"),
    ],
)
def test_deeply_nested_json_in_new_tools(
    tmp_path: Path, texts: dict[str, str], source: str
) -> None:
    info = detect_path(samples.write_png_text(tmp_path / "deep.png", texts))
    assert info.source == source and info.confidence < 0.9
    assert any("nested too deeply" in e for e in info.errors)


def test_huge_and_invalid_utf8_user_comment() -> None:
    body = json.dumps({"sui_image_params": {"prompt": "big", "pad": "x" * 3_000_000}})
    buf = io.BytesIO()  # WebP: JPEG caps EXIF at 64 KiB
    samples.sample_image().save(buf, "WEBP", exif=samples.exif_with_comment(body, "ascii"))
    info = detect(buf, "big.webp")
    assert info.source == "swarmui" and info.prompt == "big"
    assert len(info.raw["parameters"]) == 64 * 1024
    bad = b"ASCII\x00\x00\x00" + b'{"use_stable_diffusion_model": "m\xff\xfe", "prompt": "ok"}'
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = bad
    buf = io.BytesIO()
    samples.sample_image().save(buf, "JPEG", exif=exif.tobytes())
    info = detect(buf, "bad.jpg")
    assert info.source == "easydiffusion" and info.prompt == "ok" and info.model == "mÿþ"
