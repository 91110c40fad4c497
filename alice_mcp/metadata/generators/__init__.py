"""Generator parsers: each module exposes `parse(meta, filename) -> GenerationInfo | None`.

This package module holds the small helpers they share: bounded JSON loading, lenient
number conversion and model-name cleanup. The detection order lives in `detect.py`.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

from alice_mcp.metadata.models import GenerationInfo

MAX_JSON_CHARS = 8 * 1024 * 1024
_MODEL_EXT = re.compile(r"\.(safetensors|ckpt|pt|pth|bin|gguf|sft)$", re.IGNORECASE)
_SIZE = re.compile(r"^\s*(\d{1,6})\s*[x×]\s*(\d{1,6})\s*$")
# The engine (generator family) of each source that is a fork, service or front-end of
# another; any other known source is its own engine. `detect` fills `engine` from here.
ENGINES = {
    "forge": "a1111",
    "sdnext": "a1111",
    "swarmui": "comfyui",
    "stability-matrix": "comfyui",
    "tensorart": "comfyui",
    "civitai": "a1111",
    "ruinedfooocus": "fooocus",
    "hf-space": "diffusers",
    "invokeai_legacy": "invokeai",
}
NOT_ENGINES = frozenset({"unknown", "ai"})
ENGINE_OF: dict[str, str | None] = {**ENGINES, **dict.fromkeys(NOT_ENGINES)}  # engine_of's table
_NUMBER = (int, float)  # a tuple: `int | float` would build a union object on every call


def load_json(text: str, what: str, info: GenerationInfo) -> Any | None:
    """Parse JSON with a size bound and recursion guard; on failure note why and return None."""
    if len(text) > MAX_JSON_CHARS:
        info.errors.append(f"{what}: JSON of {len(text)} chars over {MAX_JSON_CHARS} limit")
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        info.errors.append(f"{what}: invalid JSON at line {exc.lineno} column {exc.colno}")
    except RecursionError:
        info.errors.append(f"{what}: JSON nested too deeply")
    except ValueError as exc:
        info.errors.append(f"{what}: invalid JSON ({exc})")
    return None


def engine_of(source: str) -> str | None:
    """The engine a source runs on: its parent for forks and services, else itself."""
    return ENGINE_OF.get(source, source)


def to_int(value: Any) -> int | None:
    """Convert a metadata value to int when it plainly is one, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            f = to_float(value)
            return int(f) if f is not None and f.is_integer() else None
    return None


def to_float(value: Any) -> float | None:
    """Convert a metadata value to float when it plainly is one, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, _NUMBER):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def to_text(value: Any) -> str | None:
    """Return a stripped non-empty string, or None."""
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


@lru_cache(maxsize=1024)
def parse_size(value: str | None) -> tuple[int, int] | None:
    """Parse '512x768' into (width, height); cached, as a library repeats a few sizes."""
    m = _SIZE.match(value or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


@lru_cache(maxsize=4096)
def clean_model_name(name: str | None) -> str | None:
    """Strip the weight-file extension from a checkpoint/LoRA name so tools compare alike.

    Cached: a library names the same few checkpoints and LoRAs over and over.
    """
    if not name or not name.strip():
        return None
    return _MODEL_EXT.sub("", name.strip())


def add_unique(items: list[str], value: str | None) -> None:
    """Append a value to a list once, keeping order."""
    if value and value not in items:
        items.append(value)
