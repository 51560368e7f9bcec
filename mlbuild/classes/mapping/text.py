"""Text handling for name and tag mapping: display names, word variants, camelCase, stop words.

Everything here is pure string work: no WordNet. WordNet lemma keys are lower case
with underscores for spaces (`swimming_pool`); `squash` removes every separator so
that `T-shirt`, `t shirt` and `tshirt` meet on one key.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import nltk
from nltk.stem.porter import PorterStemmer

# A qualifier is a trailing parenthesized part: "Bat (Animal)", "Ford fairmont (1965)".
_QUALIFIER = re.compile(r"^(?P<base>.*?)\s*\((?P<qualifier>[^()]*)\)\s*$")
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_SQUASH = str.maketrans("", "", " \t\n_-'.,/&+")
# Function words: never the name of what is in a picture.
STOP_WORDS = frozenset("""
a about above after again against all am an and any are as at be been before being below between
both but by can could did do does doing down during each few for from further had has have having
he her here hers herself him himself his how i if in into is it its itself just me more most my
myself no nor not now of off on once only or other our ours ourselves out over own same she should
so some such than that the their theirs them themselves then there these they this those through
to too under until up very was we were what when where which while who whom why will with would
you your yours yourself yourselves vs versus via
""".split())
_STEMMER = PorterStemmer()
STEMMER_VERSION = f"nltk-{nltk.__version__}-{_STEMMER.mode}"   # stems cached on disk are keyed by it


@dataclass(frozen=True)
class ParsedName:
    """A class name split into its base phrase and optional qualifier, both as word tuples."""

    text: str
    base_text: str
    base: tuple[str, ...]
    qualifier: tuple[str, ...]


def normalize(text: str) -> str:
    """Lower case without accents (WordNet lemmas are ASCII: `creme_brulee`), straight apostrophes, single spaces."""
    if not text.isascii():
        decomposed = unicodedata.normalize("NFKD", text.replace("’", "'"))
        text = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(text.lower().split())


def words(text: str) -> tuple[str, ...]:
    """Lower-case word tokens; apostrophes inside a word stay (`sprenger's`), hyphens split."""
    return tuple(_TOKEN.findall(normalize(text)))


def parse_name(name: str) -> ParsedName:
    """Split `Bat (Animal)` into base ('bat',) and qualifier ('animal',)."""
    match = _QUALIFIER.match(name.strip())
    base, qualifier = (match["base"], match["qualifier"]) if match and match["base"] else (name, "")
    return ParsedName(name, base.strip(), words(base.replace("&", " and ")), words(qualifier))


def squash(text: str) -> str:
    """The text with case and every separator removed: `T-shirt` -> `tshirt`."""
    return squash_key(normalize(text))


def squash_key(key: str) -> str:
    """`squash` of an already normalized (lower-case, unaccented) key."""
    return key.translate(_SQUASH)


def surface_keys(name: str) -> list[str]:
    """Lemma keys to try for a base phrase, most literal first.

    The phrase as written (hyphens kept), with hyphens as spaces, and without
    possessive `'s` (`Sprenger's tulip` -> `sprenger_tulip`, rarely a WordNet
    lemma, but `lady's slipper` is one with its apostrophe).
    """
    text = normalize(name).strip(" .,;:!?\"")
    literal = re.sub(r"\s+", "_", text)
    spaced = re.sub(r"[\s\-]+", "_", text)
    no_possessive = re.sub(r"'s\b", "", spaced)
    return list(dict.fromkeys(k for k in (literal, spaced, no_possessive) if k))


def split_camel(text: str) -> list[str]:
    """Split camelCase and digits: `GoldenRetriever2019` -> ['Golden', 'Retriever', '2019']."""
    return _CAMEL.findall(text)


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """Porter stem of a lower-case word (cached: glosses repeat words a lot)."""
    return _STEMMER.stem(word)


def is_numeric(tokens: tuple[str, ...]) -> bool:
    """True when every token has a digit: years and model numbers (`1966`, `850tc`)."""
    return bool(tokens) and all(any(ch.isdigit() for ch in t) for t in tokens)


def stems_match(a: str, b: str) -> bool:
    """Equal stems, or one a prefix of the other of at least 5 letters (`photograph`/`photographi`)."""
    if a == b:
        return True
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    return len(short) >= 5 and long_.startswith(short)
