"""Parsers run in bounded time on hostile text: each file below costs < 1 s to detect.

The files are laid out as the real writers lay them: A1111 writes `parameters` as a PNG tEXt
chunk (Pillow's PngInfo.add_text), a JPEG comment is a COM segment, XMP in a PNG is an iTXt chunk
keyed `XML:com.adobe.xmp`, and zTXt is keyword, NUL, method 0, zlib stream.
"""

from __future__ import annotations

import io
import re
import struct
import time
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin

from alice_mcp.metadata import detect_path
from alice_mcp.metadata.base import MAX_TEXT
from alice_mcp.metadata.generators.a1111 import PARAM_RE, split_infotext
from alice_mcp.metadata.xmp import digital_source_type, xmp_value

BUDGET_SECONDS = 1.0
ORIGINAL_PARAM_RE = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png(**text: str) -> bytes:
    info = PngImagePlugin.PngInfo()
    for key, value in text.items():
        info.add_text(key, value)
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (20, 30, 40)).save(out, "PNG", pnginfo=info)
    return out.getvalue()


def _png_with(chunk: bytes) -> bytes:
    plain = _png()
    return plain[:33] + chunk + plain[33:]  # after IHDR, as writers place text chunks


def _a_letters() -> bytes:
    return _png(parameters="a" * 200_000)


def _jpeg_comment() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (1, 2, 3)).save(out, "JPEG", comment=b"a" * 65_000)
    return out.getvalue()


def _ztxt_bomb() -> bytes:
    body = zlib.compress(b"a" * MAX_TEXT, 9)
    return _png_with(_chunk(b"zTXt", b"parameters\x00\x00" + body))


def _xmp_unclosed_elements() -> bytes:
    xmp = ("<x:xmpmeta><rdf:RDF><rdf:Description>"
           + "<Iptc4xmpExt:DigitalSourceType>x" * 190_000)[:6 * 1024 * 1024]
    return _png_with(_chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00"
                            + xmp.encode()))


def _xmp_unclosed_attributes() -> bytes:
    xmp = ('<rdf:Description ' + 'Iptc4xmpExt:DigitalSourceType="x ' * 200_000)
    return _png_with(_chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00"
                            + xmp.encode()))


def _lora_tags() -> bytes:
    return _png(parameters="<lora:" * 50_000 + "\nSteps: 20, Seed: 1")


def _key_colons() -> bytes:
    return _png(parameters="prompt\n" + "a: " * 100_000)


def _many_pairs() -> bytes:
    return _png(parameters="prompt\n" + "Key: v, " * (MAX_TEXT // 8))


HOSTILE = {"16 MiB of `Key: v,` pairs": (_many_pairs, ".png"),
           "200k letters in parameters": (_a_letters, ".png"),
           "50k unclosed <lora: tags": (_lora_tags, ".png"),
           "100k one-letter keys": (_key_colons, ".png"),
           "64 KB JPEG comment": (_jpeg_comment, ".jpg"),
           "zTXt inflating to the 16 MiB cap": (_ztxt_bomb, ".png"),
           "6 MB XMP of unclosed DigitalSourceType": (_xmp_unclosed_elements, ".png"),
           "XMP of unclosed attribute values": (_xmp_unclosed_attributes, ".png")}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_text_is_parsed_within_budget(tmp_path: Path, kind: str) -> None:
    make, ext = HOSTILE[kind]
    path = tmp_path / f"hostile{ext}"
    path.write_bytes(make())
    started = time.process_time()  # CPU time: a loaded CI machine does not make it flaky
    info = detect_path(path)
    spent = time.process_time() - started
    assert spent < BUDGET_SECONDS, f"{kind}: {spent:.2f} s"
    assert info.source in ("unknown", "a1111")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet='ab :,"\\/-_\t\r é', max_size=40))
def test_param_scanner_finds_what_the_webui_regex_finds(line: str) -> None:
    assert PARAM_RE.scan(line) == ORIGINAL_PARAM_RE.findall(line)
    assert PARAM_RE.findall(line) == ORIGINAL_PARAM_RE.findall(line)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(['Steps: 20', 'Sampler: "a, b"', 'Size: 512x768', 'x', '"q\\"',
                                 ' Lora hashes: "n: 1, m: 2"', 'CFG scale: 7', ':', '\\']),
                max_size=8))
def test_param_scanner_on_parameter_like_lines(parts: list[str]) -> None:
    line = ", ".join(parts)
    assert PARAM_RE.scan(line) == ORIGINAL_PARAM_RE.findall(line)


def test_split_infotext_still_reads_a_real_parameter_line() -> None:
    params, prompt, negative = split_infotext(
        'a cat\nNegative prompt: blurry\nSteps: 20, Sampler: DPM++ 2M, CFG scale: 7, '
        'Lora hashes: "a: 1, b: 2", Size: 512x768')
    assert prompt == "a cat" and negative == "blurry"
    assert params["Lora hashes"] == "a: 1, b: 2" and params["Size"] == "512x768"


def test_xmp_values_are_still_read() -> None:
    xmp = ('<rdf:Description exif:UserComment="hi &amp; bye">'
           '<dc:title><rdf:Alt><rdf:li xml:lang="x-default">Title</rdf:li></rdf:Alt></dc:title>'
           '<Iptc4xmpExt:DigitalSourceType>http://cv.iptc.org/newscodes/digitalsourcetype/'
           'trainedAlgorithmicMedia</Iptc4xmpExt:DigitalSourceType>'
           '<a:B><![CDATA[raw <x>]]></a:B></rdf:Description>')
    assert xmp_value(xmp, "exif:UserComment") == "hi & bye"
    assert xmp_value(xmp, "dc:title") == "Title"
    assert digital_source_type(xmp) == "trainedAlgorithmicMedia"
    assert xmp_value('<p xexif:UserComment="no">', "exif:UserComment") is None


@pytest.mark.anyio
async def test_a_file_over_its_time_budget_is_abandoned_with_a_per_file_error(
        tmp_path: Path) -> None:
    from PIL import Image

    from alice_mcp.config import load_settings
    from alice_mcp.library import Library

    (tmp_path / "inbox").mkdir()
    # 16 megapixels in ~50 KB: the allowance for its size is ~2 ms, its one decode takes far
    # longer on any machine (the 200k-letter file alone was sometimes done within its allowance)
    Image.new("RGB", (4000, 4000), (90, 120, 200)).save(tmp_path / "inbox" / "big.png")
    flags = {"paths.inbox": tmp_path / "inbox", "paths.organized": tmp_path / "organized",
             "paths.database": tmp_path / "l.duckdb", "metadata.file_timeout_seconds": 0}
    with Library(load_settings(flags=flags).settings) as library:
        report = await library.organize()
    assert report.organized == 0
    assert "abandoned" in report.errors[0].reason and "file_timeout_seconds" in \
        report.errors[0].reason
