"""An image's other tags as context: per image, an ambiguous tag keeps its sense or takes its runner-up.

A tag source is first mapped as one list (every distinct tag, with the source's coherence); a tag
whose answer has a runner-up sense (`#bat`: the animal, runner-up the club) is *ambiguous*. On each
image, every other tag u of that image is evidence for one of the two senses A (the answer) and B
(the runner-up), as in `NameMapper._weigh`:

- gloss: the stems of u's words and of its chosen synset's gloss shared with the stems only A's (or
  only B's) gloss and lemmas have: a factor 1 + CONTEXT_WEIGHT * min(shared, MAX_CONTEXT_OVERLAP);
- compound: u's word and the tag form a WordNet lemma at or below the sense (`baseball` + `bat`:
  `baseball bat`, a kind of the club): a factor COMPOUND_CONTEXT_WEIGHT.

The source's coherence (shared lexnames and ancestors) is already in the two scores; counting an
image's lexnames again would push every tag towards the lexname most tags of any source have
(on 1M images of unrelated random tags, it switched 16,773 label rows, against 1,082 without).

The image gives B when log(score B / score A) plus the sum over its other tags of log(factors for B)
minus log(factors for A) is above 0. The pair terms depend on two tags only, so they are computed for
the whole source at once as sparse matrix products (tag senses x stems times stems x tags), and each
image only sums looked-up terms: numpy over (image, tag, other tag) rows, no Python loop over images
or tag sets. Only the rows that could switch are summed: those whose log ratio plus their number of
other tags times the tag's largest pair term is above 0 (most ambiguous tags have a clear answer).
Stems that the context of more than STEM_MAX_TAGS of the source's tags contain (`small`,
`used`) carry no evidence and are left out, which keeps the products sparse.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from mlbuild._util.arrays import range_positions, runs
from mlbuild._util.memory import paused_gc
from mlbuild.classes.mapping.lexicon import Lexicon
from mlbuild.classes.mapping.names import COMPOUND_CONTEXT_WEIGHT, CONTEXT_WEIGHT, MAX_CONTEXT_OVERLAP

STEM_MAX_TAGS = 50
MAX_IMAGE_TAGS = 100   # an image with more distinct tags is a tag dump, not a description: no image context
BOUND_SLACK = 1e-6     # a row whose best possible sum stays below -BOUND_SLACK cannot switch, rounding aside


@dataclass(frozen=True)
class TagSenses:
    """A source's distinct tags as mapped (rows -1 where none): answer, runner-up, their scores, words."""

    answer: np.ndarray          # int64 synset row of the answer, -1 when unmapped
    runner_up: np.ndarray       # int64 synset row of the runner-up, -1 when none
    log_ratio: np.ndarray       # float64 log(score runner-up / score answer); -inf when not ambiguous
    words: tuple[tuple[str, ...], ...]

    @property
    def ambiguous(self) -> np.ndarray:
        """True for the tags an image's context can switch to their runner-up."""
        return np.isfinite(self.log_ratio)


@dataclass(frozen=True)
class Features:
    """Per tag, the sets the pair terms are made of (Python sets: the slow reference reads them too)."""

    stems: list[frozenset[str]]          # context a tag gives: its word stems and its answer's gloss stems
    words: list[frozenset[str]]          # its words, for compounds
    sense_stems: tuple[list[frozenset[str]], list[frozenset[str]]]     # stems only A / only B has
    compounds: tuple[list[frozenset[str]], list[frozenset[str]]]       # words forming a lemma under A / B


def tag_senses(lex: Lexicon, wnids: Sequence[str | None], scores: Sequence[float | None],
               runner_ups: Sequence[str | None], runner_up_scores: Sequence[float],
               words: Sequence[tuple[str, ...]]) -> TagSenses:
    """The senses of a source's mapped tags (`SourceClasses` columns) and the words of each tag."""
    answer = np.array([lex.wn.row(w) if w else -1 for w in wnids], np.int64)
    second = np.array([lex.wn.row(w) if w and a >= 0 else -1 for w, a in zip(runner_ups, answer)], np.int64)
    ratio = np.full(len(answer), -np.inf)
    for i, (a, b) in enumerate(zip(scores, runner_up_scores)):
        if second[i] >= 0 and a and b:
            ratio[i] = np.log(b / a)
    return TagSenses(answer, second, ratio, tuple(words))


def features(lex: Lexicon, senses: TagSenses) -> Features:
    """The stems, words and compounds of every tag and of its two senses."""
    with paused_gc():
        return _features(lex, senses)


def _features(lex: Lexicon, senses: TagSenses) -> Features:
    n = len(senses.answer)
    own = [frozenset(lex.stem(w) for w in ws) for ws in senses.words]
    stems = [own[i] | (lex.gloss_stems(int(r)) if r >= 0 else frozenset()) for i, r in enumerate(senses.answer)]
    empty: list[frozenset[str]] = [frozenset()] * n
    only_a, only_b, comp_a, comp_b = list(empty), list(empty), list(empty), list(empty)
    for i in np.flatnonzero(senses.ambiguous).tolist():
        a, b = int(senses.answer[i]), int(senses.runner_up[i])
        ga, gb = lex.gloss_stems(a) - own[i], lex.gloss_stems(b) - own[i]
        only_a[i], only_b[i] = ga - gb, gb - ga
        partners = [(word, [c for c, *_ in lex.wn.sense_rows(key)])
                    for word, key in lex.compound_partners.get("_".join(senses.words[i]), ())]
        comp_a[i], comp_b[i] = _under(lex, partners, a), _under(lex, partners, b)
    return Features(stems, [frozenset(ws) for ws in senses.words], (only_a, only_b), (comp_a, comp_b))


def _under(lex: Lexicon, partners: Sequence[tuple[str, list[int]]], row: int) -> frozenset[str]:
    """The partner words whose compound lemma (given by its sense rows) has a sense at or below row."""
    return frozenset(word for word, rows in partners if any(c == row or row in lex.ancestors(c) for c in rows))


def pair_terms(feats: Features) -> sparse.csr_matrix:
    """n x n: log(factors for B) - log(factors for A) that tag u (column) gives ambiguous tag t (row)."""
    usable = _informative(feats.stems)
    stems = [s & usable for s in feats.stems]
    vocab: dict[str, int] = {}
    context = _binary(stems, vocab)
    overlap = [_capped(_binary(s, vocab, grow=False) @ context.T) for s in feats.sense_stems]
    known: dict[str, int] = {}
    words = _binary(feats.words, known)
    compound = [(_binary(c, known, grow=False) @ words.T).astype(bool).astype(np.float64) * np.log(
        COMPOUND_CONTEXT_WEIGHT) for c in feats.compounds]
    out = (overlap[1] - overlap[0] + compound[1] - compound[0]).tocsr()
    out.sum_duplicates()   # canonical: one stored value per (row, column), what `_lookup` reads
    out.eliminate_zeros()
    out.sort_indices()
    return out


def _informative(stems: list[frozenset[str]]) -> frozenset[str]:
    """Stems in the context of at most STEM_MAX_TAGS tags."""
    counts: dict[str, int] = defaultdict(int)
    for s in stems:
        for stem in s:
            counts[stem] += 1
    return frozenset(s for s, c in counts.items() if c <= STEM_MAX_TAGS)


def _binary(sets: Sequence[frozenset[str]], vocab: dict[str, int], grow: bool = True) -> sparse.csr_matrix:
    """A 0/1 matrix: row i has the columns of the members of sets[i] in vocab (members not in vocab
    get new columns, or with grow=False are left out)."""
    indices: list[int] = []
    indptr = [0]
    for members in sets:
        for m in sorted(members):
            if grow:
                indices.append(vocab.setdefault(m, len(vocab)))
            elif m in vocab:
                indices.append(vocab[m])
        indptr.append(len(indices))
    return sparse.csr_matrix((np.ones(len(indices)), np.asarray(indices, np.int64), np.asarray(indptr)),
                             shape=(len(sets), max(len(vocab), 1)))


def _capped(counts: sparse.csr_matrix) -> sparse.csr_matrix:
    """log(1 + CONTEXT_WEIGHT * min(count, MAX_CONTEXT_OVERLAP)) of every stored count."""
    out = counts.tocsr(copy=True)
    out.data = np.log1p(CONTEXT_WEIGHT * np.minimum(out.data, MAX_CONTEXT_OVERLAP))
    return out


def switched(senses: TagSenses, terms: sparse.csr_matrix, image: np.ndarray, tag: np.ndarray) -> np.ndarray:
    """For distinct (image, tag) pairs sorted by image: True where the image's other tags make the
    tag take its runner-up sense (never on an image with more than MAX_IMAGE_TAGS tags)."""
    first, group = runs(image)
    starts = np.flatnonzero(first)
    size = np.diff(np.r_[starts, len(image)])
    others = size[group] - 1
    ambiguous = np.flatnonzero(senses.ambiguous[tag] & (others < MAX_IMAGE_TAGS)
                               & (senses.log_ratio[tag] + others * _best_term(terms)[tag] > -BOUND_SLACK))
    if not len(ambiguous):
        return np.zeros(len(tag), bool)
    # every (ambiguous row, other row of its image) pair
    per = size[group[ambiguous]]
    left, right = np.repeat(ambiguous, per), range_positions(starts[group[ambiguous]], per)
    keep = left != right
    left, right = left[keep], right[keep]
    total = senses.log_ratio[tag] + np.bincount(left, weights=_lookup(terms, tag[left], tag[right]),
                                                minlength=len(tag))
    out = np.zeros(len(tag), bool)
    out[ambiguous] = total[ambiguous] > 0
    return out


def _best_term(terms: sparse.csr_matrix) -> np.ndarray:
    """Per tag, the largest term any other tag can give it (0 when none is positive): with n other
    tags, an image adds at most n times that to the tag's log ratio."""
    return np.maximum(terms.max(axis=1).toarray().ravel(), 0.0)


def _lookup(matrix: sparse.csr_matrix, row: np.ndarray, col: np.ndarray) -> np.ndarray:
    """matrix[row[k], col[k]] for every k (0 where nothing is stored): scipy searches each row's
    sorted columns, ~5x faster than one search over all (row, column) keys."""
    return np.asarray(matrix[row, col], dtype=np.float64).ravel()
