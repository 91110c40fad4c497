"""Anthropic messages API: images as base64 `image` blocks, `x-api-key` and `anthropic-version`.

POST {base_url}/v1/messages; the answer is the text blocks of `content`, usage is
`usage.input_tokens` (plus cache reads and writes) / `usage.output_tokens`.
"""

from __future__ import annotations

from typing import Any

from alice_mcp.understanding.http import ProviderAnswerError
from alice_mcp.understanding.prompt import (
    INSTRUCTIONS,
    image_label,
    max_output_tokens,
    request_text,
)
from alice_mcp.understanding.remote import JPEG, RemoteProvider

DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"


class AnthropicProvider(RemoteProvider):
    """Claude through the messages API; several images per request."""

    name = "anthropic"
    key_env = ("ANTHROPIC_API_KEY",)

    def url(self) -> str:
        base = self.base_url
        return f"{base}/messages" if base.endswith("/v1") else f"{base}/v1/messages"

    def headers(self) -> dict[str, str]:
        return {"x-api-key": self._api_key or "", "anthropic-version": API_VERSION,
                "content-type": "application/json"}

    def body(self, images: list[str]) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        for index, data in enumerate(images):
            content.append({"type": "text", "text": image_label(index)})
            content.append({"type": "image",
                            "source": {"type": "base64", "media_type": JPEG, "data": data}})
        content.append({"type": "text", "text": request_text(len(images))})
        return {"model": self.model, "max_tokens": max_output_tokens(len(images)),
                "system": INSTRUCTIONS, "messages": [{"role": "user", "content": content}]}

    def answer_text(self, data: dict[str, Any]) -> str:
        blocks = data.get("content")
        if not isinstance(blocks, list):
            raise ProviderAnswerError("anthropic answered without a content list")
        return "".join(b.get("text", "") for b in blocks
                       if isinstance(b, dict) and b.get("type") == "text")

    def tokens(self, data: dict[str, Any]) -> tuple[int, int]:
        usage = data.get("usage") or {}
        tokens_in = sum(usage.get(k) or 0 for k in ("input_tokens", "cache_creation_input_tokens",
                                                    "cache_read_input_tokens"))
        return tokens_in, usage.get("output_tokens", 0)
