"""WordNet-side lookups for mapping: a phrase's candidate synsets and each synset's evidence.

`Lexicon` wraps the noun snapshot with the indexes name mapping needs in bulk:
phrase -> candidate senses in three tiers (the exact lemma, noun morphology,
separator variants), whether a word is English at all (nouns plus the shipped
adjective/verb/adverb list), memoized ancestor sets, and the per-synset words that
qualifiers (lineage) and context words (gloss stems) are matched against.
"""
from __future__ import annotations

import math
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np

from mlbuild._util import content_cache
from mlbuild._util.arrays import csr_owners, float_sum
from mlbuild._util.resources import wordnet_map
from mlbuild.classes import wordnet as wordnet_module
from mlbuild.classes.mapping import text, wordlist
from mlbuild.classes.mapping.tables import VISUAL_WNIDS, read_visual_wnids
from mlbuild.classes.wordnet import Synset, WordNet
from mlbuild.classes.wordnet import graph as wordnet_graph
from mlbuild.classes.wordnet.graph import NOUN_SUFFIXES

IS_A = ("hypernym", "instance_hypernym")
ALL_RELATIONS = wordnet_module.RELATIONS
_GLOSS_WORD_LIMIT = 40
_INFLECTED_ENDS = frozenset(old[-1] for old, _ in NOUN_SUFFIXES)   # a noun suffix ends a form with these
MORPH_BESIDE_EXACT = 0.2   # `Glasses`: spectacles before several glasses (the exact lemma is the name)
CORPUS = 250_000.0     # about the SemCor token count: turns tag counts into word probabilities
SHORT_WORD_COST = 6.0  # extra cost of a 1-2 letter word that is not a stop word: segments rarely are


class Candidate(NamedTuple):
    """A synset a phrase can mean: the lemma that matched, its sense rank/count and sense prior
    (a named tuple: built and hashed in C, as mapping a list makes and memoizes hundreds of thousands)."""

    row: int
    lemma: str
    rank: int
    count: int
    prior: float
    tier: str


@dataclass(frozen=True)
class Shares:
    """How the visual vocabulary spreads over lexnames and specific ancestors (fractions, floored)."""

    lexnames: dict[str, float]
    ancestors: dict[int, float]
    floor: float

    def lexname(self, name: str) -> float:
        return self.lexnames.get(name, self.floor)

    def ancestor(self, row: int) -> float:
        return self.ancestors.get(row, self.floor)


@dataclass(frozen=True)
class Lineage:
    """What a qualifier is matched on: lemma keys of a synset and its ancestors, and their word stems."""

    phrases: frozenset[str]
    words: frozenset[str]


class Lexicon:
    """The noun snapshot plus the other-POS word list, indexed for fast bulk mapping."""

    def __init__(self, wn: WordNet | None = None, other_pos: dict[str, tuple[str, int]] | None = None) -> None:
        self.wn = wn or wordnet_module.load()
        self.other_pos = other_pos if other_pos is not None else wordlist.load()
        self.candidates = lru_cache(maxsize=100_000)(self._candidates)
        self.is_word = lru_cache(maxsize=100_000)(self._is_word)
        self.lineage = lru_cache(maxsize=50_000)(self._lineage)
        self.gloss_stems: Callable[[int], frozenset[str]] = lru_cache(maxsize=100_000)(self._gloss_stems)
        self.ancestors = lru_cache(maxsize=400_000)(self._ancestors)
        self.specific_lineage = lru_cache(maxsize=200_000)(self._specific_lineage)
        self._parent_lists: dict[tuple[str, ...], list[list[int]]] = {}

    @staticmethod
    @lru_cache(maxsize=1)
    def shared() -> Lexicon:
        """One lexicon over the shipped snapshot and word list, shared by every mapper of the process;
        its bulk indexes come from mlbuild's cache (`content_cache`), built on first use."""
        lex = Lexicon()
        inputs = [wordnet_map(name) for name in (wordnet_graph.SNAPSHOT, wordlist.WORDLIST, VISUAL_WNIDS)]
        code = [Path(module.__file__ or "") for module in (sys.modules[__name__], text, wordnet_graph)]
        lex.adopt(content_cache.cached("lexicon", [*inputs, *code], lex.bulk_indexes, salt=text.STEMMER_VERSION))
        return lex

    def bulk_indexes(self) -> dict[str, object]:
        """Every index `adopt` takes, built (~4.5 s, most of it stemming every gloss and lemma word)."""
        return {"noun_keys": self.noun_keys, "_squashed": self._squashed, "word_forms": self.word_forms,
                "visual_masks": self.visual_masks, "word_stems": self.word_stems,
                "compound_partners": self.compound_partners,
                "gloss_stems": tuple(self.gloss_stems(row) for row in range(len(self.wn)))}

    def adopt(self, indexes: dict[str, object]) -> None:
        """Use indexes `bulk_indexes` built for this snapshot (read from the cache) instead of building
        them; indexes that do not fit the snapshot (a damaged cache file) are ignored."""
        gloss = indexes.get("gloss_stems") if isinstance(indexes, dict) else None
        if not isinstance(gloss, tuple) or len(gloss) != len(self.wn):
            return
        self.__dict__.update((k, v) for k, v in indexes.items() if k != "gloss_stems")
        self.gloss_stems = gloss.__getitem__

    @cached_property
    def synsets(self) -> list[Synset]:
        """Every synset by row (one column-wise read, ~0.5 s)."""
        return self.wn.synsets()

    @cached_property
    def noun_keys(self) -> dict[str, bool]:
        """Lower-cased noun lemma key -> True if WordNet writes it in lower case somewhere (a common noun)."""
        keys: dict[str, bool] = {}
        for syn in self.synsets:
            for lemma in syn.lemmas:
                low = lemma.lower()
                keys[low] = keys.get(low, False) or lemma == low
        return keys

    @cached_property
    def word_forms(self) -> dict[str, tuple[float, str]]:
        """Squashed word form -> (cost, words as written in the lemma with spaces): every noun lemma
        and adjective/verb/adverb word, at -log P(word) from its tag count (what the tag segmenter
        splits run-together words into)."""
        forms: dict[str, tuple[float, str]] = {}
        counts: dict[str, int] = {}
        for syn in self.synsets:
            for lemma, count in zip(syn.lemmas, syn.lemma_counts):
                key = lemma.lower()
                counts[key] = counts.get(key, 0) + count
        counts.update({w: c for w, (_, c) in self.other_pos.items() if w not in counts})
        for key, count in counts.items():
            add_form(forms, text.squash_key(key), _word_cost(count, key), key)
        return forms

    @cached_property
    def word_stems(self) -> dict[str, str]:
        """Porter stem of every word of a noun lemma or of the adjective/verb/adverb list (`stem`)."""
        words = {w for key in self.noun_keys for w in key.split("_")} | set(self.other_pos)
        return {w: text.stem(w) for w in sorted(words)}

    def stem(self, word: str) -> str:
        """`text.stem`, looked up in `word_stems` for WordNet's words (stemming costs ~20 us a word)."""
        found = self.word_stems.get(word)
        return text.stem(word) if found is None else found

    @cached_property
    def compound_partners(self) -> dict[str, tuple[tuple[str, str], ...]]:
        """Lemma key -> (word, compound key) for every noun lemma `word_key` or `key_word`."""
        index: dict[str, list[tuple[str, str]]] = {}
        for key in self.noun_keys:
            first, _, rest = key.partition("_")
            if rest:
                head, _, last = key.rpartition("_")
                index.setdefault(rest, []).append((first, key))
                index.setdefault(head, []).append((last, key))
        return {k: tuple(v) for k, v in index.items()}

    @cached_property
    def _squashed(self) -> dict[str, tuple[str, ...]]:
        index: dict[str, list[str]] = {}
        for key in self.noun_keys:   # distinct keys: a list per squashed form, sorted when it has several
            index.setdefault(text.squash_key(key), []).append(key)
        return {k: tuple(v) if len(v) == 1 else tuple(sorted(v)) for k, v in index.items()}

    @cached_property
    def is_instance(self) -> np.ndarray:
        """True for instance synsets (proper nouns: people, places, named things)."""
        indptr, _ = self.wn.relation("instance_hypernym")
        return np.diff(indptr) > 0

    def _is_word(self, word: str) -> bool:
        """True if the word (one lower-case token) is a WordNet 3.0 word of any part of speech, after
        noun morphology (`WordNet.morphy`'s rules, on the lemma keys; cached per form as `is_word`)."""
        return any(form in self.noun_keys for form in self.noun_forms(word)) or word in self.other_pos

    def is_common_word(self, word: str) -> bool:
        """True for an ordinary lower-case English word: a common noun or an adjective/verb/adverb form."""
        return word in self.other_pos or any(self.noun_keys.get(f, False) for f in self.noun_forms(word))

    def noun_forms(self, key: str) -> list[str]:
        """The key and its noun base forms (rules and exceptions, applied to the last word)."""
        head, sep, last = key.rpartition("_")
        if last[-1:] not in _INFLECTED_ENDS and last not in self.wn.exceptions:
            return [key]
        prefix = head + sep
        bases = self.wn.exceptions.get(last) or [last[: -len(old)] + new for old, new in NOUN_SUFFIXES
                                                 if last.endswith(old)]
        return list(dict.fromkeys([key, *(prefix + b for b in bases)]))

    def _candidates(self, keys: tuple[str, ...]) -> tuple[Candidate, ...]:
        """Senses of the exact lemma keys and their noun base forms; separator variants if neither exists.

        Base forms count MORPH_BESIDE_EXACT when the exact form is a lemma too (`glasses` is spectacles
        before it is the plural of `glass`).
        """
        exact = [k for k in keys if k in self.noun_keys]
        morph = [f for k in keys for f in self.noun_forms(k)[1:] if f in self.noun_keys]
        if exact or morph:
            found = self._senses(exact, "exact_lemma", 1.0) + self._senses(morph, "morphology",
                                                                          MORPH_BESIDE_EXACT if exact else 1.0)
        else:
            squashed = {text.squash(f) for k in keys for f in self.noun_forms(k)}
            variant = sorted({lemma for s in squashed for lemma in self._squashed.get(s, ())})
            found = self._senses(variant, "variant", 1.0)
        best: dict[int, Candidate] = {}
        for cand in found:
            if cand.row not in best or cand.prior > best[cand.row].prior:
                best[cand.row] = cand
        return tuple(sorted(best.values(), key=lambda c: (-c.prior, c.row)))

    def _senses(self, lemma_keys: list[str], tier: str, weight: float) -> tuple[Candidate, ...]:
        """Candidates of lemma keys, each with its sense prior (times weight)."""
        out = []
        for key in dict.fromkeys(lemma_keys):
            senses = self.wn.sense_rows(key)
            priors = sense_priors([rank for _, _, rank, _ in senses], [count for _, _, _, count in senses])
            out.extend(Candidate(row, lemma, rank, count, weight * p, tier)
                       for (row, lemma, rank, count), p in zip(senses, priors))
        return tuple(out)

    def _ancestors(self, row: int, relations: tuple[str, ...] = IS_A) -> frozenset[int]:
        """Every row reachable through the relations (row excluded).

        Is-a is a DAG, so its sets are built from the parents' memoized sets; mixing in
        holonyms makes cycles, so those are walked with a visited set.
        """
        parents = self._parents(relations)
        if relations == IS_A:
            out: set[int] = set(parents[row])
            for parent in parents[row]:
                out |= self.ancestors(parent)
            return frozenset(out)
        seen: set[int] = set()
        stack = [row]
        while stack:
            for parent in parents[stack.pop()]:
                if parent not in seen:
                    seen.add(parent)
                    stack.append(parent)
        seen.discard(row)
        return frozenset(seen)

    def hyponyms(self, row: int, depth: int) -> list[int]:
        """Rows below row through hyponym links, up to depth levels, nearest first (no instances)."""
        indptr, targets = self.wn.inverse("hypernym")
        out, level = [], [row]
        for _ in range(depth):
            level = [c for r in level for c in targets[indptr[r]:indptr[r + 1]].tolist()]
            out.extend(level)
        return list(dict.fromkeys(out))

    def _specific_lineage(self, row: int, min_depth: int) -> frozenset[int]:
        """The row and its is-a ancestors that have at least min_depth ancestors themselves."""
        return frozenset(a for a in (row, *self.ancestors(row)) if len(self.ancestors(a)) >= min_depth)

    def _parents(self, relations: tuple[str, ...]) -> list[list[int]]:
        """Parent rows of every row through the relations, as Python lists (fast to walk), built once."""
        if relations in self._parent_lists:
            return self._parent_lists[relations]
        self._parent_lists[relations] = parents = [[] for _ in range(len(self.wn))]
        for rel in relations:
            indptr, targets = self.wn.relation(rel)
            for row in np.flatnonzero(np.diff(indptr)).tolist():
                parents[row].extend(targets[indptr[row]:indptr[row + 1]].tolist())
        return parents

    def vocabulary_masks(self, rows: list[int]) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Boolean masks over all rows: members of a vocabulary, and every is-a ancestor of a member."""
        if not rows:
            return None, None
        member = np.zeros(len(self.wn), dtype=bool)
        member[rows] = True
        above = np.zeros_like(member)
        edges = [(csr_owners(indptr), targets)
                 for indptr, targets in (self.wn.relation(r) for r in IS_A)]
        frontier = member.copy()
        while frontier.any():
            reached = np.zeros_like(member)
            for sources, targets in edges:
                reached[targets[frontier[sources]]] = True
            frontier = reached & ~above
            above |= reached
        return member, above

    @cached_property
    def visual_masks(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`vocabulary_masks` of the shipped visual vocabulary (ImageNet-21k), and a mask of its
        synsets known to have at least 500 images; built once."""
        wnids, frequent = read_visual_wnids(wordnet_map(VISUAL_WNIDS))
        member, above = self.vocabulary_masks([self.wn.row(w) for w in wnids])
        many = np.zeros_like(member)
        many[[self.wn.row(w) for w in frequent]] = True
        return member, above, many

    @lru_cache(maxsize=2)  # noqa: B019 - one per depth on the shared lexicon
    def visual_shares(self, min_depth: int) -> Shares:
        """List coherence's baseline: the fraction of all noun synsets per lexname (so a list of
        abstract names does not lift abstract senses above what WordNet holds anyway), and the
        fraction of the visual vocabulary under each specific ancestor."""
        lexnames = Counter(s.lexname for s in self.synsets)
        rows = np.flatnonzero(self.visual_masks[0]).tolist()
        ancestors: Counter = Counter(a for row in rows for a in self.specific_lineage(row, min_depth))
        n, v = float(len(self.synsets)), float(len(rows))
        return Shares({k: c / n for k, c in lexnames.items()}, {k: c / v for k, c in ancestors.items()}, 1.0 / n)

    def _lineage(self, row: int) -> Lineage:
        """Lemma keys and word stems of the synset and all its ancestors (every relation), plus its lexname."""
        rows = [row, *self.ancestors(row, ALL_RELATIONS)]
        phrases = {lemma.lower() for r in rows for lemma in self.synsets[r].lemmas}
        words = {text.stem(w) for p in phrases for w in p.split("_")}
        words.add(text.stem(self.synsets[row].lexname.split(".")[1]))
        return Lineage(frozenset(phrases), frozenset(words))

    def _gloss_stems(self, row: int) -> frozenset[str]:
        """Stems of the gloss's content words and of the synset's own lemma words."""
        syn = self.synsets[row]
        words = [w for w in text.words(syn.gloss)[:_GLOSS_WORD_LIMIT] if w not in text.STOP_WORDS]
        words += [w for lemma in syn.lemmas for w in lemma.lower().split("_")]
        return frozenset(text.stem(w) for w in words)


def add_form(forms: dict[str, tuple[float, str]], squashed: str, cost: float, key: str) -> None:
    """Keep the cheaper of two forms that squash alike (the first on a tie), its words spaced."""
    if squashed and (squashed not in forms or cost < forms[squashed][0]):
        forms[squashed] = (cost, key.replace("_", " "))


def _word_cost(count: int, key: str) -> float:
    """-log P(word) from its tag count; 1-2 letter forms that are not stop words cost extra."""
    cost = _count_cost(count)
    return cost + SHORT_WORD_COST if len(key) <= 2 and key not in text.STOP_WORDS else cost


@lru_cache(maxsize=4096)
def _count_cost(count: int) -> float:
    """-log P(word) of a tag count (few distinct counts: most words have none)."""
    return math.log(CORPUS / (count + 1))


def sense_priors(ranks: list[int], counts: list[int]) -> list[float]:
    """Prior of each sense of one lemma: half by SemCor tag count (add-one), half by 1/rank."""
    by_count = [count + 1.0 for count in counts]
    by_rank = [1.0 / rank for rank in ranks]
    count_total, rank_total = float_sum(by_count), float_sum(by_rank)   # numpy's sums, without arrays
    return [0.5 * c / count_total + 0.5 * r / rank_total for c, r in zip(by_count, by_rank)]
