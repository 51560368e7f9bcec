"""The WordNet 3.0 snapshot: lookups, morphology, relations, and agreement with NLTK's reader."""
from __future__ import annotations

import hashlib
import random
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlbuild._util.resources import wordnet_map
from mlbuild.classes import wordnet
from mlbuild.classes.wordnet.export import _reader, export
from mlbuild.errors import UnknownClassError

DEBIAN_WORDNET = Path("/usr/share/wordnet")
needs_debian = pytest.mark.skipif(not (DEBIAN_WORDNET / "index.sense").is_file(),
                                  reason="Debian wordnet-base + wordnet-sense-index not installed")


@pytest.fixture(scope="module")
def wn():
    return wordnet.load()


@pytest.fixture(scope="module")
def nltk_wn():
    if not (DEBIAN_WORDNET / "index.sense").is_file():
        pytest.skip("Debian wordnet-base + wordnet-sense-index not installed")
    tmp = tempfile.TemporaryDirectory()
    yield _reader(DEBIAN_WORDNET, Path(tmp.name))
    tmp.cleanup()


def test_snapshot_has_every_noun_synset(wn):
    assert len(wn) == 82115
    assert wn.synset("n00001740").name == "entity.n.01"
    assert len(wn.exceptions) > 2000 and "mouse" in wn.exceptions["mice"]


def test_lookup_by_wnid_and_name(wn):
    dog = wn.synset("n02084071")
    assert dog.name == "dog.n.01" and dog.lemmas[:2] == ("dog", "domestic_dog")
    assert wn.synset("dog.n.01") == dog
    assert "Canis" in dog.gloss and dog.lexname == "noun.animal"
    assert sorted(wn.wnid(r) for r in wn.related(dog.row, "hypernym")) == ["n01317541", "n02083346"]


@pytest.mark.parametrize("key", ["n99999999", "dog.n.99", "n0208407", "dog"])
def test_unknown_keys_raise(wn, key):
    with pytest.raises(UnknownClassError):
        wn.synset(key)


@pytest.mark.parametrize("word,first", [("Dogs", "dog.n.01"), ("sunglasses", "sunglasses.n.01"),
                                        ("ice cream", "ice_cream.n.01"), ("mice", "mouse.n.01"),
                                        ("geese", "goose.n.01"), ("Boxes", "box.n.01")])
def test_lemma_lookup_with_morphology(wn, word, first):
    assert wn.lookup(word)[0].name == first


def test_senses_carry_rank_and_tag_count(wn):
    senses = wn.senses("dog")
    assert [s.rank for s in senses] == sorted(s.rank for s in senses)
    assert senses[0].synset.name == "dog.n.01" and senses[0].count == 42


def test_inverse_relation_lists_hyponyms(wn):
    indptr, children = wn.inverse("hypernym")
    dog = wn.row("n02084071")
    names = {wn.synset(int(c)).name for c in children[indptr[dog]:indptr[dog + 1]]}
    assert "puppy.n.01" in names and "hunting_dog.n.01" in names


def test_ancestors_reach_entity(wn):
    assert wn.row("n00001740") in wn.ancestors(wn.row("n02084071"))
    # instance-only synsets (the sun) reach entity through instance_hypernym
    assert wn.row("n00001740") in wn.ancestors(wn.row("n09450163"))
    assert wn.ancestors(wn.row("n09450163"), ("hypernym",)) == set()


def test_agrees_with_nltk_lookup_order(wn, nltk_wn):
    for word in ["dogs", "sunglasses", "ice_cream", "bank", "crane", "mice", "glasses", "bass", "apple"]:
        ours = [s.name for s in wn.lookup(word)]
        theirs = [s.name() for s in nltk_wn.synsets(word, "n")]
        assert ours == theirs, word


def test_agrees_with_nltk_relations(wn, nltk_wn):
    rows = random.Random(7).sample(range(len(wn)), 400)
    for row in rows:
        ours = wn.synset(row)
        theirs = nltk_wn.synset_from_pos_and_offset("n", int(wn.offsets[row]))
        assert ours.name == theirs.name() and list(ours.lemmas) == theirs.lemma_names()
        for rel, method in [("hypernym", "hypernyms"), ("part_holonym", "part_holonyms"),
                            ("instance_hypernym", "instance_hypernyms")]:
            assert {wn.wnid(r) for r in wn.related(row, rel)} == \
                {f"n{s.offset():08d}" for s in getattr(theirs, method)()}


@needs_debian
def test_export_regenerates_the_shipped_snapshot(tmp_path):
    out = export(DEBIAN_WORDNET, tmp_path / "wn.parquet")
    shipped = pq.ParquetFile(wordnet_map(wordnet.graph.SNAPSHOT))
    fresh = pq.ParquetFile(tmp_path / "wn.parquet")
    assert fresh.read().equals(shipped.read()) and out.num_rows == 82115
    assert fresh.schema_arrow.metadata == shipped.schema_arrow.metadata
    if shipped.metadata.created_by == fresh.metadata.created_by:  # same pyarrow: same bytes
        digest = lambda path: hashlib.sha256(path.read_bytes()).hexdigest()  # noqa: E731
        assert digest(tmp_path / "wn.parquet") == digest(wordnet_map(wordnet.graph.SNAPSHOT))


def test_export_rejects_a_folder_without_wordnet(tmp_path):
    from mlbuild.errors import InputError
    with pytest.raises(InputError, match="data.noun"):
        export(tmp_path, tmp_path / "out.parquet")
    assert not (tmp_path / "out.parquet").exists()


def test_snapshot_schema_is_stable(wn):
    schema = pq.ParquetFile(wordnet_map(wordnet.graph.SNAPSHOT)).schema_arrow
    assert schema.field("hypernym").type == pa.list_(pa.int32())
    assert schema.field("offset").type == pa.uint32()
