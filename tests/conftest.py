"""Shared fixtures: settings rooted in tmp_path, a library on a real DuckDB file, sample inboxes."""

from __future__ import annotations

from pathlib import Path

import pytest

from alice_mcp.config import Settings, load_settings
from alice_mcp.library import Library

ALICE_VARS = ("ALICE_CONFIG", "ALICE_PERFORMANCE")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's ALICE_* variables, settings files or data folders."""
    import os

    for name in list(os.environ):
        if name.startswith("ALICE_"):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    path = tmp_path / "inbox"
    path.mkdir()
    return path


@pytest.fixture
def organized(tmp_path: Path) -> Path:
    return tmp_path / "organized"


@pytest.fixture
def settings(tmp_path: Path, inbox: Path, organized: Path) -> Settings:
    return load_settings(flags={"paths.inbox": inbox, "paths.organized": organized,
                                "paths.database": tmp_path / "library.duckdb"}).settings


@pytest.fixture
def library(settings: Settings):
    with Library(settings) as lib:
        yield lib
