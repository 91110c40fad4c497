"""Video samples written with PyAV (MP4, MOV, WebM) and animated GIFs written with Pillow.

Frames are sample pictures that drift slowly, so a frame's perceptual hash stays close to
the source picture's. ComfyUI metadata is stored the way VideoHelperSuite stores it: one
`comment` tag holding `{"prompt": graph, "workflow": workflow}`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from alice_mcp.samples.comfyui import comfyui_api_graph, comfyui_workflow
from alice_mcp.samples.images import Size, sample_image

CODECS = {"mp4": "libx264", "mov": "mpeg4", "webm": "libvpx-vp9", "mkv": "libx264"}
FALLBACK_CODEC = "mpeg4"


def video_frames(size: Size, count: int, seed: int) -> list[Image.Image]:
    """`count` RGB frames: one sample picture, shifted a pixel per frame."""
    base = np.asarray(sample_image(size, seed))
    return [Image.fromarray(np.roll(base, i, axis=1)) for i in range(count)]


def pick_codec(fmt: str) -> str:
    """The codec used for a container, falling back to MPEG-4 Part 2 if the wheel lacks it."""
    import av

    codec = CODECS.get(fmt, FALLBACK_CODEC)
    return codec if codec in av.codecs_available else FALLBACK_CODEC


def write_video(
    path: Path,
    *,
    fmt: str | None = None,
    codec: str | None = None,
    size: Size = (64, 48),
    frames: int = 24,
    fps: int = 12,
    seed: int = 0,
    tags: dict[str, str] | None = None,
    options: dict[str, str] | None = None,
) -> Path:
    """Encode a short video (default 2 s at 12 fps) with container metadata `tags`."""
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = fmt or path.suffix.lstrip(".").lower()
    muxer = {"mkv": "matroska"}.get(fmt, fmt)
    with av.open(str(path), "w", format=muxer, options=options or {}) as container:
        for key, value in (tags or {}).items():
            container.metadata[key] = value
        stream = container.add_stream(codec or pick_codec(fmt), rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        for img in video_frames(size, frames, seed):
            for packet in stream.encode(av.VideoFrame.from_image(img)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def comfyui_video_comment(prompt: str, negative: str, seed: int, **graph_args: Any) -> str:
    """VideoHelperSuite's `comment` tag: JSON with the API graph and the UI workflow."""
    graph = comfyui_api_graph(prompt, negative, seed=seed, **graph_args)
    return json.dumps({"prompt": graph, "workflow": comfyui_workflow(graph)})


def write_comfyui_video(
    path: Path,
    prompt: str = "a paper boat on a stream, cinematic",
    negative: str = "static",
    seed: int = 112358,
    **video_args: Any,
) -> Path:
    """A video with ComfyUI metadata in its `comment` tag, as VideoHelperSuite saves it."""
    tags = {
        "comment": comfyui_video_comment(prompt, negative, seed, ckpt="wan2.1_t2v_14B.safetensors")
    }
    tags.update(video_args.pop("tags", {}))
    return write_video(path, tags=tags, **video_args)


def write_animated_gif(
    path: Path,
    *,
    size: Size = (64, 48),
    frames: int = 5,
    duration_ms: int = 100,
    seed: int = 0,
    comment: str | None = None,
) -> Path:
    """An animated GIF (Pillow), optionally with a comment extension."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    images = video_frames(size, frames, seed)
    extra: dict[str, Any] = {"comment": comment.encode("utf-8")} if comment else {}
    images[0].save(path, "GIF", save_all=True, append_images=images[1:], duration=duration_ms,
                   loop=0, **extra)  # fmt: skip
    return path
