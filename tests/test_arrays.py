"""stable_argsort against numpy's stable argsort on every path, unique_inverse against np.unique;
range_positions by example; transpose_csr, csr_owners and runs against slow references."""
from __future__ import annotations

import numpy as np
import pytest

from mlbuild._util.arrays import (
    csr_owners,
    float_sum,
    range_positions,
    runs,
    stable_argsort,
    transpose_csr,
    unique_inverse,
)


@pytest.mark.parametrize("values", [
    np.array([5, 3, 5, 0, 3, 3, 9], np.int64),            # packed path, ties
    np.arange(10, dtype=np.int64),                        # already sorted
    np.array([2**62, 1, 2**62, 0], np.uint64),            # too wide to pack: numpy's path
    np.array([-4, 7, -4, 0], np.int64),                   # negative: numpy's path
    np.random.default_rng(0).integers(0, 50, 1000).astype(np.int32)])
def test_stable_argsort_equals_numpy_stable_argsort(values):
    assert stable_argsort(values).tolist() == np.argsort(values, kind="stable").tolist()


@pytest.mark.parametrize("values", [
    np.array([], np.int64), np.array([7], np.int64), np.array([5, 3, 5, 0, 3, 3, 9], np.int64),
    np.repeat(np.arange(100, dtype=np.int64), 3) * 1000 + np.random.default_rng(1).integers(0, 4, 300),
    np.random.default_rng(2).integers(-5, 50, 1000)])
def test_unique_inverse_equals_numpy_unique(values):
    distinct, inverse = unique_inverse(values)
    expected, expected_inverse = np.unique(values, return_inverse=True)
    assert distinct.tolist() == expected.tolist() and inverse.tolist() == expected_inverse.ravel().tolist()


def test_range_positions_lists_each_range_in_order():
    assert range_positions(np.array([5, 0, 9, 2]), np.array([3, 0, 1, 2])).tolist() == [5, 6, 7, 9, 2, 3]
    assert range_positions(np.array([], np.int64), np.array([], np.int64)).tolist() == []


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_transpose_csr_and_runs_match_slow_references(seed):
    rng = np.random.default_rng(seed)
    n = 30
    counts = rng.integers(0, 5, n)
    indptr = np.r_[0, np.cumsum(counts)]
    targets = rng.integers(0, n, int(counts.sum()))
    back_ptr, sources = transpose_csr(indptr, targets)
    expected = [sorted(r for r in range(n) for t in targets[indptr[r]:indptr[r + 1]] if t == row) for row in range(n)]
    assert [list(sources[back_ptr[r]:back_ptr[r + 1]]) for r in range(n)] == expected
    assert list(csr_owners(indptr)) == [r for r in range(n) for _ in range(counts[r])]
    values = np.sort(rng.integers(0, 6, 25))
    first, run = runs(values)
    assert list(values[first]) == list(np.unique(values))
    assert list(run) == [list(np.unique(values)).index(v) for v in values]


def test_float_sum_is_numpys_sum_bit_for_bit():
    rng = np.random.default_rng(7)
    scales = np.array([1e16, 1.0, 0.1, 3.3e-5, 7.0, 1e-3, 1e-300])
    for n in range(0, 20):
        for _ in range(300):
            values = (rng.choice(scales, n) * rng.random(n)).tolist()
            assert float_sum(values) == np.asarray(values, dtype=np.float64).sum()
    assert float_sum([1e16, 1.0, 1.0]) == 1e16 != 1e16 + (1.0 + 1.0)   # one by one, as numpy does
