"""Issue 16: what real generators, savers and services write today, read right.

Every file is built with the writer's own layout (Pillow text chunks in the writer's order,
EXIF the way the tool stores it, C2PA signed with the official library), 64x64 pixels.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from alice_mcp import display, samples
from alice_mcp.metadata import detect_path, read_container
from alice_mcp.metadata.models import GenerationInfo


def _fields(info: GenerationInfo) -> tuple[Any, ...]:
    return (info.source, info.prompt, info.negative_prompt, info.seed, info.steps,
            info.sampler, info.cfg, info.model)  # fmt: skip


# --- 1. Forge variants, and the forks' version strings --------------------------------


@pytest.mark.parametrize("version", ["classic", "neo"])
@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_forge_classic_and_neo_are_forge(tmp_path: Path, version: str, fmt: str) -> None:
    writer = {"png": samples.write_a1111_png, "jpeg": samples.write_a1111_jpeg,
              "webp": samples.write_a1111_webp}[fmt]  # fmt: skip
    path = writer(tmp_path / f"f.{fmt}", prompt="a forge fox", negative="bad", seed=11,
                  model="juggernautXL", version=version)  # fmt: skip
    info = detect_path(path)
    assert _fields(info) == ("forge", "a forge fox", "bad", 11, 20, "Euler a", 7.0, "juggernautXL")
    assert info.engine == "a1111" and version.capitalize() in info.source_name
    assert info.extra["Version"] == version


@pytest.mark.parametrize(
    ("params", "source"),
    [
        ({"version": "f2.0.1v1.10.1-previous-669-gdfdcbab6"}, "forge"),
        ({"version": "f0.0.17v1.8.0rc-latest-276-g29be1da7"}, "forge"),  # reForge
        ({"version": "2f5a3b1", "App": "SD.Next"}, "sdnext"),
        ({"version": "v1.10.1"}, "a1111"),
        ({"version": "Fooocus v2.5.5"}, "fooocus"),
        ({"version": "neon"}, "a1111"),  # only `neo` itself is Forge Neo
    ],
)
def test_fork_version_strings_stay_right(tmp_path: Path, params: dict[str, str],
                                         source: str) -> None:  # fmt: skip
    path = samples.write_a1111_png(tmp_path / "v.png", **params)
    assert detect_path(path).source == source


# --- 2. SwarmUI over its ComfyUI graph ------------------------------------------------


def test_swarmui_with_a_comfyui_graph_is_swarmui(tmp_path: Path) -> None:
    info = detect_path(samples.write_swarmui_comfy_png(tmp_path / "s.png"))
    assert _fields(info) == ("swarmui", "a lighthouse, swarm", "ugly", 99, 25, "euler", 1.0,
                             "Flux/flux1-dev-fp8")  # fmt: skip
    assert info.engine == "comfyui" and (info.width, info.height) == (832, 1216)
    assert info.evidence == ["png:iTXt:parameters", "png:tEXt:prompt", "png:tEXt:workflow"]
    graph = json.loads(info.raw["prompt"])  # the graph is kept as evidence, raw
    assert graph["6"]["inputs"]["text"] == "graph prompt text" and "workflow" in info.raw


# --- 3. Parameters in EXIF of WebP and JPEG -----------------------------------------------


@pytest.mark.parametrize("encoding", ["unicode-be", "unicode-le", "undefined"])
def test_novelai_webp_user_comment(tmp_path: Path, encoding: str) -> None:
    path = samples.write_novelai_webp(tmp_path / "n.webp", encoding=encoding)
    info = detect_path(path)
    assert _fields(info) == ("novelai", "1girl, lantern festival", "lowres", 555, 28,
                             "k_euler_ancestral", 5.0, "NovelAI Diffusion V4.5 4BDE2A90")  # fmt: skip
    assert info.evidence == ["webp:exif:UserComment:Software:NovelAI"] and info.errors == []


@pytest.mark.parametrize("fmt", ["webp", "jpeg"])
def test_comfyui_saver_user_comment(tmp_path: Path, fmt: str) -> None:
    path = samples.write_comfyui_exif(tmp_path / f"c.{fmt}", fmt)
    exif = Image.open(path).getexif().get_ifd(0x8769)[0x9286]
    assert exif.startswith(b'{"prompt": {')  # no charset prefix, as the saver nodes write it
    info = detect_path(path)
    assert _fields(info) == ("comfyui", "a paper boat, macro", "low quality", 808, 20, "euler",
                             7.0, "juggernautXL_v9")  # fmt: skip
    assert info.evidence == [f"{fmt}:exif:UserComment:prompt", f"{fmt}:exif:UserComment:workflow"]


@pytest.mark.parametrize("key_case", ["title", "lower"])
@pytest.mark.parametrize("fmt", ["webp", "jpeg"])
def test_save_image_extended_make_and_description(tmp_path: Path, fmt: str, key_case: str) -> None:
    path = samples.write_comfyui_exif(tmp_path / f"e.{fmt}", fmt, layout="extended",
                                      key_case=key_case)  # fmt: skip
    make = Image.open(path).getexif()[0x010F]
    assert make.startswith("Prompt: {" if key_case == "title" else "prompt: {")
    info = detect_path(path)
    assert _fields(info) == ("comfyui", "a paper boat, macro", "low quality", 808, 20, "euler",
                             7.0, "juggernautXL_v9")  # fmt: skip
    assert f"{fmt}:exif:Make:prompt" in info.evidence
    assert f"{fmt}:exif:ImageDescription:workflow" in info.evidence
    assert not any(k.startswith("exif:") for k in info.raw)  # the graphs are not repeated raw


def test_civitai_upscale_bare_graph_in_user_comment(tmp_path: Path) -> None:
    info = detect_path(samples.write_comfyui_exif(tmp_path / "u.jpg", "jpeg", layout="bare"))
    assert _fields(info) == ("civitai", "a paper boat, macro", "bad hands", 808, 30, "Euler a",
                             4.5, "Illustrious")  # fmt: skip
    assert info.engine == "comfyui" and (info.width, info.height) == (832, 1216)
    assert "civitai:extraMetadata" in info.evidence and info.errors == []
    assert json.loads(info.extra["transformations"])[0]["upscaleWidth"] == 1664


# --- 4. Spellings -------------------------------------------------------------------------


def test_a1111_keys_are_read_case_insensitively_and_unknown_ones_kept(tmp_path: Path) -> None:
    text = ("a castle on a hill\nNegative prompt: fog\n"
            "STEPS: 31, sampler: DPM++ SDE, CFG Scale: 6.5, Seed: 99, size: 640x960, "
            "Clip Skip: 2, model: dreamshaper_8, Schedule Type: Karras, Denoising strength: 0.4, "
            'Hires upscaler: "4x, UltraSharp", Saver: some-node v2')  # fmt: skip
    path = samples.write_png_text(tmp_path / "k.png", {"parameters": text})
    info = detect_path(path)
    assert _fields(info) == ("a1111", "a castle on a hill", "fog", 99, 31, "DPM++ SDE", 6.5,
                             "dreamshaper_8")  # fmt: skip
    assert (info.width, info.height, info.scheduler) == (640, 960, "Karras")
    assert list(info.extra) == ["STEPS", "sampler", "CFG Scale", "Seed", "size", "Clip Skip",
                                "model", "Schedule Type", "Denoising strength", "Hires upscaler",
                                "Saver"]  # every key, as written  # fmt: skip
    assert (info.extra["Hires upscaler"], info.extra["Saver"]) == ("4x, UltraSharp", "some-node v2")


# --- 5. C2PA history ----------------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "edits"), [("PNG", 1), ("JPEG", 2)])
def test_c2pa_ai_step_in_an_ingredient(tmp_path: Path, fmt: str, edits: int) -> None:
    ext = {"PNG": "png", "JPEG": "jpg"}[fmt]
    path = samples.write_c2pa_history(tmp_path / f"g.{ext}", fmt=fmt, edits=edits,
                                      when="2025-03-04T05:06:07Z")  # fmt: skip
    store = read_container(io.BytesIO(path.read_bytes())).c2pa_manifest
    assert store is not None and len(store["manifests"]) == edits + 1
    active = store["manifests"][store["active_manifest"]]
    assert "trainedAlgorithmicMedia" not in json.dumps(active["assertions"])  # only an edit
    info = detect_path(path)
    assert (info.source, info.model, info.confidence) == ("gemini", "Gemini", 0.8)
    assert info.created_at is not None and info.created_at.isoformat() == "2025-03-04T05:06:07+00:00"
    name = {"PNG": "png", "JPEG": "jpeg"}[fmt]
    assert info.evidence == [f"{name}:c2pa:manifest",
                             f"{name}:c2pa:ingredient:digitalSourceType:trainedAlgorithmicMedia"]
    assert "softwareAgent: Gemini" in info.raw["c2pa:ingredient"]


def test_c2pa_edit_without_ai_history_stays_unknown(tmp_path: Path) -> None:
    camera = samples.write_c2pa_image(tmp_path / "p.png", tool="Leica M11-P", agent=None, ai=False)
    edited = samples.sign_edit(camera.read_bytes(), "image/png", samples.edit_manifest("Lightroom"))
    path = tmp_path / "edited.png"
    path.write_bytes(edited)
    assert detect_path(path).source == "unknown"


# --- 6. Services and front-ends as sources --------------------------------------------------


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
def test_civitai_generator(tmp_path: Path, fmt: str) -> None:
    info = detect_path(samples.write_civitai(tmp_path / f"c.{fmt}", fmt))
    assert _fields(info) == ("civitai", "score_9, a fox knight", "score_4", 4242, 25,
                             "DPM++ 2M Karras", 5.0, "Pony Diffusion V6 XL V6 (start with this one)")
    assert info.engine == "a1111" and info.loras == ["Detail Tweaker"]
    assert json.loads(info.extra["Civitai resources"])[0]["modelVersionId"] == 290640
    assert json.loads(info.extra["Civitai metadata"]) == {"remixOfId": 987}


def test_stability_matrix(tmp_path: Path) -> None:
    info = detect_path(samples.write_stability_matrix_png(tmp_path / "sm.png"))
    assert _fields(info) == ("stability-matrix", "a glass castle, sm", "lowres", 1717, 30,
                             "DPM++ 2M", 6.0, "dreamshaperXL_v21")  # fmt: skip
    assert info.engine == "comfyui" and info.scheduler == "Karras"
    assert {"png:tEXt:smproj", "png:tEXt:prompt", "png:tEXt:parameters"} <= set(info.evidence)
    assert "smproj" in info.raw and "prompt" in info.raw


def test_tensorart_keeps_the_model_id_and_name(tmp_path: Path) -> None:
    info = detect_path(samples.write_tensorart_png(tmp_path / "t.png"))
    assert _fields(info) == ("tensorart", "a jade dragon, ta", "bad anatomy", 3030, 25,
                             "Euler a", 7.0, "majicMIX realistic v7")  # fmt: skip
    assert info.engine == "comfyui" and info.extra["model_ids"] == "EMS-309123-EMS"
    bare = detect_path(samples.write_tensorart_png(tmp_path / "t2.png", with_data=False))
    assert (bare.source, bare.model, bare.prompt) == ("tensorart", "EMS-309123-EMS",
                                                      "a jade dragon, ta")  # fmt: skip


def test_ruinedfooocus(tmp_path: Path) -> None:
    info = detect_path(samples.write_ruinedfooocus_png(tmp_path / "r.png"))
    assert _fields(info) == ("ruinedfooocus", "a copper owl, rf", "blurry", 6060, 30,
                             "dpmpp_2m_sde_gpu", 8.0, "sd_xl_base_1.0_0.9vae")  # fmt: skip
    assert info.engine == "fooocus" and info.loras == ["sd_xl_offset_example-lora_1.0"]
    assert (info.width, info.height) == (1152, 896)


def test_huggingface_space(tmp_path: Path) -> None:
    info = detect_path(samples.write_hfspace_png(tmp_path / "h.png"))
    assert _fields(info) == ("hf-space", "a tin robot, space", "nsfw, lowres", 7070, 28,
                             "Euler a", 7.0, "Animagine XL 3.1")  # fmt: skip
    assert info.engine == "diffusers" and (info.width, info.height) == (832, 1216)
    assert info.extra["Model hash"] == "e3c47aedb0"


# --- 7. Nothing silent ----------------------------------------------------------------------


def test_unread_chunks_are_shown_raw_with_a_reason(tmp_path: Path) -> None:
    info = detect_path(samples.write_unknown_png(tmp_path / "u.png"))
    assert info.source == "unknown" and info.engine is None
    assert info.raw == {"Title": "holiday", "Comment": "made on my laptop", "mystery": "x=1;y=2"}
    assert info.reason is not None and "text:mystery" in info.reason
    plain = detect_path(samples.write_plain_png(tmp_path / "plain.png"))
    assert plain.reason is None  # nothing read, nothing to explain


# --- acceptance: `alice inspect --json` over the corpus, and the search fields -----------

CORPUS: dict[str, tuple[Any, ...]] = {
    "forge-neo.png": ("forge", "a red fox in the snow, highly detailed", "blurry", 1234, 20,
                      "Euler a", 7.0, "v1-5-pruned-emaonly"),
    "swarm.png": ("swarmui", "a lighthouse, swarm", "ugly", 99, 25, "euler", 1.0,
                  "Flux/flux1-dev-fp8"),
    "nai.webp": ("novelai", "1girl, lantern festival", "lowres", 555, 28, "k_euler_ancestral",
                 5.0, "NovelAI Diffusion V4.5 4BDE2A90"),
    "saver.jpg": ("comfyui", "a paper boat, macro", "low quality", 808, 20, "euler", 7.0,
                  "juggernautXL_v9"),
    "civitai.png": ("civitai", "score_9, a fox knight", "score_4", 4242, 25, "DPM++ 2M Karras",
                    5.0, "Pony Diffusion V6 XL V6 (start with this one)"),
    "sm.png": ("stability-matrix", "a glass castle, sm", "lowres", 1717, 30, "DPM++ 2M", 6.0,
               "dreamshaperXL_v21"),
    "ta.png": ("tensorart", "a jade dragon, ta", "bad anatomy", 3030, 25, "Euler a", 7.0,
               "majicMIX realistic v7"),
    "rf.png": ("ruinedfooocus", "a copper owl, rf", "blurry", 6060, 30, "dpmpp_2m_sde_gpu", 8.0,
               "sd_xl_base_1.0_0.9vae"),
    "hf.png": ("hf-space", "a tin robot, space", "nsfw, lowres", 7070, 28, "Euler a", 7.0,
               "Animagine XL 3.1"),
}  # fmt: skip


def _write_corpus(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    samples.write_a1111_png(folder / "forge-neo.png", version="neo")
    samples.write_swarmui_comfy_png(folder / "swarm.png")
    samples.write_novelai_webp(folder / "nai.webp")
    samples.write_comfyui_exif(folder / "saver.jpg", "jpeg")
    samples.write_civitai(folder / "civitai.png")
    samples.write_stability_matrix_png(folder / "sm.png")
    samples.write_tensorart_png(folder / "ta.png")
    samples.write_ruinedfooocus_png(folder / "rf.png")
    samples.write_hfspace_png(folder / "hf.png")
    samples.write_unknown_png(folder / "mystery.png")


def test_alice_inspect_json_on_the_corpus(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "corpus"
    _write_corpus(folder)
    found = _inspected(folder, CORPUS)
    mystery = found["mystery.png"]
    assert mystery["source"] == "unknown" and mystery["raw"]["mystery"] == "x=1;y=2"
    assert "no known generator" in mystery["reason"]
    display.inspections([mystery])  # what `alice inspect` prints without --json
    human = capsys.readouterr().out
    assert "raw mystery: x=1;y=2" in human and "reason: metadata read but" in human


def test_alice_inspect_json_on_the_other_layouts(tmp_path: Path) -> None:
    """The items the corpus above leaves to detect_path, through `alice inspect --json` too:
    Forge Classic in a JPEG, save-image-extended, Civitai's bare graph, other spellings, and
    C2PA history (Gemini: no parameters, the generator and when the AI step happened)."""
    folder = tmp_path / "more"
    folder.mkdir()
    samples.write_a1111_jpeg(folder / "classic.jpg", prompt="a forge fox", negative="bad",
                             seed=11, model="juggernautXL", version="classic")  # fmt: skip
    samples.write_comfyui_exif(folder / "extended.webp", "webp", layout="extended")
    samples.write_comfyui_exif(folder / "upscale.jpg", "jpeg", layout="bare")
    samples.write_png_text(folder / "spellings.png", {"parameters": (
        "a castle on a hill\nNegative prompt: fog\nSTEPS: 31, sampler: DPM++ SDE, "
        "CFG Scale: 6.5, Seed: 99, size: 640x960, Clip Skip: 2, model: dreamshaper_8")})
    samples.write_c2pa_history(folder / "gemini.png", fmt="PNG", edits=1,
                               when="2025-03-04T05:06:07Z")  # fmt: skip
    expected = {
        "classic.jpg": ("forge", "a forge fox", "bad", 11, 20, "Euler a", 7.0, "juggernautXL"),
        "extended.webp": ("comfyui", "a paper boat, macro", "low quality", 808, 20, "euler",
                          7.0, "juggernautXL_v9"),
        "upscale.jpg": ("civitai", "a paper boat, macro", "bad hands", 808, 30, "Euler a", 4.5,
                        "Illustrious"),
        "spellings.png": ("a1111", "a castle on a hill", "fog", 99, 31, "DPM++ SDE", 6.5,
                          "dreamshaper_8"),
        "gemini.png": ("gemini", None, None, None, None, None, None, "Gemini"),
    }  # fmt: skip
    found = _inspected(folder, expected)
    assert found["gemini.png"]["created_at"] == "2025-03-04T05:06:07+00:00"


def _inspected(folder: Path, expected: dict[str, tuple[Any, ...]]) -> dict[str, dict[str, Any]]:
    """`alice inspect --json` over every file of folder, by name; each expected file checked
    for the eight fields issue 16 names (and kept small)."""
    run = subprocess.run([sys.executable, "-m", "alice_mcp", "inspect", "--json",
                          *map(str, sorted(folder.iterdir()))],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr
    found = {Path(d["path"]).name: d for d in map(json.loads, run.stdout.splitlines())}
    keys = ("source", "prompt", "negative_prompt", "seed", "steps", "sampler", "cfg", "model")
    for name, fields in expected.items():
        assert tuple(found[name][k] for k in keys) == fields, name
        assert path_size(folder / name) < 300_000
    return found


def path_size(path: Path) -> int:
    return path.stat().st_size


@pytest.mark.anyio
async def test_source_and_engine_search_and_get_asset(library: Any, inbox: Path) -> None:
    _write_corpus(inbox)
    report = await library.organize()
    assert report.errors == []
    civitai = await library.search("source:civitai")
    assert [hit.source for hit in civitai.results] == ["civitai"]
    comfy = await library.search("engine:comfyui")
    assert sorted(hit.source for hit in comfy.results) == ["comfyui", "stability-matrix",
                                                          "swarmui", "tensorart"]  # fmt: skip
    a1111 = await library.search("engine:a1111")
    assert sorted(hit.source for hit in a1111.results) == ["civitai", "forge"]
    unknown = (await library.search("source:unknown")).results[0]
    detail = await library.get_asset(unknown.asset_id)
    assert detail.fields["engine"] is None
    params = detail.fields["params"]
    assert params["raw"]["mystery"] == "x=1;y=2" and "no known generator" in params["reason"]
