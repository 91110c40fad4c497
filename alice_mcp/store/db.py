"""DuckDB connections for one library: schema, transactions, and waiting on another process's lock."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import structlog

from alice_mcp.errors import LibraryBusy, StoreError
from alice_mcp.store.schema import apply_schema, schema_is_current

log = structlog.get_logger(__name__)
T = TypeVar("T")
# DuckDB cannot spill the ART indexes a statement writes or probes: below their size, inserts and
# searches fail with "Out of Memory". A memory limit is raised to 96 bytes a row of the library
# plus a little headroom. A page's three lookups run at once: at 64 bytes a row they failed 1 search
# in 12 on 100k assets ("failed to pin block"), at 96 none in 24.
INDEX_BYTES_PER_ROW = 96
MEMORY_HEADROOM_MB = 32
REFIT_SECONDS = 10.0
LOOKUP_THREADS = 2
_LOCK_PID = re.compile(r"held in (?P<exe>.*?) \(PID (?P<pid>\d+)\)")


class Database:
    """One DuckDB file (or an in-memory database) with the alice schema applied."""

    def __init__(self, path: Path | None, *, read_only: bool = False,
                 lock_timeout: float = 10.0, memory_limit_mb: int | None = None) -> None:
        self.path = path
        self.read_only = read_only
        self.lock_timeout = lock_timeout
        self.memory_limit_mb = memory_limit_mb  # None: DuckDB's default, 80% of the RAM
        self._fitted_at = 0.0
        self._conn: duckdb.DuckDBPyConnection | None = None
        self._lock = threading.RLock()
        self._active = 0
        self._last_used = time.monotonic()
        self._lookups: ThreadPoolExecutor | None = None
        self._lookups_busy = 0
        self._released_stamp: tuple[object, ...] | None = None
        self._outside_writes = 0

    @property
    def conn(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            return self._connection()

    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._conn is None:
            self._note_outside_writes()
            self._released_stamp = None
            self._conn = self._open()
        return self._conn

    def outside_writes(self) -> int:
        """How many times the file was found changed after this process let go of it (another
        process wrote): caches of what it holds are stale when this number moves. A stat of
        the file and its WAL, only while released; no lock while open (none writes it then)."""
        if self._conn is not None:
            return self._outside_writes
        with self._lock:
            self._note_outside_writes()
            return self._outside_writes

    def _note_outside_writes(self) -> None:
        if self._conn is None and self._released_stamp is not None:
            now = self._file_stamp()
            if now != self._released_stamp:
                self._released_stamp = now
                self._outside_writes += 1

    def _file_stamp(self) -> tuple[object, ...]:
        """Size, times and inode of the file and its WAL: any commit changes one of them."""
        assert self.path is not None
        found: list[object] = []
        for path in (self.path, self.path.with_name(self.path.name + ".wal")):
            try:
                st = path.stat()
                found.append((st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino))
            except OSError:
                found.append(None)
        return tuple(found)

    def acquire(self) -> duckdb.DuckDBPyConnection:
        """A cursor of its own for one thread (DuckDB connections are not shared across threads);
        hand it back with release(). While any cursor is out, the database stays open."""
        with self._lock:
            conn = self._connection()
            if time.monotonic() - self._fitted_at > REFIT_SECONDS:
                self._fit_memory(conn)
            cur = conn.cursor()
            self._active += 1
            return cur

    def release(self, cur: duckdb.DuckDBPyConnection) -> None:
        with self._lock:
            cur.close()
            self._active -= 1
            self._last_used = time.monotonic()

    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        cur = self.acquire()
        try:
            yield cur
        finally:
            self.release(cur)

    def fetchall(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run one read on a cursor of its own (safe from any thread) and return its rows."""
        with self.cursor() as cur:
            return cur.execute(sql, params or []).fetchall()

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Run fn(*args) on one of two lookup threads of this database (started on first use),
        for reads that a caller overlaps with its own. When both are busy (other readers are
        running), run it in the caller's thread now: concurrent readers never queue behind
        each other's lookups."""
        with self._lock:
            if self._lookups is None:
                self._lookups = ThreadPoolExecutor(max_workers=LOOKUP_THREADS,
                                                   thread_name_prefix="alice-lookup")
            pooled = self._lookups_busy < LOOKUP_THREADS
            if pooled:
                self._lookups_busy += 1
                future = self._lookups.submit(fn, *args)
        if pooled:
            future.add_done_callback(self._lookup_done)
            return future
        inline: Future[T] = Future()
        try:
            inline.set_result(fn(*args))
        except Exception as exc:  # handed to the caller by result(), as a pooled one would be
            inline.set_exception(exc)
        return inline

    def _lookup_done(self, _: Future[Any]) -> None:
        with self._lock:
            self._lookups_busy -= 1

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor inside BEGIN ... COMMIT, rolled back if the block raises."""
        with self.cursor() as cur:
            cur.execute("BEGIN TRANSACTION")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")

    def release_if_idle(self, idle_seconds: float) -> bool:
        """Close the file if no cursor is out and none was for idle_seconds, so another process
        (an `alice` command next to the MCP server) can open the library. Reopens on next use."""
        with self._lock:
            if (self._conn is None or self._active or self.path is None
                    or time.monotonic() - self._last_used < idle_seconds):
                return False
            self._conn.close()
            self._conn = None
            self._released_stamp = self._file_stamp()
            log.debug("database released while idle", path=str(self.path))
            return True

    def _fit_memory(self, conn: duckdb.DuckDBPyConnection) -> None:
        """Apply memory_limit_mb, raised to what the library's indexes need in memory; beyond it
        DuckDB spills to a temporary folder. Applied after opening, when the size is known."""
        self._fitted_at = time.monotonic()
        if self.memory_limit_mb is None:
            return
        rows = conn.execute("SELECT coalesce(sum(estimated_size), 0) FROM duckdb_tables()").fetchone()[0]
        needed = MEMORY_HEADROOM_MB + rows * INDEX_BYTES_PER_ROW // 2**20
        if needed > self.memory_limit_mb:
            log.debug("memory limit raised for the library's indexes", configured=self.memory_limit_mb,
                      applied=needed, rows=rows)
        conn.execute(f"SET memory_limit = '{max(self.memory_limit_mb, needed)}MiB'")

    def close(self) -> None:
        """Wait for running lookups, then close the file. The wait is outside the lock: a
        lookup hands its cursor back under that lock, so holding it here would deadlock."""
        with self._lock:
            lookups, self._lookups = self._lookups, None
        if lookups is not None:
            lookups.shutdown(wait=True)
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _open(self) -> duckdb.DuckDBPyConnection:
        if self.path is None or (self.read_only and not self.path.exists()):
            conn = duckdb.connect(":memory:")
            apply_schema(conn)
            self._fit_memory(conn)
            return conn
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists() and not self.path.is_file():  # a FIFO would block open() forever
            raise StoreError(f"the library database {self.path} is not a regular file; point "
                             "--database (paths.database) at a .duckdb file")
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.05
        while True:
            try:
                conn = duckdb.connect(str(self.path), read_only=self.read_only)
                break
            except duckdb.IOException as exc:
                match = _LOCK_PID.search(str(exc))
                if match is None:
                    raise StoreError(f"cannot open the library database {self.path}: {exc}") from None
                if time.monotonic() >= deadline:
                    raise LibraryBusy(_locked_message(self.path, match, self.lock_timeout)) from None
                if delay == 0.05:
                    log.info("library busy, waiting for the other process", pid=match["pid"],
                             path=str(self.path), seconds=self.lock_timeout)
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
        if not self.read_only:
            apply_schema(conn)
        elif not schema_is_current(conn):
            conn.close()
            conn = self._upgraded_then_read_only()
        self._fit_memory(conn)
        return conn

    def _upgraded_then_read_only(self) -> duckdb.DuckDBPyConnection:
        """A library last written by an older alice, opened to read: bring its schema up to
        date once (a writable open does the same; one holding the file has done it already),
        then open it read-only again."""
        assert self.path is not None
        try:
            with duckdb.connect(str(self.path)) as writable:
                apply_schema(writable)
        except duckdb.Error as exc:
            raise StoreError(f"the library {self.path} was written by an older alice-mcp and "
                             f"cannot be upgraded now ({exc}); run `alice` (organize) once "
                             "with write access to it, then try again") from None
        log.info("library schema upgraded", path=str(self.path))
        return duckdb.connect(str(self.path), read_only=True)


def _locked_message(path: Path, match: re.Match[str], waited: float) -> str:
    return (
        f"the library {path} is in use by another process (PID {match['pid']}, {match['exe']}); "
        f"waited {waited:g} s. Stop that process (an `alice mcp-server` started by Claude Desktop "
        "quits with the app), or use another library with --database, then try again"
    )
