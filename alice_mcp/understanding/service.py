"""The understanding service: batches, bounded concurrency, a cache that never pays twice, a ledger."""

from __future__ import annotations

import json
from collections.abc import Sequence

import anyio
import structlog

from alice_mcp.config import Settings
from alice_mcp.pipeline.progress import Progress
from alice_mcp.results import AnalyzeReport, FileProblem
from alice_mcp.store import assets as store
from alice_mcp.store.db import Database
from alice_mcp.understanding.base import Analysis, Item, Provider, Usage
from alice_mcp.understanding.local import LocalProvider

log = structlog.get_logger(__name__)


class UnderstandingError(ValueError):
    """The provider cannot be used as asked; the message says what to do."""


def make_provider(name: str) -> Provider:
    """The provider of that name; remote providers arrive with their own issue."""
    if name == "local":
        return LocalProvider()
    raise UnderstandingError(f"provider {name!r} is not available in this version; "
                             "use provider 'local' (offline, free)")


class UnderstandingService:
    """Analyze assets with one provider: understanding_batch_size items per call,
    at most max_concurrent_api_calls calls in flight."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.perf = settings.performance
        self.max_in_flight = 0
        self._in_flight = 0

    async def analyze(self, asset_ids: Sequence[str] | None, provider: Provider, *,
                      force: bool = False, progress: Progress | None = None) -> AnalyzeReport:
        progress = progress or Progress(noun="assets")
        report = AnalyzeReport(provider=provider.name, model=provider.model)
        todo = await anyio.to_thread.run_sync(self._select, asset_ids, provider, force)
        report.cached = (len(set(asset_ids)) - len(todo)) if asset_ids else 0
        size = self.perf.understanding_batch_size
        batches = [todo[i:i + size] for i in range(0, len(todo), size)]
        await progress.start(len(todo), len(batches))
        limiter = anyio.Semaphore(self.perf.max_concurrent_api_calls)
        try:
            async with anyio.create_task_group() as tg:
                for batch in batches:
                    tg.start_soon(self._run_batch, batch, provider, limiter, report, progress)
        except anyio.get_cancelled_exc_class():
            report.cancelled = True
            raise
        return report

    async def _run_batch(self, ids: list[str], provider: Provider, limiter: anyio.Semaphore,
                         report: AnalyzeReport, progress: Progress) -> None:
        items = await anyio.to_thread.run_sync(self._items, ids)
        async with limiter:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            try:
                answers, usage = await provider.analyze(items)
            finally:
                self._in_flight -= 1
        report.requests += 1
        report.cost_usd += usage.usd
        share = usage.usd / len(items) if items else 0.0
        with anyio.CancelScope(shield=True):
            for item, answer in zip(items, answers, strict=True):
                if isinstance(answer, Exception):
                    report.errors.append(FileProblem(path=item.asset_id, reason=str(answer)))
                    continue
                await anyio.to_thread.run_sync(self._store, item.asset_id, provider, answer,
                                               share)
                report.analyzed += 1
            await anyio.to_thread.run_sync(self._record_cost, provider, usage)
        await progress.advance(len(items))

    def _select(self, asset_ids: Sequence[str] | None, provider: Provider,
                force: bool) -> list[str]:
        done_filter = "" if force else (
            "AND asset_id NOT IN (SELECT asset_id FROM analyses WHERE provider = ? "
            "AND model = ? AND prompt_version = ?)")
        params = [] if force else [provider.name, provider.model, provider.prompt_version]
        if asset_ids is None:
            rows = self.db.fetchall(f"SELECT asset_id FROM assets WHERE TRUE {done_filter} "
                                    "ORDER BY asset_id", params)
        else:
            rows = self.db.fetchall(
                f"SELECT asset_id FROM assets WHERE asset_id IN (SELECT unnest(?::VARCHAR[])) "
                f"{done_filter} ORDER BY asset_id", [list(asset_ids), *params])
        return [a for (a,) in rows]

    def _items(self, ids: list[str]) -> list[Item]:
        rows = self.db.fetchall(
            """SELECT a.asset_id, a.prompt, a.model_family, a.width, a.height, t.data, a.params
               FROM assets a LEFT JOIN thumbnails t USING (asset_id)
               WHERE a.asset_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY a.asset_id""", [ids])
        return [Item(a, p, f, w, h, bytes(t) if t is not None else None,
                     json.loads(params) if isinstance(params, str) else {})
                for a, p, f, w, h, t, params in rows]

    def _store(self, asset_id: str, provider: Provider, answer: Analysis, cost: float) -> None:
        store.write_analysis(self.db, asset_id, provider.name, provider.model,
                             provider.prompt_version, answer.model_dump(),
                             [(t.tag, t.category, t.confidence) for t in answer.tags],
                             answer.description, cost)

    def _record_cost(self, provider: Provider, usage: Usage) -> None:
        if usage.usd or usage.tokens_in or usage.tokens_out:
            with self.db.transaction() as cur:
                cur.execute("INSERT INTO costs VALUES (?, ?, ?, ?, ?, now())",
                            [provider.name, provider.model, usage.tokens_in, usage.tokens_out,
                             usage.usd])
