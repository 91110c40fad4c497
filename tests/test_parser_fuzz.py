"""Hypothesis fuzzing of every header parser and the query language, for a fixed example budget.

Each reader is fed bytes laid out as the real writers lay them (PNG chunks with their CRC, JPEG
marker segments, RIFF chunks, TIFF IFDs, ComfyUI graphs with links and cycles) with arbitrary
contents, plus long runs of one character (the shape that finds super-linear patterns). A
parser may note errors or find nothing; it never raises anything but AliceError and never takes
long. ~60 examples a test by default; ALICE_PROPERTY_SCALE (as in test_properties.py) scales it.
"""

from __future__ import annotations

import io
import json
import os
import struct
import time
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from alice_mcp.errors import AliceError, InvalidQuery
from alice_mcp.metadata.base import ContainerMeta
from alice_mcp.metadata.exif import decode_user_comment, parse_exif
from alice_mcp.metadata.generators import a1111, comfyui
from alice_mcp.metadata.gif import read_gif
from alice_mcp.metadata.jpeg import XMP_JPEG_NS, read_jpeg
from alice_mcp.metadata.png import PNG_MAGIC, read_png
from alice_mcp.metadata.webp import read_webp
from alice_mcp.metadata.xmp import digital_source_type, xmp_value
from alice_mcp.store import query

SCALE = float(os.environ.get("ALICE_PROPERTY_SCALE", "1"))
BUDGET_S = 1.0  # per call; the hostile-input corpus holds whole files to the same second
FUZZ = settings(max_examples=max(1, int(60 * SCALE)), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
NOW = datetime(2025, 6, 1, tzinfo=UTC)

# text: arbitrary, or a long run of a piece hostile patterns trip on (each test also names its own)
HOSTILE = ["a", " ", ",", ":", "<", ">", '"', "\\", "{", "[", "\n", "=", "&amp;", "\x00"]
XMP_PIECES = ["<Iptc4xmpExt:DigitalSourceType>", "<Iptc4xmpExt:DigitalSourceType ",
              "<exif:UserComment>", "<rdf:li>", 'Iptc4xmpExt:DigitalSourceType="', "<![CDATA["]
INFOTEXT_PIECES = ["a", "Steps: ", "Negative prompt: ", "<lora:", "a: ", 'a: "', ", ", "\n"]


def hostile(pieces: list[str], most: int = 20_000) -> st.SearchStrategy[str]:
    return st.builds(lambda piece, n, tail: piece * n + tail, st.sampled_from(pieces),
                     st.integers(1, most), st.text(max_size=20))


texts = st.one_of(st.text(max_size=400), hostile(HOSTILE))
blobs = st.one_of(st.binary(max_size=600), texts.map(lambda t: t.encode("utf-8", "surrogatepass")))


def within_budget(call: Callable[[], Any]) -> Any:
    """Run the parser: only AliceError may escape, and it must answer within the budget."""
    started = time.perf_counter()
    try:
        return call()
    except AliceError:
        return None
    finally:
        assert time.perf_counter() - started < BUDGET_S


def read(reader: Callable[[Any, int, ContainerMeta], None], data: bytes) -> ContainerMeta:
    meta = ContainerMeta()
    within_budget(lambda: reader(io.BytesIO(data), len(data), meta))
    assert all(isinstance(e, str) for e in meta.errors)
    json.dumps(meta.text)  # what was read is text
    return meta


# -- PNG: length, type, data, CRC (usually right, as every writer computes it) ----------------

def png_chunk(ctype: bytes, data: bytes, good_crc: bool) -> bytes:
    crc = zlib.crc32(ctype + data) if good_crc else zlib.crc32(data) ^ 0xFFFF
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", crc)


png_text = st.builds(lambda k, v: k.encode("latin-1", "replace")[:79] + b"\x00" +
                     v.encode("latin-1", "replace"), st.text(max_size=12), texts)
png_itxt = st.builds(lambda k, flag, v: k.encode()[:79] + b"\x00" + bytes([flag, 0]) +
                     b"en\x00\x00" + (zlib.compress(v.encode()) if flag else v.encode()),
                     st.sampled_from(["parameters", "prompt", "workflow", "XML:com.adobe.xmp",
                                      "x"]), st.integers(0, 1), texts)
png_ztxt = st.builds(lambda k, v, cut: k.encode()[:79] + b"\x00\x00" +
                     zlib.compress(v.encode())[:cut], st.sampled_from(["parameters", "Comment"]),
                     texts, st.integers(0, 10_000))
png_chunks = st.lists(st.one_of(
    st.builds(png_chunk, st.just(b"tEXt"), png_text, st.booleans()),
    st.builds(png_chunk, st.just(b"iTXt"), png_itxt, st.booleans()),
    st.builds(png_chunk, st.just(b"zTXt"), png_ztxt, st.booleans()),
    st.builds(png_chunk, st.sampled_from([b"IHDR", b"eXIf", b"IDAT", b"caBX", b"iCCP"]), blobs,
              st.booleans()),
    st.binary(max_size=40)), max_size=6)


@FUZZ
@given(chunks=png_chunks, end=st.booleans())
@example(chunks=[png_chunk(b"tEXt", b"parameters\x00" + b"a" * 200_000, True)], end=True)
@example(chunks=[png_chunk(b"zTXt", b"parameters\x00\x00" + zlib.compress(b"a" * (32 << 20), 9),
                           True)], end=True)  # inflates to 32 MiB: capped at 16
def test_png_reader(chunks: list[bytes], end: bool) -> None:
    ihdr = png_chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0), True)
    read(read_png, PNG_MAGIC + ihdr + b"".join(chunks) +
         (png_chunk(b"IEND", b"", True) if end else b""))


# -- TIFF/EXIF: a header, IFD entries pointing anywhere (loops included) ----------------------

def tiff(order: str, entries: list[tuple[int, int, int, int]], tail: bytes, ifd: int) -> bytes:
    head = (b"II*\x00" if order == "<" else b"MM\x00*") + struct.pack(order + "I", ifd)
    body = struct.pack(order + "H", len(entries)) + b"".join(
        struct.pack(order + "HHII", *e) for e in entries) + struct.pack(order + "I", ifd)
    return head + body + tail


tiffs = st.builds(
    tiff, st.sampled_from(["<", ">"]),
    st.lists(st.tuples(st.sampled_from([0x010E, 0x010F, 0x0131, 0x8769, 0x9286, 0x927C, 0x9003,
                                        0x1234]),
                       st.integers(0, 13), st.integers(0, 2**32 - 1), st.integers(0, 300)),
             max_size=12),
    blobs, st.sampled_from([8, 0, 4, 2**32 - 1]))


@FUZZ
@given(data=st.one_of(tiffs, st.binary(max_size=300)))
def test_exif_reader(data: bytes) -> None:
    meta = ContainerMeta()
    within_budget(lambda: parse_exif(data, meta))
    json.dumps(meta.exif)
    within_budget(lambda: decode_user_comment(data[:200]))


# -- JPEG: marker segments with their length, then a scan -------------------------------------

def segment(code: int, data: bytes) -> bytes:
    return bytes([0xFF, code]) + struct.pack(">H", min(len(data) + 2, 0xFFFF)) + data[:0xFFFD]


jpeg_segments = st.lists(st.one_of(
    st.builds(lambda t: segment(0xE1, b"Exif\x00\x00" + t), tiffs),
    st.builds(lambda x: segment(0xE1, XMP_JPEG_NS + x.encode()), texts),
    st.builds(lambda c: segment(0xFE, c.encode()), texts),
    st.builds(segment, st.sampled_from([0xC0, 0xC2, 0xDB, 0xC4, 0xEB, 0xE0, 0xD9]), blobs),
    st.binary(max_size=30)), max_size=6)


@FUZZ
@given(segments=jpeg_segments, scan=st.binary(max_size=50))
@example(segments=[segment(0xFE, b"a" * 65_000)], scan=b"")  # a 64 KB comment
@example(segments=[segment(0xE1, b"Exif\x00\x00" + tiff("<", [(0x8769, 4, 1, 8)], b"", 8))],
         scan=b"")  # an EXIF IFD pointing at itself
def test_jpeg_reader(segments: list[bytes], scan: bytes) -> None:
    read(read_jpeg, b"\xff\xd8" + b"".join(segments) + b"\xff\xda" + scan)


# -- WebP: RIFF chunks, padded to even sizes ---------------------------------------------------

def riff_chunk(fourcc: bytes, data: bytes, lie: int) -> bytes:
    return fourcc + struct.pack("<I", (len(data) + lie) % 2**32) + data + b"\x00" * (len(data) & 1)


webp_chunks = st.lists(st.builds(
    riff_chunk, st.sampled_from([b"VP8X", b"VP8L", b"VP8 ", b"EXIF", b"XMP ", b"C2PA", b"ANIM"]),
    st.one_of(blobs, tiffs.map(lambda t: b"Exif\x00\x00" + t)),
    st.sampled_from([0, 0, 0, 1, -1, 2**31])), max_size=5)


@FUZZ
@given(chunks=webp_chunks)
def test_webp_reader(chunks: list[bytes]) -> None:
    body = b"WEBP" + b"".join(chunks)
    read(read_webp, b"RIFF" + struct.pack("<I", len(body)) + body)


@FUZZ
@given(body=st.binary(max_size=600))
def test_gif_reader(body: bytes) -> None:
    read(read_gif, b"GIF89a" + body)


# -- XMP, A1111 infotext, ComfyUI graphs, the query language ----------------------------------

xmp_packets = st.builds(
    lambda pre, name, value, close, post: f"{pre}<{name}>{value}{close}{post}",
    texts, st.sampled_from(["Iptc4xmpExt:DigitalSourceType", "exif:UserComment", "dc:description",
                            "rdf:li"]), texts, st.sampled_from(["", "</Iptc4xmpExt:DigitalSourceType>",
                                                              "</exif:UserComment>"]), texts)


@FUZZ
@given(xmp=st.one_of(texts, xmp_packets, hostile(XMP_PIECES)))
@example(xmp="<Iptc4xmpExt:DigitalSourceType>" * 20_000)  # 620 KB: a lazy regex took 163 s
@example(xmp='Iptc4xmpExt:DigitalSourceType="' * 20_000)
def test_xmp_readers(xmp: str) -> None:
    for name in ("Iptc4xmpExt:DigitalSourceType", "exif:UserComment", "dc:description"):
        found = within_budget(lambda name=name: xmp_value(xmp, name))
        assert found is None or isinstance(found, str)
    within_budget(lambda: digital_source_type(xmp))


infotexts = st.builds(lambda prompt, neg, params: f"{prompt}\nNegative prompt: {neg}\n{params}",
                      texts, texts, st.one_of(texts, st.builds(
                          lambda pairs: ", ".join(f"{k}: {v}" for k, v in pairs),
                          st.lists(st.tuples(texts, texts), max_size=6))))


@FUZZ
@given(text=st.one_of(texts, infotexts, hostile(INFOTEXT_PIECES)))
@example(text="a" * 200_000)  # the 200,000-letter `parameters` once took hours
@example(text="Steps: 1, " + "a: " * 20_000)
def test_a1111_infotext_split(text: str) -> None:
    params, prompt, negative = within_budget(lambda: a1111.split_infotext(text))
    assert isinstance(params, dict) and isinstance(prompt, str)
    meta = ContainerMeta(format="png", text={"parameters": text})
    within_budget(lambda: a1111.parse(meta, "x.png"))


node_ids = st.sampled_from(["1", "2", "3", "4", "5"])
inputs = st.dictionaries(
    st.sampled_from(["text", "seed", "steps", "model", "positive", "negative", "clip", "cfg",
                     "ckpt_name", "lora_name", "samples", "latent_image", "width"]),
    st.one_of(st.builds(lambda n, s: [n, s], node_ids, st.integers(-1, 3)), texts.map(str),
              st.integers(), st.floats(allow_nan=False), st.none()), max_size=6)
api_graphs = st.dictionaries(node_ids, st.builds(
    lambda ctype, ins: {"class_type": ctype, "inputs": ins},
    st.sampled_from(["KSampler", "CLIPTextEncode", "CheckpointLoaderSimple", "LoraLoader",
                     "EmptyLatentImage", "PrimitiveNode", "StringConcatenate", "Custom"]), inputs),
    max_size=5)  # links point anywhere: at themselves, in cycles, at nodes that do not exist
workflows = st.builds(
    lambda nodes, links: {"nodes": nodes, "links": links},
    st.lists(st.fixed_dictionaries({
        "id": st.integers(1, 5), "type": st.sampled_from(["KSampler", "CLIPTextEncode", "x"]),
        "widgets_values": st.lists(st.one_of(st.integers(), texts), max_size=6),
        "inputs": st.lists(st.fixed_dictionaries({"name": st.sampled_from(["model", "positive"]),
                                                  "link": st.integers(0, 5)}), max_size=3)}),
        max_size=5),
    st.lists(st.lists(st.integers(0, 5), min_size=3, max_size=6), max_size=6))
deep = st.integers(1, 200_000).map(lambda n: "[" * n + "]" * n)


@FUZZ
@given(prompt=st.one_of(api_graphs.map(json.dumps), deep, texts),
       workflow=st.one_of(st.none(), workflows.map(json.dumps), deep))
@example(prompt="[" * 100_000, workflow="{" * 100_000)  # 100k-deep JSON
@example(prompt=json.dumps({str(i): {"class_type": "KSampler", "inputs": {
    "positive": [str(i + 1), 0], "model": [str(i), 0]}} for i in range(2000)}), workflow=None)
def test_comfyui_graph_reader(prompt: str, workflow: str | None) -> None:
    text = {"prompt": prompt} | ({"workflow": workflow} if workflow is not None else {})
    found = within_budget(lambda: comfyui.parse(ContainerMeta(format="png", text=text), "x.png"))
    if found is not None:
        json.dumps(found.to_dict())


@FUZZ
@given(text=st.one_of(texts, st.lists(st.builds(
    lambda field, value: f"{field}:{value}", st.sampled_from(query.FIELDS), texts),
    max_size=5).map(" ".join), hostile(["tag:", '"', "-", "~", "seed:9", "after:", "stars:>"],
                                         most=2_000)))
@example(text="seed:" + "9" * 5000)  # a 5000-digit seed
@example(text="after:99999999999y")
def test_query_language(text: str) -> None:
    started = time.perf_counter()
    try:
        query.parse(text, now=NOW)
    except InvalidQuery as exc:
        assert str(exc)
    assert time.perf_counter() - started < BUDGET_S
