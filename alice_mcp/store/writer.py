"""BatchWriter: the only writer of the pipeline, draining a stream of rows into batched inserts.

A batch is one INSERT ... SELECT statement (DuckDB's executemany runs one statement per row
and is no faster than a loop). Its rows travel as numpy columns that DuckDB scans directly
(numbers and timestamps without per-value conversion); a batch holding a value that cannot
travel that way exactly (a naive datetime, an int beyond 64 bits, ...) goes as one
unnest(list) per column instead. If a batch fails, the transaction is rolled
back, the earlier batches of that transaction are replayed, and the failed batch's rows are
retried one by one so one bad row never loses the others.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import anyio
import duckdb
import numpy as np
import structlog
from anyio.streams.memory import MemoryObjectReceiveStream

from alice_mcp.store.db import Database

log = structlog.get_logger(__name__)

Table = Literal["assets", "files", "thumbnails", "journal", "delete_files", "journal_done"]
_DELETES = {"delete_files": ("files", "path"), "journal_done": ("journal", "op_id")}


@dataclass(frozen=True, slots=True)
class TableSpec:
    """How rows of one table are written: columns with their SQL types, key, conflict action."""

    name: str
    columns: tuple[tuple[str, str], ...]
    key: str
    on_conflict: str

    def row_sql(self) -> str:
        names = ", ".join(c for c, _ in self.columns)
        marks = ", ".join(f"?::{t}" for _, t in self.columns)
        return f"INSERT INTO {self.name} ({names}) VALUES ({marks}) {self.on_conflict}"


ASSETS = TableSpec(
    "assets",
    (("asset_id", "VARCHAR"), ("media_type", "VARCHAR"), ("mime", "VARCHAR"), ("bytes", "BIGINT"),
     ("width", "INTEGER"), ("height", "INTEGER"), ("duration_s", "DOUBLE"), ("codec", "VARCHAR"),
     ("created_at", "TIMESTAMPTZ"),
     ("source", "VARCHAR"), ("source_name", "VARCHAR"), ("confidence", "DOUBLE"),
     ("model", "VARCHAR"), ("model_family", "VARCHAR"), ("prompt", "VARCHAR"),
     ("negative_prompt", "VARCHAR"), ("seed", "BIGINT"), ("steps", "INTEGER"),
     ("sampler", "VARCHAR"), ("scheduler", "VARCHAR"), ("cfg", "DOUBLE"), ("loras", "VARCHAR[]"),
     ("params", "JSON"), ("phash", "BIGINT"), ("dhash", "BIGINT"), ("quality", "DOUBLE"),
     ("stars", "TINYINT"), ("project", "VARCHAR"), ("errors", "VARCHAR"),
     ("indexed_at", "TIMESTAMPTZ")),
    "asset_id",
    "ON CONFLICT (asset_id) DO NOTHING",
)
FILES = TableSpec(
    "files",
    (("path", "VARCHAR"), ("asset_id", "VARCHAR"), ("size", "BIGINT"), ("mtime_ns", "BIGINT"),
     ("role", "VARCHAR"), ("seen_at", "TIMESTAMPTZ")),
    "path",
    "ON CONFLICT (path) DO UPDATE SET asset_id = excluded.asset_id, size = excluded.size, "
    "mtime_ns = excluded.mtime_ns, role = excluded.role, seen_at = excluded.seen_at",
)
THUMBNAILS = TableSpec(
    "thumbnails", (("asset_id", "VARCHAR"), ("mime", "VARCHAR"), ("data", "BLOB")),
    "asset_id", "ON CONFLICT (asset_id) DO NOTHING",
)
JOURNAL = TableSpec(
    "journal",
    (("op_id", "VARCHAR"), ("src", "VARCHAR"), ("dst", "VARCHAR"), ("asset_id", "VARCHAR"),
     ("mode", "VARCHAR"), ("project", "VARCHAR"), ("state", "VARCHAR"),
     ("updated_at", "TIMESTAMPTZ")),
    "op_id", "ON CONFLICT (op_id) DO NOTHING",
)
SPECS: dict[str, TableSpec] = {s.name: s for s in (ASSETS, FILES, THUMBNAILS, JOURNAL)}


@dataclass(slots=True)
class Write:
    """One row for one table, or a key to delete ('delete_files' {'path'}, 'journal_done' {'op_id'})."""

    table: Table
    row: dict[str, Any]


@dataclass(slots=True)
class Commit:
    """A barrier: everything sent before it is committed when `done` is set."""

    done: anyio.Event = field(default_factory=anyio.Event)


@dataclass(slots=True)
class WriterStats:
    rows: int = 0
    statements: int = 0
    commits: int = 0
    failed_batches: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (row key, reason)


class BatchWriter:
    """Batches of batch_insert_size rows per statement, a commit every transaction_size rows."""

    def __init__(self, db: Database, *, batch_insert_size: int = 1000,
                 transaction_size: int = 5000, batched: bool = True) -> None:
        self.db = db
        self.batch_insert_size = batch_insert_size
        self.transaction_size = max(transaction_size, 1)
        self.batched = batched
        self.stats = WriterStats()
        self._pending: list[Write] = []
        self._uncommitted: list[list[Write]] = []
        self._uncommitted_rows = 0
        self._cur: duckdb.DuckDBPyConnection | None = None

    async def run(self, receive: MemoryObjectReceiveStream[Write | Commit]) -> WriterStats:
        """Drain the stream until it closes; everything received is committed before returning."""
        async with receive:
            async for write in receive:
                if isinstance(write, Commit):
                    await anyio.to_thread.run_sync(self._flush_and_commit, abandon_on_cancel=False)
                    write.done.set()
                    continue
                self._pending.append(write)
                if len(self._pending) >= self.batch_insert_size:
                    await anyio.to_thread.run_sync(self._flush, abandon_on_cancel=False)
        await anyio.to_thread.run_sync(self.finish, abandon_on_cancel=False)
        return self.stats

    def write_all(self, writes: Sequence[Write]) -> WriterStats:
        """Synchronous form for callers outside the pipeline: write and commit these rows."""
        for start in range(0, len(writes), self.batch_insert_size):
            self._pending.extend(writes[start:start + self.batch_insert_size])
            self._flush()
        self.finish()
        return self.stats

    def _flush_and_commit(self) -> None:
        self._flush()
        self._commit()

    def finish(self) -> None:
        self._flush_and_commit()
        if self._cur is not None:
            self.db.release(self._cur)
            self._cur = None

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        if self._cur is None:
            self._cur = self.db.acquire()
        if not self._uncommitted:
            self._cur.execute("BEGIN TRANSACTION")
        return self._cur

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        if not batch:
            return
        cur = self._cursor()
        try:
            self._execute(cur, batch)
        except duckdb.Error as exc:
            self.stats.failed_batches += 1
            log.warning("batch write failed; retrying its rows one by one", error=str(exc),
                        rows=len(batch))
            self._recover(cur, batch)
            return
        self._uncommitted.append(batch)
        self._uncommitted_rows += len(batch)
        if self._uncommitted_rows >= self.transaction_size:
            self._commit()

    def _commit(self) -> None:
        if self._cur is not None and self._uncommitted:
            self._cur.execute("COMMIT")
            self.stats.commits += 1
            self.stats.rows += self._uncommitted_rows
        self._uncommitted, self._uncommitted_rows = [], 0

    def _recover(self, cur: duckdb.DuckDBPyConnection, failed: list[Write]) -> None:
        cur.execute("ROLLBACK")
        earlier, self._uncommitted, self._uncommitted_rows = self._uncommitted, [], 0
        if earlier:
            cur.execute("BEGIN TRANSACTION")
            for batch in earlier:
                self._execute(cur, batch)
            cur.execute("COMMIT")
            self.stats.commits += 1
            self.stats.rows += sum(len(b) for b in earlier)
        for write in failed:
            cur.execute("BEGIN TRANSACTION")
            try:
                self._execute(cur, [write])
            except duckdb.Error as exc:
                cur.execute("ROLLBACK")
                key = SPECS[write.table].key if write.table in SPECS else \
                    _DELETES[write.table][1]
                self.stats.rejected.append((str(write.row.get(key)), str(exc)))
                log.error("row rejected by the index", table=write.table,
                          key=write.row.get(key), error=str(exc))
            else:
                cur.execute("COMMIT")
                self.stats.commits += 1
                self.stats.rows += 1

    def _execute(self, cur: duckdb.DuckDBPyConnection, batch: list[Write]) -> None:
        by_table: dict[str, dict[Any, dict[str, Any]]] = {}
        deletes: dict[str, list[str]] = {}
        for write in batch:
            if write.table in _DELETES:
                deletes.setdefault(write.table, []).append(write.row[_DELETES[write.table][1]])
            else:
                spec = SPECS[write.table]
                by_table.setdefault(spec.name, {})[write.row[spec.key]] = write.row
        for name, rows in by_table.items():
            self._insert(cur, SPECS[name], list(rows.values()))
        for kind, keys in deletes.items():
            table, key = _DELETES[kind]
            cur.execute(f"DELETE FROM {table} WHERE {key} IN (SELECT unnest(?::VARCHAR[]))", [keys])
            self.stats.statements += 1

    def _insert(self, cur: duckdb.DuckDBPyConnection, spec: TableSpec,
                rows: list[dict[str, Any]]) -> None:
        if self.batched:
            try:
                frame, nullable = _frame(spec, rows)
            except _NotColumnar:
                columns = [[row.get(c) for row in rows] for c, _ in spec.columns]
                cur.execute(_batch_sql(spec), columns)
            else:
                cur.register(_FRAME, frame)  # replaces the previous batch's frame
                cur.execute(_frame_sql(spec, nullable))
                cur.unregister(_FRAME)  # not after a failure: the transaction is aborted
            self.stats.statements += 1
            return
        sql = spec.row_sql()
        for row in rows:
            cur.execute(sql, [row.get(c) for c, _ in spec.columns])
            self.stats.statements += 1


@functools.cache
def _batch_sql(spec: TableSpec) -> str:
    """One statement for a whole batch; JSON columns travel as VARCHAR lists and are cast after."""
    names = ", ".join(c for c, _ in spec.columns)
    unnests = ", ".join(f"unnest(?::{'VARCHAR' if t == 'JSON' else t}[])" for _, t in spec.columns)
    aliases = ", ".join(f"c{i}" for i in range(len(spec.columns)))
    casts = ", ".join(f"c{i}::JSON" if t == "JSON" else f"c{i}"
                      for i, (_, t) in enumerate(spec.columns))
    return (f"INSERT INTO {spec.name} ({names}) SELECT {casts} FROM "
            f"(SELECT {unnests}) AS t({aliases}) {spec.on_conflict}")


_FRAME = "alice_batch"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_NUMERIC = {"BIGINT": np.int64, "INTEGER": np.int64, "TINYINT": np.int64,
            "TIMESTAMPTZ": np.int64, "DOUBLE": np.float64}
_ACCEPTS: dict[str, tuple[type, ...]] = {
    "BIGINT": (int,), "INTEGER": (int,), "TINYINT": (int,), "DOUBLE": (float, int),
    "VARCHAR": (str,), "JSON": (str,), "BLOB": (bytes,), "VARCHAR[]": (list, tuple),
    "TIMESTAMPTZ": (datetime,),
}


class _NotColumnar(ValueError):
    """A value the numpy hand-over cannot carry exactly; the batch goes as lists instead."""


def _micros(value: datetime) -> int:
    if value.tzinfo is None:
        raise _NotColumnar("naive datetime")
    return (value - _EPOCH) // _MICROSECOND


def _frame(spec: TableSpec, rows: list[dict[str, Any]]) -> tuple[dict[str, np.ndarray],
                                                                 tuple[bool, ...]]:
    """The batch as one numpy array per column (plus a null mask where a column has NULLs)."""
    frame: dict[str, np.ndarray] = {}
    nullable = []
    for i, (name, sql_type) in enumerate(spec.columns):
        values = [row.get(name) for row in rows]
        accepts = _ACCEPTS[sql_type]
        if not all(v is None or type(v) in accepts for v in values):
            raise _NotColumnar(f"{name}: unexpected value type")
        nulls = [v is None for v in values]
        has_null = any(nulls)
        nullable.append(has_null)
        if has_null:
            frame[f"n{i}"] = np.array(nulls, dtype=np.bool_)
        if sql_type == "DOUBLE" and any(v != v for v in values if v is not None):
            raise _NotColumnar(f"{name}: NaN (numpy columns read NaN as NULL)")
        if sql_type == "TIMESTAMPTZ":
            values = [0 if v is None else _micros(v) for v in values]
        elif sql_type == "VARCHAR[]":
            values = [None if v is None else json.dumps(list(v)) for v in values]
        if sql_type in _NUMERIC:
            try:
                frame[f"c{i}"] = np.array([0 if v is None else v for v in values],
                                          dtype=_NUMERIC[sql_type])
            except OverflowError:
                raise _NotColumnar(f"{name}: beyond 64 bits") from None
        else:
            frame[f"c{i}"] = np.array(values, dtype=object)
    return frame, tuple(nullable)


@functools.cache
def _frame_sql(spec: TableSpec, nullable: tuple[bool, ...]) -> str:
    """INSERT ... SELECT from the registered numpy columns, cast to the table's types."""
    exprs = []
    for i, ((_, sql_type), has_null) in enumerate(zip(spec.columns, nullable, strict=True)):
        expr = {"TIMESTAMPTZ": f"timezone('UTC', make_timestamp(c{i}))",
                "VARCHAR[]": f"c{i}::JSON::VARCHAR[]"}.get(sql_type, f"c{i}")
        if has_null:
            expr = f"CASE WHEN n{i} THEN NULL ELSE {expr} END"
        exprs.append(f"({expr})::{sql_type}")
    names = ", ".join(c for c, _ in spec.columns)
    return (f"INSERT INTO {spec.name} ({names}) SELECT {', '.join(exprs)} FROM {_FRAME} "
            f"{spec.on_conflict}")
