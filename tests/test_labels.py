"""Label propagation: the single-label fast path, closures, and a positive over a negative.

The full semantics are checked against the reference model in test_label_reference.py.
"""
from __future__ import annotations

import random

import numpy as np
import pytest

from mlbuild.classes.closure import Closure
from mlbuild.labels.label_rows import LabelRows
from mlbuild.labels.propagate import propagate


def random_dag(n: int, rng: random.Random) -> list[set[int]]:
    """Ancestor sets (self included) of a random DAG whose edges go from higher to lower index."""
    parents = [set(rng.sample(range(c), k=min(c, rng.randint(0, 2)))) for c in range(n)]
    anc: list[set[int]] = []
    for c in range(n):
        anc.append({c}.union(*(anc[p] for p in parents[c])))
    return anc


def test_single_label_fast_path_equals_general_path():
    rng = random.Random(3)
    anc = random_dag(50, rng)
    up = Closure.from_lists([sorted(a) for a in anc])
    images = np.array(sorted(rng.sample(range(100), 60)))
    classes = np.array([rng.randrange(50) for _ in images], np.int32)
    machine = np.array([rng.random() < 0.3 for _ in images])
    conf = np.where(machine, 0.7, 1.0)
    fast = propagate(100, LabelRows.of(images, classes, conf, machine=machine), up)
    with_negative = LabelRows.concat([LabelRows.of(images, classes, conf, machine=machine),
                                      LabelRows.of(np.array([99]), np.array([0]), negative=np.array([True]))])
    general = propagate(100, with_negative, up, policy="positive_first")  # a negative: no fast path
    for column in ("labels", "confidences", "provenance", "sources", "direct"):
        assert getattr(fast, column)[:99].equals(getattr(general, column)[:99])
    unlabeled = sorted(set(range(100)) - set(images.tolist()))[0]
    assert len(fast.labels) == 100 and fast.labels[unlabeled].as_py() == []


def test_inverse_closure_lists_descendants():
    up = Closure.from_lists([[0], [0, 1], [0, 1, 2], [0, 3]])
    down = up.inverse()
    assert [down.indices[down.indptr[c]:down.indptr[c + 1]].tolist() for c in range(4)] == \
        [[0, 1, 2, 3], [1, 2], [2], [3]]


def test_positive_wins_over_implied_negative():
    up = Closure.from_lists([[0], [0, 1]])
    got = propagate(1, LabelRows.of(np.array([0, 0]), np.array([1, 0]), negative=np.array([False, True])), up)
    assert got.labels[0].as_py() == [0, 1] and got.negatives[0].as_py() == []
    assert got.conflicts[0].as_py() == [0, 1] and got.counts["positive_over_negative"] == 2


@pytest.mark.parametrize("lists", [[[2], [], [0], [1], []], [[2], [0, 1], [], [1]]])
def test_expand_lists_every_implied_class_in_row_order(lists):
    """A mapping (at most one target per class, the filter-and-gather path) and a closure alike."""
    table = Closure.from_lists(lists)
    codes = np.array([0, 1, 3, 1, 2, 0, 3, 1], np.int32) % len(lists)
    rows, classes = table.expand(codes)
    expected = [(r, c) for r, code in enumerate(codes.tolist()) for c in lists[code]]
    assert list(zip(rows.tolist(), classes.tolist())) == expected

