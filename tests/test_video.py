"""Videos: header facts, ComfyUI tags, file-name sources, one representative frame, indexing."""

from __future__ import annotations

import io
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import av
import imagehash
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alice_mcp import samples
from alice_mcp.media.pixels import hamming
from alice_mcp.media.video import (
    VideoError,
    analyze_video,
    probe_stream,
    probe_video,
    representative_frame,
)
from alice_mcp.metadata import detect, detect_path, read_container
from alice_mcp.pipeline.indexer import Failed, Indexed, asset_row, index_file
from alice_mcp.pipeline.scan import Candidate

CASES = [  # (file name, container format name, codec asked for, codec reported)
    ("clip.mp4", "mp4", "libx264", "h264"),
    ("clip_mpeg4.mp4", "mp4", "mpeg4", "mpeg4"),
    ("clip.mov", "mov", "mpeg4", "mpeg4"),
    ("clip.webm", "webm", "libvpx-vp9", "vp9"),
    ("clip.mkv", "matroska", "libx264", "h264"),
]


def needs(codec: str) -> None:
    """Skip when the PyAV wheel lacks an encoder."""
    if codec not in av.codecs_available:
        pytest.skip(f"{codec} not in this PyAV build")


@pytest.mark.parametrize(("name", "fmt", "codec", "reported"), CASES)
def test_probe_and_detect_each_container(
    tmp_path: Path, name: str, fmt: str, codec: str, reported: str
) -> None:
    needs(codec)
    tags = {"creation_time": "2024-05-04T12:30:00.000000Z", "title": "a test clip"}
    path = samples.write_video(tmp_path / name, codec=codec, size=(64, 48), frames=24, fps=12,
                               tags=tags)  # fmt: skip
    probe = probe_video(path)
    assert (probe.width, probe.height, probe.codec, probe.fps) == (64, 48, reported, 12.0)
    assert probe.duration_s == pytest.approx(2.0, abs=0.1)
    assert probe.creation_time and probe.creation_time.startswith("2024-05-04T12:30")
    assert probe.tags["title"] == "a test clip" and probe.errors == []
    meta = read_container(io.BytesIO(path.read_bytes()))
    assert (meta.format, meta.media_type) == (fmt, "video")
    info = detect_path(path)
    assert info.source == "unknown" and info.media_type == "video"
    assert (info.width, info.height, info.codec, info.fps) == (64, 48, reported, 12.0)
    assert info.duration_s == pytest.approx(2.0, abs=0.1)
    assert info.created_at == datetime(2024, 5, 4, 12, 30, tzinfo=UTC)
    assert info.raw["title"] == "a test clip" and info.errors == []


@pytest.mark.parametrize("ext", ["mp4", "webm", "mov"])
def test_comfyui_comment_round_trip(tmp_path: Path, ext: str) -> None:
    path = samples.write_comfyui_video(tmp_path / f"AnimateDiff_00001.{ext}", prompt="a paper boat",
                                       negative="static", seed=112358)  # fmt: skip
    info = detect_path(path)
    fmt = {"mp4": "mp4", "webm": "webm", "mov": "mov"}[ext]
    assert (info.source, info.confidence) == ("comfyui", 0.95)
    assert info.evidence == [f"{fmt}:tag:comment:prompt", f"{fmt}:tag:comment:workflow"]
    assert (info.prompt, info.negative_prompt, info.seed, info.steps, info.cfg) == (
        "a paper boat", "static", 112358, 20, 7.0,
    )  # fmt: skip
    assert (info.sampler, info.scheduler, info.model, info.model_family) == (
        "euler", "normal", "wan2.1_t2v_14B", "wan",
    )  # fmt: skip
    assert info.media_type == "video" and info.duration_s == pytest.approx(2.0, abs=0.1)
    assert json.loads(info.raw["prompt"])["3"]["class_type"] == "KSampler"


def test_comfyui_core_savevideo_tags(tmp_path: Path) -> None:
    graph = samples.comfyui_api_graph("a kite", "n", seed=9, ckpt="ltxv-13b.safetensors")
    tags = {"prompt": json.dumps(graph), "workflow": json.dumps(samples.comfyui_workflow(graph))}
    path = samples.write_video(tmp_path / "ComfyUI_00001_.mp4", codec="mpeg4", tags=tags,
                               options={"movflags": "use_metadata_tags"})  # fmt: skip
    info = detect_path(path)
    assert info.source == "comfyui" and info.evidence == ["mp4:tag:prompt", "mp4:tag:workflow"]
    assert (info.prompt, info.seed, info.model_family) == ("a kite", 9, "ltxv")


@pytest.mark.parametrize(
    ("name", "source"),
    [
        ("Gen-3 Alpha Turbo 1234, a cat walking.mp4", "runway"),
        ("kling_20240612_Text_to_Video_a_fox.mp4", "kling"),
        ("pika_1718000000.mp4", "pika"),
        ("sora_2_clip.mp4", "sora"),
        ("veo3_output.mp4", "veo"),
        ("luma_dream_machine.mp4", "luma"),
        ("hailuo_video_01.mp4", "hailuo"),
        ("holiday.mp4", "unknown"),
    ],
)
def test_file_name_sources(tmp_path: Path, name: str, source: str) -> None:
    path = samples.write_video(tmp_path / name, codec="mpeg4", frames=4)
    info = detect_path(path)
    assert info.source == source and info.media_type == "video" and info.codec == "mpeg4"
    if source != "unknown":
        assert info.evidence == [f"filename:{source}"] and info.confidence == 0.4


def test_representative_frame_hash_matches_source(tmp_path: Path) -> None:
    needs("libx264")
    path = samples.write_video(tmp_path / "v.mp4", codec="libx264", size=(128, 96), frames=30,
                               seed=7)  # fmt: skip
    frame = representative_frame(path)
    assert frame.size == (128, 96) and frame.mode == "RGB"
    source = samples.video_frames((128, 96), 30, 7)[3]  # 10 % of 30 frames
    distance = imagehash.phash(frame) - imagehash.phash(source)
    assert distance <= 8
    px = analyze_video(path, thumb_size=64)
    reference = analyze_video_reference(source)
    assert (px.width, px.height) == (128, 96) and hamming(px.phash, reference) <= 8
    assert px.thumbnail and 0 <= px.quality <= 100


def analyze_video_reference(img) -> int:  # noqa: ANN001 - a PIL image
    """The stored (signed) phash of a still image, through the same image pipeline."""
    from alice_mcp.media.pixels import analyze_image

    return analyze_image(img, thumb_size=64).phash


def test_representative_frame_errors(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x00\x00\x18ftypisom" + b"\x00" * 200)
    with pytest.raises(VideoError):
        representative_frame(junk)
    missing = probe_video(tmp_path / "missing.mp4")
    assert missing.errors and missing.duration_s is None


def test_corrupt_and_truncated_videos_never_raise(tmp_path: Path) -> None:
    data = samples.write_comfyui_video(tmp_path / "v.mp4", seed=5).read_bytes()
    for cut in (
        data[:40],
        data[:400],
        data[: len(data) // 2],
        b"\x00\x00\x00\x08ftyp" + b"\xff" * 50,
    ):
        started = time.perf_counter()
        info = detect(io.BytesIO(cut), "v.mp4")
        assert info.media_type == "video" and time.perf_counter() - started < 5
        json.dumps(info.to_dict())
    junk = detect(io.BytesIO(b"\x1a\x45\xdf\xa3" + b"\x00" * 100), "x.webm")
    assert junk.errors and junk.source == "unknown"
    probe = probe_stream(io.BytesIO(b"RIFF\x00\x00\x00\x00AVI LIST"))
    assert probe.errors


def test_animated_gif(tmp_path: Path) -> None:
    path = samples.write_animated_gif(tmp_path / "loop.gif", size=(40, 30), frames=5,
                                      duration_ms=100, comment="made by hand")  # fmt: skip
    info = detect_path(path)
    assert (info.media_type, info.codec, info.width, info.height) == ("video", "gif", 40, 30)
    assert (info.duration_s, info.fps) == (0.5, 10.0)
    assert info.raw["comment"] == "made by hand" and info.errors == []
    still = samples.sample_image((20, 20))
    still.save(tmp_path / "still.gif")
    single = detect_path(tmp_path / "still.gif")
    assert single.media_type == "image" and single.duration_s is None


def test_truncated_gif_is_a_note(tmp_path: Path) -> None:
    data = samples.write_animated_gif(tmp_path / "g.gif", frames=4).read_bytes()
    info = detect(io.BytesIO(data[: len(data) // 2]), "g.gif")
    assert info.width == 64 and any(e.startswith("gif:") for e in info.errors)


# ---------------------------------------------------------------- indexing


def candidate(path: Path, media_type: str) -> Candidate:
    """An inbox candidate for one file."""
    st = path.stat()
    return Candidate(path, st.st_size, st.st_mtime_ns, "uncategorized", media_type)


THRESHOLDS = (20.0, 40.0, 60.0, 80.0)


def test_index_video_gets_frame_pixels_and_row(tmp_path: Path) -> None:
    path = samples.write_comfyui_video(tmp_path / "v.mp4", codec="mpeg4", size=(96, 64), seed=3)
    item = index_file(candidate(path, "video"), thumb_size=64)
    assert isinstance(item, Indexed) and item.pixels is not None
    row = asset_row(item, THRESHOLDS, datetime.now(UTC))
    assert (row["media_type"], row["width"], row["height"], row["codec"]) == (
        "video",
        96,
        64,
        "mpeg4",
    )
    assert row["duration_s"] == pytest.approx(2.0, abs=0.1)
    assert row["source"] == "comfyui" and row["phash"] is not None and row["stars"] is not None


def test_undecodable_video_is_indexed_without_pixels(tmp_path: Path) -> None:
    path = tmp_path / "broken.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x07" * 500)
    item = index_file(candidate(path, "video"))
    assert isinstance(item, Indexed) and item.pixels is None
    assert any(e.startswith("video frame:") for e in item.info.errors)
    row = asset_row(item, THRESHOLDS, datetime.now(UTC))
    assert row["phash"] is None and row["errors"]
    gone = candidate(path, "video")
    path.unlink()
    assert isinstance(index_file(gone), Failed)


def test_image_rows_have_no_video_fields(tmp_path: Path) -> None:
    path = samples.write_animated_gif(tmp_path / "a.gif")
    item = index_file(candidate(path, "image"))
    assert isinstance(item, Indexed) and item.info.duration_s == 0.5
    row = asset_row(item, THRESHOLDS, datetime.now(UTC))
    assert row["duration_s"] is None and row["codec"] is None


@settings(max_examples=60, deadline=None)
@given(
    st.binary(max_size=600),
    st.sampled_from([
        b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00", b"\x00\x00\x00\x08moov", b"\x1a\x45\xdf\xa3",
        b"RIFF\x00\x00\x00\x00AVI ", b"GIF89a", b"GIF87a\x10\x00\x10\x00\x80\x00\x00",
    ]),
)  # fmt: skip
def test_video_and_gif_detection_never_raises(body: bytes, magic: bytes) -> None:
    info = detect(io.BytesIO(magic + body), "x.mp4")
    assert info.media_type in ("video", "image")
    json.dumps(info.to_dict())
