"""Paths as DuckDB stores them: any name a filesystem allows, losslessly, as valid UTF-8 text.

Python gives a name that is not UTF-8 (`bad\\xffname.png` on Linux) lone surrogates
(surrogateescape), which DuckDB refuses. Stored, each lone surrogate becomes NUL + its four hex
digits: no real path holds a NUL, so every other path is stored unchanged and the form maps
back to the very same bytes.
"""

from __future__ import annotations

import re

_LONE = re.compile("[\ud800-\udfff]")
_ESCAPED = re.compile("\x00([0-9a-f]{4})")


def to_stored(path: str) -> str:
    """The text DuckDB stores for a path (the path itself unless it holds lone surrogates)."""
    if path.isascii() or not _LONE.search(path):
        return path
    return _LONE.sub(lambda m: f"\x00{ord(m.group()):04x}", path)


def from_stored(text: str) -> str:
    """The path (surrogate-escaped str, as os.fsdecode gives) a stored text stands for."""
    if "\x00" not in text:
        return text
    return _ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), text)

