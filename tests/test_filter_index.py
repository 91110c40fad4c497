"""The in-memory filter index (store/filter_index.py) answers structured searches exactly as the
SQL path does, and never answers from before a write: its own or another process's."""

from __future__ import annotations

import random
import time
from pathlib import Path

import anyio
import duckdb
import pytest

from alice_mcp.config import load_settings
from alice_mcp.library import Library
from alice_mcp.results import SearchPage
from alice_mcp.store import query as q
from bench import synthetic

pytestmark = pytest.mark.anyio
COUNT = 4000


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic library with what the bench's lacks: NULLs in every nullable filter column,
    ties in every sort key, mixed and non-ASCII case, an engine, assets whose files vanished or
    wait in the inbox, assets with no location, and one tag given twice (two origins)."""
    path = tmp_path_factory.mktemp("filterindex") / "template.duckdb"
    synthetic.build_library(path, COUNT)
    con = duckdb.connect(str(path))
    try:
        for statement in (
            "UPDATE assets SET stars = NULL WHERE hash(asset_id, 1) % 7 = 0",
            "UPDATE assets SET created_at = NULL WHERE hash(asset_id, 2) % 11 = 0",
            "UPDATE assets SET created_at = TIMESTAMPTZ '2024-06-01 12:00:00+00' "
            "WHERE hash(asset_id, 3) % 13 = 0",  # ties: ordered by asset_id
            "UPDATE assets SET quality = NULL WHERE hash(asset_id, 4) % 9 = 0",
            "UPDATE assets SET quality = 50.0 WHERE hash(asset_id, 5) % 10 = 0",
            "UPDATE assets SET model = NULL, model_family = NULL WHERE hash(asset_id, 6) % 15 = 0",
            "UPDATE assets SET model = 'Modèle-İX Turbo' WHERE hash(asset_id, 7) % 17 = 0",
            "UPDATE assets SET source = 'MidJourney' WHERE source = 'midjourney' "
            "AND hash(asset_id, 8) % 2 = 0",
            "UPDATE assets SET width = NULL, height = NULL WHERE hash(asset_id, 9) % 19 = 0",
            "UPDATE assets SET seed = NULL WHERE hash(asset_id, 10) % 8 = 0",
            "UPDATE assets SET seed = 42 WHERE hash(asset_id, 11) % 23 = 0",
            "UPDATE assets SET engine = 'comfyui' WHERE source IN ('comfyui', 'invokeai')",
            "UPDATE assets SET media_type = 'video' WHERE hash(asset_id, 12) % 21 = 0",
            "UPDATE assets SET project = NULL WHERE hash(asset_id, 13) % 25 = 0",
            "UPDATE assets SET sampler = NULL WHERE hash(asset_id, 14) % 27 = 0",
            "UPDATE assets SET indexed_at = TIMESTAMPTZ '2025-02-01 00:00:00+00' "
            "WHERE hash(asset_id, 15) % 3 = 0",
            # vanished: the asset is kept, its location moves to missing_files
            "UPDATE assets SET missing_since = TIMESTAMPTZ '2025-03-01 00:00:00+00' "
            "WHERE hash(asset_id, 16) % 29 = 0",
            "INSERT INTO missing_files SELECT f.path, f.asset_id, f.role, a.missing_since "
            "FROM files f JOIN assets a USING (asset_id) WHERE a.missing_since IS NOT NULL",
            "DELETE FROM files WHERE asset_id IN (SELECT asset_id FROM missing_files)",
            # a second location waiting in the inbox, whose path sorts first
            "INSERT INTO files SELECT '/inbox/a-' || asset_id || '.png', asset_id, size, "
            "mtime_ns, 'inbox', seen_at FROM files WHERE hash(asset_id, 17) % 31 = 0",
            # no location at all
            "DELETE FROM files WHERE hash(asset_id, 18) % 37 = 0",
            # the same tag from two origins
            "INSERT INTO tags SELECT asset_id, tag, category, 'user', NULL FROM tags "
            "WHERE hash(asset_id, 19) % 41 = 0 AND origin = 'local'",
        ):
            con.execute(statement)
    finally:
        con.close()
    return path


def _queries(seed: int, count: int) -> list[tuple[str, int, int]]:
    """Random searches over every field the index answers, with limits and offsets."""
    rng = random.Random(seed)
    tags = synthetic.tag_vocabulary() + ["no-such-tag"]
    some_id = synthetic.asset_id_of(rng.randrange(COUNT))
    parts = [
        lambda: f'tag:"{rng.choice(tags)}"', lambda: f'-tag:"{rng.choice(tags)}"',
        lambda: f"source:{rng.choice([*synthetic.SOURCES, 'MIDJOURNEY', 'nope'])}",
        lambda: f"engine:{rng.choice(['comfyui', 'ComfyUI', 'a1111'])}",
        lambda: f"family:{rng.choice(['sdxl', 'flux', 'SD15', 'none'])}",
        lambda: f"project:{rng.choice([*synthetic.PROJECTS, 'Portraits'])}",
        lambda: f'sampler:"{rng.choice([*synthetic.SAMPLERS, "euler A"])}"',
        lambda: "model:" + rng.choice(["*xl*", "flux", "modèle*", "[sd]*", "dall-e-3", "*İ*",
                                       "?lux*", "juggernaut"]),
        lambda: f"stars:{rng.choice(['>=', '<=', '>', '<', ''])}{rng.randint(1, 5)}",
        lambda: f"w:{rng.choice(['>=', '<'])}{rng.choice([512, 832, 1024])}",
        lambda: f"h:{rng.choice(['>', '<='])}{rng.choice([512, 832, 1216])}",
        lambda: f"seed:{rng.choice(['42', '7'])}",
        lambda: f"after:{rng.choice(['2024-01-01', '2024-06-01', '2025-06-30'])}",
        lambda: f"before:{rng.choice(['2024-06-01', '2023-07-01T12:00:00+02:00', '2025-01-01'])}",
        lambda: f"type:{rng.choice(['image', 'video'])}",
        lambda: f"id:{some_id}", lambda: f"id:{some_id}ff", lambda: "missing:true",
        lambda: f"sort:{rng.choice(['newest', 'oldest', 'stars', 'quality', 'indexed'])}",
    ]
    found = []
    for _ in range(count):
        text = " ".join(rng.choice(parts)() for _ in range(rng.randint(0, 4)))
        found.append((text, rng.choice([1, 5, 20, 100]), rng.choice([0, 0, 3, 40])))
    return found


async def _answers(path: Path, index_mb: int, searches: list[tuple[str, int, int]]
                   ) -> tuple[list[SearchPage], list[list[str]], bool]:
    settings = load_settings(flags={"paths.database": path,
                                    "performance.search_cache_size": 0,
                                    "performance.search_index_mb": index_mb},
                             environ={}).settings
    with Library(settings) as library:
        await library.warm_up()
        pages, selections = [], []
        for text, limit, offset in searches:
            parsed = q.parse(text)
            cursor = q.encode_cursor(offset, parsed) if offset else None
            pages.append(await library.search(parsed, limit=limit, cursor=cursor))
            selections.append(sorted(await library.matching_ids(parsed)))
        used = library.filter_index.current() is not None
    return pages, selections, used


async def test_the_index_answers_every_structured_search_as_sql_does(built: Path) -> None:
    searches = _queries(seed=1, count=300)
    indexed, indexed_ids, used = await _answers(built, 256, searches)
    plain, plain_ids, unused = await _answers(built, 0, searches)
    assert used and not unused
    differing = [s for s, a, b in zip(searches, indexed, plain, strict=True) if a != b]
    assert not differing, differing[:5]
    assert indexed_ids == plain_ids
    # the searches found things: no agreement by both finding nothing
    assert sum(p.total > 0 for p in plain) > 150
    assert sum(len(p.results) > 1 for p in plain) > 100


async def test_stats_show_what_the_index_answered(built: Path) -> None:
    with _library(built, **{"performance.search_cache_size": 0}) as library:
        await library.warm_up()
        await library.search("tag:portrait")
        await library.search("fox")  # free words: neither a hit nor a miss
        figures = {c.name: c for c in (await library.stats()).process.caches}
    index = figures["filter_index"]
    assert (index.entries, index.hits, index.misses) == (COUNT, 1, 0)
    assert 0.1 < index.size_mb < index.max_mb


async def test_free_words_still_take_the_sql_path(built: Path) -> None:
    pages, _, used = await _answers(built, 256, [("fox tag:portrait", 20, 0)])
    assert used and pages[0].total > 0
    assert all("fox" in (r.prompt or "") or "fox" in r.tags for r in pages[0].results)


def _library(path: Path, **flags: object) -> Library:
    return Library(load_settings(flags={"paths.database": path, **flags}, environ={}).settings)


def _copy(built: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "library.duckdb"
    copy.write_bytes(built.read_bytes())
    return copy


async def _current(library: Library, seconds: float = 20.0) -> None:
    """Wait for the index to be read again after a write (it is read on a thread of its own)."""
    deadline = time.monotonic() + seconds
    while library.filter_index.current() is None:
        assert time.monotonic() < deadline, "the index was not read again after a write"
        time.sleep(0.05)


async def test_a_write_is_seen_by_the_next_search_and_by_the_index_read_after_it(
        built: Path, tmp_path: Path) -> None:
    with _library(_copy(built, tmp_path)) as library:
        await library.warm_up()
        first = (await library.search("sort:oldest", limit=1)).results[0].asset_id
        assert (await library.search("tag:just-tagged")).total == 0
        await library.tag([first], add=["just-tagged"])
        assert library.filter_index.current() is None  # stale: the SQL path answers
        assert [r.asset_id for r in (await library.search("tag:just-tagged")).results] == [first]
        await _current(library)
        page = await library.search("tag:just-tagged stars:>=1", limit=5)
        assert "just-tagged" in (await library.search(f"id:{first}")).results[0].tags
        assert page.total == (1 if (await library.get_asset(first)).fields["stars"] else 0)


async def test_another_process_writing_while_the_file_was_released_is_seen(
        built: Path, tmp_path: Path) -> None:
    path = _copy(built, tmp_path)
    with _library(path) as server:
        await server.warm_up()
        assert (await server.search("tag:from-elsewhere")).total == 0
        assert server.release_if_idle(0)
        with _library(path) as other:  # what an `alice` command beside the server does
            some = (await other.search("sort:newest", limit=3)).results
            await other.tag([r.asset_id for r in some], add=["from-elsewhere"])
        assert (await server.search("tag:from-elsewhere")).total == 3
        await _current(server)
        assert (await server.search("tag:from-elsewhere")).total == 3


async def test_letting_go_of_the_file_keeps_the_index_when_nobody_wrote(
        built: Path, tmp_path: Path) -> None:
    """The server lets go of the file after 2 s idle: coming back must not mean a re-read."""
    with _library(_copy(built, tmp_path), **{"performance.search_cache_size": 0}) as server:
        await server.warm_up()
        index = server.filter_index.current()
        before = await server.search("tag:portrait", limit=3)
        for _ in range(3):
            assert server.release_if_idle(0)
            assert await server.search("tag:portrait", limit=3) == before
            assert server.filter_index.current() is index


async def test_a_library_too_large_for_its_budget_searches_through_duckdb(
        built: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with _library(built, **{"performance.search_index_mb": 1}) as library:
        await library.warm_up()
        assert library.filter_index.current() is None
        assert (await library.search("tag:portrait")).total > 0
    said = capsys.readouterr()  # structlog's own printer in tests; stderr in the faces
    assert "raise performance.search_index_mb" in said.out + said.err


async def test_through_the_server_a_tag_is_found_at_once_and_then_from_memory(
        tmp_path: Path) -> None:
    """The MCP server reads its index at start and after writes; the tag tool's write is seen
    by the very next search, then answered from the index read again (stats say which)."""
    from mcp import Client

    from alice_mcp import samples
    from alice_mcp.server import build_server

    samples.make_sample_inbox(tmp_path / "inbox", count=12, seed=5)
    settings = load_settings(flags={"paths.inbox": tmp_path / "inbox",
                                    "paths.organized": tmp_path / "organized",
                                    "paths.database": tmp_path / "lib.duckdb",
                                    "performance.search_cache_size": 0}, environ={}).settings

    async def figures(client: Client) -> dict[str, int]:
        stats = (await client.call_tool("stats", {})).structured_content
        index = next(c for c in stats["process"]["caches"] if c["name"] == "filter_index")
        return {"entries": index["entries"], "hits": index["hits"], "misses": index["misses"],
                "assets": stats["assets"]}

    async def from_memory(client: Client) -> dict[str, int]:
        deadline = time.monotonic() + 20
        while True:
            before = await figures(client)
            await client.call_tool("search", {"query": "type:image"})
            after = await figures(client)
            if after["hits"] > before["hits"]:
                return after
            assert time.monotonic() < deadline, after
            await anyio.sleep(0.1)

    async with Client(build_server(settings), raise_exceptions=True) as client:
        assert not (await client.call_tool("organize", {})).is_error
        held = await from_memory(client)
        assert held["entries"] == held["assets"] > 0
        page = (await client.call_tool("search", {"query": "sort:oldest", "limit": 2})
                ).structured_content
        ids = [r["asset_id"] for r in page["results"]]
        await client.call_tool("tag", {"asset_ids": ids, "add": ["Picked"]})
        misses = (await figures(client))["misses"]
        found = (await client.call_tool("search", {"tags_all": ["picked"]})).structured_content
        assert sorted(r["asset_id"] for r in found["results"]) == sorted(ids)
        assert (await figures(client))["misses"] == misses + 1  # stale: DuckDB answered
        await from_memory(client)
        found = (await client.call_tool("search", {"query": "tag:picked"})).structured_content
        assert sorted(r["asset_id"] for r in found["results"]) == sorted(ids)
        assert all("picked" in r["tags"] for r in found["results"])


async def test_many_model_patterns_keep_memory_bounded_and_answers_right(built: Path) -> None:
    """Every search may bring its own model pattern: the index remembers a bounded number of
    them (as model codes), and a forgotten one is matched again, the same way."""
    from alice_mcp.store.filter_index import GLOB_CACHE

    with _library(built, **{"performance.search_cache_size": 0}) as library:
        await library.warm_up()
        index = library.filter_index.current()
        assert index is not None
        first = (await library.search("model:*xl*", limit=100)).total
        for n in range(GLOB_CACHE * 2):
            await library.search(f"model:*pattern-{n}*")
        assert len(index._globs) <= GLOB_CACHE
        assert library.filter_index.current() is index  # all from memory
        assert (await library.search("model:*xl*", limit=100)).total == first > 0
