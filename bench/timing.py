"""Timing helpers: run a callable repeatedly and summarise the samples (median, spread, p50, p95)."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Summary:
    """Samples of one measurement (seconds, bytes or rates), reduced to the figures we print."""

    median: float
    low: float
    high: float
    p95: float
    n: int

    @property
    def spread(self) -> float:
        """Half the min..max range relative to the median, so '±x%' reads naturally."""
        if not self.median or self.n < 2:
            return 0.0
        return (self.high - self.low) / 2 / abs(self.median)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation, as numpy's default does."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = (len(ordered) - 1) * q / 100
    lo, hi = math.floor(rank), math.ceil(rank)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (rank - lo)


def summarize(values: list[float]) -> Summary:
    """Median, min, max and p95 of some samples; NaN figures when there are none."""
    if not values:
        return Summary(math.nan, math.nan, math.nan, math.nan, 0)
    return Summary(statistics.median(values), min(values), max(values),
                   percentile(values, 95), len(values))


def rates(count: float, seconds: list[float]) -> list[float]:
    """Per-run throughputs (count per second) from per-run durations."""
    return [count / s if s > 0 else math.inf for s in seconds]


def time_calls(fn: Callable[[], object], repeats: int, warmup: int = 1,
               setup: Callable[[], object] | None = None) -> list[float]:
    """Durations in seconds of `repeats` calls of fn (after `warmup` untimed calls); setup runs
    untimed before each call."""
    for _ in range(warmup):
        if setup:
            setup()
        fn()
    samples = []
    for _ in range(repeats):
        if setup:
            setup()
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


async def time_async_calls(fn: Callable[[int], Awaitable[object]], repeats: int,
                           warmup: int = 1,
                           before: Callable[[int], object] | None = None) -> list[float]:
    """Durations of `repeats` awaited calls fn(i) after `warmup` untimed ones; before(i) untimed."""
    for i in range(warmup):
        if before:
            before(-1 - i)
        await fn(-1 - i)
    samples = []
    for i in range(repeats):
        if before:
            before(i)
        start = time.perf_counter()
        await fn(i)
        samples.append(time.perf_counter() - start)
    return samples
