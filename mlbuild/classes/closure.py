"""`Closure`: per class, the classes it stands for, as CSR arrays over class indices.

The one CSR class map of mlbuild: the ancestor closure of a taxonomy (what a positive
implies), its transpose (where a negative is pushed down), and the targets that source
classes send their labels to (`mlbuild.classes.normalize`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlbuild._util.arrays import range_positions, transpose_csr
from mlbuild.classes.taxonomy import Taxonomy


@dataclass(frozen=True)
class Closure:
    """Per class, the classes it implies (self included), as CSR arrays over class indices."""

    indptr: np.ndarray   # int64, len = n_classes + 1
    indices: np.ndarray  # int32

    @property
    def n_classes(self) -> int:
        return len(self.indptr) - 1

    @classmethod
    def ancestors(cls, tax: Taxonomy) -> Closure:
        """Each class -> itself and all its ancestors, sorted."""
        return cls.from_lists([sorted(anc | {i}) for i, anc in enumerate(tax.dag.ancestors)])

    @classmethod
    def from_lists(cls, rows: list[list[int]]) -> Closure:
        """A closure from explicit per-class lists."""
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum([len(r) for r in rows], out=indptr[1:])
        indices = np.fromiter((c for r in rows for c in r), dtype=np.int32, count=int(indptr[-1]))
        return cls(indptr, indices)

    def row(self, c: int) -> list[int]:
        """The classes class c implies."""
        return self.indices[self.indptr[c]:self.indptr[c + 1]].tolist()

    def inverse(self) -> Closure:
        """The transposed closure: for ancestors, each class -> itself and its descendants."""
        return Closure(*transpose_csr(self.indptr, self.indices, np.int32))

    def expand(self, classes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For label rows with these classes: (source row of each output, implied class)."""
        starts = self.indptr[classes]
        counts = self.indptr[classes + 1] - starts
        if len(counts) and counts.max() <= 1:  # a mapping, not a closure: a filter and one gather
            rows = np.flatnonzero(counts)
            return rows, self.indices[starts[rows]]
        rows = np.repeat(np.arange(len(classes), dtype=np.int64), counts)
        return rows, self.indices[range_positions(starts, counts)]
