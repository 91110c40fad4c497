"""Every setting is read by the code and documented (datasette keeps the same test): a setting added
and never read, or never written into README.md and examples/settings.yaml, fails here."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

import alice_mcp
from alice_mcp.config import MOVED, Settings

ROOT = Path(__file__).parent.parent
PACKAGE = Path(alice_mcp.__file__).parent
DECLARED_IN = {PACKAGE / "config.py", PACKAGE / "understanding" / "settings.py",
               PACKAGE / "embeddings" / "settings.py"}


def _leaves(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, info in model.model_fields.items():
        kind = info.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            found += _leaves(kind, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


SETTINGS = _leaves(Settings)


def _code() -> str:
    return "\n".join(p.read_text("utf-8") for p in PACKAGE.rglob("*.py")
                     if p not in DECLARED_IN)


def _readme_rows() -> list[tuple[str, list[str], str]]:
    """(section, keys, the rest of the row) of the README's settings table."""
    text = (ROOT / "README.md").read_text("utf-8")
    table = text[text.index("| section | key |"):]
    table = table[:table.index("\n\n")]
    rows = []
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows.append((cells[0], [k.strip() for k in cells[1].split(",")], " ".join(cells[2:])))
    return rows


def test_there_are_settings_to_check() -> None:
    assert len(SETTINGS) > 40
    assert ("media", "thumbnail_size") in SETTINGS and ("store", "lock_timeout_seconds") in SETTINGS


def test_every_setting_is_read_somewhere() -> None:
    code = _code()
    unread = [".".join(key) for key in SETTINGS
              if not re.search(rf"\.{key[-1]}\b|\"{key[-1]}\"", code)]
    assert unread == [], "settings declared but never read"


def test_every_setting_is_in_the_readme_table() -> None:
    rows = _readme_rows()

    def documented(key: tuple[str, ...]) -> bool:
        section, name, *deeper = key
        return any(s == section and name in keys and all(d in rest for d in deeper)
                   for s, keys, rest in rows)
    missing = [".".join(key) for key in SETTINGS if not documented(key)]
    assert missing == [], "settings missing from README.md's settings table"


def test_every_setting_is_in_the_example_file() -> None:
    text = (ROOT / "examples" / "settings.yaml").read_text("utf-8")
    missing = [".".join(key) for key in SETTINGS
               if not re.search(rf"^\s*#?\s*{key[-1]}:", text, re.MULTILINE)]
    assert missing == [], "settings missing from examples/settings.yaml"


def test_moved_settings_point_at_real_ones() -> None:
    for old, new in MOVED.items():
        assert tuple(new.split(".")) in SETTINGS, new
        assert tuple(old.split(".")) not in SETTINGS, old
