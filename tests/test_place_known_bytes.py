"""Placing with the bytes the indexer already read (issue 19: each file read once): the copy is
those bytes with the source's times, and a source changed since its scan is refused."""

from __future__ import annotations

import errno
import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from alice_mcp.media.probe import content_hash
from alice_mcp.pipeline.place import SourceChanged, make_durable, put
from alice_mcp.pipeline.pool import ByteBudget


def _png(path: Path, seed: int) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (64, 64, 3)).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, "PNG")
    path.write_bytes(buffer.getvalue())
    return buffer.getvalue()


def _seen(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def test_known_bytes_are_placed_with_the_source_times(tmp_path: Path) -> None:
    src = tmp_path / "in" / "a.png"
    data = _png(src, 1)
    os.utime(src, ns=(1_600_000_000_123_456_789, 1_600_000_000_987_654_321))
    dst = tmp_path / "out" / "00001.png"
    assert put(src, dst, move=False, asset_id=content_hash(data), data=data,
               seen=_seen(src)) is False
    assert make_durable([dst]) == {}
    assert dst.read_bytes() == data and src.read_bytes() == data
    assert dst.stat().st_mtime_ns == 1_600_000_000_987_654_321
    assert sorted(p.name for p in dst.parent.iterdir()) == ["00001.png"]


@pytest.mark.parametrize("move", [False, True])
def test_a_source_rewritten_after_its_scan_is_refused(tmp_path: Path, move: bool) -> None:
    src = tmp_path / "in" / "a.png"
    data = _png(src, 1)
    seen = _seen(src)
    _png(src, 2)  # rewritten after it was scanned and read
    os.utime(src, ns=(seen[1], seen[1] + 1))  # only a nanosecond later, to be strict
    dst = tmp_path / "out" / "00001.png"
    with pytest.raises(SourceChanged) as caught:
        # a move refuses it by hashing its link (the source changed); a copy by its stat
        put(src, dst, move=move, asset_id=content_hash(data), data=data, seen=seen)
    assert caught.value.errno == errno.ESTALE
    assert not dst.exists() and src.exists()
    assert list(dst.parent.iterdir()) == []


def test_the_byte_budget_holds_no_more_than_its_limit_and_small_machines_keep_none() -> None:
    budget = ByteBudget(100)
    assert budget.take(60) and not budget.take(50) and budget.take(40)
    budget.give(60)
    assert budget.take(50) and budget.held == 90
    assert ByteBudget.for_cache(100).limit == 0  # memory_constrained reads twice, holds nothing
    assert ByteBudget.for_cache(512).limit == 64 * 2**20
    assert ByteBudget.for_cache(8192).limit == 128 * 2**20
