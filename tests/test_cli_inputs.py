"""CLI inputs that used to end in a traceback or a hang now end in a one-line error and an exit
code as documented (2 bad input, 3 busy, 4 store); MCP path arguments with a NUL likewise."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from mcp import Client

from alice_mcp import samples
from alice_mcp.cli import main
from alice_mcp.config import load_settings
from alice_mcp.server import build_server


def _run(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main([*args, "--inbox", str(tmp_path / "inbox"), "--organized",
                 str(tmp_path / "organized"), "--database", str(tmp_path / "l.duckdb")])
    return code, capsys.readouterr().err


@pytest.mark.parametrize(("args", "says"), [
    (("search", "--limit", "-1"), "limit must be from 1"),
    (("similar", "abcdef", "--max-distance", "-1"), "max_distance must be from 0"),
    (("similar", "abcdef", "--max-distance", "64"), "max_distance must be from 0"),
    (("duplicates", "--max-distance", "64"), "max_distance must be from 0"),
    (("search", "after:99999999999y"), "before the year 1"),
    (("search", "seed:" + "9" * 5000), "not a seed"),
])
def test_bad_arguments_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           args: tuple[str, ...], says: str) -> None:
    code, err = _run(tmp_path, capsys, *args)
    assert code == 2 and says in err and "Traceback" not in err


def test_a_config_file_that_is_not_a_mapping(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    plain = tmp_path / "lines.txt"
    plain.write_text("root:x:0:0:root:/root:/bin/bash\nnobody:x:1:1::/:/bin/false\n")
    code, err = _run(tmp_path, capsys, "--config", str(plain), "search")
    assert code == 2 and "must hold a mapping" in err


@pytest.mark.skipif(sys.platform == "win32", reason="FIFOs are POSIX-only")
def test_fifos_as_database_or_config_are_refused_not_waited_on(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    os.mkfifo(tmp_path / "fifo")
    code = main(["search", "--database", str(tmp_path / "fifo")])
    assert code == 4 and "not a regular file" in capsys.readouterr().err
    code = main(["--config", str(tmp_path / "fifo"), "search"])
    assert code == 2 and "not a regular file" in capsys.readouterr().err


def test_a_huge_layout_width_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    samples.make_sample_inbox(tmp_path / "inbox", count=2, seed=1)
    monkeypatch.setenv("ALICE_PATHS__LAYOUT", "{project}/{seq:0999999999d}{ext}")
    code, err = _run(tmp_path, capsys)
    assert code == 2 and "field width" in err


def test_organize_exits_1_when_a_file_failed(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    samples.make_sample_inbox(tmp_path / "inbox", count=2, seed=1)
    (tmp_path / "inbox" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    code, _ = _run(tmp_path, capsys, "--quiet")
    assert code == 1


@pytest.mark.anyio
async def test_mcp_paths_and_ages_that_cannot_be_are_tool_errors(tmp_path: Path) -> None:
    (tmp_path / "inbox").mkdir()
    settings = load_settings(flags={"paths.inbox": tmp_path / "inbox",
                                    "paths.database": tmp_path / "l.duckdb"}).settings
    async with Client(build_server(settings)) as client:
        nul = await client.call_tool("find_similar", {"path": str(tmp_path / "inbox/a\x00.png")})
        assert nul.is_error and "NUL" in nul.content[0].text
        old = await client.call_tool("search", {"after": "99999999999y"})
        assert old.is_error and "before the year 1" in old.content[0].text
