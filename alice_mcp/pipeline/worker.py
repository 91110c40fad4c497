"""What runs in an indexing worker process (processes.py): files in over a pipe, records out.

Kept apart and light: a worker imports this, the indexer and the readers, never the store,
the server or the logging set-up (issue 19: each worker starts in a fraction of a second).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

READY = "ready"  # a worker's first message: it started, so a death from now on is a file's


def serve(conn: Connection, thumb_size: int, stealth: bool, staging: Path | None) -> None:
    """A Candidate in, its Indexed or Failed out, until None comes or the pipe closes. With a
    staging folder, the bytes read are written there and the record names that copy
    (pipeline/staging.py)."""
    with contextlib.suppress(OSError, ValueError, AttributeError):  # stdout may be the MCP
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # transport: nothing of ours there
    sys.stdout = sys.stderr
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C: the run stops us
    from alice_mcp.allocator import tune_allocator
    from alice_mcp.pipeline.indexer import Indexed, index_file
    from alice_mcp.pipeline.staging import stage_copy

    tune_allocator()
    conn.send(READY)
    keep = None if staging is None else _always
    while True:
        try:
            cand = conn.recv()
        except (EOFError, OSError):
            return
        if cand is None:
            return
        item = index_file(cand, thumb_size=thumb_size, stealth=stealth, keep_bytes=keep)
        if staging is not None and isinstance(item, Indexed) and item.data is not None:
            item.staged = stage_copy(item.data, cand.path, staging)
            item.data = None  # never sent back: pickled through the pipe it costs more
        conn.send(item)


def _always(size: int) -> bool:
    return True
