"""BatchWriter: the only writer of the pipeline, draining a stream of rows into batched inserts.

A batch is one INSERT ... SELECT statement (DuckDB's executemany runs one statement per row).
Its rows travel as numpy columns that DuckDB scans directly (numbers and timestamps without
per-value conversion, NULL numbers as masks); a batch holding a value that cannot travel that way
exactly (a naive datetime, an int beyond 64 bits, ...) goes as one unnest(list) per column.
Tables keeping the stored row on a key conflict are inserted without ON CONFLICT (it costs DuckDB
~3 ms of planning per statement and a per-row check growing with the table); a batch meeting a
stored key fails and is redone with it. A batch failing otherwise is rolled back with its
transaction, the earlier batches are replayed, and its rows are retried one by one so one bad
row never loses the others. A full disk stops the writer with DiskFull (every row would fail).
Just over 400 lines: batching, the conflict redo and the row-by-row recovery share one
transaction state; the numpy hand-over (_frame and below) is what would split off next.
"""

from __future__ import annotations

import functools
import json
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import anyio
import duckdb
import structlog
from anyio.streams.memory import MemoryObjectReceiveStream

from alice_mcp import threads
from alice_mcp.errors import AliceError, DiskFull
from alice_mcp.store.db import Database
from alice_mcp.store.paths import to_stored
from alice_mcp.store.schema import table_columns

if TYPE_CHECKING:
    import numpy as np

log = structlog.get_logger(__name__)

Table = Literal["assets", "files", "thumbnails", "journal", "delete_files", "journal_done"]
_PATH_KEYS = {"files": ("path",), "delete_files": ("path",), "journal": ("src", "dst")}
_DELETES = {"delete_files": ("files", "path"), "journal_done": ("journal", "op_id")}


@dataclass(frozen=True, slots=True)
class TableSpec:
    """How rows of one table are written: columns with their SQL types, key, conflict action."""

    name: str
    columns: tuple[tuple[str, str], ...]
    key: str
    on_conflict: str

    @property
    def keeps_stored(self) -> bool:
        """A conflict keeps the stored row, so a plain INSERT stores the same rows or fails."""
        return self.on_conflict.endswith("DO NOTHING")

    def row_sql(self) -> str:
        names = ", ".join(c for c, _ in self.columns)
        marks = ", ".join(f"?::{t}" for _, t in self.columns)
        return f"INSERT INTO {self.name} ({names}) VALUES ({marks}) {self.on_conflict}"


def _spec(table: str, key: str, on_conflict: str, *, skip: tuple[str, ...] = ()) -> TableSpec:
    """A table's spec with its columns and types as schema.sql declares them (less `skip`)."""
    columns = tuple(c for c in table_columns()[table] if c[0] not in skip)
    return TableSpec(table, columns, key, on_conflict)


# description is written by analyses only, never by the pipeline
ASSETS = _spec("assets", "asset_id", "ON CONFLICT (asset_id) DO NOTHING", skip=("description",))
FILES = _spec("files", "path",
              "ON CONFLICT (path) DO UPDATE SET asset_id = excluded.asset_id, "
              "size = excluded.size, mtime_ns = excluded.mtime_ns, role = excluded.role, "
              "seen_at = excluded.seen_at")
THUMBNAILS = _spec("thumbnails", "asset_id", "ON CONFLICT (asset_id) DO NOTHING")
JOURNAL = _spec("journal", "op_id", "ON CONFLICT (op_id) DO NOTHING")
SPECS: dict[str, TableSpec] = {s.name: s for s in (ASSETS, FILES, THUMBNAILS, JOURNAL)}


@dataclass(slots=True)
class Write:
    """One row for one table, or a key to delete ('delete_files' {'path'}, 'journal_done' {'op_id'})."""

    table: Table
    row: dict[str, Any]

    def __post_init__(self) -> None:
        for key in _PATH_KEYS.get(self.table, ()):
            if isinstance(self.row.get(key), str):
                self.row[key] = to_stored(self.row[key])


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
        self._guarded: dict[str, int] = {}  # table -> rows inserted since it last met a stored key
        self._typing_objects = True  # the cursor's DuckDB samples object columns to type them

    async def run(self, receive: MemoryObjectReceiveStream[Write | Commit]) -> WriterStats:
        """Drain the stream until it closes; everything received is committed before returning.
        DiskFull when the index's disk is full (nothing committed is lost; the journal holds
        what was under way)."""
        try:
            async with receive:
                async for write in receive:
                    if isinstance(write, Commit):
                        await threads.run_in("writer", self._flush_and_commit)
                        write.done.set()
                        continue
                    self._pending.append(write)
                    if len(self._pending) >= self.batch_insert_size:
                        await threads.run_in("writer", self._flush)
            await threads.run_in("writer", self.finish)
        except duckdb.Error as exc:
            if not disk_full(exc):
                raise
            raise DiskFull(
                f"the disk holding the index {self.db.path} is full; the run stopped. Nothing "
                "was lost: what was placed is recorded or journaled, the files not placed are "
                "still in the inbox. Free some space there and run the same command again to "
                "finish") from None
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
            self._typing_objects = True
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
            if disk_full(exc):  # every row would fail the same way
                raise
            failure = self._redo_guarded(cur, batch, exc)
            if failure is not None:
                self._recover(cur, batch, failure)
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

    def _redo_guarded(self, cur: duckdb.DuckDBPyConnection, failed: list[Write],
                      exc: duckdb.Error) -> duckdb.Error | None:
        """If the failed batch inserted a table without ON CONFLICT (it may only have met a stored
        key), redo the transaction with it: None if that went through, else the latest error."""
        plain = {w.table for w in failed if w.table in SPECS and SPECS[w.table].keeps_stored
                 and w.table not in self._guarded}
        if not self.batched or not plain:
            return exc
        cur.execute("ROLLBACK")
        self._guarded.update(dict.fromkeys(plain, 0))
        cur.execute("BEGIN TRANSACTION")
        try:
            for batch in [*self._uncommitted, failed]:
                self._execute(cur, batch, replay=True)
        except duckdb.Error as again:
            return again
        log.debug("batch met stored keys; redone with ON CONFLICT", tables=sorted(plain))
        return None

    def _recover(self, cur: duckdb.DuckDBPyConnection, failed: list[Write],
                 exc: duckdb.Error) -> None:
        self.stats.failed_batches += 1
        log.warning("batch write failed; retrying its rows one by one", error=str(exc),
                    rows=len(failed))
        cur.execute("ROLLBACK")
        earlier, self._uncommitted, self._uncommitted_rows = self._uncommitted, [], 0
        if earlier:
            cur.execute("BEGIN TRANSACTION")
            for batch in earlier:
                self._execute(cur, batch, replay=True)
            cur.execute("COMMIT")
            self.stats.commits += 1
            self.stats.rows += sum(len(b) for b in earlier)
        for write in failed:
            cur.execute("BEGIN TRANSACTION")
            try:
                self._execute(cur, [write], replay=True)
            except duckdb.Error as row_exc:
                if disk_full(row_exc):
                    raise
                cur.execute("ROLLBACK")
                key = SPECS[write.table].key if write.table in SPECS else \
                    _DELETES[write.table][1]
                self.stats.rejected.append((str(write.row.get(key)), str(row_exc)))
                log.error("row rejected by the index", table=write.table,
                          key=write.row.get(key), error=str(row_exc))
            else:
                cur.execute("COMMIT")
                self.stats.commits += 1
                self.stats.rows += 1

    def _execute(self, cur: duckdb.DuckDBPyConnection, batch: list[Write], *,
                 replay: bool = False) -> None:
        """Run one batch; a replay (after rollback) inserts with ON CONFLICT, learning nothing."""
        by_table: dict[str, dict[Any, dict[str, Any]]] = {}
        deletes: dict[str, list[str]] = {}
        for write in batch:
            if write.table in _DELETES:
                deletes.setdefault(write.table, []).append(write.row[_DELETES[write.table][1]])
            else:
                spec = SPECS[write.table]
                by_table.setdefault(spec.name, {})[write.row[spec.key]] = write.row
        for name, rows in by_table.items():
            spec = SPECS[name]
            guard = replay or not spec.keeps_stored or name in self._guarded
            inserted = self._insert(cur, spec, list(rows.values()), guard)
            if not replay and name in self._guarded:
                self._count_guarded(name, inserted, len(rows))
        for kind, keys in deletes.items():
            table, key = _DELETES[kind]
            cur.execute(f"DELETE FROM {table} WHERE {key} IN (SELECT unnest(?::VARCHAR[]))", [keys])
            self.stats.statements += 1

    def _count_guarded(self, table: str, inserted: int, rows: int) -> None:
        """Back to plain INSERT once a transaction's worth of rows met no stored key."""
        clean = 0 if inserted < rows else self._guarded[table] + rows
        if clean >= self.transaction_size:
            del self._guarded[table]
        else:
            self._guarded[table] = clean

    def _insert(self, cur: duckdb.DuckDBPyConnection, spec: TableSpec,
                rows: list[dict[str, Any]], guard: bool) -> int:
        """Insert rows (ON CONFLICT only if guard) and return how many were stored or updated."""
        if self.batched:
            try:
                frame = _frame(spec, rows)
            except _NotColumnar:
                columns = [[row.get(c) for row in rows] for c, _ in spec.columns]
                inserted = cur.execute(_batch_sql(spec, guard), columns).fetchone()[0]
            else:
                self._type_objects(cur, any(t == "BLOB" for _, t in spec.columns))
                cur.register(_FRAME, frame)  # replaces the previous batch's frame
                inserted = cur.execute(_frame_sql(spec, guard)).fetchone()[0]
                cur.unregister(_FRAME)  # not after a failure: the transaction is aborted
            self.stats.statements += 1
            return inserted
        sql = spec.row_sql()
        inserted = 0
        for row in rows:
            inserted += cur.execute(sql, [row.get(c) for c, _ in spec.columns]).fetchone()[0]
            self.stats.statements += 1
        return inserted

    def _type_objects(self, cur: duckdb.DuckDBPyConnection, needed: bool) -> None:
        """Let DuckDB sample object columns to type them only for bytes (else read as their repr):
        the others hold str or None (checked), and sampling them cost ~1/8 of a batch."""
        if needed != self._typing_objects:
            cur.execute("RESET pandas_analyze_sample" if needed
                        else "SET pandas_analyze_sample = 0")
            self._typing_objects = needed


def disk_full(exc: BaseException) -> bool:
    """Whether DuckDB failed because its disk is full (or over quota)."""
    text = str(exc)
    return "No space left on device" in text or "Disk quota exceeded" in text


@functools.cache
def _batch_sql(spec: TableSpec, guard: bool) -> str:
    """One statement for a whole batch; JSON columns travel as VARCHAR lists and are cast after."""
    names = ", ".join(c for c, _ in spec.columns)
    unnests = ", ".join(f"unnest(?::{'VARCHAR' if t == 'JSON' else t}[])" for _, t in spec.columns)
    aliases = ", ".join(f"c{i}" for i in range(len(spec.columns)))
    casts = ", ".join(f"c{i}::JSON" if t == "JSON" else f"c{i}"
                      for i, (_, t) in enumerate(spec.columns))
    return (f"INSERT INTO {spec.name} ({names}) SELECT {casts} FROM "
            f"(SELECT {unnests}) AS t({aliases}) {spec.on_conflict if guard else ''}")


_FRAME = "alice_batch"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_NUMERIC = {"BIGINT": "int64", "INTEGER": "int64", "TINYINT": "int64", "TIMESTAMPTZ": "int64",
            "DOUBLE": "float64"}  # numpy dtypes (numpy loads with the first batch: start-up)
_NONE = type(None)
_ACCEPTS: dict[str, frozenset[type]] = {t: frozenset((_NONE, *types)) for t, types in {
    "BIGINT": (int,), "INTEGER": (int,), "TINYINT": (int,), "DOUBLE": (float, int),
    "VARCHAR": (str,), "JSON": (str,), "BLOB": (bytes,), "VARCHAR[]": (list, tuple),
    "TIMESTAMPTZ": (datetime,)}.items()}


class _NotColumnar(AliceError):
    """A value the numpy hand-over cannot carry exactly; the batch goes as lists instead."""


@functools.cache
def _getter(spec: TableSpec) -> operator.itemgetter[Any]:
    """A row's values in column order, read in C."""
    return operator.itemgetter(*(c for c, _ in spec.columns))


def _transpose(spec: TableSpec, rows: list[dict[str, Any]]) -> list[Sequence[Any]]:
    """The rows' values column by column; in C when every row has every column."""
    try:
        return list(zip(*map(_getter(spec), rows), strict=True))
    except KeyError:
        return [[row.get(c) for row in rows] for c, _ in spec.columns]


def _frame(spec: TableSpec, rows: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """The batch as one numpy array per column, c0, c1, ... in the spec's order."""
    columns = _transpose(spec, rows)
    return {f"c{i}": _array(sql_type, values)
            for i, ((_, sql_type), values) in enumerate(zip(spec.columns, columns, strict=True))}


def _array(sql_type: str, values: Sequence[Any]) -> np.ndarray:
    """One column: numbers as int64/float64 (masked where NULL), anything else as objects."""
    import numpy as np

    types = set(map(type, values))
    if not types <= _ACCEPTS[sql_type]:
        raise _NotColumnar(f"{sql_type}: unexpected value type")
    if sql_type in _NUMERIC:
        return _numbers(sql_type, values, _NONE in types)
    if sql_type == "VARCHAR[]":
        values = _json_lists(values)
    return np.array(values, dtype=object)  # None reads as NULL


def _numbers(sql_type: str, values: Sequence[Any], has_null: bool) -> np.ndarray:
    """int64 or float64 (timestamps as microseconds since 1970 UTC), masked where NULL."""
    import numpy as np

    if sql_type == "TIMESTAMPTZ":
        try:
            values = [None if v is None else (v - _EPOCH) // _MICROSECOND for v in values]
        except TypeError:
            raise _NotColumnar("naive datetime") from None
    filled = [0 if v is None else v for v in values] if has_null else values
    try:
        data = np.array(filled, dtype=_NUMERIC[sql_type])
    except OverflowError:
        raise _NotColumnar(f"{sql_type}: beyond 64 bits") from None
    if sql_type == "DOUBLE" and np.isnan(data).any():
        raise _NotColumnar("NaN (numpy columns read NaN as NULL)")
    if not has_null:
        return data
    return np.ma.masked_array(data, mask=[v is None for v in values])


def _json_lists(values: Sequence[Any]) -> list[str | None]:
    """VARCHAR[] values as JSON text (cast back in SQL), each distinct list encoded once."""
    memo: dict[tuple[Any, ...] | None, str | None] = {None: None}
    keys = [None if v is None else tuple(v) for v in values]
    try:
        return [memo[k] if k in memo else memo.setdefault(k, json.dumps(k)) for k in keys]
    except TypeError:  # an unhashable element
        return [None if k is None else json.dumps(k) for k in keys]


@functools.cache
def _frame_sql(spec: TableSpec, guard: bool) -> str:
    """INSERT ... SELECT from the registered numpy columns; INSERT casts to the table's types."""
    exprs = [{"TIMESTAMPTZ": f"timezone('UTC', make_timestamp(c{i}))",
              "VARCHAR[]": f"c{i}::JSON::VARCHAR[]"}.get(sql_type, f"c{i}")
             for i, (_, sql_type) in enumerate(spec.columns)]
    names = ", ".join(c for c, _ in spec.columns)
    return (f"INSERT INTO {spec.name} ({names}) SELECT {', '.join(exprs)} FROM {_FRAME} "
            f"{spec.on_conflict if guard else ''}")
