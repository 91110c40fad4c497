"""What every remote provider shares: thumbnails as base64 JPEG, one request per batch, parse, cost.

A subclass only knows its API's wire format: the URL, the headers, the request body (with the
answer schema sent the API's own way), where the answer is in the response (as a Reply: the
answer, its raw text, cut off or refused) and how the response reports usage. A server that
rejects the native schema (HTTP 400 naming it) may be asked again in plain JSON mode with the
schema in the instructions: `downgrade` decides, once per run.
"""

from __future__ import annotations

import base64
import io
from typing import Any, ClassVar

from PIL import Image
from pydantic import SecretStr

from alice_mcp.understanding import pricing
from alice_mcp.understanding.base import Analysis, Item, UnderstandingError, Usage
from alice_mcp.understanding.http import (
    JsonClient,
    ProviderAnswerError,
    ProviderRequestError,
    RetryPolicy,
)
from alice_mcp.understanding.prompt import PROMPT_VERSION, Reply, read_reply
from alice_mcp.understanding.settings import UnderstandingSettings

JPEG = "image/jpeg"
MAX_SENT_SIDE = 512  # thumbnails are 256 px by default; never send more than this


class NoImageError(UnderstandingError):
    """The asset has no stored thumbnail (a video or an undecodable file): nothing was sent."""


def jpeg_base64(thumbnail: bytes) -> str:
    """The stored thumbnail as base64 JPEG; re-encoded only if it is not a small JPEG already."""
    if thumbnail[:3] == b"\xff\xd8\xff":
        with Image.open(io.BytesIO(thumbnail)) as img:
            small = max(img.size) <= MAX_SENT_SIDE
        if small:
            return base64.b64encode(thumbnail).decode("ascii")
    with Image.open(io.BytesIO(thumbnail)) as img:
        rgb = img.convert("RGB")
    rgb.thumbnail((MAX_SENT_SIDE, MAX_SENT_SIDE))
    out = io.BytesIO()
    rgb.save(out, "JPEG", quality=85)
    return base64.b64encode(out.getvalue()).decode("ascii")


class RemoteProvider:
    """A provider behind an HTTP API; subclasses give the wire format."""

    name: ClassVar[str] = "remote"
    key_env: ClassVar[tuple[str, ...]] = ()
    prompt_version = PROMPT_VERSION
    needs_images = True

    def __init__(self, conf: UnderstandingSettings.Remote, *, base_url: str,
                 api_key: str | None = None, retry: RetryPolicy | None = None) -> None:
        self.model = conf.model
        self.base_url = base_url.rstrip("/")
        self.max_batch = conf.max_images_per_request
        self.price = pricing.price_for(self.name, self.model, conf.price_usd_per_million_input,
                                       conf.price_usd_per_million_output)
        self._secret = SecretStr(api_key) if api_key else None  # hidden from reprs and dumps
        self.http = JsonClient(self.name, timeout=conf.timeout_seconds,
                               policy=retry or RetryPolicy(max_retries=conf.max_retries),
                               secret=api_key, key_hint=" or ".join(self.key_env))

    def __repr__(self) -> str:  # the key never appears in reprs, logs or tracebacks
        return f"{type(self).__name__}(model={self.model!r}, base_url={self.base_url!r})"

    @property
    def _api_key(self) -> str | None:
        """The key, for the request headers only."""
        return self._secret.get_secret_value() if self._secret else None

    # -- the wire format, per API ---------------------------------------------------------

    def url(self) -> str:
        """The endpoint one request is POSTed to."""
        raise NotImplementedError

    def headers(self) -> dict[str, str]:
        """The request headers, the API key among them (never logged)."""
        raise NotImplementedError

    def body(self, images: list[str]) -> dict[str, Any]:
        """The request for these base64 JPEG images (indices 0..n-1)."""
        raise NotImplementedError

    def reply(self, data: dict[str, Any]) -> Reply:
        """The answer in a successful response; ProviderAnswerError if the response is not in
        the API's documented shape."""
        raise NotImplementedError

    def downgrade(self, error: ProviderRequestError) -> bool:
        """Whether a refused request should be sent again without the native schema (the
        server is too old for it); the subclass switches its mode and logs it once."""
        return False

    def tokens(self, data: dict[str, Any]) -> tuple[int, int]:
        """(input, output) tokens the response reports as used."""
        raise NotImplementedError

    # -- shared -----------------------------------------------------------------------------

    def estimate(self, images: int) -> Usage:
        """The expected cost of one request of this many images (before sending it)."""
        return pricing.estimate(self.price, images)

    async def aclose(self) -> None:
        """Close the connection pool at the end of a run."""
        await self.http.aclose()

    async def analyze(self, items: list[Item]) -> tuple[list[Analysis | Exception], Usage]:
        """One request for the batch; one Analysis or one Exception per item, and the cost."""
        answers: list[Analysis | Exception] = [NoImageError(
            f"{item.asset_id} has no thumbnail (a video or an undecodable file); nothing was "
            f"sent to {self.name}") for item in items]
        slots = [i for i, item in enumerate(items) if item.thumbnail]
        if not slots:
            return answers, Usage()
        images = [jpeg_base64(items[i].thumbnail or b"") for i in slots]
        try:
            data = await self.http.post(self.url(), self.body(images), self.headers())
        except ProviderRequestError as exc:
            if not self.downgrade(exc):
                raise
            data = await self.http.post(self.url(), self.body(images), self.headers())
        usage = self._usage(data)
        try:
            parsed = read_reply(self.reply(data), len(images))
        except ProviderAnswerError as exc:
            parsed = [exc] * len(images)
        for slot, answer in zip(slots, parsed, strict=True):
            answers[slot] = answer
        return answers, usage

    def _usage(self, data: dict[str, Any]) -> Usage:
        try:
            tokens_in, tokens_out = self.tokens(data)
        except (KeyError, TypeError, ValueError):
            tokens_in, tokens_out = 0, 0
        return pricing.cost(self.price, int(tokens_in or 0), int(tokens_out or 0))
