"""What remote providers are asked, and how their answers are read: instructions, labels, parser.

One request may carry several images, each preceded by its label ("Image 1:"). The answer
(schema.py) holds one entry per image naming its label. Each entry is validated on its own, so
an entry that is missing or malformed costs that image only; an answer cut off at the token
limit keeps every entry that was complete before the cut.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from alice_mcp.store.tags import normalise_tag
from alice_mcp.understanding.base import Analysis, TagGuess
from alice_mcp.understanding.http import ProviderError
from alice_mcp.understanding.schema import (
    ANSWER_CATEGORIES,
    ImageAnswer,
    answer_schema,
)

PROMPT_VERSION = "2"  # change it when the instructions or the schema change: the cache key
RAW_EXCERPT = 500  # characters of a failed answer kept with its failure

INSTRUCTIONS = f"""You catalogue AI-generated images for a searchable library.
Each image is preceded by its label ("Image 1:", "Image 2:", ...). For every image write:
- "image": its label, e.g. "Image 1";
- "description": one or two plain sentences saying what the image shows;
- "caption": a short title, at most 8 words;
- "tags": for each category ({", ".join(ANSWER_CATEGORIES)}) a list of short lower-case tags
  (1-3 words each, at most 6 per category, empty when the category does not apply), each with
  a "confidence" from 0 to 1.
Answer with one entry per image, in the order the images were shown."""


def image_label(index: int) -> str:
    """The label of image `index` (0-based) as the model sees it: 'Image 1' for the first."""
    return f"Image {index + 1}"


def request_text(count: int, *, schema_in_text: bool = False) -> str:
    """The user-turn instruction for `count` images; with the schema spelt out when the API
    cannot be sent it natively (JSON mode only)."""
    which = f"the image above ({image_label(0)})" if count == 1 else \
        f"the {count} images above ({image_label(0)} to {image_label(count - 1)})"
    text = f"Analyze {which}."
    if schema_in_text:
        text += (" Reply with JSON only, no prose and no code fences: one object that "
                 f"validates against this JSON Schema: {json.dumps(answer_schema())}")
    return text


def max_output_tokens(count: int) -> int:
    """Room for `count` answers: a generous ceiling, not what is usually used."""
    return 300 + 700 * count  # an entry with six categories of scored tags is ~500 tokens


class AnswerError(ProviderError):
    """The model's answer for one image is missing, malformed, cut off or refused. It is
    recorded per image with the raw answer's start and not sent again until forced."""

    def __init__(self, reason: str, raw: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.raw = raw[:RAW_EXCERPT]


class MalformedAnswerError(AnswerError):
    """The answer for one image is missing or does not fit the schema."""


class TruncatedAnswerError(MalformedAnswerError):
    """The answer was cut off at the output token limit before this image's entry was whole."""


class RefusedError(AnswerError):
    """The model refused to answer (a refusal message, a safety stop)."""


@dataclass(slots=True)
class Reply:
    """What a provider's response says, in one shape: the answer (already decoded JSON, or
    text), its raw text, and whether it was cut off or refused."""

    answer: Any
    raw: str
    truncated: bool = False
    refusal: str | None = None


def confidence_of(value: float) -> float:
    return round(min(1.0, max(0.0, value)), 3)


def to_analysis(answer: ImageAnswer) -> Analysis:
    """The library's Analysis for one validated entry (tags normalised, deduplicated)."""
    seen: dict[str, TagGuess] = {}
    for category in ANSWER_CATEGORIES:
        for guess in getattr(answer.tags, category):
            tag = normalise_tag(guess.tag)
            if tag and tag not in seen:
                seen[tag] = TagGuess(tag=tag, category=category,
                                     confidence=confidence_of(guess.confidence))
    return Analysis(description=answer.description or None, caption=answer.caption or None,
                    tags=list(seen.values()))


def read_reply(reply: Reply, count: int) -> list[Analysis | Exception]:
    """One Analysis or one AnswerError per image, in image order."""
    if reply.refusal is not None:
        reason = f"the model refused: {reply.refusal[:200]}" if reply.refusal else \
            "the model refused to describe it"
        return [RefusedError(reason, reply.raw) for _ in range(count)]
    entries, problem = _entries(reply)
    slots: list[Analysis | Exception | None] = [None] * count
    loose: list[tuple[int, dict[str, Any]]] = []
    for position, entry in enumerate(entries):
        index = _label_index(entry.get("image"), count)
        if index is None:
            loose.append((position, entry))
        elif slots[index] is None:
            slots[index] = _validated(entry, index, count, reply)
    for position, entry in loose:  # entries without a known label: by position if it is free
        if position < count and slots[position] is None:
            slots[position] = _validated(entry, position, count, reply)
    return [slot if slot is not None else _missing(i, count, reply, problem)
            for i, slot in enumerate(slots)]


def _which(index: int, count: int) -> str:
    """'Image 2: ' in a reason about one image of several; nothing for a lone image (a label
    of one request means nothing once the failure is stored with its asset)."""
    return f"{image_label(index)}: " if count > 1 else ""


def _validated(entry: dict[str, Any], index: int, count: int,
               reply: Reply) -> Analysis | Exception:
    try:
        return to_analysis(ImageAnswer.model_validate({"image": image_label(index), **entry}))
    except ValidationError as exc:
        if reply.truncated:  # the entry the cut went through
            return _missing(index, count, reply, None)
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                             for e in exc.errors()[:3])
        return MalformedAnswerError(f"{_which(index, count)}the answer does not fit the schema "
                                    f"({problems})", reply.raw)


def _missing(index: int, count: int, reply: Reply, problem: str | None) -> AnswerError:
    label = _which(index, count)
    if reply.truncated:
        return TruncatedAnswerError(f"{label}the answer was cut off at the output token limit "
                                    "before this image's entry was complete", reply.raw)
    if problem:
        return MalformedAnswerError(f"{label}{problem}", reply.raw)
    return MalformedAnswerError(f"{label}the answer has no entry for this image", reply.raw)


_LABEL = re.compile(r"\d+")


def _label_index(label: Any, count: int) -> int | None:
    """The 0-based image a label names ('Image 2', 'image 2:', '2'); None if it names none."""
    if isinstance(label, bool) or not isinstance(label, str | int):
        return None
    numbers = _LABEL.findall(str(label))
    if len(numbers) != 1:
        return None
    index = int(numbers[0]) - 1
    return index if 0 <= index < count else None


def _entries(reply: Reply) -> tuple[list[dict[str, Any]], str | None]:
    """The answer's image entries (objects only) and, if none could be read, why not."""
    data = reply.answer
    if isinstance(data, str):
        data, problem = _decode(data)
        if problem:
            return _salvage(reply.answer), problem
    found = data.get("images") if isinstance(data, dict) else data
    if found is None and isinstance(data, dict) and "description" in data:
        found = [data]  # a lone entry for a lone image
    if not isinstance(found, list):
        return [], "the answer has no 'images' array (the model ignored the schema)"
    return [e for e in found if isinstance(e, dict)], None


_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.I)


def _decode(text: str) -> tuple[Any, str | None]:
    if not text.strip():
        return None, "the answer is empty"
    cleaned = _FENCE.sub("", text.strip())
    try:
        return json.loads(cleaned), None
    except ValueError:
        start, end = cleaned.find("{"), cleaned.rfind("}")
        if 0 <= start < end:
            try:
                return json.loads(cleaned[start:end + 1]), None
            except ValueError:
                pass
    return None, "the answer is not valid JSON (cut off, or prose: the model ignored the schema)"


def _salvage(text: str) -> list[dict[str, Any]]:
    """The complete entries of an answer cut off mid-way: each whole object of its 'images'
    array up to the cut."""
    start = text.find('"images"')
    bracket = text.find("[", start) if start >= 0 else -1
    if bracket < 0:
        return []
    decoder, entries, pos = json.JSONDecoder(), [], bracket + 1
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        try:
            entry, pos = decoder.raw_decode(text, pos)
        except ValueError:
            return entries
        if isinstance(entry, dict):
            entries.append(entry)
