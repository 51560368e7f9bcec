"""The shipped list of WordNet 3.0 adjective, verb and adverb word forms.

The noun snapshot answers "which synset"; name and tag mapping also needs to know
whether a word that is not a noun is an English word at all (to say `not_a_noun`,
to judge a compound's modifier, and to segment hashtags such as `#happydog`). This
module exports that list once from a WordNet 3.0 database directory and reads it
back. Regenerate with:

    python -m mlbuild.classes.mapping.wordlist --dict /usr/share/wordnet --out wordnet_maps/wordnet30_other_pos.tsv
"""
from __future__ import annotations

import argparse
from collections import defaultdict
from functools import lru_cache
from pathlib import Path

from mlbuild._util.atomic import write_atomic
from mlbuild._util.resources import wordnet_map
from mlbuild.errors import InputError

WORDLIST = "wordnet30_other_pos.tsv"
# index file -> part-of-speech letter; sense-key ss_type digits of the same parts of speech.
_INDEXES = {"index.adj": "a", "index.verb": "v", "index.adv": "r"}
_EXCEPTIONS = {"adj.exc": "a", "verb.exc": "v", "adv.exc": "r"}
_SS_TYPES = {"2": "v", "3": "a", "4": "r", "5": "a"}


def export(dict_dir: Path, out: Path) -> int:
    """Write `form<TAB>pos letters<TAB>SemCor count` for every non-noun form; returns the row count."""
    dict_dir = Path(dict_dir)
    pos: dict[str, set[str]] = defaultdict(set)
    for name, letter in {**_INDEXES, **_EXCEPTIONS}.items():
        for form in _first_tokens(dict_dir / name):
            pos[form.lower()].add(letter)
    counts: dict[str, int] = defaultdict(int)
    for key, count in _tag_counts(dict_dir / "cntlist.rev"):
        lemma, _, rest = key.partition("%")
        if rest[:1] in _SS_TYPES and lemma in pos:
            counts[lemma] += count
    lines = [f"{form}\t{''.join(sorted(p))}\t{counts[form]}\n" for form, p in sorted(pos.items())]
    write_atomic(out, "".join(lines))
    return len(lines)


def _first_tokens(path: Path) -> list[str]:
    """First token of every data line of an index or exception file (license lines start with a space)."""
    if not path.is_file():
        raise InputError(path, "missing: not a WordNet 3.0 database directory")
    with open(path, encoding="utf-8") as fh:
        return [line.split(" ", 1)[0] for line in fh if line.strip() and not line.startswith(" ")]


def _tag_counts(path: Path) -> list[tuple[str, int]]:
    """(sense key, tag count) pairs of `cntlist.rev` (`key sense_number count` per line)."""
    out = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            parts = line.split()
            if len(parts) != 3 or not parts[2].isdigit():
                raise InputError(path, f"expected 'sense_key sense_number count', got {line.strip()!r}",
                                 line=number)
            out.append((parts[0], int(parts[2])))
    return out


@lru_cache(maxsize=2)
def load(path: str | None = None) -> dict[str, tuple[str, int]]:
    """Lower-cased form (underscores for spaces) -> (pos letters, SemCor count) of the shipped list."""
    source = Path(path) if path else wordnet_map(WORDLIST)
    out = {}
    with open(source, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 3 or not parts[2].isdigit():
                raise InputError(source, "expected 'form<TAB>pos<TAB>count'", line=number)
            out[parts[0]] = (parts[1], int(parts[2]))
    return out


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: regenerate the shipped word list."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dict", type=Path, required=True, help="WordNet 3.0 dict directory")
    parser.add_argument("--out", type=Path, default=wordnet_map(WORDLIST))
    args = parser.parse_args(argv)
    print(f"{export(args.dict, args.out):,} forms -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
