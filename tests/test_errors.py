"""One error family: every exception alice raises derives from AliceError, and each face renders
it in one place, as the user sees it: one stderr line and an exit code in the terminal, a tool
error (or a not-found resource answer) with the same message over MCP."""

from __future__ import annotations

import importlib
import inspect
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

import alice_mcp
from alice_mcp import samples
from alice_mcp.config import Settings, load_settings
from alice_mcp.errors import AliceError
from alice_mcp.server import build_server

MESSAGES = {
    "not_found": "no asset 'ffffff0000' in the library; use search to find asset ids",
    "invalid_query": "unknown field 'colour' in 'colour:red'",
    "outside_roots": "is outside the library's folders",
}


def test_every_exception_class_derives_from_alice_error() -> None:
    found = []
    for module in pkgutil.walk_packages(alice_mcp.__path__, "alice_mcp."):
        if module.name.endswith("__main__"):  # runs the command on import
            continue
        loaded = importlib.import_module(module.name)
        for _, cls in inspect.getmembers(loaded, inspect.isclass):
            if issubclass(cls, BaseException) and cls.__module__ == loaded.__name__:
                found.append(cls)
    assert len(found) >= 20
    strays = [f"{c.__module__}.{c.__qualname__}" for c in found if not issubclass(c, AliceError)]
    assert strays == []


def test_the_faces_catch_the_root_in_one_place() -> None:
    root = Path(alice_mcp.__file__).parent
    for face in ("cli.py", "server.py"):
        text = (root / face).read_text("utf-8")
        assert text.count("except AliceError") == 1 + (face == "server.py"), face  # + watch
        for old in ("LibraryError", "QueryError", "PathOutsideRootsError", "StoreError"):
            assert old not in text, (face, old)


@pytest.fixture
def roots(tmp_path: Path) -> tuple[Path, Path, Path]:
    inbox, organized, db = tmp_path / "inbox", tmp_path / "organized", tmp_path / "lib.duckdb"
    samples.make_sample_inbox(inbox, count=3, seed=5)
    return inbox, organized, db


def _alice(roots: tuple[Path, Path, Path], *args: str) -> subprocess.CompletedProcess[str]:
    inbox, organized, db = roots
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALICE_")}
    return subprocess.run([sys.executable, "-m", "alice_mcp", *args, "--inbox", str(inbox),
                           "--organized", str(organized), "--database", str(db)],
                          capture_output=True, text=True, env=env, timeout=120)


def test_the_cli_shows_each_kind_as_one_line_and_an_exit_code(roots, tmp_path: Path) -> None:
    assert _alice(roots, "--quiet").returncode == 0
    outside = tmp_path / "elsewhere.png"
    outside.write_bytes(next(roots[0].rglob("*.png")).read_bytes())
    cases = {
        "not_found": _alice(roots, "show", "ffffff0000"),
        "invalid_query": _alice(roots, "search", "colour:red"),
        "outside_roots": _alice(roots, "similar", "--path", str(outside)),
    }
    for kind, run in cases.items():
        assert run.returncode == 2, (kind, run.stderr)
        assert run.stdout == "", kind
        lines = run.stderr.strip().splitlines()
        assert lines[-1].startswith("alice: ") and MESSAGES[kind] in lines[-1], (kind, lines)
        assert "Traceback" not in run.stderr, kind
    assert "paths.extra_roots" in cases["outside_roots"].stderr  # says what to do next


@pytest.fixture
def settings(roots: tuple[Path, Path, Path]) -> Settings:
    inbox, organized, db = roots
    return load_settings(flags={"paths.inbox": inbox, "paths.organized": organized,
                                "paths.database": db}).settings


@pytest.mark.anyio
async def test_mcp_shows_each_kind_as_a_tool_error(settings: Settings, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.png"
    outside.write_bytes(b"\x89PNG\r\n\x1a\n")
    async with Client(build_server(settings)) as client:
        assert not (await client.call_tool("organize", {})).is_error
        results = {
            "not_found": await client.call_tool("get_asset", {"asset_id": "ffffff0000"}),
            "invalid_query": await client.call_tool("search", {"query": "colour:red"}),
            "outside_roots": await client.call_tool("find_similar", {"path": str(outside)}),
        }
        tool_names = {"not_found": "get_asset", "invalid_query": "search",
                      "outside_roots": "find_similar"}
        for kind, result in results.items():
            assert result.is_error, kind
            text = result.content[0].text
            # the SDK names the tool; the rest is the library's own message
            assert text.startswith(f"Error executing tool {tool_names[kind]}: "), text
            assert MESSAGES[kind] in text, (kind, text)
        with pytest.raises(MCPError) as err:
            await client.read_resource("alice://asset/ffffff0000")
        assert err.value.error.code == -32602  # not found, with the next step
        assert MESSAGES["not_found"] in err.value.error.message
        good = await client.call_tool("search", {})
        asset_id = good.structured_content["results"][0]["asset_id"]
        body = await client.read_resource(f"alice://asset/{asset_id}")
        assert json.loads(body.contents[0].text)["asset_id"] == asset_id
