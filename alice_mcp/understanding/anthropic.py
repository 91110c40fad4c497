"""Anthropic messages API: images as base64 `image` blocks, `x-api-key` and `anthropic-version`;
the answer schema is the `input_schema` of a single tool that `tool_choice` forces.

POST {base_url}/v1/messages; the answer is that `tool_use` block's `input` (`stop_reason:
max_tokens` when it was cut off, `refusal` when the model refused), usage is
`usage.input_tokens` (plus cache reads and writes) / `usage.output_tokens`.
"""

from __future__ import annotations

import json
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
from alice_mcp.understanding.schema import SCHEMA_NAME, answer_schema

DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
TOOL_DESCRIPTION = ("Record the description, caption and tags of every image shown, one entry "
                    "per image in the order shown.")


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
            content.append({"type": "text", "text": f"{image_label(index)}:"})
            content.append({"type": "image",
                            "source": {"type": "base64", "media_type": JPEG, "data": data}})
        content.append({"type": "text", "text": request_text(len(images))})
        return {"model": self.model, "max_tokens": max_output_tokens(len(images)),
                "system": INSTRUCTIONS, "messages": [{"role": "user", "content": content}],
                "tools": [{"name": SCHEMA_NAME, "description": TOOL_DESCRIPTION,
                           "input_schema": answer_schema()}],
                "tool_choice": {"type": "tool", "name": SCHEMA_NAME}}

    def reply(self, data: dict[str, Any]) -> Reply:
        blocks = data.get("content")
        if not isinstance(blocks, list):
            raise ProviderAnswerError("anthropic answered without a content list")
        text = "".join(b.get("text", "") for b in blocks
                       if isinstance(b, dict) and b.get("type") == "text")
        if data.get("stop_reason") == "refusal":
            return Reply(None, text, refusal=text.strip())
        uses = [b for b in blocks if isinstance(b, dict) and b.get("type") == "tool_use"
                and b.get("name") == SCHEMA_NAME]
        answer = uses[0].get("input") if uses else text
        raw = json.dumps(answer, ensure_ascii=False) if uses else text
        return Reply(answer, raw, truncated=data.get("stop_reason") == "max_tokens")

    def tokens(self, data: dict[str, Any]) -> tuple[int, int]:
        usage = data.get("usage") or {}
        tokens_in = sum(usage.get(k) or 0 for k in ("input_tokens", "cache_creation_input_tokens",
                                                    "cache_read_input_tokens"))
        return tokens_in, usage.get("output_tokens", 0)

