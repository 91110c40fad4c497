"""Videos through PyAV (FFmpeg): header facts, one representative frame, and its PixelInfo.

`probe_video` reads the container header only (stream probing is capped), so it costs
about a millisecond; `representative_frame` decodes a single frame near 10 % of the
duration (seeking to the keyframe before it) so a video gets a thumbnail and hashes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from PIL import Image

from alice_mcp.errors import MediaError
from alice_mcp.media.measures import PixelInfo
from alice_mcp.media.pixels import MAX_PIXELS, analyze_image

PROBE_OPTIONS = {"probesize": str(1 << 20), "analyzeduration": "0"}  # header, not frames
# FFmpeg decodes a frame while probing the streams unless told to skip it: a 8192x8192 header
# cost 165 MB before anything could look at its size. Decoding later uses its own codec context.
NO_PROBE_DECODE = {"skip_frame": "all"}
FRAME_POSITION = 0.1  # representative frame at 10 % of the duration
MAX_FRAMES_AFTER_SEEK = 300  # frames decoded at most while walking from a keyframe to the target
MAX_TAG_CHARS = 16 * 1024 * 1024
MAX_FRAMES = 20_000_000  # over 46 hours at 120 fps: a header declaring more is not believed


def _av() -> Any:
    """PyAV, imported by the first video: its 40 ms of imports are no image's business."""
    import av

    return av


class VideoError(MediaError):
    """A video that cannot be opened or decoded."""


class VideoRefused(VideoError):
    """A video whose header declares more pixels or frames than alice decodes: never decoded."""


def check_limits(width: int | None, height: int | None, frames: int | None,
                 max_pixels: int = MAX_PIXELS) -> None:
    """Refuse, before any frame is decoded, a header declaring a frame over max_pixels (the
    limit images have) or more than MAX_FRAMES frames."""
    if width and height and width * height > max_pixels:
        raise VideoRefused(f"video refused: frames of {width}x{height} = {width * height} "
                           f"pixels, the limit is {max_pixels} (as for images)")
    if frames and frames > MAX_FRAMES:
        raise VideoRefused(f"video refused: its header declares {frames} frames, the limit "
                           f"is {MAX_FRAMES}")


@dataclass(slots=True)
class VideoInfo:
    """What a video container header says."""

    format: str | None = None  # FFmpeg demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
    duration_s: float | None = None
    width: int | None = None
    height: int | None = None
    codec: str | None = None
    fps: float | None = None
    frames: int | None = None
    creation_time: str | None = None  # as written in the container tags (ISO 8601)
    tags: dict[str, str] = field(default_factory=dict)  # container + video stream tags, lower-case
    errors: list[str] = field(default_factory=list)


def probe_stream(fp: BinaryIO | str | Path) -> VideoInfo:
    """Read a video's container header (tags, duration, size, codec, rate); never raises."""
    info = VideoInfo()
    av = _av()
    try:
        with av.open(
            fp if isinstance(fp, str) else (str(fp) if isinstance(fp, Path) else fp),
            container_options=PROBE_OPTIONS,
            options=NO_PROBE_DECODE,
            metadata_errors="replace",
        ) as container:
            _fill(info, container)
    except (av.FFmpegError, OSError, ValueError, EOFError) as exc:
        info.errors.append(f"video: cannot read container: {exc}")
    return info


def probe_video(path: Path | str) -> VideoInfo:
    """Header facts of a video file (see probe_stream)."""
    return probe_stream(Path(path))


def _fill(info: VideoInfo, container: Any) -> None:
    """Copy header facts from an open PyAV input container."""
    av = _av()
    info.format = container.format.name
    for key, value in container.metadata.items():
        info.tags.setdefault(str(key).lower(), str(value)[:MAX_TAG_CHARS])
    if container.duration is not None and container.duration > 0:
        info.duration_s = round(container.duration / av.time_base, 6)
    if not container.streams.video:
        info.errors.append("video: no video stream")
        return
    stream = container.streams.video[0]
    for key, value in stream.metadata.items():
        info.tags.setdefault(str(key).lower(), str(value)[:MAX_TAG_CHARS])
    info.codec = stream.codec_context.name if stream.codec_context else stream.codec.name
    info.width = stream.width or None
    info.height = stream.height or None
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    info.fps = round(float(rate), 3) if rate else None
    info.frames = stream.frames or None
    if info.duration_s is None and stream.duration and stream.time_base:
        info.duration_s = round(float(stream.duration * stream.time_base), 6)
    created = info.tags.get("creation_time", "")
    info.creation_time = created if created[:4] not in ("", "1904", "1970") else None


def representative_frame(path: Path | str, position: float = FRAME_POSITION,
                         max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode one RGB frame near `position` (0..1) of the duration; the first frame as fallback."""
    av = _av()
    try:
        with av.open(str(path), options=NO_PROBE_DECODE, metadata_errors="replace") as container:
            if not container.streams.video:
                raise VideoError("no video stream")
            stream = container.streams.video[0]
            check_limits(stream.width, stream.height, stream.frames, max_pixels)
            stream.thread_type = "AUTO"
            frame = _frame_near(container, stream, position)
            if frame is None:
                container.seek(0)
                frame = next(container.decode(stream), None)
            if frame is None:
                raise VideoError("no decodable frame")
            return frame.to_image()
    except VideoError:
        raise
    except (av.FFmpegError, OSError, ValueError, EOFError, StopIteration) as exc:
        raise VideoError(f"cannot decode video: {exc}") from exc


def _frame_near(container: Any, stream: Any, position: float) -> Any:
    """Seek to the keyframe before the target time and decode up to the target; None if unsure."""
    av = _av()
    duration = container.duration / av.time_base if container.duration else None
    if not duration or not stream.time_base or position <= 0:
        return None
    target = math.floor(duration * position / stream.time_base)
    try:
        container.seek(int(target), stream=stream, backward=True, any_frame=False)
    except av.FFmpegError:
        return None
    best = None
    for count, frame in enumerate(container.decode(stream)):
        best = frame
        if frame.pts is None or frame.pts >= target or count >= MAX_FRAMES_AFTER_SEEK:
            break
    return best


def analyze_video(path: Path | str, thumb_size: int = 256) -> PixelInfo:
    """Thumbnail, perceptual hashes and quality of a video, from its representative frame."""
    return analyze_image(representative_frame(path), thumb_size=thumb_size)
