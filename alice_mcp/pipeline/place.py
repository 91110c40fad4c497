"""Destination paths in the organized tree, and placing a file there without ever half-writing it."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import string
import sys
import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path, PurePath

from alice_mcp.errors import LayoutError, PlacementError
from alice_mcp.media.probe import HASH_DIGEST_SIZE, hash_file, open_regular

TEMP_SUFFIX = ".alice-tmp"
DUPLICATES = "_duplicates"  # with move: exact duplicates of organized assets go here, by date
LAYOUT_FIELDS = ("date", "year", "month", "day", "project", "source", "model_family", "stem",
                 "seq", "ext")
MAX_FIELD_WIDTH = 64  # widths in the layout's format specs, e.g. {seq:05d}
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
        _check_widths(pattern)
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


def _check_widths(pattern: str) -> None:
    """Refuse a field width no file name can use ('{seq:0999999999d}' would build a 1 GB name)."""
    try:
        fields = [spec for _, _, spec, _ in string.Formatter().parse(pattern) if spec]
    except ValueError as exc:
        raise LayoutError(f"layout {pattern!r} is invalid ({exc})") from None
    for spec in fields:
        if any(int(n) > MAX_FIELD_WIDTH for n in re.findall(r"\d+", spec)):
            raise LayoutError(f"layout {pattern!r}: a field width over {MAX_FIELD_WIDTH} "
                              "characters cannot fit in a file name")


class Planner:
    """Hands out destinations with the next free sequence number of each folder."""

    def __init__(self, root: Path, layout: Layout) -> None:
        self.root = root
        self.layout = layout
        self._next: dict[tuple[Path, str], int] = {}
        self._taken: set[Path] = set()  # duplicate destinations handed out in this run

    def destination(self, *, when: datetime, project: str, source: str, ext: str,
                    stem: str = "", model_family: str | None = None,
                    taken: bool = False) -> Path:
        """The next destination; taken=True after another writer took one: look again."""
        family = model_family or "unknown"
        probe = self.layout.render(when, project, source, family, stem, _SENTINEL, ext)
        folder = self.root / probe.parent
        key = (folder, probe.name)
        if key not in self._next or taken:
            highest = _highest_seq(folder, self.layout.name_regex(probe.name))
            self._next[key] = max(self._next.get(key, 0), highest + 1)
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


class DestinationTaken(PlacementError):
    """Another writer holds the destination name: pick the next sequence number and retry."""


class SourceChanged(PlacementError):
    """The source's bytes are no longer those that were indexed: index it again next run."""


_NO_LINK = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.EACCES}


def place(src: Path, dst: Path, *, move: bool, asset_id: str) -> str | None:
    """Copy (or move) src to dst; dst never exists half-written and is never overwritten.

    One file on its own: put it, make it durable, then (move) remove the source. organize does
    the three steps a batch at a time (one durability point a batch). Returns a note when a
    moved file was placed but its source could not be removed (the source then stays,
    recorded as a copy).
    """
    linked = put(src, dst, move=move, asset_id=asset_id)
    failed = make_durable([dst])
    if failed:
        withdraw(dst)
        raise failed[dst]
    return release_source(src, asset_id, linked=linked) if move else None


def put(src: Path, dst: Path, *, move: bool, asset_id: str, data: bytes | None = None,
        seen: tuple[int, int] | None = None, staged: Path | None = None) -> bool:
    """Give dst the bytes of src, not yet durable (make_durable does that, for a whole batch).

    The final name is claimed atomically (a hard link, or an O_EXCL create): a name another
    writer holds raises DestinationTaken. The placed bytes are hashed (while copying, or after
    linking) and must be asset_id, else SourceChanged. With move on one filesystem, dst is a
    hard link to src (True is returned); the source is removed later, by release_source.

    With data (the bytes the indexer read, whose hash is asset_id) and seen (the source's size
    and mtime_ns when it was scanned, before they were read), those bytes are written instead
    of reading the source again, and a source whose size or mtime changed since is refused
    (SourceChanged). With staged (those bytes already written, by write_copy, on dst's
    filesystem) and seen, the staged file takes the name dst; it is removed once placed or
    refused, kept when the name was taken (for the next one), and if it is gone the source is
    copied instead.
    """
    dst.parent.mkdir(parents=True, exist_ok=True)
    if os.path.lexists(dst):
        raise DestinationTaken(errno.EEXIST, "destination already exists", str(dst))
    if move and _link_move(src, dst, asset_id):
        return True
    if staged is not None and seen is not None and _claim_staged(staged, src, dst, seen):
        return False
    tmp = dst.with_name(f".{dst.name}.{uuid.uuid4().hex[:8]}{TEMP_SUFFIX}")
    try:
        if data is not None and seen is not None:
            write_copy(data, src, tmp)
            if not _unchanged(src, seen):
                raise _changed(src)
        elif _copy_hashing(src, tmp) != asset_id:
            raise _changed(src)
        _claim(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    return False


def _claim_staged(staged: Path, src: Path, dst: Path, seen: tuple[int, int]) -> bool:
    """Give the staged copy the name dst (True); False when it is gone, or on another
    filesystem than dst (a folder of the tree mounted apart): the source is copied instead."""
    if not _unchanged(src, seen):
        staged.unlink(missing_ok=True)
        raise _changed(src)
    try:
        _claim(staged, dst)
    except FileNotFoundError:
        if staged.exists():
            raise
        return False
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        staged.unlink(missing_ok=True)
        return False
    staged.unlink(missing_ok=True)
    return True


def _changed(src: Path) -> SourceChanged:
    return SourceChanged(errno.ESTALE, "file changed while organizing; it is indexed again on "
                         "the next run", str(src))


def _unchanged(src: Path, seen: tuple[int, int]) -> bool:
    """The source still has the size and mtime it had when it was scanned."""
    st = os.stat(src)
    return (st.st_size, st.st_mtime_ns) == seen


def make_durable(paths: Sequence[Path]) -> dict[Path, OSError]:
    """fsync each placed file, then each folder holding them once (their names); the files
    whose fsync failed, with why. One call a batch: the journal rows of the batch are closed,
    and moved sources removed, only after it."""
    failed: dict[Path, OSError] = {}
    for path in paths:
        try:
            fd = os.open(path, os.O_RDWR if sys.platform == "win32" else os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            failed[path] = exc
    if sys.platform != "win32":  # folders cannot be opened there (NTFS journals names)
        for folder in dict.fromkeys(p.parent for p in paths if p not in failed):
            with contextlib.suppress(OSError):  # names are journaled with the data on ext4
                fd = os.open(folder, os.O_RDONLY)  # and XFS; elsewhere it is best effort
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
    return failed


def withdraw(dst: Path) -> None:
    """Take back a placement that did not become durable: our own copy or link at dst."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(dst)


def release_source(src: Path, asset_id: str, *, linked: bool) -> str | None:
    """After a move's copy is durable: remove the source, unless it changed since it was
    copied (both are then kept, and the note says so). A hard link shares the bytes."""
    if not linked:
        try:
            changed = hash_file(src) != asset_id
        except FileNotFoundError:
            return None  # gone already: nothing left to remove
        except OSError as exc:
            return f"placed, but cannot read the source {src} again: {exc}; it was kept"
        if changed:
            return f"{src} changed after it was copied; the source was kept"
    return _remove_source(src)


def _link_move(src: Path, dst: Path, asset_id: str) -> bool:
    """Move by hard link + verify on one filesystem; False when links cannot be made here."""
    try:
        os.link(src, dst, follow_symlinks=False)
    except FileExistsError:
        raise DestinationTaken(errno.EEXIST, "destination already exists", str(dst)) from None
    except (AttributeError, NotImplementedError):
        return False
    except OSError as exc:
        if exc.errno == errno.EXDEV or exc.errno in _NO_LINK:
            return False
        raise
    try:
        same = hash_file(dst) == asset_id
    except OSError:
        os.unlink(dst)
        raise
    if not same:
        os.unlink(dst)  # our own link: the source keeps its (changed) bytes
        raise SourceChanged(errno.ESTALE, "file changed while organizing; it is indexed "
                            "again on the next run", str(src))
    return True


def _remove_source(src: Path) -> str | None:
    try:
        os.unlink(src)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"placed, but cannot remove the source {src}: {exc.strerror or exc}"
    return None


CHUNK = 1 << 20
_ZEROS = bytes(CHUNK)


def _copy_hashing(src: Path, tmp: Path) -> str:
    """Copy src to a new temporary file (times kept); the hash of the bytes copied.

    A chunk of zeros is skipped over instead of written, so a sparse source (a 4 GB disk image
    of holes) stays sparse where the filesystem keeps holes, and is written whole elsewhere."""
    digest = hashlib.blake2b(digest_size=HASH_DIGEST_SIZE)
    with open_regular(src) as fin, tmp.open("xb") as fout:
        size = 0
        while chunk := fin.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            if _all_zero(chunk):
                fout.seek(len(chunk), os.SEEK_CUR)
            else:
                fout.write(chunk)
        fout.truncate(size)  # a trailing hole still counts in the size
    shutil.copystat(src, tmp)
    return digest.hexdigest()


def write_copy(data: bytes, src: Path, tmp: Path) -> None:
    """Write bytes already read from src (and hashed) to the new file tmp, with src's times;
    chunks of zeros are skipped over, as _copy_hashing does."""
    with tmp.open("xb") as fout:
        for start in range(0, len(data), CHUNK):
            chunk = data[start:start + CHUNK]  # the object itself for a file of one chunk
            if _all_zero(chunk):
                fout.seek(len(chunk), os.SEEK_CUR)
            else:
                fout.write(chunk)
        fout.truncate(len(data))
    shutil.copystat(src, tmp)


def _all_zero(chunk: bytes) -> bool:
    """One comparison for a whole chunk (stops at the first byte that is not zero); a short
    (last) chunk with a byte that is not zero at either end is answered without a scan."""
    if len(chunk) == CHUNK:
        return chunk == _ZEROS
    return not chunk or (chunk[0] == 0 == chunk[-1] and chunk.count(0) == len(chunk))


def _claim(tmp: Path, dst: Path) -> None:
    """Give tmp the name dst only if nobody holds it: a hard link, else an O_EXCL placeholder
    replaced by tmp (filesystems without hard links; on Windows rename never overwrites)."""
    try:
        os.link(tmp, dst, follow_symlinks=False)
        return
    except FileExistsError:
        raise DestinationTaken(errno.EEXIST, "destination already exists", str(dst)) from None
    except (AttributeError, NotImplementedError):
        pass
    except OSError as exc:
        if exc.errno not in _NO_LINK:
            raise
    if sys.platform == "win32":
        try:
            os.rename(tmp, dst)  # fails on an existing name on Windows
        except FileExistsError:
            raise DestinationTaken(errno.EEXIST, "destination already exists",
                                   str(dst)) from None
        return
    try:
        os.close(os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    except FileExistsError:
        raise DestinationTaken(errno.EEXIST, "destination already exists", str(dst)) from None
    try:
        os.replace(tmp, dst)  # replaces only our own empty placeholder
    except OSError:
        with contextlib.suppress(OSError):
            if os.stat(dst).st_size == 0:
                os.unlink(dst)  # our placeholder: no final name without its bytes
        raise
