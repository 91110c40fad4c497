"""Keeping tag search fast as a library grows: the tags table stored in tag order.

DuckDB skips every row group whose min/max cannot match a filter (zone maps), so `tag = ?`
reads one or two row groups of a table stored in tag order instead of all of them. Tags arrive
asset by asset, so the table drifts out of order; once enough rows were added since the last
rewrite, it is rewritten in tag order (a new table, then its indexes: deleting and re-inserting
the rows through the indexes costs about ten times more).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
import structlog

from alice_mcp.errors import StoreError
from alice_mcp.store.db import Database

log = structlog.get_logger(__name__)

TASK = "tags_in_tag_order"
MIN_TAIL_ROWS = 250_000   # about two row groups: scanning fewer unordered rows costs ~1 ms
TAIL_SHARE = 0.25         # rewrite once a quarter of the table arrived since the last rewrite
CHECK_AFTER_ROWS = 10_000  # a tag edit adding fewer rows skips even the check (two counts)
_CREATE = re.compile(r"^\s*CREATE\s+(?:UNIQUE\s+)?(?:TABLE|INDEX)\s+(\"?tags\"?)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Rewrite:
    """One rewrite of the tags table: how many rows, how long it took."""

    rows: int
    seconds: float


def unordered_rows(db: Database) -> tuple[int, int]:
    """(rows added since the table was last written in tag order, all rows); deletes since
    then make the first a guess, which is all a rewrite decision needs."""
    total, ordered = db.fetchall(
        "SELECT (SELECT count(*) FROM tags), "
        "(SELECT coalesce(max(rows), 0) FROM upkeep WHERE task = ?)", [TASK])[0]
    return max(0, total - ordered), total


def needs_rewrite(db: Database) -> bool:
    """True when enough rows arrived out of order for a rewrite to pay for itself."""
    tail, total = unordered_rows(db)
    return tail >= MIN_TAIL_ROWS and tail >= TAIL_SHARE * total


def order_tags(db: Database) -> Rewrite:
    """Rewrite the tags table in (tag, asset_id) order with the same columns, keys and indexes."""
    started = time.perf_counter()
    with db.transaction() as cur:
        table_sql = cur.execute("SELECT sql FROM duckdb_tables() WHERE table_name = 'tags' "
                                "AND schema_name = current_schema()").fetchone()[0]
        index_sql = [s for (s,) in cur.execute(
            "SELECT sql FROM duckdb_indexes() WHERE table_name = 'tags' "
            "AND schema_name = current_schema() AND sql IS NOT NULL").fetchall()]
        cur.execute(_renamed(table_sql, "tags_ordered"))
        cur.execute("INSERT INTO tags_ordered SELECT * FROM tags ORDER BY tag, asset_id")
        cur.execute("DROP TABLE tags")
        cur.execute("ALTER TABLE tags_ordered RENAME TO tags")
        for sql in index_sql:
            cur.execute(sql)
        rows = cur.execute("SELECT count(*) FROM tags").fetchone()[0]
        cur.execute("INSERT INTO upkeep VALUES (?, ?, ?) ON CONFLICT DO UPDATE "
                    "SET rows = excluded.rows, done_at = excluded.done_at",
                    [TASK, rows, datetime.now(UTC)])
    done = Rewrite(rows=rows, seconds=time.perf_counter() - started)
    log.info("tags rewritten in tag order", rows=rows, seconds=round(done.seconds, 2))
    return done


def order_tags_if_needed(db: Database) -> Rewrite | None:
    """Rewrite the tags table in tag order when needs_rewrite says so; else do nothing.

    Never raises: the rewrite only speeds searches up, so a failure (another transaction
    editing tags at that moment) is logged and the next check tries again."""
    try:
        return order_tags(db) if needs_rewrite(db) else None
    except duckdb.Error as exc:
        log.warning("tags not rewritten in tag order; retried after the next tag changes",
                    error=str(exc))
        return None


def _renamed(create_sql: str, name: str) -> str:
    """The CREATE TABLE statement of `tags` for a table called `name`."""
    renamed, found = _CREATE.subn(lambda m: m.group(0).replace(m.group(1), name), create_sql,
                                  count=1)
    if not found:
        raise StoreError(f"unexpected CREATE statement for tags: {create_sql[:80]!r}")
    return renamed
