"""Google Gemini generateContent: images as `inline_data` parts, the key in `x-goog-api-key`.

POST {base_url}/v1beta/models/{model}:generateContent with JSON output
(`responseMimeType: application/json`); the answer is the text parts of `candidates[0]`,
usage is `usageMetadata.promptTokenCount` / `candidatesTokenCount` (+ `thoughtsTokenCount`).
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

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
API_VERSION = "v1beta"


class GoogleProvider(RemoteProvider):
    """Gemini through generateContent; several images per request."""

    name = "google"
    key_env = ("GEMINI_API_KEY", "GOOGLE_API_KEY")

    def url(self) -> str:
        model = self.model if self.model.startswith("models/") else f"models/{self.model}"
        return f"{self.base_url}/{API_VERSION}/{model}:generateContent"

    def headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self._api_key or "", "content-type": "application/json"}

    def body(self, images: list[str]) -> dict[str, Any]:
        parts: list[dict[str, Any]] = []
        for index, data in enumerate(images):
            parts.append({"text": image_label(index)})
            parts.append({"inline_data": {"mime_type": JPEG, "data": data}})
        parts.append({"text": request_text(len(images))})
        return {"system_instruction": {"parts": [{"text": INSTRUCTIONS}]},
                "contents": [{"role": "user", "parts": parts}],
                "generationConfig": {"responseMimeType": "application/json",
                                     "maxOutputTokens": max_output_tokens(len(images))}}

    def answer_text(self, data: dict[str, Any]) -> str:
        candidates = data.get("candidates")
        if not candidates:
            reason = (data.get("promptFeedback") or {}).get("blockReason", "no candidates")
            raise ProviderAnswerError(f"google returned no answer ({reason})")
        parts = ((candidates[0] or {}).get("content") or {}).get("parts") or []
        return "".join(p.get("text", "") for p in parts
                       if isinstance(p, dict) and not p.get("thought"))

    def tokens(self, data: dict[str, Any]) -> tuple[int, int]:
        usage = data.get("usageMetadata") or {}
        out = (usage.get("candidatesTokenCount") or 0) + (usage.get("thoughtsTokenCount") or 0)
        return usage.get("promptTokenCount", 0), out
