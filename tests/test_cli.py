"""The `alice` command as a user runs it: a real subprocess, real files, stdout and stderr apart."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from alice_mcp import samples


def alice(*args: str, env: dict[str, str] | None = None,
          cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("ALICE_")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "alice_mcp", *args], capture_output=True,
                          text=True, env=full_env, cwd=cwd, timeout=120)


def test_organize_then_search_and_stats(tmp_path: Path) -> None:
    inbox, out, db = tmp_path / "in", tmp_path / "out", tmp_path / "lib.duckdb"
    samples.make_sample_inbox(inbox, count=12, seed=1)
    run = alice("--inbox", str(inbox), "--organized", str(out), "--database", str(db), "--json")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)  # logs never reach stdout
    assert report["organized"] > 0 and report["errors"] == []
    assert "Processing 12 files in 1 batches" in run.stderr
    assert "Processed 12/12 files" in run.stderr

    found = alice("search", "--database", str(db), "--json", "--limit", "3")
    page = json.loads(found.stdout)
    assert page["total"] == report["organized"] and len(page["results"]) == 3
    assert page["next_cursor"]
    second = json.loads(alice("search", "--database", str(db), "--json", "--limit", "3",
                              "--cursor", page["next_cursor"]).stdout)
    assert {r["asset_id"] for r in second["results"]}.isdisjoint(
        r["asset_id"] for r in page["results"])

    stats = json.loads(alice("stats", "--database", str(db), "--json").stdout)
    assert stats["assets"] == report["organized"]
    assert {row["key"] for row in stats["by_source"]} >= {"a1111", "comfyui"}


def test_dry_run_prints_the_plan(tmp_path: Path) -> None:
    inbox, out = tmp_path / "in", tmp_path / "out"
    samples.make_sample_inbox(inbox, count=6, seed=2)
    run = alice("--inbox", str(inbox), "--organized", str(out), "--database",
                str(tmp_path / "l.duckdb"), "--dry-run")
    assert run.returncode == 0, run.stderr
    assert "Dry run: nothing was touched" in run.stdout
    assert "-00001" in run.stdout
    assert not out.exists() and not (tmp_path / "l.duckdb").exists()


def test_profiles_show_each_value_and_its_origin(tmp_path: Path) -> None:
    (tmp_path / "settings.yaml").write_text(yaml.safe_dump(
        {"performance": {"batch_insert_size": 1234}}), encoding="utf-8")
    run = alice("profiles", "--json", env={"ALICE_PERFORMANCE": "large_collection",
                                           "ALICE_PERFORMANCE__MAX_WORKERS": "3"}, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    shown = {row["key"]: row for row in json.loads(run.stdout)["settings"]}
    assert shown["performance.batch_size"]["value"] == 500
    assert shown["performance.batch_size"]["origin"].startswith("profile large_collection")
    assert shown["performance.batch_insert_size"]["value"] == 1234
    assert "settings.yaml" in shown["performance.batch_insert_size"]["origin"]
    assert shown["performance.max_workers"]["origin"] == \
        "environment variable ALICE_PERFORMANCE__MAX_WORKERS"
    table = alice("profiles", cwd=tmp_path, env={"ALICE_PERFORMANCE": "fast"})
    assert "profile: fast" in table.stdout and "performance.max_workers" in table.stdout


def test_flags_override_the_environment(tmp_path: Path) -> None:
    run = alice("profiles", "--json", "--workers", "2", "--batch-size", "9",
                env={"ALICE_PERFORMANCE__MAX_WORKERS": "7"}, cwd=tmp_path)
    shown = {row["key"]: row for row in json.loads(run.stdout)["settings"]}
    assert shown["performance.max_workers"] == {"key": "performance.max_workers", "value": 2,
                                                "origin": "command-line flag"}
    assert shown["performance.batch_size"]["value"] == 9


def test_bad_setting_stops_with_key_and_file(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("performance:\n  batch_sise: 10\n", encoding="utf-8")
    run = alice("--config", str(config), "profiles")
    assert run.returncode == 2
    assert "performance.batch_sise" in run.stderr and str(config) in run.stderr
    assert "batch_size" in run.stderr


def test_unknown_profile_lists_known(tmp_path: Path) -> None:
    run = alice("profiles", env={"ALICE_PERFORMANCE": "warp"}, cwd=tmp_path)
    assert run.returncode == 2
    assert "memory_constrained" in run.stderr and "warp" in run.stderr


def test_missing_inbox_is_a_clear_error(tmp_path: Path) -> None:
    run = alice("--organized", str(tmp_path / "o"), "--database", str(tmp_path / "l.duckdb"),
                cwd=tmp_path)
    assert run.returncode == 2
    assert "no inbox folder given" in run.stderr and "--inbox" in run.stderr


def test_inspect_prints_one_json_object_per_file(tmp_path: Path) -> None:
    a = samples.write_a1111_png(tmp_path / "a.png", "a red fox", seed=77)
    c = samples.write_comfyui_png(tmp_path / "c.png", "a blue bird", seed=5)
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image at all")
    run = alice("inspect", "--json", str(a), str(c), str(junk), str(tmp_path / "missing.png"))
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    assert [Path(x["path"]).name for x in lines] == ["a.png", "c.png", "junk.png", "missing.png"]
    assert (lines[0]["source"], lines[0]["prompt"], lines[0]["seed"]) == ("a1111", "a red fox", 77)
    assert (lines[1]["source"], lines[1]["prompt"], lines[1]["seed"]) == ("comfyui", "a blue bird", 5)
    assert lines[2]["source"] == "unknown" and lines[2]["errors"]
    assert lines[3]["error"] == "no such file"
    assert run.returncode == 1  # one file could not be inspected


def test_bad_query_is_explained(tmp_path: Path) -> None:
    run = alice("search", "colour:red", "--database", str(tmp_path / "l.duckdb"))
    assert run.returncode == 2
    assert "unknown field 'colour'" in run.stderr and "tag" in run.stderr
