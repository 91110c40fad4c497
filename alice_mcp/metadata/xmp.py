"""Read single properties out of an XMP packet without an XML parser (no entity expansion).

XMP writes a simple property either as an attribute (`ns:Name="value"`) or as an element
(`<ns:Name>value</ns:Name>`), and language alternatives as `<ns:Name><rdf:Alt><rdf:li ...>`.
Every lookup is a forward scan with str.find (linear time): a lazy `(.*?)</ns:Name>` regex
re-scans the rest of the packet from every unclosed opening tag, quadratic on hostile XMP.
"""

from __future__ import annotations

import html
import re

MAX_XMP_SCAN = 4 * 1024 * 1024
_WORD = re.compile(r"\w")
_SPACE = re.compile(r"\s*")
_AI_CODE = re.compile(r"digitalsourcetype/(\w{1,64})", re.IGNORECASE)
IPTC_AI_TYPES = ("trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia")


def _element(text: str, name: str, start: int = 0) -> str | None:
    """The body of the first `<name ...>body</name>` at or after start (first close wins)."""
    opening, closing = f"<{name}", f"</{name}>"
    pos = start
    while (at := text.find(opening, pos)) >= 0:
        after = at + len(opening)
        nxt = text[after:after + 1]
        if nxt == ">" or (nxt.isspace() and nxt):
            gt = text.find(">", after)
            if gt < 0:
                return None
            close = text.find(closing, gt + 1)
            return None if close < 0 else text[gt + 1:close]  # no later one closes either
        pos = after
    return None


def _attribute(text: str, name: str) -> str | None:
    """The value of the first `name="value"` (or 'value') whose quote closes."""
    pos, unclosed = 0, set()
    while (at := text.find(name, pos)) >= 0:
        pos = at + len(name)
        if at > 0 and _WORD.match(text, at - 1):
            continue  # not at a word boundary
        eq = _SPACE.match(text, pos).end()  # type: ignore[union-attr]
        if text[eq:eq + 1] != "=":
            continue
        q = _SPACE.match(text, eq + 1).end()  # type: ignore[union-attr]
        quote = text[q:q + 1]
        if quote not in ("'", '"') or quote in unclosed:
            continue
        close = text.find(quote, q + 1)
        if close < 0:
            unclosed.add(quote)  # no later value in this quote closes either
            continue
        return text[q + 1:close]
    return None


def xmp_value(xmp: str | None, name: str) -> str | None:
    """The text of property `name` (e.g. "exif:UserComment"): attribute, element or x-default."""
    if not xmp:
        return None
    text = xmp[:MAX_XMP_SCAN]
    body = _element(text, name)
    if body is not None:
        li = _element(body, "rdf:li")
        if li is not None:
            body = li
        if "<" in body.replace("<![CDATA[", ""):
            return None  # a structure, not a simple value
        stripped = body.strip()
        if (len(stripped) >= 12 and stripped.startswith("<![CDATA[")
                and stripped.endswith("]]>")):
            value = stripped[len("<![CDATA["):-len("]]>")]
        else:
            value = html.unescape(body)
        return value.strip() or None
    value = _attribute(text, name)
    if value is None:
        return None
    return html.unescape(value).strip() or None


def digital_source_type(xmp: str | None) -> str | None:
    """The IPTC DigitalSourceType code (last URL segment) when it says AI-generated."""
    value = xmp_value(xmp, "Iptc4xmpExt:DigitalSourceType")
    if value is None and xmp and "trainedalgorithmicmedia" in xmp[:MAX_XMP_SCAN].lower():
        m = _AI_CODE.search(xmp[:MAX_XMP_SCAN])
        value = m.group(1) if m else None
    if value is None:
        return None
    code = value.rstrip("/").rsplit("/", 1)[-1]
    return code if code in IPTC_AI_TYPES else None
