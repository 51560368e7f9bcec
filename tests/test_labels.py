"""Label propagation against a brute-force reference on random DAGs and labels."""
from __future__ import annotations

import random

import numpy as np
import pytest

from mlbuild.labels.propagate import Closure, propagate


def random_dag(n: int, rng: random.Random) -> list[set[int]]:
    """Ancestor sets (self included) of a random DAG whose edges go from higher to lower index."""
    parents = [set(rng.sample(range(c), k=min(c, rng.randint(0, 2)))) for c in range(n)]
    anc: list[set[int]] = []
    for c in range(n):
        anc.append({c}.union(*(anc[p] for p in parents[c])))
    return anc


def reference(n_images, pos, neg, anc):
    """Per image: {class: max confidence}, direct positives, negatives pushed down minus positives."""
    labels = [dict() for _ in range(n_images)]
    direct = [set() for _ in range(n_images)]
    negatives = [set() for _ in range(n_images)]
    for img, cls, conf in pos:
        direct[img].add(cls)
        for a in anc[cls]:
            labels[img][a] = max(labels[img].get(a, 0.0), conf)
    for img, cls in neg:
        negatives[img] |= {d for d in range(len(anc)) if cls in anc[d]}
    conflicts = sum(len(negatives[i] & set(labels[i])) for i in range(n_images))
    return labels, direct, [negatives[i] - set(labels[i]) for i in range(n_images)], conflicts


@pytest.mark.parametrize("seed", range(6))
def test_matches_brute_force(seed):
    rng = random.Random(seed)
    anc = random_dag(40, rng)
    n_images = 30
    pos = sorted((rng.randrange(n_images), rng.randrange(40), rng.choice([1.0, 0.5, 0.7, 0.25]))
                 for _ in range(80))
    neg = sorted((rng.randrange(n_images), rng.randrange(40)) for _ in range(40))
    up = Closure.from_lists([sorted(a) for a in anc])
    got = propagate(n_images, np.array([p[0] for p in pos]), np.array([p[1] for p in pos], np.int32),
                    np.array([p[2] for p in pos], np.float32), np.array([n[0] for n in neg]),
                    np.array([n[1] for n in neg], np.int32), up)
    labels, direct, negatives, conflicts = reference(n_images, pos, neg, anc)
    for i in range(n_images):
        assert got.labels[i].as_py() == sorted(labels[i])
        assert got.confidences[i].as_py() == pytest.approx([labels[i][c] for c in sorted(labels[i])])
        assert got.direct[i].as_py() == sorted(direct[i])
        assert got.negatives[i].as_py() == sorted(negatives[i])
    assert got.conflicts == conflicts > 0


def test_single_label_fast_path_equals_general_path():
    rng = random.Random(3)
    anc = random_dag(50, rng)
    up = Closure.from_lists([sorted(a) for a in anc])
    images = np.array(sorted(rng.sample(range(100), 60)))
    classes = np.array([rng.randrange(50) for _ in images], np.int32)
    conf = np.ones(len(images), np.float32)
    fast = propagate(100, images, classes, conf, images[:0], classes[:0], up)
    general = propagate(100, images, classes, conf, images[:1], classes[:1], up)  # one negative: no fast path
    assert fast.labels.equals(general.labels) and fast.direct.equals(general.direct)
    assert fast.confidences.equals(general.confidences)
    unlabeled = sorted(set(range(100)) - set(images.tolist()))[0]
    assert len(fast.labels) == 100 and fast.labels[unlabeled].as_py() == []


def test_inverse_closure_lists_descendants():
    up = Closure.from_lists([[0], [0, 1], [0, 1, 2], [0, 3]])
    down = up.inverse()
    assert [down.indices[down.indptr[c]:down.indptr[c + 1]].tolist() for c in range(4)] == \
        [[0, 1, 2, 3], [1, 2], [2], [3]]


def test_positive_wins_over_implied_negative():
    up = Closure.from_lists([[0], [0, 1]])
    got = propagate(1, np.array([0]), np.array([1], np.int32), np.array([1.0], np.float32),
                    np.array([0]), np.array([0], np.int32), up)
    assert got.labels[0].as_py() == [0, 1] and got.negatives[0].as_py() == [] and got.conflicts == 2


@pytest.mark.parametrize("lists", [[[2], [], [0], [1], []], [[2], [0, 1], [], [1]]])
def test_expand_lists_every_implied_class_in_row_order(lists):
    """A mapping (at most one target per class, the filter-and-gather path) and a closure alike."""
    table = Closure.from_lists(lists)
    codes = np.array([0, 1, 3, 1, 2, 0, 3, 1], np.int32) % len(lists)
    rows, classes = table.expand(codes)
    expected = [(r, c) for r, code in enumerate(codes.tolist()) for c in lists[code]]
    assert list(zip(rows.tolist(), classes.tolist())) == expected

