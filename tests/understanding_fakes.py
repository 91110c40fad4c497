"""Fake provider APIs for the understanding tests: real HTTP servers on 127.0.0.1.

Each fake speaks one API's wire format (OpenAI chat completions, Anthropic messages, Gemini
generateContent, Ollama /api/chat): it checks the request shape (path, headers, base64 JPEG
image parts each after its label, the answer schema sent the way that API documents it),
answers with realistic bodies including usage (a conforming answer is validated against the
schema the request carried), and can be scripted per request: a conforming batch ("ok"), one
image missing ("missing"), a cut-off answer ("truncated"), a refusal ("refusal"), an answer
that ignores the schema ("ignores_schema", "prose", "bad_answer", "partial"), 429 with
Retry-After, 500, a body that is not JSON, or a stall past the client's timeout. It can play
a server too old for the schema (an OpenAI-compatible one without json_schema, an Ollama
before 0.5) that answers HTTP 400 as those do. It measures requests in flight.
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

import jsonschema
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
    schema: dict[str, Any] | None = None
    status: int = 200


@dataclass
class FakeAPI:
    """State shared with the handler threads: the script, what was seen, concurrency figures."""

    kind: str
    delay: float = 0.05
    script: list[str] = field(default_factory=list)  # one mode per request, then "ok"
    retry_after: str = "1"
    json_schema_supported: bool = True  # False: an OpenAI-compatible server without it
    old_ollama: bool = False  # True: an Ollama before 0.5 (format must be a string)
    tool_name: str = ""
    auth_echo: str = ""  # what a 401 answer quotes of the key (default: all of it)
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


CATEGORIES = ("style", "mood", "subject", "lighting", "camera", "color")
REFUSAL = "I'm sorry, but I can't help with describing these images."
OLD_OLLAMA_ERROR = ("json: cannot unmarshal object into Go struct field ChatRequest.format of "
                    "type string")
NO_JSON_SCHEMA_ERROR = ("'response_format.type' must be 'json_object' or 'text'; "
                        "json_schema is not supported by this server")


def entry(label: str, i: int) -> dict[str, Any]:
    """One conforming image entry: what a model answering to the schema gives."""
    tags: dict[str, list[dict[str, Any]]] = {c: [] for c in CATEGORIES}
    tags["subject"] = [{"tag": "fox", "confidence": 0.97}, {"tag": "snow", "confidence": 0.9}]
    tags["mood"] = [{"tag": "calm", "confidence": 0.7}]
    tags["color"] = [{"tag": "Orange", "confidence": 0.85}]
    tags["lighting"] = [{"tag": "golden hour", "confidence": 0.6}]
    return {"image": label, "description": f"A red vixen resting in the snow, number {i}.",
            "caption": f"Vixen at rest {i}", "tags": tags}


def answer(labels: list[str], mode: str) -> Any:
    """The model's answer as JSON data (a broken one for the malformed modes)."""
    entries: list[Any] = [entry(label, i) for i, label in enumerate(labels)]
    if mode == "partial" and len(entries) >= 2:
        entries[1] = {"image": labels[1], "description": 42, "tags": "fox"}  # wrong types
    if mode == "missing":
        del entries[min(1, len(entries) - 1)]  # the second image (or the only one) left out
    if mode == "ignores_schema":
        return {"result": "a fox, a fox, a fox"}
    return {"images": entries}


def truncated_text(labels: list[str]) -> str:
    """The answer cut off at the token limit: the first half of the entries whole, then the
    start of the next one."""
    keep = len(labels) // 2
    whole = [json.dumps(entry(label, i)) for i, label in enumerate(labels[:keep])]
    return '{"images": [' + "".join(w + ", " for w in whole) + \
        json.dumps(entry(labels[keep], keep))[:40]


MAX_SIDE = 256  # the stored thumbnails: never the original file


def _check_jpeg(data: str, problems: list[str]) -> None:
    raw = base64.b64decode(data, validate=True)
    if raw[:3] != b"\xff\xd8\xff":
        problems.append("an image part is not a JPEG")
    with Image.open(io.BytesIO(raw)) as img:
        if img.format != "JPEG" or max(img.size) > MAX_SIDE:
            problems.append(f"an image part is a {img.format} of {img.size}: not a thumbnail")


@dataclass
class Request:
    """What the fake read from one request: images, their labels, the schema and how it came."""

    images: int = 0
    labels: list[str] = field(default_factory=list)
    schema: dict[str, Any] | None = None  # the JSON Schema sent natively, else None
    refused: tuple[int, str] | None = None  # an HTTP error a real server of that kind gives


def strict_problems(schema: Any, where: str = "schema") -> list[str]:
    """What OpenAI's strict mode rejects: objects must list every property as required and set
    additionalProperties false; only the supported keywords; a root object."""
    problems: list[str] = []
    allowed = {"type", "properties", "required", "additionalProperties", "items", "description",
               "enum", "anyOf", "$defs", "$ref", "const", "minimum", "maximum", "minItems",
               "maxItems", "pattern", "format", "title"}
    if not isinstance(schema, dict):
        return [f"{where} is not an object"]
    problems += [f"{where}: {k} is not supported" for k in schema if k not in allowed]
    if where == "schema" and schema.get("type") != "object":
        problems.append("the root of the schema must be an object")
    if schema.get("type") == "object" or "properties" in schema:
        props = schema.get("properties", {})
        if schema.get("additionalProperties") is not False:
            problems.append(f"{where}: additionalProperties must be false")
        if sorted(schema.get("required", [])) != sorted(props):
            problems.append(f"{where}: every property must be required")
        for name, sub in props.items():
            problems += strict_problems(sub, f"{where}.{name}")
    if "items" in schema:
        problems += strict_problems(schema["items"], f"{where}[]")
    return problems


def _labelled_images(parts: list[dict[str, Any]], image_of: Any,
                     text_of: Any) -> tuple[list[str], list[str]]:
    """Images in order, each with the text part right before it (its label)."""
    images, labels, last = [], [], ""
    for part in parts:
        data = image_of(part)
        if data is not None:
            images.append(data)
            labels.append(last.strip().rstrip(":"))
        else:
            last = text_of(part) or ""
    return images, labels


def parse_request(kind: str, path: str, headers: dict[str, str], body: Any,
                  problems: list[str], api: FakeAPI) -> Request:
    """Check the request against the API's documented shape, schema included."""
    req = Request()
    images: list[str] = []
    if kind == "openai":
        if path != "/v1/chat/completions":
            problems.append(f"openai path {path}")
        if headers.get("authorization") != f"Bearer {API_KEY}":
            problems.append("openai: no Bearer key")
        if not body.get("model"):
            problems.append("openai: no model")
        fmt = body.get("response_format") or {}
        user = body["messages"][-1]["content"]
        if fmt.get("type") == "json_schema":
            spec = fmt.get("json_schema") or {}
            if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", str(spec.get("name"))) \
                    or spec.get("strict") is not True:
                problems.append("openai: json_schema needs a name and strict: true")
            problems.extend(strict_problems(spec.get("schema")))
            req.schema = spec.get("schema")
            if not api.json_schema_supported:
                req.refused = (400, NO_JSON_SCHEMA_ERROR)
        elif fmt != {"type": "json_object"} or "JSON" not in json.dumps(body["messages"]):
            problems.append(f"openai: response_format {fmt} (json_object needs 'JSON' in the "
                            "messages)")
        images, req.labels = _labelled_images(
            user, lambda p: p["image_url"]["url"] if p["type"] == "image_url" else None,
            lambda p: p.get("text"))
        for url in images:
            if not url.startswith("data:image/jpeg;base64,"):
                problems.append("openai: image is not a JPEG data URL")
        images = [url.split(",", 1)[1] for url in images]
    elif kind == "anthropic":
        if path != "/v1/messages":
            problems.append(f"anthropic path {path}")
        if headers.get("x-api-key") != API_KEY or headers.get("anthropic-version") != "2023-06-01":
            problems.append("anthropic: missing x-api-key or anthropic-version")
        if not isinstance(body.get("max_tokens"), int) or not body.get("system"):
            problems.append("anthropic: max_tokens and system are required")
        tools = body.get("tools") or []
        if len(tools) != 1 or (tools[0].get("input_schema") or {}).get("type") != "object" \
                or body.get("tool_choice") != {"type": "tool", "name": tools[0].get("name")}:
            problems.append("anthropic: one tool with an object input_schema, forced by "
                            "tool_choice, expected")
        else:
            req.schema = tools[0]["input_schema"]
            api.tool_name = tools[0]["name"]
        blocks = body["messages"][-1]["content"]
        images, req.labels = _labelled_images(
            blocks, lambda b: b["source"] if b["type"] == "image" else None,
            lambda b: b.get("text"))
        for source in images:
            if source["type"] != "base64" or source["media_type"] != "image/jpeg":
                problems.append("anthropic: image source is not base64 JPEG")
        images = [source["data"] for source in images]
    elif kind == "google":
        if not re.fullmatch(r"/v1beta/models/[\w.-]+:generateContent", path):
            problems.append(f"google path {path}")
        if headers.get("x-goog-api-key") != API_KEY:
            problems.append("google: no x-goog-api-key")
        config = body.get("generationConfig", {})
        if config.get("responseMimeType") != "application/json":
            problems.append("google: no JSON responseMimeType")
        if (config.get("responseJsonSchema") or {}).get("type") == "object":
            req.schema = config["responseJsonSchema"]
        elif (config.get("responseSchema") or {}).get("type") != "OBJECT":
            problems.append("google: no responseJsonSchema (or responseSchema) for the answer")
        images, req.labels = _labelled_images(
            body["contents"][-1]["parts"],
            lambda p: p.get("inline_data"), lambda p: p.get("text"))
        for data in images:
            if data["mime_type"] != "image/jpeg":
                problems.append("google: inline_data is not JPEG")
        images = [data["data"] for data in images]
    elif kind == "ollama":
        if path != "/api/chat":
            problems.append(f"ollama path {path}")
        if body.get("stream") is not False:
            problems.append("ollama: stream false expected")
        fmt = body.get("format")
        if isinstance(fmt, dict):
            if api.old_ollama:
                req.refused = (400, OLD_OLLAMA_ERROR)
            elif fmt.get("type") != "object":
                problems.append("ollama: format is not an object schema")
            req.schema = fmt
        elif fmt != "json" or "JSON Schema" not in body["messages"][-1]["content"]:
            problems.append(f"ollama: format {fmt!r} without the schema in the instructions")
        for message in body["messages"]:
            images.extend(message.get("images") or [])
        req.labels = [f"Image {i + 1}" for i in range(len(images))]
    for data in images:
        _check_jpeg(data, problems)
    req.images = len(images)
    return req


def response_body(kind: str, model: str, data: Any, images: int, mode: str,
                  tool: str = "") -> dict[str, Any]:
    """A realistic success body of that API carrying the answer (JSON data, or text) and its
    usage; cut off (truncated), refused (refusal) as that API says it."""
    text = data if isinstance(data, str) else json.dumps(data)
    tokens_in = TOKENS_IN_PER_CALL + TOKENS_IN_PER_IMAGE * images
    tokens_out = TOKENS_OUT_PER_IMAGE * images
    cut, refused = mode == "truncated", mode == "refusal"
    if kind == "openai":
        message: dict[str, Any] = {"role": "assistant", "content": None if refused else text,
                                   "refusal": REFUSAL if refused else None}
        return {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": model,
                "choices": [{"index": 0, "finish_reason": "length" if cut else "stop",
                             "message": message}],
                "usage": {"prompt_tokens": tokens_in, "completion_tokens": tokens_out,
                          "total_tokens": tokens_in + tokens_out}}
    if kind == "anthropic":
        if refused:
            content: list[dict[str, Any]] = [{"type": "text", "text": REFUSAL}]
        elif isinstance(data, str):  # a cut-off tool input: the part that was complete
            content = [{"type": "tool_use", "id": "toolu_1", "name": tool,
                        "input": _partial(data)}]
        else:
            content = [{"type": "tool_use", "id": "toolu_1", "name": tool, "input": data}]
        stop = "max_tokens" if cut else "refusal" if refused else "tool_use"
        return {"id": "msg_1", "type": "message", "role": "assistant", "model": model,
                "content": content, "stop_reason": stop, "stop_sequence": None,
                "usage": {"input_tokens": tokens_in, "output_tokens": tokens_out,
                          "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}
    if kind == "google":
        if refused:
            candidate: dict[str, Any] = {"finishReason": "SAFETY", "index": 0, "safetyRatings": [
                {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH",
                 "blocked": True}]}
        else:
            candidate = {"content": {"role": "model", "parts": [{"text": text}]},
                         "finishReason": "MAX_TOKENS" if cut else "STOP", "index": 0}
        return {"candidates": [candidate],
                "usageMetadata": {"promptTokenCount": tokens_in,
                                  "candidatesTokenCount": tokens_out,
                                  "totalTokenCount": tokens_in + tokens_out},
                "modelVersion": model}
    return {"model": model, "created_at": "2025-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": REFUSAL if refused else text},
            "done": True, "done_reason": "length" if cut else "stop",
            "prompt_eval_count": tokens_in, "eval_count": tokens_out}


def _partial(text: str) -> dict[str, Any]:
    """The complete entries of a cut-off answer, as Anthropic's partial tool input holds them."""
    decoder, entries, pos = json.JSONDecoder(), [], text.index("[") + 1
    while True:
        while pos < len(text) and text[pos] in " ,":
            pos += 1
        try:
            item, pos = decoder.raw_decode(text, pos)
        except ValueError:
            return {"images": entries}
        entries.append(item)


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
                req = parse_request(api.kind, self.path, headers, body, problems, api)
            except (KeyError, TypeError, ValueError, IndexError) as exc:
                problems.append(f"malformed request: {exc!r}")
                req = Request()
            mode = "refused" if req.refused else api.next_mode()
            seen = Seen(self.path, headers, body, req.images, time.monotonic(), req.schema)
            with api.lock:
                api.seen.append(seen)
                api.problems.extend(problems)
            time.sleep(api.delay)
            if problems:
                seen.status = 400
                return self._send(400, error_body(api.kind, 400, "; ".join(problems)))
            if req.refused:
                seen.status = req.refused[0]
                return self._send(req.refused[0], error_body(api.kind, *req.refused))
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
                                                  f"Incorrect API key provided: "
                                                  f"{api.auth_echo or API_KEY}"))
            if mode == "bad_body":
                return self._send_raw(200, b"<html>gateway says hello</html>", "text/html")
            data: Any = answer(req.labels, mode)
            if mode == "ok" and req.schema is not None:
                self._conforms(data, req.schema)
            if mode == "truncated":
                data = truncated_text(req.labels)
            elif mode in ("bad_answer", "prose"):
                data = ('{"images": [{"image": "Image 1", "description": "cut' if mode ==
                        "bad_answer" else "Sure! The first image shows a fox in the snow.")
                if api.kind == "anthropic":  # a forced tool always answers with an object
                    data = {"note": data}
            self._send(200, response_body(api.kind, body.get("model", "?"), data, req.images,
                                          mode, api.tool_name))

        def _conforms(self, data: Any, schema: dict[str, Any]) -> None:
            """A conforming answer must validate against the schema the request carried."""
            errors = list(jsonschema.Draft202012Validator(schema).iter_errors(data))
            with api.lock:
                api.problems.extend(f"the answer does not fit the schema sent: {e.message}"
                                    for e in errors[:3])

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
