"""Terminal rendering of Library results (rich): tables, trees and the progress bar.

rich is imported by the first thing rendered, and the consoles are made then: a run with
--json (or one that prints nothing) never loads it (issue 19: start-up).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alice_mcp.progress import ProgressListener
from alice_mcp.text import printable

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table
    from rich.tree import Tree

    from alice_mcp.config import LoadedSettings
    from alice_mcp.results import (
        AnalyzeReport,
        AssetDetail,
        DuplicatesResult,
        IndexReport,
        LibraryStats,
        MatchInfo,
        ModelStatus,
        OrganizeReport,
        SearchPage,
        SimilarResult,
    )

TREE_LIMIT = 200


class _LazyConsole:
    """A rich Console made (and rich imported) on first use."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Console | None = None

    def real(self) -> Console:
        """The Console itself (made now if not yet)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real(), name)


out = _LazyConsole(highlight=False, soft_wrap=True)
err = _LazyConsole(stderr=True, highlight=False)


def _table(*headers: str) -> Table:
    from rich.table import Table

    return Table(*headers)


def safe(value: Any) -> str:
    """Text from a file (path, prompt, metadata) as the terminal gets it: control characters
    and undecodable bytes escaped, and no rich markup ('[link=...]') taken from it."""
    from rich.markup import escape

    return escape(printable(value))


@contextmanager
def progress_bar(enabled: bool = True,
                 description: str = "working") -> Iterator[ProgressListener | None]:
    """A progress bar on stderr when it is a terminal; yields the listener to feed it, or None."""
    if not (enabled and err.is_terminal):
        yield None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=err.real(), transient=True) as bar:
        task = bar.add_task(description, total=None)

        async def listener(done: int, total: int, message: str) -> None:
            bar.update(task, completed=done, total=total or None)
        yield listener


def organize_report(report: OrganizeReport) -> None:
    verb = "would organize" if report.dry_run else "moved" if report.move else "copied"
    if report.dry_run:
        out.print("[bold]Dry run: nothing was touched.[/bold]")
    placed = [p for p in report.placements if p.duplicate_of is None]
    if placed and len(placed) <= TREE_LIMIT:
        out.print(_tree(Path(report.organized_root), [Path(p.destination) for p in placed]))
    elif report.dry_run:
        for p in placed:
            out.print(f"{safe(p.source)} -> {safe(p.destination)}")
    out.print(f"{report.scanned} files found in {safe(report.inbox)}: {verb} {report.organized}, "
              f"{report.duplicates} duplicates, {report.unchanged} unchanged, "
              f"{report.skipped} skipped, {len(report.errors)} errors "
              f"({report.seconds:.2f} s)")
    followed = [f"{n} {what}" for n, what in (
        (report.duplicates_moved, "duplicates moved to _duplicates/"),
        (report.relinked, "moved files found again"),
        (report.indexed_in_place, "files added by hand indexed"),
        (len(report.missing), "assets missing"), (report.sidecars_read, "sidecars read back"),
        (report.sidecars_written, "sidecars written")) if n]
    if followed:
        out.print("organized tree: " + ", ".join(followed))
    for problem in report.errors:
        out.print(f"  [red]error[/red] {safe(problem.path)}: {safe(problem.reason)}")
    for problem in report.warnings:
        out.print(f"  [yellow]warning[/yellow] {safe(problem.path)}: {safe(problem.reason)}")
    if report.cancelled:
        out.print("[yellow]Cancelled: run again to finish the rest.[/yellow]")


def index_report(report: IndexReport) -> None:
    out.print(f"{safe(report.folder)}: {report.indexed} files indexed in place, "
              f"{report.relinked} already known at another path, {report.unchanged} unchanged, "
              f"{len(report.missing)} vanished, {len(report.errors)} errors "
              f"({report.seconds:.2f} s)")
    for problem in report.errors:
        out.print(f"  [red]error[/red] {safe(problem.path)}: {safe(problem.reason)}")


def _tree(root: Path, paths: list[Path]) -> Tree:
    from rich.tree import Tree

    tree = Tree(f"[bold]{safe(root)}[/bold]")
    nodes: dict[Path, Tree] = {}
    for path in sorted(paths):
        parent, node = Path(), tree
        for part in path.relative_to(root).parts[:-1]:
            parent = parent / part
            if parent not in nodes:
                nodes[parent] = node.add(f"{safe(part)}/")
            node = nodes[parent]
        node.add(safe(path.name))
    return tree


def profiles(loaded: LoadedSettings, known: list[str]) -> None:
    """A table in a terminal; `key = value  # origin` lines when piped, so no key is cut."""
    out.print(f"profile: [bold]{loaded.profile}[/bold] (known: {', '.join(known)})")
    out.print(f"settings file: {loaded.config_file or 'none found'}")
    out.print(f"database: {loaded.settings.database_path}")
    if not out.is_terminal:
        for key, value, origin in loaded.rows():
            print(f"{key} = {value}  # {origin}")
        return
    table = _table("setting", "value", "from")
    table.columns[0].no_wrap = True
    for key, value, origin in loaded.rows():
        table.add_row(key, str(value), origin)
    out.print(table)


RAW_SHOWN = 500  # characters of each raw field `alice inspect` prints for an unknown file


def inspections(found: list[dict[str, Any]]) -> None:
    for item in found:
        out.print(f"[bold]{safe(item['path'])}[/bold]")
        if "error" in item:
            out.print(f"  [red]{safe(item['error'])}[/red]")
            continue
        for key in ("source_name", "engine", "confidence", "model", "model_family", "prompt",
                    "negative_prompt", "seed", "steps", "sampler", "cfg", "width", "height",
                    "extra", "evidence", "reason", "errors"):
            if item.get(key) not in (None, [], {}, ""):
                out.print(f"  {key}: {safe(item[key])}")
        if item.get("source") == "unknown":  # nothing silent: show what was read, raw
            for key, value in (item.get("raw") or {}).items():
                text = value if len(value) <= RAW_SHOWN else value[:RAW_SHOWN] + " ..."
                out.print(f"  raw {safe(key)}: {safe(text)}")


def search_page(page: SearchPage) -> None:
    meaning = any(hit.match for hit in page.results)
    table = _table("asset", "source", "stars", "size", "prompt", "path",
                  *(["why"] if meaning else []))
    for hit in page.results:
        size = f"{hit.width}x{hit.height}" if hit.width else ""
        table.add_row(hit.asset_id[:12], safe(hit.source), "*" * (hit.stars or 0), size,
                      safe((hit.prompt or "")[:60]),
                      f"(missing) {safe(hit.path)}" if hit.missing else safe(hit.path or ""),
                      *([_why(hit.match)] if meaning else []))
    out.print(table)
    more = f"; next page: --cursor {page.next_cursor}" if page.next_cursor else ""
    out.print(f"{len(page.results)} of {page.total} matches{more}")


def _why(match: MatchInfo | None) -> str:
    if match is None:
        return ""
    parts = (["words"] if match.keyword else []) + [
        f"{name} {value:.2f}" for name, value in (("meaning", match.text),
                                                  ("picture", match.picture)) if value is not None]
    return ", ".join(parts)


def models(found: list[ModelStatus]) -> None:
    for status in found:
        state = "here" if status.present else "missing"
        out.print(f"{status.space:6} {status.model:24} {state:8} {status.vectors} vectors  "
                  f"{status.folder}")
        if status.how_to_get:
            out.print(f"       {status.how_to_get}")


def stats(found: LibraryStats) -> None:
    missing = f" ({found.missing} missing: search missing:true)" if found.missing else ""
    out.print(f"{found.assets} assets{missing}, {found.files} files in {found.database}")
    for title, rows in (("source", found.by_source), ("model family", found.by_model_family),
                        ("month", found.by_month), ("stars", found.by_stars),
                        ("media type", found.by_media_type)):
        table = _table(title, "count")
        for row in rows:
            table.add_row(safe(row.key or "-"), str(row.count))
        out.print(table)
    if found.process is not None:
        p = found.process
        out.print(f"this process: {p.files_processed} files processed, "
                  f"{p.files_per_second or 0:.1f} files/s, {p.rss_mb:.0f} MB resident, "
                  f"{p.api_calls} API calls, ${p.cost_usd:.4f} ({found.cost_usd_total:.4f} "
                  "spent in all)")
        for cache in p.caches:
            rate = "-" if cache.hit_rate is None else f"{cache.hit_rate:.0%}"
            out.print(f"  cache {cache.name}: {cache.entries} entries, {cache.size_mb:.2f} of "
                      f"{cache.max_mb:.0f} MB, hit rate {rate}")


def similar(result: SimilarResult) -> None:
    table = _table("asset", "similarity" if result.by == "meaning" else "distance", "source",
                  "prompt", "path")
    for hit in result.results:
        closeness = str(hit.distance) if hit.distance is not None else f"{hit.similarity:.3f}"
        table.add_row(hit.asset_id[:12], closeness, safe(hit.source or ""),
                      safe((hit.prompt or "")[:50]), safe(hit.path or ""))
    out.print(f"like {safe(result.reference)} (max distance {result.max_distance}):")
    out.print(table)


def duplicates(result: DuplicatesResult) -> None:
    out.print(f"{result.total_groups} groups of look-alikes (max distance {result.max_distance})")
    for number, group in enumerate(result.groups, 1):
        out.print(f"[bold]group {number}[/bold]")
        for hit in group.assets:
            out.print(f"  {hit.asset_id[:12]}  {safe(hit.source or ''):10} {safe(hit.path or '')}")


def asset(detail: AssetDetail) -> None:
    from rich.markup import escape

    out.print(f"[bold]asset {detail.asset_id}[/bold]")
    for key, value in detail.fields.items():
        if value not in (None, "", [], {}) and key != "params":
            out.print(f"  {key}: {safe(value)}")
    if detail.tags:
        out.print("  tags: " + ", ".join(f"{safe(t.tag)} ({t.category}, {t.origin})"
                                         for t in detail.tags))
    for failed in detail.failed_analyses:  # not sent again until forced
        out.print(f"  analysis failed: {failed.provider} {failed.model} (prompt "
                  f"{failed.prompt_version}): {escape(failed.reason)}")
    for loc in detail.locations:
        out.print(f"  {loc.role}: {safe(loc.path)}")


def analysis(report: AnalyzeReport) -> None:
    """What an analyze run did and cost, then each asset that failed and why."""
    line = (f"{report.analyzed} analyzed with {report.provider} ({report.model}): "
            f"{report.sent} sent in {report.requests} requests, ${report.cost_usd:.4f}; "
            f"{report.cached} cached; {report.failed} failed, {len(report.errors)} errors")
    if report.failed_before:
        line += (f"; {report.failed_before} failed before (not sent again; --force retries "
                 "them)")
    if report.budget_stopped:
        line += f"; budget reached: {report.budget_skipped} assets left for later"
    print(line)
    for problem in report.errors:
        print(f"  error {problem.path[:16]}: {printable(problem.reason)}")
    if report.cancelled:
        print("Cancelled: run again to finish the rest.")


def watch_line(report: OrganizeReport) -> None:
    """One line per watch run that did something."""
    if report.organized or report.duplicates or report.errors:
        out.print(f"{report.organized} organized, {report.duplicates} duplicates, "
                  f"{len(report.errors)} errors")
        for problem in report.errors:
            out.print(f"  [red]error[/red] {safe(problem.path)}: {safe(problem.reason)}")
