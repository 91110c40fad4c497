"""Synthetic libraries of N assets built with DuckDB's own bulk SQL (no image files), for search.

Every value is derived from hash(i) so a library of a given size is always the same: realistic
columns (sources, models, families, prompts of 8-14 words, seeds, sizes, stars, dates over three
years, 64-bit pHashes), five tags per asset from a vocabulary of 100 and one organized location.
"""

from __future__ import annotations

import time
from pathlib import Path

import duckdb

from alice_mcp.store.db import Database
from alice_mcp.store.upkeep import order_tags_if_needed

_WORD_TEXT = ("portrait fox castle hill neon city night misty forest astronaut cat watercolor harbor "
         "cyberpunk street desert caravan snowy mountains koi pond steampunk airship sunflower "
         "field underwater temple retro robot autumn library dragon knight samurai garden "
         "lighthouse storm galaxy nebula cottage meadow waterfall canyon jungle ruins")
WORDS = _WORD_TEXT.split()
STYLES = ("highly detailed", "cinematic lighting", "oil painting", "35mm photo", "anime style",
          "concept art", "octane render", "studio ghibli", "vaporwave", "ukiyo-e")
SOURCES = ("a1111", "comfyui", "forge", "midjourney", "novelai", "invokeai", "dalle", "unknown")
MODELS = (("sd_xl_base_1.0", "sdxl"), ("flux1-dev-fp8", "flux"), ("v1-5-pruned-emaonly", "sd15"),
          ("ponyDiffusionV6XL", "pony"), ("juggernautXL_v9", "sdxl"), ("sd3.5_large", "sd3"),
          ("dreamshaper_8", "sd15"), ("flux1-schnell", "flux"), ("illustriousXL_v01", "illustrious"),
          ("realvisxlV40", "sdxl"), ("midjourney v6.1", None), ("dall-e-3", None))
SAMPLERS = ("Euler a", "DPM++ 2M Karras", "euler", "dpmpp_2m", "DDIM", "UniPC")
PROJECTS = ("portraits", "landscapes", "abstract", "uncategorized", "clients", "concepts")
TAG_COUNT = 100
TAGS_PER_ASSET = 5
TAG_CATEGORIES = ("subject", "style", "mood", "color", "lighting")


def tag_vocabulary() -> list[str]:
    """The 100 tags assets draw from: the prompt words, the styles and a few technical tags."""
    extra = ["blurry", "sharp", "dark", "bright", "warm", "cold", "square", "wide", "tall",
             "duplicate", "favourite", "reference", "wip", "final", "rejected", "moody",
             "vivid", "pastel", "monochrome", "high contrast", "low key", "golden hour",
             "blue hour", "bokeh", "minimal", "busy", "symmetry", "texture", "pattern", "noir",
             "retro", "futuristic", "fantasy", "sci-fi", "horror", "cute", "epic", "calm",
             "chaotic", "dreamy", "gritty", "clean", "glow", "fog", "rain", "snow", "sunset",
             "night sky", "studio", "outdoor"]
    vocab = list(dict.fromkeys([*WORDS, *STYLES, *extra]))
    return vocab[:TAG_COUNT]


def _sql_list(values: tuple[str, ...] | list[str]) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def _assets_sql(start: int, stop: int) -> str:
    models = _sql_list([m for m, _ in MODELS])
    families = "[" + ", ".join("NULL" if f is None else f"'{f}'" for _, f in MODELS) + "]"
    words, styles = _sql_list(list(WORDS)), _sql_list(list(STYLES))
    n_words, n_styles, n_models = len(WORDS), len(STYLES), len(MODELS)
    prompt_words = ", ".join(f"{words}[1 + (hash(i, {k}) % {n_words})::INTEGER]" for k in range(10))
    return f"""
    INSERT INTO assets
    SELECT
        md5(i::VARCHAR) AS asset_id,
        'image', ['image/png', 'image/png', 'image/jpeg', 'image/webp'][1 + i % 4],
        100000 + hash(i, 1) % 2000000,
        [512, 768, 1024, 832, 1216][1 + i % 5], [512, 768, 1024, 1216, 832][1 + i % 5],
        NULL, NULL,
        TIMESTAMPTZ '2023-01-01 00:00:00+00' + to_seconds((hash(i, 2) % 94608000)::BIGINT),
        {_sql_list(SOURCES)}[1 + i % {len(SOURCES)}], NULL, 0.95,
        {models}[1 + m], {families}[1 + m],
        concat_ws(', ', concat_ws(' ', {prompt_words}),
                  {styles}[1 + (hash(i, 3) % {n_styles})::INTEGER],
                  {styles}[1 + (hash(i, 4) % {n_styles})::INTEGER]),
        'blurry, lowres, watermark',
        (hash(i, 5) % 4294967296)::BIGINT, 20 + i % 31,
        {_sql_list(SAMPLERS)}[1 + i % {len(SAMPLERS)}], 'karras', 3.5 + (i % 9) * 0.5,
        []::VARCHAR[], '{{"bench": true}}'::JSON,
        (hash(i, 6)::HUGEINT - 9223372036854775808)::BIGINT,
        (hash(i, 7)::HUGEINT - 9223372036854775808)::BIGINT,
        (hash(i, 8) % 1000) / 10.0, 1 + (hash(i, 8) % 1000) // 200,
        NULL, {_sql_list(PROJECTS)}[1 + i % {len(PROJECTS)}], NULL,
        TIMESTAMPTZ '2025-01-01 00:00:00+00',
        NULL,  -- engine (no search the bench times uses it)
        NULL AS missing_since
    FROM (SELECT i, (hash(i, 9) % {n_models})::INTEGER AS m FROM range({start}, {stop}) t(i))
    """


def _tags_sql(start: int, stop: int) -> str:
    vocab = _sql_list(tag_vocabulary())
    cats = _sql_list(list(TAG_CATEGORIES))
    # Five distinct tags per asset: (h + 17k) mod 100 for k = 0..4 never repeats.
    return f"""
    INSERT INTO tags
    SELECT md5(i::VARCHAR), {vocab}[1 + (((hash(i, 10) % {TAG_COUNT}) + 17 * k) % {TAG_COUNT})::INTEGER],
           {cats}[1 + k::INTEGER], 'local', 0.8
    FROM range({start}, {stop}) t(i), range({TAGS_PER_ASSET}) k(k)
    """


def _files_sql(start: int, stop: int) -> str:
    return f"""
    INSERT INTO files
    SELECT '/library/organized/' || strftime(a.created_at, '%Y-%m-%d') || '/' || a.project
           || '/' || a.source || '/' || a.project || '-' || lpad(i::VARCHAR, 7, '0') || '.png',
           a.asset_id, a.bytes, 1700000000000000000 + i, 'organized', a.indexed_at
    FROM range({start}, {stop}) t(i) JOIN assets a ON a.asset_id = md5(i::VARCHAR)
    """


def build_library(path: Path, count: int, chunk: int = 250_000, *, upkeep: bool = True) -> float:
    """Create (or replace) a library database of `count` synthetic assets; returns seconds taken.

    `upkeep=False` leaves the tags table in arrival order (the state upkeep's tests start from)."""
    started = time.perf_counter()
    for leftover in (path, path.with_name(path.name + ".wal")):
        leftover.unlink(missing_ok=True)
    schema = Database(path)  # the real schema, applied the way the application applies it
    schema.conn.execute("CHECKPOINT")
    schema.close()
    conn = duckdb.connect(str(path))
    try:
        conn.execute("SET enable_progress_bar = false")
        for start in range(0, count, chunk):
            stop = min(count, start + chunk)
            conn.execute("BEGIN TRANSACTION")
            conn.execute(_assets_sql(start, stop))
            conn.execute(_tags_sql(start, stop))
            conn.execute(_files_sql(start, stop))
            conn.execute("COMMIT")
        conn.execute("CHECKPOINT")
    finally:
        conn.close()
    # what the library's upkeep does once this many tags arrived: the tags table in tag order
    library = Database(path)
    try:
        if upkeep:
            order_tags_if_needed(library)
        library.conn.execute("CHECKPOINT")
    finally:
        library.close()
    return time.perf_counter() - started


def asset_id_of(i: int) -> str:
    """The asset_id build_library gives asset number i (md5 of its decimal form)."""
    import hashlib

    return hashlib.md5(str(i).encode()).hexdigest()
