"""The XMP packet of a sidecar: what alice writes, what it reads back, and what it leaves alone.

alice owns a fixed set of properties (OWNED, and everything in its own namespace). Writing
replaces only those and keeps every other element and attribute of an existing sidecar (a
darktable history stack, digiKam face regions...). Reading goes through defusedxml with DTDs
forbidden: a billion-laughs or external-entity sidecar is refused before anything expands.
"""

from __future__ import annotations

import os
import uuid
import xml.etree.ElementTree as ET  # noqa: S405 - builds and serialises only; parsing is defusedxml
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

import defusedxml
import defusedxml.ElementTree as SafeET

from alice_mcp.errors import SidecarError
from alice_mcp.store.tags import TAG_CATEGORIES, normalise_tag

MAX_SIDECAR_BYTES = 4 * 1024 * 1024
TEMP_SUFFIX = ".alice-tmp"
NS = {
    "x": "adobe:ns:meta/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "dc": "http://purl.org/dc/elements/1.1/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "lr": "http://ns.adobe.com/lightroom/1.0/",
    "digiKam": "http://www.digikam.org/ns/1.0/",
    "Iptc4xmpExt": "http://iptc.org/std/Iptc4xmpExt/2008-02-29/",
    "alice": "https://github.com/alice-mcp/alice-mcp/ns/xmp/1.0/",
}
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
AI_SOURCE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


def _q(prefix: str, name: str) -> str:
    return f"{{{NS[prefix]}}}{name}"


RDF_RDF, RDF_DESC, RDF_LI, RDF_ABOUT = (_q("rdf", n) for n in ("RDF", "Description", "li", "about"))
SUBJECT, HIER, TAGSLIST = _q("dc", "subject"), _q("lr", "hierarchicalSubject"), _q("digiKam", "TagsList")
RATING, DESCRIPTION = _q("xmp", "Rating"), _q("dc", "description")
SOURCE_TYPE = _q("Iptc4xmpExt", "DigitalSourceType")
OWNED = frozenset({SUBJECT, HIER, TAGSLIST, RATING, DESCRIPTION, SOURCE_TYPE})


@dataclass(slots=True)
class SidecarFacts:
    """What alice writes about one asset."""

    tags: list[tuple[str, str]] = field(default_factory=list)  # (category, tag)
    stars: int | None = None
    description: str | None = None
    generated: bool = False
    generation: dict[str, str] = field(default_factory=dict)  # alice:<Name> -> value


@dataclass(slots=True)
class SidecarRead:
    """What a sidecar says: keywords as (category, tag), the rating (1..5) if it has one."""

    tags: list[tuple[str, str]] = field(default_factory=list)
    stars: int | None = None


def sidecar_path(media: Path, naming: str = "ext") -> Path:
    """`<file>.<ext>.xmp` (darktable, digiKam, Immich) or `<file>.xmp` (Lightroom) for stem."""
    return media.with_suffix(".xmp") if naming == "stem" else media.with_name(media.name + ".xmp")


def parse_packet(data: bytes) -> ET.Element:
    """The root element of a sidecar, parsed with DTDs, entities and external references
    refused; SidecarError says why a sidecar is not read."""
    if len(data) > MAX_SIDECAR_BYTES:
        raise SidecarError(f"sidecar is larger than {MAX_SIDECAR_BYTES // 1024} KiB; not read")
    try:
        return SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True,
                                 forbid_external=True)
    except defusedxml.DefusedXmlException as exc:
        raise SidecarError(f"sidecar refused: {type(exc).__name__} (a DTD or entities are not "
                           "allowed in XMP)") from None
    except ET.ParseError as exc:
        raise SidecarError(f"sidecar is not well-formed XML: {exc}") from None


def read_sidecar(data: bytes) -> SidecarRead:
    """Keywords (dc:subject, lr:hierarchicalSubject, digiKam:TagsList) and xmp:Rating."""
    root = parse_packet(data)
    found: dict[str, str] = {}  # tag -> category; a hierarchical path names the category
    rating: str | None = None
    for desc in root.iter(RDF_DESC):
        rating = desc.get(RATING, rating)
        for child in desc:
            if child.tag == RATING and child.text:
                rating = child.text
            elif child.tag in (HIER, TAGSLIST):
                sep = "|" if child.tag == HIER else "/"
                for item in _items(child):
                    category, tag = _split_path(item, sep)
                    if tag and (category != "custom" or tag not in found):
                        found[tag] = category
            elif child.tag == SUBJECT:
                for item in _items(child):
                    tag = normalise_tag(item)
                    if tag:
                        found.setdefault(tag, "custom")
    return SidecarRead(tags=[(c, t) for t, c in found.items()], stars=_stars(rating))


def _items(prop: ET.Element) -> list[str]:
    """The rdf:li texts of an array property (Bag, Seq or Alt), or its simple text."""
    items = [li.text or "" for li in prop.iter(RDF_LI)]
    return items if items or not (prop.text or "").strip() else [prop.text or ""]


def _split_path(item: str, sep: str) -> tuple[str, str]:
    """'style|neon' -> ('style', 'neon'); 'People/Alice' -> ('custom', 'alice')."""
    parts = [normalise_tag(p) for p in item.split(sep) if p.strip()]
    if not parts:
        return "custom", ""
    category = parts[0] if len(parts) > 1 and parts[0] in TAG_CATEGORIES else "custom"
    return category, parts[-1]


def _stars(rating: str | None) -> int | None:
    try:
        value = round(float(rating)) if rating is not None else None
    except ValueError:
        return None
    return value if value is not None and 1 <= value <= 5 else None


def merge_sidecar(existing: bytes | None, facts: SidecarFacts) -> bytes:
    """The sidecar to write: the existing packet without alice's properties, plus alice's now."""
    prefixes = dict(NS)
    if existing:
        root = parse_packet(existing)
        prefixes.update(_declared_prefixes(existing))
    else:
        root = ET.Element(_q("x", "xmpmeta"))
    rdf = root if root.tag == RDF_RDF else root.find(RDF_RDF)
    if rdf is None:
        rdf = ET.SubElement(root, RDF_RDF)
    descriptions = list(rdf.iter(RDF_DESC))
    for desc in descriptions:
        _drop_owned(desc)
    target = descriptions[0] if descriptions else ET.SubElement(rdf, RDF_DESC, {RDF_ABOUT: ""})
    _add_facts(target, facts)
    for prefix, uri in prefixes.items():
        if not prefix.startswith("ns") or not prefix[2:].isdigit():
            ET.register_namespace(prefix, uri)
    body = ET.tostring(root, encoding="unicode")
    return ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n' + body
            + '\n<?xpacket end="w"?>\n').encode("utf-8")


def _declared_prefixes(data: bytes) -> dict[str, str]:
    """prefix -> namespace URI as the existing sidecar declares them, to write them back so."""
    found: dict[str, str] = {}
    for _, (prefix, uri) in SafeET.iterparse(BytesIO(data), events=("start-ns",),
                                             forbid_dtd=True):
        if prefix and uri not in found.values():
            found[prefix] = uri
    return found


def _drop_owned(desc: ET.Element) -> None:
    """Remove alice's properties (elements and attributes) from one rdf:Description."""
    alice = f"{{{NS['alice']}}}"
    for child in list(desc):
        if child.tag in OWNED or child.tag.startswith(alice):
            desc.remove(child)
    for name in list(desc.attrib):
        if name in OWNED or name.startswith(alice):
            del desc.attrib[name]


def _add_facts(desc: ET.Element, facts: SidecarFacts) -> None:
    ordered = sorted(facts.tags, key=lambda ct: (ct[1], ct[0]))
    if ordered:
        _array(desc, SUBJECT, "Bag", sorted({t for _, t in ordered}))
        _array(desc, HIER, "Bag", [f"{c}|{t}" for c, t in ordered])
        _array(desc, TAGSLIST, "Seq", [f"{c}/{t}" for c, t in ordered])
    if facts.stars is not None:
        ET.SubElement(desc, RATING).text = str(facts.stars)
    if facts.description:
        alt = ET.SubElement(ET.SubElement(desc, DESCRIPTION), _q("rdf", "Alt"))
        ET.SubElement(alt, RDF_LI, {XML_LANG: "x-default"}).text = facts.description
    if facts.generated:
        ET.SubElement(desc, SOURCE_TYPE).text = AI_SOURCE
    for name, value in facts.generation.items():
        ET.SubElement(desc, _q("alice", name)).text = value


def _array(desc: ET.Element, tag: str, kind: str, items: list[str]) -> None:
    container = ET.SubElement(ET.SubElement(desc, tag), _q("rdf", kind))
    for item in items:
        ET.SubElement(container, RDF_LI).text = item


def write_atomically(path: Path, data: bytes) -> None:
    """Write a file whole or not at all: a temp file beside it, fsynced, then os.replace."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}{TEMP_SUFFIX}")
    try:
        with tmp.open("xb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
