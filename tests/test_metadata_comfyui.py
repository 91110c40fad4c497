"""ComfyUI detection: prompt/workflow variants, custom nodes, WebP EXIF, video and GIF comments."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from alice_mcp import samples
from alice_mcp.metadata import detect_path


@pytest.mark.parametrize(
    ("include_prompt", "include_workflow"), [(True, True), (True, False), (False, True)]
)
def test_comfyui_prompt_workflow_variants(
    tmp_path: Path, include_prompt: bool, include_workflow: bool
) -> None:
    path = samples.write_comfyui_png(
        tmp_path / "ComfyUI_00001_.png", prompt="neon city", negative="blurry, watermark",
        seed=123456789, ckpt="sd_xl_base_1.0.safetensors", steps=30, cfg=6.0, sampler="dpmpp_2m",
        scheduler="karras", latent=(832, 1216), loras=("add_detail.safetensors", "style.safetensors"),
        include_prompt=include_prompt, include_workflow=include_workflow,
    )  # fmt: skip
    info = detect_path(path)
    assert info.source == "comfyui" and info.confidence >= 0.9
    if include_prompt:
        assert "png:tEXt:prompt" in info.evidence
    if include_workflow:
        assert "png:tEXt:workflow" in info.evidence
    assert info.prompt == "neon city" and info.negative_prompt == "blurry, watermark"
    assert (info.seed, info.steps, info.cfg) == (123456789, 30, 6.0)
    assert (info.sampler, info.scheduler) == ("dpmpp_2m", "karras")
    assert info.model == "sd_xl_base_1.0" and info.model_family == "sdxl"
    assert info.loras == ["add_detail", "style"]
    assert (info.width, info.height) == (832, 1216)
    assert info.errors == []


def test_comfyui_custom_nodes_primitive_concat_combine(tmp_path: Path) -> None:
    n = samples._node
    graph = {
        "1": n("UNETLoader", unet_name="flux1-dev.safetensors", weight_dtype="fp8"),
        "2": n("LoraLoaderModelOnly", lora_name="realism.safetensors", strength_model=1, model=["1", 0]),
        "10": n("PrimitiveStringMultiline", value="a castle on a hill"),
        "11": n("SomeCustomStyleNode", style="cinematic", mode="fancy"),
        "12": n("StringConcatenate", string_a=["10", 0], string_b="golden hour", delimiter=", "),
        "13": n("CLIPTextEncode", text=["12", 0], clip=["30", 0]),
        "14": n("MysteryPromptNode", text="dramatic sky", clip=["30", 0], extra=["11", 0]),
        "15": n("ConditioningCombine", conditioning_1=["13", 0], conditioning_2=["14", 0]),
        "16": n("FluxGuidance", guidance=3.5, conditioning=["15", 0]),
        "20": n("RandomNoise", noise_seed=["21", 0]),
        "21": n("PrimitiveInt", value=987654321),
        "22": n("KSamplerSelect", sampler_name="euler"),
        "23": n("BasicScheduler", scheduler="simple", steps=28, denoise=1.0, model=["2", 0]),
        "24": n("BasicGuider", model=["2", 0], conditioning=["16", 0]),
        "25": n("EmptySD3LatentImage", width=["26", 0], height=768, batch_size=1),
        "26": n("PrimitiveInt", value=1344),
        "30": n("DualCLIPLoader", clip_name1="t5xxl.safetensors", clip_name2="clip_l.safetensors"),
        "40": n("SamplerCustomAdvanced", noise=["20", 0], guider=["24", 0], sampler=["22", 0],
                sigmas=["23", 0], latent_image=["25", 0]),
        "41": n("VAEDecode", samples=["40", 0], vae=["42", 0]),
        "43": n("SaveImage", images=["41", 0], filename_prefix="flux"),
    }  # fmt: skip
    info = detect_path(samples.write_comfyui_png(tmp_path / "c.png", graph=graph))
    assert info.source == "comfyui"
    assert info.prompt == "a castle on a hill, golden hour\ndramatic sky"
    assert info.negative_prompt is None
    assert (info.seed, info.steps, info.sampler, info.scheduler) == (
        987654321,
        28,
        "euler",
        "simple",
    )
    assert info.model == "flux1-dev" and info.model_family == "flux"
    assert info.loras == ["realism"]
    assert (info.width, info.height) == (1344, 768)


def test_comfyui_hires_two_samplers_picks_first_pass(tmp_path: Path) -> None:
    graph = samples.comfyui_api_graph("p", "n", seed=5, steps=20)
    graph["50"] = samples._node(
        "KSampler", seed=6, steps=10, cfg=5, sampler_name="euler", scheduler="normal",
        denoise=0.5, model=["4", 0], positive=["6", 0], negative=["7", 0], latent_image=["3", 0],
    )  # fmt: skip
    info = detect_path(samples.write_comfyui_png(tmp_path / "h.png", graph=graph))
    assert (info.seed, info.steps) == (5, 20)


def test_comfyui_workflow_with_primitive_node_link(tmp_path: Path) -> None:
    workflow = {
        "nodes": [
            {"id": 1, "type": "PrimitiveNode", "widgets_values": ["from a primitive"]},
            {"id": 2, "type": "CLIPTextEncode", "widgets_values": ["from a primitive"],
             "inputs": [{"name": "text", "link": 1}]},
            {"id": 3, "type": "KSampler", "widgets_values": [11, "fixed", 8, 2.5, "lcm", "sgm_uniform", 1],
             "inputs": [{"name": "positive", "link": 2}, {"name": "model", "link": 3}]},
            {"id": 4, "type": "CheckpointLoaderSimple", "widgets_values": ["dreamshaper_8.safetensors"]},
            {"id": 5, "type": "SomeBrandNewNode", "widgets_values": {"foo": 1}},
        ],
        "links": [[1, 1, 0, 2, 0, "STRING"], [2, 2, 0, 3, 1, "CONDITIONING"], [3, 4, 0, 3, 0, "MODEL"]],
    }  # fmt: skip
    path = samples.write_png_text(tmp_path / "w.png", {"workflow": json.dumps(workflow)})
    info = detect_path(path)
    assert info.source == "comfyui" and info.prompt == "from a primitive"
    assert (info.seed, info.steps, info.cfg, info.sampler) == (11, 8, 2.5, "lcm")
    assert info.model == "dreamshaper_8"


def test_plain_text_prompt_key_is_not_comfyui(tmp_path: Path) -> None:
    path = samples.write_png_text(tmp_path / "ed.png", {"prompt": "a plain easy diffusion prompt"})
    assert detect_path(path).source == "unknown"


def test_comfyui_graph_without_sampler_still_detected(tmp_path: Path) -> None:
    graph = {"1": {"class_type": "LoadImage", "inputs": {"image": "x.png"}}}
    info = detect_path(samples.write_png_text(tmp_path / "x.png", {"prompt": json.dumps(graph)}))
    assert info.source == "comfyui" and any("no sampler" in e for e in info.errors)


def test_comfyui_webp_exif_strings(tmp_path: Path) -> None:
    graph = samples.comfyui_api_graph("webp prompt", "neg", seed=31)
    exif = Image.Exif()
    exif[0x010F] = "workflow:" + json.dumps(samples.comfyui_workflow(graph))
    exif[0x0110] = "prompt:" + json.dumps(graph)
    path = tmp_path / "ComfyUI_00002_.webp"
    samples.sample_image().save(path, "WEBP", exif=exif.tobytes())
    info = detect_path(path)
    assert info.source == "comfyui" and info.prompt == "webp prompt" and info.seed == 31
    assert "webp:exif:Model:prompt" in info.evidence
    assert "exif:Make" not in info.raw


def test_comfyui_with_a1111_parameters_fills_gaps(tmp_path: Path) -> None:
    graph = {"1": {"class_type": "LoadImage", "inputs": {"image": "x.png"}}}
    texts = {"prompt": json.dumps(graph), "parameters": samples.a1111_infotext("from params", "n")}
    info = detect_path(samples.write_png_text(tmp_path / "mix.png", texts))
    assert info.source == "comfyui" and info.prompt == "from params" and info.seed == 1234
    assert "png:tEXt:parameters" in info.evidence


def test_comfyui_webp_sample_writer(tmp_path: Path) -> None:
    info = detect_path(samples.write_comfyui_webp(tmp_path / "ComfyUI_00003_.webp", seed=8))
    assert (
        info.source == "comfyui" and info.seed == 8 and info.prompt == "a retro robot, studio light"
    )
    assert info.evidence == ["webp:exif:Make:workflow", "webp:exif:Model:prompt"]
    assert info.media_type == "image" and info.errors == []


@pytest.mark.parametrize("as_text", [False, True])
def test_comfyui_gif_comment_like_videohelpersuite(tmp_path: Path, as_text: bool) -> None:
    graph = samples.comfyui_api_graph("a looping flame", "smoke", seed=404)
    body = {
        "prompt": json.dumps(graph) if as_text else graph,
        "workflow": samples.comfyui_workflow(graph),
    }
    path = samples.write_animated_gif(tmp_path / "AnimateDiff_00001.gif", comment=json.dumps(body))
    info = detect_path(path)
    assert info.source == "comfyui" and info.confidence >= 0.9
    assert info.evidence == ["gif:comment:comment:prompt", "gif:comment:comment:workflow"]
    assert (info.prompt, info.negative_prompt, info.seed) == ("a looping flame", "smoke", 404)
    assert info.media_type == "video" and info.codec == "gif"
    assert json.loads(info.raw["prompt"])["3"]["class_type"] == "KSampler"


def test_comment_json_without_graph_keys_is_not_comfyui(tmp_path: Path) -> None:
    path = samples.write_animated_gif(tmp_path / "x.gif", comment='{"title": "holiday"}')
    info = detect_path(path)
    assert info.source == "unknown" and info.raw["comment"] == '{"title": "holiday"}'


def test_comfyui_truncated_comment_json(tmp_path: Path) -> None:
    body = samples.comfyui_video_comment("p", "n", 1)[:-50]
    info = detect_path(samples.write_animated_gif(tmp_path / "t.gif", comment=body))
    assert info.source == "comfyui" and info.confidence < 0.9 and info.prompt is None
    assert info.evidence == ["gif:comment:comment"]
    assert any("comfyui comment: invalid JSON" in e for e in info.errors)


def test_comfyui_very_long_text_chain_is_bounded(tmp_path: Path) -> None:
    graph = samples.comfyui_api_graph("unused", "neg", seed=3)
    graph["1000"] = samples._node("PrimitiveString", value="the start of a long chain")
    for i in range(1001, 4000):  # 3000 concatenations: deeper than Python's recursion limit
        graph[str(i)] = samples._node("StringConcatenate", string_a=[str(i - 1), 0], string_b="")
    graph["6"]["inputs"]["text"] = ["3999", 0]
    info = detect_path(samples.write_comfyui_png(tmp_path / "chain.png", graph=graph))
    assert info.source == "comfyui" and info.seed == 3 and info.negative_prompt == "neg"
    assert not any("parser failed" in e for e in info.errors)
