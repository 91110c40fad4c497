"""What a user waits for (issue 19, deliverable 4): `alice` organizing a fresh library as a whole
process, start-up included, against what no indexer can avoid on the same files in the same run.

The files are the issue's: PNGs of 512x512 with A1111 metadata (textured, so they decode like
renders). The floor is Pillow decoding every file in full in 2 processes (one per core here);
the peer is imagehash.phash in one process, what a user would script. Beside them, alice's own
PNG reader (ISA-L inflate, media/png.py) decoding the same files in 2 processes: the floor a
reader with a faster inflate has. Rounds alternate the runs, the first is a warm-up; each alice
round starts from an empty organized folder and library.
"""

from __future__ import annotations

import compileall
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import imagehash
from PIL import Image

import alice_mcp
from alice_mcp.allocator import tune_allocator
from alice_mcp.media.png import inflate_with_isal
from bench.corpus import CACHE, KINDS, Corpus, expand, write_picture
from bench.memory import clean_env, config_file
from bench.report import Row, rate_row, time_row
from bench.startup import alice_command, children_cpu
from bench.timing import summarize

SIDE = 512
POOL = 40  # distinct pictures; the rest are marked copies (own bytes, own asset id)
FLOOR_PROCESSES = 2
TARGET_RATIO = 0.5  # of the decode floor, issue 19
TARGET_SCALING = 1.8  # 2 workers against 1 on the same files, issue 19


def png_corpus(count: int, root: Path = CACHE) -> Corpus:
    """count A1111 PNGs of SIDE x SIDE (cached under root, rebuilt when the count changes)."""
    folder = root / f"e2e-png-{count}"
    stamp = folder / "count.json"
    if stamp.is_file() and json.loads(stamp.read_text()) == count:
        return Corpus(folder / "inbox", sorted((folder / "inbox").rglob("*.png")))
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "pool").mkdir(parents=True)
    pool = [write_picture(KINDS[0], SIDE, folder / "pool" / f"a1111-{n}.png", 7 * n + 1)
            for n in range(min(POOL, count))]
    files = expand(pool, folder / "inbox", count)
    stamp.write_text(json.dumps(count))
    return Corpus(folder / "inbox", sorted(files))


def _decode(path: Path) -> int:
    with Image.open(path) as img:
        img.load()
        return img.size[0]


def _decode_isal(path: Path) -> int:
    with Image.open(path) as img:
        inflate_with_isal(img)
        img.load()
        return img.size[0]


def _phash(path: Path) -> int:
    with Image.open(path) as img:
        return hash(imagehash.phash(img))


def _floor(files: list[Path], pool: ProcessPoolExecutor,
           decode: Callable[[Path], int] = _decode) -> float:
    started = time.perf_counter()
    for _ in pool.map(decode, files, chunksize=16):
        pass
    return time.perf_counter() - started


def _peer(files: list[Path]) -> float:
    started = time.perf_counter()
    for path in files:
        _phash(path)
    return time.perf_counter() - started


def _alice(corpus: Corpus, workdir: Path, workers: int | None = None,
           cpu: list[float] | None = None, executor: str | None = None) -> float:
    out = workdir / "e2e"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    args = [*alice_command(), "--config", str(config_file(workdir)), "--inbox", str(corpus.inbox),
            "--organized", str(out / "organized"), "--database", str(out / "lib.duckdb"),
            "--json", "-q"]
    env = clean_env() | ({"ALICE_PERFORMANCE__MAX_WORKERS": str(workers)} if workers else {}) \
        | ({"ALICE_PERFORMANCE__EXECUTOR": executor} if executor else {})
    before = children_cpu()
    started = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    took = time.perf_counter() - started
    used = children_cpu()
    if cpu is not None and used is not None and before is not None:
        cpu.append(used - before)
    if done.returncode != 0 or json.loads(done.stdout)["organized"] != len(corpus.files):
        raise RuntimeError(f"alice exited {done.returncode}: {done.stderr[-2000:]}")
    return took


def _index_threads(files: list[Path], threads: int) -> float:
    """index_file over the files in this process on `threads` threads: the per-file work alone
    (no start-up, no placement), what the worker count scales."""
    from alice_mcp.pipeline.indexer import index_file
    from bench.profile_index import candidates  # it imports this module: imported here

    tune_allocator()  # as alice's workers run (once per process)
    cands = candidates(files)
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        for _ in pool.map(index_file, cands):
            pass
    return time.perf_counter() - started


def _index_processes(files: list[Path], workers: int) -> float:
    """The per-file work alone on `workers` worker processes (performance.executor: processes),
    timed from when the workers are up: what their count scales, without the GIL.

    Up means each has answered files: a started worker first imports the parent's main module
    (multiprocessing's spawn preparation), and this benchmark's imports the whole bench (~0.25 s,
    against ~10 ms for `alice`'s): timed from the start, 1.73x instead of 1.86x."""
    import anyio

    from alice_mcp.pipeline.pool import PoolPlan, Watchdog
    from alice_mcp.pipeline.processes import IN_FLIGHT, ProcessPool
    from bench.profile_index import candidates

    cands = candidates(files)
    watchdog = Watchdog(budget=lambda c: 60.0, overdue=lambda c, s: None)

    async def run() -> float:
        async with ProcessPool(workers, thumb_size=256, stealth=False) as pool:
            warm = cands[:IN_FLIGHT * workers]  # each worker is sent IN_FLIGHT of them
            async for _ in pool.map_batches(warm, PoolPlan(len(warm), workers), watchdog):
                pass
            started = time.perf_counter()
            async for _ in pool.map_batches(cands, PoolPlan(100, workers), watchdog):
                pass
            return time.perf_counter() - started
    return anyio.run(run)


def measure(corpus: Corpus, workdir: Path, repeats: int) -> list[Row]:
    """Rows: alice end to end (worker processes, the default) vs the 2-process decode floor,
    imagehash.phash alone, alice's PNG reader, the per-file work on 2 worker processes against 1
    (issue 19's worker scaling), whole runs with 2 workers against 1, and the same with threads
    (performance.executor: local)."""
    files = corpus.files
    # an installed wheel has its bytecode; an editable install under PYTHONDONTWRITEBYTECODE
    # (set on the team's machines) would compile alice's modules in every run (~0.25 s)
    compileall.compile_dir(Path(alice_mcp.__file__).parent, quiet=1)
    threads_cpu: list[float] = []
    runs = {"alice": lambda: _alice(corpus, workdir),
            "floor": lambda: _floor(files, pool),
            "isal": lambda: _floor(files, pool, _decode_isal),
            "phash": lambda: _peer(files), "one": lambda: _alice(corpus, workdir, 1),
            "two": lambda: _alice(corpus, workdir, 2),
            "threads": lambda: _alice(corpus, workdir, cpu=threads_cpu, executor="local"),
            "threads1": lambda: _alice(corpus, workdir, 1, executor="local"),
            "threads2": lambda: _alice(corpus, workdir, 2, executor="local"),
            "index1": lambda: _index_threads(files, 1), "index2": lambda: _index_threads(files, 2),
            "iprocs1": lambda: _index_processes(files, 1),
            "iprocs2": lambda: _index_processes(files, 2)}
    times: dict[str, list[float]] = {name: [] for name in runs}
    with ProcessPoolExecutor(FLOOR_PROCESSES) as pool:
        for round_ in range(repeats + 1):
            for name in (list(runs) if round_ % 2 else list(reversed(runs))):
                took = runs[name]()
                if round_:
                    times[name].append(took)
    rate = {name: summarize([len(files) / t for t in values]) for name, values in times.items()}
    what = (f"{len(files):,} PNGs of {SIDE}x{SIDE} with A1111 metadata "
            f"({sum(p.stat().st_size for p in files) / 2**20:.0f} MB), {os.cpu_count()} cores")
    floor = (f"Pillow decoding every file, {FLOOR_PROCESSES} processes (the floor)", rate["floor"])
    return [
        rate_row("e2e.alice", "`alice` organize end to end, a whole process (start-up, scan, "
                 "index in worker processes, copy with fsync, commit), fresh library, default "
                 f"settings <br>*{what}*", rate["alice"], versus=floor, min_ratio=TARGET_RATIO),
        rate_row("e2e.phash", f"imagehash.phash alone, 1 process <br>*{what}*", rate["phash"],
                 versus=floor),
        rate_row("e2e.isal", "alice's PNG reader decoding every file (ISA-L inflate, Pillow's "
                 f"row unfiltering: media/png.py), {FLOOR_PROCESSES} processes <br>*{what}*",
                 rate["isal"], versus=floor),
        rate_row("e2e.index_processes", "worker scaling: the per-file work on 2 worker "
                 "processes (from when they are up; no start-up, no placement, which no worker "
                 f"does) <br>*{what}*", rate["iprocs2"],
                 versus=("the same on 1 worker process", rate["iprocs1"]),
                 min_ratio=TARGET_SCALING),
        rate_row("e2e.workers", "`alice` organize end to end with performance.max_workers 2 "
                 "(a whole run: its start-up, the workers' start and the last placement are "
                 f"serial, and 1 worker already places on the second core) <br>*{what}*",
                 rate["two"], versus=("the same with 1 worker", rate["one"])),
        rate_row("e2e.threads", "`alice` organize end to end with performance.executor: local "
                 f"(threads instead of worker processes) <br>*{what}*", rate["threads"],
                 versus=floor),
        time_row("e2e.threads_cpu", "the same threads run's CPU time (user + system of the "
                 "process; steadier than its wall time where other work shares the cores)",
                 summarize(threads_cpu[-repeats:])),
        rate_row("e2e.threads_workers", "`alice` organize end to end with threads and "
                 f"max_workers 2 <br>*{what}*", rate["threads2"],
                 versus=("the same with 1 thread", rate["threads1"])),
        rate_row("e2e.index_threads", "the per-file work alone (`index_file` in this process, no "
                 f"start-up, no placement) on 2 threads <br>*{what}*", rate["index2"],
                 versus=("the same on 1 thread", rate["index1"])),
    ]
