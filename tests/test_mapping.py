"""Name and tag mapping to WordNet 3.0, the map-names command, and the shipped Open Images table."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from mlbuild import cli
from mlbuild._util.resources import wordnet_map
from mlbuild.classes import wordnet
from mlbuild.classes.mapping import Context, NameMapper, TagMapper, map_classes, map_names, openimages_wnids
from mlbuild.classes.mapping.compounds import namespace_prefixes
from mlbuild.classes.mapping.lexicon import Lexicon
from mlbuild.classes.mapping.tables import read_overrides
from mlbuild.classes.mapping.text import parse_name
from mlbuild.errors import InputError
from mlbuild.tools.openimages_map import COLUMNS, Inputs, build, write

SHIPPED = wordnet_map("openimages_wordnet.csv")
OVERRIDES = wordnet_map("openimages_overrides.csv")


@pytest.fixture(scope="module")
def wn():
    return wordnet.load()


@pytest.fixture(scope="module")
def mapper():
    return NameMapper()


@pytest.fixture(scope="module")
def tagger(mapper):
    return TagMapper(mapper)


@pytest.fixture(scope="module")
def shipped():
    with open(SHIPPED, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def is_under(wn, wnid: str, ancestor: str) -> bool:
    row = wn.row(wnid)
    return wn.row(ancestor) in wn.ancestors(row) | {row}


# --- names ---------------------------------------------------------------------------------

def test_qualifier_picks_the_animal_bat_not_the_club(mapper):
    found = mapper.map("Bat (Animal)")
    assert (found.synset, found.method) == ("bat.n.01", "qualifier") and found.score > 0.9
    assert mapper.map("Cricket (Insect)").synset == "cricket.n.01"
    assert mapper.map("Basketball (Ball)").synset == "basketball.n.02"
    assert mapper.map("Basketball (Sport)").synset == "basketball.n.01"


def test_qualifier_matches_an_ancestor_lemma(mapper, wn):
    organ = mapper.map("Organ (Musical Instrument)")
    assert organ.method == "qualifier" and is_under(wn, organ.wnid, "musical_instrument.n.01")
    assert NameMapper(vocabulary=()).map("Organ").synset == "organ.n.01"  # without the visual prior: the body part
    assert is_under(wn, mapper.map("Organ").wnid, "musical_instrument.n.01")  # with it: what people photograph


def test_qualifier_with_no_matching_sense_leaves_the_name_unmapped(mapper):
    for name in ("Poinsettia (Drink)", "Bat (Food)"):
        found = mapper.map(name)
        assert not found.mapped and found.reason == "qualifier_mismatch", name


def test_year_qualifiers_are_ignored(mapper):
    assert parse_name("Ford fairmont (1965)").qualifier == ("1965",)
    assert mapper.map("Ice cream (1999)").synset == "ice_cream.n.01"


@pytest.mark.parametrize("name,synset,method", [
    ("Dog", "dog.n.01", "exact_lemma"), ("DOGS", "dog.n.01", "morphology"), ("dogs", "dog.n.01", "morphology"),
    ("Geese", "goose.n.01", "morphology"), ("Glasses", "spectacles.n.01", "exact_lemma"),
    ("Swimming pool", "swimming_pool.n.01", "exact_lemma"), ("Human face", "face.n.01", "exact_lemma"),
    ("Swimming pools", "swimming_pool.n.01", "morphology"), ("T-shirt", "jersey.n.03", "exact_lemma"),
    ("tshirt", "jersey.n.03", "variant"), ("Crème brûlée", "creme_brulee.n.01", "exact_lemma"),
    ("Wine glass", "wineglass.n.01", "variant"), ("Ice-cream", "ice_cream.n.01", "exact_lemma"),
])
def test_lemma_lookup_with_case_plurals_multiwords_and_variants(mapper, name, synset, method):
    found = mapper.map(name)
    assert (found.synset, found.method) == (synset, method)
    assert 0.0 < found.score <= 1.0 and found.wnid.startswith("n")


def test_head_noun_fallback_and_where_it_is_refused(mapper):
    cone = mapper.map("Pistachio ice cream")
    assert (cone.synset, cone.method) == ("ice_cream.n.01", "head_noun") and cone.score <= 0.6
    assert mapper.map("Sprenger's tulip").synset == "tulip.n.01"
    assert mapper.map("Salt and pepper shakers").evidence.startswith("head=shakers")
    for name in ("Chevrolet impala", "Helicoverpa zea"):  # unknown modifier: a brand or a genus
        found = mapper.map(name)
        assert not found.mapped and found.reason == "proper_name", name


def test_namespace_prefixes_are_learnt_from_the_list(mapper):
    names = ["Ford falcon", "Ford mustang", "Ford galaxie", "Ford ranchero", "Ford f-150", "Ford windstar",
             "Red fox", "Red wine", "Red deer", "Red panda"]
    assert namespace_prefixes(mapper.lex, [parse_name(n) for n in names]) == {"ford"}
    listed = dict(zip(names, mapper.map_all(names)))
    assert listed["Ford falcon"].reason == "proper_name" and listed["Red fox"].synset.startswith("red_fox")
    assert mapper.map("Ford falcon").synset == "falcon.n.01"  # alone, nothing says Ford is a maker


@pytest.mark.parametrize("name,reason", [
    ("Beautiful", "not_a_noun"), ("Xqzzyvork", "no_lemma"), ("Moths and butterflies", "conjunction"),
    ("Ducks, geese and swans", "conjunction"), ("  ", "empty"),
])
def test_unmapped_names_say_why(mapper, name, reason):
    found = mapper.map(name)
    assert (found.wnid, found.synset, found.method, found.reason) == ("", "", "", reason)


def test_low_share_is_unmapped_as_ambiguous():
    strict = NameMapper(min_score=0.9)
    found = strict.map("Bat")
    assert not found.mapped and found.reason == "ambiguous_low_score" and "best=bat.n.01" in found.evidence


def test_prior_vocabulary_raises_its_members(wn):
    plain, visual = NameMapper(vocabulary=()).map("Trunk"), NameMapper(vocabulary=["n04491769"]).map("Trunk")
    assert plain.synset == "trunk.n.01" and visual.synset == "trunk.n.02"


# --- hierarchy evidence ---------------------------------------------------------------------

def test_source_hierarchy_changes_a_decision(mapper):
    ids, names = ["/m/p", "/m/t", "/m/f"], ["Plant", "Tree", "Flower"]
    alone = map_classes(mapper, ids, names)
    with_tree = map_classes(mapper, ids, names, [("/m/t", "/m/p", "is_a"), ("/m/f", "/m/p", "is_a")])
    assert alone["/m/p"].synset == "plant.n.01"  # WordNet's first sense: a factory
    assert (with_tree["/m/p"].synset, with_tree["/m/p"].method) == ("plant.n.02", "hierarchy")


def test_parent_synset_is_evidence_for_the_child(mapper, wn):
    drink = Context(parents=(wn.row("beverage.n.01"),))
    assert NameMapper(vocabulary=()).map("Punch").synset != mapper.map("Punch", drink).synset
    assert is_under(wn, mapper.map("Punch", drink).wnid, "beverage.n.01")


# --- tags -------------------------------------------------------------------------------------

@pytest.mark.parametrize("tag,words", [
    ("#goldenretriever", ("golden", "retriever")), ("#GoldenRetriever", ("golden", "retriever")),
    ("#dogsandcats", ("dogs", "cats")), ("#happydog", ("dog",)), ("#instagood", ()), ("#lovemydog", ("dog",)),
    ("#NewYorkCity", ("new", "york", "city")), ("golden_retriever", ("golden", "retriever")),
])
def test_hashtags_are_segmented_and_filler_dropped(tagger, tag, words):
    assert tagger.words(tag) == words


def test_tags_map_to_synsets(tagger):
    golden = tagger.map("#goldenretriever")
    assert [m.synset for m in golden.mappings] == ["golden_retriever.n.01"]
    pets = tagger.map("#dogsandcats")
    assert [m.synset for m in pets.mappings] == ["dog.n.01", "cat.n.01"]
    happy = tagger.map("#happydog").mappings  # a sentiment word on the stop list is dropped inside a tag
    assert [(m.name, m.reason) for m in happy] == [("dog", "")]
    plain = TagMapper(tagger.names, stop_list={})
    assert [(m.name, m.reason) for m in plain.map("#happydog").mappings] == [("happy", "not_a_noun"), ("dog", "")]


def test_map_names_gives_one_answer_per_tag():
    found = map_names(["#goldenretriever", "#instagood"], tags=True)
    assert [m.name for m in found] == ["#goldenretriever", "#instagood"]
    assert found[0].synset == "golden_retriever.n.01" and found[1].reason == "stop_list"


def test_bulk_mapping_is_fast(mapper):
    import time
    names = [s.label for s in Lexicon.shared().synsets[::40]]
    start = time.perf_counter()
    mapper.map_all(names)
    assert time.perf_counter() - start < 10.0, "2,000 names must map in well under a second or two"


# --- map-names command ------------------------------------------------------------------------

def test_map_names_cli_writes_and_reads_back(tmp_path: Path, capsys):
    source = tmp_path / "names.txt"
    source.write_text("\ufeffDogs\n\nBat (Animal)\nXqzzyvork\nPlant\n", encoding="utf-8")
    fixes = tmp_path / "fixes.csv"
    fixes.write_text("name,wnid,note\nPlant,n00017222,flora\n", encoding="utf-8")
    out = tmp_path / "out" / "mapped.csv"
    assert cli.main(["map-names", str(source), "--out", str(out), "--overrides", str(fixes)]) == 0
    assert "3/4 names mapped" in capsys.readouterr().out
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["name", "wnid", "synset", "score", "method", "reason", "evidence", "runner_up",
                             "runner_up_score", "count"]
    assert [(r["name"], r["wnid"], r["method"], r["reason"]) for r in rows] == [
        ("Dogs", "n02084071", "morphology", ""), ("Bat (Animal)", "n02139199", "qualifier", ""),
        ("Xqzzyvork", "", "", "no_lemma"), ("Plant", "n00017222", "override", "")]
    assert not list(out.parent.glob(".*partial"))


def test_map_names_cli_names_the_bad_line(tmp_path: Path, capsys):
    source = tmp_path / "names.txt"
    source.write_bytes(b"Dog\nCat\n\xff\xfe broken\n")
    assert cli.main(["map-names", str(source), "--out", str(tmp_path / "x.csv")]) == 2
    assert f"{source}:3" in capsys.readouterr().err and not (tmp_path / "x.csv").exists()



def test_map_names_cli_overwrites_only_its_own_csv(tmp_path: Path, capsys):
    source = tmp_path / "names.txt"
    source.write_text("Dog\n", encoding="utf-8")
    notes = tmp_path / "notes.csv"
    notes.write_text("my,own,notes\n", encoding="utf-8")
    assert cli.main(["map-names", str(source), "--out", str(notes)]) == 2
    assert "not written by mlbuild" in capsys.readouterr().err
    assert notes.read_text(encoding="utf-8") == "my,own,notes\n"
    assert cli.main(["map-names", str(source), "--out", str(source)]) == 2      # the input itself
    out = tmp_path / "mapped.csv"
    assert cli.main(["map-names", str(source), "--out", str(out)]) == 0
    assert cli.main(["map-names", str(source), "--out", str(out)]) == 0        # its own output: replaced

# --- overrides --------------------------------------------------------------------------------

@pytest.mark.parametrize("body,line,field", [
    ("/m/a,n99999999,x\n", 2, "wnid"), ("/m/a,dog.n.01,x\n", 2, "wnid"),
    ("/m/a,n02084071,x\n/m/a,n02121808,y\n", 3, "mid"), ("/m/a,n02084071,x, with a comma\n", 2, None),
])
def test_bad_overrides_name_line_and_field(tmp_path: Path, wn, body, line, field):
    path = tmp_path / "o.csv"
    path.write_text("mid,wnid,note\n" + body, encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_overrides(path, "mid", wn)
    assert (err.value.line, err.value.field) == (line, field)


# --- the Open Images table: built from fixtures in the real formats --------------------------

def test_openimages_build_from_fixture_files(fixtures: Path, tmp_path: Path):
    folder = fixtures / "mapping"
    inputs = Inputs(folder / "oidv6-class-descriptions.csv", folder / "bbox_labels_hierarchy.json",
                    folder / "vocabulary.txt", folder / "overrides.csv")
    rows = build(inputs)
    got = {mid: (name, m.synset, m.method, m.reason) for mid, name, m in rows}
    assert len(rows) == 13 and got["/m/01c_0l"][0] == "Ducks, geese and swans"
    assert got["/m/0bt9lr"][1] == "dog.n.01" and got["/m/01h44"][1:3] == ("bat.n.01", "qualifier")
    assert got["/m/05s2s"][1:3] == ("plant.n.02", "hierarchy")
    assert got["/m/0271t"][1:3] == ("beverage.n.01", "hierarchy")
    assert got["/m/012n7d"][1:4] == ("ambulance.n.01", "override", "")
    assert got["/m/0_gy664"][1:4] == ("", "override", "override")
    out = write(rows, tmp_path / "table.csv")
    first = out.read_bytes()
    assert first.splitlines()[0].decode() == ",".join(COLUMNS)
    assert write(build(inputs), tmp_path / "table.csv").read_bytes() == first  # deterministic
    assert openimages_wnids(str(out))["/m/0bt9lr"] == "n02084071" and "/m/0_gy664" not in openimages_wnids(str(out))


# --- the shipped table --------------------------------------------------------------------------

def test_shipped_table_covers_every_v6_class_with_real_wnids(shipped, wn):
    assert len(shipped) == 19_994 and len({r["mid"] for r in shipped}) == 19_994
    assert list(shipped[0]) == list(COLUMNS)
    for row in shipped:
        if row["wnid"]:
            assert row["wnid"].startswith("n") and wn.has(row["wnid"]), row
            assert wn.synset(row["wnid"]).name == row["synset"] and not row["reason"]
            assert 0.0 < float(row["score"]) <= 1.0
        else:
            assert row["reason"], row


def test_shipped_table_applies_every_override(shipped, wn):
    by_mid = {r["mid"]: r for r in shipped}
    overrides = read_overrides(OVERRIDES, "mid", wn)
    assert len(overrides) >= 100
    for mid, fix in overrides.items():
        assert (by_mid[mid]["wnid"], by_mid[mid]["method"]) == (fix.wnid, "override"), mid


@pytest.mark.parametrize("mid,wnid", [
    ("/m/0bt9lr", "n02084071"), ("/m/01yrx", "n02121620"), ("/m/01h44", "n02139199"),
    ("/m/0k4j", "n02958343"), ("/m/01g317", "n00007846"), ("/m/013y1f", "n03854065"),
    ("/m/0271t", "n07881800"), ("/m/05s2s", "n00017222"), ("/m/07j7r", "n13104059"),
])
def test_shipped_table_spot_checks(mid, wnid):
    assert openimages_wnids()[mid] == wnid


def test_shipped_table_regenerates_byte_identical(shared_data: Path, tmp_path: Path):
    rows = build(Inputs.under(shared_data, OVERRIDES))
    assert write(rows, tmp_path / "t.csv").read_bytes() == SHIPPED.read_bytes()


def test_shipped_word_list_regenerates(tmp_path: Path):
    from mlbuild.classes.mapping import wordlist
    debian = Path("/usr/share/wordnet")
    if not (debian / "index.adj").is_file():
        pytest.skip("Debian wordnet-base not installed")
    out = tmp_path / "other.tsv"
    wordlist.export(debian, out)
    assert out.read_bytes() == wordnet_map(wordlist.WORDLIST).read_bytes()
    forms = wordlist.load(str(out))
    assert forms["happy"][0] == "a" and forms["ran"] == ("v", 0) and "swimming_pool" not in forms


def test_sense_rows_is_the_fast_exact_lemma_index(wn):
    rows = wn.sense_rows("dog")
    assert [wn.synset(r).name for r, *_ in rows][:2] == ["dog.n.01", "frump.n.01"]
    assert [rank for _, _, rank, _ in rows] == list(range(1, len(rows) + 1))
    assert wn.sense_rows("dogs") == [] and wn.sense_rows("swimming_pool")[0][1] == "swimming_pool"
