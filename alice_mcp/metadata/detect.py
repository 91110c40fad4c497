"""Ordered detection chain: container header -> embedded parameters -> C2PA -> file name.

Confidence follows the evidence: embedded generation parameters (0.9+) beat a C2PA
manifest or the IPTC "made by AI" flag (0.8), which beat a file name (0.3-0.4).
`detect` never raises: a parser that fails becomes an `errors` note and the chain goes on.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import fields
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from alice_mcp.media.probe import open_regular_sized
from alice_mcp.metadata.base import PARAMETERS_JSON, USER_COMMENT, USER_COMMENT_JSON
from alice_mcp.metadata.containers import ContainerMeta, read_container
from alice_mcp.metadata.generators import (
    ENGINE_OF,
    a1111,
    c2pa_manifest,
    comfyui,
    drawthings,
    easydiffusion,
    filename,
    fooocus,
    hfspace,
    invokeai,
    invokeai_legacy,
    midjourney,
    novelai,
    ruinedfooocus,
    stabilitymatrix,
    swarmui,
    tensorart,
)
from alice_mcp.metadata.generators.midjourney import parse_time
from alice_mcp.metadata.models import GenerationInfo
from alice_mcp.metadata.provenance import active_manifest
from alice_mcp.metadata.xmp import digital_source_type

if TYPE_CHECKING:
    from PIL import Image

Parser = Callable[[ContainerMeta, str], GenerationInfo | None]
# (name, parser, the fields it reads: skipped when none holds anything; None: always run)
Step = tuple[str, Parser, frozenset[str] | None]

# Embedded evidence, most specific first. The front-ends and services that run ComfyUI
# (SwarmUI, Stability Matrix, TensorArt) go before it: they wrote the file, their own
# parameters win and the graph only fills gaps (and stays as evidence). ComfyUI goes
# before A1111 because ComfyUI save nodes may also write an A1111 `parameters` chunk;
# that one then only fills gaps. The JSON-in-`parameters` tools (SwarmUI, RuinedFooocus,
# Spaces, Fooocus) go before A1111, which declines JSON.
EMBEDDED: list[Step] = [
    ("swarmui", swarmui.parse, swarmui.READS),
    ("stabilitymatrix", stabilitymatrix.parse, stabilitymatrix.READS),
    ("tensorart", tensorart.parse, tensorart.READS),
    ("comfyui", comfyui.parse, comfyui.READS),
    ("invokeai", invokeai.parse, invokeai.READS),
    ("invokeai_legacy", invokeai_legacy.parse, invokeai_legacy.READS),
    ("novelai", novelai.parse, novelai.READS),
    ("ruinedfooocus", ruinedfooocus.parse, ruinedfooocus.READS),
    ("hfspace", hfspace.parse, hfspace.READS),
    ("fooocus", fooocus.parse, fooocus.READS),
    ("easydiffusion", easydiffusion.parse, easydiffusion.READS),
    ("drawthings", drawthings.parse, drawthings.READS),
    ("a1111", a1111.parse, a1111.READS),
    ("midjourney", midjourney.parse, midjourney.READS),
]
PROVENANCE: list[Step] = [("c2pa", c2pa_manifest.parse, None)]
# readers of `parameters` that decline it unless it starts like JSON (base.looks_json)
_JSON_PARAMETERS_ONLY = frozenset({"ruinedfooocus", "hfspace"})
FALLBACK: list[Step] = [("filename", filename.parse, None)]
IPTC_CONFIDENCE = 0.8
OPEN_BUFFER = 4096  # given, so open() need not ask the OS whether the file is a terminal
_MERGE_SKIP = {"source", "source_name", "engine", "confidence", "evidence", "extra", "raw",
               "errors", "loras"}  # fmt: skip
_COMMENT_EVIDENCE = ":exif:UserComment"  # evidence of a hit read from the UserComment
_COMMENT_FIELDS = frozenset({USER_COMMENT, USER_COMMENT_JSON})
_EXIF_GRAPH = ("prompt:", "workflow:", "prompt: ", "workflow: ")  # EXIF strings ComfyUI read


def detect(
    fp: BinaryIO, filename: str, *, stealth: bool = False, size: int | None = None,
    image: Image.Image | None = None,
) -> GenerationInfo:
    """Detect the generator of one file from its header and name; never raises.

    `stealth` also decodes PNG/WebP pixels to find stealth pnginfo (slower; off by default),
    or scans `image`, the file already decoded. `size`: the file's size, when known and `fp`
    is at offset 0 (see read_container).
    """
    try:
        meta = read_container(fp, stealth=stealth, size=size, image=image)
    except Exception as exc:  # read_container is defensive; this is belt and braces
        meta = ContainerMeta(errors=[f"container: {type(exc).__name__}: {exc}"])
    return detect_meta(meta, filename)


def detect_path(path: Path, *, stealth: bool = False) -> GenerationInfo:
    """Open a file and detect its generator; an unreadable file gives an error note."""
    try:
        fp, size = open_regular_sized(path, buffering=OPEN_BUFFER)
        with fp:
            return detect(fp, str(path), stealth=stealth, size=size)
    except OSError as exc:
        return GenerationInfo(errors=[f"open: {exc.strerror or exc}"])


def detect_meta(meta: ContainerMeta, filename: str) -> GenerationInfo:
    """Run the parser chain over already-read container metadata."""
    errors = list(meta.errors)
    present = meta.sources()
    info = _run(_steps_reading(present), meta, filename, errors, present)
    if info is None:
        info = _run(PROVENANCE, meta, filename, errors)
        named = _run(FALLBACK, meta, filename, errors)
        if info is None:
            info = named
        elif named is not None and named.source == info.source:
            _merge(info, named)  # e.g. a DALL·E file name adds the prompt and date
    info = _apply_flags(info, meta)
    _fill_from_container(info, meta)
    if info.engine is None:
        info.engine = ENGINE_OF.get(info.source, info.source)  # engine_of() without the call
    if info.source == "unknown":
        info.reason = _unread_reason(meta)
    info.errors[:0] = errors
    return info


def _unread_reason(meta: ContainerMeta) -> str | None:
    """Why a file that carries text metadata is still `unknown` (its fields are kept raw)."""
    fields = [f"text:{key}" for key in meta.text]
    if meta.exif_user_comment and meta.exif_user_comment.strip():
        fields.append("exif:UserComment")
    if not fields:
        return None
    shown = ", ".join(fields[:12]) + (", ..." if len(fields) > 12 else "")
    return f"metadata read but no known generator wrote it: {shown} (kept raw)"


@lru_cache(maxsize=256)
def _steps_reading(present: frozenset[str]) -> tuple[Step, ...]:
    """The EMBEDDED steps that read one of the `present` fields (meta.sources()), in order.

    The others would return None. Cached: a library holds few distinct sets of fields.
    """
    return tuple(step for step in EMBEDDED if _reads_one_of(step, present))


def _reads_one_of(step: Step, present: frozenset[str]) -> bool:
    """Whether a step reads a present field; a JSON-only reader does not read a `parameters`
    that does not look like JSON (A1111 infotext: two calls less per file)."""
    name, _, reads = step
    if reads is None:
        return True
    if name in _JSON_PARAMETERS_ONLY and PARAMETERS_JSON not in present:
        reads = reads - {"parameters"}
    return not reads.isdisjoint(present)


def _run(
    chain: Sequence[Step], meta: ContainerMeta, filename: str, errors: list[str],
    present: frozenset[str] = frozenset(),
) -> GenerationInfo | None:
    """Call parsers in order; the first hit wins, later hits only fill its gaps. Once the
    EXIF UserComment gave the hit, a parser that reads nothing else is skipped: one field
    has one writer (SwarmUI's JSON is not also NovelAI's or ComfyUI's)."""
    info: GenerationInfo | None = None
    claimed: frozenset[str] = frozenset()
    for name, parser, reads in chain:
        if claimed and reads is not None and reads & present <= claimed:
            continue
        try:
            result = parser(meta, filename)
        except Exception as exc:
            errors.append(f"{name}: parser failed: {type(exc).__name__}: {exc}"[:500])
            continue
        if result is None:
            continue
        if info is None:
            info = result
            if USER_COMMENT in present:  # (without one no step can be skipped)
                for e in result.evidence:  # a loop, not any(genexpr): per-file cost (issue 16)
                    if e.endswith(_COMMENT_EVIDENCE):
                        claimed = _COMMENT_FIELDS
                        break
        else:
            _merge(info, result)
    return info


def _merge(into: GenerationInfo, other: GenerationInfo) -> None:
    """Fill empty fields of the winning result from a secondary source."""
    for f in fields(GenerationInfo):
        if f.name not in _MERGE_SKIP and getattr(into, f.name) is None:
            setattr(into, f.name, getattr(other, f.name))
    for key, value in other.extra.items():
        into.extra.setdefault(key, value)
    for lora in other.loras:
        if lora not in into.loras:
            into.loras.append(lora)
    into.evidence.extend(e for e in other.evidence if e not in into.evidence)
    for key, value in other.raw.items():
        into.raw.setdefault(key, value)
    into.errors.extend(other.errors)


def _apply_flags(info: GenerationInfo | None, meta: ContainerMeta) -> GenerationInfo:
    """Use the IPTC "made by AI" flag (XMP) and note a C2PA manifest store."""
    if info is None:
        info = GenerationInfo()
    try:
        code = digital_source_type(meta.xmp)
    except Exception as exc:  # a parser failure is a note, like every other parser's
        code = None
        info.errors.append(f"xmp: parser failed: {type(exc).__name__}: {exc}"[:500])
    if code:
        info.evidence.append(f"xmp:DigitalSourceType:{code}")
        if info.source == "unknown":
            info.source, info.source_name = "ai", "AI-generated (tool not stated)"
        info.confidence = max(info.confidence, IPTC_CONFIDENCE)
    if meta.c2pa and not any(":c2pa" in e for e in info.evidence):
        info.evidence.append(f"{meta.format}:c2pa")
    if meta.c2pa_manifest is not None and "c2pa" not in info.raw:
        manifest = active_manifest(meta.c2pa_manifest)
        if manifest is not None:
            state = meta.c2pa_manifest.get("validation_state")
            info.add_raw("c2pa", c2pa_manifest.summary(manifest, state))
    return info


def _fill_from_container(info: GenerationInfo, meta: ContainerMeta) -> None:
    """Size, date and video facts from the header when metadata did not state them."""
    if info.width is None and info.height is None:
        info.width, info.height = meta.width, meta.height
    info.media_type = meta.media_type
    info.duration_s, info.codec, info.fps = meta.duration_s, meta.codec, meta.fps
    if info.created_at is None:
        info.created_at = exif_datetime(
            meta.exif.get("DateTimeOriginal"), meta.exif.get("OffsetTimeOriginal")
        ) or parse_time(meta.created_at)
    for key, value in meta.text.items():
        if key not in info.raw:
            info.add_raw(key, value)
    comment = meta.exif_user_comment
    if comment and comment[: 64 * 1024] not in info.raw.values():
        info.add_raw("exif:UserComment", comment)
    for key, value in meta.exif.items():
        # (only a value starting p/P/w/W can be a graph: most skip the lower())
        if value and not (value[0] in "pPwW" and value[:10].lower().startswith(_EXIF_GRAPH)):
            info.add_raw(f"exif:{key}", value)


def exif_datetime(value: str | None, offset: str | None = None) -> datetime | None:
    """Parse EXIF `YYYY:MM:DD HH:MM:SS` (+ optional `+HH:MM` offset) into aware UTC."""
    if not value:
        return None
    try:
        dt = datetime.strptime(value.strip()[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    tz = UTC
    m = re.match(r"^([+-])(\d{2}):?(\d{2})$", (offset or "").strip())
    if m:
        delta = timedelta(hours=int(m.group(2)), minutes=int(m.group(3)))
        tz = timezone(delta if m.group(1) == "+" else -delta)
    return dt.replace(tzinfo=tz).astimezone(UTC)
