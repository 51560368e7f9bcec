"""The columnar label build equals the slow reference (tests/reference_labels.py) on random inputs.

Random DAGs with random kept vocabularies and random label sets (human and machine positives at
several confidences, verified negatives, labels of dropped classes, several sources) go through
`LabelRows.remapped` and `propagate`; random WordNet vocabularies with excluded, dropped and merged
classes and custom `add_parent` edges (also to and from classes dropped afterwards) check the
targets `label_targets` gives against the reference's rules.
"""
from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from reference_labels import (
    Label,
    closure_above,
    expected_image,
    mapped,
    negative_targets,
    positive_targets,
)

from mlbuild.classes.closure import Closure
from mlbuild.labels.label_rows import LabelRows
from mlbuild.labels.propagate import CONFLICT_KINDS, propagate


@st.composite
def dags(draw, max_nodes: int = 12) -> dict[int, set[int]]:
    """Parent sets of a random DAG (edges go to lower node numbers)."""
    n = draw(st.integers(1, max_nodes))
    return {c: set(draw(st.lists(st.integers(0, c - 1), max_size=3))) if c else set() for c in range(n)}


def labels_of(n_nodes: int):
    return st.builds(Label, st.integers(0, n_nodes - 1), st.sampled_from([1.0, 0.9, 0.7, 0.55]), st.booleans(),
                     st.booleans(), st.integers(0, 2))


@st.composite
def cases(draw):
    parents = draw(dags())
    nodes = sorted(parents)
    kept = set(draw(st.lists(st.sampled_from(nodes), min_size=1, unique=True)))
    images = draw(st.lists(st.lists(labels_of(len(nodes)), max_size=6), min_size=1, max_size=4))
    images = [[Label(x.cls, 1.0 if not x.machine else x.conf, x.negative and not x.machine, x.machine, x.src)
               for x in image] for image in images]  # negatives are human-verified; human labels are 1
    return parents, kept, images, draw(st.sampled_from(["human_first", "positive_first"]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_columnar_build_equals_reference(case):
    parents, kept, images, policy = case
    above = closure_above(parents)
    order = sorted(kept)
    index = {c: i for i, c in enumerate(order)}
    kept_above = {index[c]: {index[a] for a in above[c] & kept} for c in order}
    targets = Closure.from_lists(
        [sorted(index[t] for t in positive_targets(v, kept, above)) for v in sorted(parents)]
        + [sorted(index[t] for t in negative_targets(v, kept, above)) for v in sorted(parents)])
    flat = [(i, x) for i, image in enumerate(images) for x in image]
    rows = LabelRows.of(np.array([i for i, _ in flat], np.int32), np.array([x.cls for _, x in flat], np.int32),
                        np.array([x.conf for _, x in flat], np.float32), np.array([x.negative for _, x in flat]),
                        np.array([x.machine for _, x in flat]), np.array([x.src for _, x in flat], np.uint8))
    up = Closure.from_lists([sorted(kept_above[i] | {i}) for i in range(len(order))])
    moved, lost = rows.remapped(targets)
    assert lost.tolist() == [not mapped([x], kept, above) for _, x in flat]
    got = propagate(len(images), moved, up, policy=policy)
    totals = dict.fromkeys(CONFLICT_KINDS, 0)
    for i, image in enumerate(images):
        want = expected_image([Label(index[x.cls], x.conf, x.negative, x.machine, x.src)
                               for x in mapped(image, kept, above)], kept_above, policy)
        classes = sorted(want.labels)
        assert got.labels[i].as_py() == classes
        assert got.confidences[i].as_py() == [np.float32(want.labels[c]) for c in classes]
        assert got.provenance[i].as_py() == [want.provenance[c] for c in classes]
        assert got.sources[i].as_py() == [want.sources[c] for c in classes]
        assert got.direct[i].as_py() == sorted(want.direct)
        assert got.negatives[i].as_py() == sorted(want.negatives)
        assert got.conflicts[i].as_py() == sorted(want.conflicts)
        totals["machine_positive_removed"] += want.removed
        totals["positive_over_negative"] += want.beaten
    assert got.counts == totals


POOL = ["n00015388", "n01317541", "n02075296", "n02083346", "n02084071", "n02087551", "n02085620", "n02085374",
        "n02120997", "n02121620", "n02121808", "n02123045", "n02127808", "n02129165", "n02114100", "n02131653",
        "n01322983"]  # animal, domestic animal, carnivore, canine, dog, hound, Chihuahua, toy dog, feline, cat,
# domestic cat, tabby, big cat, lion, wolf, bear, puppy: several parents (dog, domestic cat, puppy) included


def wordnet_above(wn, wnid: str, relations: tuple[str, ...], custom: dict[str, set[str]]) -> set[str]:
    """Strict ancestors of a WNID, by plain recursion over WordNet's relations and the custom edges."""
    out: set[str] = set()
    for parent in [wn.wnid(p) for rel in relations for p in wn.related(wn.row(wnid), rel)] + sorted(
            custom.get(wnid, ())):
        out |= {parent} | wordnet_above(wn, parent, relations, custom)
    return out


def reference_targets(wn, source: list[str], dropped: set[str], merges: dict[str, str], relations,
                      custom: dict[str, set[str]]):
    """Per source WNID: (classes its positives go to, classes its negatives go to) by the documented rules.

    `custom` holds the `add_parent` edges (child -> parents), added after the merges: edges like
    WordNet's, that stay when one of their classes is dropped.
    """
    kept = set(source) - dropped - set(merges)
    wn_above = {w: wordnet_above(wn, w, relations, custom) for w in source}
    one_concept = {a for a, b in merges.items() if b not in wordnet_above(wn, a, relations, {})}
    members = {k: {k} | {a for a, b in merges.items() if b == k} for k in kept}
    parents = {y: {x for x in kept if x != y and any(m in wn_above[n] for m in members[x] for n in members[y])}
               for y in kept}
    order = sorted(kept)
    number = {k: i for i, k in enumerate(order)}
    above = closure_above({number[y]: {number[x] for x in xs} for y, xs in parents.items()})
    out = {}
    for w in source:
        if w in kept or w in merges:
            up = {merges.get(w, w)}
        else:
            found = {number[k] for k in kept if members[k] & wn_above[w]}
            up = {order[c] for c in found if not any(c in above[o] for o in found)}
        if w in kept or w in one_concept:
            down = {merges.get(w, w)}
        else:
            down = {k for k in kept if any(w in wn_above[m] for m in members[k] - (set(merges) - one_concept))}
        out[w] = (up, down)
    return out, {order[c]: {order[a] for a in above[c]} for c in above}


@st.composite
def vocabularies(draw):
    source = draw(st.lists(st.sampled_from(POOL), min_size=2, max_size=10, unique=True))
    dropped = set(draw(st.lists(st.sampled_from(source), max_size=len(source) - 1, unique=True)))
    rest = [w for w in source if w not in dropped]
    merges = {}
    for a, b in draw(st.lists(st.tuples(st.sampled_from(rest), st.sampled_from(rest)), max_size=2)):
        if a != b and a not in merges and b not in merges and a not in merges.values():
            merges[a] = b
    classes = [w for w in source if w not in merges]  # dropped ones too: they leave after add_parent
    edges = draw(st.lists(st.tuples(st.sampled_from(classes), st.sampled_from(classes)), max_size=3))
    return source, dropped, merges, edges


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(vocabularies())
def test_label_targets_follow_the_rules_on_wordnet_vocabularies(vocabulary):
    """Merge, then `add_parent` edges, then drop (the build's order: exclude / min_images come last)."""
    from mlbuild.classes.normalize import label_targets
    from mlbuild.classes.taxonomy import Taxonomy
    from mlbuild.errors import TaxonomyError

    source, dropped, merges, edges = vocabulary
    tax = Taxonomy.from_wnids(source)
    for a, b in merges.items():
        try:
            tax.merge(a, into=b)
        except TaxonomyError:  # the merge would make a cycle (e.g. animal into canine): refused
            assume(False)
    custom: dict[str, set[str]] = {}
    for child, parent in edges:
        try:
            tax.add_parent(child, parent)
        except TaxonomyError:  # a cycle: refused, and the taxonomy is unchanged
            continue
        custom.setdefault(child, set()).add(parent)
    if dropped:
        tax.drop(*dropped)
    want, above = reference_targets(tax.wordnet, source, dropped, merges, tax.relations, custom)
    assert set(tax.wnids()) == set(above) and all(tax.ancestors(c) == above[c] for c in above)
    wnids, targets = tax.wnids(), label_targets(tax, [[w] for w in source])

    def pushed_down(classes: set[str]) -> set[str]:
        return {d for d in above if d in classes or classes & above[d]}
    for i, w in enumerate(source):
        up, down = want[w]
        assert {wnids[c] for c in targets.row(i)} == up
        assert pushed_down({wnids[c] for c in targets.row(len(source) + i)}) == pushed_down(down)
