"""ImageNet-21k as a source: the fall11 URL list, or a local `<root>/<wnid>/*.JPEG` tree.

`fall11_urls.txt` (14,197,122 lines, 1.1 GB) is `n00004475_6590<TAB>http://...` with LF
and is not clean UTF-8. It is read as bytes in bounded blocks, every line split at its
first TAB (columnar), and rows that do not split, or whose id is not `<wnid>_<number>`,
are skipped and counted with their line numbers. A URL that is not valid UTF-8 is kept
with its bytes >= 0x80 percent-encoded (RFC 3986): the request it names is the same, and
the row is counted in `repairs`. The class of an image is the WNID prefix of its id.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import NamedTuple
from urllib.parse import quote_from_bytes

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlbuild.errors import InputError
from mlbuild.sources.base import SourceAdapter, classes_table, failing_rows, images_batch, labels_batch, record_skips
from mlbuild.sources.textio import BLOCK_BYTES, parsed_blocks, split_first, split_lines
from mlbuild.sources.wnids import CLASS_LISTS, class_list, is_wnid, names_for, read_lemmas

IMAGE_ID_REGEX = r"^n[0-9]{8}_[0-9]+$"
_ASCII = "".join(map(chr, range(128)))
EARLY_REFUSAL_LINES = 1000  # a first block of this many lines, none good, is a wrong format option
FORMATS = {"tsv": "\t", "csv": ","}  # tsv: the original file; csv: the re-saved sample (quoted, CRLF)


@dataclass
class ImageNetUrlsConfig:
    """Where the URL list is and how to read it.

    `format` is "tsv" (the original `fall11_urls.txt`) or "csv" (the `image_id,url`
    re-save with CRLF and quoted URLs); it is never guessed. `classes` is a class-list
    name from `wnids.CLASS_LISTS` (read from `lists_dir`) or a path; when given, only
    images of those classes are read. `lemmas` is a words.txt-style file for class names.
    """

    urls: Path
    format: str = field(default="tsv", metadata={"choices": tuple(FORMATS)})
    classes: str | Path | None = field(default=None, metadata={"names": tuple(CLASS_LISTS), "folder": "lists_dir"})
    lists_dir: Path | None = None
    lemmas: Path | None = None
    name: str = "imagenet21k"
    split: str = "train"
    block_bytes: int = field(default=BLOCK_BYTES, metadata={"min": 1 << 10})


class ImageNetUrls(SourceAdapter):
    """The fall11 URL list as images with one label each (confidence 1, label_source "imagenet")."""

    label_kind = "wnid"
    config_class = ImageNetUrlsConfig

    def __init__(self, config: ImageNetUrlsConfig) -> None:
        if config.format not in FORMATS:
            raise InputError(config.urls, f"format must be one of {sorted(FORMATS)}, not {config.format!r}")
        super().__init__(config.name)
        self.config = config
        self._subset = class_list(config.classes, config.lists_dir) if config.classes is not None else None

    def classes(self) -> pa.Table:
        """The class list if one was given, else the sorted WNIDs found in the URL list."""
        wnids = self._subset
        if wnids is None:
            found = [rows.result for rows in self._blocks(False, _wnids_of)]
            wnids = pc.unique(pa.chunked_array(found, pa.string()))
            wnids = wnids.take(pc.sort_indices(wnids))
        lemmas = read_lemmas(self.config.lemmas) if self.config.lemmas else None
        return classes_table(self.name, wnids, names_for(wnids, lemmas), wnids)

    def class_names(self) -> dict[str, str]:
        """WNID -> lemmas, from the `lemmas` file if given."""
        return lemma_names(self.config.lemmas)

    def images(self) -> Iterator[pa.RecordBatch]:
        """IMAGES batches (one per block of the file), with URLs decoded as documented."""
        make = partial(_images_of, self.name, self.config.split)
        for rows in self._blocks(True, make):
            yield rows.result

    def labels(self) -> Iterator[pa.RecordBatch]:
        """LABELS batches: the WNID prefix of each image id."""
        for rows in self._blocks(False, partial(_labels_of, self.name)):
            yield rows.result

    one_label_per_image = True

    def labeled_images(self) -> Iterator[tuple[pa.RecordBatch, pa.RecordBatch]]:
        """IMAGES and LABELS batches from one pass over the file."""
        make = partial(_labeled_images_of, self.name, self.config.split)
        for rows in self._blocks(True, make):
            yield rows.result

    def _blocks(self, decode: bool, make: Callable[[pa.Array, pa.Array], object]) -> Iterator[_Rows]:
        """Each block's valid rows turned into `make(ids, urls)` in worker threads, in file order.

        Skips and repairs are recorded here, where the blocks' first lines are known.
        """
        path = self.config.urls
        report = self.new_skip_report(path)
        parse = partial(_parse_block, FORMATS[self.config.format], self._subset, decode, make)
        wrong = InputError(path, f"no line is `image_id{FORMATS[self.config.format]!r}url`: wrong format option?",
                           line=1)
        lines = 0
        for first, rows in parsed_blocks(path, parse, self.config.block_bytes):
            record_skips(report, first, rows.failures)
            lines += rows.lines
            if first == 1 and rows.lines >= EARLY_REFUSAL_LINES and report.count == rows.lines:
                raise wrong  # a whole first block without one good line: do not read on
            if rows.repaired is not None and len(rows.repaired):
                self.repair_report(path).extend((first + rows.repaired).tolist(),
                                                "URL not UTF-8: bytes >= 0x80 percent-encoded")
            yield rows
        if lines and report.count == lines:
            raise wrong


def _images_of(source: str, split: str, ids: pa.Array, urls: pa.Array) -> pa.RecordBatch:
    return images_batch(source, ids, split, url=urls)


def _labels_of(source: str, ids: pa.Array, urls: pa.Array) -> pa.RecordBatch:
    return labels_batch(source, ids, pc.utf8_slice_codeunits(ids, 0, 9), 1.0, "imagenet")


def _labeled_images_of(source: str, split: str, ids: pa.Array,
                       urls: pa.Array) -> tuple[pa.RecordBatch, pa.RecordBatch]:
    return _images_of(source, split, ids, urls), _labels_of(source, ids, urls)


def _wnids_of(ids: pa.Array, urls: pa.Array) -> pa.Array:
    return pc.unique(pc.utf8_slice_codeunits(ids, 0, 9))


class _Rows(NamedTuple):
    lines: int                       # lines in the block
    result: object                   # make(ids, urls) of the valid rows
    failures: list                   # (mask, reason) per failed check, for record_skips
    repaired: np.ndarray | None      # block row indices of percent-encoded URLs


def _parse_block(sep: str, subset: pa.Array | None, decode: bool, make: Callable[[pa.Array, pa.Array], object],
                 block: bytes) -> tuple[int, _Rows]:
    """Split, validate, decode and `make` one block; pure, so it runs in a worker thread."""
    lines = split_lines(block)
    has_sep, ids, urls = split_first(lines, sep)
    if sep == ",":
        urls = unquote(urls)
    name = "TAB" if sep == "\t" else "comma"
    failures, keep = failing_rows([
        (pc.invert(has_sep), f"no {name} after the image id"),
        (pc.invert(pc.match_substring_regex(ids, IMAGE_ID_REGEX)), "image id is not <wnid>_<number>"),
        (pc.equal(pc.binary_length(urls), 0), "empty URL")])
    rows = np.arange(len(lines))
    if keep is not None:
        ids, urls, rows = ids.filter(keep), urls.filter(keep), rows[keep.to_numpy(zero_copy_only=False)]
    ids = ids.cast(pa.string())
    if subset is not None:
        wanted = pc.is_in(pc.utf8_slice_codeunits(ids, 0, 9), value_set=subset)
        ids, urls, rows = ids.filter(wanted), urls.filter(wanted), rows[wanted.to_numpy(zero_copy_only=False)]
    repaired = None
    if decode:
        urls, odd = decode_urls(urls)
        repaired = None if odd is None else rows[odd]
    return len(lines), _Rows(len(lines), make(ids, urls), failures, repaired)


def unquote(fields: pa.Array) -> pa.Array:
    """RFC-4180 unquoting of a last CSV field: strip the enclosing quotes, undouble inner ones."""
    quoted = pc.and_(pc.and_(pc.starts_with(fields, '"'), pc.ends_with(fields, '"')),
                     pc.greater_equal(pc.binary_length(fields), 2))
    if not pc.any(quoted).as_py():
        return fields
    inner = pc.replace_substring(pc.binary_slice(fields, 1, -1), '""', '"')
    return pc.if_else(quoted, inner, fields)


def decode_urls(urls: pa.Array) -> tuple[pa.Array, np.ndarray | None]:
    """URLs as strings, and the indices of those that were not UTF-8 (then percent-encoded).

    One vectorized UTF-8 validation usually settles it; otherwise only the non-ASCII
    URLs (a small minority) are decoded one by one to find the invalid ones.
    """
    try:
        return urls.cast(pa.string()), None
    except pa.ArrowInvalid:
        pass
    text = urls.view(pa.string())
    odd = np.flatnonzero(pc.invert(pc.string_is_ascii(text)).to_numpy(zero_copy_only=False))
    fixed, repaired = [], []
    for i, value in zip(odd, urls.take(pa.array(odd)).to_pylist()):
        try:
            value.decode("utf-8")
        except UnicodeDecodeError:
            fixed.append(quote_from_bytes(value, safe=_ASCII))
            repaired.append(i)
    return replace_rows(text, repaired, fixed), np.array(repaired, np.int64)


def replace_rows(values: pa.Array, rows: list[int], new: list[str]) -> pa.Array:
    """`values` with row rows[k] replaced by new[k] (rows ascending, few): slices concatenated."""
    parts, start = [], 0
    for row, value in zip(rows, new):
        parts += [values.slice(start, row - start), pa.array([value], values.type)]
        start = row + 1
    return pa.concat_arrays(parts + [values.slice(start)])


@dataclass
class ImageNetFolderConfig:
    """A local ImageNet tree `<root>/<wnid>/<file>`; `classes` restricts it like ImageNetUrlsConfig."""

    root: Path
    name: str = "imagenet21k"
    split: str = "train"
    classes: str | Path | None = field(default=None, metadata={"names": tuple(CLASS_LISTS), "folder": "lists_dir"})
    lists_dir: Path | None = None
    lemmas: Path | None = None
    extensions: tuple[str, ...] = (".jpeg", ".jpg", ".png")
    batch_rows: int = field(default=1 << 20, metadata={"min": 1})


class ImageNetFolder(SourceAdapter):
    """Images found in `<root>/<wnid>/` (path column set, url null); the class is the folder's WNID.

    A folder whose name is not a WNID is skipped and reported (line 0, folder named).
    The source image id is the file name without extension (`n01440764_10026`).
    """

    label_kind = "wnid"
    config_class = ImageNetFolderConfig

    def __init__(self, config: ImageNetFolderConfig) -> None:
        super().__init__(config.name)
        self.config = config
        self._subset = class_list(config.classes, config.lists_dir) if config.classes is not None else None

    def classes(self) -> pa.Table:
        """The class list if given, else the WNID folders present."""
        wnids = self._subset if self._subset is not None else pa.array(self._class_dirs(), pa.string())
        lemmas = read_lemmas(self.config.lemmas) if self.config.lemmas else None
        return classes_table(self.name, wnids, names_for(wnids, lemmas), wnids)

    def class_names(self) -> dict[str, str]:
        """WNID -> lemmas, from the `lemmas` file if given."""
        return lemma_names(self.config.lemmas)

    def images(self) -> Iterator[pa.RecordBatch]:
        """IMAGES batches of about `batch_rows` files."""
        for images, _ in self.labeled_images():
            yield images

    def labels(self) -> Iterator[pa.RecordBatch]:
        """LABELS batches: the folder WNID of each file."""
        for _, labels in self.labeled_images():
            yield labels

    one_label_per_image = True

    def labeled_images(self) -> Iterator[tuple[pa.RecordBatch, pa.RecordBatch]]:
        """IMAGES and LABELS batches from one listing of the tree."""
        for wnid, names, paths in self._files():
            stems = pc.replace_substring_regex(names, r"\.[^.]*$", "")
            yield (images_batch(self.name, stems, self.config.split, path=paths),
                   labels_batch(self.name, stems, wnid, 1.0, "imagenet"))

    def _class_dirs(self) -> list[str]:
        """Sorted WNID folder names; other folders are reported as skipped."""
        report = self.new_skip_report(self.config.root)
        names = sorted(e.name for e in os.scandir(self.config.root) if e.is_dir())
        good = is_wnid(pa.array(names, pa.string())).to_pylist()
        for name, ok in zip(names, good):
            if not ok:
                report.add(0, f"folder {name!r} is not a WNID")
        return [n for n, ok in zip(names, good) if ok]

    def _files(self) -> Iterator[tuple[pa.Array, pa.Array, pa.Array]]:
        """(wnid per file, file names, paths) in batches, folders and files in sorted order."""
        pattern = "(?i)(" + "|".join(e.replace(".", r"\.") + "$" for e in self.config.extensions) + ")"
        wanted = set(self._subset.to_pylist()) if self._subset is not None else None
        parts: list[tuple[pa.Array, pa.Array, pa.Array]] = []
        size = 0
        for wnid in self._class_dirs():
            if wanted is not None and wnid not in wanted:
                continue
            names = pa.array(os.listdir(Path(self.config.root) / wnid), pa.string())
            names = names.filter(pc.match_substring_regex(names, pattern))
            names = names.take(pc.sort_indices(names))
            folder = f"{Path(self.config.root) / wnid}{os.sep}"
            parts.append((pa.repeat(wnid, len(names)), names, pc.binary_join_element_wise(folder, names, "")))
            size += len(names)
            if size >= self.config.batch_rows:
                yield _concat(parts)
                parts, size = [], 0
        if parts:
            yield _concat(parts)


def lemma_names(path: Path | None) -> dict[str, str]:
    """WNID -> lemma text of a words.txt-style file (empty without one)."""
    if path is None:
        return {}
    table = read_lemmas(path)
    return dict(zip(table.column("wnid").to_pylist(), table.column("text").to_pylist()))


def _concat(parts: list[tuple[pa.Array, ...]]) -> tuple[pa.Array, ...]:
    return tuple(pa.concat_arrays([p[i] for p in parts]) for i in range(len(parts[0])))
