"""glibc's allocator told to keep freed memory for the next file (issue 19).

Indexing allocates and frees the same large buffers file after file (the file's bytes, decoded
rows, arrays) on several threads. By default glibc hands freed memory at the top of each
thread's heap back to the kernel, and the next file faults it in again, page by page, zeroed:
about 500 page faults a 512x512 PNG, a tenth of the run's CPU on a virtual machine. A fixed trim
threshold keeps up to that much free per heap; a fixed mmap threshold keeps buffers under it
on the heaps, where they are reused. Elsewhere (macOS, Windows, musl) nothing is changed.
"""

from __future__ import annotations

import os
import sys

TRIM_THRESHOLD = 8 * 2**20  # bytes a heap keeps free before giving memory back
MMAP_THRESHOLD = 4 * 2**20  # allocations from this size up get their own mapping
_M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's <malloc.h>
_M_MMAP_THRESHOLD = -3
_USER_SETTINGS = ("GLIBC_TUNABLES", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_")


def tune_allocator() -> bool:
    """Set glibc's trim and mmap thresholds; False (nothing done) off glibc, or when the user
    set the allocator up through its environment variables."""
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
    return bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
                and mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
