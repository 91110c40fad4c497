"""XMP sidecars, the organized tree followed, clean moves and export: end to end on real images,
a real DuckDB file, sidecars laid out as digiKam and darktable write them, and exiftool."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from alice_mcp import samples
from alice_mcp.config import load_settings
from alice_mcp.errors import SidecarError
from alice_mcp.library import Library
from alice_mcp.sidecars.xmp import SidecarFacts, merge_sidecar, read_sidecar

pytestmark = pytest.mark.anyio

# as digiKam (Exiv2) writes a sidecar: simple properties as attributes, arrays as elements
DIGIKAM = b"""<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:digiKam="http://www.digikam.org/ns/1.0/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:lr="http://ns.adobe.com/lightroom/1.0/"
   xmp:Rating="4">
   <digiKam:TagsList>
    <rdf:Seq>
     <rdf:li>style/Neon Noir</rdf:li>
     <rdf:li>People/Alice</rdf:li>
    </rdf:Seq>
   </digiKam:TagsList>
   <lr:hierarchicalSubject>
    <rdf:Bag>
     <rdf:li>style|Neon Noir</rdf:li>
    </rdf:Bag>
   </lr:hierarchicalSubject>
   <dc:subject>
    <rdf:Bag>
     <rdf:li>Neon Noir</rdf:li>
     <rdf:li>Alice</rdf:li>
     <rdf:li>rainy street</rdf:li>
    </rdf:Bag>
   </dc:subject>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>
"""

# as darktable writes one: attributes, and a history stack alice must keep
DARKTABLE = b"""<?xml version="1.0" encoding="UTF-8"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:darktable="http://darktable.sf.net/"
   xmp:Rating="1"
   darktable:xmp_version="5"
   darktable:history_end="2">
   <darktable:history>
    <rdf:Seq>
     <rdf:li darktable:num="0" darktable:operation="exposure" darktable:enabled="1"
      darktable:params="0000000000000000"/>
     <rdf:li darktable:num="1" darktable:operation="colorbalancergb" darktable:enabled="1"
      darktable:params="gz12eJxjYGBgYAJiCQYYAAAGTAAp"/>
    </rdf:Seq>
   </darktable:history>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:subject><rdf:Bag>
<rdf:li>&lol3;</rdf:li></rdf:Bag></dc:subject></rdf:Description></rdf:RDF></x:xmpmeta>"""


def _xxe(secret: Path) -> bytes:
    return (f"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY xxe SYSTEM "file://{secret}">]>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:subject><rdf:Bag>
<rdf:li>&xxe;</rdf:li></rdf:Bag></dc:subject></rdf:Description></rdf:RDF></x:xmpmeta>""").encode()


def _auto(tmp_path: Path, inbox: Path, organized: Path, **extra: object) -> Library:
    flags = {"paths.inbox": inbox, "paths.organized": organized,
             "paths.database": tmp_path / "library.duckdb", "sidecars.write": "auto", **extra}
    return Library(load_settings(flags=flags).settings)


def _organized_media(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.png") if p.is_file())


def test_digikam_sidecar_as_written_by_exiv2_is_read() -> None:
    found = read_sidecar(DIGIKAM)
    assert sorted(found.tags) == [("custom", "alice"), ("custom", "rainy street"),
                                  ("style", "neon noir")]
    assert found.stars == 4


def test_merge_keeps_a_darktable_history_stack_and_replaces_only_alices_properties() -> None:
    facts = SidecarFacts(tags=[("style", "neon"), ("custom", "cat")], stars=5,
                         description="a cat in neon", generated=True,
                         generation={"Prompt": "a cat", "Seed": "42"})
    out = merge_sidecar(DARKTABLE, facts)
    text = out.decode()
    assert 'darktable:operation="colorbalancergb"' in text
    assert 'darktable:params="gz12eJxjYGBgYAJiCQYYAAAGTAAp"' in text
    assert 'darktable:xmp_version="5"' in text and 'darktable:history_end="2"' in text
    assert 'xmp:Rating="1"' not in text  # alice's rating replaced darktable's attribute
    again = read_sidecar(out)
    assert again.stars == 5 and sorted(again.tags) == [("custom", "cat"), ("style", "neon")]
    assert "trainedAlgorithmicMedia" in text and "<alice:Prompt>a cat</alice:Prompt>" in text
    assert re.search(r"<dc:description>.*a cat in neon.*</dc:description>", text, re.DOTALL)
    # a second write over alice's own output changes nothing (idempotent round trip)
    assert merge_sidecar(out, facts) == out


def test_hostile_sidecars_are_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    for bad in (BILLION_LAUGHS, _xxe(secret), b"<x:xmpmeta><unclosed>", b"\x00\xff garbage"):
        with pytest.raises(SidecarError):
            read_sidecar(bad)
        with pytest.raises(SidecarError):
            merge_sidecar(bad, SidecarFacts())


async def test_round_trip_tag_star_write_edit_as_digikam_rescan(tmp_path: Path, inbox: Path,
                                                               organized: Path) -> None:
    samples.write_a1111_png(inbox / "a.png", prompt="a knight", seed=1)
    samples.write_a1111_png(inbox / "b.png", prompt="a queen", seed=2)
    with _auto(tmp_path, inbox, organized) as library:
        report = await library.organize()
        assert report.organized == 2 and report.sidecars_written == 2
        page = await library.search("knight")
        asset = page.results[0].asset_id
        original = Path(page.results[0].path).read_bytes()
        result = await library.tag([asset], ["Castle", "spare"], category="subject", stars=3)
        assert result.sidecars_written == 1
        media = Path(page.results[0].path)
        side = media.with_name(media.name + ".xmp")
        written = side.read_text("utf-8")
        assert "subject|castle" in written and "subject/castle" in written
        assert "<xmp:Rating>3</xmp:Rating>" in written
        assert "trainedAlgorithmicMedia" in written and "a knight" in written
        assert media.read_bytes() == original  # the original is never touched
        # edit as digiKam would: a new TagsList entry and another rating
        edited = written.replace("<rdf:li>subject/castle</rdf:li>",
                                 "<rdf:li>subject/castle</rdf:li><rdf:li>mood/Gloomy</rdf:li>")
        edited = edited.replace("<xmp:Rating>3</xmp:Rating>", "<xmp:Rating>5</xmp:Rating>")
        edited = re.sub(r"<rdf:li>(subject[|/])?spare</rdf:li>", "", edited)  # and one taken out
        assert "spare" not in edited
        assert edited != written
        side.write_text(edited, "utf-8")
        (side.parent / "broken.png.xmp").write_text("<not xml", "utf-8")
        shutil.copy(media, side.parent / "broken.png")
        again = await library.organize()
        assert again.sidecars_read == 1 and again.indexed_in_place == 0
        assert again.relinked == 1  # broken.png: same bytes, a second location
        assert [w.path for w in again.warnings] == [str(side.parent / "broken.png.xmp")]
        detail = await library.get_asset(asset)
        users = {(t.tag, t.category) for t in detail.tags if t.origin == "user"}
        assert ("gloomy", "mood") in users and ("castle", "subject") in users
        assert "spare" not in {t.tag for t in detail.tags}
        assert detail.fields["stars"] == 5
        # a later analyze or rescan does not take the edit back
        third = await library.organize()
        assert third.sidecars_read == 0
        assert (await library.get_asset(asset)).fields["stars"] == 5
        refreshed = await library.write_sidecars(f"id:{asset}")
        assert refreshed.written == 1 and refreshed.read == 0
    if shutil.which("exiftool") is None:
        print("exiftool not installed (apt-get install libimage-exiftool-perl): skipped that check")
        return
    out = subprocess.run(["exiftool", "-j", "-xmp:all", str(side)], capture_output=True,
                         text=True, check=True)
    tags = json.loads(out.stdout)[0]
    assert tags["Rating"] == 5
    assert set(tags["Subject"]) == {"castle", "gloomy"}
    assert "mood|gloomy" in tags["HierarchicalSubject"]
    assert "mood/gloomy" in tags["TagsList"]


async def test_stem_naming_writes_the_lightroom_name(tmp_path: Path, inbox: Path,
                                                   organized: Path) -> None:
    samples.write_a1111_png(inbox / "a.png", prompt="a knight", seed=1)
    with _auto(tmp_path, inbox, organized, **{"sidecars.naming": "stem"}) as library:
        report = await library.organize()
        media = Path((await library.search("knight")).results[0].path)
    assert report.sidecars_written == 1
    assert media.with_suffix(".xmp").is_file()  # <file>.xmp, as Lightroom names it
    assert not media.with_name(media.name + ".xmp").exists()
    assert "a knight" in media.with_suffix(".xmp").read_text("utf-8")


async def test_hostile_sidecars_in_the_tree_are_warnings_and_leak_nothing(
        tmp_path: Path, inbox: Path, organized: Path) -> None:
    samples.write_a1111_png(inbox / "a.png", prompt="a knight", seed=1)
    samples.write_a1111_png(inbox / "b.png", prompt="a queen", seed=2)
    secret = tmp_path / "secret.txt"
    secret.write_text("topsecretvalue")
    with _auto(tmp_path, inbox, organized, **{"sidecars.write": "off"}) as library:
        await library.organize()
        first, second = _organized_media(organized)
        first.with_name(first.name + ".xmp").write_bytes(BILLION_LAUGHS)
        second.with_suffix(".xmp").write_bytes(_xxe(secret))  # the stem naming
        report = await library.organize()
        assert sorted(w.path for w in report.warnings) == sorted(
            [str(first) + ".xmp", str(second.with_suffix(".xmp"))])
        assert report.sidecars_read == 0
        assert (await library.search("topsecretvalue")).total == 0
        assert (await library.search("lol")).total == 0


async def test_files_moved_renamed_and_deleted_by_hand_are_followed(
        tmp_path: Path, inbox: Path, organized: Path) -> None:
    for i, prompt in enumerate(["a knight", "a queen", "a castle"]):
        samples.write_a1111_png(inbox / f"{i}.png", prompt=prompt, seed=i)
    with _auto(tmp_path, inbox, organized, **{"sidecars.write": "off"}) as library:
        await library.organize()
        ids = {r.prompt: r.asset_id for r in (await library.search()).results}
        await library.tag([ids["a knight"]], ["hero"], stars=4)
        paths = {r.prompt: Path(r.path) for r in (await library.search()).results}
        moved = organized / "favourites" / "best knight.png"
        moved.parent.mkdir()
        paths["a knight"].rename(moved)
        renamed = paths["a queen"].with_name("queen.png")
        paths["a queen"].rename(renamed)
        paths["a castle"].unlink()
        added = organized / "by hand.png"
        samples.write_plain_png(added, seed=9)

        report = await library.organize()

        assert report.relinked == 2 and report.indexed_in_place == 1
        assert report.missing == [str(paths["a castle"])]
        knight = (await library.search("tag:hero")).results
        assert [r.path for r in knight] == [str(moved)] and knight[0].stars == 4
        assert (await library.search("queen")).results[0].path == str(renamed)
        assert (await library.search("castle")).total == 0  # hidden by default
        gone = (await library.search("missing:true")).results
        assert [(r.prompt, r.path, r.missing) for r in gone] == [
            ("a castle", str(paths["a castle"]), True)]
        stats = await library.stats()
        assert stats.missing == 1 and stats.assets == 4
        assert str(added) in {r.path for r in (await library.search()).results}
        # unchanged files cost one stat each and nothing else
        quiet = await library.organize()
        assert quiet.relinked == 0 and quiet.indexed_in_place == 0 and quiet.missing == []


async def test_a_rescan_of_the_tree_reads_no_unchanged_file(tmp_path: Path, inbox: Path,
                                                           organized: Path) -> None:
    # an unchanged file costs its stat: bytes swapped under the same size and mtime are not
    # read (nor hashed), so the asset stays; a real change (new mtime) is read again
    for i, prompt in enumerate(["a knight", "a queen"]):
        samples.write_a1111_png(inbox / f"{i}.png", prompt=prompt, seed=i)
    with _auto(tmp_path, inbox, organized, **{"sidecars.write": "off"}) as library:
        await library.organize()
        knight = (await library.search("knight")).results[0]
        queen = Path((await library.search("queen")).results[0].path)
        media = Path(knight.path)
        before = media.stat()
        data = bytearray(media.read_bytes())
        data[-20] ^= 0xFF  # one byte flipped: other bytes, same size
        media.write_bytes(bytes(data))
        os.utime(media, ns=(before.st_atime_ns, before.st_mtime_ns))
        quiet = await library.organize()
        assert (quiet.relinked, quiet.indexed_in_place, quiet.missing) == (0, 0, [])
        assert (await library.search("knight")).results[0].asset_id == knight.asset_id
        queen.write_bytes(queen.read_bytes() + b"\0")  # a real change: new size and mtime
        changed = await library.organize()
        assert changed.indexed_in_place == 1 and changed.missing != []


async def test_move_of_duplicates_empties_the_inbox(tmp_path: Path, inbox: Path,
                                                   organized: Path) -> None:
    samples.write_a1111_png(inbox / "a.png", prompt="a knight", seed=1)
    samples.write_a1111_png(inbox / "b.png", prompt="a queen", seed=2)
    with _auto(tmp_path, inbox, organized, **{"sidecars.write": "off"}) as library:
        await library.organize()  # copies: the inbox keeps both
        (inbox / "again").mkdir()
        shutil.copy(inbox / "a.png", inbox / "again" / "a.png")  # a third copy of the knight
        originals = {p.read_bytes() for p in inbox.rglob("*.png")}

        report = await library.organize(move=True)

        assert [p for p in inbox.rglob("*") if p.is_file()] == []
        assert report.duplicates == 3 and report.duplicates_moved == 3 and report.organized == 0
        dupes = sorted((organized / "_duplicates").rglob("*.png"))
        assert len(dupes) == 3
        tree = [p.read_bytes() for p in organized.rglob("*.png")]
        assert all(tree.count(b) >= 1 for b in originals) and len(tree) == 5
        locations = (await library.get_asset(
            (await library.search("knight")).results[0].asset_id)).locations
        assert sum("/_duplicates/" in loc.path for loc in locations) == 2, [loc.path for loc in locations]
        assert all(loc.role == "organized" for loc in locations)
        assert (await library.organize(move=True)).relinked == 0  # all recorded already


async def test_a_near_duplicate_is_organized_normally_and_found_by_duplicates(
        tmp_path: Path, inbox: Path, organized: Path) -> None:
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    samples.write_a1111_png(inbox / "a.png", prompt="a knight", seed=1)
    info = PngInfo()
    info.add_text("parameters", "a knight, retouched\nSteps: 20, Seed: 1")
    with Image.open(inbox / "a.png") as picture:  # the same pixels, other bytes
        picture.save(inbox / "b.png", pnginfo=info)
    assert (inbox / "a.png").read_bytes() != (inbox / "b.png").read_bytes()
    with _auto(tmp_path, inbox, organized, **{"sidecars.write": "off"}) as library:
        report = await library.organize(move=True)
        assert report.organized == 2 and report.duplicates == 0
        assert [p for p in inbox.rglob("*") if p.is_file()] == []
        assert not (organized / "_duplicates").exists()
        ids = {r.asset_id for r in (await library.search()).results}
        groups = (await library.duplicates()).groups
        assert [{hit.asset_id for hit in g.assets} for g in groups] == [ids] and len(ids) == 2


async def test_export_csv_json_parquet_and_rows(tmp_path: Path, inbox: Path,
                                                organized: Path) -> None:
    samples.write_a1111_png(inbox / "a.png", prompt="a knight", seed=11)
    samples.write_a1111_png(inbox / "b.png", prompt="a queen", seed=12)
    with _auto(tmp_path, inbox, organized, **{"sidecars.write": "off"}) as library:
        await library.organize()
        knight = (await library.search("knight")).results[0].asset_id
        await library.tag([knight], ["hero"], stars=4)
        rows = await library.export("knight")
        assert rows.total == 1 and rows.rows[0]["seed"] == 11
        assert rows.rows[0]["tags"] == ["hero"] and rows.rows[0]["stars"] == 4
        assert rows.rows[0]["generator"] == "a1111" and len(rows.rows[0]["paths"]) == 2
        out = await library.export(None, output=tmp_path / "all.csv")
        assert out.total == 2 and out.format == "csv"
        with (tmp_path / "all.csv").open() as fp:
            read = list(csv.DictReader(fp))
        assert {r["prompt"] for r in read} == {"a knight", "a queen"}
        await library.export("knight", fmt="json", output=tmp_path / "k.json")
        assert json.loads((tmp_path / "k.json").read_text())[0]["tags"] == ["hero"]
        await library.export(None, output=tmp_path / "all.parquet")
        assert (tmp_path / "all.parquet").read_bytes()[:4] == b"PAR1"


async def test_an_older_library_opened_read_only_is_upgraded_once(tmp_path: Path, inbox: Path,
                                                                 organized: Path) -> None:
    import duckdb

    samples.write_a1111_png(inbox / "a.png", prompt="a knight", seed=1)
    with _auto(tmp_path, inbox, organized, **{"sidecars.write": "off"}) as library:
        await library.organize()
    with duckdb.connect(str(tmp_path / "library.duckdb")) as conn:  # as an older alice left it
        conn.execute("DROP TABLE sidecars")
        conn.execute("DROP TABLE missing_files")
        conn.execute("ALTER TABLE assets DROP COLUMN missing_since")
    settings = load_settings(flags={"paths.inbox": inbox, "paths.organized": organized,
                                    "paths.database": tmp_path / "library.duckdb"}).settings
    with Library(settings, read_only=True) as library:
        assert (await library.search("knight")).total == 1
        assert (await library.stats()).missing == 0


async def test_inbox_sidecars_travel_with_their_files_and_are_read(tmp_path: Path, inbox: Path,
                                                                  organized: Path) -> None:
    samples.write_a1111_png(inbox / "a.png", prompt="a knight", seed=1)
    samples.write_a1111_png(inbox / "b.png", prompt="a queen", seed=2)
    (inbox / "a.png.xmp").write_bytes(DIGIKAM)
    (inbox / "b.xmp").write_bytes(DARKTABLE)  # Lightroom-style name, darktable content
    with _auto(tmp_path, inbox, organized) as library:
        report = await library.organize(move=True)
        assert [p for p in inbox.rglob("*") if p.is_file()] == []
        assert report.sidecars_read == 2 and report.warnings == []
        knight = (await library.search("knight")).results[0]
        assert knight.stars == 4 and {"neon noir", "alice", "rainy street"} <= set(knight.tags)
        queen = (await library.search("queen")).results[0]
        assert queen.stars == 1
        side = Path(queen.path).with_name(Path(queen.path).name + ".xmp")
        text = side.read_text("utf-8")
        assert 'darktable:operation="colorbalancergb"' in text  # the history stack survived
        assert "a queen" in text  # and alice's view was merged in (sidecars.write: auto)


async def test_auto_sidecars_follow_analyze_and_user_edits_survive_it(
        tmp_path: Path, inbox: Path, organized: Path) -> None:
    samples.write_a1111_png(inbox / "a.png", prompt="a red castle at sunset, cinematic", seed=1)
    with _auto(tmp_path, inbox, organized) as library:
        await library.organize()
        hit = (await library.search()).results[0]
        side = Path(hit.path).with_name(Path(hit.path).name + ".xmp")
        before = side.read_bytes()
        text, n = re.subn(r"<xmp:Rating>\d</xmp:Rating>", "<xmp:Rating>2</xmp:Rating>",
                          before.decode())
        assert n == 1
        side.write_text(text, "utf-8")  # a user's edit not read yet...
        report = await library.analyze(provider="local")
        assert report.analyzed == 1
        # ...is read before alice rewrites the sidecar with the analysis, and wins
        after = read_sidecar(side.read_bytes())
        assert after.stars == 2 and (await library.get_asset(hit.asset_id)).fields["stars"] == 2
        analysed = {t.tag for t in (await library.get_asset(hit.asset_id)).tags}
        assert analysed and analysed <= {t for _, t in after.tags}
        assert b"dc:description" in side.read_bytes() or not (
            await library.get_asset(hit.asset_id)).fields["description"]
        again = await library.analyze(provider="local", force=True)
        assert again.analyzed == 1
        assert (await library.get_asset(hit.asset_id)).fields["stars"] == 2


def test_sidecars_pair_with_their_file_in_either_naming_and_never_a_guess() -> None:
    from alice_mcp.sidecars.sync import pair_sidecars

    media = [Path("/t/a.png"), Path("/t/b.png"), Path("/t/c.png"), Path("/t/c.jpg")]
    found = pair_sidecars({"/t/a.png.xmp": (1, 1), "/t/b.xmp": (2, 2), "/t/c.xmp": (3, 3),
                           "/t/c.jpg.xmp": (4, 4), "/t/zzz.xmp": (5, 5)}, media + media)
    assert found == [("/t/a.png.xmp", "/t/a.png", (1, 1)), ("/t/b.xmp", "/t/b.png", (2, 2)),
                     ("/t/c.jpg.xmp", "/t/c.jpg", (4, 4))]  # c.xmp: two files named c
