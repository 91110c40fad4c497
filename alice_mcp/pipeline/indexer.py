"""Index one file in one worker call: read once, hash, detect the generator, decode the pixels once.

The readers (metadata, Pillow and numpy through media.pixels, PyAV through media.video) are
imported by the first file indexed, not with this module: a rescan that finds nothing new never
loads them (issue 19: start-up).
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from alice_mcp.media.probe import content_hash, hash_file, mime_for, open_regular
from alice_mcp.pipeline.scan import Candidate

if TYPE_CHECKING:  # the store is not imported here: worker processes import this module
    from alice_mcp.media.measures import PixelInfo
    from alice_mcp.metadata import GenerationInfo
    from alice_mcp.store.writer import Write

IN_MEMORY_LIMIT = 64 * 1024 * 1024  # larger files are hashed streamed and decoded from disk


@dataclass(slots=True)
class Indexed:
    """What one file yielded; pixels is None when a video's frame could not be decoded."""

    candidate: Candidate
    asset_id: str
    info: GenerationInfo
    pixels: PixelInfo | None
    data: bytes | None = None  # the bytes read and hashed, when keep_bytes allowed them
    staged: Path | None = None  # those bytes written by a worker process (pipeline/staging.py)


@dataclass(slots=True)
class Failed:
    candidate: Candidate
    reason: str


def index_file(cand: Candidate, *, thumb_size: int = 256, stealth: bool = False,
               keep_bytes: Callable[[int], bool] | None = None) -> Indexed | Failed:
    """Everything the index stores about one file; any error becomes a Failed with the reason.

    keep_bytes(size) True keeps the bytes read in Indexed.data, so placing the file need not
    read it again (organize, within a memory budget)."""
    from alice_mcp.media.pixels import PixelError
    from alice_mcp.media.video import VideoRefused

    try:
        if cand.media_type == "image" and cand.size <= IN_MEMORY_LIMIT:
            with open_regular(cand.path) as fp:
                data = fp.read()
            item = _index(cand, content_hash(data), lambda: io.BytesIO(data), thumb_size, stealth)
            if keep_bytes is not None and keep_bytes(len(data)):
                item.data = data
            return item
        return _index(cand, hash_file(cand.path), lambda: open_regular(cand.path), thumb_size, stealth)
    except OSError as exc:
        return Failed(cand, f"cannot read file: {exc.strerror or exc}")
    except PixelError as exc:
        return Failed(cand, f"cannot decode image: {exc}")
    except VideoRefused as exc:
        return Failed(cand, str(exc))


def _index(cand: Candidate, asset_id: str, opener: Any, thumb_size: int,
           stealth: bool) -> Indexed:
    from alice_mcp.media.pixels import PixelError, analyze_image, analyze_pixels, open_decoded
    from alice_mcp.media.video import VideoError, VideoRefused, analyze_video
    from alice_mcp.metadata import detect

    fp: BinaryIO
    with opener() as fp:
        # stealth pnginfo scans every pixel: the decode it needs is the one analysis uses
        decoded = open_decoded(fp) if stealth and cand.media_type == "image" else None
        with decoded if decoded is not None else contextlib.nullcontext():
            fp.seek(0)
            info = detect(fp, cand.path.name, stealth=stealth, image=decoded)
            pixels = None
            if cand.media_type == "image":
                fp.seek(0)
                try:
                    if decoded is not None:
                        pixels = analyze_image(decoded, thumb_size=thumb_size)
                    else:
                        pixels = analyze_pixels(fp, thumb_size=thumb_size)
                except PixelError as exc:  # the container reader may know why; Pillow rarely
                    raise PixelError("; ".join([str(exc), *info.errors[:3]])) from exc
    if cand.media_type == "video":  # one representative frame; an undecodable video stays indexed
        try:
            pixels = analyze_video(cand.path, thumb_size=thumb_size)
        except VideoRefused:  # too many pixels or frames: a per-file error, as for images
            raise
        except (VideoError, PixelError) as exc:
            info.errors.append(f"video frame: {exc}")
    return Indexed(cand, asset_id, info, pixels)


def created_at(item: Indexed) -> datetime:
    """Embedded creation time, else the file's modification time (local time zone)."""
    if item.info.created_at is not None:
        return item.info.created_at
    return datetime.fromtimestamp(item.candidate.mtime_ns / 1e9, UTC).astimezone()


def asset_row(item: Indexed, star_thresholds: tuple[float, float, float, float],
              now: datetime) -> dict[str, Any]:
    """The assets-table row of an indexed file."""
    from alice_mcp.media.measures import stars  # no numpy: rows are made where no reader runs

    info, px, cand = item.info, item.pixels, item.candidate
    return {
        "asset_id": item.asset_id, "media_type": cand.media_type, "mime": mime_for(cand.path),
        "bytes": cand.size,
        "width": px.width if px else info.width, "height": px.height if px else info.height,
        "duration_s": info.duration_s if cand.media_type == "video" else None,
        "codec": info.codec if cand.media_type == "video" else None,
        "created_at": created_at(item), "source": info.source, "source_name": info.source_name,
        "engine": info.engine,
        "confidence": info.confidence, "model": info.model, "model_family": info.model_family,
        "prompt": info.prompt, "negative_prompt": info.negative_prompt, "seed": _int64(info.seed),
        "steps": info.steps, "sampler": info.sampler, "scheduler": info.scheduler, "cfg": info.cfg,
        "loras": list(info.loras), "params": json.dumps(info.to_dict(), ensure_ascii=False),
        "phash": px.phash if px else None, "dhash": px.dhash if px else None,
        "quality": px.quality if px else None,
        "stars": stars(px.quality, star_thresholds) if px else None,
        "project": cand.project, "errors": "; ".join(info.errors) or None, "indexed_at": now,
    }


def file_row(path: Path, asset_id: str, role: str, size: int, mtime_ns: int,
             now: datetime) -> Write:
    """The files-table row recording one location of an asset."""
    from alice_mcp.store.writer import Write
    return Write("files", {"path": str(path), "asset_id": asset_id, "size": size,
                           "mtime_ns": mtime_ns, "role": role, "seen_at": now})


def _int64(value: int | None) -> int | None:
    """Seeds beyond BIGINT (some UIs use 2**64-1) are kept in params, not in the seed column."""
    return value if value is not None and -(2**63) <= value < 2**63 else None
