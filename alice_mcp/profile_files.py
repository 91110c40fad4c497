"""Where the performance profiles' YAML files are, and their names: the CLI's parser lists them
(`--profile`) without importing the settings machinery (pydantic-settings, yaml)."""

from __future__ import annotations

from pathlib import Path


def profiles_dir() -> Path:
    """The folder of profile YAML files: inside the installed package, else the source tree."""
    packaged = Path(__file__).parent / "profiles"
    return packaged if packaged.is_dir() else Path(__file__).parent.parent / "profiles"


def known_profiles() -> list[str]:
    """The profile names, from the files there (one YAML file a profile)."""
    return sorted(p.stem for p in profiles_dir().glob("*.yaml"))
