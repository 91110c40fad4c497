"""Ollama (a local server): POST /api/chat with base64 `images`, the answer schema as `format`
(structured outputs, Ollama 0.5+), no streaming.

The answer is `message.content` (`done_reason: length` when it was cut off), usage is
`prompt_eval_count` / `eval_count`; it costs nothing. A server too old for a schema in `format`
(HTTP 400 naming it) is asked again with `format: "json"` and the schema in the instructions,
from then on for the rest of the run, said once in the log. The address comes from
understanding.ollama.base_url, else $OLLAMA_HOST, else 127.0.0.1:11434.
"""

from __future__ import annotations

from typing import Any

import httpx
import structlog

from alice_mcp.understanding.http import ProviderAnswerError, ProviderRequestError
from alice_mcp.understanding.prompt import (
    INSTRUCTIONS,
    Reply,
    image_label,
    max_output_tokens,
    request_text,
)
from alice_mcp.understanding.remote import RemoteProvider
from alice_mcp.understanding.schema import answer_schema

DEFAULT_BASE_URL = "http://127.0.0.1:11434"
log = structlog.get_logger(__name__)


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
    native_schema = True  # per instance once downgraded

    def url(self) -> str:
        return f"{self.base_url}/api/chat"

    def headers(self) -> dict[str, str]:
        return {"content-type": "application/json"}

    def body(self, images: list[str]) -> dict[str, Any]:
        count = len(images)
        order = ", ".join(image_label(i) for i in range(count))
        text = (f"The images are, in order: {order}. "
                + request_text(count, schema_in_text=not self.native_schema))
        return {"model": self.model, "stream": False,
                "format": answer_schema() if self.native_schema else "json",
                "options": {"temperature": 0, "num_predict": max_output_tokens(count)},
                "messages": [{"role": "system", "content": INSTRUCTIONS},
                             {"role": "user", "content": text, "images": images}]}

    def downgrade(self, error: ProviderRequestError) -> bool:
        if error.status != 400 or "format" not in error.detail.lower():
            return False
        if self.native_schema:
            self.native_schema = False
            log.warning("this Ollama server is too old for a schema in 'format' (0.5+ needed); "
                        "asking for format json with the schema in the instructions for the "
                        "rest of this run", provider=self.name, base_url=self.base_url,
                        detail=error.detail[:200])
        return True

    def reply(self, data: dict[str, Any]) -> Reply:
        message = data.get("message")
        if not isinstance(message, dict):
            raise ProviderAnswerError("ollama answered without a message")
        text = message.get("content") or ""
        return Reply(text, text, truncated=data.get("done_reason") == "length")

    def tokens(self, data: dict[str, Any]) -> tuple[int, int]:
        return data.get("prompt_eval_count", 0), data.get("eval_count", 0)
