"""Settings: profile selection, precedence of every source, and errors that name key and file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from alice_mcp.config import (
    PerformanceSettings,
    SettingsError,
    known_profiles,
    load_settings,
    profiles_dir,
)

PROFILES = {
    "default": (8, 100),
    "fast": (16, 200),
    "memory_constrained": (4, 50),
    "large_collection": (12, 500),
}


def _write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_every_profile_in_the_table_exists_and_no_other() -> None:
    assert sorted(PROFILES) == known_profiles()


@pytest.mark.parametrize(("name", "expected"), PROFILES.items())
def test_profile_is_selected_by_alice_performance(monkeypatch: pytest.MonkeyPatch, name: str,
                                                  expected: tuple[int, int]) -> None:
    monkeypatch.setenv("ALICE_PERFORMANCE", name)
    loaded = load_settings()
    perf = loaded.settings.performance
    assert loaded.profile == name
    assert (perf.max_workers, perf.batch_size) == expected
    assert loaded.origins["performance.max_workers"].startswith(f"profile {name}")


def test_profiles_differ_where_the_table_says() -> None:
    def perf(name: str) -> PerformanceSettings:
        return load_settings(profile=name).settings.performance

    assert perf("memory_constrained").max_memory_cache_mb == 100
    assert perf("memory_constrained").duckdb_memory_limit_mb < perf("default").duckdb_memory_limit_mb
    assert perf("fast").max_memory_cache_mb == 8192
    big, default = perf("large_collection"), perf("default")
    assert big.batch_insert_size > default.batch_insert_size
    assert big.transaction_size > default.transaction_size


def test_no_profile_means_default() -> None:
    assert load_settings().profile == "default"


def test_unknown_profile_lists_the_known_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALICE_PERFORMANCE", "turbo")
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert "turbo" in str(err.value)
    for name in PROFILES:
        assert name in str(err.value)


def test_precedence_default_profile_file_env_flags(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALICE_PERFORMANCE", "fast")  # max_workers 16, batch_size 200
    config = _write(tmp_path / "settings.yaml", {"performance": {
        "max_workers": 5, "batch_size": 55, "transaction_size": 777}})
    monkeypatch.setenv("ALICE_PERFORMANCE__BATCH_SIZE", "66")
    monkeypatch.setenv("ALICE_PERFORMANCE__TRANSACTION_SIZE", "888")
    loaded = load_settings(config, flags={"performance.transaction_size": 999})
    perf = loaded.settings.performance
    assert perf.search_cache_size == 10000           # profile over built-in default
    assert perf.parallel_threshold == 100            # built-in default (no source sets it)
    assert perf.max_workers == 5                     # file over profile
    assert perf.batch_size == 66                     # environment over file
    assert perf.transaction_size == 999              # flag over environment
    origins = loaded.origins
    assert origins["performance.search_cache_size"].startswith("profile fast")
    assert origins["performance.max_workers"] == f"settings file {config}"
    assert origins["performance.batch_size"] == "environment variable ALICE_PERFORMANCE__BATCH_SIZE"
    assert origins["performance.transaction_size"] == "command-line flag"
    assert dict((k, o) for k, _, o in loaded.rows())["performance.parallel_threshold"] \
        == "built-in default"


def test_config_file_discovery_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    user = Path(tmp_path / "home" / ".config" / "alice-mcp")
    user.mkdir(parents=True)
    _write(user / "settings.yaml", {"performance": {"max_workers": 1}})
    assert load_settings().settings.performance.max_workers == 1

    _write(tmp_path / "settings.yaml", {"performance": {"max_workers": 2}})
    assert load_settings().settings.performance.max_workers == 2   # ./settings.yaml first

    env_file = _write(tmp_path / "env.yaml", {"performance": {"max_workers": 3}})
    monkeypatch.setenv("ALICE_CONFIG", str(env_file))
    assert load_settings().settings.performance.max_workers == 3   # $ALICE_CONFIG before that

    flag_file = _write(tmp_path / "flag.yaml", {"performance": {"max_workers": 4}})
    assert load_settings(flag_file).settings.performance.max_workers == 4  # --config first


def test_missing_explicit_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(tmp_path / "nope.yaml")


def test_every_section_is_read_from_the_file(tmp_path: Path) -> None:
    config = _write(tmp_path / "s.yaml", {
        "paths": {"inbox": "/data/in", "organized": "/data/out", "database": "/data/l.duckdb",
                  "extra_roots": ["/data/more"]},
        "performance": {"max_workers": 3},
        "understanding": {"provider": "local", "budget_usd_per_run": 0.5},
        "server": {"port": 9000}})
    s = load_settings(config).settings
    assert s.paths.inbox == Path("/data/in")
    assert [(r.path, r.mode) for r in s.paths.extra_roots] == [(Path("/data/more"), "read")]
    assert s.database_path == Path("/data/l.duckdb")
    assert s.understanding.budget_usd_per_run == 0.5 and s.server.port == 9000


def test_database_defaults_to_the_user_data_folder(tmp_path: Path) -> None:
    path = load_settings().settings.database_path
    assert path.name == "library.duckdb"
    assert not path.is_relative_to(tmp_path / "inbox")
    assert path.parent != Path.cwd()
    assert "alice-mcp" in path.parts


def test_misspelt_key_in_file_names_key_file_and_allowed(tmp_path: Path) -> None:
    config = _write(tmp_path / "settings.yaml", {"performance": {"max_workerz": 4}})
    with pytest.raises(SettingsError) as err:
        load_settings(config)
    text = str(err.value)
    assert "performance.max_workerz" in text and str(config) in text
    assert "max_workers" in text and "batch_insert_size" in text


def test_misspelt_section_is_rejected(tmp_path: Path) -> None:
    config = _write(tmp_path / "settings.yaml", {"perfomance": {"max_workers": 4}})
    with pytest.raises(SettingsError, match="perfomance.*did you mean 'performance'"):
        load_settings(config)


@pytest.mark.parametrize(("key", "value", "allowed"), [
    ("max_workers", 0, ">= 1"),
    ("max_workers", 10_000, "<= 256"),
    ("batch_size", -1, ">= 1"),
    ("metrics_interval_seconds", 0, "> 0"),
    ("enable_batch_operations", "maybe", "true or false"),
    ("duckdb_memory_limit_mb", 8, ">= 32"),
    ("duckdb_memory_limit_mb", "lots", "int"),
])
def test_out_of_range_value_names_key_file_and_allowed(tmp_path: Path, key: str, value: object,
                                                       allowed: str) -> None:
    config = _write(tmp_path / "settings.yaml", {"performance": {key: value}})
    with pytest.raises(SettingsError) as err:
        load_settings(config)
    text = str(err.value)
    assert f"performance.{key}" in text and str(config) in text and allowed in text


def test_bad_environment_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALICE_PERFORMANCE__MAX_WORKERS", "0")
    with pytest.raises(SettingsError, match="ALICE_PERFORMANCE__MAX_WORKERS"):
        load_settings()
    monkeypatch.setenv("ALICE_PERFORMANCE__MAX_WORKERS", "2")
    monkeypatch.setenv("ALICE_SERVER__TRANSPORT", "carrier-pigeon")
    with pytest.raises(SettingsError, match="ALICE_SERVER__TRANSPORT.*stdio, http"):
        load_settings()


def test_misspelt_environment_key_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALICE_PATHS__INBOKS", "/x")
    with pytest.raises(SettingsError, match="paths.inboks.*did you mean 'inbox'"):
        load_settings()


def test_invalid_yaml_names_the_file(tmp_path: Path) -> None:
    config = tmp_path / "settings.yaml"
    config.write_text("performance: [unclosed", encoding="utf-8")
    with pytest.raises(SettingsError, match="not valid YAML"):
        load_settings(config)


def test_profile_files_only_set_known_keys() -> None:
    for path in profiles_dir().glob("*.yaml"):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert set(data) == {"performance"}
        assert set(data["performance"]) <= set(PerformanceSettings.model_fields)
