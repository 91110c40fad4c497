"""A read-ahead window over a file: header walks index bytes instead of many tiny reads."""

from __future__ import annotations

from typing import BinaryIO

READ_AHEAD = 16 * 1024


class Window:
    """Bytes of `fp` around the walk position; refilled (by seeking) only when it runs out."""

    __slots__ = ("base", "data", "fp", "size")

    def __init__(self, fp: BinaryIO, size: int) -> None:
        self.fp, self.size = fp, size
        self.base, self.data = 0, b""

    def get(self, pos: int, n: int) -> bytes:
        """Up to `n` bytes at absolute offset `pos` (fewer at the end of the file)."""
        start = pos - self.base
        if start < 0 or start + n > len(self.data):
            self.fp.seek(pos)
            self.data = self.fp.read(max(n, READ_AHEAD))
            self.base, start = pos, 0
        return self.data[start : start + n]
