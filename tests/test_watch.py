"""`alice --watch` as a user runs it: files arrive (some slowly), each is organized once when
complete; the inbox may vanish and return; SIGTERM stops it with nothing half-done."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from alice_mcp import samples
from alice_mcp.pipeline.place import TEMP_SUFFIX
from alice_mcp.store.db import Database

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="sends SIGTERM (POSIX)")


class Watcher:
    """A running `alice --watch` whose stderr is collected line by line."""

    def __init__(self, tmp_path: Path, **env: str) -> None:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("ALICE_")}
        full_env.update({"ALICE_SERVER__WATCH_SETTLE_SECONDS": "0.6", **env})
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "alice_mcp", "--watch", "--inbox", str(tmp_path / "inbox"),
             "--organized", str(tmp_path / "organized"), "--database",
             str(tmp_path / "lib.duckdb")], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
            text=True, env=full_env)
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    def wait_for(self, text: str, timeout: float = 30) -> None:
        _until(lambda: any(text in line for line in self.lines), timeout,
               f"no {text!r} in the log:\n{''.join(self.lines[-20:])}")

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)


def _until(condition: Callable[[], bool], timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(0.1)


def _digests(root: Path) -> list[str]:
    return sorted(hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*")
                  if p.is_file()) if root.exists() else []


def _write_slowly(path: Path, data: bytes, pieces: int = 5, pause: float = 0.25) -> None:
    step = len(data) // pieces + 1
    with path.open("wb") as out:
        for start in range(0, len(data), step):
            out.write(data[start:start + step])
            out.flush()
            time.sleep(pause)


def test_watch_organizes_arrivals_once_when_complete(tmp_path: Path) -> None:
    inbox, organized, staging = tmp_path / "inbox", tmp_path / "organized", tmp_path / "staging"
    samples.make_sample_inbox(inbox, count=4, seed=1)
    watcher = Watcher(tmp_path)
    try:
        watcher.wait_for("watching the inbox")
        _until(lambda: len(_digests(organized)) == 3, 20, "the first run did not organize")

        arrivals = samples.make_sample_inbox(staging, count=7, seed=2)[:6]
        expected = set(_digests(organized))
        for number, source in enumerate(arrivals):
            data = source.read_bytes()
            target = inbox / "new" / f"arrival-{number}{source.suffix}"
            target.parent.mkdir(exist_ok=True)
            if number % 2:
                _write_slowly(target, data)  # a generator still writing its file
            else:
                target.write_bytes(data)
            expected.add(hashlib.sha256(data).hexdigest())
        _until(lambda: set(_digests(organized)) == expected, 20,
               f"arrivals not organized: {len(_digests(organized))} of {len(expected)}")
        time.sleep(1.5)  # nothing more happens: each file was organized once, when complete
        assert _digests(organized) == sorted(expected)

        # the inbox folder is removed and created again: the watcher carries on
        for path in sorted(inbox.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        inbox.rmdir()
        time.sleep(1.0)
        inbox.mkdir()
        late = samples.write_a1111_png(inbox / "after-recreate.png", "came back", seed=77)
        expected.add(hashlib.sha256(late.read_bytes()).hexdigest())
        _until(lambda: set(_digests(organized)) == expected, 20,
               "a file in the recreated inbox was not organized")
    finally:
        code = watcher.stop()
    assert code == 0, "".join(watcher.lines[-20:])
    assert any("stopped watching" in line for line in watcher.lines)
    assert not [p for p in tmp_path.rglob(f"*{TEMP_SUFFIX}")]
    db = Database(tmp_path / "lib.duckdb", read_only=True)
    try:
        recorded = {p for (p,) in db.fetchall("SELECT path FROM files WHERE role='organized'")}
        assert db.fetchall("SELECT count(*) FROM journal")[0][0] == 0
    finally:
        db.close()
    assert recorded == {str(p) for p in organized.rglob("*") if p.is_file()}


def test_sigterm_during_a_run_leaves_nothing_half_done(tmp_path: Path) -> None:
    (tmp_path / "inbox").mkdir()
    watcher = Watcher(tmp_path)
    watcher.wait_for("watching the inbox")
    samples.make_sample_inbox(tmp_path / "inbox" / "burst", count=300, seed=5)
    watcher.wait_for("Processing", timeout=30)
    assert watcher.stop() == 0
    organized = tmp_path / "organized"
    on_disk = {str(p) for p in organized.rglob("*") if p.is_file()} if organized.exists() else set()
    assert not [p for p in tmp_path.rglob(f"*{TEMP_SUFFIX}")]
    db = Database(tmp_path / "lib.duckdb", read_only=True)
    try:
        recorded = {p for (p,) in db.fetchall("SELECT path FROM files WHERE role='organized'")}
    finally:
        db.close()
    assert recorded == on_disk


def test_metrics_lines_have_plausible_values(tmp_path: Path) -> None:
    samples.make_sample_inbox(tmp_path / "inbox", count=150, seed=9)
    watcher = Watcher(tmp_path, ALICE_PERFORMANCE__ENABLE_PERFORMANCE_MONITORING="true",
                      ALICE_PERFORMANCE__METRICS_INTERVAL_SECONDS="0.3",
                      ALICE_PERFORMANCE__MAX_WORKERS="2")
    try:
        watcher.wait_for("watching the inbox")
        _until(lambda: sum("performance metrics" in line for line in watcher.lines) >= 3, 30,
               "no metrics lines")
        _until(lambda: any("files_processed=150" in line for line in watcher.lines), 30,
               "metrics never counted the 150 files")
    finally:
        watcher.stop()
    line = next(line for line in reversed(watcher.lines) if "performance metrics" in line)
    fields = dict(re.findall(r"(\w+)=([^\s]+)", line))
    assert int(fields["files_processed"]) == 150
    assert 10 < float(fields["rss_mb"]) < 4000
    assert 0 < float(fields["files_per_second"]) < 100_000
    assert 0 < float(fields["avg_seconds_per_file"]) < 10
    assert "search" in fields["caches"] or "'search'" in line
    assert "api_calls" in fields and "cost_usd" in fields


@pytest.mark.anyio
async def test_mcp_server_watch_organizes_while_serving(tmp_path: Path) -> None:
    import anyio
    from mcp import Client, StdioServerParameters

    (tmp_path / "inbox").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALICE_")}
    env.update({"ALICE_PATHS__INBOX": str(tmp_path / "inbox"),
                "ALICE_PATHS__ORGANIZED": str(tmp_path / "organized"),
                "ALICE_PATHS__DATABASE": str(tmp_path / "lib.duckdb"),
                "ALICE_SERVER__WATCH_SETTLE_SECONDS": "0.5"})
    server = StdioServerParameters(command=sys.executable,
                                   args=["-m", "alice_mcp", "mcp-server", "--watch"], env=env)
    async with Client(server) as client:
        assert (await client.call_tool("search", {})).structured_content["total"] == 0
        samples.make_sample_inbox(tmp_path / "inbox", count=5, seed=3)
        with anyio.fail_after(30):
            while (await client.call_tool("search", {})).structured_content["total"] < 4:
                await anyio.sleep(0.3)
        assert (await client.call_tool("stats", {})).structured_content["assets"] == 4


@pytest.mark.anyio
async def test_a_file_arriving_while_the_first_run_ends_gets_a_run(tmp_path: Path) -> None:
    """A file that lands after a run has listed the inbox but before the watcher listens makes
    no event: the watcher looks at the inbox's folders once it listens, and runs again."""
    import anyio

    from alice_mcp.pipeline.watch import watch_folder

    inbox = tmp_path / "inbox"
    (inbox / "portraits").mkdir(parents=True)
    runs: list[float] = []

    async def run() -> bool:
        runs.append(anyio.current_time())
        if len(runs) == 1:  # the run has listed the inbox; the file lands as it ends
            (inbox / "portraits" / "late.png").write_bytes(b"late")
        return False

    with anyio.move_on_after(8):
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: watch_folder(inbox, run, settle_seconds=0.2,
                                               poll_seconds=0.2))
            while len(runs) < 2:
                await anyio.sleep(0.05)
            tg.cancel_scope.cancel()
    assert len(runs) == 2, "the file that arrived during the run never got a run"
