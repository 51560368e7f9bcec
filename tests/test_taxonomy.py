"""The class taxonomy: merging, reduction to nearest vocabulary ancestors, custom operations."""
from __future__ import annotations

import numpy as np
import pytest

from mlbuild.classes.taxonomy import Taxonomy
from mlbuild.errors import TaxonomyError, UnknownClassError

ANIMAL, CANINE, DOG, DOMESTIC, PUPPY, HUNTING_DOG, HOUND = (
    "n00015388", "n02083346", "n02084071", "n01317541", "n01322604", "n02087122", "n02087551")
CAT, WHEEL, WHEELED_VEHICLE, CAR = "n02121620", "n04574999", "n04576211", "n02958343"


def tax_of(*wnids, **kw):
    return Taxonomy.from_wnids(wnids, source="test", **kw)


def test_parents_are_nearest_vocabulary_ancestors():
    tax = tax_of(ANIMAL, CANINE, DOG, HOUND, CAT)
    assert tax.parents(DOG) == [CANINE]
    assert tax.parents(CANINE) == [ANIMAL]          # through carnivore, placental, ... (not in vocab)
    assert tax.parents(HOUND) == [DOG]               # hunting_dog is skipped
    assert tax.ancestors(HOUND) == {DOG, CANINE, ANIMAL}
    assert tax.roots() == [ANIMAL]
    assert tax.depth(HOUND) == 3 and tax.depth(ANIMAL) == 0


def test_multiple_parents_are_kept_and_redundant_ones_reduced():
    tax = tax_of(ANIMAL, DOMESTIC, CANINE, DOG)
    assert tax.parents(DOG) == sorted([CANINE, DOMESTIC])
    assert ANIMAL not in tax.parents(DOG)           # implied through canine and domestic_animal
    assert tax.parents(DOMESTIC) == [ANIMAL]


def test_same_wnid_from_several_sources_is_one_class():
    tax = Taxonomy.from_wnids([DOG, CAT], source="imagenet21k")
    tax.add(DOG, "openimages:/m/0bt9lr")
    tax.add_all(["dog.n.01"], source="custom")
    assert tax.wnids() == sorted([DOG, CAT])
    assert tax.classes[DOG].sources == {"imagenet21k:n02084071", "openimages:/m/0bt9lr", "custom:n02084071"}


def test_merge_combines_sources_lemmas_and_children():
    tax = tax_of(ANIMAL, DOG, PUPPY, CAT, HOUND)
    tax.merge(PUPPY, into=DOG)
    assert PUPPY not in tax.wnids() and tax.resolve(PUPPY) == DOG
    assert "puppy" in tax.classes[DOG].lemmas and "test:n01322604" in tax.classes[DOG].sources
    tax.merge(DOG, into=CAT)                        # an odd merge, but allowed: the hound follows
    assert tax.parents(HOUND) == [CAT]
    assert tax.classes[CAT].sources >= {"test:n02084071", "test:n01322604"}
    tax.add(PUPPY, "later:x")                       # adding a merged-away WNID lands on its class
    assert "later:x" in tax.classes[CAT].sources


def test_merge_that_would_make_a_cycle_is_refused_and_rolled_back():
    tax = tax_of(ANIMAL, CANINE, DOG)
    with pytest.raises(TaxonomyError, match="cycle"):
        tax.merge(ANIMAL, into=DOG)
    assert tax.wnids() == sorted([ANIMAL, CANINE, DOG]) and tax.parents(DOG) == [CANINE]


def test_merge_into_a_missing_class_is_an_error():
    tax = tax_of(DOG, CAT)
    with pytest.raises(TaxonomyError, match="not a class"):
        tax.merge(DOG, into=ANIMAL)


def test_drop_reattaches_children_to_parents():
    tax = tax_of(ANIMAL, CANINE, DOG, HOUND)
    tax.add_parent(HOUND, CANINE)                   # redundant: reduced away
    assert tax.parents(HOUND) == [DOG]
    tax.drop(DOG)
    assert tax.parents(HOUND) == [CANINE] and DOG not in tax.wnids()


def test_custom_edge_survives_dropping_its_parent():
    tax = tax_of(ANIMAL, CANINE, DOG, CAT)
    tax.add_parent(CAT, DOG)
    assert tax.parents(CAT) == [DOG]
    tax.drop(DOG)
    assert tax.parents(CAT) == [CANINE]


def test_a_dropped_class_keeps_passing_labels_along_its_custom_edges():
    tax = tax_of(ANIMAL, CANINE, DOG, HOUND, CAT, WHEEL)
    tax.add_parent(DOG, CAT)                         # dog has a custom parent ...
    tax.add_parent(WHEEL, DOG)                       # ... and a custom child
    tax.drop(DOG)
    assert tax.parents(HOUND) == sorted([CANINE, CAT])       # dog's children keep its custom parent
    assert tax.nearest(DOG) == sorted([CANINE, CAT])         # where its positives go
    assert tax.below(DOG) == sorted([HOUND, WHEEL])          # where its negatives go
    assert tax.parents(WHEEL) == sorted([CANINE, CAT])


def test_negatives_follow_a_published_hierarchy_down():
    from pathlib import Path

    from mlbuild.sources.hierarchies import PublishedHierarchy
    tax = Taxonomy()
    tax.use_hierarchy(PublishedHierarchy(Path("h.json"), "test", [ANIMAL, DOG, CAT], [None] * 3,
                                         [(DOG, ANIMAL), (CAT, DOG)]))
    tax.add_all([ANIMAL, DOG, CAT], "test")
    assert tax.parents(CAT) == [DOG]
    tax.drop(DOG)
    assert tax.below(DOG) == [CAT] and tax.nearest(DOG) == [ANIMAL]


def test_add_parent_cycle_is_refused():
    tax = tax_of(ANIMAL, CANINE, DOG)
    with pytest.raises(TaxonomyError, match="cycle"):
        tax.add_parent(CANINE, DOG)
    with pytest.raises(TaxonomyError, match="cycle"):
        tax.add_parent(DOG, DOG)
    assert tax.parents(CANINE) == [ANIMAL]


def test_rename_changes_only_the_name():
    tax = tax_of(DOG)
    tax.rename("dog.n.01", "Dog")
    classes, _ = tax.to_tables()
    assert classes.column("name").to_pylist() == ["Dog"] and classes.column("wnid").to_pylist() == [DOG]


def test_unknown_wnids_are_reported_together():
    with pytest.raises(UnknownClassError, match="2 WNIDs") as err:
        tax_of(DOG, "n99999999", "n00000001")
    assert "n99999999" in str(err.value)


def test_part_holonym_is_opt_in():
    assert tax_of(WHEELED_VEHICLE, WHEEL, CAR).parents(WHEEL) == []
    with_parts = tax_of(WHEELED_VEHICLE, WHEEL, CAR, relations=("hypernym", "part_holonym"))
    assert with_parts.parents(WHEEL) == [WHEELED_VEHICLE]
    _, hierarchy = with_parts.to_tables()
    rows = hierarchy.to_pylist()
    assert {"child_wnid": WHEEL, "parent_wnid": WHEELED_VEHICLE, "relation": "part_holonym"}.items() <= \
        [r for r in rows if r["child_wnid"] == WHEEL][0].items()


def test_unknown_relation_is_an_error():
    with pytest.raises(TaxonomyError, match="unknown relations"):
        tax_of(DOG, relations=("hypernym", "meronym"))


def test_closure_arrays_match_ancestors():
    from mlbuild.classes.closure import Closure
    tax = tax_of(ANIMAL, DOMESTIC, CANINE, DOG, HOUND, CAT)
    closure = Closure.ancestors(tax)
    wnids = tax.wnids()
    for i, w in enumerate(wnids):
        assert {wnids[a] for a in closure.row(i)} == tax.ancestors(w) | {w}
    assert closure.indices.dtype == np.int32


def test_tables_index_parents_by_class_index():
    tax = tax_of(ANIMAL, CANINE, DOG)
    classes, hierarchy = tax.to_tables()
    rows = classes.to_pylist()
    assert [r["wnid"] for r in rows] == sorted([ANIMAL, CANINE, DOG])
    by = {r["wnid"]: r for r in rows}
    assert by[DOG]["parents"] == [by[CANINE]["class_index"]] and by[DOG]["depth"] == 2
    assert hierarchy.num_rows == 2 and set(hierarchy.column("relation").to_pylist()) == {"hypernym"}


def test_imagenet21k_dag_keeps_every_is_a_edge(shared_data):
    wnids = (shared_data / "imagenet21k" / "imagenet22k_synsets.txt").read_text().split()
    tax = Taxonomy.from_wnids(wnids, source="imagenet21k")
    vocab = set(wnids)
    edges = [line.split() for line in (shared_data / "imagenet" / "is_a.txt").read_text().splitlines()]
    inside = [(p, c) for p, c in edges if p in vocab and c in vocab]
    assert len(inside) > 18000
    anc = tax.dag.ancestors
    idx = tax.dag.index
    assert [(p, c) for p, c in inside if idx[p] not in anc[idx[c]]] == []
    # the four fall11 WNIDs missing from is_a.txt are instance-only synsets; they attach by instance_hypernym
    assert tax.parents("n11318824") == ["n10794014"]
    assert sum(len(ps) > 1 for ps in tax.dag.parents) > 100


def test_nearest_sends_labels_of_missing_wnids_up():
    tax = tax_of(ANIMAL, CANINE, DOMESTIC, CAT)
    assert tax.nearest(DOG) == sorted([CANINE, DOMESTIC])     # dog is not a class: both nearest parents
    assert tax.nearest(HOUND) == sorted([CANINE, DOMESTIC])
    assert tax.nearest(CAT) == [CAT]
    tax.merge(CAT, into=ANIMAL)
    assert tax.nearest(CAT) == [ANIMAL]


def test_dropping_many_classes_at_once():
    tax = tax_of(ANIMAL, CANINE, DOG, HOUND, CAT)
    tax.add_parent(CAT, HOUND)
    tax.drop(DOG, HOUND)
    assert tax.wnids() == sorted([ANIMAL, CANINE, CAT])
    assert tax.parents(CAT) == [CANINE]                        # custom edge follows through both drops
