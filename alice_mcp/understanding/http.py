"""HTTP plumbing shared by the remote providers: one client, timeouts, retries with backoff, typed errors.

Retries: 429, 408 and 5xx answers, timeouts and connection errors are retried up to
`max_retries` times with exponential backoff and full jitter (a random wait between 0 and
base * 2**attempt, capped), except that a `Retry-After` header (seconds or an HTTP date) is
honoured as given. API keys travel in headers only; they are never logged and are scrubbed
from every error message.
"""

from __future__ import annotations

import json
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import anyio
import httpx
import structlog
from pydantic import SecretStr

from alice_mcp.errors import ProviderError

log = structlog.get_logger(__name__)
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 529})
ERROR_EXCERPT = 300


class ProviderAuthError(ProviderError):
    """The API refused the key (401/403): every call would fail the same way."""

    fatal = True


class ProviderConfigError(ProviderError):
    """The API does not know the model or the address (404): fix the settings."""

    fatal = True


class ProviderRequestError(ProviderError):
    """The API refused this one request (another 4xx); other batches may still succeed.
    `status` and `detail` (the API's own message, key redacted) let a provider tell a request
    it can send differently (e.g. a server that does not know json_schema)."""

    status: int = 400
    detail: str = ""


class ProviderRateLimitError(ProviderError):
    """Still rate limited (429) after every retry, or asked to wait longer than we will."""


class ProviderUnavailableError(ProviderError):
    """5xx answers, timeouts or connection errors outlasted every retry."""


class ProviderAnswerError(ProviderError):
    """The API answered 200 but not in its documented shape (not JSON, no content)."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently one call is retried."""

    max_retries: int = 4
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 120.0  # a longer Retry-After fails the call instead of waiting

    def backoff(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        """Full jitter: a random wait in [0, min(max_delay, base * 2**attempt)]."""
        return rng() * min(self.max_delay, self.base_delay * 2 ** attempt)


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a Retry-After header asks for (delta-seconds or an HTTP date); None if absent/bad."""
    if not value or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


MIN_SECRET_PIECE = 4  # shorter echoes are redacted too if the secret is that short
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def redact(text: str, secret: str | None) -> str:
    """The text with the secret, and any piece of it of 4 or more characters in any letter case,
    replaced by '***': a server may echo a key in part (masked, cut off) or lower-cased."""
    if not secret:
        return text
    low, key = text.translate(_ASCII_LOWER), secret.translate(_ASCII_LOWER)
    least = min(MIN_SECRET_PIECE, len(key))
    hidden = [False] * len(text)
    for start in range(len(low) - least + 1):
        end = start + least
        if low[start:end] not in key:
            continue
        while end < len(low) and low[start:end + 1] in key:
            end += 1
        hidden[start:end] = [True] * (end - start)
    out, i = [], 0
    while i < len(text):
        if hidden[i]:
            while i < len(text) and hidden[i]:
                i += 1
            out.append("***")
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def error_detail(response: httpx.Response) -> str:
    """The API's own error message (OpenAI, Anthropic, Gemini and Ollama shapes), shortened."""
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        return response.text[:ERROR_EXCERPT].strip()
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        err = err.get("message") or err.get("type") or json.dumps(err)
    return str(err or body)[:ERROR_EXCERPT]


class JsonClient:
    """POSTs JSON to one provider's API with retries; returns the decoded JSON body."""

    def __init__(self, provider: str, *, timeout: float, policy: RetryPolicy,
                 secret: str | None = None, key_hint: str = "",
                 sleep: Callable[[float], Awaitable[None]] = anyio.sleep) -> None:
        self.provider = provider
        self.policy = policy
        self.timeout = timeout
        self.attempts = 0  # HTTP requests sent, retries included
        self._secret = SecretStr(secret) if secret else None
        self._key_hint = key_hint
        self._sleep = sleep
        self._client: httpx.AsyncClient | None = None

    def __repr__(self) -> str:  # never shows headers or the key
        return f"JsonClient({self.provider!r})"

    async def aclose(self) -> None:
        """Close the connection pool (the provider is done for this run)."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _pool(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0)),
                follow_redirects=False)
        return self._client

    async def post(self, url: str, body: Mapping[str, Any],
                   headers: Mapping[str, str]) -> dict[str, Any]:
        """POST body as JSON; retry what is worth retrying; raise a ProviderError otherwise."""
        attempt = 0
        while True:
            self.attempts += 1
            try:
                response = await self._pool().post(url, json=body, headers=dict(headers))
            except httpx.TimeoutException:
                failure: ProviderError = ProviderUnavailableError(
                    f"{self.provider} did not answer within {self.timeout:g} s; raise "
                    f"understanding.{self.provider}.timeout_seconds or try again later")
                wait, why = None, "timeout"
            except httpx.TransportError as exc:
                failure = ProviderUnavailableError(
                    f"cannot reach {self.provider} at {_origin(url)}: {type(exc).__name__}; "
                    f"check understanding.{self.provider}.base_url and the network")
                wait, why = None, type(exc).__name__
            else:
                if response.status_code < 300:
                    return self._decode(response)
                failure = self._status_error(response)
                if response.status_code not in RETRY_STATUSES:
                    raise failure
                wait = retry_after_seconds(response.headers.get("retry-after"))
                why = f"HTTP {response.status_code}"
                if wait is not None and wait > self.policy.max_retry_after:
                    raise ProviderRateLimitError(
                        f"{self.provider} asks to wait {wait:.0f} s before the next call; "
                        "run again later") from None
            if attempt >= self.policy.max_retries:
                raise failure
            delay = wait if wait is not None else self.policy.backoff(attempt)
            log.warning("provider call failed; retrying", provider=self.provider,
                        reason=why, attempt=attempt + 1, delay=round(delay, 3))
            await self._sleep(delay)
            attempt += 1

    def _decode(self, response: httpx.Response) -> dict[str, Any]:
        try:
            data = response.json()
        except (ValueError, UnicodeDecodeError):
            raise ProviderAnswerError(
                f"{self.provider} answered HTTP {response.status_code} with a body that is not "
                f"JSON; check understanding.{self.provider}.base_url points at its API"
            ) from None
        if not isinstance(data, dict):
            raise ProviderAnswerError(f"{self.provider} answered with JSON that is not an object")
        return data

    def _status_error(self, response: httpx.Response) -> ProviderError:
        code = response.status_code
        detail = redact(error_detail(response),
                        self._secret.get_secret_value() if self._secret else None)
        where = f"{self.provider} answered HTTP {code}: {detail}"
        if code in (401, 403):
            hint = (f"set a valid key in {self._key_hint}" if self._key_hint
                    else "check the server's access settings")
            return ProviderAuthError(f"{where}; {hint}")
        if code == 404:
            return ProviderConfigError(f"{where}; check understanding.{self.provider}.model and "
                                       f"understanding.{self.provider}.base_url")
        if code == 429:
            return ProviderRateLimitError(f"{where}; still rate limited after "
                                          f"{self.policy.max_retries} retries, run again later "
                                          "or lower performance.max_concurrent_api_calls")
        if code in RETRY_STATUSES:
            return ProviderUnavailableError(f"{where}; the service is failing, try again later")
        refused = ProviderRequestError(f"{where}; this batch was not analyzed")
        refused.status, refused.detail = code, detail
        return refused


def _origin(url: str) -> str:
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.host}" + (f":{parsed.port}" if parsed.port else "")
