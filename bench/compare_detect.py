"""Detection speed of this tree against an earlier commit, paired, for a machine shared with others.

`python -m bench --only detect` times each reader in wall-clock passes; on a loaded machine
two runs of the same code differ by 2-5x, which hides a 10% change. This script imports the
earlier commit's `alice_mcp` under another name in the same process, then times old and new
back to back on the same files (CPU time of this thread, the order alternating), many rounds,
and reports the median of the per-round ratios new/old: slow drift of the load cancels out.

    .venv/bin/python bench/compare_detect.py 0b5cec5 [--files 48] [--rounds 80]
"""

from __future__ import annotations

import argparse
import importlib
import io
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def import_commit(commit: str, into: Path) -> object:
    """The `alice_mcp.metadata` of `commit`, imported as package `alice_base`."""
    tar = subprocess.run(["git", "archive", commit, "alice_mcp"], cwd=ROOT, check=True,
                         capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        archive.extractall(into, filter="data")
    package = into / "alice_base"
    (into / "alice_mcp").rename(package)
    for path in package.rglob("*.py"):
        path.write_text(path.read_text("utf-8").replace("alice_mcp", "alice_base"), "utf-8")
    sys.path.insert(0, str(into))
    return importlib.import_module("alice_base.metadata")


def _pass(module: object, files: list[Path]) -> float:
    """CPU seconds of this thread for one detect_path pass over `files`."""
    start = time.thread_time()
    for f in files:
        module.detect_path(f)  # type: ignore[attr-defined]
    return time.thread_time() - start


def paired_ratios(old: object, new: object, files: list[Path], rounds: int) -> float:
    """Median over rounds of (new time / old time); the order alternates so neither side
    always runs on caches the other warmed."""
    ratios = []
    for i in range(rounds):
        if i % 2:
            t_new, t_old = _pass(new, files), _pass(old, files)
        else:
            t_old, t_new = _pass(old, files), _pass(new, files)
        if t_old > 0:
            ratios.append(t_new / t_old)
    return statistics.median(ratios)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("commit")
    parser.add_argument("--files", type=int, default=48, help="files per format")
    parser.add_argument("--rounds", type=int, default=80)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    import alice_mcp.metadata as new
    from bench.bench_detect import write_corpus

    with tempfile.TemporaryDirectory(prefix="alice-compare-") as tmp:
        old = import_commit(args.commit, Path(tmp) / "base")
        corpus = write_corpus(Path(tmp) / "corpus", args.files)
        for fmt, files in corpus.items():
            ratio = paired_ratios(old, new, files, args.rounds)
            print(f"{fmt:5} {len(files)} files  detect_path time new/old: {ratio:.3f} "
                  f"({(ratio - 1) * 100:+.1f}%)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
