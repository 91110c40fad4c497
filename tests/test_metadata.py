"""Generator detection: fixtures written with alice_mcp.samples plus hand-built broken files."""

from __future__ import annotations

import io
import json
import struct
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from alice_mcp import samples
from alice_mcp.metadata import GenerationInfo, detect, detect_path, read_container
from alice_mcp.metadata.containers import PNG_MAGIC
from alice_mcp.metadata.families import model_family

# ---------------------------------------------------------------- helpers


def png_chunk(ctype: bytes, data: bytes, crc: int | None = None) -> bytes:
    """One PNG chunk with a correct (or given) CRC."""
    crc = zlib.crc32(ctype + data) if crc is None else crc
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", crc)


def split_png(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, data) chunks of a well-formed PNG."""
    out, pos = [], 8
    while pos < len(data):
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        out.append((ctype, data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return out


def build_png(chunks: list[tuple[bytes, bytes]]) -> bytes:
    """Reassemble a PNG from (type, data) chunks."""
    return PNG_MAGIC + b"".join(png_chunk(t, d) for t, d in chunks)


def plain_png_bytes(tmp_path: Path) -> bytes:
    """Bytes of a metadata-free 64x64 PNG."""
    return samples.write_plain_png(tmp_path / "plain.png").read_bytes()


def text_chunk(key: str, value: str) -> tuple[bytes, bytes]:
    """A tEXt chunk (Latin-1)."""
    return b"tEXt", key.encode("latin-1") + b"\x00" + value.encode("latin-1")


def detect_bytes(data: bytes, name: str = "file.png") -> GenerationInfo:
    """Detect from in-memory bytes."""
    return detect(io.BytesIO(data), name)


# ---------------------------------------------------------------- A1111


def test_a1111_png_all_fields(tmp_path: Path) -> None:
    path = samples.write_a1111_png(
        tmp_path / "a.png", prompt="a red fox in the snow, highly detailed", negative="blurry",
        seed=1234, model="v1-5-pruned-emaonly", steps=25, sampler="DPM++ 2M", cfg=6.5,
        schedule_type="Karras",
    )  # fmt: skip
    info = detect_path(path)
    assert info.source == "a1111" and info.source_name == "AUTOMATIC1111"
    assert info.confidence >= 0.9
    assert info.evidence == ["png:tEXt:parameters"]
    assert info.prompt == "a red fox in the snow, highly detailed"
    assert info.negative_prompt == "blurry"
    assert (info.seed, info.steps, info.sampler, info.scheduler) == (1234, 25, "DPM++ 2M", "Karras")
    assert info.cfg == 6.5
    assert info.model == "v1-5-pruned-emaonly" and info.model_family == "sd15"
    assert (info.width, info.height) == (64, 64)
    assert "Steps: 25" in info.raw["parameters"]
    assert info.errors == []


@pytest.mark.parametrize("encoding", ["unicode-be", "unicode-le", "ascii", "undefined"])
def test_a1111_jpeg_each_charset(tmp_path: Path, encoding: str) -> None:
    prompt = "café au lait, 東京 at night" if encoding.startswith("unicode") else "a lighthouse"
    path = samples.write_a1111_jpeg(
        tmp_path / "a.jpg", prompt=prompt, negative="lowres", seed=42, model="sd_xl_base_1.0",
        encoding=encoding,
    )  # fmt: skip
    info = detect_path(path)
    assert info.source == "a1111"
    assert info.evidence == ["jpeg:exif:UserComment"]
    assert info.prompt == prompt
    assert info.negative_prompt == "lowres"
    assert info.seed == 42 and info.model == "sd_xl_base_1.0" and info.model_family == "sdxl"
    assert info.errors == []


def test_a1111_webp(tmp_path: Path) -> None:
    path = samples.write_a1111_webp(tmp_path / "a.webp", prompt="koi pond", seed=7)
    meta = read_container(io.BytesIO(path.read_bytes()))
    assert (meta.format, meta.width, meta.height) == ("webp", 64, 64)
    info = detect_path(path)
    assert info.source == "a1111" and info.evidence == ["webp:exif:UserComment"]
    assert info.prompt == "koi pond" and info.seed == 7 and info.model_family == "flux"


def test_a1111_quoted_values_multiline_and_loras(tmp_path: Path) -> None:
    prompt = "a cat, <lora:detail_tweaker:0.8>\nsecond line <lyco:styleX:1>"
    path = samples.write_a1111_png(
        tmp_path / "q.png", prompt=prompt, negative="ugly,\nbad hands", seed=99,
        model="juggernautXL_v9", size=(64, 96), lora_hashes="detail_tweaker: abc123, extra: d4",
        template="x, y: z", hires_upscaler="4x-UltraSharp",
    )  # fmt: skip
    info = detect_path(path)
    assert info.prompt == prompt
    assert info.negative_prompt == "ugly,\nbad hands"
    assert info.seed == 99 and info.model == "juggernautXL_v9"
    assert (info.width, info.height) == (64, 96)
    assert info.loras == ["detail_tweaker", "styleX", "extra"]
    assert info.sampler == "Euler a"


def test_a1111_text_parser_matches_webui_shape() -> None:
    from alice_mcp.metadata.generators.a1111 import split_infotext

    text = (
        "masterpiece, 1girl\nNegative prompt: lowres\n"
        "Steps: 30, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 5.5, Seed: 7, "
        'Size: 832x1216, Model: pony, Wildcard prompt: "a, b, \\"c\\"", Version: f2.0.1v1.10.1'
    )
    params, prompt, negative = split_infotext(text)
    assert prompt == "masterpiece, 1girl" and negative == "lowres"
    assert params["Wildcard prompt"] == 'a, b, "c"'
    assert params["Version"] == "f2.0.1v1.10.1" and params["Size"] == "832x1216"


def test_forge_and_prompt_only(tmp_path: Path) -> None:
    path = samples.write_a1111_png(tmp_path / "f.png", version="f2.0.1v1.10.1-previous-1")
    assert detect_path(path).source == "forge"
    only = samples.write_png_text(tmp_path / "p.png", {"parameters": "just a prompt"})
    info = detect_path(only)
    assert info.source == "a1111" and info.prompt == "just a prompt" and info.seed is None


def test_non_latin_prompt_png_uses_itxt(tmp_path: Path) -> None:
    path = samples.write_a1111_png(tmp_path / "u.png", prompt="猫 in a hat ✨")
    info = detect_path(path)
    assert info.prompt == "猫 in a hat ✨" and info.evidence == ["png:iTXt:parameters"]


def test_json_parameters_are_not_a1111(tmp_path: Path) -> None:
    body = json.dumps({"prompt": "x", "negative_prompt": "y", "base_model": "juggernaut"})
    info = detect_path(samples.write_png_text(tmp_path / "fooocus.png", {"parameters": body}))
    assert info.source != "a1111"
    assert info.raw["parameters"] == body


# ---------------------------------------------------------------- other generators


def test_midjourney_novelai_invokeai(tmp_path: Path) -> None:
    mj = detect_path(
        samples.write_midjourney_png(tmp_path / "mj.png", prompt="ship --v 6.1 --seed 5")
    )
    assert mj.source == "midjourney" and mj.prompt == "ship --v 6.1 --seed 5"
    assert mj.model == "Midjourney v6.1" and mj.seed == 5
    assert mj.created_at == datetime(2024, 5, 4, 12, 30, tzinfo=UTC)
    nai = detect_path(samples.write_novelai_png(tmp_path / "n.png", prompt="1girl", seed=3))
    assert (nai.source, nai.prompt, nai.negative_prompt, nai.seed) == (
        "novelai",
        "1girl",
        "lowres",
        3,
    )
    assert (nai.width, nai.height, nai.steps, nai.cfg) == (832, 1216, 28, 5.0)
    inv = detect_path(samples.write_invokeai_png(tmp_path / "i.png", prompt="temple", seed=9))
    assert (inv.source, inv.prompt, inv.seed, inv.model) == (
        "invokeai",
        "temple",
        9,
        "juggernautXL_v9",
    )
    assert inv.model_family == "sdxl" and inv.loras == ["detail_tweaker_xl"]


# ---------------------------------------------------------------- file names


@pytest.mark.parametrize(
    ("name", "source"),
    [
        ("midjourney_cat.png", "midjourney"),
        ("mj_12345.png", "midjourney"),
        ("niji_girl.png", "midjourney"),
        ("user_a_cat_in_space_0b3e1c9a-5f7d-4e2b-9a61-3c8d2f4e7a10.png", "midjourney"),
        ("DALL·E 2024-01-01 12.34.56 - a cat.png", "dalle"),
        ("dalle3_output.png", "dalle"),
        ("runway_clip.png", "runway"),
        ("Gen-3 Alpha 1234, a cat.png", "runway"),
        ("kling_2025.png", "kling"),
        ("pika-shot.png", "pika"),
        ("sora_video_frame.png", "sora"),
        ("veo3_frame.png", "veo"),
        ("luma_dream.png", "luma"),
        ("hailuo_01.png", "hailuo"),
        ("ComfyUI_00001_.png", "comfyui"),
        ("Firefly_a cat_12345.jpg", "firefly"),
        ("flux_schnell_output.png", "flux"),
        ("00012-3860481053.png", "a1111"),
        ("holiday_photo.png", "unknown"),
    ],
)
def test_filename_fallback(tmp_path: Path, name: str, source: str) -> None:
    info = detect_path(samples.write_plain_png(tmp_path / name))
    assert info.source == source
    if source != "unknown":
        assert 0 < info.confidence < 0.5 and info.evidence[0].startswith("filename:")


def test_embedded_beats_filename(tmp_path: Path) -> None:
    embedded = detect_path(samples.write_a1111_png(tmp_path / "midjourney_export.png"))
    named = detect_path(samples.write_plain_png(tmp_path / "midjourney_export2.png"))
    assert embedded.source == "a1111" and named.source == "midjourney"
    assert embedded.confidence > named.confidence


def test_dalle_name_gives_prompt_and_date(tmp_path: Path) -> None:
    info = detect_path(samples.write_plain_png(tmp_path / "DALL·E 2024-01-02 03.04.05 - a cat.png"))
    assert info.prompt == "a cat" and info.created_at == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


# ---------------------------------------------------------------- container edge cases


def test_text_chunk_after_idat(tmp_path: Path) -> None:
    chunks = split_png(plain_png_bytes(tmp_path))
    params = samples.a1111_infotext("after idat", "neg", seed=5)
    data = build_png(chunks[:-1] + [text_chunk("parameters", params)] + chunks[-1:])
    info = detect_bytes(data)
    assert info.source == "a1111" and info.prompt == "after idat" and info.seed == 5


def test_garbage_idat_is_never_decoded(tmp_path: Path) -> None:
    chunks = split_png(samples.write_a1111_png(tmp_path / "g.png", seed=77).read_bytes())
    chunks = [(t, b"\x00garbage" * 50 if t == b"IDAT" else d) for t, d in chunks]
    data = build_png(chunks)
    with pytest.raises(Exception):  # noqa: B017 - proves the pixels really are undecodable
        Image.open(io.BytesIO(data)).load()
    info = detect_bytes(data)
    assert info.source == "a1111" and info.seed == 77 and (info.width, info.height) == (64, 64)


def test_crc_mismatch_noted_and_read(tmp_path: Path) -> None:
    chunks = split_png(plain_png_bytes(tmp_path))
    body = png_chunk(b"tEXt", b"parameters\x00bad crc prompt", crc=1)
    data = PNG_MAGIC + b"".join(png_chunk(t, d) for t, d in chunks[:1]) + body
    data += b"".join(png_chunk(t, d) for t, d in chunks[1:])
    info = detect_bytes(data)
    assert info.prompt == "bad crc prompt" and any("CRC mismatch" in e for e in info.errors)


def test_ztxt_and_compressed_itxt(tmp_path: Path) -> None:
    info = PngInfo()
    info.add_text("parameters", samples.a1111_infotext("zipped prompt", None, seed=3), zip=True)
    info.add_itxt("Comment", "compressed ✓", zip=True)
    path = tmp_path / "z.png"
    samples.sample_image().save(path, "PNG", pnginfo=info)
    meta = read_container(io.BytesIO(path.read_bytes()))
    assert meta.text["Comment"] == "compressed ✓"
    assert detect_path(path).prompt == "zipped prompt"


def test_truncated_file(tmp_path: Path) -> None:
    data = samples.write_a1111_png(tmp_path / "t.png", seed=8).read_bytes()
    info = detect_bytes(data[: len(data) - 30])  # cut inside IDAT, after the text chunk
    assert info.source == "a1111" and info.seed == 8
    assert any("truncated" in e for e in info.errors)
    cut = detect_bytes(data[:60])  # cut inside the text chunk
    assert isinstance(cut, GenerationInfo) and any("truncated" in e for e in cut.errors)


def test_zero_byte_and_non_image(tmp_path: Path) -> None:
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    info = detect_path(empty)
    assert info.source == "unknown" and any("empty" in e for e in info.errors)
    fake = tmp_path / "notes.png"
    fake.write_text("this is not an image\n" * 20)
    info = detect_path(fake)
    assert info.source == "unknown" and any("unrecognised" in e for e in info.errors)
    missing = detect_path(tmp_path / "missing.png")
    assert missing.errors and missing.source == "unknown"


def test_invalid_utf8_itxt(tmp_path: Path) -> None:
    chunks = split_png(plain_png_bytes(tmp_path))
    itxt = (
        b"parameters\x00\x00\x00\x00\x00" + b"bad \xff\xfe bytes\nSteps: 1, Seed: 2, CFG scale: 3"
    )
    info = detect_bytes(build_png(chunks[:1] + [(b"iTXt", itxt)] + chunks[1:]))
    assert info.source == "a1111" and info.seed == 2
    assert any("invalid UTF-8" in e for e in info.errors)


def test_truncated_json(tmp_path: Path) -> None:
    text = json.dumps(samples.comfyui_api_graph("p", "n"))[:-40]
    info = detect_path(samples.write_png_text(tmp_path / "tj.png", {"prompt": text}))
    assert info.source == "comfyui" and info.confidence < 0.9
    assert any("comfyui prompt: invalid JSON" in e for e in info.errors)


@pytest.mark.parametrize("key", ["prompt", "workflow", "invokeai_metadata"])
def test_deeply_nested_json(tmp_path: Path, key: str) -> None:
    deep = '{"a": ' * 100_000 + "1" + "}" * 100_000
    info = detect_path(samples.write_png_text(tmp_path / "deep.png", {key: deep}))
    assert isinstance(info, GenerationInfo)
    assert any("nested too deeply" in e for e in info.errors)


def test_large_workflow_chunk(tmp_path: Path) -> None:
    graph = samples.comfyui_api_graph("big one", "neg", seed=4)
    workflow = samples.comfyui_workflow(graph)
    workflow["extra"]["padding"] = "x" * 3_000_000
    path = samples.write_png_text(tmp_path / "big.png", {"workflow": json.dumps(workflow)})
    info = detect_path(path)
    assert info.source == "comfyui" and info.prompt == "big one" and info.seed == 4
    assert len(info.raw["workflow"]) == 64 * 1024


def test_oversized_json_refused(tmp_path: Path) -> None:
    text = json.dumps({"1": {"class_type": "X", "inputs": {"t": "y" * (9 * 1024 * 1024)}}})
    info = detect_path(samples.write_png_text(tmp_path / "huge.png", {"prompt": text}))
    assert any("over" in e and "limit" in e for e in info.errors)


def test_jpeg_broken_exif(tmp_path: Path) -> None:
    good = samples.write_plain_jpeg(tmp_path / "p.jpg").read_bytes()
    for payload in (
        b"Exif\x00\x00MM\x00*\x00\x00\xff\xff",
        b"Exif\x00\x00garbage!",
        b"Exif\x00\x00",
    ):
        segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
        info = detect_bytes(good[:2] + segment + good[2:], "broken.jpg")
        assert info.source == "unknown" and info.errors
        assert (info.width, info.height) == (64, 64)


def test_little_endian_exif_and_datetime() -> None:
    comment = b"UNICODE\x00" + "le prompt\nSteps: 5, Seed: 6, CFG scale: 7".encode("utf-16-le")
    dto, off = b"2024:06:01 10:00:00\x00", b"+02:00\x00"
    # IFD0: ExifIFD pointer; Exif IFD: UserComment, DateTimeOriginal, OffsetTimeOriginal
    ifd0 = struct.pack("<H", 1) + struct.pack("<HHII", 0x8769, 4, 1, 26) + struct.pack("<I", 0)
    base = 26 + 2 + 3 * 12 + 4
    exif_ifd = struct.pack("<H", 3)
    exif_ifd += struct.pack("<HHII", 0x9286, 7, len(comment), base)
    exif_ifd += struct.pack("<HHII", 0x9003, 2, len(dto), base + len(comment))
    exif_ifd += struct.pack("<HHII", 0x9011, 2, len(off), base + len(comment) + len(dto))
    tiff = b"II*\x00" + struct.pack("<I", 8) + ifd0 + exif_ifd + struct.pack("<I", 0)
    tiff += comment + dto + off
    buf = io.BytesIO()
    samples.sample_image().save(buf, "JPEG", exif=b"Exif\x00\x00" + tiff)
    info = detect_bytes(buf.getvalue(), "le.jpg")
    assert info.source == "a1111" and info.prompt == "le prompt" and info.seed == 6
    assert info.created_at == datetime(2024, 6, 1, 8, 0, tzinfo=UTC)


def test_xmp_iptc_ai_flag(tmp_path: Path) -> None:
    xmp = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description '
        'Iptc4xmpExt:DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/'
        'trainedAlgorithmicMedia"/></rdf:RDF></x:xmpmeta>'
    )
    info = PngInfo()
    info.add_itxt("XML:com.adobe.xmp", xmp)
    path = tmp_path / "x.png"
    samples.sample_image().save(path, "PNG", pnginfo=info)
    result = detect_path(path)
    assert result.source == "ai" and result.confidence == pytest.approx(0.8)


@settings(max_examples=150, deadline=None)
@given(
    st.binary(max_size=400),
    st.sampled_from([b"", PNG_MAGIC, b"\xff\xd8\xff", b"RIFF\x00\x00\x00\x00WEBP"]),
)
def test_detect_never_raises(body: bytes, magic: bytes) -> None:
    info = detect_bytes(magic + body)
    assert isinstance(info, GenerationInfo)
    json.dumps(info.to_dict())


# ---------------------------------------------------------------- model, result, samples


@pytest.mark.parametrize(
    ("name", "size", "family"),
    [
        ("flux1-dev-fp8.safetensors", None, "flux"),
        ("sd_xl_base_1.0", None, "sdxl"),
        ("juggernautXL_v9", None, "sdxl"),
        ("ponyDiffusionV6XL", None, "pony"),
        ("illustriousXL_v01", None, "illustrious"),
        ("sd3.5_large", None, "sd3"),
        ("v1-5-pruned-emaonly", None, "sd15"),
        ("dreamshaper_8", (512, 768), "sd15"),
        ("mystery_model", (1024, 1024), "sdxl"),
        ("mystery_model", None, None),
        (None, None, None),
    ],
)
def test_model_family(name: str | None, size: tuple[int, int] | None, family: str | None) -> None:
    assert model_family(name, *(size or (None, None))) == family


def test_to_dict_is_json_ready(tmp_path: Path) -> None:
    info = detect_path(samples.write_midjourney_png(tmp_path / "m.png"))
    data = json.loads(json.dumps(info.to_dict()))
    assert data["source"] == "midjourney" and data["created_at"].startswith("2024-05-04T12:30")


def test_make_sample_inbox(tmp_path: Path) -> None:
    paths = samples.make_sample_inbox(tmp_path / "a", count=24, seed=0)
    again = samples.make_sample_inbox(tmp_path / "b", count=24, seed=0)
    assert len(paths) == 24 and all(p.exists() for p in paths)
    assert [p.read_bytes() for p in paths] == [p.read_bytes() for p in again]
    dup = paths[-1]
    assert dup.parent.name == "duplicates" and dup.read_bytes() == paths[0].read_bytes()
    folders = {p.parent.relative_to(tmp_path / "a").as_posix() for p in paths}
    assert {".", "portraits", "landscapes"} <= folders
    sources = {detect_path(p).source for p in paths}
    assert {"a1111", "comfyui", "midjourney", "dalle", "novelai", "invokeai", "unknown"} <= sources
    formats = {read_container(io.BytesIO(p.read_bytes())).format for p in paths}
    assert formats == {"png", "jpeg", "webp"}
    assert len({p.read_bytes() for p in paths[:-1]}) == len(paths) - 1
