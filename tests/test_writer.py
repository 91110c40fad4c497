"""BatchWriter on a real DuckDB file: real batching, commits, and one bad row losing nothing else."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest

from alice_mcp.store.db import Database, DatabaseLockedError
from alice_mcp.store.writer import BatchWriter, Write

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def _asset(i: int, **extra: object) -> Write:
    row = {"asset_id": f"{i:032x}", "media_type": "image", "bytes": i, "width": 64,
           "height": 64, "source": "a1111", "loras": ["x"], "params": f'{{"i": {i}}}',
           "phash": -i, "indexed_at": NOW, **extra}
    return Write("assets", row)


def _file(i: int) -> Write:
    return Write("files", {"path": f"/inbox/{i}.png", "asset_id": f"{i:032x}", "size": i,
                           "mtime_ns": i, "role": "inbox", "seen_at": NOW})


@pytest.fixture
def db(tmp_path: Path):
    database = Database(tmp_path / "w.duckdb")
    yield database
    database.close()


def test_batches_are_one_statement_each(db: Database) -> None:
    writer = BatchWriter(db, batch_insert_size=100, transaction_size=250)
    stats = writer.write_all([_asset(i) for i in range(1000)])
    assert db.fetchall("SELECT count(*), sum(bytes) FROM assets")[0] == (1000, sum(range(1000)))
    assert stats.statements == 10
    assert stats.commits == 4  # 300, 600, 900 rows, then the rest
    assert db.fetchall("SELECT params->>'i', loras FROM assets WHERE bytes = 7") == [("7", ["x"])]


def test_unbatched_mode_writes_one_row_per_statement(db: Database) -> None:
    stats = BatchWriter(db, batch_insert_size=50, batched=False).write_all(
        [_asset(i) for i in range(120)])
    assert stats.statements == 120
    assert db.fetchall("SELECT count(*) FROM assets")[0][0] == 120


def test_a_bad_row_is_rejected_and_its_batch_neighbours_kept(db: Database) -> None:
    writes = [_asset(i) for i in range(30)]
    writes[17] = _asset(17, media_type=None)  # NOT NULL violation
    writer = BatchWriter(db, batch_insert_size=10, transaction_size=1000)
    stats = writer.write_all(writes)
    assert db.fetchall("SELECT count(*) FROM assets")[0][0] == 29
    assert stats.failed_batches == 1
    assert [key for key, _ in stats.rejected] == [f"{17:032x}"]
    assert "NOT NULL" in stats.rejected[0][1]


def test_file_rows_are_upserted_and_deleted(db: Database) -> None:
    BatchWriter(db).write_all([_file(1), _file(2)])
    moved = _file(1)
    moved.row["size"] = 99
    BatchWriter(db).write_all([moved, Write("delete_files", {"path": "/inbox/2.png"})])
    assert db.fetchall("SELECT path, size FROM files") == [("/inbox/1.png", 99)]


@pytest.mark.anyio
async def test_run_drains_a_stream_and_commits_everything(db: Database) -> None:
    writer = BatchWriter(db, batch_insert_size=7, transaction_size=20)
    send, receive = anyio.create_memory_object_stream[Write](5)
    async with anyio.create_task_group() as tg:
        tg.start_soon(writer.run, receive)
        async with send:
            for i in range(50):
                await send.send(_asset(i))
    assert db.fetchall("SELECT count(*) FROM assets")[0][0] == 50
    assert writer.stats.rows == 50


def test_reopening_keeps_the_data_and_schema(tmp_path: Path) -> None:
    first = Database(tmp_path / "r.duckdb")
    BatchWriter(first).write_all([_asset(1)])
    first.close()
    second = Database(tmp_path / "r.duckdb", read_only=True)
    assert second.fetchall("SELECT count(*) FROM assets")[0][0] == 1
    assert second.fetchall("SELECT max(version) FROM schema_version")[0][0] == 1
    second.close()


def test_a_library_held_by_another_process_names_it(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "held.duckdb"
    created = Database(path)
    created.conn  # noqa: B018 - opening creates the file and schema
    created.close()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
         "print('ready', flush=True); time.sleep(30)", str(path)], stdout=subprocess.PIPE,
        text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        waiting = Database(path, lock_timeout=0.3)
        with pytest.raises(DatabaseLockedError) as err:
            waiting.conn  # noqa: B018 - opening is what waits and fails
        assert f"PID {holder.pid}" in str(err.value)
        assert "Claude Desktop" in str(err.value)
    finally:
        holder.kill()
        holder.wait()
