"""XMP sidecars: tags, stars and the generation of an asset written beside its organized file,
and a user's edits (digiKam, Lightroom, darktable) read back. See xmp.py for the packet."""

from __future__ import annotations

from alice_mcp.sidecars.xmp import (
    SidecarError,
    SidecarFacts,
    SidecarRead,
    merge_sidecar,
    read_sidecar,
    sidecar_path,
    write_atomically,
)

__all__ = ["SidecarError", "SidecarFacts", "SidecarRead", "merge_sidecar", "read_sidecar",
           "sidecar_path", "write_atomically"]
