"""The `alice` commands: one handler per command, each calling Library and printing its result.

Imported by cli.main only after the arguments are parsed, so `alice --version` and `alice --help`
never load the Library, duckdb, numpy, Pillow or rich (issue 19: start-up).
"""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any

import anyio
import structlog
from pydantic import BaseModel

from alice_mcp import display
from alice_mcp.config import ExtraRoot, LoadedSettings, known_profiles, load_settings
from alice_mcp.library import Library
from alice_mcp.logs import configure_logging
from alice_mcp.pipeline.watch import WatchState
from alice_mcp.store.query import Query
from alice_mcp.text import json_text

log = structlog.get_logger(__name__)
# command-line flag -> settings key; flags win over every other source
FLAG_KEYS = {
    "inbox": "paths.inbox",
    "organized": "paths.organized",
    "database": "paths.database",
    "workers": "performance.max_workers",
    "batch_size": "performance.batch_size",
    "transport": "server.transport",
    "host": "server.host",
    "port": "server.port",
    "watch": "server.watch",
    "token_file": "server.token_file",
}


def run(opts: dict[str, Any]) -> int:
    """Configure logging, load the settings and run the command the parsed options name."""
    configure_logging(log_level(opts))
    loaded = load_settings(opts.get("config"), _flags(opts), profile=opts.get("profile"))
    command = COMMANDS[opts.get("command") or "organize"]
    code = anyio.run(command, loaded, opts)
    sys.stdout.flush()  # a closed pipe fails here, inside cli.main's handler
    return code


def log_level(opts: dict[str, Any], default: str = "info") -> str:
    """--verbose: debug, --quiet: warning, else the default."""
    return "debug" if opts.get("verbose") else "warning" if opts.get("quiet") else default


def _flags(opts: dict[str, Any]) -> dict[str, Any]:
    return {key: opts[flag] for flag, key in FLAG_KEYS.items() if opts.get(flag) is not None}


async def cmd_organize(loaded: LoadedSettings, opts: dict[str, Any]) -> int:
    if opts.get("watch"):
        return await cmd_watch(loaded, opts)
    dry_run = bool(opts.get("dry_run"))
    with Library(loaded.settings, read_only=dry_run) as library, \
            display.progress_bar(enabled=not opts.get("json") and not opts.get("quiet")) as bar:
        report = await library.organize(move=bool(opts.get("move")), dry_run=dry_run,
                                        listeners=[bar] if bar else [])
    _show(opts, report, display.organize_report)
    return 1 if report.errors else 0  # README: 1 when some files were not organized


async def cmd_watch(loaded: LoadedSettings, opts: dict[str, Any]) -> int:
    settings = loaded.settings
    state = WatchState()
    with Library(settings) as library:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_stop_on_signals, tg.cancel_scope)
            await library.watch(state, move=bool(opts.get("move")),
                                settle_seconds=settings.server.watch_settle_seconds,
                                on_report=None if opts.get("json") else display.watch_line)
    state.log_summary()
    return 0


async def _stop_on_signals(scope: anyio.CancelScope) -> None:
    """Ctrl-C or SIGTERM stops watching cleanly (the current file is finished and recorded)."""
    if sys.platform == "win32":  # no signal receiver there; Ctrl-C raises KeyboardInterrupt
        return
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            print(f"alice: {signal.Signals(signum).name}, stopping", file=sys.stderr)
            scope.cancel()
            return


async def cmd_index(loaded: LoadedSettings, opts: dict[str, Any]) -> int:
    settings = loaded.settings
    for folder in opts["folders"]:  # named here, a folder is a root for this run (as --inbox)
        settings.paths.extra_roots.append(ExtraRoot(path=folder))
    failed = False
    with Library(settings) as library:
        for folder in opts["folders"]:
            report = await library.index(folder)
            failed = failed or bool(report.errors)
            _show(opts, report, display.index_report)
    return 1 if failed else 0


async def cmd_profiles(loaded: LoadedSettings, opts: dict[str, Any]) -> int:
    if opts.get("json"):
        print(json.dumps({"profile": loaded.profile, "config_file": str(loaded.config_file),
                          "database": str(loaded.settings.database_path),
                          "known_profiles": known_profiles(),
                          "settings": [{"key": k, "value": v, "origin": o}
                                       for k, v, o in loaded.rows()]}, indent=2, default=str))
    else:
        display.profiles(loaded, known_profiles())
    return 0


async def cmd_inspect(loaded: LoadedSettings, opts: dict[str, Any]) -> int:
    with Library(loaded.settings, read_only=True) as library:
        found = await library.inspect(opts["files"], stealth=opts.get("stealth"))
    if opts.get("json"):
        for item in found:
            print(json_text(item, default=str))
    else:
        display.inspections(found)
    return 0 if all("error" not in item for item in found) else 1


async def cmd_search(loaded: LoadedSettings, opts: dict[str, Any]) -> int:
    query = Query.from_filters(
        " ".join(opts.get("query") or []), tags_all=opts["tags_all"], tags_any=opts["tags_any"],
        tags_none=opts["tags_none"], source=opts.get("source"), model=opts.get("model"),
        after=opts.get("after"), before=opts.get("before"), min_stars=opts.get("min_stars"),
        media_type=opts.get("media_type"), sort=opts.get("sort"), semantic=opts.get("semantic"))
    with Library(loaded.settings, read_only=True) as library:
        page = await library.search(query, limit=opts["limit"], cursor=opts.get("cursor"))
    _show(opts, page, display.search_page)
    return 0


async def cmd_stats(loaded: LoadedSettings, opts: dict[str, Any]) -> int:
    with Library(loaded.settings, read_only=True) as library:
        stats = await library.stats()
    _show(opts, stats, display.stats)
    return 0


async def cmd_tag(loaded: LoadedSettings, opts: dict[str, Any]) -> int:
    with Library(loaded.settings) as library:
        result = await library.tag(opts["ids"], opts["add"], opts["remove"], opts["category"],
                                   stars=opts.get("stars"))
    _emit(opts, result, f"{result.updated_assets} assets: +{result.added} -{result.removed} tags"
          + (f"; unknown: {', '.join(result.unknown_ids)}" if result.unknown_ids else ""))
    return 1 if result.unknown_ids else 0


async def cmd_sidecars(loaded: LoadedSettings, opts: dict[str, Any]) -> int:
    with Library(loaded.settings) as library:
        report = await library.write_sidecars(" ".join(opts.get("query") or []) or None)
    _emit(opts, report, f"{report.written} sidecars written, {report.read} edited ones read "
          f"back (+{report.tags_added} tags, {report.stars_changed} stars changed)"
          + "".join(f"\n  {p.path}: {p.reason}" for p in report.problems))
    return 1 if report.problems else 0


async def cmd_export(loaded: LoadedSettings, opts: dict[str, Any]) -> int:
    with Library(loaded.settings, read_only=True) as library:
        result = await library.export(" ".join(opts.get("query") or []) or None,
                                      fmt=opts.get("fmt"), output=opts["output"])
    _emit(opts, result, f"{result.total} rows written to {result.file} ({result.format})")
    return 0


async def cmd_similar(loaded: LoadedSettings, opts: dict[str, Any]) -> int:
    with Library(loaded.settings, read_only=True) as library:
        result = await library.similar(opts.get("id"), opts.get("path"),
                                       max_distance=opts["max_distance"], limit=opts["limit"],
                                       by=opts["by"])
    _show(opts, result, display.similar)
    return 0


async def cmd_duplicates(loaded: LoadedSettings, opts: dict[str, Any]) -> int:
    with Library(loaded.settings, read_only=True) as library:
        result = await library.duplicates(" ".join(opts["scope"]) or None,
                                          max_distance=opts["max_distance"], limit=opts["limit"])
    _show(opts, result, display.duplicates)
    return 0


async def cmd_keep(loaded: LoadedSettings, opts: dict[str, Any]) -> int:
    with Library(loaded.settings) as library:
        result = await library.resolve_duplicates(opts["id"], opts["others"],
                                                  move=bool(opts.get("move")))
    _emit(opts, result, f"kept {result.kept[:12]}; {len(result.marked_duplicate)} tagged "
          f"duplicate; merged tags: {', '.join(result.merged_tags) or 'none'}; stars: "
          f"{result.stars or 'none'}"
          + (f"; {len(result.moved)} files moved to _duplicates/" if result.moved else "")
          + "".join(f"\n{p.path}: {p.reason}" for p in result.problems)
          + (f"; unknown: {', '.join(result.unknown_ids)}" if result.unknown_ids else ""))
    return 1 if result.unknown_ids or result.problems else 0


async def cmd_show(loaded: LoadedSettings, opts: dict[str, Any]) -> int:
    with Library(loaded.settings, read_only=True) as library:
        detail = await library.get_asset(opts["id"])
    _show(opts, detail, display.asset)
    return 0


async def cmd_analyze(loaded: LoadedSettings, opts: dict[str, Any]) -> int:
    query = " ".join(opts.get("query") or []) or None
    if opts.get("estimate"):
        with Library(loaded.settings, read_only=True) as library:
            estimate = await library.estimate_analysis(query=query, provider=opts.get("provider"),
                                                       force=bool(opts.get("force")))
        _emit(opts, estimate, f"{estimate.assets} assets to analyze with {estimate.provider} "
              f"({estimate.model}) in {estimate.requests} requests, about "
              f"${estimate.estimated_usd:.4f} ({estimate.price_source}); {estimate.cached} "
              f"cached; {estimate.failed_before} failed before; this month ${estimate.spent_this_month_usd:.4f} of "
              f"${estimate.budget_usd_per_month:.2f} spent"
              + ("" if estimate.within_budget else
                 f"; the budget stops the run after {estimate.affordable_assets} assets"))
        return 0
    with Library(loaded.settings) as library, \
            display.progress_bar(enabled=not opts.get("json") and not opts.get("quiet")) as bar:
        report = await library.analyze(query=query, provider=opts.get("provider"),
                                       force=bool(opts.get("force")),
                                       listeners=[bar] if bar else [])
    _show(opts, report, display.analysis)
    return 1 if report.errors or report.budget_stopped else 0


async def cmd_embed(loaded: LoadedSettings, opts: dict[str, Any]) -> int:
    query = " ".join(opts.get("query") or []) or None
    with Library(loaded.settings) as library, \
            display.progress_bar(enabled=not opts.get("json") and not opts.get("quiet")) as bar:
        report = await library.embed(query, listeners=[bar] if bar else [])
    _emit(opts, report, f"{report.text_embedded} text and {report.image_embedded} picture "
          f"vectors made, {report.unchanged} unchanged ({report.seconds:.1f} s)"
          + "".join(f"\n  {line}" for line in report.missing))
    return 0


async def cmd_models(loaded: LoadedSettings, opts: dict[str, Any]) -> int:
    with Library(loaded.settings, read_only=opts["action"] == "status") as library:
        if opts["action"] == "pull":
            with display.progress_bar(enabled=not opts.get("json") and not opts.get("quiet"),
                                      description="downloading") as bar:
                found = await library.pull_models(bar)
        else:
            found = library.models_status()
    if opts.get("json"):
        print(json.dumps([m.model_dump() for m in found], indent=2))
    else:
        display.models(found)
    return 0 if all(m.present for m in found) else 1


async def cmd_mcp_server(loaded: LoadedSettings, opts: dict[str, Any]) -> int:
    from alice_mcp import exposure  # the MCP SDK loads only for this command
    from alice_mcp.server import build_server

    conf = loaded.settings.server
    if opts.get("new_token"):
        token, path = exposure.new_token(conf.token_file)
        print(token)
        print(f"alice: stored in {path} (readable by you only); `alice mcp-server --transport "
              "http` uses it from now on, and clients send the header "
              "`Authorization: Bearer <token>`", file=sys.stderr)
        return 0
    configure_logging(log_level(opts, conf.log_level))
    if conf.transport != "http":
        await build_server(loaded.settings).run_stdio_async()
        return 0
    token = exposure.resolve_token(conf)
    exposure.refuse_unprotected(conf.host, conf.port, token)
    security = exposure.transport_security(conf)
    auth = exposure.auth_hooks(token, conf.port) if token else None
    log.info("serving MCP over HTTP", host=conf.host, port=conf.port,
             bearer_token="required" if token else "off (loopback only)",
             allowed_hosts=security.allowed_hosts)
    if not exposure.is_loopback(conf.host) and not conf.allowed_hosts:
        log.warning("only loopback Host names are accepted: clients that reach this machine by "
                    "another name or address get 421; list them in server.allowed_hosts")
    await exposure.serve_http(build_server(loaded.settings, auth=auth), conf, security)
    return 0


def _show(opts: dict[str, Any], result: BaseModel, render: Callable[[Any], None]) -> None:
    """JSON for scripts (--json), else the readable form."""
    if opts.get("json"):
        print(json_text(result.model_dump(mode="json"), indent=2))
    else:
        render(result)


def _emit(opts: dict[str, Any], result: BaseModel, line: str) -> None:
    _show(opts, result, lambda _: print(line))


COMMANDS: dict[str, Callable[[LoadedSettings, dict[str, Any]], Coroutine[Any, Any, int]]] = {
    "organize": cmd_organize, "index": cmd_index, "profiles": cmd_profiles, "inspect": cmd_inspect,
    "search": cmd_search, "stats": cmd_stats, "tag": cmd_tag, "similar": cmd_similar,
    "duplicates": cmd_duplicates, "keep": cmd_keep, "show": cmd_show, "analyze": cmd_analyze,
    "embed": cmd_embed, "models": cmd_models, "sidecars": cmd_sidecars, "export": cmd_export,
    "mcp-server": cmd_mcp_server,
}

