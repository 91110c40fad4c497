"""DuckDB connections for one library: schema, transactions, and waiting on another process's lock."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import structlog

log = structlog.get_logger(__name__)

SCHEMA_VERSION = 1
_LOCK_PID = re.compile(r"held in (?P<exe>.*?) \(PID (?P<pid>\d+)\)")


class StoreError(RuntimeError):
    """The index could not be opened or written."""


class DatabaseLockedError(StoreError):
    """Another process holds the library's database; the message names it and what to do."""


class Database:
    """One DuckDB file (or an in-memory database) with the alice schema applied."""

    def __init__(self, path: Path | None, *, read_only: bool = False,
                 lock_timeout: float = 10.0) -> None:
        self.path = path
        self.read_only = read_only
        self.lock_timeout = lock_timeout
        self._conn: duckdb.DuckDBPyConnection | None = None
        self._lock = threading.Lock()

    @property
    def conn(self) -> duckdb.DuckDBPyConnection:
        if self._conn is None:
            self._conn = self._open()
        return self._conn

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor of its own for one thread; DuckDB connections are not shared across threads."""
        with self._lock:
            return self.conn.cursor()

    def fetchall(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run one read on a cursor of its own (safe from any thread) and return its rows."""
        cur = self.cursor()
        try:
            return cur.execute(sql, params or []).fetchall()
        finally:
            cur.close()

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor inside BEGIN ... COMMIT, rolled back if the block raises."""
        cur = self.cursor()
        cur.execute("BEGIN TRANSACTION")
        try:
            yield cur
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        else:
            cur.execute("COMMIT")
        finally:
            cur.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _open(self) -> duckdb.DuckDBPyConnection:
        if self.path is None or (self.read_only and not self.path.exists()):
            conn = duckdb.connect(":memory:")
            _apply_schema(conn)
            return conn
        self.path.parent.mkdir(parents=True, exist_ok=True)
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
                    raise DatabaseLockedError(_locked_message(self.path, match, self.lock_timeout)) from None
                log.info("database busy, waiting", path=str(self.path), pid=match["pid"])
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
        if not self.read_only:
            _apply_schema(conn)
        return conn


def _apply_schema(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    found = conn.execute("SELECT max(version) FROM schema_version").fetchone()[0]
    if found is not None and found > SCHEMA_VERSION:
        raise StoreError(f"the database was written by a newer alice-mcp (schema {found}); "
                         "upgrade alice-mcp to open it")
    if found is None:
        sql = resources.files("alice_mcp.store").joinpath("schema.sql").read_text("utf-8")
        conn.execute(sql)
        conn.execute("INSERT INTO schema_version VALUES (?)", [SCHEMA_VERSION])


def _locked_message(path: Path, match: re.Match[str], waited: float) -> str:
    return (
        f"the library {path} is in use by another process (PID {match['pid']}, {match['exe']}); "
        f"waited {waited:g} s. Stop that process (an `alice mcp-server` started by Claude Desktop "
        "quits with the app), or use another library with --database, then try again"
    )
