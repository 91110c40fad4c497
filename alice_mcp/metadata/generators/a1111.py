"""AUTOMATIC1111-style infotext (A1111, Forge, reForge, SD.Next, Fooocus a1111 scheme).

The text is: prompt lines, optional `Negative prompt:` lines, then one line of
`Key: value, Key: "quoted, value", ...` parameters. It lives in the PNG `parameters` text
chunk or in the EXIF UserComment of JPEG and WebP files.
"""

from __future__ import annotations

import json
import re

from alice_mcp.metadata.base import USER_COMMENT
from alice_mcp.metadata.containers import ContainerMeta
from alice_mcp.metadata.families import model_family
from alice_mcp.metadata.generators import (
    add_unique,
    clean_model_name,
    parse_size,
    to_float,
    to_int,
    to_text,
)
from alice_mcp.metadata.models import MAX_EXTRA, RAW_VALUE_CAP, GenerationInfo

MAX_PAIRS = 1000  # parameters read from one line; beyond them the line is not a real one
REGEX_SAFE_LENGTH = 1024  # most real parameter lines are shorter; longer ones take the forward pass


class _ParamScanner:
    """`findall` of stable-diffusion-webui's `re_param` (`pattern`), in linear time on any input.

    As a regex it backtracks quadratically and worse on a long run of key characters with no
    ':' (200,000 letters 'a': hours). A key run can only end at ':' when it is maximal, and a
    quoted value only at its first unescaped quote, so one forward pass finds the same matches.
    """

    pattern = r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)'  # what this computes
    regex = re.compile(pattern)  # in C: 4x faster on real lines, its worst case bounded by
    # REGEX_SAFE_LENGTH (a hostile 1,024-character line costs it ~25 ms)
    _space = re.compile(r"\s*")
    _key = re.compile(r"\w[\w \-/]*")  # a maximal key run: one class, no backtracking
    _quote_or_escape = re.compile(r'[\\"]')

    def findall(self, line: str, limit: int = MAX_PAIRS) -> list[tuple[str, str]]:
        """Every (key, raw value) pair, exactly as `re.findall(pattern, line)` returns them,
        up to `limit` pairs (a real line has dozens; a hostile one, millions)."""
        if len(line) <= REGEX_SAFE_LENGTH:
            return self.regex.findall(line)[:limit]
        return self.scan(line, limit)

    def scan(self, line: str, limit: int = MAX_PAIRS) -> list[tuple[str, str]]:
        """findall's forward pass, for lines of any length."""
        found: list[tuple[str, str]] = []
        pos, end = 0, len(line)
        while pos < end and len(found) < limit:
            run = self._key.search(line, pos)  # no key starts before the next word character
            if run is None:
                break
            start, stop = run.span()
            if stop - start < 2 or stop >= end or line[stop] != ":":
                pos = stop  # every start inside this run fails the same way
                continue
            at = self._space.match(line, stop + 1).end()  # type: ignore[union-attr]
            value, pos = self._value(line, at)
            found.append((line[start:stop], value))
        return found

    def _value(self, line: str, at: int) -> tuple[str, int]:
        """(raw value, where the next pair starts) for the value starting at `at`."""
        end = len(line)
        if at < end and line[at] == '"':
            close = self._closing_quote(line, at + 1)
            if close > at + 1 and (close + 1 == end or line[close + 1] == ","):
                return line[at:close + 1], min(close + 2, end)
        comma = line.find(",", at)
        return (line[at:], end) if comma < 0 else (line[at:comma], comma + 1)

    def _closing_quote(self, line: str, pos: int) -> int:
        """Index of the first unescaped '"' at or after pos, or -1."""
        while m := self._quote_or_escape.search(line, pos):
            if m.group() == '"':
                return m.start()
            if m.start() + 1 >= len(line) or line[m.start() + 1] == "\n":
                return -1  # a trailing backslash escapes nothing: the quoted form fails
            pos = m.start() + 2
        return -1


# Same shape as stable-diffusion-webui's `re_param`: key, then a quoted or comma-free value.
PARAM_RE = _ParamScanner()
MAX_INFOTEXT = 1024 * 1024  # characters of infotext split; beyond it is not a real prompt
# bounded runs: unbounded ones re-scan the rest of the prompt from every unclosed '<lora:'
LORA_IN_PROMPT = re.compile(r"<(?:lora|lyco):([^:<>]{1,256})(?::[^<>]{0,64})?>", re.IGNORECASE)
NEGATIVE = "Negative prompt:"
CIVITAI_MARKERS = ("Civitai resources:", "Civitai metadata:")
# parameters held by typed fields, as A1111 spells them
TYPED_KEYS = frozenset({"Steps", "Sampler", "Schedule type", "CFG scale", "Seed", "Model", "Size"})
# lower case -> A1111's spelling, for the keys alice reads (typed ones and the fork markers)
SPELLINGS = {key.lower(): key for key in (*TYPED_KEYS, "Version", "App", "Lora hashes")}
FORGE_VARIANTS = {"classic": "Classic", "neo": "Neo"}
_OTHER_VERSIONS = ("fooocus", "comfyui", "classic", "neo", " ")  # versions that need a closer look
CORE_KEYS = frozenset({"Steps", "Sampler", "CFG scale", "Seed"})  # on (nearly) every A1111 file
_DECODER = json.JSONDecoder()
READS = frozenset({"parameters", "comment", USER_COMMENT})  # the fields `parse` looks at


def parse(meta: ContainerMeta, filename: str) -> GenerationInfo | None:
    """Parse A1111 infotext from the PNG `parameters` chunk or the EXIF UserComment."""
    text, evidence, strict = _find_text(meta)
    if text is None:
        return None
    stripped = text.strip()
    if not stripped or stripped.startswith("{"):
        return None  # JSON bodies are Fooocus/SwarmUI, not infotext
    params, prompt, negative = split_infotext(stripped)
    if strict and not params and negative is None:
        return None  # an ordinary EXIF comment, not generation parameters
    info = GenerationInfo(evidence=[evidence], confidence=0.95 if params else 0.8)
    info.add_raw("parameters", text)
    info.prompt = prompt or None
    info.negative_prompt = negative or None
    params = _apply_params(info, params, len(stripped) > RAW_VALUE_CAP)
    if "<" in prompt:  # no tag without one: most prompts skip the regex
        for m in LORA_IN_PROMPT.finditer(prompt):
            add_unique(info.loras, m.group(1).strip())
    for name in _lora_hash_names(params.get("Lora hashes")):
        add_unique(info.loras, name)
    info.source, info.source_name = _flavour(params)
    if ("Civitai resources" in params or "Civitai metadata" in params) and _civitai(stripped, info):
        info.engine = "comfyui" if info.source == "comfyui" else "a1111"
        info.source, info.source_name = "civitai", "Civitai (on-site generator)"
        info.evidence.append("civitai:resources")
    info.model_family = model_family(info.model, info.width, info.height)
    return info


def _find_text(meta: ContainerMeta) -> tuple[str | None, str, bool]:
    """Return (text, evidence, strict): strict when the text came from a generic comment field."""
    if "parameters" in meta.text:
        return (
            meta.text["parameters"],
            f"{meta.text_source.get('parameters', 'png')}:parameters",
            False,
        )
    if meta.exif_user_comment:
        return meta.exif_user_comment, f"{meta.format}:exif:UserComment", True
    if "comment" in meta.text:
        return meta.text["comment"], f"{meta.text_source.get('comment', meta.format)}:comment", True
    return None, "", True


def split_infotext(text: str) -> tuple[dict[str, str], str, str | None]:
    """Split infotext into (params, prompt, negative); negative is None when absent."""
    lines = text[:MAX_INFOTEXT].replace("\r\n", "\n").split("\n")
    last = lines[-1]
    params: dict[str, str] = {}
    # PARAM_RE.findall inlined (a call less per file): a line this short holds < 342 pairs
    found = PARAM_RE.regex.findall(last) if len(last) <= REGEX_SAFE_LENGTH else PARAM_RE.scan(last)
    if len(found) >= 3 or last.lstrip().startswith("Steps:"):
        lines = lines[:-1]
        for key, raw in found:
            value = raw.strip()
            params[key.strip()] = unquote(value) if value[:1] == '"' else value
    prompt_lines: list[str] = []
    negative_lines: list[str] | None = None
    for line in lines:
        if negative_lines is None and line.lstrip().startswith(NEGATIVE):
            negative_lines = [line.lstrip()[len(NEGATIVE) :].strip()]
        elif negative_lines is not None:
            negative_lines.append(line)
        else:
            prompt_lines.append(line)
    prompt = "\n".join(prompt_lines).strip()
    negative = "\n".join(negative_lines).strip() if negative_lines is not None else None
    return params, prompt, negative


def unquote(value: str) -> str:
    """Undo the JSON-style quoting A1111 applies to values containing commas or colons."""
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        try:
            out = json.loads(value)
            return out if isinstance(out, str) else value
        except ValueError:
            return value[1:-1]
    return value


def _apply_params(info: GenerationInfo, params: dict[str, str], long: bool) -> dict[str, str]:
    """Copy the known parameters into the typed fields; keep every parameter, as written, in
    `extra` (so keys alice has no field for are never dropped).

    Keys are matched case-insensitively (other savers write `CFG Scale`, `Clip Skip`): when
    one of A1111's core keys is missing as spelled, the others are looked up by lower case.
    Returns the parameters with the keys alice reads under A1111's own spelling. `long`: the
    text is over RAW_VALUE_CAP, so a value may be too (shorter texts skip that check).
    """
    extra = params
    if len(extra) > MAX_EXTRA or (long and any(len(v) > RAW_VALUE_CAP for v in extra.values())):
        extra = {k: v[:RAW_VALUE_CAP] for k, v in list(extra.items())[:MAX_EXTRA]}
    info.extra = extra
    if not params.keys() >= CORE_KEYS:  # a per-key look only for other savers' spellings
        respelled = {}
        for key, value in params.items():
            canonical = SPELLINGS.get(key.lower())
            if canonical is not None and canonical not in params:
                respelled[canonical] = value
        if respelled:
            params = {**params, **respelled}
    info.steps = to_int(params.get("Steps"))
    info.sampler = to_text(params.get("Sampler"))
    info.scheduler = to_text(params.get("Schedule type"))
    info.cfg = to_float(params.get("CFG scale"))
    info.seed = to_int(params.get("Seed"))
    info.model = clean_model_name(params.get("Model"))
    size = parse_size(params.get("Size"))
    if size:
        info.width, info.height = size
    return params


def _lora_hash_names(value: str | None) -> list[str]:
    """Names from `Lora hashes: "name: hash, name2: hash2"`."""
    if not value:
        return []
    names = []
    for part in value.split(","):
        name = part.rsplit(":", 1)[0].strip()
        if name:
            names.append(name)
    return names


def _flavour(params: dict[str, str]) -> tuple[str, str]:
    """Tell A1111 from its forks by the Version/App fields."""
    version = params.get("Version", "")
    app = params.get("App", "")
    if "SD.Next" in app or "sdnext" in app.lower():
        return "sdnext", "SD.Next"
    if version[:1] == "f" and version[1:2].isdecimal():  # `^f\d`: Forge's f2.0.1...
        return "forge", "Stable Diffusion WebUI Forge"
    lower = version.lower()
    if lower.startswith(_OTHER_VERSIONS):
        if lower.startswith("fooocus"):
            return "fooocus", "Fooocus"
        if lower.startswith("comfyui"):
            return "comfyui", "ComfyUI"
        word = lower.strip().split("-")[0].split(" ")[0]
        if word in FORGE_VARIANTS:  # Forge Classic / Forge Neo write `classic` / `neo`
            return "forge", f"Stable Diffusion WebUI Forge ({FORGE_VARIANTS[word]})"
    return "a1111", "AUTOMATIC1111"


def _civitai(text: str, info: GenerationInfo) -> bool:
    """Civitai's on-site generator: `Civitai resources: [...]` / `Civitai metadata: {...}`.

    The JSON values are not quoted, so the infotext split cuts them at the first comma;
    they are decoded here from the text itself (bounded: one JSON value each).
    """
    found = False
    for marker in CIVITAI_MARKERS:
        key = marker.rstrip(":")
        at = text.rfind(marker)
        if at < 0:
            continue
        found = True
        start = at + len(marker)
        while start < len(text) and text[start] == " ":
            start += 1
        try:
            value, _ = _DECODER.raw_decode(text, start)
        except (ValueError, RecursionError):
            info.errors.append(f"civitai: {marker.rstrip(':')} is not valid JSON")
            continue
        info.extra[key] = json.dumps(value, ensure_ascii=False)[:RAW_VALUE_CAP]
        if key == "Civitai resources":
            info.model = info.model or _civitai_checkpoint(value)
            for item in value if isinstance(value, list) else []:
                if isinstance(item, dict) and item.get("type") in ("lora", "lycoris"):
                    add_unique(info.loras, to_text(item.get("modelName")))
    return found


def _civitai_checkpoint(resources: object) -> str | None:
    """The checkpoint's name in a `Civitai resources` list."""
    for item in resources if isinstance(resources, list) else []:
        if isinstance(item, dict) and item.get("type") == "checkpoint":
            name = to_text(item.get("modelName"))
            version = to_text(item.get("modelVersionName"))
            if name:
                return f"{name} {version}" if version else name
    return None
