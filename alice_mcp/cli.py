"""The `alice` command: parse the arguments, then hand them to alice_mcp.commands. No logic of its own.

Only argparse and a few light modules load before the arguments are parsed: `--version` and
`--help` answer without importing the Library, duckdb, numpy, Pillow, rich or pydantic-settings
(tests/test_startup.py checks it; bench/startup.py times it).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import gc
import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from alice_mcp import __version__
from alice_mcp.errors import EXIT_INTERRUPTED, EXIT_USAGE, AliceError, SettingsError
from alice_mcp.profile_files import known_profiles
from alice_mcp.store.sorts import SORTS


def build_parser() -> argparse.ArgumentParser:
    """Every command and flag of `alice` (help texts included)."""
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    common.add_argument("--config", type=Path, help="settings file (default: $ALICE_CONFIG, "
                        "./settings.yaml, then the user config folder)")
    common.add_argument("--profile", choices=known_profiles(),
                        help="performance profile (default: $ALICE_PERFORMANCE or 'default')")
    common.add_argument("--database", type=Path, help="the library's DuckDB file")
    common.add_argument("--inbox", type=Path, help="folder of new files (paths.inbox)")
    common.add_argument("--organized", type=Path, help="the organized tree (paths.organized)")
    common.add_argument("--workers", type=int, help="performance.max_workers for this run")
    common.add_argument("--batch-size", type=int, help="performance.batch_size for this run")
    common.add_argument("--json", action="store_true", help="print JSON for scripts")
    common.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    common.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")

    parser = argparse.ArgumentParser(
        prog="alice", parents=[common],
        description="Organize, index and search AI-generated images and videos.",
        epilog="Without a command, organizes --inbox into --organized.")
    parser.add_argument("--version", action="version", version=f"alice-mcp {__version__}")
    _organize_args(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    sub.add_parser("profiles", parents=[common],
                   help="the effective settings and where each value came from")
    p = sub.add_parser("index", parents=[common], help="index collections where they lie "
                       "(nothing copied or moved)")
    p.add_argument("folders", nargs="+", type=Path, metavar="FOLDER")
    p = sub.add_parser("inspect", parents=[common], help="what generated these files")
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--stealth", action="store_true", default=None,
                   help="also look for stealth pnginfo hidden in the pixels (slower)")
    p = sub.add_parser("search", parents=[common], help="search the library")
    p.add_argument("query", nargs="*", help="search language, e.g. 'cat tag:portrait stars:>=4'")
    _search_filters(p)
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--cursor", help="next_cursor of the previous page")
    sub.add_parser("stats", parents=[common], help="counts by source, model, month, stars")
    p = sub.add_parser("tag", parents=[common], help="add or remove tags on assets")
    p.add_argument("ids", nargs="+", help="asset ids (or their first 6+ characters)")
    p.add_argument("--add", action="append", default=[], metavar="TAG")
    p.add_argument("--remove", action="append", default=[], metavar="TAG")
    p.add_argument("--category", default="custom")
    p.add_argument("--stars", type=int, help="set the stars (1-5; 0 clears them)")
    p = sub.add_parser("sidecars", parents=[common], help="XMP sidecars beside organized files")
    p.add_argument("action", choices=["write"], help="write: write (or refresh) the sidecars "
                   "of the assets the query matches, reading a user's edits back first")
    p.add_argument("query", nargs="*", help="search query selecting assets (default: all)")
    p = sub.add_parser("export", parents=[common], help="write the rows of a search to a file")
    p.add_argument("query", nargs="*", help="search query selecting assets (default: all)")
    p.add_argument("--format", dest="fmt", choices=["csv", "json", "parquet"],
                   help="default: from the file name's extension")
    p.add_argument("-o", "--output", type=Path, required=True, help="the file to write")
    p = sub.add_parser("similar", parents=[common], help="assets that look like this one")
    p.add_argument("id", nargs="?", help="an asset id (or its first 6+ characters)")
    p.add_argument("--path", help="an image file inside the library's folders, instead of an id")
    p.add_argument("--max-distance", type=int, default=10)
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--by", choices=["pixels", "meaning"], default="pixels",
                   help="pixels: perceptual hash; meaning: embeddings")
    p = sub.add_parser("duplicates", parents=[common], help="groups of identical-looking assets")
    p.add_argument("scope", nargs="*", help="search query limiting the comparison")
    p.add_argument("--max-distance", type=int, default=0)
    p.add_argument("--limit", type=int, default=50)
    p = sub.add_parser("keep", parents=[common], help="keep one of a duplicate group: merge "
                       "the others' tags and stars into it, tag the others 'duplicate'")
    p.add_argument("id", help="the asset to keep")
    p.add_argument("others", nargs="+", help="the rest of its duplicate group")
    p.add_argument("--move", action="store_true", help="a library organized with --move: also "
                   "move the others' organized files into <organized>/_duplicates/<date>/")
    p = sub.add_parser("show", parents=[common], help="every stored detail of one asset")
    p.add_argument("id")
    p = sub.add_parser("analyze", parents=[common], help="describe and tag assets")
    p.add_argument("query", nargs="*", help="search query selecting assets (default: all "
                   "not yet analyzed)")
    p.add_argument("--provider", choices=["local", "openai", "anthropic", "google", "ollama"],
                   help="understanding provider (default: understanding.provider, 'local')")
    p.add_argument("--force", action="store_true", help="analyze again even if cached")
    p.add_argument("--estimate", action="store_true", help="print how many assets and calls "
                   "and the estimated cost; call nothing")
    p = sub.add_parser("embed", parents=[common], help="compute the embeddings of search by "
                       "meaning (local models; resumable)")
    p.add_argument("query", nargs="*", help="search query selecting assets (default: all)")
    p = sub.add_parser("models", parents=[common], help="the local embedding models")
    p.add_argument("action", choices=["status", "pull"], help="status: which are here; pull: "
                   "download the missing ones once")
    p = sub.add_parser("mcp-server", parents=[common], help="serve the library over MCP "
                       "(Claude Desktop starts this)")
    p.add_argument("--transport", choices=["stdio", "http"])
    p.add_argument("--host", help="HTTP host (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="HTTP port (default 8765)")
    p.add_argument("--watch", action="store_true", help="also organize new inbox files as "
                   "they arrive")
    p.add_argument("--token-file", type=Path, help="file holding the bearer token HTTP "
                   "clients must send (server.token_file)")
    p.add_argument("--new-token", action="store_true", help="make a new bearer token, store it "
                   "in the user config folder (readable by you only), print it and exit")
    return parser


def _search_filters(p: argparse.ArgumentParser) -> None:
    """The search tool's structured filters, as flags (both build one Query.from_filters)."""
    p.add_argument("--tag", dest="tags_all", action="append", default=[], metavar="TAG",
                   help="has this tag (repeat for several)")
    p.add_argument("--any-tag", dest="tags_any", action="append", default=[], metavar="TAG",
                   help="has at least one of these tags")
    p.add_argument("--not-tag", dest="tags_none", action="append", default=[], metavar="TAG",
                   help="lacks this tag")
    p.add_argument("--source", help="generator slug, e.g. a1111, comfyui, midjourney")
    p.add_argument("--model", help="model name or glob")
    p.add_argument("--after", help="YYYY-MM-DD, today, yesterday or an age like 7d")
    p.add_argument("--before", help="same forms as --after")
    p.add_argument("--min-stars", type=int, help="at least this many stars (1-5)")
    p.add_argument("--type", dest="media_type", choices=["image", "video"])
    p.add_argument("--sort", choices=list(SORTS))
    p.add_argument("--semantic", metavar="TEXT", help="rank by meaning, e.g. 'a sad robot' "
                   "(same as like:\"...\" in the query; needs `alice embed` first)")


def _organize_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--move", action="store_true", help="move files instead of copying")
    parser.add_argument("--dry-run", action="store_true", help="print the plan, touch nothing")
    parser.add_argument("--watch", action="store_true", help="then keep organizing new files "
                        "as they arrive (Ctrl-C stops)")


THREAD_GRACE = 0.2  # seconds a finished program waits for a thread before exiting normally


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; exit codes: see alice_mcp.errors and the README. Run as a program
    (no argv), the process ends here without the interpreter's teardown."""
    code = _main(vars(build_parser().parse_args(argv)), program=argv is None)
    if argv is None:
        _exit_without_teardown(code)
    return code


def _main(opts: dict[str, Any], *, program: bool) -> int:
    try:
        commands = _import_commands(pause_gc=program)
        return commands.run(opts)
    except AliceError as exc:
        prefix = "settings error: " if isinstance(exc, SettingsError) else ""
        return _fail(f"{prefix}{exc}", exc.exit_code)
    except KeyboardInterrupt:
        return _fail("interrupted; everything placed so far is recorded. Run again to finish.",
                     EXIT_INTERRUPTED)
    except BrokenPipeError:  # `alice search --json | head -1`: the reader has what it wanted
        return _quiet_broken_pipe()


def _import_commands(*, pause_gc: bool) -> ModuleType:
    """Import the command handlers (and with them the Library). Run as a program, the
    collector is paused meanwhile and what the imports made is frozen out of later collections:
    the hundreds of thousands of objects imports create would otherwise be traversed again and
    again while they are made."""
    if pause_gc:
        gc.disable()
    try:
        _structlog_without_rich()
        from alice_mcp import commands
        return commands
    finally:
        if pause_gc:
            gc.freeze()
            gc.enable()


def _exit_without_teardown(code: int) -> None:
    """End a finished program at once. The interpreter's teardown frees every object one by one
    (~0.1 s of each command, issue 19) and nothing of ours needs it: the library is closed and
    placed files are synced. As at a normal exit, threads are joined and exit handlers run
    first (multiprocessing's removes its temporary folder); a thread still busy after
    THREAD_GRACE gets the normal exit instead."""
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join(THREAD_GRACE)
            if thread.is_alive():
                return
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def _structlog_without_rich() -> None:
    """Import structlog while rich looks absent: structlog imports rich (~40 ms) only for pretty
    tracebacks, which alice never uses (logs.py formats exceptions as plain text first, so keys
    can be masked in them). rich then loads only when display.py renders something."""
    if "structlog" in sys.modules or "rich" in sys.modules:
        return
    sys.modules["rich"] = None  # type: ignore[assignment]  # `import rich` raises ImportError
    try:
        import structlog  # noqa: F401
    finally:
        del sys.modules["rich"]


def _quiet_broken_pipe() -> int:
    """Point stdout at nothing, so the interpreter's final flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    with contextlib.suppress(OSError, ValueError):
        os.dup2(devnull, sys.stdout.fileno())
    return 0


def _fail(message: str, code: int = EXIT_USAGE) -> int:
    print(f"alice: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
