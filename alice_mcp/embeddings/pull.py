"""Fetch an embedding model once into the models folder, with progress; nothing else goes online.

Each file is streamed to a temporary name beside its final one and renamed when complete, so
an interrupted download leaves no half file under a real name; files already there are kept.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import structlog

from alice_mcp.embeddings.models import KNOWN, model_folder
from alice_mcp.embeddings.settings import EmbeddingsSettings
from alice_mcp.errors import InvalidArgument, NotFound
from alice_mcp.progress import ProgressListener

log = structlog.get_logger(__name__)
CHUNK = 1 << 20


def file_url(hub_url: str, location: str) -> str:
    """The download address of "<org>/<repo>/<path>" on a Hugging Face-style hub."""
    org, repo, path = location.split("/", 2)
    return f"{hub_url.rstrip('/')}/{org}/{repo}/resolve/main/{path}"


async def pull(settings: EmbeddingsSettings, names: list[str],
               listener: ProgressListener | None = None) -> list[Path]:
    """Download the named models that are not complete yet; their folders, in order."""
    unknown = [n for n in names if n not in KNOWN]
    if unknown:
        raise InvalidArgument(f"alice cannot download {', '.join(unknown)}; known models: "
                              f"{', '.join(KNOWN)}. Copy other models into "
                              f"{settings.models_dir} yourself")
    folders = []
    async with httpx.AsyncClient(follow_redirects=True, timeout=httpx.Timeout(60.0)) as client:
        for name in names:
            folder = model_folder(settings.models_dir, name)
            folder.mkdir(parents=True, exist_ok=True)
            for file, location in KNOWN[name].files.items():
                target = folder / file
                if not target.is_file():
                    await _fetch(client, file_url(settings.hub_url, location), target,
                                 f"{name}/{file}", listener)
            folders.append(folder)
    return folders


async def _fetch(client: httpx.AsyncClient, url: str, target: Path, label: str,
                 listener: ProgressListener | None) -> None:
    partial = target.with_name(f".{target.name}.part")
    log.info("downloading", file=label, url=url)
    try:
        async with client.stream("GET", url) as response:
            if response.status_code == 404:
                raise NotFound(f"{url} answered 404: the model file moved; set "
                               "embeddings.model_dir to a folder holding the model instead")
            response.raise_for_status()
            total = int(response.headers.get("content-length") or 0)
            done = 0
            with partial.open("wb") as out:
                async for chunk in response.aiter_bytes(CHUNK):
                    out.write(chunk)
                    done += len(chunk)
                    if listener is not None:
                        await listener(done, total, f"downloading {label}")
                out.flush()
                os.fsync(out.fileno())
    except httpx.HTTPError as exc:
        partial.unlink(missing_ok=True)
        raise NotFound(f"cannot download {label} from {url}: {type(exc).__name__}; check the "
                       "network, or copy the model into the folder named by "
                       "embeddings.model_dir") from None
    os.replace(partial, target)
