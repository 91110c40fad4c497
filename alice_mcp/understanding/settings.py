"""The understanding section of the settings: which provider, where it is reached, what it may spend."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Section(BaseModel):
    """A section of settings.yaml: unknown keys are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class UnderstandingSettings(Section):
    """Which provider describes and tags images, and what it may spend."""

    class Remote(Section):
        """Where one remote provider is reached and how patiently. API keys are never settings:
        they come from the environment only (OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY)."""

        base_url: str | None = None  # None: the provider's environment variable, else its API
        model: str = Field(min_length=1)
        timeout_seconds: float = Field(60.0, gt=0, le=600)
        max_retries: int = Field(4, ge=0, le=10)
        max_images_per_request: int = Field(8, ge=1, le=64)
        price_usd_per_million_input: float | None = Field(None, ge=0)  # None: the price table
        price_usd_per_million_output: float | None = Field(None, ge=0)

    class OpenAI(Remote):
        """OpenAI, or any OpenAI-compatible server (base_url / $OPENAI_BASE_URL)."""

        model: str = "gpt-4.1-mini"

    class Anthropic(Remote):
        """Anthropic messages API (base_url / $ANTHROPIC_BASE_URL)."""

        model: str = "claude-haiku-4-5"

    class Google(Remote):
        """Google Gemini generateContent API."""

        model: str = "gemini-2.5-flash-lite"

    class Ollama(Remote):
        """A local Ollama server (base_url / $OLLAMA_HOST); many vision models see one image."""

        model: str = "gemma3"
        timeout_seconds: float = Field(180.0, gt=0, le=600)
        max_images_per_request: int = Field(1, ge=1, le=64)

    provider: Literal["local", "openai", "anthropic", "google", "ollama"] = "local"
    budget_usd_per_run: float = Field(1.0, ge=0)
    budget_usd_per_month: float = Field(10.0, ge=0)
    openai: OpenAI = Field(default_factory=OpenAI)
    anthropic: Anthropic = Field(default_factory=Anthropic)
    google: Google = Field(default_factory=Google)
    ollama: Ollama = Field(default_factory=Ollama)
