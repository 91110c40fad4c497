"""OpenAI chat completions (and any compatible server): images as `image_url` data URLs, JSON mode.

POST {base_url}/chat/completions with `Authorization: Bearer $OPENAI_API_KEY`; the answer is
`choices[0].message.content`, usage is `usage.prompt_tokens` / `usage.completion_tokens`.
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

DEFAULT_BASE_URL = "https://api.openai.com/v1"


class OpenAIProvider(RemoteProvider):
    """OpenAI-compatible chat completions; several images per request."""

    name = "openai"
    key_env = ("OPENAI_API_KEY",)

    def url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def headers(self) -> dict[str, str]:
        headers = {"content-type": "application/json"}
        if self._api_key:
            headers["authorization"] = f"Bearer {self._api_key}"
        return headers

    def body(self, images: list[str]) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        for index, data in enumerate(images):
            content.append({"type": "text", "text": image_label(index)})
            content.append({"type": "image_url",
                            "image_url": {"url": f"data:{JPEG};base64,{data}", "detail": "low"}})
        content.append({"type": "text", "text": request_text(len(images))})
        return {"model": self.model,
                "messages": [{"role": "system", "content": INSTRUCTIONS},
                             {"role": "user", "content": content}],
                "response_format": {"type": "json_object"},
                "max_completion_tokens": max_output_tokens(len(images))}

    def answer_text(self, data: dict[str, Any]) -> str:
        try:
            message = data["choices"][0]["message"]
        except (KeyError, IndexError, TypeError):
            raise ProviderAnswerError("openai answered without choices[0].message") from None
        if message.get("refusal"):
            raise ProviderAnswerError(f"openai refused: {str(message['refusal'])[:200]}")
        return message.get("content") or ""

    def tokens(self, data: dict[str, Any]) -> tuple[int, int]:
        usage = data.get("usage") or {}
        return usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
