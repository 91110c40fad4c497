"""A read-ahead window over a file: header walks index bytes instead of many tiny reads."""

from __future__ import annotations

from typing import BinaryIO

READ_AHEAD = 4096  # one page; refills start on a multiple of it, in step with file buffers


class Window:
    """Bytes of `fp` around the walk position; refilled (by seeking) only when it runs out."""

    __slots__ = ("base", "data", "fp", "size")

    def __init__(self, fp: BinaryIO, size: int) -> None:
        self.fp, self.size = fp, size
        self.base, self.data = 0, b""

    def get(self, pos: int, n: int) -> bytes:
        """Up to `n` bytes at absolute offset `pos` (fewer at the end of the file)."""
        data, start = self.view(pos, n)
        return data[start : start + n]

    def view(self, pos: int, n: int) -> tuple[bytes, int]:
        """The buffer holding offset `pos` and `pos`'s index in it, refilled unless `n` bytes fit.

        Bytes from the index on are the file's from `pos` on (at least `n` unless the file
        ends first); indexing them saves the slice `get` makes.
        """
        start = pos - self.base
        if start < 0 or start + n > len(self.data):
            base = pos - pos % READ_AHEAD
            self.fp.seek(base)
            # no read-ahead past the end: asking for it costs a second read that finds nothing
            self.data = self.fp.read(max(pos + n - base, min(READ_AHEAD, self.size - base)))
            self.base, start = base, pos - base
        return self.data, start
