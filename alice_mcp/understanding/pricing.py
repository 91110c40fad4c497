"""Prices of the remote providers in USD per million tokens, and the cost of a call from its usage.

The table is matched by the longest model-name prefix ('claude-3-5-haiku-20241022' uses the
'claude-3-5-haiku' row). An unknown model is priced at the highest input, output and image
figures of its provider's rows, so a budget errs on the side of stopping early; set
`understanding.<provider>.price_usd_per_million_input` / `_output` to price it exactly (0 for
a free OpenAI-compatible server). Ollama runs locally and costs nothing. Prices change:
the ledger records what the API reports as used, priced with this table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from alice_mcp.understanding.base import Usage
from alice_mcp.understanding.prompt import INSTRUCTIONS, image_label, request_text
from alice_mcp.understanding.schema import answer_schema

TOKENS_OUT_PER_IMAGE = 400  # description, caption, tags with confidences in JSON; a ceiling
CHARS_PER_TOKEN = 3.5


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million input and output tokens, and the input tokens one thumbnail costs."""

    input_per_million: float
    output_per_million: float
    image_tokens: int
    source: str = "price table"

    def cost(self, tokens_in: int, tokens_out: int) -> float:
        """USD for this many tokens."""
        return (tokens_in * self.input_per_million
                + tokens_out * self.output_per_million) / 1_000_000


FREE = Price(0.0, 0.0, 0, "free (runs locally)")

# (input, output) USD per 1M tokens; image_tokens for a 256 px thumbnail at low detail
PRICES: dict[str, dict[str, Price]] = {
    "openai": {
        "gpt-4o": Price(2.50, 10.00, 85),
        "gpt-4o-mini": Price(0.15, 0.60, 2833),
        "gpt-4.1": Price(2.00, 8.00, 85),
        "gpt-4.1-mini": Price(0.40, 1.60, 104),
        "gpt-4.1-nano": Price(0.10, 0.40, 158),
        "gpt-5": Price(1.25, 10.00, 70),
        "gpt-5-mini": Price(0.25, 2.00, 104),
        "gpt-5-nano": Price(0.05, 0.40, 158),
        "o4-mini": Price(1.10, 4.40, 111),
    },
    "anthropic": {  # images cost about width * height / 750 tokens: 88 for 256 x 256
        "claude-3-haiku": Price(0.25, 1.25, 88),
        "claude-3-5-haiku": Price(0.80, 4.00, 88),
        "claude-haiku-4-5": Price(1.00, 5.00, 88),
        "claude-3-7-sonnet": Price(3.00, 15.00, 88),
        "claude-sonnet-4": Price(3.00, 15.00, 88),
        "claude-opus-4": Price(15.00, 75.00, 88),
        "claude-opus-4-5": Price(5.00, 25.00, 88),
    },
    "google": {  # an image up to 384 px on both sides is 258 tokens
        "gemini-2.0-flash": Price(0.10, 0.40, 258),
        "gemini-2.0-flash-lite": Price(0.075, 0.30, 258),
        "gemini-2.5-flash": Price(0.30, 2.50, 258),
        "gemini-2.5-flash-lite": Price(0.10, 0.40, 258),
        "gemini-2.5-pro": Price(1.25, 10.00, 258),
    },
}


def price_for(provider: str, model: str, input_override: float | None = None,
              output_override: float | None = None) -> Price:
    """The price of one provider's model: settings overrides, else the table, else the fallback."""
    if provider == "ollama":
        return FREE
    rows = PRICES.get(provider, {})
    name = model.lower().split("/")[-1]
    matches = [prefix for prefix in rows if name.startswith(prefix)]
    if matches:
        price = rows[max(matches, key=len)]
    elif rows:
        price = Price(max(p.input_per_million for p in rows.values()),
                      max(p.output_per_million for p in rows.values()),
                      max(p.image_tokens for p in rows.values()),
                      f"fallback: {model!r} is not in the {provider} price table, priced at "
                      "its highest rates")
    else:
        price = Price(0.0, 0.0, 0, f"unknown provider {provider!r}: free")
    if input_override is not None or output_override is not None:
        price = replace(price, source="settings",
                        input_per_million=price.input_per_million if input_override is None
                        else input_override,
                        output_per_million=price.output_per_million if output_override is None
                        else output_override)
    return price


def fixed_tokens() -> int:
    """Input tokens of the instructions and the answer schema of one request, whatever its
    images (the schema is sent with every request, natively or in the text)."""
    schema = json.dumps(answer_schema())
    return round((len(INSTRUCTIONS) + len(request_text(2)) + len(schema)) / CHARS_PER_TOKEN)


def estimate(price: Price, images: int) -> Usage:
    """What one request of `images` thumbnails should cost, before it is sent."""
    if images <= 0:
        return Usage()
    label = round(len(image_label(0)) / CHARS_PER_TOKEN) + 2
    tokens_in = fixed_tokens() + images * (price.image_tokens + label)
    tokens_out = images * TOKENS_OUT_PER_IMAGE
    return Usage(tokens_in=tokens_in, tokens_out=tokens_out,
                 usd=price.cost(tokens_in, tokens_out))


def cost(price: Price, tokens_in: int, tokens_out: int) -> Usage:
    """The Usage of a finished call from the token counts the API reported."""
    return Usage(tokens_in=tokens_in, tokens_out=tokens_out, usd=price.cost(tokens_in, tokens_out))
