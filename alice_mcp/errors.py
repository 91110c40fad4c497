"""One error family: every exception alice raises derives from AliceError.

Each kind carries the message a user acts on (what was wrong and what to do next) and the
exit code of the `alice` command. The faces catch AliceError once: the CLI prints one line on
stderr and exits with `exit_code`; the MCP server turns it into a tool error (or, for
resources, a not-found answer) with the same message.

| kind              | exit | raised when                                                    |
|-------------------|------|----------------------------------------------------------------|
| InvalidArgument   | 2    | an argument or flag value cannot be used                       |
| InvalidQuery      | 2    | the search language could not be understood                   |
| OutsideRoots      | 2    | a path lies outside the configured folders                     |
| SettingsError     | 2    | a setting is missing, misspelt or out of range                 |
| NotFound          | 2    | an asset id, path or model is not there                        |
| LibraryBusy       | 3    | another process holds the library's database                   |
| StoreError        | 4    | the index cannot be opened or written                          |
| UnderstandingError| 2    | a provider cannot be used as asked (no key, unknown name)      |
| ProviderError     | 5    | a provider's calls failed (understanding/http.py)              |
| MediaError        | 1    | one file cannot be decoded (a per-file error in a run)          |
| PlacementError    | 1    | one file cannot be placed (a per-file error in a run)           |
| DiskFull          | 1    | the disk of the organized folder or the index is full: run stops |
| WorkersLost       | 1    | the Dask scheduler was lost mid-run: run stops, a rerun resumes |
|                   |      | (worker processes lost: threads read the rest, nothing stops)   |
"""

from __future__ import annotations

EXIT_FAILED_ITEMS = 1
EXIT_USAGE = 2
EXIT_BUSY = 3
EXIT_STORE = 4
EXIT_PROVIDER = 5
EXIT_INTERRUPTED = 130


class AliceError(Exception):
    """Something alice cannot do as asked; the message says what was wrong and what to do."""

    exit_code = EXIT_USAGE


class InvalidArgument(AliceError, ValueError):
    """An argument, flag or tool parameter cannot be used; the message names it."""


class InvalidQuery(InvalidArgument):
    """The search language could not be understood; the message says which part and what is
    allowed."""


class OutsideRoots(AliceError, PermissionError):
    """A path resolves outside the configured folders; the message lists the allowed ones."""


class NotFound(AliceError, LookupError):
    """An asset, file or model that is not there; the message says how to find one."""


class SettingsError(AliceError, ValueError):
    """A setting is missing, misspelt or out of range; the message names the key and where it
    was set."""


class LayoutError(SettingsError):
    """The layout pattern cannot produce valid, numbered destinations."""


class StoreError(AliceError, RuntimeError):
    """The index could not be opened or written."""

    exit_code = EXIT_STORE


class LibraryBusy(StoreError):
    """Another process holds the library's database; the message names it and what to do."""

    exit_code = EXIT_BUSY


class UnderstandingError(AliceError, ValueError):
    """An understanding provider cannot be used as asked; the message says what to set."""


class ProviderError(UnderstandingError):
    """A provider call failed; `fatal` errors stop the run because every other call would
    fail too (a refused key, an unknown model)."""

    exit_code = EXIT_PROVIDER
    fatal = False


class MediaError(AliceError, ValueError):
    """One file's pixels or frames cannot be decoded (or must not be: too big)."""

    exit_code = EXIT_FAILED_ITEMS


class PlacementError(AliceError, OSError):
    """A file could not be placed in the organized tree; its source is untouched."""

    exit_code = EXIT_FAILED_ITEMS


class SidecarError(MediaError):
    """An XMP sidecar that cannot be read (broken, hostile or too large): a per-file warning."""


class DiskFull(AliceError, OSError):
    """The disk holding the organized folder or the index is full (or over quota): every other
    file would fail the same way, so the run stops; nothing is lost and a rerun finishes."""

    exit_code = EXIT_FAILED_ITEMS


class WorkersLost(AliceError, RuntimeError):
    """The workers were lost mid-run. The Dask scheduler: the run stops with everything recorded
    so far kept, and a rerun reads only the files not yet recorded. Worker processes that
    cannot start or keep dying: their pool stops, and threads read the rest of the run."""

    exit_code = EXIT_FAILED_ITEMS
