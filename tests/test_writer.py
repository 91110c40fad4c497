"""BatchWriter on a real DuckDB file: real batching, commits, and one bad row losing nothing else."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest

from alice_mcp.errors import LibraryBusy
from alice_mcp.store.db import Database
from alice_mcp.store.writer import ASSETS, BatchWriter, Write

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


def test_a_library_from_before_the_engine_column_gets_it_on_open(tmp_path: Path) -> None:
    import duckdb

    path = tmp_path / "old.duckdb"
    created = Database(path)
    assert created.fetchall("SELECT count(*) FROM assets") == [(0,)]
    created.close()
    with duckdb.connect(str(path)) as conn:  # the assets table as issue 15 left it
        conn.execute("ALTER TABLE assets DROP COLUMN engine")
    reopened = Database(path)
    BatchWriter(reopened).write_all([_asset(1, source="swarmui", engine="comfyui")])
    assert reopened.fetchall("SELECT source, engine FROM assets") == [("swarmui", "comfyui")]
    reopened.close()


def test_a_library_from_before_the_engine_column_opened_to_read_gets_it(tmp_path: Path) -> None:
    import duckdb

    path = tmp_path / "old.duckdb"
    created = Database(path)
    BatchWriter(created).write_all([_asset(1, source="swarmui", engine="comfyui")])
    created.close()
    with duckdb.connect(str(path)) as conn:
        conn.execute("ALTER TABLE assets DROP COLUMN engine")
    reader = Database(path, read_only=True)
    assert reader.fetchall("SELECT count(*) FROM assets WHERE engine IS NULL") == [(1,)]
    reader.close()


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
        with pytest.raises(LibraryBusy) as err:
            waiting.conn  # noqa: B018 - opening is what waits and fails
        assert f"PID {holder.pid}" in str(err.value)
        assert "Claude Desktop" in str(err.value)
    finally:
        holder.kill()
        holder.wait()


def test_a_stored_key_keeps_the_stored_row_and_loses_nothing_else(db: Database) -> None:
    BatchWriter(db).write_all([_asset(i) for i in range(5)])
    writer = BatchWriter(db, batch_insert_size=10, transaction_size=30)
    writes = [_asset(i, bytes=1000 + i) for i in range(3, 40)]  # 3 and 4 are stored already
    stats = writer.write_all(writes)
    assert db.fetchall("SELECT count(*) FROM assets")[0][0] == 40
    assert db.fetchall("SELECT bytes FROM assets WHERE asset_id IN (?, ?) ORDER BY 1",
                       [f"{3:032x}", f"{5:032x}"]) == [(3,), (1005,)]
    assert (stats.failed_batches, stats.rejected, stats.rows) == (0, [], 37)
    assert stats.commits == 2  # the batch meeting stored keys was redone in its transaction


def test_a_key_stored_earlier_in_the_same_transaction_is_skipped(db: Database) -> None:
    writer = BatchWriter(db, batch_insert_size=10, transaction_size=1000)
    writes = [*(_asset(i) for i in range(15)), _asset(3, bytes=99),
              *(_asset(i) for i in range(15, 30))]
    stats = writer.write_all(writes)
    assert db.fetchall("SELECT count(*), sum(bytes) FROM assets")[0] == (30, sum(range(30)))
    assert (stats.failed_batches, stats.rejected) == (0, [])


def test_a_bad_row_next_to_a_stored_key_is_still_the_only_one_rejected(db: Database) -> None:
    BatchWriter(db).write_all([_asset(1)])
    writes = [_asset(i) for i in range(20)]
    writes[7] = _asset(7, media_type=None)
    stats = BatchWriter(db, batch_insert_size=10).write_all(writes)
    assert db.fetchall("SELECT count(*) FROM assets")[0][0] == 19
    assert [key for key, _ in stats.rejected] == [f"{7:032x}"]
    assert stats.failed_batches == 1


def test_plain_inserts_resume_after_a_transaction_without_stored_keys(db: Database) -> None:
    BatchWriter(db).write_all([_asset(0)])
    writer = BatchWriter(db, batch_insert_size=10, transaction_size=30)
    writer.write_all([_asset(i) for i in range(20)])
    assert "assets" in writer._guarded  # met key 0: ON CONFLICT until 30 clean rows
    writer.write_all([_asset(i) for i in range(20, 60)])
    assert "assets" not in writer._guarded
    assert db.fetchall("SELECT count(*) FROM assets")[0][0] == 60


def _rows_of(db: Database) -> list[tuple[object, ...]]:
    return db.fetchall("SELECT * EXCLUDE (description) FROM assets ORDER BY asset_id")


@pytest.mark.parametrize("odd", [
    {},  # every value travels as numpy columns
    {"quality": float("nan")},  # numpy would read NaN as NULL: the batch goes as lists
    {"seed": 2**64},  # beyond BIGINT: lists, and the row is rejected
    {"stars": True},  # a bool is not an int here: lists
])
def test_every_value_kind_is_stored_the_same_by_either_hand_over(tmp_path: Path,
                                                                 odd: dict[str, object]) -> None:
    def rows(extra: dict[str, object]) -> list[Write]:
        out = []
        for i in range(6):
            full = {c: None for c, _ in ASSETS.columns} | {
                "asset_id": f"{i:032x}", "media_type": "image", "source": "a1111",
                "indexed_at": NOW, "created_at": NOW.replace(microsecond=i) if i % 2 else None,
                "bytes": 2**62 + i, "width": i if i % 3 else None, "quality": i / 3,
                "loras": [["a", "b"], [], None, ["a", "b"], ["é"], []][i], "prompt": f"pé {i}",
                "params": '{"k": [1, 2]}' if i % 2 else None, "stars": i % 6,
            }
            out.append(Write("assets", full | (extra if i == 4 else {})))
        return out
    expected = Database(tmp_path / "one-by-one.duckdb")
    BatchWriter(expected, batched=False).write_all(rows(odd))
    for name, writes in (("full", rows(odd)),
                         ("sparse", [Write("assets", {k: v for k, v in w.row.items()
                                                     if v is not None}) for w in rows(odd)])):
        got = Database(tmp_path / f"{name}.duckdb")
        BatchWriter(got).write_all(writes)
        assert repr(_rows_of(got)) == repr(_rows_of(expected)), name  # NaN != NaN
        got.close()
    expected.close()


def test_thumbnails_and_naive_timestamps_are_stored(db: Database) -> None:
    naive = datetime(2025, 1, 1, 12, 0)
    BatchWriter(db).write_all([
        Write("thumbnails", {"asset_id": "a", "mime": "image/webp", "data": b"\x00\xffxy"}),
        Write("thumbnails", {"asset_id": "b", "mime": "image/webp", "data": b""}),
        Write("journal", {"op_id": "o", "src": "/s", "dst": "/d", "asset_id": "a", "mode": "copy",
                          "project": "p", "state": "planned", "updated_at": naive}),
    ])
    assert db.fetchall("SELECT asset_id, data FROM thumbnails ORDER BY 1") == [
        ("a", b"\x00\xffxy"), ("b", b"")]
    assert db.fetchall("SELECT count(*) FROM journal WHERE updated_at IS NOT NULL")[0][0] == 1


def test_assets_and_thumbnails_batched_together_keep_their_types(db: Database) -> None:
    writes = []
    for i in range(25):
        writes.append(_asset(i, errors="late" if i == 20 else None, loras=[] if i % 2 else ["x"]))
        writes.append(Write("thumbnails", {"asset_id": f"{i:032x}", "mime": "image/webp",
                                           "data": bytes([i]) * 3}))
    BatchWriter(db, batch_insert_size=7).write_all(writes)
    assert db.fetchall("SELECT count(*), count(errors), max(errors) FROM assets")[0] == (25, 1, "late")
    assert db.fetchall("SELECT loras FROM assets ORDER BY asset_id LIMIT 2") == [(["x"],), ([],)]
    assert db.fetchall("SELECT data FROM thumbnails WHERE asset_id = ?", [f"{5:032x}"]) == [
        (b"\x05\x05\x05",)]


def test_close_while_a_lookup_runs_waits_for_it_and_does_not_deadlock(db: Database) -> None:
    """A lookup hands its cursor back under the database lock; close() must not hold that lock
    while it waits for the lookup (CI hung for an hour on exactly this)."""
    import threading
    import time

    started = threading.Event()

    def slow_read() -> list[tuple[object, ...]]:
        started.set()
        time.sleep(0.3)
        return db.fetchall("SELECT 42")

    future = db.submit(slow_read)
    started.wait(5)
    closer = threading.Thread(target=db.close, daemon=True)
    closer.start()
    closer.join(10)
    assert not closer.is_alive(), "close() deadlocked with a running lookup"
    assert future.result(timeout=1) == [(42,)]
