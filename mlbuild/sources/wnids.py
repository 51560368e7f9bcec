"""ImageNet's WNID class lists and lemma files, read strictly (they are small and must be right).

- A class list has one WNID per line (`imagenet22k_synsets.txt`, the 21K-P lists, ...).
- A lemma file has `wnid<TAB>lemma, lemma, ...` per line (`words.txt`,
  `imagenet_synset_to_lemma.txt`); the gloss file has the same shape.
"""
from __future__ import annotations

from pathlib import Path

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


def read_wnid_list(path: Path, expected: int | None = None) -> pa.Array:
    """The WNIDs of a class list, in file order; blank lines are ignored, anything else is an error."""
    lines = text_lines(path)
    blank = pc.equal(lines, "")
    fail_at_first(path, pc.and_not(pc.invert(is_wnid(lines)), blank), "not a WNID (n + 8 digits)", "wnid")
    wnids = lines.filter(pc.invert(blank))
    if len(pc.unique(wnids)) != len(wnids):
        raise InputError(path, "the class list repeats a WNID")
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
