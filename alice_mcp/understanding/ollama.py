"""Ollama (a local server): POST /api/chat with base64 `images`, `format: json`, no streaming.

The answer is `message.content`, usage is `prompt_eval_count` / `eval_count`; it costs nothing.
The address comes from understanding.ollama.base_url, else $OLLAMA_HOST, else 127.0.0.1:11434.
"""

from __future__ import annotations

from typing import Any

import httpx

from alice_mcp.understanding.http import ProviderAnswerError
from alice_mcp.understanding.prompt import INSTRUCTIONS, max_output_tokens, request_text
from alice_mcp.understanding.remote import RemoteProvider

DEFAULT_BASE_URL = "http://127.0.0.1:11434"


def ollama_base_url(host: str) -> str:
    """OLLAMA_HOST as a URL, as Ollama reads it: 'host' and 'host:port' default to http and
    port 11434, '0.0.0.0' means this machine, a full URL is kept as given."""
    value = host.strip().rstrip("/")
    bare = "://" not in value
    url = httpx.URL(f"http://{value}" if bare else value)
    name = url.host or "127.0.0.1"
    if name == "0.0.0.0":
        name = "127.0.0.1"
    port = url.port or (11434 if bare else None)
    return f"{url.scheme}://{name}" + (f":{port}" if port else "") + url.path.rstrip("/")


class OllamaProvider(RemoteProvider):
    """A vision model served by Ollama; free, so the budget never stops it."""

    name = "ollama"
    key_env = ()

    def url(self) -> str:
        return f"{self.base_url}/api/chat"

    def headers(self) -> dict[str, str]:
        return {"content-type": "application/json"}

    def body(self, images: list[str]) -> dict[str, Any]:
        return {"model": self.model, "stream": False, "format": "json",
                "options": {"temperature": 0, "num_predict": max_output_tokens(len(images))},
                "messages": [{"role": "system", "content": INSTRUCTIONS},
                             {"role": "user", "content": request_text(len(images)),
                              "images": images}]}

    def answer_text(self, data: dict[str, Any]) -> str:
        message = data.get("message")
        if not isinstance(message, dict):
            raise ProviderAnswerError("ollama answered without a message")
        return message.get("content") or ""

    def tokens(self, data: dict[str, Any]) -> tuple[int, int]:
        return data.get("prompt_eval_count", 0), data.get("eval_count", 0)
