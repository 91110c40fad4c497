"""Destination paths in the organized tree, and placing a file there without ever half-writing it."""

from __future__ import annotations

import errno
import os
import re
import shutil
import uuid
from datetime import datetime
from pathlib import Path, PurePath

from alice_mcp.errors import LayoutError, PlacementError
from alice_mcp.media.probe import hash_file

TEMP_SUFFIX = ".alice-tmp"
DUPLICATES = "_duplicates"  # with move: exact duplicates of organized assets go here, by date
LAYOUT_FIELDS = ("date", "year", "month", "day", "project", "source", "model_family", "stem",
                 "seq", "ext")
_SENTINEL = 987_654_321_012  # stands in for seq to find where the number sits in a file name
_UNSAFE = re.compile(r'[<>:"/\\|?*\x00-\x1f]')
_RESERVED = frozenset({"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
                       *(f"LPT{i}" for i in range(1, 10))})


def safe_component(text: str, limit: int = 80) -> str:
    """A string usable as one folder or file-name part on Windows, macOS and Linux."""
    cleaned = _UNSAFE.sub("_", text).strip().strip(".")[:limit].strip()
    if not cleaned:
        return "_"
    return f"_{cleaned}" if cleaned.split(".")[0].upper() in _RESERVED else cleaned


class Layout:
    """The organized layout pattern, e.g. '{date}/{project}/{source}/{project}-{seq:05d}{ext}'."""

    def __init__(self, pattern: str) -> None:
        if "{seq" not in pattern:
            raise LayoutError(f"layout {pattern!r} has no {{seq}} field; files would collide. "
                              "Add one, e.g. '{project}-{seq:05d}{ext}'")
        self.pattern = pattern
        try:
            probe = self.render(datetime(2000, 1, 2), "p", "s", "f", "stem", _SENTINEL, ".png")
        except (KeyError, ValueError, IndexError) as exc:
            raise LayoutError(f"layout {pattern!r} is invalid ({exc}); fields: "
                              f"{', '.join(LAYOUT_FIELDS)}") from None
        if str(_SENTINEL) not in probe.name:
            raise LayoutError(f"layout {pattern!r}: {{seq}} must be in the file name, not a folder")

    def render(self, when: datetime, project: str, source: str, family: str, stem: str,
                seq: int, ext: str) -> PurePath:
        values = {"date": when.strftime("%Y-%m-%d"), "year": f"{when.year:04d}",
                  "month": f"{when.month:02d}", "day": f"{when.day:02d}",
                  "project": safe_component(project), "source": safe_component(source),
                  "model_family": safe_component(family), "stem": safe_component(stem),
                  "ext": ext.lower()}
        rel = PurePath(self.pattern.format(seq=seq, **values))
        if rel.is_absolute() or ".." in rel.parts:
            raise LayoutError(f"layout {self.pattern!r} leaves the organized folder")
        return rel

    def name_regex(self, name_with_sentinel: str) -> re.Pattern[str]:
        head, _, tail = name_with_sentinel.partition(str(_SENTINEL))
        return re.compile(re.escape(head) + r"(\d+)" + re.escape(tail) + r"\Z")


class Planner:
    """Hands out destinations with the next free sequence number of each folder."""

    def __init__(self, root: Path, layout: Layout) -> None:
        self.root = root
        self.layout = layout
        self._next: dict[tuple[Path, str], int] = {}
        self._taken: set[Path] = set()  # duplicate destinations handed out in this run

    def destination(self, *, when: datetime, project: str, source: str, ext: str,
                    stem: str = "", model_family: str | None = None) -> Path:
        family = model_family or "unknown"
        probe = self.layout.render(when, project, source, family, stem, _SENTINEL, ext)
        folder = self.root / probe.parent
        key = (folder, probe.name)
        if key not in self._next:
            self._next[key] = _highest_seq(folder, self.layout.name_regex(probe.name)) + 1
        seq = self._next[key]
        self._next[key] = seq + 1
        return self.root / self.layout.render(when, project, source, family, stem, seq, ext)

    def duplicate_destination(self, when: datetime, name: str) -> Path:
        """<root>/_duplicates/<date>/<name>, numbered (-1, -2...) if that name is taken."""
        folder = self.root / DUPLICATES / when.astimezone().strftime("%Y-%m-%d")
        stem, ext = os.path.splitext(safe_component(name, 120))
        for n in range(1_000_000):
            dst = folder / (f"{stem}-{n}{ext}" if n else f"{stem}{ext}")
            if dst not in self._taken and not dst.exists():
                self._taken.add(dst)
                return dst
        raise PlacementError(errno.EEXIST, "no free name for a duplicate", str(folder))


def _highest_seq(folder: Path, pattern: re.Pattern[str]) -> int:
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return 0
    return max((int(m.group(1)) for n in names if (m := pattern.match(n))), default=0)


def place(src: Path, dst: Path, *, move: bool, asset_id: str) -> None:
    """Copy (or move) src to dst; dst never exists half-written and is never overwritten."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists():
        raise PlacementError(errno.EEXIST, "destination already exists", str(dst))
    if move:
        try:
            os.rename(src, dst)  # atomic on one filesystem
            return
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
    _copy_via_temp(src, dst)
    if move:
        if hash_file(dst) != asset_id:
            raise PlacementError(errno.EIO, "copy differs from the source; source kept", str(dst))
        os.unlink(src)


def _copy_via_temp(src: Path, dst: Path) -> None:
    tmp = dst.with_name(f".{dst.name}.{uuid.uuid4().hex[:8]}{TEMP_SUFFIX}")
    try:
        with src.open("rb") as fin, tmp.open("xb") as fout:
            shutil.copyfileobj(fin, fout, 1 << 20)
            fout.flush()
            os.fsync(fout.fileno())
        shutil.copystat(src, tmp)
        if dst.exists():
            raise PlacementError(errno.EEXIST, "destination already exists", str(dst))
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
