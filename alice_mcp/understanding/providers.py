"""Build a provider by name from the settings and the conventional environment variables.

| provider  | API key (environment only)          | address (setting, else environment)        |
|-----------|-------------------------------------|--------------------------------------------|
| local     | none                                | none: offline                              |
| openai    | OPENAI_API_KEY                      | understanding.openai.base_url, OPENAI_BASE_URL |
| anthropic | ANTHROPIC_API_KEY                   | understanding.anthropic.base_url, ANTHROPIC_BASE_URL |
| google    | GEMINI_API_KEY, else GOOGLE_API_KEY | understanding.google.base_url              |
| ollama    | none                                | understanding.ollama.base_url, OLLAMA_HOST |

OPENAI_API_KEY may be left unset for an OpenAI-compatible server other than api.openai.com
(a local server that needs no key); every other remote provider needs its key.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Mapping

import httpx

from alice_mcp.errors import SettingsError
from alice_mcp.understanding import anthropic, google, ollama, openai
from alice_mcp.understanding.base import Provider, UnderstandingError
from alice_mcp.understanding.http import RetryPolicy
from alice_mcp.understanding.local import LocalProvider
from alice_mcp.understanding.remote import RemoteProvider
from alice_mcp.understanding.settings import UnderstandingSettings

PROVIDERS = ("local", "openai", "anthropic", "google", "ollama")
_CLASSES: dict[str, type[RemoteProvider]] = {
    "openai": openai.OpenAIProvider, "anthropic": anthropic.AnthropicProvider,
    "google": google.GoogleProvider, "ollama": ollama.OllamaProvider,
}
_BASE_ENV = {"openai": "OPENAI_BASE_URL", "anthropic": "ANTHROPIC_BASE_URL",
             "ollama": "OLLAMA_HOST"}
_DEFAULT_BASE = {"openai": openai.DEFAULT_BASE_URL, "anthropic": anthropic.DEFAULT_BASE_URL,
                 "google": google.DEFAULT_BASE_URL, "ollama": ollama.DEFAULT_BASE_URL}


def make_provider(name: str, settings: UnderstandingSettings | None = None, *,
                  environ: Mapping[str, str] | None = None, require_key: bool = True,
                  retry: RetryPolicy | None = None) -> Provider:
    """The provider of that name; UnderstandingError (naming the variable to set) if it lacks a key.

    require_key=False builds it for a cost estimate only (no call is made).
    """
    settings = settings or UnderstandingSettings()
    environ = os.environ if environ is None else environ
    if name == "local":
        return LocalProvider()
    if name not in _CLASSES:
        raise UnderstandingError(f"unknown understanding provider {name!r}; use one of "
                                 f"{', '.join(PROVIDERS)}")
    conf: UnderstandingSettings.Remote = getattr(settings, name)
    base_url = base_url_of(name, conf, environ)
    key = api_key_of(name, environ)
    cls = _CLASSES[name]
    if require_key and key is None and _needs_key(name, base_url):
        raise UnderstandingError(
            f"provider {name!r} needs an API key: set {' or '.join(cls.key_env)} in the "
            "environment (keys are never read from settings files), or use provider 'local' "
            "(offline, free)")
    return cls(conf, base_url=base_url, api_key=key, retry=retry)


def api_key_of(name: str, environ: Mapping[str, str]) -> str | None:
    """The provider's key from the first of its environment variables that is set; SettingsError
    if it holds a character no key has (a pasted curly quote or no-break space)."""
    cls = _CLASSES.get(name)
    for var in cls.key_env if cls else ():
        value = environ.get(var, "").strip()
        if value:
            check_key(var, value)
            return value
    return None


def check_key(var: str, value: str) -> None:
    """Refuse a key that cannot travel in an HTTP header; the message names the character by its
    Unicode name and never shows the key."""
    for pos, char in enumerate(value, 1):
        if "!" <= char <= "~" and char not in "\"'`":
            continue
        code = f"U+{ord(char):04X}"
        label = unicodedata.name(char, "a control character")
        raise SettingsError(
            f"the environment variable {var} holds a character an API key cannot have "
            f"({code} {label}, character {pos} of {len(value)}); it was probably pasted with "
            f"the key: set {var} again to the key alone (keys are read from the environment "
            "only, never from settings files)")


def base_url_of(name: str, conf: UnderstandingSettings.Remote, environ: Mapping[str, str]) -> str:
    """understanding.<name>.base_url, else the provider's environment variable, else its API."""
    given = conf.base_url or environ.get(_BASE_ENV.get(name, ""), "").strip() or None
    if name == "ollama":
        return ollama.ollama_base_url(given or ollama.DEFAULT_BASE_URL)
    url = (given or _DEFAULT_BASE[name]).rstrip("/")
    if "://" not in url:
        raise UnderstandingError(f"the {name} base URL {url!r} needs a scheme, e.g. "
                                 f"{_DEFAULT_BASE[name]}; fix understanding.{name}.base_url or "
                                 f"{_BASE_ENV.get(name, 'the setting')}")
    return url


def _needs_key(name: str, base_url: str) -> bool:
    if name == "ollama":
        return False
    if name == "openai":
        return (httpx.URL(base_url).host or "").endswith("openai.com")
    return True
