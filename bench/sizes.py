"""How big each benchmark is: the full suite, the quick one (< 2 min) and a tiny smoke run."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class Sizes:
    """Every size knob of one run."""

    name: str
    detect_files: int  # per format
    detect_repeats: int
    index_files: int
    index_pool: int  # distinct pictures per generator/format kind and side
    index_repeats: int
    insert_sizes: tuple[int, ...]
    per_row_sample: int  # rows timed one statement each, then scaled
    insert_repeats: int
    tag_assets: int
    tag_repeats: int
    search_sizes: tuple[int, ...]
    search_calls: int
    mcp_size: int
    mcp_calls: int
    mcp_sessions: int  # HTTP: sessions at once (burst and paced)
    mcp_burst_calls: int  # HTTP: calls per session back to back
    mcp_paced_seconds: float  # HTTP: each session calls every 0.5 s for this long
    organize_files: int
    organize_pool: int
    profiles: tuple[str, ...]
    rescan_repeats: int
    semantic_sizes: tuple[int, ...] = ()
    embed_items: int = 256
    executor_files: int = 2_000  # `alice index` on Dask vs local
    executor_repeats: int = 3
    startup_files: int = 400  # the unchanged rescan timed as a whole process
    startup_repeats: int = 7
    e2e_files: int = 400  # `alice` end to end vs the decode floor and phash (issue 19)
    e2e_repeats: int = 3


FULL = Sizes(
    name="full", detect_files=48, detect_repeats=9, index_files=400, index_pool=6,
    index_repeats=5, insert_sizes=(1_000, 100_000), per_row_sample=2_000, insert_repeats=5,
    tag_assets=500, tag_repeats=15, search_sizes=(100_000, 1_000_000), search_calls=40,
    mcp_size=100_000, mcp_calls=50, mcp_sessions=50, mcp_burst_calls=20,
    mcp_paced_seconds=20, organize_files=10_000, organize_pool=6,
    profiles=("memory_constrained", "default", "fast", "large_collection"), rescan_repeats=5,
    semantic_sizes=(100_000, 1_000_000), embed_items=256, executor_files=2_000,
    executor_repeats=3,
)
QUICK = Sizes(
    name="quick", detect_files=12, detect_repeats=3, index_files=128, index_pool=2,
    index_repeats=2, insert_sizes=(1_000, 100_000), per_row_sample=300, insert_repeats=2,
    tag_assets=500, tag_repeats=5, search_sizes=(100_000,), search_calls=12,
    mcp_size=100_000, mcp_calls=15, mcp_sessions=20, mcp_burst_calls=5,
    mcp_paced_seconds=5, organize_files=800, organize_pool=2,
    profiles=("memory_constrained", "default"), rescan_repeats=3,
    semantic_sizes=(100_000,), embed_items=128, executor_files=200, executor_repeats=1,
    startup_repeats=5, e2e_repeats=1,
)
TINY = Sizes(
    name="tiny", detect_files=2, detect_repeats=1, index_files=16, index_pool=1,
    index_repeats=1, insert_sizes=(100, 1_000), per_row_sample=30, insert_repeats=1,
    tag_assets=50, tag_repeats=1, search_sizes=(2_000,), search_calls=3, mcp_size=2_000,
    mcp_calls=3, mcp_sessions=3, mcp_burst_calls=2, mcp_paced_seconds=1, organize_files=24, organize_pool=1,
    profiles=("memory_constrained", "default"), rescan_repeats=1,
    semantic_sizes=(2_000,), embed_items=32, executor_files=16, executor_repeats=1,
    startup_files=24, startup_repeats=1, e2e_files=24, e2e_repeats=1,
)
PRESETS = {s.name: s for s in (FULL, QUICK, TINY)}


def with_overrides(sizes: Sizes, **changes: object) -> Sizes:
    """A preset with some knobs changed from the command line (None means unchanged)."""
    return replace(sizes, **{k: v for k, v in changes.items() if v is not None})
