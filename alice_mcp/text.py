"""Text from files made safe to show: control characters and undecodable bytes escaped.

A prompt, a path or a metadata value can hold escape sequences (clear the screen, forge a
hyperlink) or bytes that are not UTF-8; a terminal gets them escaped, JSON gets them exact.
"""

from __future__ import annotations

import json
import re
from typing import Any

# C0 and C1 controls (newline and tab kept), DEL, bidirectional overrides, lone surrogates
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069"
                     "\ud800-\udfff]")
_LONE = re.compile("[\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (os.fsdecode's surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(value: Any) -> str:
    """str(value) with control characters and undecodable bytes shown as \\xNN escapes."""
    text = str(value)
    return _UNSAFE.sub(_escape, text) if not text.isprintable() else text


def json_text(data: Any, **dump: Any) -> str:
    """JSON of data, exact: a name that is not UTF-8 keeps its lone surrogates as \\udcNN
    escapes (json.loads gives the same str back, os.fsencode the same bytes)."""
    text = json.dumps(data, ensure_ascii=False, **dump)
    return _LONE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def display_text(value: str) -> str:
    """value with only its undecodable bytes (lone surrogates) as \\xNN: valid UTF-8 for a
    protocol that cannot carry them, every other character kept exact."""
    return _LONE.sub(_escape, value) if not value.isascii() else value
