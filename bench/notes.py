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
- **Start-up** (`bench/startup.py`): `alice --version`, `alice --help` and `alice` on a
  400-file inbox it organized just before (nothing changed), each a whole process from exec to
  exit (the installed `alice` script), one warm-up then the median of several; the rescan's
  CPU time too (user + system of the process: steadier than wall time on a shared machine).
- **End to end** (`bench/endtoend.py`): `alice` organizing 400 PNGs of 512x512 with A1111
  metadata into a fresh library, a whole process (start-up, scan, index, copy with fsync,
  commit), against Pillow decoding every file in full in 2 processes (the floor) and
  imagehash.phash in 1 process, rounds alternating, the first a warm-up; default settings
  (worker processes) and the same with threads; the threads run's CPU time (user + system of
  the process) beside its wall time (the worker processes are not its waited-for children).
- **Inserts**: `BatchWriter.write_all` of realistic asset rows (every column, a JSON params
  document, timestamps) into a fresh library file, committed, default batch sizes (1,000 rows
  a statement, a commit every 5,000); `batched=False` is one INSERT per row. "DuckDB's own
  floor" runs the writer's statement (a plain INSERT: the fresh library has none of the keys)
  with the same rows from a copy already inside DuckDB (no Python values).
- **Search and find_similar**: `Library.search` / `Library.similar` on synthetic libraries
  built by DuckDB SQL (`bench/synthetic.py`: realistic columns, 5 tags per asset out of 100,
  so a tag matches ~5% of assets, one organized location each). Uncached: the search cache is
  emptied before every call and each call asks for a different tag, word or filter set;
  cached: the same query again. p50 and p95 over the calls.
- **MCP**: the real client (`mcp.Client` + `StdioServerParameters`) against
  `python -m alice_mcp mcp-server` on the 100,000-asset library; `search` round trips.
- **Memory**: the real `alice` command in a fresh process per profile, fresh library and
  organized folder; peak RSS is the kernel's high-water mark (VmHWM) of that process, plus
  the RSS of its worker processes at the same moment where the profile uses them
  (performance.executor: processes; pages they share with their forkserver counted in each)."""

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
  88x -> 141x.
- `store/upkeep.py` (session 2): the tags table is rewritten in tag order after an analyze
  run or a tag edit of 10,000+ rows once a quarter of it (and 250,000+ rows) arrived out of
  order, so `tag = ?` reads 2 of 41 row groups on 1,000,000 assets (zone maps); and
  `assets.asset_id` is stored uncompressed (schema.sql), because decoding FSST-compressed
  random hex for every probe cost more than half of a tag search. The synthetic libraries get
  the same upkeep after they are built (its time is printed). Tag search on 1,000,000 assets:
  p50 94.8 ms before; MCP search round trip on 100,000: 20.4 ms before (see the table).
- `metadata/` (session 2): parsers declare the container fields they read and are only
  called when those are present; PNG/WebP readers track their position instead of calling
  tell(); JPEG reads page-aligned 4 KiB blocks and steps over skipped segments; EXIF entries
  unpacked in one go; A1111's regex runs once. Same results on 2,169 sample, fixture and
  damaged files and 39,000 random mutations/graphs. JPEG 2.0x -> ~3.4x, WebP 2.4x -> ~3.8x,
  PNG 7.3x -> ~11x sd_parsers.
- `quality.py`, `media/pixels.py` (session 2): quality statistics on every third row
  instead of a scattered grid, histograms on sampled pixels, pHash by two matrix products on
  imagehash's own 32x32 image (falls back to imagehash when a value ties the median, so stored
  hashes are bit-identical), thumbnails by one exact-factor reduce. Pixel work per image
  2.13 -> 1.59 ms on one thread.
- `store/writer.py` (session 2): plain INSERT until a batch meets a stored key (ON
  CONFLICT cost ~3 ms of planning a statement and grew with the table), then ON CONFLICT for
  that table; columns built with itemgetter, masked arrays for missing numbers, no per-value
  type sniffing of text columns. Interleaved with the old writer: 1,000 rows 38.5 -> 22.5 ms,
  100,000 rows 4.37 -> 2.85 s (at load 7-10).
- `store/db.py`, `pipeline/pool.py` (session 3): DuckDB's memory limit is a performance
  setting (`duckdb_memory_limit_mb`: 32 MB in memory_constrained, 256 MB by default; before,
  DuckDB's default of 80% of RAM let its buffer pool keep every block an organize run wrote),
  raised to what the library's indexes need (~64 bytes a row) since those cannot spill; and on
  glibc the mmap threshold is pinned at 2 MiB so decoded images go back to the OS when freed
  (unpinned, glibc raises it up to 32 MiB and the workers' buffers stay in their arenas).
  Peak RSS organizing 10,000 files, memory_constrained: 346 MB at 3,000 files before, now
  see the table.
- `store/query.py`, `store/assets.py` (session 3): the page of a search materialises its
  matches (id and sort keys) once, then counts and sorts them; `count(*) OVER ()` over the same
  rows had cost as much again. A page's display columns, first path and tags are three plain
  index lookups (paths and tags on threads of their own, chosen and sorted in Python) instead
  of one statement joining and grouping them (twice as slow on 1,000,000 assets). Same pages,
  same totals (compared query by query). 1,000,000 assets: tag search 50.4 -> ~35 ms, text
  search 357 -> ~200 ms, no filter 53 -> 12.5 ms (page query alone); 100,000 assets:
  Library.search 11.7 -> 8.3 ms.
- `results.py` (session 3): output schemas publish `X | None` as `{"type": [X, "null"]}`
  instead of an anyOf: the same schema, and the Python SDK client, which validates every
  structured result, checks a 20-hit search page in 1.7 instead of 2.3 ms. MCP search round
  trip on 100,000 assets: 18.1 ms before these two changes (see the table)."""

_WHY: dict[str, str] = {
    "e2e.": (
        "PNGs are inflated by ISA-L (media/png.py; 1.8x Pillow's decode on these files) in "
        "worker processes (the default executor; no GIL between files), each file read once: "
        "a worker writes the copy it read into the organized tree's staging folder and placing "
        "only names it (pipeline/staging.py). What is left is work the floor does not do: "
        "BLAKE2b, metadata, grey, quality, pHash/dHash, the thumbnail (together ~5.4 ms a file "
        "in a worker against ~5.6 ms for Pillow's decode alone), the placing process's rows, "
        "fsyncs and pipe traffic (~1.6 ms a file), and what runs on one core: start-up (~0.4 "
        "s: imports, settings, DuckDB), the workers' start (~0.13 s: their forkserver imports "
        "the readers), the last batch's placement, the commit and DuckDB's close (~0.2 s). "
        "The 2-worker ratio of a whole run stays near 1.5x, and cannot reach 1.8x on 2 cores: "
        "the 1-worker run already places on the second core, and the serial parts are ~0.6 s "
        "of ~2.1 s. The per-file work, what the workers do, scales ~1.9x on 2 worker "
        "processes, as Pillow's decode alone does on this VM."),
    "startup.": (
        "a whole process's wall time, which on a shared 2-core machine grows with the load "
        "(an unchanged 400-file rescan: ~0.33 s of CPU, ~0.33 s wall at load 2, ~0.7 s at load "
        "6). What is left is imports the run needs (pydantic settings, DuckDB, anyio, "
        "structlog: `python -X importtime`), then ~70 ms of scan, index query and follow; "
        "nothing that only new files need is loaded (tests/test_startup.py)."),
    "detect.": (
        "per file, most of what is left is fixed cost: opening the file (~20%), the A1111 "
        "parameter regex, JSON parsing and the UTF-16 check of the EXIF UserComment. "
        "Parsers are dispatched on the container fields they declare (READS) and no longer "
        "run when those are absent; stopping at the first confident hit was not done because "
        "a later parser can add to it (ComfyUI + A1111, SwarmUI JSON with base_model). The "
        "JPEG ratio is ~3.4x in a quiet run and fell to 2.7x in one run at load 11-15."),
    "index.phash": (
        "imagehash.phash spends almost all its time decoding every pixel, and for PNG and "
        "WebP the pipeline must do the same full decode (Pillow has no reduced-size decoding "
        "for either; libwebp's scaled decoding is not exposed). Measured per file on one "
        "thread, phash costs only 1.14x the decode floor for PNG, 1.14x for WebP and 1.24x on "
        "the whole corpus, so even a pipeline that only decoded would be at most ~1.24x "
        "phash; 2x would need decoding faster than Pillow. PNG now is (ISA-L inflate, "
        "media/png.py: 1.14x phash on the mix, from 0.85x); JPEG has half-scale DCT decoding; "
        "WebP is left, a sixth of the files and ~40% of the time (libwebp's scaled decoding is "
        "not exposed)."),
    "index.floor": (
        "over the floor, per file on one thread: BLAKE2b of the whole file for the asset id "
        "(~0.6 ms average, 1.8 ms for a 1.6 MB PNG), detection (~0.25 ms), grey conversion + "
        "quality + pHash/dHash + thumbnail (~1.6 ms, after session 2's cuts from 2.1 ms: "
        "row-sampled quality statistics, pHash by matrix products, exact-factor reduce for "
        "thumbnails; the thumbnail's JPEG encode ~0.5 ms is Pillow's). Scanning, batches, rows "
        "and the commit add 0.13-0.27 s per 400 files, much of it serial, and with 8 threads "
        "on 2 cores about a quarter of the per-file work holds the GIL, so the wall-clock "
        "ratio sits ~10% above the CPU ratio (~1.3x). Measured in session 3 on the same 400 "
        "files: one thread 1.19-1.41x the floor per file; the part outside the workers "
        "(scan, rows, writer, commit) 0.15-0.2 s; fewer than two files in flight only 0.15 s "
        "of the run; a 0.5 ms GIL switch interval moved the ratio 1.46 -> 1.41x (not "
        "adopted: it is process-wide). The thread count matters to the pipeline, not to the "
        "floor: on these 2 cores the 400 files took 3.20 s with 2 workers (1.32x the floor "
        "with 2), 3.16 s with 4 (1.42x) and 3.65 s with the default 8 (1.55x), so on a 2-core "
        "machine max_workers 4 (memory_constrained) is also the faster setting."),
    "insert.": (
        "the targets sit at or below what DuckDB itself needs here: the same INSERT the writer "
        "runs into a fresh library, from a copy already inside DuckDB, committed, takes 7-9 ms "
        "for 1,000 rows (3.8 ms inserting, 4.2 ms committing) and 0.56-0.6 s for 100,000 (the "
        "floor beside the figure), leaving under 1 ms for 30,000 Python values at 1,000 rows. "
        "Profiled (pyinstrument), per 1,000 rows: building numpy columns from the Python rows "
        "3.6 ms, DuckDB reading them 7 ms (object columns of strings cost it more than its own "
        "table), the commit 4 ms. Per 100,000: 0.35 s columns, 0.69 s inserting, 0.67 s for "
        "the 20 commits the default transaction_size asks for, ~0.4 s of which are checkpoints "
        "(each time the WAL passes 16 MB); a larger checkpoint_threshold only moves that to "
        "close (1.27 s writing + 0.32 s closing). pyarrow would avoid the object columns but "
        "costs ~50 MB of RSS for ~10%."),
    "search.tags": (
        "the page query probes every asset_id against the tag's matches (a hash semi-join "
        "reading 1M ids, ~10 ms) and counts all matches for the total; the tags table is read "
        "in tag order (2 of 41 row groups at 1M); the page's display columns, paths and tags are "
        "three index lookups (~4-9 ms). The default profile caps DuckDB at 256 MB (raised to "
        "~460 MB for this library's indexes), so a 1.9 GB library is partly re-read: ~25 ms "
        "without the cap, ~33 ms with it. Next step if needed: an integer asset key (a 128-bit "
        "UHUGEINT key was ~1.7x faster than VARCHAR in the same experiment)."),
    "search.": "see the tag search note: the probe of every asset_id dominates.",
    "mcp.http.": (
        "client sessions and both servers share the machine's 2 cores, so on it the burst and "
        "paced rows measure CPU more than concurrency; read the ratio to the bare SDK server, "
        "measured in the same run: one returning an empty page, one returning a real page "
        "of alice's with alice's output schema (the SDK client validates every structured "
        "result against it, ~5 ms of client CPU for 20 hits: the burst's target reads against "
        "that one). Each session makes one call as it connects, before the timed calls (the "
        "client lists the tools and compiles the validator then); those are reported apart. "
        "The search cache is off, so every call is a search; structured searches are answered "
        "from the server's in-memory filter index (store/filter_index.py), the page's display "
        "columns by one DuckDB lookup."),
    "mcp.": (
        "the round trip is the search plus ~4-5 ms of MCP/JSON over stdio (the cached row "
        "is the protocol cost alone)."),
    "memory.": (
        "imports alone are ~90 MB (mcp, pydantic, duckdb, numpy, Pillow, av); each worker "
        "thread holds a decoded image (a 1024x1024 RGB is 3 MB, more while reducing); what "
        "remains is DuckDB's buffer pool, now capped by duckdb_memory_limit_mb (raised to "
        "~64 bytes a library row, because DuckDB cannot spill the ART indexes an insert or "
        "search touches). The fast profile asks for 16 workers and a 2 GB DuckDB cache, and "
        "large_collection for 10,000-row insert batches: both trade memory for speed."),
    "tag.": (
        "Library.tag is one IN-list lookup of the 500 ids (primary-key index) plus one "
        "INSERT ... ON CONFLICT of 500 tag rows; ~16 ms on a quiet machine, the spread is "
        "other load on the 2 cores."),
    "dask.": (
        "on one machine the LocalCluster adds its start (~1.3 s wall, ~1.5 s CPU: two "
        "interpreters importing distributed, numpy, Pillow and alice) and ~1.5 ms per file of "
        "scheduling, heartbeats and pickling; on a loaded machine 8 local threads also take a "
        "bigger share of the cores than 2 worker processes. Dask pays when machines are added "
        "(see the estimate row)."),
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
