"""What runs in an indexing worker process (processes.py): files in over a pipe, records out.

Kept apart and light: a worker imports this, the indexer and the readers, never the store,
the server or the logging set-up (issue 19: each worker starts in a fraction of a second).
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from multiprocessing.connection import Connection


def serve(conn: Connection, thumb_size: int, stealth: bool) -> None:
    """A Candidate in, its Indexed or Failed out, until None comes or the pipe closes."""
    with contextlib.suppress(OSError, ValueError, AttributeError):  # stdout may be the MCP
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # transport: nothing of ours there
    sys.stdout = sys.stderr
    from alice_mcp.allocator import tune_allocator
    from alice_mcp.pipeline.indexer import index_file

    tune_allocator()
    while True:
        try:
            cand = conn.recv()
        except (EOFError, OSError):
            return
        if cand is None:
            return
        conn.send(index_file(cand, thumb_size=thumb_size, stealth=stealth))
