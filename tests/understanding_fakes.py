"""Fake provider APIs for the understanding tests: real HTTP servers on 127.0.0.1.

Each fake speaks one API's wire format (OpenAI chat completions, Anthropic messages, Gemini
generateContent, Ollama /api/chat): it checks the request shape (path, headers, base64 JPEG
image parts), answers with realistic bodies including usage, and can be scripted to answer
429 with Retry-After, 500, a body that is not JSON, a malformed model answer, a partly
malformed answer, or to stall past the client's timeout. It measures requests in flight.
"""

from __future__ import annotations

import base64
import io
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image

API_KEY = "sk-test-0123456789abcdefSECRET"
TOKENS_IN_PER_CALL, TOKENS_IN_PER_IMAGE, TOKENS_OUT_PER_IMAGE = 400, 100, 60


@dataclass
class Seen:
    """One request as the fake received it."""

    path: str
    headers: dict[str, str]
    body: Any
    images: int
    at: float


@dataclass
class FakeAPI:
    """State shared with the handler threads: the script, what was seen, concurrency figures."""

    kind: str
    delay: float = 0.05
    script: list[str] = field(default_factory=list)  # one mode per request, then "ok"
    retry_after: str = "1"
    seen: list[Seen] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0

    @property
    def base_url(self) -> str:
        """What understanding.<provider>.base_url must be for this fake."""
        root = f"http://127.0.0.1:{self.port}"
        return f"{root}/v1" if self.kind == "openai" else root

    @property
    def requests(self) -> int:
        return len(self.seen)

    def next_mode(self) -> str:
        with self.lock:
            return self.script.pop(0) if self.script else "ok"


def answer_json(count: int, mode: str) -> str:
    """The model's text: one JSON object with one entry per image (or a broken one)."""
    if mode == "bad_answer":
        return '{"images": [{"index": 0, "description": "truncated'
    entries: list[Any] = [{"index": i, "description": f"A red fox in the snow, number {i}.",
                           "tags": {"subject": ["fox", "snow"], "mood": ["calm"],
                                    "colours": ["Orange"], "lighting": ["golden hour"]},
                           "reconstructed_prompt": f"a red fox in the snow {i}"}
                          for i in range(count)]
    if mode == "partial" and count >= 2:
        entries[1] = {"index": 1, "description": 42, "tags": "fox"}  # wrong types: rejected
    return json.dumps({"images": entries})


MAX_SIDE = 256  # the stored thumbnails: never the original file


def _check_jpeg(data: str, problems: list[str]) -> None:
    raw = base64.b64decode(data, validate=True)
    if raw[:3] != b"\xff\xd8\xff":
        problems.append("an image part is not a JPEG")
    with Image.open(io.BytesIO(raw)) as img:
        if img.format != "JPEG" or max(img.size) > MAX_SIDE:
            problems.append(f"an image part is a {img.format} of {img.size}: not a thumbnail")


def parse_request(kind: str, path: str, headers: dict[str, str], body: Any,
                  problems: list[str]) -> int:
    """Check the request against the API's documented shape; return the number of images."""
    images: list[str] = []
    if kind == "openai":
        if path != "/v1/chat/completions":
            problems.append(f"openai path {path}")
        if headers.get("authorization") != f"Bearer {API_KEY}":
            problems.append("openai: no Bearer key")
        if body.get("response_format") != {"type": "json_object"} or not body.get("model"):
            problems.append("openai: no JSON response_format or model")
        for message in body["messages"]:
            if isinstance(message["content"], list):
                for part in message["content"]:
                    if part["type"] == "image_url":
                        url = part["image_url"]["url"]
                        if not url.startswith("data:image/jpeg;base64,"):
                            problems.append("openai: image is not a JPEG data URL")
                        images.append(url.split(",", 1)[1])
    elif kind == "anthropic":
        if path != "/v1/messages":
            problems.append(f"anthropic path {path}")
        if headers.get("x-api-key") != API_KEY or headers.get("anthropic-version") != "2023-06-01":
            problems.append("anthropic: missing x-api-key or anthropic-version")
        if not isinstance(body.get("max_tokens"), int) or not body.get("system"):
            problems.append("anthropic: max_tokens and system are required")
        for message in body["messages"]:
            for block in message["content"]:
                if block["type"] == "image":
                    source = block["source"]
                    if source["type"] != "base64" or source["media_type"] != "image/jpeg":
                        problems.append("anthropic: image source is not base64 JPEG")
                    images.append(source["data"])
    elif kind == "google":
        if not re.fullmatch(r"/v1beta/models/[\w.-]+:generateContent", path):
            problems.append(f"google path {path}")
        if headers.get("x-goog-api-key") != API_KEY:
            problems.append("google: no x-goog-api-key")
        if body.get("generationConfig", {}).get("responseMimeType") != "application/json":
            problems.append("google: no JSON responseMimeType")
        for content in body["contents"]:
            for part in content["parts"]:
                if "inline_data" in part:
                    if part["inline_data"]["mime_type"] != "image/jpeg":
                        problems.append("google: inline_data is not JPEG")
                    images.append(part["inline_data"]["data"])
    elif kind == "ollama":
        if path != "/api/chat":
            problems.append(f"ollama path {path}")
        if body.get("format") != "json" or body.get("stream") is not False:
            problems.append("ollama: format json and stream false expected")
        for message in body["messages"]:
            images.extend(message.get("images") or [])
    for data in images:
        _check_jpeg(data, problems)
    return len(images)


def response_body(kind: str, model: str, text: str, images: int) -> dict[str, Any]:
    """A realistic success body of that API carrying the text and its usage."""
    tokens_in = TOKENS_IN_PER_CALL + TOKENS_IN_PER_IMAGE * images
    tokens_out = TOKENS_OUT_PER_IMAGE * images
    if kind == "openai":
        return {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": model,
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": text,
                                         "refusal": None}}],
                "usage": {"prompt_tokens": tokens_in, "completion_tokens": tokens_out,
                          "total_tokens": tokens_in + tokens_out}}
    if kind == "anthropic":
        return {"id": "msg_1", "type": "message", "role": "assistant", "model": model,
                "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": tokens_in, "output_tokens": tokens_out,
                          "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}
    if kind == "google":
        return {"candidates": [{"content": {"role": "model", "parts": [{"text": text}]},
                                "finishReason": "STOP", "index": 0}],
                "usageMetadata": {"promptTokenCount": tokens_in,
                                  "candidatesTokenCount": tokens_out,
                                  "totalTokenCount": tokens_in + tokens_out},
                "modelVersion": model}
    return {"model": model, "created_at": "2025-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": text}, "done": True,
            "done_reason": "stop", "prompt_eval_count": tokens_in, "eval_count": tokens_out}


def error_body(kind: str, status: int, message: str) -> dict[str, Any]:
    if kind == "anthropic":
        return {"type": "error", "error": {"type": "api_error", "message": message}}
    if kind == "ollama":
        return {"error": message}
    return {"error": {"code": status, "message": message, "type": "server_error"}}


def _handler(api: FakeAPI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_: Any) -> None:  # quiet
            pass

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            with api.lock:
                api.in_flight += 1
                api.max_in_flight = max(api.max_in_flight, api.in_flight)
            try:
                self._serve()
            finally:
                with api.lock:
                    api.in_flight -= 1

        def _serve(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length", 0)))
            headers = {k.lower(): v for k, v in self.headers.items()}
            body = json.loads(raw)
            problems: list[str] = []
            try:
                images = parse_request(api.kind, self.path, headers, body, problems)
            except (KeyError, TypeError, ValueError) as exc:
                problems.append(f"malformed request: {exc!r}")
                images = 0
            mode = api.next_mode()
            with api.lock:
                api.seen.append(Seen(self.path, headers, body, images, time.monotonic()))
                api.problems.extend(problems)
            time.sleep(api.delay)
            if problems:
                return self._send(400, error_body(api.kind, 400, "; ".join(problems)))
            if mode == "slow":
                time.sleep(2.0)
                return self._send(500, error_body(api.kind, 500, "too late"))
            if mode == "429":
                return self._send(429, error_body(api.kind, 429, "rate limited"),
                                  {"retry-after": api.retry_after})
            if mode in ("500", "503"):
                return self._send(int(mode), error_body(api.kind, int(mode), "overloaded"))
            if mode == "401":
                return self._send(401, error_body(api.kind, 401,
                                                  f"Incorrect API key provided: {API_KEY}"))
            if mode == "bad_body":
                return self._send_raw(200, b"<html>gateway says hello</html>", "text/html")
            text = answer_json(images, mode)
            self._send(200, response_body(api.kind, body.get("model", "?"), text, images))

        def _send(self, status: int, payload: Any, extra: dict[str, str] | None = None) -> None:
            self._send_raw(status, json.dumps(payload).encode(), "application/json", extra)

        def _send_raw(self, status: int, data: bytes, mime: str,
                      extra: dict[str, str] | None = None) -> None:
            try:
                self.send_response(status)
                self.send_header("content-type", mime)
                self.send_header("content-length", str(len(data)))
                for key, value in (extra or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

    return Handler


@contextmanager
def fake_api(kind: str, **options: Any) -> Iterator[FakeAPI]:
    """A FakeAPI of that kind serving on 127.0.0.1 for the duration of the block."""
    api = FakeAPI(kind, **options)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(api))
    server.daemon_threads = True
    api.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
