"""What a container header says (ContainerMeta) and the limits every header reader obeys."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MAX_CHUNK_READ = 32 * 1024 * 1024  # one metadata chunk/segment we are willing to read
MAX_TEXT = 16 * 1024 * 1024  # decompressed text bound (zTXt, compressed iTXt, stealth)
MAX_CHUNKS = 200_000  # guards against pathological files made of tiny chunks
# Source names besides text keys, for parser dispatch (a NUL never occurs in a text key).
USER_COMMENT = "\x00exif:UserComment"
USER_COMMENT_JSON = "\x00exif:UserComment:json"  # a UserComment that looks like JSON
PARAMETERS_JSON = "\x00parameters:json"  # a `parameters` text that looks like JSON
EXIF_STRINGS = "\x00exif"
XMP = "\x00xmp"
_JSON_STARTS = ("{", '"')  # what JSON (or JSON encoded as a JSON string) starts with


@dataclass(slots=True)
class ContainerMeta:
    """What the file header says: format, size, text chunks, EXIF strings, XMP, C2PA, video."""

    format: str = "unknown"
    media_type: str | None = None  # "image" or "video" (animated GIFs count as video)
    width: int | None = None
    height: int | None = None
    text: dict[str, str] = field(default_factory=dict)
    text_source: dict[str, str] = field(default_factory=dict)  # key -> "png:tEXt", "jpeg:COM"
    exif_user_comment: str | None = None
    exif: dict[str, str] = field(default_factory=dict)
    xmp: str | None = None
    c2pa: bool = False  # the container holds a C2PA manifest store (caBX, APP11, uuid...)
    c2pa_manifest: dict[str, Any] | None = None  # manifest store JSON from the C2PA library
    duration_s: float | None = None
    codec: str | None = None
    fps: float | None = None
    frames: int | None = None
    created_at: str | None = None  # container creation time as written (ISO 8601)
    errors: list[str] = field(default_factory=list)

    def add_text(self, key: str, value: str, where: str) -> bool:
        """Record a text entry once; a repeated key is noted and ignored."""
        if key in self.text:
            self.errors.append(f"{where.split(':')[0]}: duplicate text key {key!r} ignored")
            return False
        self.text[key] = value
        self.text_source[key] = where
        return True

    def sources(self) -> frozenset[str]:
        """Names of the fields that hold something: text keys (+ PARAMETERS_JSON), USER_COMMENT
        (+ USER_COMMENT_JSON), EXIF_STRINGS, XMP."""
        present = [*self.text]
        # (first character looked at here: most texts start with a letter, and skip the call)
        parameters = self.text.get("parameters")
        if parameters and not parameters[0].isalnum() and looks_json(parameters):
            present.append(PARAMETERS_JSON)  # JSON-only readers skip infotext
        comment = self.exif_user_comment
        if comment:
            present.append(USER_COMMENT)
            if not comment[0].isalnum() and looks_json(comment):
                present.append(USER_COMMENT_JSON)  # JSON readers skip infotext
        if self.exif:
            present.append(EXIF_STRINGS)
        if self.xmp:
            present.append(XMP)
        return frozenset(present)


def looks_json(text: str) -> bool:
    """Whether non-empty text may be JSON: `{` or `"` first, after at most 15 white spaces
    (a superset of what the JSON readers accept, so skipping them on False changes nothing)."""
    first = text[0]
    return first in _JSON_STARTS or (first.isspace() and text[:16].lstrip()[:1] in _JSON_STARTS)


def decode_text(raw: bytes) -> str:
    """Decode bytes that should be text: UTF-8 when valid (most tools), else Latin-1."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def printable(tag: bytes) -> str:
    """A chunk type or box name, printable for error notes."""
    return tag.decode("latin-1", "replace")
