"""The embeddings section of the settings: which local models, where they are kept, when to run."""

from __future__ import annotations

from pathlib import Path

import platformdirs
from pydantic import Field

from alice_mcp.understanding.settings import Section

APP_NAME = "alice-mcp"


class EmbeddingsSettings(Section):
    """Local models for search by meaning; fetched once, or read from model_dir offline."""

    auto: bool = False  # embed new assets while the server or watch mode is idle
    text_model: str = Field("all-MiniLM-L6-v2", min_length=1)
    image_model: str = Field("clip-ViT-B-32", min_length=1)
    model_dir: Path | None = None  # None: the user cache folder
    hub_url: str = "https://huggingface.co"  # where `alice models pull` fetches from
    batch_size: int = Field(32, ge=1, le=1024)  # texts or pictures per model call

    @property
    def models_dir(self) -> Path:
        """The folder holding one sub-folder per model."""
        if self.model_dir is not None:
            return self.model_dir.expanduser()
        return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)) / "models"
