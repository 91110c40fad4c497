"""`alice mcp-server --transport http` as an attacker on the network (or a web page doing DNS
rebinding) would meet it: the real server in a subprocess on a free loopback port, raw HTTP."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from alice_mcp.cli import main
from alice_mcp.errors import SettingsError
from alice_mcp.exposure import default_token_file, is_loopback, refuse_unprotected

TOKEN = "s3cret-token-for-tests-0123456789"
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "probe", "version": "1"}}}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALICE_")}
    env.update({"ALICE_PATHS__DATABASE": str(tmp_path / "lib.duckdb"),
                "ALICE_PATHS__INBOX": str(tmp_path / "inbox"), **extra})
    return env


def _serve(tmp_path: Path, host: str, port: int, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "alice_mcp", "mcp-server", "--transport", "http", "--host", host,
         "--port", str(port)], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)


@pytest.fixture
def served(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[int, subprocess.Popen]]:
    """The server bound to request.param, with TOKEN, answering on 127.0.0.1."""
    port = _free_port()
    proc = _serve(tmp_path, request.param, port, _env(tmp_path, ALICE_SERVER__AUTH_TOKEN=TOKEN))
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the server did not start listening"
                time.sleep(0.1)
        yield port, proc
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=20)
        assert TOKEN not in err, "the token reached the log"
        assert out == "", f"stdout is not for logs, even over HTTP: {out[:500]}"


def _post(port: int, headers: dict[str, str]) -> httpx.Response:
    base = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    return httpx.post(f"http://127.0.0.1:{port}/mcp", json=INIT, headers=base | headers,
                      timeout=10)


@pytest.mark.parametrize("served", ["127.0.0.1", "0.0.0.0"], indirect=True)
def test_every_request_needs_the_token_and_a_known_host_and_origin(served: tuple[int, subprocess.Popen]) -> None:
    port, _ = served
    assert _post(port, {}).status_code == 401
    assert _post(port, {"Authorization": "Bearer wrong"}).status_code == 401
    assert _post(port, {"Authorization": f"Bearer {TOKEN}x"}).status_code == 401
    assert _post(port, {"Authorization": TOKEN}).status_code == 401  # not a bearer header
    ok = _post(port, {"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200, ok.text
    assert "alice-mcp" in ok.text
    # a foreign Host or Origin (DNS rebinding, a web page) is refused even with the token
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert _post(port, auth | {"Origin": "http://evil.example"}).status_code == 403
    assert _post(port, auth | {"Origin": f"http://evil.example:{port}"}).status_code == 403
    assert _post(port, auth | {"Host": f"evil.example:{port}"}).status_code == 421
    assert _post(port, auth | {"Host": "evil.example"}).status_code == 421
    assert _post(port, auth | {"Origin": f"http://localhost:{port}"}).status_code == 200


def test_a_non_loopback_bind_without_a_token_refuses_to_start(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "alice_mcp", "mcp-server", "--transport", "http", "--host",
         "0.0.0.0", "--port", str(_free_port())], env=_env(tmp_path), cwd=tmp_path,
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "refusing to serve HTTP on 0.0.0.0" in done.stderr
    assert "alice mcp-server --new-token" in done.stderr
    with pytest.raises(SettingsError, match="refusing to serve HTTP on 192.0.2.10:8765"):
        refuse_unprotected("192.0.2.10", 8765, None)
    refuse_unprotected("192.0.2.10", 8765, TOKEN)
    refuse_unprotected("127.0.0.2", 8765, None)
    assert is_loopback("127.0.0.2") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.com")


def test_new_token_is_stored_privately_and_used(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mcp-server", "--new-token"]) == 0
    token = capsys.readouterr().out.strip()
    stored = default_token_file()
    assert stored.read_text("utf-8").strip() == token and len(token) >= 40
    assert stored.is_relative_to(Path(os.environ["XDG_CONFIG_HOME"]))
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert main(["mcp-server", "--new-token"]) == 0  # rotates
    assert capsys.readouterr().out.strip() != token

    from alice_mcp.config import load_settings
    from alice_mcp.exposure import resolve_token
    assert resolve_token(load_settings().settings.server) == stored.read_text("utf-8").strip()


def test_profiles_show_the_token_as_set_never_its_value(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profiles", "--json"]) == 0
    rows = {r["key"]: r["value"] for r in json.loads(capsys.readouterr().out)["settings"]}
    assert rows["server.auth_token"] == "unset"
    monkeypatch.setenv("ALICE_SERVER__AUTH_TOKEN", TOKEN)
    for args in (["profiles", "--json"], ["profiles"]):
        assert main(args) == 0
        out = capsys.readouterr().out
        assert TOKEN not in out and "set" in out
    assert main(["profiles", "--json"]) == 0
    rows = {r["key"]: r["value"] for r in json.loads(capsys.readouterr().out)["settings"]}
    assert rows["server.auth_token"] == "set"
