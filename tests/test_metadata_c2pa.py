"""C2PA manifests read with the official library (real signed fixtures), and the IPTC flag."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from alice_mcp import samples
from alice_mcp.metadata import ContainerMeta, detect, detect_meta, detect_path, read_container
from alice_mcp.metadata.generators import c2pa_manifest


@pytest.mark.parametrize(
    ("fmt", "ext", "tool", "agent", "source"),
    [
        ("PNG", "png", "ChatGPT", "GPT-4o", "dalle"),
        ("JPEG", "jpg", "Adobe Firefly", "Adobe Firefly Image 3", "firefly"),
        ("WEBP", "webp", "Google Gemini", None, "gemini"),
        ("GIF", "gif", "Microsoft Designer", "DALL-E 3", "dalle"),
    ],
)
def test_signed_images(
    tmp_path: Path, fmt: str, ext: str, tool: str, agent: str | None, source: str
) -> None:
    path = samples.write_c2pa_image(
        tmp_path / f"image.{ext}", tool=tool, agent=agent, fmt=fmt, when="2025-02-03T04:05:06Z"
    )
    meta = read_container(io.BytesIO(path.read_bytes()))
    assert meta.c2pa and meta.c2pa_manifest is not None
    assert meta.c2pa_manifest["validation_state"] in ("Valid", "Trusted")
    info = detect_path(path)
    assert (info.source, info.confidence) == (source, 0.8)
    fmt_name = {"JPEG": "jpeg"}.get(fmt, fmt.lower())
    assert info.evidence == [
        f"{fmt_name}:c2pa:manifest",
        f"{fmt_name}:c2pa:digitalSourceType:trainedAlgorithmicMedia",
    ]
    assert info.model == agent if agent and agent not in tool else info.model is None
    assert info.created_at == datetime(2025, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert (info.width, info.height) == (64, 64)
    assert f"tools: {tool}" in info.raw["c2pa"] and "validation: Valid" in info.raw["c2pa"]
    assert info.prompt is None and info.errors == []


def test_camera_manifest_is_provenance_not_generation(tmp_path: Path) -> None:
    path = samples.write_c2pa_image(tmp_path / "photo.jpg", tool="Leica M11-P", agent=None,
                                    ai=False, fmt="JPEG")  # fmt: skip
    info = detect_path(path)
    assert info.source == "unknown" and info.confidence == 0.0
    assert info.evidence == ["jpeg:c2pa"] and "tools: Leica M11-P" in info.raw["c2pa"]


def test_ai_flag_with_unknown_tool(tmp_path: Path) -> None:
    path = samples.write_c2pa_image(tmp_path / "x.png", tool="Acme Imaginator", agent=None)
    info = detect_path(path)
    assert info.source == "ai" and info.source_name == "AI-generated (Acme Imaginator)"
    assert info.confidence == 0.8


def test_signed_mp4(tmp_path: Path) -> None:
    video = samples.write_video(tmp_path / "plain.mp4", codec="mpeg4", frames=6)
    signed = samples.sign_bytes(
        video.read_bytes(), "video/mp4", samples.ai_manifest("Google Veo", "Veo 3")
    )
    path = tmp_path / "clip.mp4"
    path.write_bytes(signed)
    info = detect_path(path)
    assert (info.source, info.source_name, info.confidence) == ("veo", "Google Veo", 0.8)
    assert info.evidence[0] == "mp4:c2pa:manifest" and info.model == "Veo 3"
    assert info.media_type == "video" and info.codec == "mpeg4" and info.duration_s == 0.5


def test_embedded_parameters_beat_c2pa(tmp_path: Path) -> None:
    a1111 = samples.write_a1111_png(tmp_path / "a.png", prompt="mine", seed=4).read_bytes()
    signed = samples.sign_bytes(a1111, "image/png", samples.ai_manifest("ChatGPT", "GPT-4o"))
    info = detect(io.BytesIO(signed), "a.png")
    assert info.source == "a1111" and info.prompt == "mine" and info.confidence >= 0.9
    assert "png:c2pa" in info.evidence and "c2pa" in info.raw


def test_dalle_file_name_fills_prompt_and_date(tmp_path: Path) -> None:
    path = samples.write_c2pa_image(tmp_path / "DALL·E 2024-01-02 03.04.05 - a red kite.png")
    info = detect_path(path)
    assert info.source == "dalle" and info.confidence == 0.8
    assert info.prompt == "a red kite" and "filename:dalle" in info.evidence
    assert info.created_at == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_other_name_does_not_override_manifest(tmp_path: Path) -> None:
    info = detect_path(samples.write_c2pa_image(tmp_path / "midjourney_fake.png"))
    assert info.source == "dalle" and not any(e.startswith("filename") for e in info.evidence)


def test_broken_manifest_store_is_a_note(tmp_path: Path) -> None:
    data = samples.write_c2pa_image(tmp_path / "c.png").read_bytes()
    at = data.index(b"caBX") + 40
    broken = data[:at] + b"\x00" * 64 + data[at + 64 :]  # damage inside the JUMBF boxes
    info = detect(io.BytesIO(broken), "c.png")
    assert info.source in ("unknown", "dalle")
    assert any(e.startswith(("c2pa:", "png: CRC")) for e in info.errors)
    marker_only = samples.write_png_text(tmp_path / "m.png", {"x": "y"}).read_bytes()
    marker_only = (
        marker_only[:-12] + b"\x00\x00\x00\x04caBXjunk\x00\x00\x00\x00" + marker_only[-12:]
    )
    result = detect(io.BytesIO(marker_only), "m.png")
    assert result.source == "unknown" and any(e.startswith("c2pa:") for e in result.errors)


# ---------------------------------------------------------------- mapping, from manifest JSON


def store(manifest: dict[str, Any]) -> ContainerMeta:
    """Container metadata holding one active manifest."""
    return ContainerMeta(format="png", c2pa=True, c2pa_manifest={
        "active_manifest": "urn:1", "manifests": {"urn:1": manifest}, "validation_state": "Valid",
    })  # fmt: skip


def created(agent: str | None = None, code: str = "trainedAlgorithmicMedia") -> dict[str, Any]:
    """A c2pa.actions assertion with one created action."""
    action: dict[str, Any] = {
        "action": "c2pa.created",
        "digitalSourceType": f"http://cv.iptc.org/newscodes/digitalsourcetype/{code}",
    }
    if agent:
        action["softwareAgent"] = agent
    return {"label": "c2pa.actions", "data": {"actions": [action]}}


@pytest.mark.parametrize(
    ("manifest", "source"),
    [
        ({"claim_generator": "DALL-E_3/1.0 c2pa-rs/0.26", "assertions": [created()]}, "dalle"),
        ({"claim_generator_info": [{"name": "Sora"}], "assertions": [created()]}, "sora"),
        ({"claim_generator": "Adobe_Photoshop/25.0", "assertions": [
            created(code="compositeWithTrainedAlgorithmicMedia")]}, "firefly"),
        ({"claim_generator": "Bing Image Creator", "assertions": []}, "bing"),
        ({"claim_generator": "Microsoft_Responsible_AI/1.0", "assertions": [created()]}, "bing"),
        ({"claim_generator": "Google C2PA Core", "assertions": [created("Imagen 3")]}, "imagen"),
        ({"claim_generator": "Google C2PA Core", "assertions": [created()]}, "google"),
        ({"claim_generator": "Google Pixel Camera", "assertions": [created(code="digitalCapture")]}, None),
        ({"claim_generator": "Adobe_Photoshop/25.0", "assertions": []}, None),
        ({"signature_info": {"issuer": "OpenAI"}, "assertions": []}, "dalle"),
        ({"claim_generator": "Unknown tool", "assertions": [created()]}, "ai"),
    ],
)  # fmt: skip
def test_tool_mapping(manifest: dict[str, Any], source: str | None) -> None:
    result = c2pa_manifest.parse(store(manifest), "x.png")
    assert (result.source if result else None) == source
    if result:
        assert result.confidence == 0.8


def test_mapping_tolerates_odd_shapes() -> None:
    odd = {"claim_generator_info": ["x", {"name": 5}], "assertions": ["y", {"label": "c2pa.actions",
           "data": {"actions": [None, {"action": "c2pa.created", "digitalSourceType": 3}]}}]}  # fmt: skip
    assert c2pa_manifest.parse(store(odd), "x.png") is None
    assert c2pa_manifest.parse(ContainerMeta(c2pa_manifest={"manifests": []}), "x.png") is None
    info = detect_meta(
        store({"claim_generator": "ChatGPT", "signature_info": {"time": "bad"}}), "x"
    )
    assert info.source == "dalle" and info.created_at is None


# ---------------------------------------------------------------- IPTC DigitalSourceType in XMP


def xmp_png(xmp: str) -> bytes:
    """A PNG carrying an XMP packet."""
    info = PngInfo()
    info.add_itxt("XML:com.adobe.xmp", xmp)
    buf = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (f'<rdf:Description Iptc4xmpExt:DigitalSourceType="{IPTC}trainedAlgorithmicMedia"/>',
         "trainedAlgorithmicMedia"),
        (f"<Iptc4xmpExt:DigitalSourceType>{IPTC}compositeWithTrainedAlgorithmicMedia"
         "</Iptc4xmpExt:DigitalSourceType>", "compositeWithTrainedAlgorithmicMedia"),
        (f'<Iptc4xmpExt:DigitalSourceType rdf:resource="{IPTC}trainedAlgorithmicMedia"/>',
         "trainedAlgorithmicMedia"),
        (f'<rdf:Description Iptc4xmpExt:DigitalSourceType="{IPTC}digitalCapture"/>', None),
    ],
)  # fmt: skip
def test_iptc_flag_forms(body: str, code: str | None) -> None:
    xmp = f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF>{body}</rdf:RDF></x:xmpmeta>'
    info = detect(io.BytesIO(xmp_png(xmp)), "x.png")
    if code is None:
        assert info.source == "unknown" and info.confidence == 0.0
    else:
        assert info.source == "ai" and info.confidence == 0.8
        assert info.evidence == [f"xmp:DigitalSourceType:{code}"]


def test_iptc_flag_confirms_a_file_name() -> None:
    xmp = f'<rdf:Description Iptc4xmpExt:DigitalSourceType="{IPTC}trainedAlgorithmicMedia"/>'
    info = detect(io.BytesIO(xmp_png(xmp)), "midjourney_cat.png")
    assert info.source == "midjourney" and info.confidence == 0.8
    assert info.evidence == ["filename:midjourney", "xmp:DigitalSourceType:trainedAlgorithmicMedia"]
