"""Videos get the limits images have: a header declaring frames over the pixel limit is refused
per file with a clear error, before any frame is decoded (an 8192x8192 MP4 of 100 KB once took
gigabytes), and the rest of the inbox is organized."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from alice_mcp import samples
from alice_mcp.config import load_settings
from alice_mcp.library import Library
from alice_mcp.media.pixels import MAX_PIXELS
from alice_mcp.media.video import MAX_FRAMES
from alice_mcp.pipeline.indexer import Failed, index_file
from alice_mcp.pipeline.scan import Candidate

pytestmark = pytest.mark.anyio
SIDE = 8192  # 67 megapixels a frame: over the 50-megapixel limit of images


@pytest.fixture(scope="module")
def huge_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One flat grey 8192x8192 H.264 frame: ~100 KB on disk, 100 MB decoded."""
    path = tmp_path_factory.mktemp("huge") / "huge.mp4"
    plane = np.full((SIDE * 3 // 2, SIDE), 128, dtype=np.uint8)
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream(samples.video.pick_codec("mp4"), rate=2,
                                      options={"preset": "ultrafast"})
        stream.width = stream.height = SIDE
        stream.pix_fmt = "yuv420p"
        for packet in stream.encode(av.VideoFrame.from_ndarray(plane, format="yuv420p")):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    assert SIDE * SIDE > MAX_PIXELS and path.stat().st_size < 2_000_000
    return path


CHILD = """
import json, resource, sys
from pathlib import Path
from alice_mcp.pipeline.indexer import Failed, index_file
from alice_mcp.pipeline.scan import Candidate

def index(path):
    path = Path(path)
    return index_file(Candidate(path, path.stat().st_size, 0, "p", "video"))

def peak_kb():  # VmHWM: Linux gives an exec'd child the parent's ru_maxrss when larger
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

small = index(sys.argv[1])  # warm up PyAV and the codec
before = peak_kb()
found = index(sys.argv[2])
after = peak_kb()
print(json.dumps({"small": type(small).__name__, "failed": isinstance(found, Failed),
                  "reason": getattr(found, "reason", None), "grew_mb": (after - before) / 1024}))
"""


def test_a_video_over_the_pixel_limit_is_refused_before_any_frame_is_decoded(
        tmp_path: Path, huge_video: Path) -> None:
    small = samples.write_video(tmp_path / "small.mp4", frames=4)
    run = subprocess.run([sys.executable, "-c", CHILD, str(small), str(huge_video)],
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    found = json.loads(run.stdout)
    assert found["small"] == "Indexed"
    assert found["failed"], found
    assert f"{SIDE}x{SIDE}" in found["reason"] and "refused" in found["reason"]
    assert str(MAX_PIXELS) in found["reason"]
    assert found["grew_mb"] < 60, found  # one decoded frame alone is 100 MB


async def test_organize_reports_the_refused_video_and_organizes_the_rest(
        tmp_path: Path, huge_video: Path) -> None:
    inbox = tmp_path / "in"
    inbox.mkdir()
    (inbox / "huge.mp4").write_bytes(huge_video.read_bytes())
    samples.write_video(inbox / "fine.mp4", frames=4)
    samples.write_plain_png(inbox / "control.png", seed=3)
    settings = load_settings(flags={"paths.inbox": inbox, "paths.organized": tmp_path / "out",
                                    "paths.database": tmp_path / "lib.duckdb"}).settings
    with Library(settings) as lib:
        report = await lib.organize()
    assert report.organized == 2
    assert [(Path(e.path).name, "refused" in e.reason) for e in report.errors] == \
        [("huge.mp4", True)]


def test_a_video_declaring_a_billion_frames_is_refused(tmp_path: Path) -> None:
    """The MP4 stts box of a real 6-frame video says 10**9 samples (its duration stays 0.5 s)."""
    data = bytearray(samples.write_video(tmp_path / "v.mp4", frames=6).read_bytes())
    at = data.index(b"stts")
    assert struct.unpack(">II", data[at + 8:at + 16]) == (1, 6)  # one entry: 6 samples
    data[at + 12:at + 16] = struct.pack(">I", 10**9)
    path = tmp_path / "billion.mp4"
    path.write_bytes(bytes(data))
    found = index_file(Candidate(path, len(data), 0, "p", "video"))
    assert isinstance(found, Failed), found
    assert f"declares {10**9} frames" in found.reason and str(MAX_FRAMES) in found.reason
