"""Parser dispatch and the fast header walks: the shortcuts must not change any result."""

from __future__ import annotations

import importlib
import io
import json
import struct
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from alice_mcp import samples
from alice_mcp.metadata import ContainerMeta, detect_path, read_container
from alice_mcp.metadata.base import PARAMETERS_JSON, USER_COMMENT
from alice_mcp.metadata.models import GenerationInfo
from alice_mcp.metadata.window import READ_AHEAD

# the module: the package exports its `detect` function under the same name
detect_module = importlib.import_module("alice_mcp.metadata.detect")

# ---------------------------------------------------------------- helpers

A1111_TEXT = "a fox\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, Seed: 5, Size: 512x512"
GRAPH = samples.comfyui_api_graph("a city", "fog", seed=3)
VALUES = [
    A1111_TEXT,
    json.dumps(GRAPH),
    json.dumps(samples.comfyui_workflow(GRAPH)),
    json.dumps({"prompt": GRAPH}),
    json.dumps(samples.swarmui_parameters("a cat", "", 1)),
    json.dumps(samples.fooocus_parameters("a forest", "", 2)),
    json.dumps({"prompt": "x", "use_stable_diffusion_model": "sd15", "num_inference_steps": 9}),
    json.dumps({"positive_prompt": "p", "seed": 4, "model": {"name": "m", "base": "sdxl"}}),
    json.dumps({"image": {"prompt": "p [n]", "seed": 1}, "model_weights": "m"}),
    '"a robot [blurry]" -s 50 -S 7 -W 512 -H 768',
    "NovelAI",
    "an airship --v 6.1 Job ID: 0b3e1c9a-5f7d-4e2b-9a61-3c8d2f4e7a10",
    "fooocus",
    # JSON-only readers of `parameters` (RuinedFooocus, Spaces): white space first, JSON in a string
    "\n  " + json.dumps({"Prompt": "p", "base_model_name": "m.safetensors", "seed": 3}),
    json.dumps(json.dumps({"Prompt": "p", "software": "RuinedFooocus"})),
    " " * 7 + json.dumps({"prompt": "p", "Model": "m", "resolution": "832 x 1216"}),
    "plain words",
    "{not json",
    "",
]
TEXT_KEYS = sorted(
    {key for _, _, reads in detect_module.EMBEDDED for key in reads or () if "\x00" not in key}
    | {"Comment", "Source", "fooocus_scheme", "Creation Time", "Title", "other"}
)
XMPS = [
    None,
    "",
    '<x:xmpmeta><rdf:Description xmp:CreatorTool="Draw Things"/></x:xmpmeta>',
    "<x:xmpmeta>made with Midjourney</x:xmpmeta>",
]


def comparable(info: GenerationInfo | None) -> dict | None:
    """A result as plain data, for equality checks."""
    return None if info is None else info.to_dict()


def every_parser(meta: ContainerMeta, name: str) -> tuple[dict | None, list[str]]:
    """The embedded chain with no parser skipped."""
    errors: list[str] = []
    info = detect_module._run(detect_module.EMBEDDED, meta, name, errors)
    return comparable(info), errors


def dispatched(meta: ContainerMeta, name: str) -> tuple[dict | None, list[str]]:
    """The embedded chain as detect_meta runs it: only parsers whose fields are present."""
    errors: list[str] = []
    steps = detect_module._steps_reading(meta.sources())
    return comparable(detect_module._run(steps, meta, name, errors)), errors


metas = st.builds(
    lambda text, comment, exif, xmp: ContainerMeta(
        format="png", text=text, exif_user_comment=comment, exif=exif, xmp=xmp
    ),
    st.dictionaries(st.sampled_from(TEXT_KEYS), st.sampled_from(VALUES), max_size=4),
    st.one_of(st.none(), st.sampled_from(VALUES)),
    st.dictionaries(
        st.sampled_from(["Make", "Model", "Software", "MakerNote", "ImageDescription"]),
        st.one_of(
            st.sampled_from(VALUES),
            st.sampled_from(VALUES).map(lambda v: "prompt:" + v),
            st.sampled_from(VALUES).map(lambda v: "workflow:" + v),
        ),
        max_size=2,
    ),
    st.sampled_from(XMPS),
)

# ---------------------------------------------------------------- dispatch


@settings(max_examples=300, deadline=None)
@given(metas)
def test_parser_declines_without_the_fields_it_declares(meta: ContainerMeta) -> None:
    present = meta.sources()
    for name, parser, reads in detect_module.EMBEDDED:
        assert reads is not None
        if reads.isdisjoint(present):
            assert parser(meta, "x.png") is None, name


@settings(max_examples=300, deadline=None)
@given(metas)
def test_dispatch_equals_running_every_parser(meta: ContainerMeta) -> None:
    assert dispatched(meta, "x.png") == every_parser(meta, "x.png")


def test_dispatch_equals_running_every_parser_on_samples(tmp_path: Path) -> None:
    graph = json.dumps(GRAPH)
    paths = [
        samples.write_a1111_png(tmp_path / "a.png"),
        samples.write_a1111_jpeg(tmp_path / "a.jpg"),
        samples.write_a1111_webp(tmp_path / "a.webp"),
        samples.write_comfyui_png(tmp_path / "c.png"),
        samples.write_comfyui_webp(tmp_path / "c.webp"),
        samples.write_novelai_png(tmp_path / "n.png"),
        samples.write_invokeai_png(tmp_path / "i.png"),
        samples.write_invokeai_dream_png(tmp_path / "d.png"),
        samples.write_invokeai_sdmeta_png(tmp_path / "s.png"),
        samples.write_midjourney_png(tmp_path / "m.png"),
        samples.write_fooocus_png(tmp_path / "f.png"),
        samples.write_fooocus_jpeg(tmp_path / "f.jpg"),
        samples.write_swarmui_png(tmp_path / "w.png"),
        samples.write_swarmui_jpeg(tmp_path / "w.jpg"),
        samples.write_easydiffusion_png(tmp_path / "e.png"),
        samples.write_easydiffusion_jpeg(tmp_path / "e.jpg"),
        samples.write_drawthings_png(tmp_path / "t.png"),
        samples.write_plain_jpeg(tmp_path / "p.jpg"),
        # two tools in one file: the later parser fills the first one's gaps
        samples.write_png_text(tmp_path / "both.png", {"prompt": graph, "parameters": A1111_TEXT}),
        samples.write_png_text(tmp_path / "nai.png", {"Software": "NovelAI", "parameters": "x"}),
    ]
    for path in paths:
        meta = read_container(io.BytesIO(path.read_bytes()))
        assert dispatched(meta, path.name) == every_parser(meta, path.name), path.name
    both = detect_path(tmp_path / "both.png")
    assert both.source == "comfyui" and "parameters" in both.raw


# ---------------------------------------------------------------- JPEG walk


def segment(code: int, payload: bytes) -> bytes:
    """One JPEG marker segment."""
    return bytes([0xFF, code]) + struct.pack(">H", len(payload) + 2) + payload


def test_jpeg_segments_across_read_ahead_windows(tmp_path: Path) -> None:
    plain = samples.write_plain_jpeg(tmp_path / "p.jpg").read_bytes()
    exif = samples.exif_with_comment(A1111_TEXT * 40, "unicode-le")  # > READ_AHEAD bytes
    assert len(exif) > READ_AHEAD
    extra = (
        segment(0xE2, b"ICC_PROFILE\x00" + bytes(3 * READ_AHEAD))  # skipped, spans windows
        + b"\xff\xff"  # fill bytes before a marker
        + segment(0xE1, exif)
        + segment(0xFE, b"a comment")
    )
    data = plain[:2] + extra + plain[2:]
    meta = read_container(io.BytesIO(data))
    assert meta.errors == [] and meta.text["comment"] == "a comment"
    assert meta.exif_user_comment == A1111_TEXT * 40
    assert (meta.width, meta.height) == (64, 64)
    with (tmp_path / "big.jpg").open("wb") as fp:
        fp.write(data)
    assert detect_path(tmp_path / "big.jpg").prompt == "a fox"


def test_jpeg_truncated_segment_is_noted(tmp_path: Path) -> None:
    plain = samples.write_plain_jpeg(tmp_path / "p.jpg").read_bytes()
    data = plain[:2] + segment(0xFE, b"x" * 100)[:50]
    meta = read_container(io.BytesIO(data))
    assert meta.errors == ["jpeg: truncated segment 0xFE at offset 2"]
    assert "comment" not in meta.text


# ---------------------------------------------------------------- WebP walk


def riff_chunk(fourcc: bytes, payload: bytes) -> bytes:
    """One RIFF chunk, padded to an even size."""
    return fourcc + struct.pack("<I", len(payload)) + payload + b"\x00" * (len(payload) & 1)


def test_webp_chunks_to_the_last_byte() -> None:
    buf = io.BytesIO()
    samples.sample_image().save(buf, "WEBP")
    body = buf.getvalue()[12:]
    body += riff_chunk(b"XMP ", b"<x:xmpmeta>odd</x:xmpmeta>!")  # odd length, padded
    data = b"RIFF" + struct.pack("<I", len(body) + 4) + b"WEBP" + body
    meta = read_container(io.BytesIO(data))
    assert meta.errors == [] and meta.xmp == "<x:xmpmeta>odd</x:xmpmeta>!"
    short = read_container(io.BytesIO(data[:-1]))  # the pad byte is missing
    assert short.errors == [f"webp: truncated XMP  chunk at offset {len(data) - 36}"]


def test_sources_name_only_fields_that_hold_something() -> None:
    meta = ContainerMeta(text={"parameters": "x"}, exif_user_comment="", xmp="")
    assert meta.sources() == {"parameters"}
    steps = {name for name, _, _ in detect_module._steps_reading(meta.sources())}
    assert {"a1111", "fooocus"} <= steps and not {"ruinedfooocus", "hfspace"} & steps
    json_meta = ContainerMeta(text={"parameters": '  {"Prompt": "p"}'})
    assert json_meta.sources() == {"parameters", PARAMETERS_JSON}
    steps = {name for name, _, _ in detect_module._steps_reading(json_meta.sources())}
    assert {"ruinedfooocus", "hfspace"} <= steps
    meta.exif_user_comment = "y"
    assert meta.sources() == {"parameters", USER_COMMENT}
