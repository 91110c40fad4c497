"""The analyses table: one provider's answer per asset, model and prompt version (the cache that
never pays twice); analysis_failures: the answers that did not fit, kept so a failed asset is
not paid for twice either; and what an analysis needs to read about the assets it describes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from alice_mcp.store.db import Database
from alice_mcp.store.tags import normalise_tag


def write_analysis(db: Database, asset_id: str, provider: str, model: str, prompt_version: str,
                   result: dict[str, Any], tags: Sequence[tuple[str, str, float]],
                   description: str | None, cost_usd: float = 0.0) -> None:
    """Store one analysis and the tags it gives (origin = provider), replacing that provider's tags."""
    now = datetime.now(UTC)
    with db.transaction() as cur:
        cur.execute("""INSERT INTO analyses VALUES (?, ?, ?, ?, ?::JSON, ?, ?)
                       ON CONFLICT DO UPDATE SET result = excluded.result,
                       cost_usd = excluded.cost_usd, created_at = excluded.created_at""",
                    [asset_id, provider, model, prompt_version, json.dumps(result), cost_usd, now])
        cur.execute("DELETE FROM tags WHERE asset_id = ? AND origin = ?", [asset_id, provider])
        if tags:
            cur.execute("""INSERT INTO tags SELECT ?, t, c, ?, f FROM
                           (SELECT unnest(?::VARCHAR[]) t, unnest(?::VARCHAR[]) c,
                                   unnest(?::DOUBLE[]) f) ON CONFLICT DO NOTHING""",
                        [asset_id, provider, [normalise_tag(t) for t, _, _ in tags],
                         [c for _, c, _ in tags], [f for _, _, f in tags]])
        if description:
            cur.execute("UPDATE assets SET description = ? WHERE asset_id = ?",
                        [description, asset_id])
        cur.execute("""DELETE FROM analysis_failures WHERE asset_id = ? AND provider = ?
                       AND model = ? AND prompt_version = ?""",
                    [asset_id, provider, model, prompt_version])


def record_failure(db: Database, asset_id: str, provider: str, model: str, prompt_version: str,
                   reason: str, raw_answer: str) -> None:
    """Remember that this provider, model and prompt version could not describe the asset."""
    with db.transaction() as cur:
        cur.execute("""INSERT INTO analysis_failures VALUES (?, ?, ?, ?, ?, ?, ?)
                       ON CONFLICT DO UPDATE SET reason = excluded.reason,
                       raw_answer = excluded.raw_answer, failed_at = excluded.failed_at""",
                    [asset_id, provider, model, prompt_version, reason, raw_answer or None,
                     datetime.now(UTC)])


def failed_ids(db: Database, provider: str, model: str, prompt_version: str) -> set[str]:
    """Assets whose answer from this provider, model and prompt version did not fit."""
    if not db.fetchall("SELECT 1 FROM duckdb_tables() WHERE table_name = 'analysis_failures'"):
        return set()  # a library not yet opened for writing by this version
    return {a for (a,) in db.fetchall(
        """SELECT asset_id FROM analysis_failures
           WHERE provider = ? AND model = ? AND prompt_version = ?""",
        [provider, model, prompt_version])}


def failures_of(db: Database, asset_id: str) -> list[dict[str, Any]]:
    """Every recorded failed analysis of one asset, oldest first."""
    if not db.fetchall("SELECT 1 FROM duckdb_tables() WHERE table_name = 'analysis_failures'"):
        return []
    rows = db.fetchall("""SELECT provider, model, prompt_version, reason, raw_answer, failed_at
                          FROM analysis_failures WHERE asset_id = ? ORDER BY failed_at""",
                       [asset_id])
    return [{"provider": p, "model": m, "prompt_version": v, "reason": r, "raw_answer": a,
             "failed_at": t} for p, m, v, r, a, t in rows]


def analyses_of(db: Database, asset_id: str) -> list[dict[str, Any]]:
    """Every stored analysis of one asset, oldest first."""
    rows = db.fetchall("SELECT provider, model, prompt_version, result, cost_usd, created_at "
                       "FROM analyses WHERE asset_id = ? ORDER BY created_at", [asset_id])
    return [{"provider": p, "model": m, "prompt_version": v, "result": _json(r), "cost_usd": c,
             "created_at": t} for p, m, v, r, c, t in rows]


def analysed_ids(db: Database, provider: str, model: str, prompt_version: str) -> set[str]:
    """Assets this provider, model and prompt version has already answered for."""
    return {a for (a,) in db.fetchall(
        "SELECT asset_id FROM analyses WHERE provider = ? AND model = ? AND prompt_version = ?",
        [provider, model, prompt_version])}


def latest_results(db: Database, asset_id: str) -> list[dict[str, Any]]:
    """The latest stored answer of each provider for one asset."""
    rows = db.fetchall(
        """SELECT result FROM (
               SELECT result, row_number() OVER (PARTITION BY provider
                                                 ORDER BY created_at DESC) AS rn
               FROM analyses WHERE asset_id = ?) WHERE rn = 1""", [asset_id])
    return [r for (result,) in rows if isinstance(r := _json(result), dict)]


def analysis_inputs(db: Database, asset_ids: Sequence[str]) -> list[tuple[Any, ...]]:
    """(asset_id, prompt, model_family, width, height, thumbnail bytes or None, params dict) of
    each asset, by asset id: what a provider is shown."""
    rows = db.fetchall(
        """SELECT a.asset_id, a.prompt, a.model_family, a.width, a.height, t.data, a.params
           FROM assets a LEFT JOIN thumbnails t USING (asset_id)
           WHERE a.asset_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY a.asset_id""",
        [list(asset_ids)])
    return [(a, p, f, w, h, bytes(t) if t is not None else None, _json(params) or {})
            for a, p, f, w, h, t, params in rows]


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def analyzed_since(db: Database, since: datetime) -> list[str]:
    """Assets with an analysis stored at or after since (what a run just described)."""
    return [a for (a,) in db.fetchall("SELECT DISTINCT asset_id FROM analyses "
                                      "WHERE created_at >= ? ORDER BY 1", [since])]
