"""What remote providers are asked, and how their answers are checked: instructions, schema, parser.

One request may carry several images; the model is asked for ONE JSON object holding an
array `images` with one entry per image, keyed by the image's index. Each entry is validated
on its own, so one malformed entry costs that image only.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from alice_mcp.store.tags import TAG_CATEGORIES, normalise_tag
from alice_mcp.understanding.base import Analysis, TagGuess
from alice_mcp.understanding.http import ProviderError

PROMPT_VERSION = "1"  # change it when the instructions change: cached analyses are keyed by it
ANSWER_CATEGORIES = ("style", "mood", "subject", "lighting", "camera", "color")
REMOTE_CONFIDENCE = 0.8
MAX_TAGS_PER_CATEGORY = 20

INSTRUCTIONS = f"""You catalogue AI-generated images for a searchable library.
For every image you are shown, write:
- "description": one or two plain sentences saying what the image shows.
- "tags": an object whose keys are categories ({", ".join(ANSWER_CATEGORIES)}) and whose values
  are lists of short lower-case tags (1-3 words each, at most 8 per category); leave out
  categories that do not apply.
- "reconstructed_prompt": a text-to-image prompt that would plausibly produce this image.
Reply with JSON only: one object {{"images": [...]}} holding exactly one entry per image, each
with the integer "index" of its image. No prose, no code fences."""

EXAMPLE = {"images": [{"index": 0, "description": "A red fox sitting in snow at dusk.",
                       "tags": {"subject": ["fox", "snow"], "mood": ["calm"],
                                "lighting": ["dusk"], "color": ["orange", "white"]},
                       "reconstructed_prompt": "a red fox sitting in snow at dusk, soft light"}]}


def request_text(count: int) -> str:
    """The user-turn instruction for a request of `count` images (indices 0..count-1)."""
    which = "the image above (index 0)" if count == 1 else \
        f"the {count} images above (indices 0 to {count - 1})"
    return (f"Analyze {which}. Answer with one JSON object shaped like this example: "
            f"{json.dumps(EXAMPLE)}")


def image_label(index: int) -> str:
    """The text placed right before image `index` so the model can refer to it."""
    return f"Image {index}:"


def max_output_tokens(count: int) -> int:
    """Room for `count` answers: a generous ceiling, not what is usually used."""
    return 300 + 500 * count


class MalformedAnswerError(ProviderError):
    """The model's answer for one image is missing or does not fit the schema."""


TagText = Annotated[str, Field(min_length=1, max_length=64)]


class ImageAnswer(BaseModel):
    """One image's entry in the answer, as the model must give it."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    index: int = Field(ge=0)
    description: str = Field(min_length=1, max_length=2000)
    tags: dict[str, list[TagText]] = Field(default_factory=dict)
    reconstructed_prompt: str | None = Field(None, max_length=4000)


def category_of(key: str) -> str:
    """A category the library knows for the model's key ('colours' -> 'color'); else 'custom'."""
    word = key.strip().lower().replace("colour", "color")
    for candidate in (word, word[:-1] if word.endswith("s") else word):
        if candidate in TAG_CATEGORIES:
            return candidate
    return "custom"


def to_analysis(answer: ImageAnswer) -> Analysis:
    """The library's Analysis for one validated entry (tags normalised, deduplicated)."""
    seen: dict[str, TagGuess] = {}
    for key, words in answer.tags.items():
        category = category_of(key)
        for word in words[:MAX_TAGS_PER_CATEGORY]:
            tag = normalise_tag(word)
            if tag and tag not in seen:
                seen[tag] = TagGuess(tag=tag, category=category, confidence=REMOTE_CONFIDENCE)
    return Analysis(description=answer.description, tags=list(seen.values()),
                    reconstructed_prompt=answer.reconstructed_prompt or None)


def parse_answer(text: str | None, count: int) -> list[Analysis | Exception]:
    """One Analysis or one MalformedAnswerError per image, in image order."""
    try:
        data = _load_json(text)
    except MalformedAnswerError as exc:
        return [exc] * count
    entries: Any = data.get("images") if isinstance(data, dict) else data
    if entries is None and count == 1 and isinstance(data, dict):
        entries = [data]  # a lone object for a lone image is accepted
    if not isinstance(entries, list):
        return [MalformedAnswerError("the answer has no 'images' array")] * count
    slots: list[Analysis | Exception | None] = [None] * count
    for position, entry in enumerate(entries):
        if not isinstance(entry, dict):
            if position < count and slots[position] is None:
                slots[position] = MalformedAnswerError(f"image {position}: the entry is not an "
                                                       "object")
            continue
        index = entry.get("index", position)
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < count \
                or slots[index] is not None:
            continue
        try:
            slots[index] = to_analysis(ImageAnswer.model_validate({**entry, "index": index}))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                 for e in exc.errors()[:3])
            slots[index] = MalformedAnswerError(f"image {index}: malformed answer ({problems})")
    return [slot if slot is not None else
            MalformedAnswerError(f"image {i}: the answer has no entry for this image")
            for i, slot in enumerate(slots)]


_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.I)


def _load_json(text: str | None) -> Any:
    if not text or not text.strip():
        raise MalformedAnswerError("the answer is empty")
    cleaned = _FENCE.sub("", text.strip())
    try:
        return json.loads(cleaned)
    except ValueError:
        start, end = cleaned.find("{"), cleaned.rfind("}")
        if 0 <= start < end:
            try:
                return json.loads(cleaned[start:end + 1])
            except ValueError:
                pass
    raise MalformedAnswerError("the answer is not valid JSON (truncated or prose); "
                               "these images were not analyzed")
