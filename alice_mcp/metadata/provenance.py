"""C2PA manifest stores, read with the official C2PA library (c2pa-python) and nothing else.

Only called when a container reader saw a manifest store (PNG caBX, JPEG APP11, WebP C2PA,
GIF C2PA_GIF, MP4 uuid box), so files without one cost nothing. Network use is switched
off: remote manifests and OCSP are not fetched. The signature is validated locally; the
result says "Valid", "Trusted" or "Invalid" next to the manifest JSON.
"""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING, Any, BinaryIO

if TYPE_CHECKING:
    import c2pa

MAX_MANIFEST_JSON = 4 * 1024 * 1024
SETTINGS = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
MIME = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "gif": "image/gif",
    "mp4": "video/mp4",
    "mov": "video/quicktime",
    "avi": "video/x-msvideo",
}
_local = threading.local()


def _context() -> c2pa.Context:
    """One offline C2PA context per thread (created on first use)."""
    import c2pa  # imported on first use: most files carry no manifest

    ctx = getattr(_local, "context", None)
    if ctx is None:
        ctx = _local.context = c2pa.Context.from_dict(SETTINGS)
    return ctx


def read_manifest_store(fp: BinaryIO, fmt: str) -> tuple[dict[str, Any] | None, list[str]]:
    """Return (manifest store JSON with `validation_state`, error notes); never raises."""
    mime = MIME.get(fmt)
    if mime is None:
        return None, [f"c2pa: {fmt} files are not read"]
    import c2pa

    try:
        fp.seek(0)
        reader = c2pa.Reader.try_create(mime, fp, None, _context())
        if reader is None:
            return None, ["c2pa: manifest store marker found but no manifest"]
        with reader:
            text = reader.json()
            state = reader.get_validation_state()
    except (c2pa.C2paError, OSError, ValueError) as exc:
        return None, [f"c2pa: cannot read manifest store: {exc}"[:500]]
    if len(text) > MAX_MANIFEST_JSON:
        return None, [f"c2pa: manifest JSON of {len(text)} chars over {MAX_MANIFEST_JSON} limit"]
    try:
        store = json.loads(text)
    except ValueError as exc:
        return None, [f"c2pa: library returned invalid JSON ({exc})"]
    if not isinstance(store, dict):
        return None, ["c2pa: manifest store is not an object"]
    store["validation_state"] = state
    return store, []


def active_manifest(store: dict[str, Any] | None) -> dict[str, Any] | None:
    """The active manifest of a store (the one that describes the asset itself)."""
    if not store:
        return None
    manifests = store.get("manifests")
    if not isinstance(manifests, dict):
        return None
    manifest = manifests.get(store.get("active_manifest"))
    return manifest if isinstance(manifest, dict) else None
