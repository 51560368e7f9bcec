"""Map free-text tags and hashtags to synsets: split, drop filler, group into lemmas, map.

`#GoldenRetriever` splits on case; `#goldenretriever` and `#dogsandcats` are
segmented by dynamic programming over WordNet 3.0 word forms (every noun lemma,
multiword ones squashed, plus the adjective/verb/adverb list and stop words) with a
unigram cost from SemCor tag counts, so one multiword lemma beats its parts
(`golden retriever`, not `golden` + `retriever`). Stop words and photo-sharing
filler are dropped; the remaining words are grouped left to right into the longest
noun lemma phrases, and each phrase is mapped by `NameMapper` with the image's other
tags as context words (they disambiguate `#bat #cave` from `#bat #baseball`).
"""
from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache

from mlbuild.classes.mapping import text
from mlbuild.classes.mapping.lexicon import Lexicon
from mlbuild.classes.mapping.names import Context, Mapping, NameMapper

MAX_WORD = 30          # longest squashed form tried by the segmenter
MAX_PHRASE = 4         # longest lemma phrase grouped from words
CORPUS = 250_000.0     # about the SemCor token count: turns tag counts into probabilities
STOP_COST = 2.0        # stop words are the most frequent words
SHORT_WORD_COST = 6.0  # extra cost of a 1-2 letter word that is not a stop word: segments rarely are
INFLECTION_COST = 0.5  # plural forms cost a little more than their lemma
_HASHTAG = re.compile(r"#?([^\s#]+)")


@dataclass(frozen=True)
class TagMapping:
    """One tag: the words it was read as, and a mapping per noun phrase found in them."""

    tag: str
    words: tuple[str, ...]
    mappings: tuple[Mapping, ...]


class Segmenter:
    """Splits run-together words (`goldenretriever`) into WordNet word forms."""

    def __init__(self, lex: Lexicon) -> None:
        self.lex = lex
        self.split = lru_cache(maxsize=50_000)(self._split)

    @cached_property
    def _forms(self) -> dict[str, tuple[float, str]]:
        """Squashed form -> (cost, words as written in the lemma with spaces)."""
        forms: dict[str, tuple[float, str]] = {}
        counts: dict[str, int] = {}
        for syn in self.lex.synsets:
            for lemma, count in zip(syn.lemmas, syn.lemma_counts):
                key = lemma.lower()
                counts[key] = counts.get(key, 0) + count
        counts.update({w: c for w, (_, c) in self.lex.other_pos.items() if w not in counts})
        for key, count in counts.items():
            self._add(forms, text.squash_key(key), _word_cost(count, key), key.replace("_", " "))
        for word in text.STOP_WORDS | text.TAG_FILLER:
            self._add(forms, word, STOP_COST, word)
        return forms

    @staticmethod
    def _add(forms: dict[str, tuple[float, str]], squashed: str, cost: float, words: str) -> None:
        if squashed and (squashed not in forms or cost < forms[squashed][0]):
            forms[squashed] = (cost, words)

    def _split(self, run: str) -> tuple[str, ...]:
        """Cheapest segmentation of a lower-case run of letters; unknown stretches stay as they are."""
        n = len(run)
        best = [0.0] + [math.inf] * n
        back: list[tuple[int, str]] = [(0, "")] * (n + 1)
        for end in range(1, n + 1):
            for start in range(max(0, end - MAX_WORD), end):
                cost, words = self._cost(run[start:end])
                if best[start] + cost < best[end]:
                    best[end], back[end] = best[start] + cost, (start, words)
        out: list[str] = []
        end = n
        while end > 0:
            start, words = back[end]
            out[:0] = words.split()
            end = start
        return tuple(out)

    def _cost(self, piece: str) -> tuple[float, str]:
        if piece in self._forms:
            return self._forms[piece]
        bases = [b for b in self.lex.noun_forms(piece)[1:] if b in self._forms]
        if bases:
            return self._forms[bases[0]][0] + INFLECTION_COST, piece
        return _unknown_cost(len(piece)), piece


class TagMapper:
    """Maps tags and hashtags through a `NameMapper`."""

    def __init__(self, names: NameMapper | None = None) -> None:
        self.names = names or NameMapper()
        self.segmenter = Segmenter(self.names.lex)

    def words(self, tag: str) -> tuple[str, ...]:
        """The words of a tag: camelCase and run-together hashtags split, filler and stop words dropped."""
        out: list[str] = []
        for part in _HASHTAG.findall(tag.replace("_", " ").replace("-", " ")):
            pieces = text.split_camel(part) if _mixed_case(part) else [part]
            for piece in pieces:
                for word in text.words(piece):
                    known = word.isdigit() or self.names.lex.is_word(word)
                    out.extend([word] if known else self.segmenter.split(word))
        return tuple(w for w in out if w not in text.STOP_WORDS and w not in text.TAG_FILLER)

    def map(self, tag: str, context: Sequence[str] = ()) -> TagMapping:
        """Map one tag; context holds words of the image's other tags."""
        words = self.words(tag)
        mappings = []
        for phrase in self._phrases(words):
            found = self.names.map(phrase, Context(words=tuple(w for w in context if w not in phrase.split())))
            mappings.append(found)
        return TagMapping(tag, words, tuple(mappings))

    def map_set(self, tags: Sequence[str]) -> list[TagMapping]:
        """Map the tags of one image, each with the words of the others as context."""
        words = [self.words(t) for t in tags]
        return [self.map(tag, [w for j, ws in enumerate(words) if j != i for w in ws])
                for i, tag in enumerate(tags)]

    def _phrases(self, words: tuple[str, ...]) -> list[str]:
        """Group words left to right into the longest noun lemma phrases; lone non-nouns stay single."""
        out, i = [], 0
        while i < len(words):
            for size in range(min(MAX_PHRASE, len(words) - i), 0, -1):
                if size == 1 or self.names.lex.candidates(("_".join(words[i:i + size]),)):
                    out.append(" ".join(words[i:i + size]))
                    i += size
                    break
        return [p for p in out if not p.isdigit()]


def _mixed_case(part: str) -> bool:
    return any(c.isupper() for c in part[1:]) and any(c.islower() for c in part)


def _word_cost(count: int, key: str) -> float:
    """-log P(word) from its tag count; 1-2 letter forms that are not stop words cost extra."""
    cost = math.log(CORPUS / (count + 1))
    return cost + (SHORT_WORD_COST if len(key) <= 2 and key not in text.STOP_WORDS else 0.0)


def _unknown_cost(length: int) -> float:
    """Norvig's unknown-word estimate: an unknown stretch costs more the longer it is."""
    return math.log(CORPUS / 10.0) + length * math.log(10.0)
