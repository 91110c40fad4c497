"""What the Library returns: pydantic models shared by the CLI (tables, --json) and MCP (schemas)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class FileProblem(BaseModel):
    """A file that was not organized, and why."""

    path: str
    reason: str


class Placement(BaseModel):
    """Where one inbox file went (or would go, in a dry run)."""

    source: str
    destination: str
    asset_id: str
    duplicate_of: str | None = None


class PipelineCounters(BaseModel):
    """Work done by one run: what a rerun over an unchanged inbox must keep at zero."""

    stat: int = 0
    hashed: int = 0
    decoded: int = 0
    detected: int = 0
    bytes_read: int = 0
    rows_written: int = 0
    write_statements: int = 0
    commits: int = 0


class OrganizeReport(BaseModel):
    """The outcome of one organize run."""

    inbox: str
    organized_root: str
    move: bool
    dry_run: bool
    scanned: int = Field(0, description="media files found in the inbox")
    unchanged: int = Field(0, description="already indexed and organized: skipped after one stat")
    organized: int = Field(0, description="files placed (or planned, in a dry run)")
    duplicates: int = Field(0, description="identical to an asset already organized; not copied")
    skipped: int = Field(0, description="not media files, links, unreadable folders")
    errors: list[FileProblem] = Field(default_factory=list)
    placements: list[Placement] = Field(default_factory=list)
    counters: PipelineCounters = Field(default_factory=PipelineCounters)
    seconds: float = 0.0
    cancelled: bool = False


class AssetSummary(BaseModel):
    """One search hit."""

    asset_id: str
    path: str | None
    source: str
    model: str | None = None
    prompt: str | None = Field(None, description="the first 200 characters of the prompt")
    tags: list[str] = Field(default_factory=list)
    stars: int | None = None
    width: int | None = None
    height: int | None = None
    media_type: str = "image"
    created_at: datetime | None = None


class SearchPage(BaseModel):
    """One page of search results; pass next_cursor back to get the next page."""

    results: list[AssetSummary]
    total: int
    next_cursor: str | None = None


class Counted(BaseModel):
    key: str | None
    count: int


class LibraryStats(BaseModel):
    """Counts over the whole library."""

    assets: int
    files: int
    by_source: list[Counted]
    by_model_family: list[Counted]
    by_month: list[Counted]
    by_stars: list[Counted]
    by_media_type: list[Counted]
    database: str
