"""Read single properties out of an XMP packet without an XML parser (no entity expansion).

XMP writes a simple property either as an attribute (`ns:Name="value"`) or as an element
(`<ns:Name>value</ns:Name>`), and language alternatives as `<ns:Name><rdf:Alt><rdf:li ...>`.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache

MAX_XMP_SCAN = 4 * 1024 * 1024
_LI = re.compile(r"<rdf:li\b[^>]*>(.*?)</rdf:li>", re.DOTALL)
_CDATA = re.compile(r"<!\[CDATA\[(.*?)\]\]>", re.DOTALL)
IPTC_AI_TYPES = ("trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia")


@lru_cache(maxsize=64)
def _patterns(name: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """Attribute and element patterns for one qualified property name."""
    q = re.escape(name)
    return (
        re.compile(rf"""\b{q}\s*=\s*(["'])(.*?)\1""", re.DOTALL),
        re.compile(rf"<{q}(?:\s[^>]*)?>(.*?)</{q}>", re.DOTALL),
    )


def xmp_value(xmp: str | None, name: str) -> str | None:
    """The text of property `name` (e.g. "exif:UserComment"): attribute, element or x-default."""
    if not xmp:
        return None
    text = xmp[:MAX_XMP_SCAN]
    attr, elem = _patterns(name)
    m = elem.search(text)
    if m:
        body = m.group(1)
        li = _LI.search(body)
        if li:
            body = li.group(1)
        if "<" in body.replace("<![CDATA[", ""):
            return None  # a structure, not a simple value
        cdata = _CDATA.fullmatch(body.strip())
        value = cdata.group(1) if cdata else html.unescape(body)
        return value.strip() or None
    m = attr.search(text)
    if m is None:
        return None
    return html.unescape(m.group(2)).strip() or None


def digital_source_type(xmp: str | None) -> str | None:
    """The IPTC DigitalSourceType code (last URL segment) when it says AI-generated."""
    value = xmp_value(xmp, "Iptc4xmpExt:DigitalSourceType")
    if value is None and xmp and "trainedalgorithmicmedia" in xmp[:MAX_XMP_SCAN].lower():
        m = re.search(r"digitalsourcetype/(\w+)", xmp[:MAX_XMP_SCAN], re.IGNORECASE)
        value = m.group(1) if m else None
    if value is None:
        return None
    code = value.rstrip("/").rsplit("/", 1)[-1]
    return code if code in IPTC_AI_TYPES else None
