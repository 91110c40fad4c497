"""The prose of BENCHMARKS.md: how each row is measured, what was fixed, why a target is missed."""

from __future__ import annotations

METHOD = """## How it is measured

`python -m bench` (package `bench/`) generates everything it measures and calls the project's
own code; nothing is mocked.

- **Corpus**: PNG (A1111 `parameters` chunk, ComfyUI graph), JPEG and WebP (A1111 EXIF
  UserComment) at 512x512 and 1024x1024. The metadata comes from `alice_mcp.samples`, the
  pixels are photo-like texture (a 1024x1024 PNG is ~1.6 MB, a JPEG ~200 KB), so files decode
  like real renders. Larger corpora copy a pool of distinct pictures with a per-copy marker
  chunk, so every file has its own bytes and asset id. Corpora are cached in `bench/.corpus/`.
- **Detection**: `bench/bench_detect.py` (its own 512x512 corpus from the sample writers):
  `alice_mcp.metadata.detect_path` vs `sd_parsers.ParserManager().parse`, file by file,
  interleaved passes, median.
- **Full indexing**: scan, `index_file` in the worker pool (read, BLAKE2b, detection, one
  decode for pHash/dHash, thumbnail and quality), asset and thumbnail rows through
  `BatchWriter` into a fresh DuckDB file, committed. Compared in the same run, on the same
  files, with the same number of threads, with `imagehash.phash` alone (`Image.open` +
  `phash`) and with the decode-only floor (read the bytes, decode at the working size the
  pipeline uses: JPEG DCT scaling, else full decode and box reduce). Rounds are interleaved,
  the first is a warm-up.
- **Rescan**: `Library.organize()` on the library `alice` just organized, nothing changed.
- **Inserts**: `BatchWriter.write_all` of realistic asset rows (every column, a JSON params
  document, timestamps) into a fresh library file, committed, default batch sizes (1,000 rows
  a statement, a commit every 5,000); `batched=False` is one INSERT per row. "DuckDB's own
  floor" inserts the same rows from a copy already inside DuckDB (no Python values).
- **Search and find_similar**: `Library.search` / `Library.similar` on synthetic libraries
  built by DuckDB SQL (`bench/synthetic.py`: realistic columns, 5 tags per asset out of 100,
  so a tag matches ~5% of assets, one organized location each). Uncached: the search cache is
  emptied before every call and each call asks for a different tag, word or filter set;
  cached: the same query again. p50 and p95 over the calls.
- **MCP**: the real client (`mcp.Client` + `StdioServerParameters`) against
  `python -m alice_mcp mcp-server` on the 100,000-asset library; `search` round trips.
- **Memory**: the real `alice` command in a fresh process per profile, fresh library and
  organized folder; peak RSS is the kernel's high-water mark (VmHWM) of that process."""

FIXES = """## Fixed while measuring

- `store/query.py` `search_sql`: the tags list and first path of each hit were correlated
  subqueries, which DuckDB decorrelates into aggregates over the whole `tags` and `files`
  tables, and free words aggregated every asset's tags into a string. Now the page is picked
  first (sort keys only), then display columns, path and tags are fetched for the page's rows;
  a free word matches the prompt/description/model text or a tag through a semi-join. Same
  results (checked query by query against the old SQL); tag search on 100,000 assets went
  from ~260 ms to ~25 ms, text search from ~320 ms to ~55 ms.
- `store/assets.py` `resolve_prefixes`: one query per given id (a full scan each) became one
  IN-list lookup for whole ids (primary-key index); only real prefixes are searched one by
  one. 500-asset tag update: ~2 s -> ~16 ms on 100,000 assets.
- `store/writer.py` `BatchWriter`: a batch went to DuckDB as one Python list per column
  (`unnest(?::T[])`), which converts every value into a DuckDB Value (~1 us each, 30 columns a
  row). It now goes as numpy columns registered as a relation (numbers and timestamps are read
  without per-value conversion, NULLs as masks); a batch with a value numpy cannot carry
  exactly (NaN, a naive datetime, an int beyond 64 bits, an unexpected type) still goes as
  lists. Same rows, same rejections (checked table by table against the old writer).
  1,000 rows: 40 -> 25 ms; 100,000 rows: 3.9 -> 2.8 s; batched vs one row per statement:
  88x -> 141x."""

_WHY: dict[str, str] = {
    "detect.": (
        "per JPEG file detect_path costs ~57 us here: ~7 us open, ~18 us container read "
        "(metadata/jpeg.py, exif.py), ~20 us detect_meta, of which most is metadata/detect.py "
        "_run calling every EMBEDDED parser even after one has matched (later hits only fill "
        "gaps). Recommended (metadata/detect.py): dispatch on the container keys present "
        "(each parser names the chunks/EXIF tags it reads; parsers whose keys are absent are "
        "skipped), and stop at the first confident hit. Expected: detect_meta ~20 -> ~8 us, "
        "JPEG/WebP ~2.2x -> ~3x sd_parsers. (Caching model_family was tried: no gain.)"),
    "index.phash": (
        "imagehash.phash alone does one full decode and a 32x32 resize; the pipeline must do "
        "at least the same decode for PNG and WebP (no reduced-size decoding exists for them "
        "in Pillow), then hash, detect, thumbnail and score. Only JPEG decodes cheaper "
        "(draft DCT scaling), so on a corpus where PNG is most of the bytes the ratio stays "
        "near 1x. Reaching 2x would need reduced-size decoding of PNG/WebP, which Pillow "
        "lacks (libwebp can scale while decoding; Pillow's plugin does not expose it)."),
    "index.floor": (
        "one-thread profile of index_file on this corpus: decode 67%, quality features 10% "
        "(quality._detail_and_noise, _colourfulness), BLAKE2b 5%, thumbnail 5% (bilinear "
        "resize + JPEG encode), pHash/dHash 4% (imagehash: scipy DCT), detection 2%. With 8 "
        "threads on 2 cores the Python/numpy parts also hold the GIL, which the decode-only "
        "floor never does. Recommended in media/pixels.py: thumbnail by `reduce(2)` when the "
        "working image is exactly twice the thumbnail (box filter, ~3x cheaper than the "
        "bilinear resize), pHash/dHash by a numpy 32x32 DCT on the already reduced grey image "
        "instead of imagehash's PIL+scipy path; in quality.py: sample the detail/noise and "
        "colour statistics on fewer pixels. Expected: the non-decode share drops from ~0.5x "
        "to ~0.3x of the decode."),
    "insert.": (
        "DuckDB alone, inserting the same rows from a copy already inside DuckDB (primary key, "
        "commit to the WAL), needs about 12 ms for 1,000 rows and 0.7 s for 100,000 on this "
        "machine (the 'floor' beside the figure), so neither target can be met by any writer "
        "here. The rest is handing Python values over: after the numpy hand-over, strings "
        "(asset id, prompt, params JSON: about half the columns) are still converted one by "
        "one. Further gains: pyarrow string arrays (a new dependency) and fewer columns per "
        "row (params JSON repeats the typed columns)."),
    "search.tags": (
        "a tag that matches 5% of 1,000,000 assets makes DuckDB read the tags table's "
        "asset_id strings for the matching rows and probe them against every asset_id "
        "(~50-90 ms: VARCHAR(32) keys, no index use for joins), and fetching the page's tags "
        "and path scans tags (5M rows) and files once more. Recommended: (1) library.py "
        "_search runs two statements: the page (ids + total), then details with a constant "
        "IN list, so DuckDB uses an ART index (add `CREATE INDEX tags_asset ON tags(asset_id)` "
        "and `files_asset ON files(asset_id)`, with a schema migration in store/db.py): "
        "details fall from ~100 ms to ~3 ms; (2) keep tags clustered by tag (rewrite the table "
        "ORDER BY tag after large imports, or an integer asset key): the tag filter fell from "
        "~50-90 ms to ~25 ms in an experiment on the same data."),
    "search.": "see the tag search note: the same page-detail scans dominate.",
    "mcp.": (
        "the round trip is the search plus ~4-6 ms of MCP/JSON over stdio (the cached row "
        "is the protocol cost alone). On 100,000 assets the search statement costs ~20 ms: "
        "~8 ms to choose the page and ~4-8 ms for each of the three lookups of the page's "
        "columns, path and tags, which scan assets, files and tags because DuckDB only uses "
        "an ART index for constant IN lists. Done since: library.py _search runs the page "
        "query (query.py page_sql), then the details with a constant IN list of the page's "
        "ids (details_sql), with indexes on tags(asset_id) and files(asset_id) created on "
        "open (store/db.py): round trip 26.4 -> 20.4 ms p50. What is left is the page query "
        "itself (~8 ms: the tag filter and the sort of all matches) plus ~5 ms of protocol; "
        "the tag-table layout noted above is the next step."),
    "memory.": (
        "measured on 3,000 of these files: imports alone are ~90 MB (mcp, pydantic, duckdb, "
        "numpy, Pillow, av); each worker thread holds a decoded image (8 -> 2 workers: "
        "346 -> 274 MB); and DuckDB's buffer pool keeps every block written (memory_limit "
        "defaults to 80% of RAM, 18.8 GiB here), so RSS grows with the library: a 64 MB "
        "DuckDB memory_limit took 346 -> 299 MB at 3,000 files (memory_constrained: 297 -> "
        "258 MB; MALLOC_ARENA_MAX=2 made no difference, and the Python heap peaks at ~60 MB, "
        "so the rest is native: Pillow buffers and DuckDB), and the 10,000-file library "
        "is 184 MB on disk (110 MB of it thumbnails). Recommended: store/db.py passes "
        "`memory_limit` (a new performance setting, e.g. 64 MB in memory_constrained, 256 MB "
        "by default) to duckdb.connect; the memory_constrained profile uses max_workers 2 on "
        "small machines. Expected with both: ~240 MB at 3,000 files and a flat curve "
        "beyond (the buffer pool no longer grows with the library)."),
    "tag.": (
        "Library.tag is one IN-list lookup of the 500 ids (primary-key index) plus one "
        "INSERT ... ON CONFLICT of 500 tag rows; ~16 ms on a quiet machine, the spread is "
        "other load on the 2 cores."),
    "rescan": (
        "the rescan is one index query for the known inbox files plus one stat per file "
        "(pipeline/scan.py) and a Library.organize round; see the profile note."),
}


def legacy(rows: list) -> str:  # list[report.Row]; untyped to avoid an import cycle
    """The older design's published but never measured table, beside this run's figures."""
    by_key = {r.key: r for r in rows}

    def fig(key: str) -> str:
        row = by_key.get(key)
        return row.figure.split(" ±")[0].split(" (n=")[0] if row else "not run"

    per_file = by_key.get("index.phash")
    per_file_text = f"{1000 / per_file.value:.1f} ms" if per_file and per_file.value else "n/a"
    return "\n".join([
        "The design this project replaces published, without measuring it: insert 1,000 "
        "assets ~30 s one by one and ~2 s batched; update 500 tags ~1 s; search by tags "
        "~0.5 s; ~0.15 s per file. Measured here: 1,000 asset rows one by one "
        f"{by_key['insert.1000.ratio'].versus.split(': ')[1] if 'insert.1000.ratio' in by_key else 'not run'}"
        f", batched {fig('insert.1000')}; 500 tag updates {fig('tag.500')}; search by tags "
        f"{fig('search.tags.100000.uncached')} on 100,000 assets and "
        f"{fig('search.tags.1000000.uncached')} on 1,000,000; {per_file_text} per file of "
        "wall time for full indexing on 2 cores.",
    ])


def why(key: str) -> str:
    """The known cause of a missed target for row `key` (longest matching prefix)."""
    for prefix in sorted(_WHY, key=len, reverse=True):
        if key.startswith(prefix):
            return _WHY[prefix]
    return "not analysed: profile this row (py-spy record -- python -m bench --only ...)."
