"""glibc's allocator tuned for indexing (alice_mcp/allocator.py): freed memory is reused by the
next file instead of being faulted in again, and nothing is changed where it does not apply."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from alice_mcp import allocator
from alice_mcp.allocator import tune_allocator


def _glibc() -> bool:
    try:
        return sys.platform.startswith("linux") and bool(os.confstr("CS_GNU_LIBC_VERSION"))
    except (ValueError, OSError):
        return False


def test_nothing_changed_off_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    for platform in ("darwin", "win32"):
        monkeypatch.setattr(allocator.sys, "platform", platform)
        assert tune_allocator.__wrapped__() is False


@pytest.mark.parametrize("key", ["GLIBC_TUNABLES", "MALLOC_TRIM_THRESHOLD_",
                                 "MALLOC_MMAP_THRESHOLD_"])
def test_the_users_own_allocator_settings_win(monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    monkeypatch.setenv(key, "glibc.malloc.trim_threshold=0" if key == "GLIBC_TUNABLES" else "0")
    assert tune_allocator.__wrapped__() is False


_INDEX_ON_THREADS = textwrap.dedent("""
    import resource, sys
    from concurrent.futures import ThreadPoolExecutor
    from pathlib import Path
    from alice_mcp.allocator import tune_allocator
    from alice_mcp.pipeline.indexer import index_file
    from alice_mcp.pipeline.scan import Candidate

    if sys.argv[1] == "mmap-only":  # what alice did before: big buffers back to the OS
        import ctypes
        from alice_mcp import allocator
        ctypes.CDLL(None).mallopt(allocator._M_MMAP_THRESHOLD, allocator.MMAP_THRESHOLD)
    tuned = sys.argv[1] == "tuned" and tune_allocator()
    files = sorted(Path(sys.argv[2]).glob("*.png"))
    found = [Candidate(p, p.stat().st_size, p.stat().st_mtime_ns, "uncategorized", "image")
             for p in files]
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(index_file, found[:4]))  # heaps grown, modules loaded
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        list(pool.map(index_file, found))
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    print(tuned, faults / len(found))
""")


@pytest.mark.skipif(not _glibc(), reason="the allocator is tuned only on glibc (Linux)")
def test_indexing_on_threads_reuses_freed_memory(tmp_path: Path) -> None:
    rng = np.random.default_rng(19)
    for n in range(24):  # textured 512x512 renders: ~1 MB decoded, ~0.6 MB of file bytes each
        noise = rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)
        Image.fromarray(noise // 4 + np.uint8(n * 7)).save(tmp_path / f"{n:02}.png")

    def faults_a_file(mode: str) -> float:
        done = subprocess.run([sys.executable, "-c", _INDEX_ON_THREADS, mode, str(tmp_path)],
                              capture_output=True, text=True, check=True, timeout=120)
        tuned, per_file = done.stdout.split()
        assert tuned == str(mode == "tuned")
        return float(per_file)

    default, mmap_only = faults_a_file("default"), faults_a_file("mmap-only")
    tuned = faults_a_file("tuned")
    # measured here: ~150-300 page faults a file with glibc's defaults or the mmap threshold
    # alone, ~4 tuned
    assert tuned < min(default, mmap_only) / 4, (tuned, default, mmap_only)
