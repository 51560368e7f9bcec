"""`content_cache`: built once per input content, read back after, rebuilt when an input changes;
and the shared lexicon's cached indexes are the ones it would build."""
from __future__ import annotations

import pickle

import pytest

from mlbuild._util import content_cache
from mlbuild.classes.mapping import text
from mlbuild.classes.mapping.lexicon import Lexicon


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv(content_cache.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_built_once_per_input_content(folder, tmp_path):
    data = tmp_path / "data.txt"
    data.write_text("one")
    builds = []

    def build():
        builds.append(data.read_text())
        return {"words": data.read_text().split(), "n": len(builds)}

    first = content_cache.cached("thing", [data], build)
    assert content_cache.cached("thing", [data], build) == first == {"words": ["one"], "n": 1}
    assert len(builds) == 1 and [p.name[:6] for p in folder.iterdir()] == ["thing-"]
    data.write_text("one two")
    assert content_cache.cached("thing", [data], build) == {"words": ["one", "two"], "n": 2}
    assert content_cache.cached("thing", [data], build, salt="v2")["n"] == 3   # the salt is part of the key
    assert len(list(folder.iterdir())) == 3   # old files are left alone


def test_a_damaged_file_is_rebuilt_and_an_unwritable_folder_only_costs_the_build(folder, tmp_path, monkeypatch):
    data = tmp_path / "data.txt"
    data.write_text("x")
    content_cache.cached("thing", [data], lambda: 1)
    (path,) = folder.iterdir()
    path.write_bytes(b"\x80\x05 torn")
    assert content_cache.cached("thing", [data], lambda: 2) == 2
    assert pickle.loads(path.read_bytes()) == 2
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the folder should be")
    monkeypatch.setenv(content_cache.CACHE_ENV, str(blocked))
    assert content_cache.cached("thing", [data], lambda: 3) == 3
    assert blocked.read_text() == "a file where the folder should be"


def test_the_shared_lexicons_cached_indexes_are_the_built_ones():
    shared, built = Lexicon.shared(), Lexicon()   # shared: read from (or written to) the cache
    assert "noun_keys" in shared.__dict__ and "noun_keys" not in built.__dict__
    assert shared.noun_keys == built.noun_keys and shared.word_forms == built.word_forms
    assert list(shared.word_forms) == list(built.word_forms)   # same order: ties keep the first form
    assert shared._squashed == built._squashed and shared.compound_partners == built.compound_partners
    words = ["dog", "running", "swimming", "pool", "qwertzuiop", "dogs"]   # the last two: not lemma words
    assert [shared.stem(w) for w in words] == [text.stem(w) for w in words] == [built.stem(w) for w in words]
    assert "dog" in shared.word_stems and "qwertzuiop" not in shared.word_stems and "dogs" not in shared.word_stems
    assert all((a == b).all() for a, b in zip(shared.visual_masks, built.visual_masks))
    rows = range(0, len(built.wn), 997)
    assert [shared.gloss_stems(r) for r in rows] == [built.gloss_stems(r) for r in rows]
    fresh = Lexicon()
    fresh.adopt(Lexicon.shared.__wrapped__().bulk_indexes())   # a second process: read from the file
    assert fresh.word_forms == built.word_forms and fresh.gloss_stems(5) == built.gloss_stems(5)


def test_the_default_folder_is_the_xdg_cache_then_the_home_cache_never_a_relative_one(monkeypatch, tmp_path):
    monkeypatch.delenv(content_cache.CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert content_cache.cache_dir() == tmp_path / "xdg" / "mlbuild"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setattr(content_cache.os.path, "expanduser", lambda path: path)   # no home folder known
    assert content_cache.cache_dir() is None
    assert content_cache.cached("thing", [], lambda: 4) == 4


def test_indexes_of_another_snapshot_are_ignored():
    lex = Lexicon()
    lex.adopt({"noun_keys": {"not": True}, "gloss_stems": (frozenset(),)})   # too few synsets: not this snapshot
    assert "noun_keys" not in lex.__dict__ and lex.noun_keys == Lexicon().noun_keys
