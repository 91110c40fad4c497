"""Midjourney PNG: `Description` text with the prompt, `--` flags and `Job ID: <uuid>`."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from alice_mcp.metadata.base import XMP
from alice_mcp.metadata.containers import ContainerMeta
from alice_mcp.metadata.generators import to_int
from alice_mcp.metadata.models import GenerationInfo

READS = frozenset({"Description", XMP})  # the fields `parse` looks at
JOB_ID = re.compile(r"\s*Job ID:\s*([0-9a-f\-]{36})", re.IGNORECASE)
FLAG_V = re.compile(r"--(v|version|niji)\s+([\w.]+)")
FLAG_SEED = re.compile(r"--seed\s+(\d+)")
FLAG_NO = re.compile(r"--no\s+(.+?)(?=\s--|$)")


def parse(meta: ContainerMeta, filename: str) -> GenerationInfo | None:
    """Recognise Midjourney by the `Job ID:` line (or an XMP that names Midjourney)."""
    desc = meta.text.get("Description", "")
    job = JOB_ID.search(desc)
    xmp_says = bool(meta.xmp and "midjourney" in meta.xmp.lower())
    if not job and not xmp_says:
        return None
    info = GenerationInfo(source="midjourney", source_name="Midjourney", confidence=0.9)
    info.evidence.append("png:Description:JobID" if job else "xmp:midjourney")
    if desc:
        info.add_raw("Description", desc)
        prompt = JOB_ID.sub("", desc).strip()
        info.prompt = prompt or None
        m = FLAG_V.search(prompt)
        if m:
            info.model = f"{'Niji' if m.group(1) == 'niji' else 'Midjourney v'}{m.group(2)}"
        seed = FLAG_SEED.search(prompt)
        info.seed = to_int(seed.group(1)) if seed else None
        neg = FLAG_NO.search(prompt)
        info.negative_prompt = neg.group(1).strip() if neg else None
    if job:
        info.add_raw("job_id", job.group(1))
    info.model_family = "midjourney"
    info.created_at = parse_time(meta.text.get("Creation Time"))
    return info


def parse_time(value: str | None) -> datetime | None:
    """Parse a PNG `Creation Time` (ISO 8601 or RFC 1123) into aware UTC."""
    if not value or not value.strip():
        return None
    text = value.strip()
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            dt = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)
