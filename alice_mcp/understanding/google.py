"""Google Gemini generateContent: images as `inline_data` parts, the key in `x-goog-api-key`;
the answer schema as `generationConfig.responseJsonSchema` (with `responseMimeType:
application/json`), or as `responseSchema` in its OpenAPI subset for the 1.x and 2.0 models.

POST {base_url}/v1beta/models/{model}:generateContent; the answer is the text parts of
`candidates[0]` (`finishReason: MAX_TOKENS` when it was cut off; a safety finish reason or a
`promptFeedback.blockReason` without candidates when the model refused), usage is
`usageMetadata.promptTokenCount` / `candidatesTokenCount` (+ `thoughtsTokenCount`).
"""

from __future__ import annotations

from typing import Any

from alice_mcp.understanding.http import ProviderAnswerError
from alice_mcp.understanding.prompt import (
    INSTRUCTIONS,
    Reply,
    image_label,
    max_output_tokens,
    request_text,
)
from alice_mcp.understanding.remote import JPEG, RemoteProvider
from alice_mcp.understanding.schema import answer_schema, openapi_schema

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
API_VERSION = "v1beta"
OPENAPI_ONLY = ("gemini-1.", "gemini-2.0")  # models older than responseJsonSchema
REFUSALS = frozenset({"SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "RECITATION",
                      "IMAGE_SAFETY"})


class GoogleProvider(RemoteProvider):
    """Gemini through generateContent; several images per request."""

    name = "google"
    key_env = ("GEMINI_API_KEY", "GOOGLE_API_KEY")

    def url(self) -> str:
        return f"{self.base_url}/{API_VERSION}/{self._model_path()}:generateContent"

    def _model_path(self) -> str:
        return self.model if self.model.startswith("models/") else f"models/{self.model}"

    def headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self._api_key or "", "content-type": "application/json"}

    def generation_config(self, count: int) -> dict[str, Any]:
        """JSON output constrained by the answer schema, the way this model takes it."""
        config: dict[str, Any] = {"responseMimeType": "application/json",
                                  "maxOutputTokens": max_output_tokens(count)}
        if self._model_path().removeprefix("models/").startswith(OPENAPI_ONLY):
            config["responseSchema"] = openapi_schema()
        else:
            config["responseJsonSchema"] = answer_schema()
        return config

    def body(self, images: list[str]) -> dict[str, Any]:
        parts: list[dict[str, Any]] = []
        for index, data in enumerate(images):
            parts.append({"text": f"{image_label(index)}:"})
            parts.append({"inline_data": {"mime_type": JPEG, "data": data}})
        parts.append({"text": request_text(len(images))})
        return {"system_instruction": {"parts": [{"text": INSTRUCTIONS}]},
                "contents": [{"role": "user", "parts": parts}],
                "generationConfig": self.generation_config(len(images))}

    def reply(self, data: dict[str, Any]) -> Reply:
        candidates = data.get("candidates")
        if not candidates:
            blocked = (data.get("promptFeedback") or {}).get("blockReason")
            if blocked:
                return Reply(None, "", refusal=f"the request was blocked ({blocked})")
            raise ProviderAnswerError("google returned no candidates and no block reason")
        candidate = candidates[0] or {}
        parts = (candidate.get("content") or {}).get("parts") or []
        text = "".join(p.get("text", "") for p in parts
                       if isinstance(p, dict) and not p.get("thought"))
        reason = candidate.get("finishReason")
        if reason in REFUSALS:
            return Reply(None, text, refusal=f"stopped for {reason}")
        return Reply(text, text, truncated=reason == "MAX_TOKENS")

    def tokens(self, data: dict[str, Any]) -> tuple[int, int]:
        usage = data.get("usageMetadata") or {}
        out = (usage.get("candidatesTokenCount") or 0) + (usage.get("thoughtsTokenCount") or 0)
        return usage.get("promptTokenCount", 0), out
