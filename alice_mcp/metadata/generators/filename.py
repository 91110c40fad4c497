"""Last resort: guess the generator from the file name (low confidence, evidence `filename:*`)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import PurePath

from alice_mcp.metadata.containers import ContainerMeta
from alice_mcp.metadata.models import GenerationInfo

NAME_CONFIDENCE = 0.4
WEAK_CONFIDENCE = 0.3
_B = r"(?:^|[^a-z0-9])"  # word start
_E = r"(?:[^a-z]|$)"  # word end (digits may follow: veo3, sora2)
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

# (slug, display name, pattern, confidence); first match wins.
RULES: list[tuple[str, str, re.Pattern[str], float]] = [
    (slug, name, re.compile(pattern), conf)
    for slug, name, pattern, conf in [
        ("comfyui", "ComfyUI", r"comfyui", NAME_CONFIDENCE),
        ("midjourney", "Midjourney", rf"midjourney|{_B}mj[_\-\s]|{_B}niji", NAME_CONFIDENCE),
        ("dalle", "DALL·E", r"dall[·\-_ .]?e[\s_\-]?[23]?(?:[^a-z]|$)", NAME_CONFIDENCE),
        ("chatgpt", "ChatGPT (OpenAI)", r"chatgpt[\s_\-]?image", NAME_CONFIDENCE),
        ("firefly", "Adobe Firefly", r"firefly", NAME_CONFIDENCE),
        ("runway", "Runway", rf"runway|{_B}gen[\-_]?[234](?:[\s_\-]|alpha)", NAME_CONFIDENCE),
        ("kling", "Kling", r"kling", NAME_CONFIDENCE),
        ("pika", "Pika", rf"{_B}pika{_E}", NAME_CONFIDENCE),
        ("sora", "Sora (OpenAI)", rf"{_B}sora{_E}", NAME_CONFIDENCE),
        ("veo", "Google Veo", rf"{_B}veo{_E}", NAME_CONFIDENCE),
        ("luma", "Luma Dream Machine", r"luma|dream[\s_\-]?machine", NAME_CONFIDENCE),
        ("hailuo", "Hailuo (MiniMax)", r"hailuo|minimax", NAME_CONFIDENCE),
        ("gemini", "Google Gemini", r"gemini[\s_\-]generated|imagen", NAME_CONFIDENCE),
        ("ideogram", "Ideogram", r"ideogram", NAME_CONFIDENCE),
        ("leonardo", "Leonardo.Ai", r"leonardo", NAME_CONFIDENCE),
        ("grok", "Grok (xAI)", rf"{_B}grok{_E}", NAME_CONFIDENCE),
        ("novelai", "NovelAI", rf"novelai|{_B}nai{_E}", NAME_CONFIDENCE),
        ("invokeai", "InvokeAI", r"invokeai", NAME_CONFIDENCE),
        ("fooocus", "Fooocus", r"fooocus", NAME_CONFIDENCE),
        ("flux", "FLUX (Black Forest Labs)", rf"{_B}flux", NAME_CONFIDENCE),
        (
            "stable-diffusion",
            "Stable Diffusion",
            rf"stable[\s_\-]?diffusion|{_B}sdxl",
            NAME_CONFIDENCE,
        ),
        (
            "a1111",
            "AUTOMATIC1111",
            r"^\d{5}-\d{1,12}(?:-[^.]*)?\.(?:png|jpe?g|webp)$",
            WEAK_CONFIDENCE,
        ),
        (
            "midjourney",
            "Midjourney",
            rf"^[a-z0-9]+_[a-z0-9_\-]+_{_UUID}(?:_\d)?\.",
            WEAK_CONFIDENCE,
        ),
    ]
]
_DALLE = re.compile(
    r"dall[·\-_ .]?e\s+(\d{4})-(\d{2})-(\d{2})\s+(\d{2})\.(\d{2})\.(\d{2})\s+-\s+(.+)\.\w+$",
    re.IGNORECASE,
)


def parse(meta: ContainerMeta, filename: str) -> GenerationInfo | None:
    """Match the base name against known generator naming patterns."""
    base = PurePath(filename.replace("\\", "/")).name
    lower = base.lower()
    for slug, name, pattern, conf in RULES:
        if pattern.search(lower):
            info = GenerationInfo(
                source=slug, source_name=name, confidence=conf, evidence=[f"filename:{slug}"]
            )
            if slug == "dalle":
                _dalle_details(base, info)
            if slug == "flux":
                info.model_family = "flux"
            return info
    return None


def _dalle_details(base: str, info: GenerationInfo) -> None:
    """DALL·E downloads are named `DALL·E 2024-01-01 12.34.56 - prompt.png`: date and prompt.

    The name carries the downloader's local time without a zone; it is stored as UTC, which
    is right to within a day and better than a copy's mtime.
    """
    m = _DALLE.search(base)
    if not m:
        return
    try:
        y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
        info.created_at = datetime(y, mo, d, h, mi, s, tzinfo=UTC)
    except ValueError:
        pass
    info.prompt = m.group(7).strip() or None
