"""Generator detection speed: alice_mcp.metadata.detect_path vs sd-parsers on the same files.

Writes a corpus of 512x512 PNG, JPEG and WebP files with real generator metadata
(alice_mcp.samples), then times both readers file by file: the median of `repeats`
passes over each format's files, reported as files/s and the speed ratio. Run it as
`.venv/bin/python bench/bench_detect.py [--files N] [--repeats R]`; `run()` is the entry
point for a benchmark suite.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alice_mcp import samples
from alice_mcp.metadata import detect_path

SIZE = (512, 512)
FILES_PER_FORMAT = 48
REPEATS = 9


def write_corpus(
    corpus_dir: Path, files_per_format: int = FILES_PER_FORMAT
) -> dict[str, list[Path]]:
    """512x512 sample files per format, cycling through the generators each format carries."""
    corpus_dir = Path(corpus_dir)
    png: list[Callable[[Path, int], Path]] = [
        lambda p, i: samples.write_a1111_png(p, f"a fox number {i}", seed=i, size=SIZE),
        lambda p, i: samples.write_comfyui_png(p, f"a city number {i}", seed=i, size=SIZE),
        lambda p, i: samples.write_novelai_png(p, f"1girl {i}", seed=i, size=SIZE),
        lambda p, i: samples.write_invokeai_png(p, f"a temple {i}", seed=i, size=SIZE),
        lambda p, i: samples.write_midjourney_png(p, f"an airship {i} --v 6.1", size=SIZE),
        lambda p, i: samples.write_fooocus_png(p, f"a forest {i}", seed=i, size=SIZE),
    ]
    jpeg: list[Callable[[Path, int], Path]] = [
        lambda p, i: samples.write_a1111_jpeg(p, f"a lighthouse {i}", seed=i, size=SIZE),
        lambda p, i: samples.write_a1111_jpeg(
            p, f"a harbor {i}", seed=i, size=SIZE, encoding="unicode-le"
        ),
        lambda p, i: samples.write_swarmui_jpeg(p, f"a cat {i}", seed=i, size=SIZE),
    ]
    webp: list[Callable[[Path, int], Path]] = [
        lambda p, i: samples.write_a1111_webp(p, f"a koi pond {i}", seed=i, size=SIZE),
        lambda p, i: samples.write_comfyui_webp(p, f"a robot {i}", seed=i, size=SIZE),
    ]
    corpus: dict[str, list[Path]] = {}
    for fmt, ext, writers in (
        ("png", ".png", png),
        ("jpeg", ".jpg", jpeg),
        ("webp", ".webp", webp),
    ):
        corpus[fmt] = [
            writers[i % len(writers)](corpus_dir / fmt / f"{i:04d}{ext}", i)
            for i in range(files_per_format)
        ]
    return corpus


def _time_pass(reader: Callable[[Path], Any], files: list[Path]) -> float:
    """Seconds for one pass of `reader` over `files`."""
    started = time.perf_counter()
    for path in files:
        reader(path)
    return time.perf_counter() - started


def _sd_parsers_reader() -> Callable[[Path], Any] | None:
    """sd-parsers' ParserManager().parse, or None when the package is missing."""
    try:
        from sd_parsers import ParserManager
    except ImportError:
        return None
    manager = ParserManager()

    def read(path: Path) -> Any:
        try:
            return manager.parse(path)
        except Exception:  # its parsers raise on files they cannot read; count the time
            return None

    return read


def run(
    corpus_dir: Path, repeats: int = REPEATS, files_per_format: int = FILES_PER_FORMAT
) -> list[dict[str, Any]]:
    """Write the corpus under `corpus_dir` and time both readers; one result dict per format."""
    corpus = write_corpus(corpus_dir, files_per_format)
    sd_read = _sd_parsers_reader()
    results = []
    for fmt, files in corpus.items():
        for path in files:  # warm the page cache and imports once for both
            detect_path(path)
            if sd_read:
                sd_read(path)
        ours_t, theirs_t = [], []
        for _ in range(repeats):  # interleaved, so background load hits both alike
            ours_t.append(_time_pass(detect_path, files))
            if sd_read:
                theirs_t.append(_time_pass(sd_read, files))
        ours = statistics.median(ours_t)
        theirs = statistics.median(theirs_t) if theirs_t else None
        results.append({
            "format": fmt,
            "files": len(files),
            "repeats": repeats,
            "alice_files_per_s": len(files) / ours,
            "sd_parsers_files_per_s": len(files) / theirs if theirs else None,
            "speedup": theirs / ours if theirs else None,
        })  # fmt: skip
    return results


def format_line(result: dict[str, Any]) -> str:
    """One human-readable line of a result."""
    theirs = result["sd_parsers_files_per_s"]
    tail = (f"sd-parsers {theirs:9.0f} files/s   speedup {result['speedup']:5.1f}x"
            if theirs else "sd-parsers not installed")  # fmt: skip
    return f"{result['format']:5s} {result['files']:4d} files  alice {result['alice_files_per_s']:9.0f} files/s   {tail}"


def main(argv: list[str] | None = None) -> int:
    """Command line: write a temporary corpus, print one line per format."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=FILES_PER_FORMAT, help="files per format")
    parser.add_argument("--repeats", type=int, default=REPEATS, help="timed passes (median)")
    parser.add_argument("--corpus", type=Path, help="keep the corpus in this folder")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="alice-bench-detect-") as tmp:
        corpus = args.corpus or Path(tmp)
        for result in run(corpus, args.repeats, args.files):
            print(format_line(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
