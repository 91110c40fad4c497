"""glibc's allocator set up for indexing: big buffers go back to the OS, the rest is reused.

Indexing allocates and frees the same buffers file after file (the file's bytes, decoded rows,
arrays) on several threads. Left alone, glibc raises its mmap threshold (up to 32 MiB) with
every big block freed and the worker threads' heaps keep decoded images (10,000 files,
memory_constrained: 245 MB peak instead of 224). Pinning the mmap threshold alone fixes
that but also pins the trim threshold at 128 KiB, so each heap hands back its free top after
every file and the next one faults it in again, zeroed: ~150-300 page faults a 512x512 PNG,
a tenth of a run's CPU on a virtual machine (issue 19). Both are set: buffers from 2 MiB get
their own mapping, and a heap keeps up to 4 MiB free. Elsewhere (macOS, Windows, musl) and
when the user set glibc's allocator up through its environment, nothing is changed.
"""

from __future__ import annotations

import functools
import os
import sys

MMAP_THRESHOLD = 2 * 2**20  # allocations from this size up get their own mapping
TRIM_THRESHOLD = 4 * 2**20  # bytes a heap keeps free before giving memory back
_M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's <malloc.h>
_M_MMAP_THRESHOLD = -3
_USER_SETTINGS = ("GLIBC_TUNABLES", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_")


@functools.cache
def tune_allocator() -> bool:
    """Set glibc's mmap and trim thresholds once per process; False when nothing was done."""
    if not sys.platform.startswith("linux") or any(os.environ.get(k) for k in _USER_SETTINGS):
        return False
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return False
    except (ValueError, OSError):  # not glibc
        return False
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
