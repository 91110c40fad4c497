"""The one answer shape of every remote provider: pydantic models that parse it, and the JSON
Schema sent to the provider, generated from those models so the two cannot disagree.

Per image: the label written before it ("Image 2"), a description, a short caption and tags by
category, each with a confidence. Per request: {"images": [...]}, one entry per image, in order.

The wire schema is the models' schema reduced to the subset every provider enforces (OpenAI
strict mode is the strictest): objects list every property as required and forbid others,
references are inlined, an optional value is a type list with "null", and length or range
keywords are left out. The models never reject what the wire schema allows: over-long tags are
dropped, extra tags trimmed and confidences clamped, so any conforming answer parses.
"""

from __future__ import annotations

import copy
import functools
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

ANSWER_CATEGORIES = ("style", "mood", "subject", "lighting", "camera", "color")
MAX_TAGS_PER_CATEGORY = 12
MAX_TAG_CHARS = 64
SCHEMA_NAME = "image_analyses"
# what every provider's structured output enforces; the rest stays in the models
WIRE_KEYWORDS = frozenset({"type", "properties", "required", "additionalProperties", "items",
                           "description", "enum"})


def _clamp(value: Any) -> Any:
    """A confidence outside 0..1 is clamped, not rejected (the wire schema has no range)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return min(1.0, max(0.0, float(value)))
    return value


def _text(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _tag_list(value: Any) -> Any:
    """Usable tags only: over-long or empty ones dropped, at most MAX_TAGS_PER_CATEGORY kept."""
    if not isinstance(value, list):
        return value
    kept = [t for t in value if not isinstance(t, dict)
            or (isinstance(t.get("tag"), str) and 0 < len(t["tag"].strip()) <= MAX_TAG_CHARS)]
    return kept[:MAX_TAGS_PER_CATEGORY]


Text = Annotated[str, BeforeValidator(_text)]
Confidence = Annotated[float, BeforeValidator(_clamp),
                       Field(description="how sure you are that the tag applies, 0 to 1")]


class _Lenient(BaseModel):
    """Extra keys a model adds are ignored; missing ones are errors for that image only."""

    model_config = ConfigDict(extra="ignore")


class TagAnswer(_Lenient):
    """One tag and how sure the model is of it."""

    tag: Text = Field(description="1 to 3 lower-case words")
    confidence: Confidence


TagList = Annotated[list[TagAnswer], BeforeValidator(_tag_list),
                    Field(description=f"at most {MAX_TAGS_PER_CATEGORY // 2} tags; "
                                      "empty when the category does not apply")]


class TagsByCategory(_Lenient):
    """Tags by category; a category the model leaves out is empty."""

    style: TagList = Field(default_factory=list)
    mood: TagList = Field(default_factory=list)
    subject: TagList = Field(default_factory=list)
    lighting: TagList = Field(default_factory=list)
    camera: TagList = Field(default_factory=list)
    color: TagList = Field(default_factory=list)


class ImageAnswer(_Lenient):
    """One image's entry, as the model must give it."""

    image: Text = Field(description='the label written right before the image, e.g. "Image 1"')
    description: Text = Field(description="one or two plain sentences saying what the image "
                                          "shows")
    caption: Text = Field(description="a short title for the image, at most 8 words")
    tags: TagsByCategory


class BatchAnswer(_Lenient):
    """The whole answer of one request."""

    images: list[ImageAnswer] = Field(description="exactly one entry per image, in the order "
                                                  "the images were shown")


@functools.cache
def _wire_schema() -> dict[str, Any]:
    return strict_schema(BatchAnswer.model_json_schema())


def answer_schema() -> dict[str, Any]:
    """The JSON Schema of an answer as sent to the providers (a fresh copy each time)."""
    return copy.deepcopy(_wire_schema())


def strict_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A pydantic JSON Schema in the strict subset: $refs inlined, every property required,
    additionalProperties false, Optional as a type list, unsupported keywords left out."""
    defs = schema.get("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(n) for n in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:  # a class docstring is for developers; a Field's is for the model
            target = walk(defs[node["$ref"].rsplit("/", 1)[-1]])
            target.pop("description", None)
            return {**target, **({"description": node["description"]}
                                 if "description" in node else {})}
        if "anyOf" in node:
            return _nullable(walk(node["anyOf"]), node.get("description"))
        out = {k: walk(v) if k in ("items", "properties") else v
               for k, v in node.items() if k in WIRE_KEYWORDS}
        if "properties" in node:
            out["properties"] = {name: walk(sub) for name, sub in node["properties"].items()}
            out["required"] = list(out["properties"])
            out["additionalProperties"] = False
        return out

    return walk({k: v for k, v in schema.items() if k not in ("$defs", "description")})


def _nullable(options: list[dict[str, Any]], description: str | None) -> dict[str, Any]:
    """anyOf [X, null] as X with type [X's type, "null"] (strict mode's way of saying optional)."""
    kinds = [o for o in options if o.get("type") != "null"]
    if len(kinds) != 1 or len(options) != 2 or isinstance(kinds[0].get("type"), list):
        raise ValueError("only 'X or None' unions can be sent as a strict schema")
    out = {**kinds[0], "type": [kinds[0]["type"], "null"]}
    if description:
        out["description"] = description
    return out


def openapi_schema(schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """The wire schema in the OpenAPI 3.0 subset of Gemini's `responseSchema` (older models):
    upper-case types, `nullable` instead of a type list, property order kept, no
    additionalProperties."""
    node = answer_schema() if schema is None else schema
    out: dict[str, Any] = {}
    kind = node.get("type")
    if isinstance(kind, list):
        out["nullable"] = "null" in kind
        kind = next(k for k in kind if k != "null")
    if kind:
        out["type"] = str(kind).upper()
    for key in ("description", "enum", "required"):
        if key in node:
            out[key] = node[key]
    if "items" in node:
        out["items"] = openapi_schema(node["items"])
    if "properties" in node:
        out["properties"] = {k: openapi_schema(v) for k, v in node["properties"].items()}
        out["propertyOrdering"] = list(node["properties"])
    return out
