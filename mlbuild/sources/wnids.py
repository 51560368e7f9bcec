"""ImageNet's WNID class lists and lemma files, read strictly (they are small and must be right).

- A class list has one WNID per line (`imagenet22k_synsets.txt`, the 21K-P lists, ...).
- A lemma file has `wnid<TAB>lemma, lemma, ...` per line (`words.txt`,
  `imagenet_synset_to_lemma.txt`); the gloss file has the same shape.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlbuild.errors import InputError
from mlbuild.sources.textio import fail_at_first, split_first, text_lines

WNID_REGEX = r"^n[0-9]{8}$"

# Named subsets: file names as published (timm `data/_info/`) and their exact sizes.
CLASS_LISTS: dict[str, tuple[str, int]] = {
    "fall11": ("imagenet22k_synsets.txt", 21_841),              # ImageNet-21k, sorted WNIDs
    "google21k": ("imagenet21k_goog_synsets.txt", 21_843),      # BiT/ViT head order
    "ms22k": ("imagenet22k_ms_synsets.txt", 21_842),            # Swin order, ILSVRC-1k first
    "21k-p-fall11": ("imagenet21k_miil_synsets.txt", 11_221),   # ImageNet-21K-P, fall11 variant
    "21k-p-winter21": ("imagenet21k_miil_w21_synsets.txt", 10_450),  # ImageNet-21K-P, winter21
    "imagenet12k": ("imagenet12k_synsets.txt", 11_821),         # timm ImageNet-12k
    "ilsvrc1k": ("imagenet_synsets.txt", 1_000),                # ILSVRC-2012, sorted WNIDs
}


def is_wnid(values: pa.Array) -> pa.Array:
    """Mask of values that are syntactically WNIDs (`n` + 8 digits)."""
    return pc.match_substring_regex(values, WNID_REGEX)


def read_wnid_file(path: Path, strict: bool = True) -> pa.Table:
    """The one reader of WNID list files: a table (wnid, name, line) in file order.

    Strict (class lists, fixed vocabularies): each non-blank line is `WNID` or `WNID<TAB>name`, and a
    WNID may occur once. Lenient (include/exclude lists, name-mapping vocabularies): the first
    whitespace-separated token of each line is the WNID, the rest of the line its name, lines starting
    with `#` are comments, and repeats are allowed. Blank lines are ignored in both modes; a token
    that is not a WNID is an InputError naming its line.
    """
    lines = text_lines(path)
    numbers = pa.array(np.arange(1, len(lines) + 1, dtype=np.int32))
    skip = pc.equal(lines, "") if strict else pc.or_(pc.equal(lines, ""), pc.starts_with(lines, "#"))
    if not strict:
        lines = pc.replace_substring_regex(lines, r"\s+", "\t", max_replacements=1)
    has_name, wnids, names = split_first(lines.cast(pa.binary()), "\t")
    wnids = pc.if_else(has_name, wnids, lines.cast(pa.binary())).cast(pa.string())
    names = pc.if_else(has_name, pc.utf8_trim_whitespace(names.cast(pa.string())), pa.scalar(None, pa.string()))
    fail_at_first(path, pc.and_not(pc.invert(is_wnid(wnids)), skip),
                  "not a WNID (n + 8 digits)" + (", optionally followed by a TAB and a name" if strict else ""),
                  "wnid")
    keep = pc.invert(skip)
    table = pa.table({"wnid": wnids.filter(keep), "name": names.filter(keep), "line": numbers.filter(keep)})
    if strict:
        first = pc.index_in(table.column("wnid"), value_set=table.column("wnid")).to_numpy(zero_copy_only=False)
        fail_at_first(path, first != np.arange(len(first)), "the list repeats a WNID", "wnid",
                      lines=table.column("line").to_numpy())
    return table


def read_wnid_list(path: Path, expected: int | None = None, strict: bool = True) -> pa.Array:
    """The WNIDs of a list file in file order (see `read_wnid_file` for `strict`), checked against `expected`."""
    wnids = read_wnid_file(path, strict).column("wnid").combine_chunks()
    if expected is not None and len(wnids) != expected:
        raise InputError(path, f"{len(wnids):,} WNIDs where this list has {expected:,}")
    return wnids


def class_list(name_or_path: str | Path, directory: Path | None = None) -> pa.Array:
    """A named subset (see CLASS_LISTS) from `directory`, or any class-list file by path."""
    if str(name_or_path) in CLASS_LISTS:
        if directory is None:
            raise InputError(name_or_path, "a named class list needs the folder that holds it")
        filename, size = CLASS_LISTS[str(name_or_path)]
        return read_wnid_list(Path(directory) / filename, expected=size)
    return read_wnid_list(Path(name_or_path))


def read_lemmas(path: Path) -> pa.Table:
    """`wnid<TAB>text` lines (words.txt, synset_to_lemma, synset_to_definition) as (wnid, text)."""
    lines = text_lines(path)
    blank = pc.equal(lines, "")
    has_tab, wnid, text = split_first(lines.cast(pa.binary()), "\t")
    wnid = wnid.cast(pa.string())
    fail_at_first(path, pc.and_not(pc.invert(has_tab), blank), "no TAB between WNID and text")
    fail_at_first(path, pc.and_not(pc.invert(is_wnid(wnid)), blank), "not a WNID (n + 8 digits)", "wnid")
    keep = pc.invert(blank)
    text = pc.utf8_trim_whitespace(text.cast(pa.string()))
    return pa.table({"wnid": wnid.filter(keep), "text": text.filter(keep)})


def names_for(wnids: pa.Array, lemmas: pa.Table | None) -> pa.Array | None:
    """The lemma text of each WNID (null when unknown), by columnar lookup."""
    if lemmas is None:
        return None
    return lemmas.column("text").take(pc.index_in(wnids, value_set=lemmas.column("wnid")))
