"""Detection rows: alice's generator detection vs sd-parsers on the same files, per format.

The measuring is bench/bench_detect.py's (its own 512x512 corpus of PNG, JPEG and WebP files
from alice_mcp.samples, both readers interleaved, the median of `repeats` passes each).
"""

from __future__ import annotations

from pathlib import Path

from bench import bench_detect
from bench.report import Row, rate

MIN_RATIO = 3.0


def measure(workdir: Path, repeats: int, files_per_format: int) -> list[Row]:
    """One row per format: files/s of ours, of sd-parsers, and the ratio (target >= 3x)."""
    results = bench_detect.run(workdir / "detect-corpus", repeats, files_per_format)
    rows = []
    for r in results:
        ours, theirs, speedup = (r["alice_files_per_s"], r["sd_parsers_files_per_s"],
                                 r["speedup"])
        note = f"{r['files']} files, median of {r['repeats']} passes per reader"
        row = Row(f"detect.{r['format']}", f"detection, {r['format'].upper()} files "
                  "(alice_mcp.metadata.detect_path)", f"{rate(ours)}", ours, note=note,
                  target=f">= {MIN_RATIO:g}x")
        if theirs:
            row.versus, row.ratio = f"sd_parsers: {rate(theirs)}", speedup
            row.met = speedup >= MIN_RATIO
        else:
            row.versus = "sd-parsers not installed"
        rows.append(row)
    return rows
