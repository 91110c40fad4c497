"""The benchmark suite at tiny sizes, so it never rots: every row family runs and has a number."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROW_PREFIXES = (
    "detection, PNG", "detection, JPEG", "detection, WEBP", "full indexing (detect",
    "full indexing time / decode-only floor", "insert 100 asset rows", "insert 1,000 asset rows",
    "insert 1,000 rows: batched vs one row per statement", "tag update of",
    "search by tag (tag:x), 2,000 assets, uncached", "search by tag (tag:x), 2,000 assets, cached",
    "search by text", "search, combined filters", "find_similar", "MCP `search` tool call",
    "MCP `search` over HTTP, 2,000 assets, one session",
    "MCP `search` over HTTP, 2,000 assets, 3 sessions x 2", "MCP `search` over HTTP, 2,000 assets, 3 sessions each",
    "peak RSS, `alice` organizing 24 files, profile memory_constrained",
    "peak RSS, `alice` organizing 24 files, profile default", "organize end to end",
    "rescan of an unchanged library", "text embedding, all-MiniLM-L6-v2",
    "picture embedding, tiny-clip", "search by meaning (like:", "search by meaning, 2,000 assets, cached",
    "`alice index`, Dask LocalCluster", "`alice index`, CPU seconds", "per-file cost on one core",
    "the one writer",
    "sent back per file", "paper estimate",
    "`alice --version`, a whole process", "`alice --help`, a whole process",
    "`alice` rescan of an unchanged library of 24 files",
    "`alice` organize end to end, a whole process", "imagehash.phash alone, 1 process",
    "`alice` organize end to end with performance.max_workers 2",
)


def test_bench_tiny_prints_every_row_with_a_number(tmp_path: Path) -> None:
    report = tmp_path / "BENCHMARKS.md"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--size", "tiny", "--output", str(report),
         "--workdir", str(tmp_path / "work"), "--corpus-cache", str(tmp_path / "corpus")],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ")][1:]
    for prefix in ROW_PREFIXES:
        found = [r for r in rows if r.startswith(f"| {prefix}")]
        assert found, f"no row starting with {prefix!r} in:\n{done.stdout}"
        for row in found:
            figure = row.split(" | ")[1]
            number = re.search(r"\d[\d,]*(\.\d+)?", figure)
            assert number and math.isfinite(float(number.group().replace(",", ""))), row
            assert "nan" not in figure, row
    text = report.read_text("utf-8")
    assert "# Benchmarks" in text and "logical cores" in text and "GiB RAM" in text
    assert "## What remains" in text
