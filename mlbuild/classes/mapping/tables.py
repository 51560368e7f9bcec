"""Mapping tables on disk: write CSV atomically, read overrides, multiword equivalents and the shipped
Open Images table.

An overrides file is a reviewed correction list: `KEY,wnid,note` with a header
(`mid,wnid,note` for Open Images, `name,wnid,note` for `map-names`). A blank wnid
forces the key unmapped. Every WNID must be a WordNet 3.0 noun synset.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from mlbuild._util.atomic import write_atomic
from mlbuild._util.resources import wordnet_map
from mlbuild.classes.mapping import text
from mlbuild.classes.wordnet import WordNet
from mlbuild.classes.wordnet import load as load_wordnet
from mlbuild.errors import InputError
from mlbuild.sources.wnids import read_wnid_file

OPENIMAGES_TABLE = "openimages_wordnet.csv"
VISUAL_WNIDS = "visual_wnids.txt"
EQUIVALENTS = "multiword_equivalents.csv"


@dataclass(frozen=True)
class Override:
    """One reviewed answer: the WNID to use ('' = leave unmapped) and why."""

    wnid: str
    note: str
    line: int


def write_csv(path: Path, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> Path:
    """Write a CSV (LF line ends, minimal quoting) through a temporary file and an atomic rename."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return write_atomic(path, buffer.getvalue())


def write_lines(path: Path, lines: Iterable[str]) -> Path:
    """Write text lines (LF) atomically."""
    return write_atomic(Path(path), "".join(f"{line}\n" for line in lines))


def read_csv(path: Path, required: Sequence[str]) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) pairs of a CSV with a header that has the required columns."""
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError(path, f"header must have columns {list(required)}; missing {missing}", line=1)
        rows = []
        for row in reader:
            if None in row or None in row.values():
                raise InputError(path, f"expected {len(reader.fieldnames)} fields (quote fields that hold commas)",
                                 line=reader.line_num)
            rows.append((reader.line_num, row))
        return rows


def read_overrides(path: Path, key: str, wordnet: WordNet) -> dict[str, Override]:
    """Reviewed overrides keyed by `key` (e.g. 'mid'); rejects unknown WNIDs and duplicate keys."""
    out: dict[str, Override] = {}
    for line, row in read_csv(path, (key, "wnid", "note")):
        name, wnid = (row[key] or "").strip(), (row["wnid"] or "").strip()
        if not name:
            raise InputError(path, "empty key", line=line, field=key)
        if wnid and not (wnid.startswith("n") and wordnet.has(wnid)):
            raise InputError(path, f"{wnid!r} is not a WordNet 3.0 noun WNID", line=line, field="wnid")
        if name in out:
            raise InputError(path, f"{name!r} already overridden on line {out[name].line}", line=line, field=key)
        out[name] = Override(wnid, (row["note"] or "").strip(), line)
    return out


def read_equivalents(paths: Iterable[Path] = (), wordnet: WordNet | None = None) -> dict[str, str]:
    """Reviewed multiword equivalents: the shipped table plus the user's files (`name,wnid,note`; a later
    file wins), keyed by the name's words joined by `_` (`Slow cooker` -> `slow_cooker`)."""
    wn = wordnet or load_wordnet()
    out: dict[str, str] = {}
    for path in (wordnet_map(EQUIVALENTS), *paths):
        out.update({"_".join(text.words(name)): o.wnid for name, o in read_overrides(path, "name", wn).items()})
    return out


def read_visual_wnids(path: Path) -> tuple[list[str], list[str]]:
    """The shipped visual vocabulary: every WNID, and those marked as having 500+ images."""
    table = read_wnid_file(path).to_pydict()
    return table["wnid"], [w for w, mark in zip(table["wnid"], table["name"]) if mark == "500"]


@lru_cache(maxsize=4)
def read_class_map(path: str) -> dict[str, str]:
    """Source class -> WNID from a CSV with `mid` (or `source_class`) and `wnid`. A blank wnid ("") is
    kept: the class is listed and left unmapped on purpose (a reviewed decision, not a gap)."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            columns = set(next(csv.reader(fh), []))
        key = "mid" if "mid" in columns else "source_class"
        if not {key, "wnid"} <= columns:
            raise InputError(path, "a class map needs `mid` or `source_class`, and `wnid` columns", line=1)
        return {row[key]: row["wnid"].strip() for _, row in read_csv(Path(path), (key, "wnid"))}
    except OSError as err:
        raise InputError(path, f"cannot read the class map: {err.strerror}") from None
    except UnicodeDecodeError:
        raise InputError(path, "the class map is not UTF-8 text") from None


def read_descriptions(path: Path) -> dict[str, str]:
    """Class -> description from a CSV with `source_class` (or `name`) and `description` columns."""
    with open(path, newline="", encoding="utf-8") as fh:
        columns = set(next(csv.reader(fh), []))
    key = "source_class" if "source_class" in columns else "name"
    return {row[key]: row["description"].strip() for _, row in read_csv(Path(path), (key, "description"))}


@lru_cache(maxsize=1)
def openimages_scores(path: str | None = None) -> dict[str, float]:
    """MID -> the shipped Open Images mapping's score (its `score` column)."""
    source = Path(path) if path else wordnet_map(OPENIMAGES_TABLE)
    return {row["mid"]: float(row["score"]) for _, row in read_csv(source, ("mid", "score")) if row["score"]}


def openimages_wnids(path: str | None = None) -> dict[str, str]:
    """MID -> WNID of every mapped class in the shipped Open Images table (or the table at path)."""
    return {mid: wnid for mid, wnid in read_class_map(str(path or wordnet_map(OPENIMAGES_TABLE))).items() if wnid}
