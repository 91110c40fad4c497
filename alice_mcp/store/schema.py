"""The schema, read from schema.sql: applied to a database, and the column lists the writer uses.

schema.sql is the one declaration of every table; the writer's columns and types are derived
from it here, so the two cannot drift apart.
"""

from __future__ import annotations

import functools
import re
from importlib import resources

import duckdb

from alice_mcp.errors import StoreError

SCHEMA_VERSION = 1
_TABLE = re.compile(r"CREATE TABLE IF NOT EXISTS (\w+) \((.*?)\n\);", re.DOTALL)
_CONSTRAINT = ("PRIMARY", "UNIQUE", "CHECK", "FOREIGN")
ADDED_COLUMNS = (("assets", "engine"), ("assets", "missing_since"))  # by apply_schema's ALTERs


@functools.cache
def schema_sql() -> str:
    """The text of schema.sql as packaged."""
    return resources.files("alice_mcp.store").joinpath("schema.sql").read_text("utf-8")


@functools.cache
def table_columns() -> dict[str, tuple[tuple[str, str], ...]]:
    """Every table of schema.sql -> its (column, SQL type) pairs, in declaration order."""
    tables: dict[str, tuple[tuple[str, str], ...]] = {}
    for name, body in _TABLE.findall(schema_sql()):
        columns = []
        for line in body.splitlines():
            words = line.split("--", 1)[0].strip().rstrip(",").split()
            if len(words) >= 2 and words[0].upper() not in _CONSTRAINT:
                columns.append((words[0], words[1]))
        tables[name] = tuple(columns)
    return tables


def apply_schema(conn: duckdb.DuckDBPyConnection) -> None:
    """Create the tables of a new library; refuse one written by a newer alice-mcp."""
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    found = conn.execute("SELECT max(version) FROM schema_version").fetchone()[0]
    if found is not None and found > SCHEMA_VERSION:
        raise StoreError(f"the database was written by a newer alice-mcp (schema {found}); "
                         "upgrade alice-mcp to open it")
    conn.execute(schema_sql())  # every statement is IF NOT EXISTS: older files gain new tables
    if found is None:
        conn.execute("INSERT INTO schema_version VALUES (?)", [SCHEMA_VERSION])
    # columns and indexes added after migration 1; idempotent, so older files get them on open
    conn.execute("ALTER TABLE assets ADD COLUMN IF NOT EXISTS engine VARCHAR")  # ADDED_COLUMNS
    conn.execute("CREATE INDEX IF NOT EXISTS tags_by_asset ON tags (asset_id)")
    conn.execute("CREATE INDEX IF NOT EXISTS files_by_asset ON files (asset_id)")
    # columns added after migration 1 (not in the writer's column lists: the pipeline never
    # writes them); set when every location of the asset vanished (store/locations.py)
    conn.execute("ALTER TABLE assets ADD COLUMN IF NOT EXISTS missing_since TIMESTAMPTZ")


def schema_is_current(conn: duckdb.DuckDBPyConnection) -> bool:
    """Whether every table and column of schema.sql, and every column added since, exists (a
    read-only open of an older library must be upgraded before the queries of this version
    run)."""
    present = set(conn.execute(
        "SELECT table_name, column_name FROM duckdb_columns() "
        "WHERE database_name = current_database()").fetchall())
    wanted = {(table, column) for table, columns in table_columns().items()
              for column, _ in columns}
    return wanted | set(ADDED_COLUMNS) <= present
