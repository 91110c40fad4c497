"""The folders the library may touch, and the guard every path argument passes through."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from alice_mcp.errors import OutsideRoots


def inside(path: Path, roots: Sequence[Path]) -> Path:
    """The path resolved (symlinks followed, '..' collapsed), if it lies inside one of the roots."""
    if not roots:
        raise OutsideRoots(
            "no folders are configured: set paths.inbox, paths.organized or paths.extra_roots "
            "in settings.yaml (see `alice profiles`) before passing paths")
    if "\x00" in str(path):
        raise OutsideRoots(f"{str(path)!r} holds a NUL character, which no file name can hold; "
                           "give the path without it")
    try:
        resolved = Path(path).expanduser().resolve(strict=False)
    except (OSError, RuntimeError) as exc:  # symlink loops raise RuntimeError on some versions
        raise OutsideRoots(f"cannot resolve {path}: {exc}") from None
    for root in roots:
        if resolved == root or resolved.is_relative_to(root):
            return resolved
    allowed = ", ".join(str(r) for r in roots)
    raise OutsideRoots(
        f"{path} is outside the library's folders (it resolves to {resolved}); allowed: {allowed}. "
        "Add the folder to paths.extra_roots in settings.yaml to allow it")
