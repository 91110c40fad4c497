"""The understanding service: batches, bounded concurrency, budgets, a cache that never pays twice, a ledger.

- A batch is min(understanding_batch_size, the provider's max_images_per_request) assets in one
  call; at most max_concurrent_api_calls calls are in flight (an anyio Semaphore).
- The cache is the analyses table, keyed by (asset, provider, model, prompt_version): a cached
  asset is never sent again unless force is given.
- An answer that does not fit (cut off, off-schema, refused) keeps the images it did describe;
  the others are retried once alone; what still fails is recorded per image
  (analysis_failures) and, like a cached one, not sent again unless forced.
- Before each call its cost is estimated and reserved against the budget (see budget.py); a call
  that would not fit is not made, and the run reports budget_stopped.
- Each call's reported usage is one row of the costs table.
- Tags carry their provider as origin; tags the user removed are not written back (user_edits.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import anyio
import structlog

from alice_mcp import threads
from alice_mcp.config import Settings
from alice_mcp.progress import Progress
from alice_mcp.results import AnalysisEstimate, AnalyzeReport, FileProblem
from alice_mcp.store import analyses, assets, ledger
from alice_mcp.store.db import Database
from alice_mcp.store.tags import normalise_tag
from alice_mcp.understanding.base import Analysis, Item, Provider, UnderstandingError, Usage
from alice_mcp.understanding.budget import Budget, spent_this_month
from alice_mcp.understanding.http import ProviderError
from alice_mcp.understanding.prompt import AnswerError
from alice_mcp.understanding.providers import make_provider
from alice_mcp.understanding.user_edits import removed_tags

__all__ = ["UnderstandingError", "UnderstandingService", "make_provider"]
log = structlog.get_logger(__name__)


@dataclass(slots=True)
class Plan:
    """What a run will do: the assets to send, in batches, and what is cached, failed before
    or unsendable."""

    todo: list[str]
    cached: int
    failed_before: int = 0
    unsendable: list[str] = field(default_factory=list)
    month_spent: float = 0.0


@dataclass(slots=True)
class _Run:
    """What the batches of one run share."""

    provider: Provider
    report: AnalyzeReport
    progress: Progress
    budget: Budget
    limiter: anyio.Semaphore
    fatal: list[ProviderError] = field(default_factory=list)
    scope: anyio.CancelScope | None = None


def estimated_call(provider: Provider, images: int) -> Usage:
    """The provider's estimate of one call (providers without one are free)."""
    estimate = getattr(provider, "estimate", None)
    return estimate(images) if estimate is not None else Usage()


class UnderstandingService:
    """Analyze assets with one provider: batched, bounded, budgeted, cached, costed."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.perf = settings.performance
        self.understanding = settings.understanding
        self.max_in_flight = 0
        self._in_flight = 0

    def batch_size(self, provider: Provider) -> int:
        """Assets per call: the setting, capped by what the provider takes in one request."""
        cap = getattr(provider, "max_batch", None) or self.perf.understanding_batch_size
        return max(1, min(self.perf.understanding_batch_size, cap))

    async def estimate(self, asset_ids: Sequence[str] | None, provider: Provider, *,
                       force: bool = False) -> AnalysisEstimate:
        """How many assets and calls a run would make, what it should cost, what the budget allows."""
        plan = await threads.run_in("files", self._plan, asset_ids, provider, force)
        size = self.batch_size(provider)
        budget = self._budget(plan.month_spent)
        total, affordable = 0.0, 0
        for start in range(0, len(plan.todo), size):
            count = len(plan.todo[start:start + size])
            usd = estimated_call(provider, count).usd
            total += usd
            if not budget.stopped and budget.fits(usd):
                budget.settle(0.0, usd)  # assume each call costs its estimate
                affordable += count
            else:
                budget.stopped = True
        price = getattr(provider, "price", None)
        return AnalysisEstimate(
            provider=provider.name, model=provider.model, assets=len(plan.todo),
            cached=plan.cached, failed_before=plan.failed_before, without_image=len(plan.unsendable),
            requests=math.ceil(len(plan.todo) / size), estimated_usd=round(total, 6),
            price_source=price.source if price is not None else "free",
            budget_usd_per_run=self.understanding.budget_usd_per_run,
            budget_usd_per_month=self.understanding.budget_usd_per_month,
            spent_this_month_usd=round(plan.month_spent, 6),
            within_budget=affordable == len(plan.todo), affordable_assets=affordable)

    async def analyze(self, asset_ids: Sequence[str] | None, provider: Provider, *,
                      force: bool = False, progress: Progress | None = None) -> AnalyzeReport:
        """Analyze the assets (None: all not yet analyzed by this provider/model/prompt)."""
        progress = progress or Progress(noun="assets")
        report = AnalyzeReport(provider=provider.name, model=provider.model)
        run = _Run(provider, report, progress, self._budget(0.0),
                   anyio.Semaphore(self.perf.max_concurrent_api_calls))
        try:
            plan = await threads.run_in("files", self._plan, asset_ids, provider, force)
            report.cached, report.failed_before = plan.cached, plan.failed_before
            report.errors.extend(FileProblem(path=a, reason=f"no thumbnail (a video or an "
                                             f"undecodable file): nothing to send to "
                                             f"{provider.name}") for a in plan.unsendable)
            run.budget = self._budget(plan.month_spent)
            size = self.batch_size(provider)
            batches = [plan.todo[i:i + size] for i in range(0, len(plan.todo), size)]
            await progress.start(len(plan.todo), len(batches))
            async with anyio.create_task_group() as tg:
                run.scope = tg.cancel_scope
                for batch in batches:
                    tg.start_soon(self._run_batch, batch, run)
        except anyio.get_cancelled_exc_class():
            report.cancelled = True
            raise
        finally:
            await _close(provider)
        if run.fatal:
            raise run.fatal[0]
        report.budget_left_usd = round(run.budget.left, 6)
        return report

    async def _run_batch(self, ids: list[str], run: _Run) -> None:
        """One call for the batch; the images whose answer did not fit are retried once
        alone; what still does not fit is recorded so it is not paid for again."""
        items = await threads.run_in("files", self._items, ids)
        answers: list[Analysis | Exception | None] | None = await self._call(items, run)
        if answers is None:
            await run.progress.advance(len(items))
            return
        run.report.sent += sum(1 for item in items if item.thumbnail)
        misfits = [i for i, a in enumerate(answers) if isinstance(a, AnswerError)]
        if len(items) > 1 and misfits:
            log.info("retrying images alone", provider=run.provider.name, images=len(misfits),
                     reason=str(answers[misfits[0]]))
            async with anyio.create_task_group() as tg:
                for i in misfits:
                    tg.start_soon(self._retry_alone, items[i], answers, i, run)
        with anyio.CancelScope(shield=True):
            for item, answer in zip(items, answers, strict=True):
                if isinstance(answer, AnswerError):
                    await threads.run_in("files", self._record_failure, item.asset_id,
                                                   run.provider, answer)
                    run.report.failed += 1
                if isinstance(answer, Exception):
                    run.report.errors.append(FileProblem(path=item.asset_id, reason=str(answer)))
        await run.progress.advance(len(items))

    async def _retry_alone(self, item: Item, answers: list[Analysis | Exception | None],
                           index: int, run: _Run) -> None:
        again = await self._call([item], run)
        answers[index] = again[0] if again is not None else None  # None: not sent (budget)

    async def _call(self, items: list[Item], run: _Run) -> list[Analysis | Exception] | None:
        """One provider call within the concurrency and budget limits: each answer that fits is
        stored at once and the call's usage goes to the ledger (one row per call). None when
        the call was not made (budget, or a fatal error elsewhere)."""
        provider, report = run.provider, run.report
        async with run.limiter:
            estimate = estimated_call(provider, len(items)).usd
            if run.fatal or not await run.budget.reserve(estimate):
                if not run.fatal:
                    report.budget_stopped = True
                    report.budget_skipped += len(items)
                return None
            report.estimated_usd += estimate
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            try:
                answers, usage = await provider.analyze(items)
            except ProviderError as exc:
                run.budget.settle(estimate, 0.0)
                if exc.fatal:
                    run.fatal.append(exc)
                    if run.scope is not None:
                        run.scope.cancel()
                    return None
                log.warning("provider call failed", provider=provider.name, error=str(exc))
                answers, usage = [exc] * len(items), Usage()
            else:
                run.budget.settle(estimate, usage.usd)
            finally:
                self._in_flight -= 1
        report.requests += 1
        report.cost_usd += usage.usd
        share = usage.usd / len(items) if items else 0.0
        with anyio.CancelScope(shield=True):
            for item, answer in zip(items, answers, strict=True):
                if not isinstance(answer, Exception):
                    await threads.run_in("files", self._store, item.asset_id, provider, answer,
                                                   share)
                    report.analyzed += 1
            await threads.run_in("files", self._record_cost, provider, usage)
        return list(answers)

    def _budget(self, month_spent: float) -> Budget:
        conf = self.understanding
        return Budget.for_run(conf.budget_usd_per_run, conf.budget_usd_per_month, month_spent)

    def _plan(self, asset_ids: Sequence[str] | None, provider: Provider, force: bool) -> Plan:
        """The assets to analyze, oldest id first; cached ones and ones without image left out."""
        candidates = assets.asset_ids(self.db, asset_ids)
        key = (provider.name, provider.model, provider.prompt_version)
        done = set() if force else analyses.analysed_ids(self.db, *key)
        failed = set() if force else analyses.failed_ids(self.db, *key) - done
        todo = [a for a in candidates if a not in done and a not in failed]
        unsendable: list[str] = []
        if getattr(provider, "needs_images", False) and todo:
            with_image = assets.with_thumbnail(self.db, todo)
            unsendable = [a for a in todo if a not in with_image] if asset_ids is not None else []
            todo = [a for a in todo if a in with_image]
        return Plan(todo=todo, cached=len(done.intersection(candidates)),
                    failed_before=len(failed.intersection(candidates)),
                    unsendable=unsendable, month_spent=spent_this_month(self.db))

    def _items(self, ids: list[str]) -> list[Item]:
        return [Item(*row) for row in analyses.analysis_inputs(self.db, ids)]

    def _store(self, asset_id: str, provider: Provider, answer: Analysis, cost: float) -> None:
        removed = removed_tags(self.db, asset_id)
        tags = [(t.tag, t.category, t.confidence) for t in answer.tags
                if normalise_tag(t.tag) not in removed]
        analyses.write_analysis(self.db, asset_id, provider.name, provider.model,
                             provider.prompt_version, answer.model_dump(), tags,
                             answer.description, cost)

    def _record_failure(self, asset_id: str, provider: Provider, error: AnswerError) -> None:
        analyses.record_failure(self.db, asset_id, provider.name, provider.model,
                                provider.prompt_version, error.reason, error.raw)

    def _record_cost(self, provider: Provider, usage: Usage) -> None:
        if usage.usd or usage.tokens_in or usage.tokens_out:
            ledger.record_cost(self.db, provider.name, provider.model, usage.tokens_in,
                               usage.tokens_out, usage.usd)


async def _close(provider: Provider) -> None:
    close = getattr(provider, "aclose", None)
    if close is not None:
        with anyio.CancelScope(shield=True):
            await close()
