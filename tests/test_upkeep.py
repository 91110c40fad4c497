"""The tags table kept in tag order (store/upkeep.py): same rows, keys and indexes, fewer row
groups read by a tag search, rewritten only when enough rows arrived, never failing its caller."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from alice_mcp.config import Settings, load_settings
from alice_mcp.library import Library
from alice_mcp.store import upkeep
from alice_mcp.store.db import Database
from bench import synthetic

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60,000 synthetic assets: 300,000 tag rows in asset order, three row groups."""
    path = tmp_path_factory.mktemp("upkeep") / "template.duckdb"
    synthetic.build_library(path, 60_000, upkeep=False)
    return path


@pytest.fixture
def db_path(built: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "library.duckdb"
    copy.write_bytes(built.read_bytes())
    return copy


def _rows(db: Database) -> list[tuple[object, ...]]:
    return sorted(db.fetchall("SELECT * FROM tags"), key=repr)


def _row_groups_read(db: Database, tag: str) -> tuple[int, int]:
    plan = db.fetchall(f"EXPLAIN ANALYZE SELECT asset_id FROM tags WHERE tag = '{tag}'")[0][1]
    found = re.search(r"Row Groups Scanned:\s*(\d+)\s*/\s*(\d+)", plan)
    assert found, plan
    return int(found[1]), int(found[2])


def test_rewrite_keeps_rows_keys_and_indexes_and_puts_tags_in_order(db_path: Path) -> None:
    db = Database(db_path)
    before = _rows(db)
    indexes = db.fetchall("SELECT index_name FROM duckdb_indexes() WHERE table_name = 'tags'")

    done = upkeep.order_tags(db)

    assert done.rows == len(before) == 300_000
    assert _rows(db) == before
    assert db.fetchall("SELECT index_name FROM duckdb_indexes() "
                       "WHERE table_name = 'tags'") == indexes
    stored = [t for (t,) in db.fetchall("SELECT tag FROM tags ORDER BY rowid")]
    assert stored == sorted(stored)
    some = before[0]
    with pytest.raises(duckdb.ConstraintException):  # the primary key still holds
        db.conn.execute("INSERT INTO tags VALUES (?, ?, ?, ?, ?)", list(some))
    assert upkeep.unordered_rows(db) == (0, 300_000)
    db.close()


def test_a_tag_search_reads_fewer_row_groups_once_tags_are_in_order(db_path: Path) -> None:
    db = Database(db_path)
    read, groups = _row_groups_read(db, "fox")
    assert read == groups >= 3
    upkeep.order_tags(db)
    read, groups = _row_groups_read(db, "fox")
    assert read <= 2 < groups
    db.close()


def test_rewrite_waits_for_enough_unordered_rows(db_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    db = Database(db_path)
    assert upkeep.needs_rewrite(db)  # 300,000 rows, none ever put in order
    assert upkeep.order_tags_if_needed(db) is not None
    assert upkeep.order_tags_if_needed(db) is None
    db.conn.execute("INSERT INTO tags SELECT asset_id, 'late', 'custom', 'user', 1.0 "
                    "FROM assets LIMIT 1000")
    assert upkeep.unordered_rows(db) == (1000, 301_000)
    assert not upkeep.needs_rewrite(db)
    monkeypatch.setattr(upkeep, "MIN_TAIL_ROWS", 500)
    monkeypatch.setattr(upkeep, "TAIL_SHARE", 0.001)
    assert upkeep.needs_rewrite(db)
    db.close()


def test_a_failed_rewrite_is_logged_not_raised(db_path: Path) -> None:
    db = Database(db_path, read_only=True)
    assert upkeep.needs_rewrite(db)
    assert upkeep.order_tags_if_needed(db) is None  # a read-only file cannot be rewritten
    assert upkeep.needs_rewrite(db)
    db.close()


def _settings(path: Path, tmp_path: Path) -> Settings:
    return load_settings(flags={"paths.database": path, "paths.inbox": tmp_path / "inbox",
                                "paths.organized": tmp_path / "organized"}).settings


async def test_a_large_tag_edit_puts_tags_in_order_and_search_answers_the_same(
        db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = [synthetic.asset_id_of(i) for i in range(12_000)]
    with Library(_settings(db_path, tmp_path)) as library:
        first = await library.search("tag:fox sort:oldest", limit=50)
        small = await library.tag(ids[:50], add=["small"])
        assert small.added == 50
        assert upkeep.unordered_rows(library.db)[0] == 300_050  # a small edit does not check

        result = await library.tag(ids, add=["reviewed"])

        assert result.added == 12_000 >= upkeep.CHECK_AFTER_ROWS
        assert upkeep.unordered_rows(library.db) == (0, 312_050)
        again = await library.search("tag:fox sort:oldest", limit=50)
        assert [r.asset_id for r in again.results] == [r.asset_id for r in first.results]
        assert again.total == first.total > 0
        tagged = await library.search("tag:reviewed", limit=1)
        assert tagged.total == 12_000


async def test_analyze_puts_the_tags_it_added_in_order(db_path: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    with Library(_settings(db_path, tmp_path)) as library:
        library.db.conn.execute("DELETE FROM tags WHERE origin = 'local'")  # none to replace
        upkeep.order_tags(library.db)
        monkeypatch.setattr(upkeep, "MIN_TAIL_ROWS", 20)
        monkeypatch.setattr(upkeep, "TAIL_SHARE", 0.0)

        report = await library.analyze([synthetic.asset_id_of(i) for i in range(40)],
                                        provider="local")

        assert report.analyzed == 40
        tail, total = upkeep.unordered_rows(library.db)
        assert tail == 0 and total >= 40  # every added row was counted into the rewrite
        stored = [t for (t,) in library.db.fetchall("SELECT tag FROM tags ORDER BY rowid")]
        assert stored == sorted(stored)


def test_a_library_written_before_upkeep_gets_its_table_on_open(tmp_path: Path) -> None:
    path = tmp_path / "older.duckdb"
    first = Database(path)
    first.fetchall("SELECT 1")  # opens the file and applies the schema
    first.close()
    with duckdb.connect(str(path)) as conn:
        conn.execute("DROP TABLE upkeep")
    db = Database(path)
    try:
        upkeep.order_tags_if_needed(db)
        assert db.fetchall("SELECT count(*) FROM upkeep")[0][0] == 0
    finally:
        db.close()
