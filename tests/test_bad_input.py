"""A corpus of broken and odd files: each broken one gets a per-file error, the odd-but-valid ones
are organized, the run completes, and memory stays bounded."""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

from alice_mcp import samples
from tests.test_hostile_parsers import HOSTILE

Maker = Callable[[Path], None]
# `alice` that prints its own peak resident memory (KB) to stderr when it ends: the kernel's
# VmHWM where there is /proc, because Linux sets ru_maxrss of an exec'd child to the spawning
# parent's high-water mark when that is larger (a big pytest process read as the child's peak)
PEAK_REPORTING_ALICE = """
import resource, sys
from alice_mcp.cli import main
code = main(sys.argv[1:])
try:
    with open("/proc/self/status") as status:
        peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
except (OSError, StopIteration):
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(f"PEAK_RSS_KB={peak}", file=sys.stderr)
sys.exit(code)
"""


def _png(size: tuple[int, int] = (32, 32), colour: tuple[int, int, int] = (200, 40, 90),
         **text: str) -> bytes:
    info = PngImagePlugin.PngInfo()
    for key, value in text.items():
        info.add_text(key, value)
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG", pnginfo=info)
    return out.getvalue()


def _jpeg(colour: tuple[int, int, int] = (10, 120, 200)) -> bytes:
    out = io.BytesIO()
    samples.sample_image((48, 48), seed=sum(colour)).convert("RGB").save(out, "JPEG")
    return out.getvalue()


def _webp() -> bytes:
    out = io.BytesIO()
    samples.sample_image((40, 40), seed=5).save(out, "WEBP")
    return out.getvalue()


def _chunk(kind: bytes, data: bytes, crc: int | None = None) -> bytes:
    crc = zlib.crc32(kind + data) if crc is None else crc
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _png_with_ihdr(width: int, height: int) -> bytes:
    good = _png()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return good[:8] + _chunk(b"IHDR", ihdr) + good[33:]


def _write(data: bytes) -> Maker:
    return lambda path: path.write_bytes(data)


def _big_text_chunk(path: Path) -> None:
    good = _png(colour=(1, 2, 3))
    text = _chunk(b"tEXt", b"parameters\x00" + b"x" * (100 * 1024 * 1024))
    path.write_bytes(good[:33] + text + good[33:])


def _deep_json(path: Path) -> None:
    path.write_bytes(_png(colour=(4, 5, 6), prompt="[" * 100_000 + "]" * 100_000))


def _text_after_idat(path: Path) -> None:
    good = _png(colour=(7, 8, 9))
    body = _chunk(b"tEXt", b"parameters\x00late prompt\nSteps: 5, Seed: 3")
    path.write_bytes(good[:-12] + body + good[-12:])


def _crc_error_in_text(path: Path) -> None:
    good = _png(colour=(10, 11, 12))
    path.write_bytes(good[:33] + _chunk(b"tEXt", b"parameters\x00hi", crc=1) + good[33:])


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _loop(path: Path) -> None:
    path.symlink_to(path)


def _dir_loop(path: Path) -> None:
    path.mkdir()
    (path / "again").symlink_to(path, target_is_directory=True)


def _directory_named_png(path: Path) -> None:
    path.mkdir()
    (path / "inside.png").write_bytes(_png(colour=(13, 14, 15)))


# name -> (writer, what must happen: "error", "organized", or "skipped")
CORPUS: dict[str, tuple[Maker, str]] = {
    "zero.png": (_write(b""), "error"),
    "zero.jpg": (_write(b""), "error"),
    "zero.webp": (_write(b""), "error"),
    "truncated.png": (lambda p: p.write_bytes(_png(colour=(90, 1, 1))[:60]), "error"),
    "truncated.jpg": (lambda p: p.write_bytes(_jpeg()[:200]), "error"),
    "truncated.webp": (lambda p: p.write_bytes(_webp()[:40]), "error"),
    "signature-only.png": (_write(b"\x89PNG\r\n\x1a\n"), "error"),
    "text-as.png": (_write(b"this is not an image at all\n" * 10), "error"),
    "html-as.jpg": (_write(b"<html><body>404</body></html>"), "error"),
    "random.gif": (_write(os.urandom(512)), "error"),
    "random.bmp": (_write(b"BM" + os.urandom(200)), "error"),
    "random.tiff": (_write(b"II*\x00" + os.urandom(100)), "error"),
    "random.avif": (_write(os.urandom(300)), "error"),
    "bad-riff.webp": (_write(b"RIFF\xff\xff\xff\xffWEBPVP8 " + os.urandom(64)), "error"),
    "bomb.png": (_write(_png_with_ihdr(100_000, 100_000)), "error"),
    "bomb-wide.png": (_write(_png_with_ihdr(2_000_000, 40)), "error"),
    "bomb.gif": (_write(b"GIF89a" + struct.pack("<HH", 65535, 65535) + b"\x00" * 20), "error"),
    "zero-dims.png": (_write(_png_with_ihdr(0, 0)), "error"),
    "jpeg-named.png": (lambda p: p.write_bytes(_jpeg((1, 200, 3))), "organized"),
    "png-named.webp": (lambda p: p.write_bytes(_png(colour=(30, 60, 90))), "organized"),
    "UPPER.PNG": (lambda p: p.write_bytes(_png(colour=(31, 61, 91))), "organized"),
    "huge-text-chunk.png": (_big_text_chunk, "error"),  # Pillow refuses > 64 MB of text
    "deep-json.png": (_deep_json, "organized"),
    "invalid-utf8.png": (lambda p: p.write_bytes(_png(colour=(40, 41, 42)).replace(
        b"IEND", b"IEND")[:33] + _chunk(b"tEXt", b"parameters\x00\xff\xfe\xfa bad\nSteps: 1")
        + _png(colour=(40, 41, 42))[33:]), "organized"),
    "text-after-idat.png": (_text_after_idat, "organized"),
    "crc-error.png": (_crc_error_in_text, "error"),  # Pillow refuses chunks with bad CRCs
    "new\nline.png": (lambda p: p.write_bytes(_png(colour=(50, 51, 52))), "organized"),
    "ｆｕｌｌｗｉｄｔｈ 🎨.png": (lambda p: p.write_bytes(_png(colour=(53, 54, 55))), "organized"),
    "e\u0301cole-nfd.png": (lambda p: p.write_bytes(_png(colour=(56, 57, 58))), "organized"),
    "\u202eright-to-left.png": (lambda p: p.write_bytes(_png(colour=(59, 60, 61))), "organized"),
    "con.png": (lambda p: p.write_bytes(_png(colour=(62, 63, 64))), "organized"),
    "one-pixel.png": (lambda p: p.write_bytes(_png((1, 1), (65, 66, 67))), "organized"),
    "sliver.png": (lambda p: p.write_bytes(_png((1, 4000), (68, 69, 70))), "organized"),
    "garbage.mp4": (_write(b"\x00\x00\x00\x18ftypmp42" + os.urandom(500)), "organized"),
    "x.png": (_directory_named_png, "organized"),
    "fifo.png": (_fifo, "skipped"),
    "loop.png": (_loop, "skipped"),
    "dirloop": (_dir_loop, "skipped"),
}
# the parser attacks of tests/test_hostile_parsers.py, each as its own file
for _number, (_kind, (_make, _ext)) in enumerate(sorted(HOSTILE.items())):
    CORPUS[f"hostile-{_number}{_ext}"] = (
        lambda p, make=_make: p.write_bytes(make()),
        "error" if "zTXt" in _kind else "organized")  # Pillow refuses a 16 MiB zTXt chunk
if sys.platform == "linux":  # a name that is not UTF-8 (Linux file systems take any bytes)
    CORPUS["bad\udcff\udcfe\udc80name.png"] = (
        lambda p: p.write_bytes(_png(colour=(71, 72, 73))), "organized")


def test_the_corpus_has_at_least_40_kinds() -> None:
    assert len(CORPUS) >= 40


@pytest.mark.skipif(sys.platform == "win32", reason="FIFOs and newline names are POSIX-only")
def test_bad_input_corpus(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox" / "corpus"
    inbox.mkdir(parents=True)
    for name, (make, _) in CORPUS.items():
        make(inbox / name)
    for i in range(5):
        samples.write_a1111_png(inbox / f"good-{i}.png", f"good {i}", seed=i)

    run = subprocess.run(
        [sys.executable, "-c", PEAK_REPORTING_ALICE, "--inbox", str(tmp_path / "inbox"),
         "--organized", str(tmp_path / "organized"), "--database", str(tmp_path / "l.duckdb"),
         "--json", "--quiet"], capture_output=True, text=True, timeout=300,
        env={k: v for k, v in os.environ.items() if not k.startswith("ALICE_")})
    assert run.returncode == 1, run.stderr  # README: 1 when some files were not organized
    peak_mb = int(run.stderr.rsplit("PEAK_RSS_KB=", 1)[1]) / 1024
    report = json.loads(run.stdout)

    errors = {Path(e["path"]).name: e["reason"] for e in report["errors"]}
    skipped = {Path(s["path"]).name for s in report["skipped_files"]}
    organized = {Path(p["source"]).name for p in report["placements"]}
    for name, (_, expected) in CORPUS.items():
        target = "inside.png" if name == "x.png" else name
        if expected == "error":
            assert target in errors and errors[target], f"{name}: no per-file error"
        elif expected == "organized":
            assert target in organized, f"{name}: not organized ({errors.get(target)})"
        else:
            assert target in skipped or name == "dirloop", f"{name}: not reported as skipped"
    assert "again" in skipped  # the symlink inside the looping folder is not followed
    assert {f"good-{i}.png" for i in range(5)} <= organized
    assert all("Traceback" not in reason for reason in errors.values())
    assert "CRC mismatch in tEXt chunk" in errors["crc-error.png"]  # the cause, not just Pillow's
    # ~160 MB is the process itself; Pillow reads the 100 MB text chunk once before refusing it
    assert peak_mb < 600, f"peak RSS {peak_mb:.0f} MB"
