"""The official MCP conformance suite (npm @modelcontextprotocol/conformance, server scenarios)
against `alice mcp-server --transport http` in a subprocess. Scenarios that need the suite's own
test server are listed, with the reason, in conformance_not_applicable.yml; the rest must pass."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.npm_tools import pinned_tool

SUITE = "@modelcontextprotocol/conformance@0.1.16"  # exact: a test never installs "latest"
NOT_APPLICABLE = Path(__file__).parent / "conformance_not_applicable.yml"


@pytest.fixture(scope="module")
def conformance() -> tuple[Path, dict[str, str]]:
    """The pinned suite's CLI and an environment whose node is >= 22."""
    return pinned_tool("conformance", SUITE)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_server_scenarios_pass_over_http(conformance: tuple[Path, dict[str, str]],
                                         tmp_path: Path) -> None:
    binary, env = conformance
    port = _free_port()
    server_env = {k: v for k, v in os.environ.items() if not k.startswith("ALICE_")}
    server_env.update({"ALICE_PATHS__DATABASE": str(tmp_path / "lib.duckdb"),
                       "ALICE_PATHS__INBOX": str(tmp_path / "inbox")})
    server = subprocess.Popen(
        [sys.executable, "-m", "alice_mcp", "mcp-server", "--transport", "http", "--port",
         str(port)], env=server_env, cwd=tmp_path, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, "the server exited"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the server did not start listening"
                time.sleep(0.1)
        run = subprocess.run(
            [str(binary), "server", "--url", f"http://127.0.0.1:{port}/mcp",
             "--expected-failures", str(NOT_APPLICABLE), "-o", str(tmp_path / "results")],
            capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path)
    finally:
        server.terminate()
        server.wait(timeout=20)
    summary = run.stdout[run.stdout.rfind("=== SUMMARY ==="):]
    assert run.returncode == 0, summary + run.stderr[-2000:]
    for must_pass in ("server-initialize", "tools-list", "tools-call-error", "ping",
                      "resources-list", "prompts-list", "dns-rebinding-protection"):
        assert f"✓ {must_pass}:" in summary, summary
