"""Where one file's indexing CPU goes (issue 19, deliverable 2), on the e2e PNGs.

Runs the per-file stages of index_file over bench.endtoend's corpus in one thread and reports
CPU time (thread_time, not wall: the machine is shared) per file for each stage, then the same
through index_file itself, then a cProfile top list. `--dump FILE` writes every file's
results (asset id, hashes, metadata, quality) as JSON, to compare before/after a change.

    python -m bench.profile_index [--count 400] [--repeats 3] [--dump out.json] [--top 25]
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import io
import json
import pstats
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alice_mcp.allocator import tune_allocator
from alice_mcp.pipeline.indexer import Indexed, index_file
from alice_mcp.pipeline.scan import Candidate
from bench.endtoend import png_corpus


def candidates(files: list[Path]) -> list[Candidate]:
    """The scanner's view of each file."""
    out = []
    for path in files:
        st = path.stat()
        out.append(Candidate(path, st.st_size, st.st_mtime_ns, "uncategorized", "image"))
    return out


def _stages(path: Path, clock: Callable[[], float]) -> dict[str, float]:
    """One file through index_file's steps, each timed on its own."""

    from alice_mcp.media import pixels as px
    from alice_mcp.media.probe import content_hash
    from alice_mcp.media.quality import features_from_image, score
    from alice_mcp.metadata import detect

    t: dict[str, float] = {}
    mark = clock()

    def lap(name: str) -> None:
        nonlocal mark
        now = clock()
        t[name] = t.get(name, 0.0) + now - mark
        mark = now

    with open(path, "rb") as fp:
        data = fp.read()
    lap("read")
    content_hash(data)
    lap("blake2b")
    info = detect(io.BytesIO(data), path.name)
    lap("metadata")
    buf = io.BytesIO(data)
    img = px._open_checked(buf, px.MAX_PIXELS)
    lap("open+guard")
    target = px._working_side(max(img.size), 256)
    img.load()
    lap("decode")
    work, full = px._decode_working(img, target)
    lap("reduce+rgb")
    grey = work.convert("L")
    lap("grey")
    features = features_from_image(work, full, grey=grey)
    score(features)
    lap("quality")
    px._hashes(grey)
    lap("phash+dhash")
    px._thumbnail(work, 256)
    lap("thumbnail")
    img.close()
    del info
    return t


def stage_table(files: list[Path], repeats: int) -> dict[str, float]:
    """Median over repeats of each stage's CPU ms a file."""
    runs: list[dict[str, float]] = []
    for _ in range(repeats):
        total: dict[str, float] = {}
        for path in files:
            for name, sec in _stages(path, time.thread_time).items():
                total[name] = total.get(name, 0.0) + sec
        runs.append({k: v * 1000 / len(files) for k, v in total.items()})
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def whole(cands: list[Candidate], repeats: int) -> list[float]:
    """CPU ms a file of index_file itself, each repeat."""
    out = []
    for _ in range(repeats):
        started = time.thread_time()
        for cand in cands:
            index_file(cand)
        out.append((time.thread_time() - started) * 1000 / len(cands))
    return out


def threaded(cands: list[Candidate], threads: int) -> tuple[float, float]:
    """Wall files/s and process CPU ms a file of index_file over all files in `threads` threads."""
    from concurrent.futures import ThreadPoolExecutor

    wall, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(threads) as pool:
        for _ in pool.map(index_file, cands):
            pass
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return len(cands) / wall, cpu * 1000 / len(cands)


def dump(cands: list[Candidate], target: Path) -> None:
    """Every file's results as JSON (thumbnail as its length and hash) for a before/after diff."""
    import hashlib

    rows: dict[str, Any] = {}
    for cand in cands:
        item = index_file(cand)
        assert isinstance(item, Indexed), item
        px = item.pixels
        assert px is not None
        rows[cand.path.name] = {
            "asset_id": item.asset_id, "info": item.info.to_dict(), "errors": item.info.errors,
            "width": px.width, "height": px.height, "phash": px.phash, "dhash": px.dhash,
            "features": dataclasses.asdict(px.features), "quality": px.quality,
            "thumb_len": len(px.thumbnail),
            "thumb_blake": hashlib.blake2b(px.thumbnail, digest_size=8).hexdigest()}
    target.write_text(json.dumps(rows, indent=1, sort_keys=True, default=str))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--dump", type=Path)
    parser.add_argument("--threads", action="store_true", help="1 vs 2 threads, wall and CPU")
    args = parser.parse_args()
    tune_allocator()  # as alice's workers run
    files = png_corpus(args.count).files
    cands = candidates(files)
    index_file(cands[0])  # imports
    if args.dump:
        dump(cands, args.dump)
        print(f"wrote {args.dump}")
        return
    if args.threads:
        for _ in range(args.repeats):
            for n in (1, 2):
                rate, cpu = threaded(cands, n)
                print(f"{n} thread(s): {rate:.0f} files/s, {cpu:.2f} CPU ms a file")
        return
    print(f"{len(files)} files, CPU ms a file (thread_time), median of {args.repeats}:")
    stages = stage_table(files, args.repeats)
    for name, ms in stages.items():
        print(f"  {name:12s} {ms:7.3f}")
    print(f"  {'sum':12s} {sum(stages.values()):7.3f}")
    runs = whole(cands, args.repeats)
    print("index_file, CPU ms a file:", " ".join(f"{r:.2f}" for r in runs))
    prof = cProfile.Profile()
    prof.enable()
    for cand in cands:
        index_file(cand)
    prof.disable()
    pstats.Stats(prof).sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
