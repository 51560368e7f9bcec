"""Issue 13: joint disambiguation, the visual prior, qualifiers, specific hyponyms, descriptions,
tags (stop list, multi-concept), the review loop, and the mapping accuracy that must hold."""
from __future__ import annotations

import csv
import random
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from mlbuild import cli
from mlbuild._util.resources import wordnet_map
from mlbuild.classes import normalize, wordnet
from mlbuild.classes.mapping import Context, NameMapper, TagMapper, concepts, map_names, tables
from mlbuild.classes.mapping.review import review
from mlbuild.classes.mapping.tags import read_stop_list
from mlbuild.errors import InputError
from mlbuild.tools import visual_wnids


@pytest.fixture(scope="module")
def mapper():
    return NameMapper()


@pytest.fixture(scope="module")
def wn():
    return wordnet.load()


def synsets(names, **kw):
    return [m.synset for m in map_names(names, **kw)]


# --- joint disambiguation -----------------------------------------------------------------------

def test_a_list_is_disambiguated_as_a_whole():
    assert synsets(["mouse", "keyboard", "laptop", "remote"])[0] == "mouse.n.04"      # the device
    assert synsets(["mouse", "hamster", "rat", "squirrel"])[0] == "mouse.n.01"        # the rodent
    assert synsets(["Fork", "Knife", "Tablecloth", "Napkin"])[3] == "napkin.n.01"     # not the diaper


def test_coherence_changes_only_names_that_had_a_choice(mapper):
    names = ["mouse", "keyboard", "laptop", "remote"]
    alone = [mapper.map(n) for n in names]
    joint = mapper.map_all(names)
    assert alone[0].synset == "mouse.n.01" and joint[0].synset == "mouse.n.04"
    assert [m.synset for m in alone[1:]] == [m.synset for m in joint[1:]]


def test_an_images_tags_are_context_for_each_other():
    tagger = TagMapper()
    with_ball, with_cave = tagger.map_set(["#bat", "#baseball"]), tagger.map_set(["#bat", "#cave"])
    assert with_ball[0].mappings[0].synset == "bat.n.05" and with_cave[0].mappings[0].synset == "bat.n.01"


def test_the_second_pass_reuses_the_first_passs_weights_without_changing_an_answer(monkeypatch):
    from mlbuild.classes.mapping import tags as tag_module

    tags = ["#bat", "#baseball", "#mouse", "keyboard", "laptop", "#dogsandcats", "#tbt", "Red fox", "#party",
            "crane", "forklift", "#goldenretriever", "Bicycle helmet", "apple", "#instagood", "Slow cooker"]
    memoized = TagMapper(NameMapper())
    found = memoized.map_all(tags)
    assert any(m.runner_up for t in found for m in t.mappings)   # the second pass re-decides some of them
    assert memoized.names._alone.cache_info().hits > 0
    fresh = NameMapper()
    fresh._alone = fresh._weigh_alone   # every weight computed again, as before the memo
    monkeypatch.setattr(tag_module, "settled", lambda first: False)   # and every phrase decided again
    assert TagMapper(fresh).map_all(tags) == found


def test_a_sources_names_are_mapped_jointly():
    found = normalize.map_source_classes("s", "name", ["mouse", "keyboard", "laptop", "remote"])
    assert found.wnids[0] == wordnet.load().synset("mouse.n.04").wnid
    assert found.scores[0] > found.runner_up_scores[0] > 0 and found.runner_ups[0]


# --- visual prior, qualifiers, specific hyponyms ------------------------------------------------

@pytest.mark.parametrize("name,synset", [
    ("banana", "banana.n.02"), ("almond", "almond.n.02"), ("papaya", "papaya.n.02"),   # the fruit, not the tree
    ("Banana (Tree)", "banana.n.01"), ("Organ", "organ.n.05"),
])
def test_visual_prior_prefers_what_people_photograph(mapper, name, synset):
    assert mapper.map(name).synset == synset


def test_fruit_unless_tree_is_said_and_the_prior_can_be_switched_off(mapper, wn):
    assert mapper.map("banana", Context(words=("tree",))).synset == "banana.n.01"
    assert NameMapper(vocabulary=()).map("Organ").synset == "organ.n.01"
    assert wn.synset("cow.n.02").wnid not in {m.wnid for m in map_names(["cow"])}


def test_qualifiers_are_hard_constraints(mapper):
    machine, bird = mapper.map("Crane (Machine)"), mapper.map("Crane (Bird)")
    assert (machine.synset, machine.method, machine.runner_up) == ("crane.n.04", "qualifier", "")
    assert bird.synset == "crane.n.05" and mapper.map("Crane").synset != "crane.n.01"
    food = mapper.map("Crane (Food)")
    assert not food.mapped and food.reason == "qualifier_mismatch" and food.runner_up  # best sense, for review


@pytest.mark.parametrize("name,synset,method", [
    ("Bicycle helmet", "crash_helmet.n.01", "specific_hyponym"),
    ("Potted plant", "pot_plant.n.01", "specific_hyponym"),
    ("Pistachio ice cream", "ice_cream.n.01", "head_noun"),        # no hyponym names pistachio
    ("Off-road vehicle", "vehicle.n.01", "head_noun"),             # `off` stops the search (steamroller: `road`)
])
def test_specific_hyponym_before_the_head_noun(mapper, name, synset, method):
    found = mapper.map(name)
    assert (found.synset, found.method) == (synset, method)


def test_reviewed_multiword_equivalents_before_the_head_noun(mapper):
    found = {m.name: m for m in map_names(["Slow cooker", "Tablet computer", "Pressure cooker"])}
    assert (found["Slow cooker"].synset, found["Slow cooker"].method) == ("crock_pot.n.01", "equivalent")
    assert found["Tablet computer"].synset == "hand-held_computer.n.01"
    assert found["Pressure cooker"].synset == "pressure_cooker.n.01"          # a lemma: the table is not asked
    tags = map_names(["#slowcooker", "#TabletComputer"], tags=True)
    assert [m.synset for m in tags] == ["crock_pot.n.01", "hand-held_computer.n.01"]
    assert NameMapper(equivalents={}).map("Slow cooker").synset == "cooker.n.01"   # without it: the head noun


def test_equivalents_are_extendable_and_checked(tmp_path: Path, wn):
    source, extra, out = tmp_path / "n.txt", tmp_path / "eq.csv", tmp_path / "o.csv"
    source.write_text("Slow cooker\nSmart phone\n", encoding="utf-8")
    extra.write_text("name,wnid,note\nsmart phone,n02992529,a cellular telephone (WordNet 3.0 predates the word)\n",
                     encoding="utf-8")
    assert cli.main(["map-names", str(source), "--out", str(out), "--equivalents", str(extra)]) == 0
    rows = list(csv.DictReader(open(out, encoding="utf-8")))
    assert [(r["synset"], r["method"]) for r in rows] == [("crock_pot.n.01", "equivalent"),
                                                          ("cellular_telephone.n.01", "equivalent")]
    extra.write_text("name,wnid,note\nsmart phone,n99999999,typo\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        tables.read_equivalents([extra])
    assert err.value.line == 2


def test_descriptions_are_gloss_evidence():
    assert synsets(["Crane"]) == ["crane.n.04"]
    assert synsets(["Crane"], descriptions=["large long-necked wading bird of marshes"]) == ["crane.n.05"]
    assert synsets(["Mouse"], descriptions=["a small rodent"]) == ["mouse.n.01"]


def test_runner_up_and_margin(mapper, wn):
    found = mapper.map("mouse")
    assert found.runner_up and wn.has(found.runner_up) and found.runner_up != found.wnid
    assert found.margin == pytest.approx(found.score - found.runner_up_score, abs=1e-3)
    assert mapper.map("laptop").runner_up == ""


# --- tags -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("tag,kind", [("#tbt", "non_visual"), ("#love", "sentiment"), ("#foodporn", "non_visual"),
                                      ("#instagood", "filler"), ("#InstaGood", "filler")])
def test_stop_listed_tags_stay_unmapped_with_a_reason(tag, kind):
    found = TagMapper().map(tag).mappings
    assert [(m.wnid, m.reason, m.evidence) for m in found] == [("", "stop_list", f"kind={kind}")]


def test_multi_concept_tags_give_every_concept():
    found = concepts(TagMapper().map("#dogsandcats"))
    assert [m.synset for m in found] == ["dog.n.01", "cat.n.01"] and {m.name for m in found} == {"#dogsandcats"}


def test_stop_list_is_extendable(tmp_path: Path):
    extra = tmp_path / "more.txt"
    extra.write_text("party\tnon_visual\n", encoding="utf-8")
    assert TagMapper().map("#party").mappings[0].mapped
    assert TagMapper(stop_list=read_stop_list([extra])).map("#party").mappings[0].reason == "stop_list"
    extra.write_text("party\tnon_visual\nfun\tboring\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_stop_list([extra])
    assert err.value.line == 2


def test_multi_concept_tags_label_every_class_in_a_build():
    found = normalize.map_source_classes("t", "tag", ["#dogsandcats", "#tbt"])
    wn = wordnet.load()
    assert found.targets(0) == [wn.synset("dog.n.01").wnid, wn.synset("cat.n.01").wnid]
    assert found.targets(1) == [] and found.methods[1] == "unmapped"


def test_map_names_reports_tag_frequency(tmp_path: Path, capsys):
    source = tmp_path / "tags.txt"
    source.write_text("#dogsandcats\n#love\n#love\n#redfox\n", encoding="utf-8")
    out = tmp_path / "tags.csv"
    assert cli.main(["map-names", str(source), "--tags", "--out", str(out)]) == 0
    rows = list(csv.DictReader(open(out, encoding="utf-8")))
    assert [(r["name"], r["synset"], r["count"]) for r in rows] == [
        ("#dogsandcats", "dog.n.01", "1"), ("#dogsandcats", "cat.n.01", "1"), ("#love", "", "2"),
        ("#redfox", rows[3]["synset"], "1")]
    assert rows[3]["synset"].startswith("red_fox") and rows[2]["reason"] == "stop_list"


# --- review loop ----------------------------------------------------------------------------------

def test_review_lists_what_to_check_first_with_both_glosses(tmp_path: Path, capsys, wn):
    source = tmp_path / "names.csv"
    source.write_text("name,description\nSalt and pepper shakers,\nCrane (Food),\nLaptop,\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    assert cli.main(["map-names", str(source), "--out", str(out), "--review"]) == 0
    printed = capsys.readouterr().out
    assert "'Crane (Food)': qualifier_unmet" in printed and "'Salt and pepper shakers': head_noun_fallback" in printed
    assert wn.synset("crane.n.04").gloss in printed and "Laptop" not in printed.split("to check")[1]
    items = review(wn, map_names(["Salt and pepper shakers", "Crane (Food)", "Laptop"]))
    assert [i.why for i in items] == ["qualifier_unmet", "head_noun_fallback"]


def test_overrides_feed_back_into_map_names(tmp_path: Path):
    source, fixes, out = tmp_path / "n.txt", tmp_path / "fix.csv", tmp_path / "o.csv"
    source.write_text("Napkin\nNapkin\n", encoding="utf-8")
    fixes.write_text("name,wnid,note\nNapkin,n03807537,table linen\n", encoding="utf-8")
    assert cli.main(["map-names", str(source), "--out", str(out), "--overrides", str(fixes)]) == 0
    rows = list(csv.DictReader(open(out, encoding="utf-8")))
    assert [(r["synset"], r["method"], r["count"]) for r in rows] == [("napkin.n.01", "override", "2")]


def test_build_source_classes_carry_score_and_runner_up(tmp_path: Path, capsys):
    from mlbuild.classes.normalize import build_taxonomy
    from mlbuild.config import TaxonomyConfig
    from mlbuild.manifests.writer import _source_classes

    mapped = [normalize.map_source_classes("s", "name", ["mouse", "keyboard", "laptop", "Salt and pepper shakers"]),
              normalize.map_source_classes("t", "tag", ["#dogsandcats"])]
    table = _source_classes(build_taxonomy(mapped, TaxonomyConfig()), mapped)
    pq.write_table(table, tmp_path / "source_classes.parquet")
    rows = {r["source_class"]: r for r in pq.read_table(tmp_path / "source_classes.parquet").to_pylist()}
    assert rows["mouse"]["runner_up"] and 0 < rows["mouse"]["runner_up_score"] < rows["mouse"]["score"] <= 1
    assert rows["laptop"]["runner_up"] is None and len(rows["#dogsandcats"]["class_indices"]) == 2
    assert rows["#dogsandcats"]["also_wnids"] == [wordnet.load().synset("cat.n.01").wnid]
    assert cli.main(["map-names", "--review-build", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "1 mappings to check" in printed and "'s:Salt and pepper shakers': head_noun_fallback" in printed


# --- one class-map reader (issue 10) --------------------------------------------------------------

def test_one_class_map_reader(tmp_path: Path):
    assert normalize.read_class_map is tables.read_class_map
    path = tmp_path / "map.csv"
    path.write_text("source_class,wnid\ndog,n02084071\nblob,\n", encoding="utf-8")
    assert tables.read_class_map(str(path)) == {"dog": "n02084071", "blob": ""}
    bad = tmp_path / "bad.csv"
    bad.write_text("name,wnid\ndog,n02084071\n", encoding="utf-8")
    with pytest.raises(InputError):
        tables.read_class_map(str(bad))


# --- shipped data and the figures that must hold (real files; skip when absent) ------------------

def test_visual_wnids_regenerate_byte_identical(shared_data: Path, tmp_path: Path):
    out = tmp_path / "visual.txt"
    assert visual_wnids.build(shared_data, out) == 21_842
    assert out.read_bytes() == wordnet_map(tables.VISUAL_WNIDS).read_bytes()


def test_imagenet1k_first_lemmas_map_back_at_least_95_percent(shared_data: Path):
    rows = [line.split(" ", 1) for line in open(shared_data / "ilsvrc2012/LOC_synset_mapping.txt", encoding="utf-8")]
    names = [lemmas.split(",")[0].strip() for _, lemmas in rows]
    found = map_names(names)
    correct = sum(m.wnid == wnid for m, (wnid, _) in zip(found, rows))
    assert correct / len(rows) >= 0.95, correct


def test_sampled_imagenet21k_lemmas_beat_the_old_mapper(shared_data: Path):
    rows = [line.rstrip("\n").split("\t") for line in open(shared_data / "imagenet21k/imagenet_synset_to_lemma.txt",
                                                          encoding="utf-8")]
    sample = random.Random(7).sample(rows, 300)
    found = map_names([lemmas.split(",")[0].strip() for _, lemmas in sample])
    assert sum(m.wnid == wnid for m, (wnid, _) in zip(found, sample)) / 300 >= 0.88


def test_a_name_sources_class_descriptions_are_gloss_evidence(tmp_path: Path, wn):
    from mlbuild.config import config_from_dict

    path = tmp_path / "described.csv"
    path.write_text('source_class,description\nCrane,"large long-necked wading bird of marshes"\n', encoding="utf-8")
    plain = normalize.map_source_classes("s", "name", ["Crane", "Forklift"])
    described = normalize.map_source_classes("s", "name", ["Crane", "Forklift"], descriptions=path)
    assert plain.wnids[0] == wn.synset("crane.n.04").wnid and described.wnids[0] == wn.synset("crane.n.05").wnid
    (tmp_path / "x.csv").write_text("id,labels\na,Crane\n", encoding="utf-8")
    table = {"kind": "tabular", "path": "x.csv", "name": "s", "id_column": "id", "labels_column": "labels",
             "class_descriptions": "described.csv"}
    config = config_from_dict({"source": [table]}, base=tmp_path)
    assert config.sources[0].class_descriptions == path
    assert "class_descriptions" not in config.sources[0].options
