"""Copy mode keeps a sparse file sparse (a 4 GB file of holes was written as 4.1 GB), with the
same bytes and hash, where the filesystem keeps holes."""

from __future__ import annotations

import os
from pathlib import Path

from alice_mcp.media.probe import hash_file
from alice_mcp.pipeline.place import place

SIZE = 96 * 1024 * 1024
HEAD = b"\x89PNG\r\n\x1a\n" + os.urandom(3000)
TAIL = os.urandom(5000)


def allocated(path: Path) -> int:
    return os.stat(path).st_blocks * 512


def test_a_sparse_file_is_copied_sparse(tmp_path: Path) -> None:
    src = tmp_path / "in" / "sparse.png"
    src.parent.mkdir()
    with src.open("wb") as out:
        out.write(HEAD)
        out.seek(SIZE // 2)
        out.write(TAIL)  # data in the middle too, at an offset that is not chunk-aligned
        out.truncate(SIZE)  # and a trailing hole
    if not hasattr(os.stat_result, "st_blocks") or allocated(src) > SIZE // 4:
        print(f"this filesystem does not keep holes ({allocated(src)} bytes allocated for a "
              f"{SIZE}-byte file of holes): nothing to check")
        return
    dst = tmp_path / "out" / "00001.png"
    asset_id = hash_file(src)
    place(src, dst, move=False, asset_id=asset_id)  # it verifies the hash of what it wrote
    assert dst.stat().st_size == SIZE and hash_file(dst) == asset_id
    assert allocated(dst) < 4 * 1024 * 1024, allocated(dst)  # not 96 MB
    with dst.open("rb") as fp:
        assert fp.read(len(HEAD)) == HEAD
        fp.seek(SIZE // 2)
        assert fp.read(len(TAIL)) == TAIL
