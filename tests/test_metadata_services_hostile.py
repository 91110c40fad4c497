"""Hostile variants of the issue-16 readers: truncated EXIF, JSON that is not an object,
50 MB strings, deep nesting. Each gives a per-file note in well under a second, never an
exception, and a run over them still indexes the good file beside them."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL.PngImagePlugin import PngInfo

from alice_mcp import samples
from alice_mcp.metadata import detect_path
from alice_mcp.samples.images import sample_image, save

BIG = 50 * 1024 * 1024  # characters of a "50 MB string"
DEEP = "[" * 200_000  # nesting far past any recursion limit
Builder = Callable[[Path], Path]
# Each takes well under this on an idle machine (the 50 MB cases ~0.1-0.35 s, mostly inflating
# the 16 MB the PNG reader keeps); the margin is for a CI machine shared with other work.
LIMIT_S = 1.0


def _png(path: Path, texts: dict[str, str], *, compress: bool = False) -> Path:
    """A PNG with text chunks; `compress` writes zTXt so a 50 MB string stays a small file."""
    info = PngInfo()
    for key, value in texts.items():
        info.add_text(key, value, zip=compress)
    return save(sample_image((64, 64), 1), path, "PNG", pnginfo=info)


def _exif_file(path: Path, fmt: str, comment: bytes | None = None, cut: int = 0,
               **strings: str) -> Path:  # fmt: skip
    """A JPEG/WebP whose EXIF holds `comment` (raw UserComment) and IFD0 strings; `cut` drops
    that many bytes off the end of the EXIF block (a truncated block, as a bad copy leaves)."""
    from PIL import Image

    exif = Image.Exif()
    names = {"Make": 0x010F, "ImageDescription": 0x010E}
    for name, value in strings.items():
        exif[names[name]] = value
    if comment is not None:
        exif.get_ifd(0x8769)[0x9286] = comment
    data = exif.tobytes()
    data = data[: len(data) - cut] if cut else data
    return save(sample_image((64, 64), 2), path, {"jpg": "JPEG", "webp": "WEBP"}[fmt], exif=data)


def _novelai_truncated(p: Path) -> Path:
    body = json.dumps(samples.novelai_fields("1girl", "lowres", 1)).encode()
    return _exif_file(p.with_suffix(".webp"), "webp", b"UNICODE\x00" + body.decode().encode("utf-16-be"),
                      cut=len(body))  # fmt: skip


def _saver_truncated(p: Path) -> Path:
    body = json.dumps({"prompt": samples.comfyui_api_graph("x", "y")}).encode()
    return _exif_file(p.with_suffix(".jpg"), "jpg", body, cut=len(body) // 2)


HOSTILE: dict[str, Builder] = {
    # truncated EXIF
    "novelai-webp-truncated-exif": _novelai_truncated,
    "saver-jpeg-truncated-exif": _saver_truncated,
    "extended-truncated-json": lambda p: _exif_file(
        p.with_suffix(".webp"), "webp", Make='Prompt: {"3": {"class_type": "KSampler", "inp'),
    # JSON that is not an object
    "usercomment-list": lambda p: _exif_file(p.with_suffix(".jpg"), "jpg", b'["prompt", 1]'),
    "usercomment-prompt-string": lambda p: _exif_file(
        p.with_suffix(".webp"), "webp", b'{"prompt": "just words", "workflow": 3}'),
    "novelai-comment-list": lambda p: _exif_file(
        p.with_suffix(".webp"), "webp", b'{"Software": "NovelAI", "Comment": "[1, 2]"}'),
    "sm-parameters-json-list": lambda p: _png(p, {"parameters-json": "[1, 2]", "smproj": "{}"}),
    "tensorart-data-string": lambda p: _png(p, {"generation_data": '"EMS-1-EMS"\x00'}),
    "ruinedfooocus-double-string": lambda p: _png(
        p, {"parameters": json.dumps('{"software": "RuinedFooocus", "Prompt": ')}),
    "hfspace-not-object": lambda p: _png(p, {"parameters": '{"num_inference_steps": [}'}),
    "civitai-extra-list": lambda p: _exif_file(
        p.with_suffix(".jpg"), "jpg",
        json.dumps({"1": {"class_type": "LoadImage", "inputs": {}},
                    "extraMetadata": "[1, 2]"}).encode()),  # fmt: skip
    "civitai-resources-broken": lambda p: _png(
        p, {"parameters": "a fox\nSteps: 20, Sampler: Euler, Seed: 1, Civitai resources: [{\"a\": "}),
    # 50 MB strings (zTXt: the file stays small, the reader's bounds do the work)
    "sm-50mb": lambda p: _png(p, {"parameters-json": '{"PositivePrompt": "' + "a" * BIG + '"}'},
                              compress=True),
    "tensorart-50mb": lambda p: _png(p, {"generation_data": '{"prompt": "' + "a" * BIG},
                                     compress=True),
    "ruinedfooocus-50mb": lambda p: _png(
        p, {"parameters": '{"software": "RuinedFooocus", "Prompt": "' + "a" * BIG + '"}'},
        compress=True),
    "a1111-many-keys": lambda p: _png(
        p, {"parameters": "a fox\nSteps: 20, " + ", ".join(f"Key{i}: {'v' * 70_000}" for i in range(300))},
        compress=True),
    "civitai-50mb": lambda p: _png(
        p, {"parameters": "a fox\nSteps: 20, Seed: 1, Civitai resources: [\"" + "a" * BIG + '"]'},
        compress=True),
    "usercomment-20mb": lambda p: _exif_file(
        p.with_suffix(".webp"), "webp", b'{"prompt": "' + b"a" * (20 * 1024 * 1024) + b'"}'),
    # deep nesting
    "usercomment-deep": lambda p: _exif_file(
        p.with_suffix(".jpg"), "jpg", b'{"prompt": ' + DEEP[:60_000].encode()),
    "novelai-deep": lambda p: _exif_file(
        p.with_suffix(".webp"), "webp", b'{"Software": "NovelAI", "Comment": ' + DEEP.encode()),
    "sm-deep": lambda p: _png(p, {"parameters-json": DEEP, "smproj": DEEP}),
    "tensorart-deep": lambda p: _png(p, {"generation_data": '{"a": ' + DEEP}),
    "civitai-extra-deep": lambda p: _png(
        p, {"prompt": json.dumps({"1": {"class_type": "LoadImage", "inputs": {}}}),
            "extraMetadata": DEEP}),  # fmt: skip
    "civitai-resources-deep": lambda p: _png(
        p, {"parameters": "a fox\nSteps: 20, Sampler: Euler, Seed: 1, Civitai resources: " + DEEP}),
    "hfspace-deep": lambda p: _png(p, {"parameters": '{"num_inference_steps": ' + DEEP}),
    "smproj-null": lambda p: _png(p, {"smproj": "null"}),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_variant_is_a_quick_per_file_note(tmp_path: Path, name: str) -> None:
    path = HOSTILE[name](tmp_path / f"{name}.png")
    assert path.stat().st_size < 2_000_000 or name == "usercomment-20mb"
    start = time.perf_counter()
    info = detect_path(path)
    elapsed = time.perf_counter() - start
    assert elapsed < LIMIT_S, f"{name} took {elapsed:.2f}s"
    assert info.errors or info.reason or info.source != "unknown", name  # never silent
    assert all(len(e) <= 500 for e in info.errors)
    assert all(len(v) <= 64 * 1024 for v in (*info.raw.values(), *info.extra.values()))
    assert len(info.extra) <= 200


def test_hostile_notes_say_what_was_wrong(tmp_path: Path) -> None:
    notes = {name: detect_path(HOSTILE[name](tmp_path / f"{name}.png"))
             for name in ("sm-deep", "tensorart-50mb", "civitai-resources-broken",
                          "novelai-comment-list", "sm-parameters-json-list")}  # fmt: skip
    assert any("nested too deeply" in e for e in notes["sm-deep"].errors)
    assert any("over" in e and "limit" in e for e in notes["tensorart-50mb"].errors)
    assert "civitai: Civitai resources is not valid JSON" in notes["civitai-resources-broken"].errors
    assert notes["civitai-resources-broken"].seed == 1  # the rest of the line still read
    assert notes["novelai-comment-list"].source == "novelai"
    assert "novelai: Comment is not an object" in notes["novelai-comment-list"].errors
    assert "stability matrix: parameters-json is not an object" in (
        notes["sm-parameters-json-list"].errors)


@pytest.mark.anyio
async def test_a_run_over_hostile_files_still_indexes_the_good_one(library: Any, inbox: Path) -> None:
    for name in ("sm-deep", "usercomment-deep", "novelai-webp-truncated-exif",
                 "civitai-extra-deep", "tensorart-data-string"):  # fmt: skip
        HOSTILE[name](inbox / f"{name}.png")
    samples.write_civitai(inbox / "good.png")
    report = await library.organize()
    assert report.organized == 6
    hits = (await library.search("source:civitai")).results
    assert [h.prompt for h in hits] == ["score_9, a fox knight"]
