"""Tencent ML-Images' lists as a source: `URL<TAB or space>idx:conf ...` with its class dictionary.

`train_urls.txt`, `train_urls_from_openimages.txt`, `val_urls.txt` (and their `_tiny` samples)
have one image per line: its URL, then labels `idx:conf` separated by TABs or spaces, where idx
is a row of `dictionary_and_semantic_hierarchy.txt` and conf is 1, 0.9 or 0.8 (written `1` or
`1.0`). `train_im_list*.txt` has a local file name instead of the URL: set `images_dir`. Lines are
read as bytes in bounded blocks and parsed columnar; a label token that is not `idx:conf`, names
no dictionary row or has a confidence outside (0, 1] is skipped and counted with its line; a line
without an image is skipped and counted. Every label keeps its confidence (label_source "tencent").
An image's id is `<list file stem>:<line number>` (the lists have no ids; URLs may repeat).
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlbuild.errors import InputError
from mlbuild.sources.base import (
    SourceAdapter,
    classes_table,
    edges_table,
    failing_rows,
    images_batch,
    labels_batch,
    record_skips,
)
from mlbuild.sources.hierarchies import PublishedHierarchy, read_tencent_dictionary
from mlbuild.sources.imagenet import decode_urls
from mlbuild.sources.textio import BLOCK_BYTES, parsed_blocks, split_lines

TOKEN_REGEX = r"^[0-9]{1,9}:[0-9]*\.?[0-9]+$"
SPLITS = (("train", "train"), ("val", "validation"))   # list file name prefix -> split


@dataclass
class TencentConfig:
    """The lists to read and the dictionary their indices point into.

    `split` applies to every list; by default a list's split comes from its file name
    (`train*` -> train, `val*` -> validation). With `images_dir`, a line's first field is a
    file name under that folder (the `train_im_list*.txt` lists) instead of a URL.
    """

    lists: list[Path]
    dictionary: Path
    name: str = "tencent"
    split: str | None = None
    images_dir: Path | None = None
    block_bytes: int = field(default=BLOCK_BYTES, metadata={"min": 1 << 10})


class Tencent(SourceAdapter):
    """ML-Images URL (or file) lists: images with any number of labels each, confidences kept."""

    label_kind = "wnid"
    labels_with_images = True
    config_class = TencentConfig

    def __init__(self, config: TencentConfig) -> None:
        super().__init__(config.name)
        self.config = config
        self.dictionary: PublishedHierarchy = read_tencent_dictionary(config.dictionary)
        self._wnids = pa.array(self.dictionary.wnids, pa.string())
        self._splits = [_split_of(Path(p), config.split) for p in config.lists]

    def classes(self) -> pa.Table:
        """The dictionary's classes, in its order, with its names."""
        return classes_table(self.name, self._wnids, pa.array(self.dictionary.names, pa.string()), self._wnids)

    def hierarchy(self) -> pa.Table:
        """The dictionary's parent edges (`is_a`)."""
        child, parent = (pa.array(list(x), pa.string()) for x in zip(*self.dictionary.edges))
        return edges_table(self.name, child, parent, pa.repeat("is_a", len(child)))

    def images(self) -> Iterator[pa.RecordBatch]:
        """IMAGES batches, one per block of each list."""
        for images, _, _ in self.image_label_batches():
            yield images

    def labels(self) -> Iterator[pa.RecordBatch]:
        """LABELS batches: one row per valid label token, source_class = the dictionary row's WNID."""
        for _, labels, _ in self.image_label_batches():
            yield labels

    def image_label_batches(self) -> Iterator[tuple[pa.RecordBatch, pa.RecordBatch, np.ndarray]]:
        """(IMAGES, LABELS, image row of each label) per block, lists in the given order."""
        for path, split in zip(self.config.lists, self._splits):
            report = self.new_skip_report(path)
            parse = partial(_parse_block, self._wnids, self.config.images_dir is None)
            prefix = f"{Path(path).stem}:"
            for first, block in parsed_blocks(path, parse, self.config.block_bytes):
                record_skips(report, first, block.line_failures)
                for reason, offsets in block.token_failures:
                    report.extend((first + offsets).tolist(), reason)
                if len(block.repaired):
                    self.repair_report(path).extend((first + block.repaired).tolist(),
                                                    "URL not UTF-8: bytes >= 0x80 percent-encoded")
                ids = pc.binary_join_element_wise(prefix, pa.array(first + block.lines).cast(pa.string()), "")
                yield self._batches(ids, split, block)

    def _batches(self, ids: pa.Array, split: str, block: _Block) -> tuple[pa.RecordBatch, pa.RecordBatch,
                                                                          np.ndarray]:
        if self.config.images_dir is None:
            images = images_batch(self.name, ids, split, url=block.location)
        else:
            folder = f"{Path(self.config.images_dir)}/"
            images = images_batch(self.name, ids, split,
                                  path=pc.binary_join_element_wise(folder, block.location, ""))
        labels = labels_batch(self.name, ids.take(pa.array(block.rows)), block.classes, block.confidence,
                              "tencent")
        return images, labels, block.rows


class _Block(NamedTuple):
    lines: np.ndarray                    # block line offset of each image kept
    location: pa.Array                   # its URL (decoded) or file name
    classes: pa.Array                    # per label: the WNID
    confidence: pa.Array                 # per label: float32
    rows: np.ndarray                     # per label: its image's row among the kept images
    line_failures: list                  # (mask over the block's lines, reason), for record_skips
    token_failures: list                 # (reason, block line offsets of the bad tokens)
    repaired: np.ndarray                 # block line offsets of percent-encoded URLs


def _split_of(path: Path, split: str | None) -> str:
    if split is not None:
        return split
    for prefix, name in SPLITS:
        if path.name.startswith(prefix):
            return name
    raise InputError(path, "cannot tell the split from the file name (train*, val*): set `split`", field="split")


def _parse_block(wnids: pa.Array, urls: bool, block: bytes) -> tuple[int, _Block]:
    """Split and validate one block of a list; pure, so it runs in a worker thread.

    Fields are separated by TABs or spaces (runs of them count once); the first is the image.
    """
    lines = split_lines(block)
    n = len(lines)
    fields = pc.split_pattern(pc.replace_substring(lines, " ", "\t"), "\t")
    tokens = pc.list_flatten(fields)
    owner = pc.list_parent_indices(fields).to_numpy(zero_copy_only=False)
    present = pc.greater(pc.binary_length(tokens), 0)
    tokens, owner = tokens.filter(present), owner[present.to_numpy(zero_copy_only=False)]
    lead = np.ones(len(owner), bool)
    np.not_equal(owner[1:], owner[:-1], out=lead[1:])
    place = np.full(n, -1, np.int64)
    place[owner[lead]] = np.flatnonzero(lead)
    location = tokens.take(pa.array(np.maximum(place, 0))) if len(tokens) else pa.nulls(n, pa.binary())
    checks = [(pa.array(place < 0), "no image on the line")]
    if urls:
        checks.append((pc.invert(pc.match_substring(location, "://")),
                       "first field is not a URL (set images_dir for lists of file names)"))
    line_failures, keep = failing_rows(checks)
    kept = np.ones(n, bool) if keep is None else keep.to_numpy(zero_copy_only=False)
    kept_lines = np.flatnonzero(kept)
    location = location.filter(pa.array(kept))
    repaired = np.zeros(0, np.int64)
    if urls:
        location, odd = decode_urls(location)
        repaired = repaired if odd is None else kept_lines[odd]
    else:
        location = location.cast(pa.string())
    row_of_line = np.cumsum(kept) - 1
    label = ~lead & kept[owner]
    classes, confidence, rows, token_failures = _labels(wnids, tokens.filter(pa.array(label)), owner[label])
    return n, _Block(kept_lines, location, classes, confidence, row_of_line[rows], line_failures,
                     token_failures, repaired)


def _labels(wnids: pa.Array, tokens: pa.Array, owner: np.ndarray) -> tuple[pa.Array, pa.Array, np.ndarray, list]:
    """(WNID, confidence, owning line) of the valid `idx:conf` tokens, and the bad tokens' (reason, lines)."""
    well_formed = pc.match_substring_regex(tokens, TOKEN_REGEX)
    parts = pc.split_pattern(pc.if_else(well_formed, tokens, pa.scalar(b"0:0", pa.binary())), ":")
    index = pc.list_element(parts, 0).cast(pa.string()).cast(pa.int64())
    confidence = pc.list_element(parts, 1).cast(pa.string()).cast(pa.float32())
    checks = [(pc.invert(well_formed), "label token is not idx:conf"),
              (pc.greater_equal(index, len(wnids)), f"label index beyond the dictionary's {len(wnids):,} classes"),
              (pc.invert(pc.and_(pc.greater(confidence, 0), pc.less_equal(confidence, 1))),
               "label confidence not in (0, 1]")]
    failures, keep = failing_rows(checks)
    bad = [(reason, owner[mask.to_numpy(zero_copy_only=False)]) for mask, reason in failures]
    if keep is not None:
        index, confidence, owner = index.filter(keep), confidence.filter(keep), owner[keep.to_numpy(
            zero_copy_only=False)]
    return wnids.take(index), confidence, owner, bad
