"""Settings: built-in defaults < profile < settings.yaml < ALICE_* environment < command-line flags.

Over 400 lines for now: the section models and the layered loading live together; the next split
moves the sections (PathsSettings ... Settings) to a settings module of their own.

Each layer is read by a pydantic-settings source, merged key by key, and validated once.
The origin of every value is kept so `alice profiles` can say where it came from and a
bad value can be reported with the key, the file (or variable) and the allowed values.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import platformdirs
import structlog
import yaml
from annotated_types import Ge, Gt, Le, Lt
from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from alice_mcp.embeddings.settings import EmbeddingsSettings
from alice_mcp.errors import SettingsError
from alice_mcp.profile_files import known_profiles, profiles_dir
from alice_mcp.understanding.settings import Section, UnderstandingSettings

log = structlog.get_logger(__name__)
APP_NAME = "alice-mcp"
ENV_PREFIX = "ALICE_"
PROFILE_ENV = "ALICE_PERFORMANCE"
CONFIG_ENV = "ALICE_CONFIG"
DEFAULT_PROFILE = "default"
DEFAULT_LAYOUT = "{date}/{project}/{source}/{project}-{seq:05d}{ext}"
# settings that moved to the section of the code that reads them: old key -> new key
MOVED = {
    "understanding.thumbnail_size": "media.thumbnail_size",
    "understanding.stars_thresholds": "media.stars_thresholds",
    "server.lock_timeout_seconds": "store.lock_timeout_seconds",
}
SECRET_KEYS = frozenset({"server.auth_token"})  # shown as set/unset, never their value


class ExtraRoot(Section):
    """One more folder the tools may use: read only (a plain path), or `mode: write`, which
    also lets `organize` use it as its inbox or organized folder."""

    path: Path
    mode: Literal["read", "write"] = "read"


class PathsSettings(Section):
    """Where the library reads from and writes to."""

    inbox: Path | None = None
    organized: Path | None = None
    database: Path | None = None
    extra_roots: list[ExtraRoot] = Field(default_factory=list)
    layout: str = DEFAULT_LAYOUT

    @field_validator("extra_roots", mode="before")
    @classmethod
    def _plain_paths_read_only(cls, value: Any) -> Any:
        """A plain path is a read-only root; {path, mode} says more."""
        if isinstance(value, list):
            return [{"path": v} if isinstance(v, (str, Path)) else v for v in value]
        return value


class PerformanceSettings(Section):
    """Throughput, memory and monitoring knobs; profiles set these."""

    max_workers: int = Field(8, ge=1, le=256)
    batch_size: int = Field(100, ge=1, le=100_000)
    parallel_threshold: int = Field(100, ge=1, le=1_000_000)
    enable_batch_operations: bool = True
    parallel_metadata_extraction: bool = True
    batch_insert_size: int = Field(1000, ge=1, le=1_000_000)
    transaction_size: int = Field(5000, ge=1, le=10_000_000)
    max_memory_cache_mb: int = Field(512, ge=1, le=65_536)
    duckdb_memory_limit_mb: int = Field(256, ge=32, le=1_048_576)  # raised for big libraries
    cache_ttl_seconds: int = Field(300, ge=0, le=604_800)
    understanding_batch_size: int = Field(4, ge=1, le=64)
    max_concurrent_api_calls: int = Field(4, ge=1, le=64)
    search_cache_size: int = Field(1000, ge=0, le=1_000_000)
    max_concurrent_reads: int = Field(16, ge=1, le=256)  # search, get_asset, view... at once
    search_index_mb: int = Field(256, ge=0, le=65_536)  # in-memory filter index; 0: off
    enable_performance_monitoring: bool = False
    log_performance_metrics: bool = False
    metrics_interval_seconds: float = Field(60.0, gt=0, le=86_400)
    # where organize and `alice index` read and index files: threads here, worker processes
    # here (processes.py; threads read the rest if they cannot start), or Dask workers (remote.py)
    executor: Literal["local", "processes", "dask"] = "processes"
    dask_scheduler: str = "local"  # an address (tcp://host:8786), or local: a LocalCluster
    dask_workers: int = Field(2, ge=1, le=1024)  # worker processes of the LocalCluster
    path_map: dict[str, str] = Field(default_factory=dict)  # folder here -> on the workers


class MetadataSettings(Section):
    """How generator metadata is read."""

    stealth: bool = False  # also look for stealth pnginfo in PNG/WebP pixels (scans every pixel)
    # a file whose reading takes longer (plus 1 s per 20 MB) is abandoned with a per-file error
    file_timeout_seconds: float = Field(30.0, ge=0, le=86_400)


class MediaSettings(Section):
    """What the one decode of each image stores: its thumbnail, and stars from its quality."""

    thumbnail_size: int = Field(256, ge=64, le=1024)
    stars_thresholds: tuple[float, float, float, float] = (20.0, 40.0, 60.0, 80.0)


class SidecarsSettings(Section):
    """XMP sidecars beside organized files (alice_mcp/sidecars/): tags travel with the files."""

    write: Literal["auto", "off"] = "off"  # auto: after tag, analyze and organize
    naming: Literal["ext", "stem"] = "ext"  # ext: <file>.<ext>.xmp; stem: <file>.xmp

    @field_validator("write", mode="before")
    @classmethod
    def _yaml_off(cls, value: Any) -> Any:
        """YAML reads a bare `off` as false (and `on` as true): take them as meant."""
        return {False: "off", True: "auto"}.get(value, value) if isinstance(value, bool) else value


class StoreSettings(Section):
    """The library's database file, shared by every process that opens it."""

    lock_timeout_seconds: float = Field(10.0, ge=0, le=600)  # wait for another process


class ServerSettings(Section):
    """The MCP server face."""

    transport: Literal["stdio", "http"] = "stdio"
    host: str = "127.0.0.1"
    port: int = Field(8765, ge=1, le=65_535)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    idle_release_seconds: float = Field(2.0, ge=0, le=3600)  # 0: keep the database open
    watch: bool = False  # `alice mcp-server` also watches the inbox
    watch_settle_seconds: float = Field(1.0, ge=0.1, le=600)  # a file must be unchanged this long
    max_view_images: int = Field(8, ge=1, le=64)
    # HTTP only (see alice_mcp/exposure.py): a bearer token every request must carry, or a file
    # holding one; required on any address other than loopback. Never logged or shown.
    auth_token: SecretStr | None = None
    token_file: Path | None = None
    # Host / Origin header values accepted besides the loopback names (DNS-rebinding guard)
    allowed_hosts: list[str] = Field(default_factory=list)
    allowed_origins: list[str] = Field(default_factory=list)


class Settings(BaseSettings):
    """The effective settings of one library."""

    model_config = SettingsConfigDict(extra="forbid", validate_assignment=True)

    paths: PathsSettings = Field(default_factory=PathsSettings)
    performance: PerformanceSettings = Field(default_factory=PerformanceSettings)
    understanding: UnderstandingSettings = Field(default_factory=UnderstandingSettings)
    metadata: MetadataSettings = Field(default_factory=MetadataSettings)
    media: MediaSettings = Field(default_factory=MediaSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    embeddings: EmbeddingsSettings = Field(default_factory=EmbeddingsSettings)
    sidecars: SidecarsSettings = Field(default_factory=SidecarsSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource, **_: Any
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # load_settings() merges the layers itself; the constructor only validates them.
        return (init_settings,)

    @property
    def database_path(self) -> Path:
        """The DuckDB file: the configured one, else a file in the user's data folder."""
        if self.paths.database is not None:
            return self.paths.database.expanduser()
        return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / "library.duckdb"

    @property
    def roots(self) -> list[Path]:
        """Every folder the library may read or write, resolved."""
        found = [self.paths.inbox, self.paths.organized, *(r.path for r in self.paths.extra_roots)]
        return [p.expanduser().resolve() for p in found if p is not None]

    def organize_roots(self, role: str) -> list[Path]:
        """Where `organize` may take its inbox ("inbox") or write ("organized"): the configured
        folder of that role, and extra roots marked `mode: write`."""
        own = self.paths.inbox if role == "inbox" else self.paths.organized
        found = [own, *(r.path for r in self.paths.extra_roots if r.mode == "write")]
        return [p.expanduser().resolve() for p in found if p is not None]


@dataclass(slots=True)
class Layer:
    """One source of values: its name for messages and the nested values it set."""

    name: str
    values: dict[str, Any]
    key_origin: dict[tuple[str, ...], str] = field(default_factory=dict)

    def origin(self, loc: tuple[str, ...]) -> str:
        return self.key_origin.get(loc, self.name)


@dataclass(slots=True)
class LoadedSettings:
    """Validated settings plus where each value came from."""

    settings: Settings
    profile: str
    config_file: Path | None
    origins: dict[str, str]

    def rows(self) -> list[tuple[str, Any, str]]:
        """(dotted key, value, origin) for every leaf setting, in declaration order."""
        dumped = self.settings.model_dump(mode="json")
        return [
            (key, _shown(key, value), self.origins.get(key, "built-in default"))
            for key, value in _leaves(dumped)
        ]


def _shown(key: str, value: Any) -> Any:
    """A secret's presence, never its value."""
    if key in SECRET_KEYS:
        return "set" if value else "unset"
    return value


def user_config_file() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / "settings.yaml"


def find_config_file(explicit: Path | None, environ: Mapping[str, str]) -> Path | None:
    """--config FILE, else $ALICE_CONFIG, else ./settings.yaml, else the user's config folder."""
    for given, how in ((explicit, "--config"), (environ.get(CONFIG_ENV), CONFIG_ENV)):
        if given:
            path = Path(given).expanduser()
            if not path.is_file():
                what = "is not a regular file" if path.exists() else "does not exist"
                raise SettingsError(f"settings file {path} (from {how}) {what}; "
                                    "create it or point to an existing file")
            return path
    for candidate in (Path.cwd() / "settings.yaml", user_config_file()):
        if candidate.is_file():
            return candidate
    return None


def load_settings(
    config_file: Path | None = None,
    flags: Mapping[str, Any] | None = None,
    profile: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> LoadedSettings:
    """Read every layer, merge them in precedence order and validate; raise SettingsError."""
    environ = os.environ if environ is None else environ
    path = find_config_file(config_file, environ)
    file_layer = _yaml_layer(path, f"settings file {path}") if path else Layer("settings file", {})
    profile_name = profile or environ.get(PROFILE_ENV) or file_layer.values.pop("profile", None)
    profile_name = str(profile_name or DEFAULT_PROFILE)
    layers = [
        _profile_layer(profile_name),
        file_layer,
        _env_layer(environ),
        Layer("command-line flag", _nest(flags or {})),
    ]
    for layer in layers:
        _move_renamed_keys(layer)
    merged: dict[str, Any] = {}
    for layer in layers:
        _deep_merge(merged, layer.values)
    try:
        settings = Settings(**merged)
    except ValidationError as exc:
        raise SettingsError(_explain(exc, layers)) from None
    origins: dict[str, str] = {}
    for layer in layers:
        for key, _ in _leaves(layer.values):
            origins[key] = layer.origin(tuple(key.split(".")))
    return LoadedSettings(settings, profile_name, path, origins)


def _move_renamed_keys(layer: Layer) -> None:
    """Read a setting written under its old name at its new place, and say where it now lives."""
    for old, new in MOVED.items():
        old_loc, new_loc = tuple(old.split(".")), tuple(new.split("."))
        if not _has(layer.values, old_loc):
            continue
        parent = layer.values
        for part in old_loc[:-1]:
            parent = parent[part]
        value = parent.pop(old_loc[-1])
        where = layer.origin(old_loc)
        node = layer.values
        for part in new_loc[:-1]:
            node = node.setdefault(part, {})
        node.setdefault(new_loc[-1], value)
        layer.key_origin[new_loc] = where
        log.warning("setting moved; rename it", old=old, new=new, where=where)


def _profile_layer(name: str) -> Layer:
    path = profiles_dir() / f"{name}.yaml"
    if not name.replace("_", "").isalnum() or not path.is_file():
        raise SettingsError(
            f"unknown profile {name!r}; known profiles: {', '.join(known_profiles())} "
            f"(set {PROFILE_ENV} to one of them)"
        )
    return _yaml_layer(path, f"profile {name} ({path})")


def _yaml_layer(path: Path, name: str) -> Layer:
    if path.exists() and not path.is_file():  # a FIFO or device would block or never end
        raise SettingsError(f"{path} is not a regular file; point --config at a settings.yaml")
    try:
        values = YamlConfigSettingsSource(Settings, yaml_file=path)()
    except yaml.YAMLError as exc:
        raise SettingsError(f"{path} is not valid YAML: {exc}") from None
    except OSError as exc:
        raise SettingsError(f"cannot read {path}: {exc.strerror}") from None
    except (ValueError, TypeError):  # e.g. a file of plain lines: not a mapping of sections
        raise SettingsError(f"{path} must hold a mapping of sections (paths, performance, "
                            "...); see examples/settings.yaml") from None
    if not isinstance(values, dict):
        raise SettingsError(f"{path} must hold a mapping of sections (paths, performance, ...)")
    return Layer(name, dict(values))


class _AliceEnvSource(EnvSettingsSource):
    """ALICE_<SECTION>__<KEY> variables; ALICE_PERFORMANCE alone names a profile, not a section."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        super().__init__(Settings, env_prefix=ENV_PREFIX, env_nested_delimiter="__",
                         case_sensitive=False)
        self.env_vars = {k.lower(): v for k, v in environ.items()
                         if k.upper().startswith(ENV_PREFIX) and "__" in k}


def _env_layer(environ: Mapping[str, str]) -> Layer:
    source = _AliceEnvSource(environ)
    try:
        values = source()
    except Exception as exc:  # pydantic-settings wraps JSON errors of complex values
        raise SettingsError(f"environment: {exc}") from None
    key_origin = {}
    for name in source.env_vars:
        loc = tuple(name[len(ENV_PREFIX):].split("__"))
        key_origin[loc] = f"environment variable {name.upper()}"
    return Layer("environment", values, key_origin)


def _explain(exc: ValidationError, layers: list[Layer]) -> str:
    lines = []
    for err in exc.errors():
        loc = tuple(str(p) for p in err["loc"])
        key = ".".join(loc)
        origin = next((ly.origin(loc) for ly in reversed(layers) if _has(ly.values, loc)),
                      "built-in default")
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(loc[:-1])
            guess = difflib.get_close_matches(loc[-1], allowed, n=1)
            hint = f"; did you mean {guess[0]!r}?" if guess else ""
            if "key" in loc[-1].lower() and loc[0] == "understanding":
                hint = ("; API keys are never settings: remove it from here and set "
                        "OPENAI_API_KEY, ANTHROPIC_API_KEY or GEMINI_API_KEY in the environment")
            lines.append(f"unknown setting {key!r} in {origin}; allowed keys: "
                         f"{', '.join(allowed)}{hint}")
        else:
            lines.append(f"bad value {err.get('input')!r} for {key!r} in {origin}: {err['msg']}; "
                         f"allowed: {_allowed_values(loc)}")
    return "\n".join(lines)


def _section_model(loc: tuple[str, ...]) -> type[BaseModel] | None:
    model: type[BaseModel] = Settings
    for part in loc:
        info = model.model_fields.get(part)
        if info is None or not (isinstance(info.annotation, type)
                                and issubclass(info.annotation, BaseModel)):
            return None
        model = info.annotation
    return model


def _allowed_keys(section: tuple[str, ...]) -> list[str]:
    model = _section_model(section)
    return list(model.model_fields) if model else []


_BOUNDS = ((Ge, ">=", "ge"), (Gt, ">", "gt"), (Le, "<=", "le"), (Lt, "<", "lt"))


def _allowed_values(loc: tuple[str, ...]) -> str:
    model = _section_model(loc[:-1])
    info = model.model_fields.get(loc[-1]) if model and loc else None
    if info is None:
        return "see the Settings section of README.md"
    if info.annotation is bool:
        return "true or false"
    if get_origin(info.annotation) is Literal:
        return ", ".join(map(str, get_args(info.annotation)))
    bounds = [f"{op} {getattr(meta, attr)}" for meta in info.metadata
              for cls, op, attr in _BOUNDS if isinstance(meta, cls)]
    kind = getattr(info.annotation, "__name__", str(info.annotation))
    return " ".join([kind, " and ".join(bounds)]).strip()


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """{'performance.max_workers': 4} -> {'performance': {'max_workers': 4}}; None is skipped."""
    nested: dict[str, Any] = {}
    for dotted, value in flat.items():
        if value is None:
            continue
        *parents, leaf = dotted.split(".")
        node = nested
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested


def _deep_merge(into: dict[str, Any], values: Mapping[str, Any]) -> None:
    for key, value in values.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _deep_merge(into[key], value)
        else:
            into[key] = dict(value) if isinstance(value, Mapping) else value


def _has(values: Mapping[str, Any], loc: tuple[str, ...]) -> bool:
    node: Any = values
    for part in loc:
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def _leaves(values: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out = []
    for key, value in values.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.extend(_leaves(value, dotted + "."))
        else:
            out.append((dotted, value))
    return out
