"""Rows of the benchmark table, their formatting, the printed table and BENCHMARKS.md."""

from __future__ import annotations

import math
import os
import platform
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata
from pathlib import Path

import psutil

from bench import notes
from bench.timing import Summary


@dataclass(slots=True)
class Row:
    """One line of the table: a measured figure, what it was compared with, its target."""

    key: str  # stable id, used by the smoke test and the notes
    what: str
    figure: str
    value: float  # the headline number in base units (s, files/s, bytes, or a ratio)
    versus: str = ""
    ratio: float | None = None
    target: str = ""
    met: bool | None = None  # None: no target
    note: str = ""


def seconds(value: float) -> str:
    """A duration with a unit that keeps 2-3 significant digits."""
    if math.isnan(value):
        return "n/a"
    if value < 1e-3:
        return f"{value * 1e6:.0f} µs"
    if value < 1:
        return f"{value * 1e3:.3g} ms"
    return f"{value:.3g} s"


def rate(value: float, unit: str = "files/s") -> str:
    """A throughput with thousands separators."""
    if math.isnan(value):
        return "n/a"
    return f"{value:,.0f} {unit}" if value >= 100 else f"{value:.3g} {unit}"


def megabytes(value: float) -> str:
    return f"{value / 2**20:,.0f} MB"


def _spread(s: Summary) -> str:
    return f" ±{s.spread:.0%}, n={s.n}" if s.n > 1 else f", n={s.n}"


def time_row(key: str, what: str, s: Summary, *, target_seconds: float | None = None,
             note: str = "") -> Row:
    """A duration: median with spread; met when the median is under the target."""
    target = f"< {seconds(target_seconds)}" if target_seconds else ""
    met = s.median < target_seconds if target_seconds else None
    return Row(key, what, f"{seconds(s.median)}{_spread(s)}", s.median, target=target, met=met,
               note=note)


def latency_row(key: str, what: str, s: Summary, *, target_p50: float | None = None,
                note: str = "") -> Row:
    """Per-call latencies: p50 and p95 over the calls; met when p50 is under the target."""
    target = f"p50 < {seconds(target_p50)}" if target_p50 else ""
    met = s.median < target_p50 if target_p50 else None
    figure = f"p50 {seconds(s.median)}, p95 {seconds(s.p95)} (n={s.n})"
    return Row(key, what, figure, s.median, target=target, met=met, note=note)


def rate_row(key: str, what: str, s: Summary, *, unit: str = "files/s",
             versus: tuple[str, Summary] | None = None, min_ratio: float | None = None,
             min_rate: float | None = None, note: str = "") -> Row:
    """A throughput, optionally against a comparison (ratio = ours / theirs, higher is better)."""
    row = Row(key, what, f"{rate(s.median, unit)}{_spread(s)}", s.median, note=note)
    if versus is not None:
        label, other = versus
        row.versus = f"{label}: {rate(other.median, unit)}{_spread(other)}"
        row.ratio = s.median / other.median if other.median else math.nan
    if min_ratio is not None and row.ratio is not None:
        row.target = f">= {min_ratio:g}x"
        row.met = row.ratio >= min_ratio
    elif min_rate is not None:
        row.target = f">= {rate(min_rate, unit)}"
        row.met = s.median >= min_rate
    return row


def ratio_row(key: str, what: str, ours: Summary, theirs: Summary, *, versus: str,
              ratio: float, minimum: float | None = None, maximum: float | None = None,
              note: str = "") -> Row:
    """Two durations of the same work, ours and a comparison's, with a bound on their ratio."""
    row = Row(key, what, f"{seconds(ours.median)}{_spread(ours)}", ratio,
              versus=f"{versus}: {seconds(theirs.median)}{_spread(theirs)}", ratio=ratio,
              note=note)
    if minimum is not None:
        row.target, row.met = f">= {minimum:g}x", ratio >= minimum
    if maximum is not None:
        row.target, row.met = f"<= {maximum:g}x", ratio <= maximum
    return row


def memory_row(key: str, what: str, peak: Summary, *, target_bytes: float | None = None,
               note: str = "") -> Row:
    target = f"< {megabytes(target_bytes)}" if target_bytes else ""
    met = peak.median < target_bytes if target_bytes else None
    return Row(key, what, f"{megabytes(peak.median)}{_spread(peak)}", peak.median,
               target=target, met=met, note=note)


def _met(row: Row) -> str:
    return "" if row.met is None else ("met" if row.met else "**not met**")


def _ratio(row: Row) -> str:
    return "" if row.ratio is None or math.isnan(row.ratio) else f"{row.ratio:.2f}x"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def table(rows: list[Row]) -> str:
    """The Markdown table; notes become footnote-like text in the last column."""
    lines = ["| measurement | figure (median ±spread, runs) | compared with, same run | ratio "
             "| target | result |", "|---|---|---|---|---|---|"]
    for row in rows:
        what = row.what + (f" <br>*{row.note}*" if row.note else "")
        lines.append("| " + " | ".join(_cell(c) for c in (
            what, row.figure, row.versus, _ratio(row), row.target, _met(row))) + " |")
    return "\n".join(lines)


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = ", ".join(f"{name} {_version(name)}" for name in
                         ("duckdb", "pillow", "imagehash", "sd-parsers", "mcp"))
    return {
        "cpu": f"{cpu}, {psutil.cpu_count(logical=True)} logical cores "
               f"({psutil.cpu_count(logical=False)} physical)",
        "memory": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
        "system": f"{platform.system()} {platform.release()}, Python {platform.python_version()}",
        "libraries": versions,
    }


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def load_average() -> str:
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def document(rows: list[Row], *, mode: str, started: datetime, seconds_taken: float,
             load_before: str, load_after: str, settings_text: str) -> str:
    """The whole BENCHMARKS.md."""
    info = machine()
    missed = [r for r in rows if r.met is False]
    parts = [
        "# Benchmarks",
        "",
        f"Generated by `make {'bench-quick' if mode == 'quick' else 'bench'}` "
        f"({mode} sizes) on {started:%Y-%m-%d %H:%M} local time; the run took "
        f"{seconds_taken / 60:.1f} min. Every figure below was measured in that one run, and "
        "every comparison ran on the same files or rows in the same run.",
        "",
        f"- Machine: {info['cpu']}, {info['memory']} RAM",
        f"- System: {info['system']}",
        f"- Libraries: {info['libraries']}",
        f"- Load average (1, 5, 15 min) before / after: {load_before} / {load_after} "
        "(other work on the machine shows up as spread)",
        f"- Settings: {settings_text}",
        "",
        table(rows),
        "",
        f"Targets met: {sum(1 for r in rows if r.met)} of "
        f"{sum(1 for r in rows if r.met is not None)}.",
        "",
        notes.legacy(rows),
        "",
        notes.METHOD,
        "",
        "## What remains",
        "",
    ]
    if not missed:
        parts.append("Every target is met in this run.")
    for row in missed:
        parts.append(f"- **{row.what}** ({row.figure}; target {row.target}): "
                     f"{notes.why(row.key)}")
    parts += ["", notes.FIXES, ""]
    return "\n".join(parts)
