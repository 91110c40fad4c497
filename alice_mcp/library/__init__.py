"""Library: the application core. The CLI and the MCP server call its methods and nothing deeper.

One class, assembled from one module per family of use cases, all sharing LibraryBase:
organizing.py (organize, watch, inspect), finding.py (search, stats, get_asset, preview,
similar, duplicates), describing.py (tag, analyze), sidecars.py (XMP sidecars, following
the organized tree, export).
"""

from __future__ import annotations

from alice_mcp.library.describing import Describing
from alice_mcp.library.finding import Finding
from alice_mcp.library.organizing import Organizing
from alice_mcp.library.sidecars import Sidecars

__all__ = ["Library"]


class Library(Organizing, Finding, Describing, Sidecars):
    """One library: its settings, its DuckDB index, its caches and metrics, and every use case."""

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
