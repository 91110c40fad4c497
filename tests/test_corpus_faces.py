"""Every kind of the hostile corpus (tests/test_bad_input.py) through `inspect` and through the
MCP tools, one kind at a time beside a control file: each gets a per-file error or a correct
record within one second (CPU time of the process, so a loaded machine does not make it flaky),
and the control file is organized every time."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
from mcp import Client

from alice_mcp import samples
from alice_mcp.cli import main
from alice_mcp.config import load_settings
from alice_mcp.server import build_server
from alice_mcp.text import display_text
from tests.test_bad_input import CORPUS

pytestmark = pytest.mark.skipif(sys.platform == "win32",
                                reason="FIFOs and newline names are POSIX-only")
BUDGET_SECONDS = 1.0
KINDS = sorted(CORPUS)


def _made(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    make, _ = CORPUS[name]
    make(folder / name)
    return folder / ("x.png/inside.png" if name == "x.png" else name)


@pytest.mark.parametrize("name", KINDS)
def test_inspect_answers_each_kind_within_a_second(tmp_path: Path, name: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    path = _made(tmp_path / "files", name)
    expected = CORPUS[name][1]
    if name in ("x.png", "dirloop"):
        path, expected = tmp_path / "files" / name, "skipped"  # a folder passed as a file
    started = time.process_time()
    code = main(["inspect", "--json", str(path), "--database", str(tmp_path / "l.duckdb")])
    spent = time.process_time() - started
    out, err = capsys.readouterr()
    assert spent < BUDGET_SECONDS, f"{name}: {spent:.2f} s"
    assert "Traceback" not in out + err
    answer = json.loads(out)
    if expected == "organized":
        assert code == 0 and "error" not in answer, answer
    elif "error" in answer:
        assert code == 1 and answer["error"] and answer["error"] != "no such file", answer
    else:  # inspect reads headers only (no decode): what they say, Pillow or not
        assert code == 0 and answer["source"], answer


@pytest.mark.anyio
async def test_mcp_tools_take_each_kind_beside_a_control_file(tmp_path: Path) -> None:
    inbox, organized = tmp_path / "inbox", tmp_path / "organized"
    settings = load_settings(flags={"paths.inbox": inbox, "paths.organized": organized,
                                    "paths.database": tmp_path / "l.duckdb"}).settings
    slowest: dict[str, float] = {}
    async with Client(build_server(settings)) as client:
        for number, name in enumerate(KINDS):
            folder = inbox / f"kind-{number:02d}"
            path = _made(folder, name)
            shown = display_text(str(path))  # how MCP names a path that is not UTF-8
            control = samples.write_a1111_png(folder / "control.png", f"control {number}",
                                              seed=1000 + number)
            started = time.process_time()
            done = await client.call_tool("organize", {})
            similar = await client.call_tool("find_similar", {"path": str(path)})
            slowest[name] = time.process_time() - started
            assert not done.is_error, (name, done.content)
            report = done.structured_content
            placed = {p["source"] for p in report["placements"]}
            assert display_text(str(control)) in placed, f"{name}: the control file was not organized"
            expected = CORPUS[name][1]
            if expected == "organized":
                assert shown in placed, (name, report["errors"])
            elif expected == "error":
                reasons = [e["reason"] for e in report["errors"] if e["path"] == shown]
                assert reasons and all(reasons), f"{name}: no per-file error"
            for result in (done, similar):
                text = " ".join(getattr(c, "text", "") for c in result.content)
                assert "Traceback" not in text, name
            if similar.is_error:
                assert similar.content[0].text.strip(), name
            else:
                assert similar.structured_content["results"] is not None
        assert not (await client.call_tool("stats", {})).is_error
    over = {k: round(v, 2) for k, v in slowest.items() if v >= BUDGET_SECONDS}
    assert over == {}, f"over {BUDGET_SECONDS} s of CPU: {over}"
    assert not any(p.name.startswith(".") for p in organized.rglob("*") if p.is_file()
                   and not p.name.endswith(".xmp")), "a temporary file was left behind"
