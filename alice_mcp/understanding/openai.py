"""OpenAI chat completions (and any compatible server): images as `image_url` data URLs, the
answer schema as `response_format: json_schema` in strict mode.

POST {base_url}/chat/completions with `Authorization: Bearer $OPENAI_API_KEY`; the answer is
`choices[0].message.content` (`refusal` when the model refused; `finish_reason: length` when
it was cut off), usage is `usage.prompt_tokens` / `usage.completion_tokens`. A compatible
server that rejects json_schema (HTTP 400 naming response_format: older LM Studio, vLLM or
llama.cpp builds) is asked again with `json_object` and the schema in the text, from then on
for the rest of the run, said once in the log.
"""

from __future__ import annotations

from typing import Any

import structlog

from alice_mcp.understanding.http import ProviderAnswerError, ProviderRequestError
from alice_mcp.understanding.prompt import (
    INSTRUCTIONS,
    Reply,
    image_label,
    max_output_tokens,
    request_text,
)
from alice_mcp.understanding.remote import JPEG, RemoteProvider
from alice_mcp.understanding.schema import SCHEMA_NAME, answer_schema

DEFAULT_BASE_URL = "https://api.openai.com/v1"
log = structlog.get_logger(__name__)


class OpenAIProvider(RemoteProvider):
    """OpenAI-compatible chat completions; several images per request."""

    name = "openai"
    key_env = ("OPENAI_API_KEY",)
    native_schema = True  # per instance once downgraded

    def url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def headers(self) -> dict[str, str]:
        headers = {"content-type": "application/json"}
        if self._api_key:
            headers["authorization"] = f"Bearer {self._api_key}"
        return headers

    def response_format(self) -> dict[str, Any]:
        """Strict json_schema, or json_object for a server that does not know it."""
        if not self.native_schema:
            return {"type": "json_object"}
        return {"type": "json_schema",
                "json_schema": {"name": SCHEMA_NAME, "strict": True, "schema": answer_schema()}}

    def body(self, images: list[str]) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        for index, data in enumerate(images):
            content.append({"type": "text", "text": f"{image_label(index)}:"})
            content.append({"type": "image_url",
                            "image_url": {"url": f"data:{JPEG};base64,{data}", "detail": "low"}})
        content.append({"type": "text", "text": request_text(
            len(images), schema_in_text=not self.native_schema)})
        return {"model": self.model,
                "messages": [{"role": "system", "content": INSTRUCTIONS},
                             {"role": "user", "content": content}],
                "response_format": self.response_format(),
                "max_completion_tokens": max_output_tokens(len(images))}

    def downgrade(self, error: ProviderRequestError) -> bool:
        detail = error.detail.lower()
        if error.status != 400 or ("response_format" not in detail
                                   and "json_schema" not in detail):
            return False
        if self.native_schema:
            self.native_schema = False
            log.warning("the server rejects response_format json_schema; asking for "
                        "json_object with the schema in the instructions for the rest of "
                        "this run", provider=self.name, base_url=self.base_url,
                        detail=error.detail[:200])
        return True

    def reply(self, data: dict[str, Any]) -> Reply:
        try:
            choice = data["choices"][0]
            message = choice["message"]
        except (KeyError, IndexError, TypeError):
            raise ProviderAnswerError("openai answered without choices[0].message") from None
        text = message.get("content") or ""
        if message.get("refusal"):
            return Reply(None, str(message["refusal"]), refusal=str(message["refusal"]))
        if choice.get("finish_reason") == "content_filter":
            return Reply(None, text, refusal="stopped by the content filter")
        return Reply(text, text, truncated=choice.get("finish_reason") == "length")

    def tokens(self, data: dict[str, Any]) -> tuple[int, int]:
        usage = data.get("usage") or {}
        return usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
