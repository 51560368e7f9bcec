"""Build a class vocabulary (taxonomy) from WNID list files and write it as manifests."""
from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from mlbuild._util.ownership import claim_output_dir
from mlbuild._util.parquet import write_table
from mlbuild.classes.taxonomy import DEFAULT_RELATIONS, Taxonomy
from mlbuild.errors import InputError

_WNID = re.compile(r"n\d{8}")


def read_vocab_file(path: Path) -> list[str]:
    """WNIDs from a list file: the first token of each line (`wnid`, `wnid<TAB>lemmas`, `wnid name`)."""
    wnids = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            token = line.split(maxsplit=1)[0] if line.strip() else ""
            if not token or token.startswith("#"):
                continue
            if not _WNID.fullmatch(token):
                raise InputError(path, f"{token!r} is not a WNID (n + 8 digits)", line=number, field="wnid")
            wnids.append(token)
    return wnids


def source_name(spec: str) -> tuple[str, Path]:
    """Split `NAME=PATH` (or a plain PATH, named by its stem) into (name, path)."""
    name, sep, path = spec.partition("=")
    return (name, Path(path)) if sep else (Path(spec).stem, Path(spec))


def build_vocabulary(specs: Iterable[str], relations: Iterable[str] = DEFAULT_RELATIONS) -> Taxonomy:
    """A taxonomy of the union of the WNID lists, each remembered as a source."""
    tax = Taxonomy(relations=relations)
    for spec in specs:
        name, path = source_name(spec)
        tax.add_all(read_vocab_file(path), source=name)
    return tax


def write_vocabulary(tax: Taxonomy, out_dir: Path) -> tuple[Path, Path]:
    """Write classes.parquet and hierarchy.parquet into out_dir (an mlbuild `vocab` folder)."""
    out_dir = claim_output_dir(Path(out_dir), "vocab")
    classes, hierarchy = tax.to_tables()
    return write_table(classes, out_dir / "classes.parquet"), write_table(hierarchy, out_dir / "hierarchy.parquet")
