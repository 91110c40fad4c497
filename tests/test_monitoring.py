"""The metrics monitor has one owner, the Library: an organize run inside a served (or watched)
library logs each metrics line once, not once per layer that wraps it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from mcp import Client

from alice_mcp import metrics, samples
from alice_mcp.config import load_settings
from alice_mcp.server import build_server

INTERVAL = 0.1


class Ticks:
    """Records when each metrics line is logged."""

    def __init__(self) -> None:
        self.at: list[float] = []

    def info(self, event: str, **_: object) -> None:
        if event == "performance metrics":
            self.at.append(time.monotonic())


@pytest.mark.anyio
async def test_an_organize_inside_the_server_logs_each_line_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ticks = Ticks()
    monkeypatch.setattr(metrics, "log", ticks)
    samples.make_sample_inbox(tmp_path / "in", count=150, seed=3)
    settings = load_settings(flags={
        "paths.inbox": tmp_path / "in", "paths.organized": tmp_path / "out",
        "paths.database": tmp_path / "lib.duckdb", "performance.max_workers": 1,
        "performance.enable_performance_monitoring": True,
        "performance.metrics_interval_seconds": INTERVAL}).settings
    async with Client(build_server(settings)) as client:
        started = time.monotonic()
        result = await client.call_tool("organize", {})
        during = time.monotonic() - started
    assert not result.is_error and during > 3 * INTERVAL, during  # long enough to tick a few
    gaps = [b - a for a, b in zip(ticks.at, ticks.at[1:], strict=False)]
    assert len(ticks.at) >= 3
    assert min(gaps) > 0.8 * INTERVAL, gaps  # two monitors would tick twice per interval
