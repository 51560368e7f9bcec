"""Map free-text tags and hashtags to synsets: split, drop filler, group into lemmas, map.

`#GoldenRetriever` splits on case; `#goldenretriever` and `#dogsandcats` are
segmented by dynamic programming over WordNet 3.0 word forms (every noun lemma,
multiword ones squashed, plus the adjective/verb/adverb list and stop words) with a
unigram cost from SemCor tag counts, so one multiword lemma beats its parts
(`golden retriever`, not `golden` + `retriever`). Stop words and photo-sharing
filler are dropped; the remaining words are grouped left to right into the longest
noun lemma phrases, and each phrase is mapped by `NameMapper` with the image's other
tags as context words and, in `map_set`, the senses first chosen for them as coherence
evidence (they disambiguate `#bat #cave` from `#bat #baseball`). A tag with several
concepts gives one mapping per concept (`#dogsandcats` -> dog, cat).

Tags on the stop list (`wordnet_maps/tag_stop_list.txt`, extendable with the user's own
files) stay unmapped with reason `stop_list` and their kind: photo-sharing `filler`
(`#instagood`), `sentiment` (`#love`) and `non_visual` (`#tbt`, `#foodporn`). Stop-listed
words inside a tag are dropped (`#lovemydog` -> dog).
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

from mlbuild._util.memory import paused_gc
from mlbuild._util.resources import wordnet_map
from mlbuild.classes.mapping import text
from mlbuild.classes.mapping.coherence import ListContext
from mlbuild.classes.mapping.lexicon import CORPUS, Lexicon, add_form
from mlbuild.classes.mapping.names import Context, Mapping, NameMapper, settled
from mlbuild.errors import InputError

MAX_WORD = 30          # longest squashed form tried by the segmenter
MAX_PHRASE = 4         # longest lemma phrase grouped from words
STOP_COST = 2.0        # stop words are the most frequent words
INFLECTION_COST = 0.5  # plural forms cost a little more than their lemma
_HASHTAG = re.compile(r"#?([^\s#]+)")
STOP_LIST = "tag_stop_list.txt"
STOP_KINDS = ("filler", "sentiment", "non_visual")


@dataclass(frozen=True)
class TagMapping:
    """One tag: the words it was read as, and a mapping per noun phrase found in them."""

    tag: str
    words: tuple[str, ...]
    mappings: tuple[Mapping, ...]


class Segmenter:
    """Splits run-together words (`goldenretriever`) into WordNet word forms."""

    def __init__(self, lex: Lexicon, filler: frozenset[str] = frozenset()) -> None:
        self.lex = lex
        self.filler = filler
        self.split = lru_cache(maxsize=50_000)(self._split)

    @cached_property
    def forms(self) -> dict[str, tuple[float, str]]:
        """Squashed form -> (cost, words as written in the lemma with spaces): the lexicon's word
        forms (`Lexicon.word_forms`) plus stop words and filler."""
        forms = dict(self.lex.word_forms)
        for word in text.STOP_WORDS | self.filler:
            add_form(forms, word, STOP_COST, word)
        return forms

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
        if piece in self.forms:
            return self.forms[piece]
        bases = [b for b in self.lex.noun_forms(piece)[1:] if b in self.forms]
        if bases:
            return self.forms[bases[0]][0] + INFLECTION_COST, piece
        return _unknown_cost(len(piece)), piece


class TagMapper:
    """Maps tags and hashtags through a `NameMapper`; tags on the stop list stay unmapped."""

    def __init__(self, names: NameMapper | None = None, stop_list: dict[str, str] | None = None) -> None:
        """`stop_list`: squashed tag or word -> kind (`filler`, `sentiment`, `non_visual`); default: the shipped one."""
        self.names = names or NameMapper()
        self.stop_list = read_stop_list() if stop_list is None else stop_list
        self.segmenter = Segmenter(self.names.lex, frozenset(self.stop_list))
        self._phrases = lru_cache(maxsize=100_000)(self._group)

    def words(self, tag: str) -> tuple[str, ...]:
        """The words of a tag: camelCase and run-together hashtags split, stop-listed and stop words dropped."""
        out: list[str] = []
        for part in _HASHTAG.findall(tag.replace("_", " ").replace("-", " ")):
            pieces = text.split_camel(part) if _mixed_case(part) else [part]
            for piece in pieces:
                for word in text.words(piece):
                    known = word.isdigit() or self.names.lex.is_word(word) or word in self.stop_list
                    out.extend([word] if known else self.segmenter.split(word))
        return tuple(w for w in out if w not in text.STOP_WORDS and w not in self.stop_list)

    def map(self, tag: str, context: Sequence[str] = (), coherence: ListContext | None = None,
            first: TagMapping | None = None) -> TagMapping:
        """Map one tag; context holds words of the image's other tags, coherence the senses chosen for them."""
        kind = self.stop_list.get(text.squash(tag.lstrip("#")))
        if kind:
            return TagMapping(tag, (), (Mapping(tag, reason="stop_list", evidence=f"kind={kind}"),))
        words = first.words if first is not None else self.words(tag)
        mappings = []
        for i, phrase in enumerate(self._phrases(words)):
            again = coherence is not None and first is not None
            if again and settled(first.mappings[i]):   # coherence cannot change this phrase's answer
                mappings.append(first.mappings[i])
                continue
            near = Context(words=tuple(w for w in context if w not in phrase.split()))
            if again:
                near = self.names.joined(near, coherence, first.mappings[i])
            mappings.append(self.names.map(phrase, near))
        return TagMapping(tag, words, tuple(mappings))

    def map_set(self, tags: Sequence[str]) -> list[TagMapping]:
        """Map the tags of one image jointly: each with the others' words and first-pass senses as evidence."""
        words = [self.words(t) for t in tags]
        first = [self.map(tag, [w for j, ws in enumerate(words) if j != i for w in ws]) for i, tag in enumerate(tags)]
        coherence = self.names.list_context(tags, [m for f in first for m in f.mappings])
        if coherence is None:
            return first
        return [self.map(tag, [w for j, ws in enumerate(words) if j != i for w in ws], coherence, first[i])
                for i, tag in enumerate(tags)]

    def map_all(self, tags: Sequence[str]) -> list[TagMapping]:
        """Map a source's tags: each alone, then with the senses chosen for all of them as coherence
        (the tags that had a runner-up sense). One process: the second pass reuses the first's
        weights (`NameMapper._weigh`), which forked workers would each have to redo."""
        with paused_gc():
            return self._map_all(tags)

    def _map_all(self, tags: Sequence[str]) -> list[TagMapping]:
        first = [self.map(tag) for tag in tags]
        coherence = self.names.list_context(tags, [m for f in first for m in f.mappings])
        if coherence is None:
            return first
        return [self.map(tag, (), coherence, found) if any(m.runner_up for m in found.mappings) else found
                for tag, found in zip(tags, first)]

    def _group(self, words: tuple[str, ...]) -> tuple[str, ...]:
        """Group words left to right into the longest noun lemma phrases; lone non-nouns stay single
        (cached per word tuple as `_phrases`)."""
        out, i = [], 0
        while i < len(words):
            for size in range(min(MAX_PHRASE, len(words) - i), 0, -1):
                key = "_".join(words[i:i + size])
                if size == 1 or self.names.lex.candidates((key,)) or key in self.names.equivalents:
                    out.append(" ".join(words[i:i + size]))
                    i += size
                    break
        return tuple(p for p in out if not p.isdigit())


def _mixed_case(part: str) -> bool:
    return any(c.isupper() for c in part[1:]) and any(c.islower() for c in part)


def _unknown_cost(length: int) -> float:
    """Norvig's unknown-word estimate: an unknown stretch costs more the longer it is."""
    return math.log(CORPUS / 10.0) + length * math.log(10.0)


def read_stop_list(paths: Iterable[Path] = ()) -> dict[str, str]:
    """The shipped tag stop list plus the user's (`tag<TAB>kind` per line; a later file wins)."""
    out: dict[str, str] = {}
    for path in (wordnet_map(STOP_LIST), *paths):
        with open(path, encoding="utf-8") as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                tag, _, kind = line.rstrip("\n").partition("\t")
                if kind not in STOP_KINDS:
                    raise InputError(path, f"expected 'tag<TAB>kind' with kind one of {STOP_KINDS}", line=number)
                out[text.squash(tag)] = kind
    return out
