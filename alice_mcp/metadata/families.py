"""Model family (flux, sdxl, sd15, ...) from a checkpoint name, with the size as a last hint."""

from __future__ import annotations

import re
from functools import lru_cache

# Ordered: the first match wins, so specific names come before generic ones
# (a Pony or Illustrious checkpoint is technically SDXL, but the family is what users search).
_RULES: list[tuple[str, re.Pattern[str]]] = [
    (family, re.compile(pattern, re.IGNORECASE))
    for family, pattern in [
        ("flux", r"flux|chroma"),
        ("sd3", r"sd3|sd_3|sd-3|stable[-_ ]?diffusion[-_ ]?3|sd35"),
        ("pony", r"pony"),
        ("illustrious", r"illustrious|noobai|noob[-_]?xl"),
        ("stable-cascade", r"cascade"),
        ("hunyuan", r"hunyuan"),
        ("wan", r"(^|[^a-z])wan[-_ ]?2|(^|[^a-z])wan[-_ ]?video"),
        ("ltxv", r"ltx[-_ ]?v|ltx[-_ ]?video"),
        ("hidream", r"hidream"),
        ("qwen-image", r"qwen[-_ ]?image"),
        ("kolors", r"kolors"),
        ("pixart", r"pixart"),
        ("auraflow", r"auraflow"),
        ("playground", r"playground"),
        (
            "sdxl",
            r"sdxl|sd_xl|(^|[^a-z])xl([^a-z]|$)|xl[-_ ]?(v\d|\d)|[a-z]xl([^a-z]|$)|animagine|"
            r"juggernaut[-_ ]?x|realvisxl|dreamshaper[-_ ]?xl",
        ),
        ("sd2", r"sd[-_ ]?2|v2[-_]?[01]|stable[-_ ]?diffusion[-_ ]?2"),
        (
            "sd15",
            r"sd[-_ ]?1[-_.]?5|sd15|v1[-_.]5|stable[-_ ]?diffusion[-_ ]?1|"
            r"(^|[^0-9])1\.5([^0-9]|$)",
        ),
    ]
]


def model_family(
    model_name: str | None, width: int | None = None, height: int | None = None
) -> str | None:
    """Return the model family named by a checkpoint name; else guess sd15/sdxl from the size.

    Pass width/height only for Stable-Diffusion-style generators (A1111, ComfyUI, ...): the
    size guess means "native SD 1.5 or SDXL resolution", which says nothing about other tools.
    """
    if model_name:
        family = _named_family(model_name)
        if family is not None:
            return family
    if width and height:
        area = width * height
        if area <= 768 * 768 and max(width, height) <= 1024:
            return "sd15"
        if 0.7 * 1024 * 1024 <= area <= 1.6 * 1024 * 1024:
            return "sdxl"
    return None


@lru_cache(maxsize=4096)
def _named_family(model_name: str) -> str | None:
    """The family the first matching rule names; cached, as a library repeats few checkpoints."""
    base = re.split(r"[\\/]", model_name.strip())[-1]
    for family, pattern in _RULES:
        if pattern.search(base):
            return family
    return None
