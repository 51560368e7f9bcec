"""Read the WordNet 3.0 noun snapshot and answer lookups and relations fast.

Rows are synsets in offset order; relations are CSR arrays of row indices, so
graph work (ancestors, the taxonomy's reduction) runs on numpy, not NLTK objects.
Indexes that not every caller needs (names, lemmas, inverse relations) are built
on first use, which keeps load + first WNID lookup well under 0.3 s.
"""
from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mlbuild._util.arrays import transpose_csr
from mlbuild._util.resources import wordnet_map
from mlbuild.errors import UnknownClassError

SNAPSHOT = "wordnet30_nouns.parquet"
RELATIONS = ("hypernym", "instance_hypernym", "part_holonym", "member_holonym", "substance_holonym")
NOUN_SUFFIXES = (("s", ""), ("ses", "s"), ("ves", "f"), ("xes", "x"), ("zes", "z"),
                 ("ches", "ch"), ("shes", "sh"), ("men", "man"), ("ies", "y"))
_WNID = re.compile(r"n\d{8}")
_SYNSET_COLUMNS = ("name", "lexname", "lemmas", "lemma_counts", "gloss")


def wnid_of(offset: int) -> str:
    """The WNID of a WordNet 3.0 noun offset."""
    return f"n{offset:08d}"


@dataclass(frozen=True)
class Synset:
    """One noun synset: identity, lemmas in WordNet order, gloss and lexicographer file."""

    row: int
    wnid: str
    name: str
    lexname: str
    lemmas: tuple[str, ...]
    lemma_counts: tuple[int, ...]
    gloss: str

    @property
    def label(self) -> str:
        """Readable class name: the first lemma with spaces."""
        return self.lemmas[0].replace("_", " ")


@dataclass(frozen=True)
class Sense:
    """A synset as a sense of one lemma: its sense rank (1 = most frequent) and tag count."""

    synset: Synset
    lemma: str
    rank: int
    count: int


class WordNet:
    """The WordNet 3.0 noun graph loaded from the snapshot."""

    def __init__(self, table: pa.Table) -> None:
        self._table = table
        self.offsets = _numpy(table.column("offset").chunk(0)).astype(np.int64)

    @cached_property
    def exceptions(self) -> dict[str, list[str]]:
        """Noun morphology exceptions (`noun.exc`): inflected form -> base forms."""
        return json.loads((self._table.schema.metadata or {}).get(b"wordnet.noun_exceptions", b"{}"))

    @classmethod
    def from_file(cls, path: Path) -> WordNet:
        """Load a snapshot written by `mlbuild wordnet export`."""
        return cls(pq.ParquetFile(path).read())  # ParquetFile skips the dataset layer: ~0.15 s less

    def __len__(self) -> int:
        return len(self.offsets)

    def wnid(self, row: int) -> str:
        """WNID of a row."""
        return wnid_of(int(self.offsets[row]))

    def row(self, key: str) -> int:
        """Row of a synset given as WNID (`n02084071`) or NLTK name (`dog.n.01`)."""
        if _WNID.fullmatch(key):
            row = self._wnid_rows.get(key)
            if row is not None:
                return row
        elif key in self._name_rows:
            return self._name_rows[key]
        raise UnknownClassError(f"{key!r} is not a WordNet 3.0 noun synset (WNID or name like dog.n.01)")

    def has(self, key: str) -> bool:
        """True if key is a known WNID or synset name."""
        try:
            self.row(key)
        except UnknownClassError:
            return False
        return True

    def synset(self, key: str | int) -> Synset:
        """A synset by WNID, NLTK name or row."""
        row = int(key) if isinstance(key, (int, np.integer)) else self.row(key)
        name, lex, lemmas, counts, gloss = (self._table.column(c)[row].as_py() for c in _SYNSET_COLUMNS)
        return Synset(row, self.wnid(row), name, lex, tuple(lemmas), tuple(counts), gloss)

    def synsets(self, rows: list[int] | None = None) -> list[Synset]:
        """Many synsets by row (every synset when rows is None), read column-wise."""
        part = self._table if rows is None else self._table.take(pa.array(rows, pa.int64()))
        rows = list(range(len(self))) if rows is None else rows
        cols = [part.column(c).to_pylist() for c in _SYNSET_COLUMNS]
        return [Synset(row, wnid_of(offset), name, lex, tuple(lemmas), tuple(counts), gloss)
                for row, offset, name, lex, lemmas, counts, gloss in zip(rows, self.offsets[rows].tolist(), *cols)]

    def relation(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """CSR (indptr, targets) of a relation: targets of row r are targets[indptr[r]:indptr[r+1]]."""
        return self._relations[name]

    def related(self, row: int, name: str) -> list[int]:
        """Rows that row points to through one relation."""
        indptr, targets = self.relation(name)
        return targets[indptr[row]:indptr[row + 1]].tolist()

    def inverse(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """CSR of the reverse relation (e.g. hyponyms for 'hypernym')."""
        return self._inverses[name]

    def ancestors(self, row: int, relations: tuple[str, ...] = ("hypernym", "instance_hypernym")) -> set[int]:
        """Every row reachable from row through the relations (row itself excluded)."""
        seen: set[int] = set()
        stack = [row]
        while stack:
            current = stack.pop()
            for rel in relations:
                for parent in self.related(current, rel):
                    if parent not in seen:
                        seen.add(parent)
                        stack.append(parent)
        return seen

    def morphy(self, word: str) -> list[str]:
        """Base forms of a noun present in WordNet (NLTK's morphy rules and exceptions)."""
        form = word.strip().lower().replace(" ", "_")
        bases = self.exceptions.get(form) or [form[: -len(old)] + new for old, new in NOUN_SUFFIXES
                                              if form.endswith(old)]
        return list(dict.fromkeys(f for f in [form, *bases] if self._has_lemma(f)))

    def senses(self, word: str) -> list[Sense]:
        """Noun senses of a word or phrase, after morphology, in WordNet sense order."""
        index = self._lemma_index
        out: list[Sense] = []
        for form in self.morphy(word):
            lo, hi = self._lemma_span(form)
            for i in sorted(range(lo, hi), key=lambda i: index["rank"][i]):
                out.append(Sense(self.synset(int(index["row"][i])), index["name"][i],
                                 int(index["rank"][i]), int(index["count"][i])))
        return out

    def sense_rows(self, key: str) -> list[tuple[int, str, int, int]]:
        """(row, lemma, rank, count) of one exact lower-case lemma key's senses, in sense order.

        No morphology and no Synset objects: the fast path for mapping many names.
        """
        index = self._lemma_index
        lo, hi = self._lemma_span(key)
        rows = zip(index["row"][lo:hi], index["name"][lo:hi], index["rank"][lo:hi], index["count"][lo:hi])
        return sorted(rows, key=lambda r: r[2])

    def lookup(self, word: str) -> list[Synset]:
        """Synsets of a word or phrase (`"Dogs"`, `"ice cream"`), in WordNet sense order."""
        return list(dict.fromkeys(s.synset for s in self.senses(word)))

    def _has_lemma(self, key: str) -> bool:
        lo, hi = self._lemma_span(key)
        return lo < hi

    def _lemma_span(self, key: str) -> tuple[int, int]:
        keys = self._lemma_index["key"]
        return bisect.bisect_left(keys, key), bisect.bisect_right(keys, key)

    @cached_property
    def _lemma_index(self) -> dict[str, list]:
        """Every (lemma, synset) pair sorted by lower-cased lemma: searched with bisect."""
        lemmas = self._table.column("lemmas").chunk(0)
        names = lemmas.flatten()
        keys = pc.utf8_lower(names)
        order = pc.sort_indices(keys)
        flat = {"row": pc.list_parent_indices(lemmas),
                "rank": self._table.column("lemma_ranks").chunk(0).flatten(),
                "count": self._table.column("lemma_counts").chunk(0).flatten()}
        index: dict[str, list] = {k: _numpy(v.take(order)).tolist() for k, v in flat.items()}   # lists: fast to slice
        index["key"] = keys.take(order).to_pylist()
        index["name"] = names.take(order).to_pylist()
        return index

    @cached_property
    def _wnid_rows(self) -> dict[str, int]:
        return {f"n{offset:08d}": i for i, offset in enumerate(self.offsets.tolist())}

    @cached_property
    def _name_rows(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self._table.column("name").to_pylist())}

    @cached_property
    def _relations(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        out = {}
        for name in RELATIONS:
            arr = self._table.column(name).chunk(0)
            out[name] = (_numpy(arr.offsets), _numpy(arr.values))
        return out

    @cached_property
    def _inverses(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        return {name: transpose_csr(indptr, targets, np.int32) for name, (indptr, targets) in self._relations.items()}


def _numpy(arr: pa.Array) -> np.ndarray:
    """Zero-copy view of a null-free primitive array (Array.to_numpy would import pandas: +0.14 s)."""
    dtype = np.dtype(arr.type.to_pandas_dtype())
    return np.frombuffer(arr.buffers()[1], dtype=dtype)[arr.offset:arr.offset + len(arr)]


@lru_cache(maxsize=1)
def load(path: str | None = None) -> WordNet:
    """The shipped WordNet 3.0 noun snapshot (or one at path), loaded once per process."""
    return WordNet.from_file(Path(path) if path else wordnet_map(SNAPSHOT))
