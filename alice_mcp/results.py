"""What the Library returns: pydantic models shared by the CLI (tables, --json) and MCP (schemas)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Result(BaseModel):
    """Nullable fields publish as pydantic writes them, `anyOf: [{type: X}, {type: null}]`: one
    type per property, which function-declaration formats that reject type lists accept.

    Validators are built when a model is first used, not at import: a CLI run uses a few of
    these forty models, and building them all cost ~15 ms of every start (issue 19)."""

    model_config = ConfigDict(defer_build=True)


class FileProblem(_Result):
    """A file that was not organized, and why."""

    path: str
    reason: str


class Placement(_Result):
    """Where one inbox file went (or would go, in a dry run)."""

    source: str
    destination: str
    asset_id: str
    duplicate_of: str | None = None


class PipelineCounters(_Result):
    """Work done by one run: what a rerun over an unchanged inbox must keep at zero."""

    stat: int = 0
    hashed: int = 0
    decoded: int = 0
    detected: int = 0
    bytes_read: int = 0
    rows_written: int = 0
    write_statements: int = 0
    commits: int = 0


class OrganizeReport(_Result):
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
    deferred: int = Field(0, description="changed moments ago (may still be written): left "
                                         "for the next run")
    skipped_files: list[FileProblem] = Field(default_factory=list,
                                             description="the first 200 skipped, with why")
    recovered: int = Field(0, description="placements of an interrupted run finished now")
    rolled_back: int = Field(0, description="placements of an interrupted run undone now")
    errors: list[FileProblem] = Field(default_factory=list)
    duplicates_moved: int = Field(0, description="with move: duplicates moved into "
                                  "<organized>/_duplicates/<date>/ (so the inbox empties)")
    relinked: int = Field(0, description="files moved or renamed inside the organized tree, "
                          "found again by their bytes (tags, stars, analyses kept)")
    indexed_in_place: int = Field(0, description="files added to the organized tree by hand, "
                                  "or changed in place there (new bytes: a new asset)")
    missing: list[str] = Field(default_factory=list, description="last paths of assets whose "
                               "every file vanished from the organized tree or was changed in "
                               "place (search hides them; missing:true finds them)")
    sidecars_read: int = Field(0, description="XMP sidecars edited outside alice, read back")
    sidecars_written: int = Field(0, description="XMP sidecars written (sidecars.write: auto)")
    warnings: list[FileProblem] = Field(default_factory=list, description="per-file problems "
                                        "that stopped nothing, e.g. a broken sidecar")
    placements: list[Placement] = Field(default_factory=list)
    counters: PipelineCounters = Field(default_factory=PipelineCounters)
    seconds: float = 0.0
    cancelled: bool = False


class IndexReport(_Result):
    """One collection indexed where it lies (`alice index`): nothing copied or moved."""

    folder: str
    unchanged: int = Field(0, description="already indexed: skipped after one stat")
    indexed: int = Field(0, description="files read and recorded as new assets")
    relinked: int = Field(0, description="files whose bytes were already indexed (moved, "
                          "renamed or copies): recorded at this path too")
    missing: list[str] = Field(default_factory=list, description="last paths of assets whose "
                               "every library location vanished")
    errors: list[FileProblem] = Field(default_factory=list)
    seconds: float = 0.0


class MatchInfo(_Result):
    """Why a hit of a search by meaning matched, and how well."""

    keyword: bool = Field(False, description="its words match the query's words")
    text: float | None = Field(None, description="cosine similarity of what the asset says "
                               "to the query's meaning (-1..1)")
    picture: float | None = Field(None, description="cosine similarity of the picture to the "
                                  "query's description (-1..1)")
    score: float = Field(description="the fused score: standard deviations above typical "
                         "similarity, summed over spaces, plus 2 for a keyword match")


class AssetSummary(_Result):
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
    missing: bool = Field(False, description="every file of it vanished (path is the last one)")
    match: MatchInfo | None = Field(None, description="for a search by meaning: why it matched")


class SearchPage(_Result):
    """One page of search results; pass next_cursor back to get the next page."""

    results: list[AssetSummary]
    total: int
    next_cursor: str | None = None


class Counted(_Result):
    key: str | None
    count: int


class CacheFigures(_Result):
    name: str
    entries: int
    size_mb: float
    max_mb: float
    hits: int
    misses: int
    hit_rate: float | None


class ProcessFigures(_Result):
    """Performance figures of the running process (see metrics)."""

    files_processed: int
    avg_seconds_per_file: float | None
    files_per_second: float | None
    rss_mb: float
    api_calls: int
    cost_usd: float
    uptime_seconds: float
    caches: list[CacheFigures]


class SidecarReport(_Result):
    """The outcome of writing (and first reading back) XMP sidecars."""

    written: int = Field(0, description="sidecars written (one that would not change is left)")
    read: int = Field(0, description="sidecars edited outside alice, read back first")
    tags_added: int = Field(0, description="user tags taken from edited sidecars")
    tags_removed: int = Field(0, description="tags the user took out of edited sidecars")
    stars_changed: int = Field(0, description="assets whose stars an edited sidecar changed")
    problems: list[FileProblem] = Field(default_factory=list)


class ExportResult(_Result):
    """The rows of an export (paths, generation, tags, stars, description)."""

    total: int
    rows: list[dict[str, Any]] = Field(default_factory=list)
    file: str | None = Field(None, description="where the rows were written, if anywhere")
    format: str | None = None


class TagResult(_Result):
    """The outcome of one batch tag edit (one transaction)."""

    updated_assets: int
    added: int = Field(description="tag rows added")
    removed: int = Field(description="tag rows removed")
    unknown_ids: list[str] = Field(default_factory=list, description="ids not in the library")
    sidecars_written: int = Field(0, description="XMP sidecars rewritten (sidecars.write: auto)")


class ResolveResult(_Result):
    """One duplicate group resolved: which asset is kept, what it gained, and (with move) where
    the others' organized files were set aside. No file is ever deleted."""

    kept: str
    marked_duplicate: list[str] = Field(description="the others, now tagged 'duplicate'")
    merged_tags: list[str] = Field(description="tags of the others the kept asset did not have")
    stars: int | None = Field(None, description="the kept asset's stars now (its own, else the "
                              "highest of the group)")
    moved: list[Placement] = Field(default_factory=list, description=(
        "with move: organized files of the others, now in <organized>/_duplicates/<date>/"))
    problems: list[FileProblem] = Field(default_factory=list,
                                        description="files that could not be set aside")
    unknown_ids: list[str] = Field(default_factory=list, description="ids not in the library")


class SimilarHit(_Result):
    asset_id: str
    distance: int | None = Field(None, description="by pixels: Hamming distance between "
                                 "64-bit pHashes (0 = same picture)")
    similarity: float | None = Field(None, description="by meaning: cosine similarity of the "
                                     "embeddings (1 = same)")
    path: str | None
    source: str | None = None
    prompt: str | None = None


class SimilarResult(_Result):
    """Assets that look like the reference, nearest first."""

    reference: str
    max_distance: int
    by: str = Field("pixels", description="pixels (perceptual hash) or meaning (embeddings)")
    results: list[SimilarHit]


class DuplicateGroup(_Result):
    assets: list[SimilarHit]


class DuplicatesResult(_Result):
    """Groups of assets that look the same (pHash within max_distance bits)."""

    max_distance: int
    groups: list[DuplicateGroup]
    total_groups: int


class TagInfo(_Result):
    tag: str
    category: str
    origin: str
    confidence: float | None = None


class Location(_Result):
    path: str
    role: str
    size: int
    seen_at: datetime | None = None


class AnalysisInfo(_Result):
    provider: str
    model: str
    prompt_version: str
    result: dict | None
    cost_usd: float
    created_at: datetime | None = None


class AnalysisFailureInfo(_Result):
    """An analysis whose answer did not fit: not sent again for this provider, model and prompt
    version unless forced."""

    provider: str
    model: str
    prompt_version: str
    reason: str
    raw_answer: str | None = Field(None, description="the answer's first 500 characters")
    failed_at: datetime | None = None


class AssetDetail(_Result):
    """Every stored field of one asset, with its tags, analyses and locations."""

    asset_id: str
    fields: dict
    tags: list[TagInfo]
    analyses: list[AnalysisInfo]
    failed_analyses: list[AnalysisFailureInfo] = Field(default_factory=list)
    locations: list[Location]


class AnalyzeReport(_Result):
    """The outcome of an analyze run."""

    provider: str
    model: str
    analyzed: int = 0
    sent: int = Field(0, description="assets whose image was sent to the provider in this run")
    cached: int = Field(0, description="already analyzed by this provider/model/prompt version")
    failed: int = Field(0, description="assets whose answer did not fit (cut off, off-schema, "
                        "refused) even when retried alone; recorded, not sent again unless "
                        "forced or the model or prompt version changes")
    failed_before: int = Field(0, description="assets a previous run recorded as failed with "
                               "this provider/model/prompt version: not sent (force to retry)")
    requests: int = Field(0, description="provider calls made (batches, and retries of "
                          "images alone)")
    cost_usd: float = Field(0.0, description="what the calls cost, from the usage the API "
                                             "reported")
    estimated_usd: float = Field(0.0, description="what the calls made were estimated to cost")
    budget_stopped: bool = Field(False, description="new calls were stopped: the next one "
                                 "would have exceeded the per-run or monthly budget")
    budget_skipped: int = Field(0, description="assets left unanalyzed by the budget stop; "
                                "raise understanding.budget_usd_per_run / _per_month or run "
                                "again next month")
    budget_left_usd: float | None = Field(None, description="what this run could still have "
                                          "spent")
    errors: list[FileProblem] = Field(default_factory=list)
    cancelled: bool = False


class AnalysisEstimate(_Result):
    """What an analyze run would do and cost, computed before any call (`alice analyze --estimate`)."""

    provider: str
    model: str
    assets: int = Field(description="assets that would be sent (not cached)")
    cached: int = Field(0, description="already analyzed by this provider/model/prompt version")
    failed_before: int = Field(0, description="recorded as failed by a previous run: not sent "
                               "unless forced")
    without_image: int = Field(0, description="asked for but without a thumbnail to send")
    requests: int = Field(description="provider calls (batches)")
    estimated_usd: float = Field(description="estimated cost of all the calls (a ceiling)")
    price_source: str = Field(description="price table, settings, fallback or free")
    budget_usd_per_run: float
    budget_usd_per_month: float
    spent_this_month_usd: float
    within_budget: bool = Field(description="every call fits in the budgets")
    affordable_assets: int = Field(description="assets analyzed before the budget would stop "
                                   "the run")


class LibraryStats(_Result):
    """Counts over the whole library."""

    assets: int
    files: int
    by_source: list[Counted]
    by_model_family: list[Counted]
    by_month: list[Counted]
    by_stars: list[Counted]
    by_media_type: list[Counted]
    tags: int = 0
    missing: int = Field(0, description="assets whose every file vanished")
    cost_usd_total: float = 0.0
    database: str
    process: ProcessFigures | None = None


class EmbedReport(_Result):
    """The outcome of an embed run."""

    text_embedded: int = Field(0, description="assets given a text-meaning vector")
    image_embedded: int = Field(0, description="assets given a picture vector")
    unchanged: int = Field(0, description="already embedded by the same model from the same "
                                          "text or picture")
    models: dict[str, str] = Field(default_factory=dict, description="space -> model")
    missing: list[str] = Field(default_factory=list, description="models not on this machine, "
                               "with how to get them")
    seconds: float = 0.0
    cancelled: bool = False


class ModelStatus(_Result):
    """One configured embedding model: is it here, where, and how many vectors it made."""

    space: str
    model: str
    present: bool
    folder: str
    vectors: int = 0
    how_to_get: str | None = None
