"""Issue 13: the tags of one image are context for each other in a build (columnar), and the images
carrying each tag are reported; checked end to end and against a slow per-image reference."""
from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from mlbuild.classes import normalize, wordnet
from mlbuild.classes.mapping import image_context
from mlbuild.classes.mapping.lexicon import Lexicon
from mlbuild.classes.mapping.names import COMPOUND_CONTEXT_WEIGHT, CONTEXT_WEIGHT, MAX_CONTEXT_OVERLAP
from mlbuild.config import config_from_dict
from mlbuild.pipeline import build

TAGS = ["bat", "baseball", "cave", "mouse", "keyboard", "hamster", "laptop", "crane", "construction", "bird",
        "pitcher", "glove", "sunset", "beach", "ball", "club", "golf", "jaguar", "car", "rainforest", "#instagood",
        "seal", "ocean", "letter", "envelope", "bank", "river", "money", "plant", "factory", "flower", "bass",
        "guitar", "fish", "lake", "chip", "computer", "potato", "tank", "army", "aquarium"]


def wnid(name: str) -> str:
    return wordnet.load().synset(name).wnid


def test_an_images_other_tags_choose_the_sense_in_a_build(tmp_path: Path):
    rows = [("a", "#bat #baseball"), ("b", "#bat #cave"), ("c", "#bat"), ("d", "#cave #sunset"), ("e", "#bat #bat")]
    (tmp_path / "tags.csv").write_text("id,url,tags\n" + "".join(f"{i},http://x/{i}.jpg,{t}\n" for i, t in rows),
                                       encoding="utf-8")
    source = {"kind": "tabular", "path": "tags.csv", "name": "mine", "id_column": "id", "url_column": "url",
              "labels_column": "tags", "delimiter": " ", "label_kind": "tag"}
    out = tmp_path / "out"
    build(config_from_dict({"source": [source], "dedup": {"enabled": False}}, base=tmp_path), out)
    classes = pq.read_table(out / "classes.parquet").column("wnid").to_pylist()
    images = pq.read_table(out / "images").to_pylist()
    direct = {r["source_image_id"]: {classes[c] for c in r["direct_labels"]} for r in images}
    club, animal = wnid("bat.n.05"), wnid("bat.n.01")
    assert club in direct["a"] and animal not in direct["a"]
    assert animal in direct["b"] and club not in direct["b"] and animal in direct["c"] and animal in direct["e"]
    found = pq.read_table(out / "source_classes.parquet").to_pylist()
    bats = [(r["wnid"], r["method"], r["images"], r["runner_up"]) for r in found if r["source_class"] == "bat"]
    assert bats == [(animal, "exact_lemma", 3, club), (club, "image_context", 1, animal)]
    assert {r["source_class"]: r["images"] for r in found}["cave"] == 2
    counts = json.loads((out / "build.json").read_text())["counts"]["sources"]["mine"]
    assert counts["labels_by_image_context"] == 1


def slow_reference(tags_of_image: list[int], senses: image_context.TagSenses,
                   feats: image_context.Features, informative: frozenset[str]) -> set[int]:
    """The tags of one image that take their runner-up: the pair terms summed with Python sets."""
    out: set[int] = set()
    if len(set(tags_of_image)) > image_context.MAX_IMAGE_TAGS:
        return out
    for t in set(tags_of_image):
        if not math.isfinite(senses.log_ratio[t]):
            continue
        total = senses.log_ratio[t]
        for u in set(tags_of_image) - {t}:
            context = feats.stems[u] & informative
            for sign, stems, compounds in ((-1, feats.sense_stems[0][t], feats.compounds[0][t]),
                                           (1, feats.sense_stems[1][t], feats.compounds[1][t])):
                factor = 1 + CONTEXT_WEIGHT * min(len(stems & context), MAX_CONTEXT_OVERLAP)
                factor *= COMPOUND_CONTEXT_WEIGHT if compounds & feats.words[u] else 1.0
                total += sign * math.log(factor)
        if total > 1e-9:
            out.add(t)
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_columnar_image_context_equals_the_slow_reference(seed: int, monkeypatch):
    monkeypatch.setattr(image_context, "STEM_MAX_TAGS", 2)   # some stems are left out as uninformative
    monkeypatch.setattr(image_context, "MAX_IMAGE_TAGS", 5)  # images with 6 distinct tags get no context
    rng = random.Random(seed)
    classes = normalize.map_source_classes("s", "tag", TAGS)
    lex = Lexicon.shared()
    assert classes.words[TAGS.index("#instagood")] == () and classes.words[0] == ("bat",)
    senses = image_context.tag_senses(lex, classes.wnids, classes.scores, classes.runner_ups,
                                      classes.runner_up_scores, classes.words)
    feats = image_context.features(lex, senses)
    assert senses.ambiguous.sum() >= 10
    images = [[rng.randrange(len(TAGS)) for _ in range(rng.randint(1, 6))] for _ in range(400)]
    image = np.array([i for i, tags in enumerate(images) for _ in tags])
    code = np.array([t for tags in images for t in tags])
    n = len(TAGS)
    pairs = np.unique(image * n + code)
    switch = image_context.switched(senses, image_context.pair_terms(feats), pairs // n, pairs % n)
    informative = image_context._informative(feats.stems)
    assert len(informative) < len(set().union(*feats.stems))
    fast = {(int(i), int(t)) for i, t in zip(pairs // n, pairs % n)}
    switched = {(int(p // n), int(p % n)) for p in pairs[switch]}
    expected = {(i, t) for i, tags in enumerate(images) for t in slow_reference(tags, senses, feats, informative)}
    assert switched == expected and switched and len(switched) < len(fast)


def test_with_image_context_recodes_rows_and_counts_images():
    classes = normalize.map_source_classes("s", "tag", ["#bat", "#baseball", "#cave"])
    image = np.array([0, 0, 1, 1, 2, 0], np.int32)      # image 0 has #bat twice
    code = np.array([0, 1, 0, 2, 0, 0], np.int32)
    out = normalize.with_image_context(classes, image, code)
    assert out.tolist() == [3, 1, 0, 2, 0, 3]
    assert classes.ids == ["#bat", "#baseball", "#cave", "#bat"] and classes.images == [2, 1, 1, 1]
    assert classes.wnids[3] == wnid("bat.n.05") and classes.methods[3] == "image_context"
    names = normalize.map_source_classes("n", "name", ["dog", "cat"])
    assert normalize.with_image_context(names, np.array([0, 1, 1]), np.array([0, 0, 1])).tolist() == [0, 0, 1]
    assert names.images == [2, 1] and names.ids == ["dog", "cat"]
