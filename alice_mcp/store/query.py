"""The search language -> a Query object -> parameterised SQL. No user text is ever put in SQL.

    cyberpunk "neon city" tag:portrait -tag:blurry source:midjourney engine:comfyui model:flux*
    stars:>=4 after:2025-01-01 before:7d type:video project:x w:>=1024 seed:123 sort:stars
    missing:true (assets whose every file vanished; hidden otherwise)
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from alice_mcp.errors import InvalidQuery
from alice_mcp.store.db import Database
from alice_mcp.store.sorts import SORTS
from alice_mcp.store.tags import normalise_tag

SORT_COLUMNS = {"newest": "a.created_at", "oldest": "a.created_at",
                "stars": "a.stars, a.quality", "quality": "a.quality", "indexed": "a.indexed_at"}
FIELDS = ("tag", "source", "engine", "model", "family", "project", "type", "stars", "w", "h",
          "seed", "sampler", "after", "before", "sort", "id", "like", "missing")
# A free word matches the prompt, description or model (as one text, as before) or any tag.
# Tags are matched in their own table (a semi-join) rather than aggregated per asset, which
# made every text search group the whole tags table.
TEXT_MATCH = ("(contains(lower(concat_ws(' ', a.prompt, a.description, a.model)), ?) "
              "OR a.asset_id IN (SELECT asset_id FROM tags WHERE contains(tag, ?)))")
_COMPARE = re.compile(r"^(>=|<=|>|<|=)?(-?\d{1,18})$")
_RELATIVE = re.compile(r"^(\d+)([dwmy])$")
_UNITS = {"d": 1, "w": 7, "m": 30, "y": 365}
# the values a comparison field can take: (lowest, highest, what to tell the user)
RANGES = {"stars": (1, 5, "stars go from 1 to 5"),
          "w": (0, 1_000_000, "widths go from 0 to 1000000 pixels"),
          "h": (0, 1_000_000, "heights go from 0 to 1000000 pixels")}
SEED_RANGE = (-(2**63), 2**63 - 1)  # the seed column is a BIGINT
MEDIA_TYPES = ("image", "video")
MAX_MEANING = 500  # characters of a description searched by meaning


@dataclass(slots=True)
class Query:
    """A search, from the query language or from the search tool's arguments."""

    words: list[str] = field(default_factory=list)
    not_words: list[str] = field(default_factory=list)
    tags_all: list[str] = field(default_factory=list)
    tags_any: list[str] = field(default_factory=list)
    tags_none: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    engines: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    families: list[str] = field(default_factory=list)
    projects: list[str] = field(default_factory=list)
    samplers: list[str] = field(default_factory=list)
    asset_ids: list[str] = field(default_factory=list)
    media_type: str | None = None
    stars: list[tuple[str, int]] = field(default_factory=list)
    width: list[tuple[str, int]] = field(default_factory=list)
    height: list[tuple[str, int]] = field(default_factory=list)
    seed: int | None = None
    after: datetime | None = None
    before: datetime | None = None
    sort: str = "newest"
    semantic: str | None = None  # like:"..." or ~"...": ranked by meaning (embeddings/)
    missing: bool = False  # missing:true: only assets whose every file vanished

    def key(self) -> tuple[Any, ...]:
        """A hashable identity, for the search cache and for cursors."""
        return tuple(tuple(v) if isinstance(v, list) else v
                     for v in (getattr(self, f.name) for f in fields(self)))

    @classmethod
    def from_filters(cls, text: str | None = None, *, tags_all: Sequence[str] = (),
                     tags_any: Sequence[str] = (), tags_none: Sequence[str] = (),
                     source: str | None = None, model: str | None = None,
                     after: str | None = None, before: str | None = None,
                     min_stars: int | None = None, media_type: str | None = None,
                     sort: str | None = None, semantic: str | None = None,
                     now: datetime | None = None) -> Query:
        """The query language text and structured filters folded into one Query: what the
        search tool's arguments and the CLI's flags both build, so both faces mean the same."""
        query = parse(text, now)
        query.tags_all += [normalise_tag(t) for t in tags_all]
        query.tags_any += [normalise_tag(t) for t in tags_any]
        query.tags_none += [normalise_tag(t) for t in tags_none]
        for name, value in (("source", source), ("model", model), ("after", after),
                            ("before", before), ("type", media_type), ("sort", sort)):
            if value:
                _apply(query, name, value, False, now or datetime.now(UTC))
        if min_stars is not None:
            query.stars.append(_in_range("stars", (">=", min_stars)))
        if semantic and semantic.strip():
            _add_meaning(query, semantic)
        return query

    def without_meaning(self) -> Query:
        """The same query without its description to rank by meaning: what narrows."""
        return replace(self, semantic=None)


def parse(text: str | None, now: datetime | None = None) -> Query:
    """Parse the query language; raise InvalidQuery naming the part that is wrong."""
    query = Query()
    if not text or not text.strip():
        return query
    try:
        tokens = shlex.split(text)
    except ValueError as exc:
        raise InvalidQuery(f"unbalanced quotes in query {text!r}: {exc}") from None
    now = now or datetime.now(UTC)
    for token in tokens:
        if token.startswith("~") and len(token) > 1:
            _add_meaning(query, token[1:])
            continue
        negated = token.startswith("-") and len(token) > 1
        body = token[1:] if negated else token
        name, sep, value = body.partition(":")
        if not sep or name.lower() not in FIELDS:
            if sep and re.fullmatch(r"[a-z_]+", name.lower()):
                raise InvalidQuery(f"unknown field {name!r} in {token!r}; fields: {', '.join(FIELDS)}")
            (query.not_words if negated else query.words).append(normalise_tag(body))
            continue
        if not value:
            raise InvalidQuery(f"{token!r} has no value; write e.g. {name}:something")
        _apply(query, name.lower(), value, negated, now)
    return query


def _apply(q: Query, name: str, value: str, negated: bool, now: datetime) -> None:
    if negated and name != "tag":
        raise InvalidQuery(f"'-{name}:' is not supported; only tags and words can be negated")
    match name:
        case "tag":
            (q.tags_none if negated else q.tags_all).append(normalise_tag(value))
        case "source":
            q.sources.append(value.lower())
        case "engine":
            q.engines.append(value.lower())
        case "model":
            q.models.append(value.lower())
        case "family":
            q.families.append(value.lower())
        case "project":
            q.projects.append(value)
        case "sampler":
            q.samplers.append(value.lower())
        case "id":
            q.asset_ids.append(value.lower())
        case "type":
            if value.lower() not in MEDIA_TYPES:
                raise InvalidQuery(f"type:{value} is not known; use type:image or type:video")
            q.media_type = value.lower()
        case "stars" | "w" | "h":
            target = {"stars": q.stars, "w": q.width, "h": q.height}[name]
            target.append(_in_range(name, _comparison(name, value)))
        case "seed":
            if not re.fullmatch(r"-?\d{1,20}", value) or not (
                    SEED_RANGE[0] <= int(value) <= SEED_RANGE[1]):
                raise InvalidQuery(f"seed:{value[:30]} is not a seed; seeds are whole numbers "
                                   f"from {SEED_RANGE[0]} to {SEED_RANGE[1]}")
            q.seed = int(value)
        case "after":
            q.after = parse_when(value, now)
        case "before":
            q.before = parse_when(value, now)
        case "like":
            _add_meaning(q, value)
        case "missing":
            if value.lower() not in ("true", "false"):
                raise InvalidQuery(f"missing:{value[:30]} is not known; use missing:true")
            q.missing = value.lower() == "true"
        case "sort":
            if value.lower() not in SORTS:
                raise InvalidQuery(f"sort:{value} is not known; use one of {', '.join(SORTS)}")
            q.sort = value.lower()


def _add_meaning(q: Query, text: str) -> None:
    """A description to rank by meaning; several join into one."""
    text = " ".join(text.split())[:MAX_MEANING]
    q.semantic = f"{q.semantic} {text}" if q.semantic else text


def _comparison(name: str, value: str) -> tuple[str, int]:
    found = _COMPARE.match(value.strip())
    if not found:
        raise InvalidQuery(f"{name}:{value[:30]} is not a comparison; write e.g. {name}:>=4 or "
                           f"{name}:3")
    return found.group(1) or "=", int(found.group(2))


def _in_range(name: str, comparison: tuple[str, int]) -> tuple[str, int]:
    """A comparison whose number the field can take; never one that silently matches nothing."""
    low, high, what = RANGES[name]
    if not low <= comparison[1] <= high:
        raise InvalidQuery(f"{name}:{''.join(map(str, comparison))} cannot match anything: {what}")
    return comparison


def parse_when(value: str, now: datetime | None = None) -> datetime:
    """A date (2025-01-31), a timestamp (ISO 8601), 'today', 'yesterday' or an age (7d, 2w, 3m, 1y)."""
    now = now or datetime.now(UTC)
    text = value.strip().lower()
    if text in ("today", "yesterday"):
        day = now.date() - timedelta(days=1 if text == "yesterday" else 0)
        return datetime.combine(day, datetime.min.time(), UTC)
    if rel := _RELATIVE.match(text):
        try:
            return now - timedelta(days=int(rel.group(1)) * _UNITS[rel.group(2)])
        except OverflowError:
            raise InvalidQuery(f"{value[:30]!r} reaches back before the year 1; give a smaller "
                               "age like 7d, 2w, 3m, 1y, or a date") from None
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
        parsed = datetime.fromisoformat(value.strip())
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except ValueError:
        raise InvalidQuery(f"{value[:40]!r} is not a date; use YYYY-MM-DD, today, yesterday, or an age "
                         "like 7d, 2w, 3m, 1y") from None


@dataclass(slots=True)
class Sql:
    where: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)

    def add(self, clause: str, *params: Any) -> None:
        self.where.append(clause)
        self.params.extend(params)


def build_where(q: Query) -> Sql:
    """WHERE clauses over `assets a`, with their parameters in order."""
    sql = Sql()
    sql.add(f"a.missing_since IS {'NOT ' if q.missing else ''}NULL")
    for word in q.words:
        sql.add(TEXT_MATCH, word, word)
    for word in q.not_words:
        sql.add(f"NOT {TEXT_MATCH}", word, word)
    for tag in q.tags_all:
        sql.add("a.asset_id IN (SELECT asset_id FROM tags WHERE tag = ?)", tag)
    if q.tags_any:
        sql.add("a.asset_id IN (SELECT asset_id FROM tags WHERE tag IN "
                "(SELECT unnest(?::VARCHAR[])))", q.tags_any)
    for tag in q.tags_none:
        sql.add("a.asset_id NOT IN (SELECT asset_id FROM tags WHERE tag = ?)", tag)
    _any_of(sql, "lower(a.source)", q.sources)
    _any_of(sql, "lower(a.engine)", q.engines)
    _any_of(sql, "lower(a.model_family)", q.families)
    _any_of(sql, "a.project", q.projects)
    _any_of(sql, "lower(a.sampler)", q.samplers)
    _any_of(sql, "a.asset_id", q.asset_ids)
    if q.models:
        sql.add("(" + " OR ".join(["lower(a.model) GLOB ?"] * len(q.models)) + ")",
                *[m if any(c in m for c in "*?[") else f"*{m}*" for m in q.models])
    if q.media_type:
        sql.add("a.media_type = ?", q.media_type)
    for column, comparisons in (("a.stars", q.stars), ("a.width", q.width),
                                ("a.height", q.height)):
        for op, number in comparisons:
            sql.add(f"{column} {op} ?", number)
    if q.seed is not None:
        sql.add("a.seed = ?", q.seed)
    if q.after is not None:
        sql.add("a.created_at >= ?", q.after)
    if q.before is not None:
        sql.add("a.created_at < ?", q.before)
    return sql


def _any_of(sql: Sql, column: str, values: list[str]) -> None:
    if values:
        sql.add(f"{column} IN (SELECT unnest(?::VARCHAR[]))", values)


def page_sql(q: Query, limit: int, offset: int) -> tuple[str, list[Any]]:
    """The ids of one page of matches, in order, each row carrying the total count of matches.

    The matches (id and sort keys) are materialised once, then counted and sorted: a window
    count(*) OVER () over the same rows took about as long again as finding them."""
    sql = build_where(q)
    where = " AND ".join(sql.where)
    statement = (f"WITH matches AS MATERIALIZED (SELECT a.asset_id, {SORT_COLUMNS[q.sort]} "
                 f"FROM assets a WHERE {where}) "
                 "SELECT a.asset_id, (SELECT count(*) FROM matches) AS total FROM matches a "
                 f"ORDER BY {SORTS[q.sort]} LIMIT ? OFFSET ?")
    return statement, [*sql.params, limit, offset]


def count_sql(q: Query) -> tuple[str, list[Any]]:
    """How many assets match: for a page past the last one, whose rows carry no count."""
    sql = build_where(q)
    return f"SELECT count(*) FROM assets a WHERE {' AND '.join(sql.where)}", sql.params


def matching_ids(db: Database, q: Query) -> list[str]:
    """Every asset id the query matches (for commands that act on a selection)."""
    sql = build_where(q)
    return [a for (a,) in db.fetchall(
        f"SELECT a.asset_id FROM assets a WHERE {' AND '.join(sql.where) or 'TRUE'}", sql.params)]


def encode_cursor(offset: int, q: Query) -> str:
    """An opaque cursor for the page starting at offset, valid only for the same query."""
    raw = json.dumps({"o": offset, "q": _fingerprint(q)}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, q: Query) -> int:
    """The offset of a cursor issued for this query; InvalidQuery for any other."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        offset, fingerprint = int(data["o"]), data["q"]
    except (ValueError, KeyError, TypeError):
        raise InvalidQuery("the cursor is not one this library issued; "
                           "search again without a cursor") from None
    if fingerprint != _fingerprint(q) or offset < 0:
        raise InvalidQuery("the cursor belongs to a different search; pass the same query "
                           "and filters as the first page, or start again without a cursor")
    return offset


def _fingerprint(q: Query) -> str:
    return hashlib.blake2b(repr(q.key()).encode(), digest_size=6).hexdigest()
