"""C2PA manifests (Content Credentials): which tool made the asset, and whether it was AI.

The active manifest names the tool in `claim_generator` / `claim_generator_info`, in the
`softwareAgent` of its actions, and in the signer (`signature_info.issuer`). An action
`c2pa.created` (or any action) with IPTC DigitalSourceType `trainedAlgorithmicMedia`
(`compositeWithTrainedAlgorithmicMedia` for edits) says the content is AI-generated.
Confidence sits between embedded generation parameters and a file-name guess.

History: an edit (Gemini's watermark and conversion, an editor's crop) signs a new active
manifest that names the earlier file as an ingredient; the AI step sits in that earlier
manifest. The ingredient chain is walked (bounded) when the active manifest has no AI
action. The manifests come from the official C2PA library (`provenance.py`), which reads
these chains reliably; the walk over its JSON is ours.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from alice_mcp.metadata.containers import ContainerMeta
from alice_mcp.metadata.generators import to_text
from alice_mcp.metadata.models import GenerationInfo
from alice_mcp.metadata.provenance import active_manifest

C2PA_CONFIDENCE = 0.8
MAX_INGREDIENT_DEPTH = 16  # manifests walked back through ingredients
MAX_INGREDIENTS = 64  # ingredients looked at in all
AI_TYPES = ("trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia")
ACTION_LABELS = ("c2pa.actions", "c2pa.actions.v2")
# (slug, display name, pattern over tool/agent/issuer names, names only a generator);
# first match wins. Makers of cameras and editors too (Adobe, Google, Microsoft, Meta)
# count only together with an AI DigitalSourceType.
TOOLS: list[tuple[str, str, re.Pattern[str], bool]] = [
    (slug, name, re.compile(pattern, re.IGNORECASE), only_ai)
    for slug, name, pattern, only_ai in [
        ("sora", "Sora (OpenAI)", r"\bsora\b", True),
        ("dalle", "DALL·E / ChatGPT (OpenAI)", r"openai|dall[·\-_ .]?e|chatgpt|\bgpt[-_ ]?(4o|image)", True),
        ("firefly", "Adobe Firefly", r"firefly", True),
        ("firefly", "Adobe Firefly", r"adobe", False),
        ("veo", "Google Veo", r"\bveo\b", True),
        ("imagen", "Google Imagen", r"imagen", True),
        ("gemini", "Google Gemini", r"gemini", True),
        ("google", "Google", r"google", False),
        ("bing", "Microsoft Bing Image Creator / Designer", r"bing|designer", True),
        ("bing", "Microsoft Bing Image Creator / Designer", r"microsoft", False),
        ("midjourney", "Midjourney", r"midjourney", True),
        ("runway", "Runway", r"runway", True),
        ("leonardo", "Leonardo.Ai", r"leonardo", True),
        ("ideogram", "Ideogram", r"ideogram", True),
        ("meta-ai", "Meta AI", r"\bmeta\b", False),
        ("stability", "Stability AI", r"stability", True),
    ]
]  # fmt: skip


def parse(meta: ContainerMeta, filename: str) -> GenerationInfo | None:
    """Map the manifests' tool names and AI flag to a source; None if neither."""
    manifest = active_manifest(meta.c2pa_manifest)
    if manifest is None:
        return None
    names = tool_names(manifest)
    ai_type, when, agent = _ai_action(manifest)
    origin = manifest
    if ai_type is None:
        earlier = _ai_ingredient(meta.c2pa_manifest or {}, manifest)
        if earlier is not None:
            origin = earlier
            ai_type, when, agent = _ai_action(earlier)
            names += [n for n in tool_names(earlier) if n not in names]
    slug, display = _match(names + ([agent] if agent else []), ai=ai_type is not None)
    if slug is None and ai_type is None:
        return None  # a camera or an editor signed it: provenance, not generation
    info = GenerationInfo(confidence=C2PA_CONFIDENCE, evidence=[f"{meta.format}:c2pa:manifest"])
    if slug is None:
        info.source, info.source_name = "ai", f"AI-generated ({names[0] if names else 'C2PA'})"
    else:
        info.source, info.source_name = slug, display
        info.model_family = slug if slug not in ("google", "bing", "stability") else None
    if ai_type:
        step = "ingredient:" if origin is not manifest else ""
        info.evidence.append(f"{meta.format}:c2pa:{step}digitalSourceType:{ai_type}")
    if agent and (not names or agent.lower() not in names[0].lower()):
        info.model = agent
    info.created_at = _time(when) or _time(_dict(origin.get("signature_info")).get("time"))
    state = (meta.c2pa_manifest or {}).get("validation_state")
    info.add_raw("c2pa", summary(manifest, state))
    if origin is not manifest:
        info.add_raw("c2pa:ingredient", summary(origin, None))
    return info


def _ai_ingredient(store: dict[str, Any], manifest: dict[str, Any]) -> dict[str, Any] | None:
    """The nearest earlier manifest (through ingredients) with an AI action; bounded walk."""
    manifests = _dict(store.get("manifests"))
    seen: set[str] = set()
    level = [manifest]
    looked = 0
    for _ in range(MAX_INGREDIENT_DEPTH):
        following: list[dict[str, Any]] = []
        for current in level:
            for ingredient in current.get("ingredients") or []:
                looked += 1
                if looked > MAX_INGREDIENTS:
                    return None
                label = _ingredient_label(ingredient)
                earlier = manifests.get(label) if label and label not in seen else None
                if not isinstance(earlier, dict):
                    continue
                seen.add(label)
                if _ai_action(earlier)[0] is not None:
                    return earlier
                following.append(earlier)
        if not following:
            return None
        level = following
    return None


def _ingredient_label(ingredient: Any) -> str | None:
    """The manifest label an ingredient points at (`active_manifest`; `manifest` in v1 JSON)."""
    if not isinstance(ingredient, dict):
        return None
    label = ingredient.get("active_manifest") or ingredient.get("manifest")
    return label if isinstance(label, str) else None


def tool_names(manifest: dict[str, Any]) -> list[str]:
    """Tool names from claim_generator_info, claim_generator and the signer's issuer."""
    names: list[str] = []
    for item in manifest.get("claim_generator_info") or []:
        name = to_text(item.get("name")) if isinstance(item, dict) else None
        if name and name not in names:
            names.append(name)
    generator = to_text(manifest.get("claim_generator"))
    if generator:
        names.append(generator.split("/")[0].replace("_", " "))
    issuer = to_text(_dict(manifest.get("signature_info")).get("issuer"))
    if issuer:
        names.append(issuer)
    return names


def _ai_action(manifest: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(AI DigitalSourceType code, when, softwareAgent name) of the first AI-flagged action."""
    first_agent = None
    for assertion in manifest.get("assertions") or []:
        if not isinstance(assertion, dict) or assertion.get("label") not in ACTION_LABELS:
            continue
        for action in _dict(assertion.get("data")).get("actions") or []:
            if not isinstance(action, dict):
                continue
            agent = action.get("softwareAgent")
            agent = to_text(agent.get("name") if isinstance(agent, dict) else agent)
            first_agent = first_agent or agent
            code = str(action.get("digitalSourceType") or "").rstrip("/").rsplit("/", 1)[-1]
            if code in AI_TYPES:
                return code, to_text(action.get("when")), agent or first_agent
    return None, None, first_agent


def _match(names: list[str], *, ai: bool) -> tuple[str | None, str]:
    """The first known tool named anywhere in `names` (makers of cameras only with `ai`)."""
    for slug, display, pattern, generator_only in TOOLS:
        if (generator_only or ai) and any(pattern.search(n) for n in names):
            return slug, display
    return None, ""


def summary(manifest: dict[str, Any], state: str | None) -> str:
    """A short searchable text of a manifest: tools, actions, signer, validation state."""
    parts = [f"tools: {', '.join(tool_names(manifest))}"]
    code, _, agent = _ai_action(manifest)
    if code:
        parts.append(f"digitalSourceType: {code}")
    if agent:
        parts.append(f"softwareAgent: {agent}")
    title = to_text(manifest.get("title"))
    if title:
        parts.append(f"title: {title}")
    if state:
        parts.append(f"validation: {state}")
    return "; ".join(parts)


def _dict(value: Any) -> dict[str, Any]:
    """The value when it is a dict, else an empty one."""
    return value if isinstance(value, dict) else {}


def _time(value: str | None) -> datetime | None:
    """An ISO 8601 time from a manifest as aware UTC."""
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).astimezone(UTC)
