"""Spending limits: a run may not start a call whose estimated cost would exceed what is left.

What is left = min(budget_usd_per_run, budget_usd_per_month - spent this calendar month (UTC,
from the costs table)). Each call reserves its estimate before it is sent and settles with the
cost the API reported; calls in flight are counted, so concurrency cannot overshoot (as long
as the estimate is not below the real cost: estimates are ceilings, see pricing.py). A call
that does not fit while others are in flight waits for them to settle (they usually cost
less than reserved); the run stops when a call does not fit with nothing in flight.
Free calls (estimate 0: local, Ollama) are never stopped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import anyio

from alice_mcp.store.db import Database
from alice_mcp.store.ledger import spent_since

EPSILON = 1e-12


def month_start(now: datetime | None = None) -> datetime:
    """Midnight UTC on the first day of the current month."""
    now = now or datetime.now(UTC)
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def spent_this_month(db: Database, now: datetime | None = None) -> float:
    """USD recorded in the costs table since the start of this calendar month (UTC)."""
    return spent_since(db, month_start(now))


@dataclass(slots=True)
class Budget:
    """What one run may still spend; reservations are made before calls and settled after."""

    limit: float
    spent: float = 0.0
    reserved: float = 0.0
    stopped: bool = False
    _settled: anyio.Event = field(default_factory=anyio.Event, repr=False)

    @classmethod
    def for_run(cls, per_run: float, per_month: float, month_spent: float) -> Budget:
        return cls(limit=max(0.0, min(per_run, per_month - month_spent)))

    @property
    def left(self) -> float:
        """USD still available for new calls."""
        return max(0.0, self.limit - self.spent - self.reserved)

    def fits(self, estimate: float) -> bool:
        """Whether a call of this estimate fits next to what is spent and reserved."""
        return estimate <= 0 or self.spent + self.reserved + estimate <= self.limit + EPSILON

    async def reserve(self, estimate: float) -> bool:
        """Reserve the next call's estimate, waiting for calls in flight to settle if needed;
        False (and stopped from then on) when it cannot fit."""
        if estimate <= 0:
            return True
        while not self.stopped and not self.fits(estimate):
            if self.reserved <= EPSILON:
                self.stopped = True
            else:
                await self._settled.wait()
        if self.stopped:
            return False
        self.reserved += estimate
        return True

    def settle(self, estimate: float, actual: float) -> None:
        """Replace a reservation by what the call really cost; wake calls waiting for room."""
        if estimate > 0:
            self.reserved = max(0.0, self.reserved - estimate)
        self.spent += actual
        self._settled.set()
        self._settled = anyio.Event()
