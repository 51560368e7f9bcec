"""ILSVRC-2012 validation as an evaluation set, with its ground truth and ImageNet ReaL labels.

The 1,000 classes are numbered three ways, and a number is meaningless without its
order. Each order is its own type and every reader demands the one its file uses:

- `SortedWnidOrder`: 0-based position in the sorted WNID list (`LOC_synset_mapping.txt`,
  timm `imagenet_synsets.txt`); used by torchvision, timm and ReaL.
- `DevkitOrder`: the devkit's 1-based ILSVRC2012_ID (`map_clsloc.txt`: `wnid id name`);
  used by `ILSVRC2012_validation_ground_truth.txt`.
- `ListOrder`: 0-based position in any other list (e.g. the Swin 22k head order).
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlbuild.errors import InputError, MlbuildError
from mlbuild.sources.base import SourceAdapter, classes_table, images_batch, labels_batch
from mlbuild.sources.textio import check_header, fail_at_first, split_first, stream_csv, text_lines
from mlbuild.sources.wnids import is_wnid, read_wnid_list

VAL_IMAGE_REGEX = r"^ILSVRC2012_val_[0-9]{8}$"


class ClassOrder:
    """A numbering of classes: index `base + p` is the WNID at position p."""

    base = 0

    def __init__(self, wnids: pa.Array, names: pa.Array | None, path: Path) -> None:
        self.wnids, self.names, self.path = wnids, names, Path(path)

    def __len__(self) -> int:
        return len(self.wnids)

    def wnids_of(self, indices: np.ndarray, path: Path, lines: np.ndarray) -> pa.Array:
        """The WNIDs of class indices in this order; InputError at the first out-of-range one."""
        pos = np.asarray(indices, np.int64) - self.base
        bad = (pos < 0) | (pos >= len(self))
        if bad.any():
            i = int(np.argmax(bad))
            raise InputError(path, f"class index {indices[i]} is outside {type(self).__name__} "
                             f"{self.base}..{self.base + len(self) - 1}", line=int(lines[i]))
        return self.wnids.take(pa.array(pos))


class SortedWnidOrder(ClassOrder):
    """0-based index into the sorted WNIDs (torchvision, timm, ReaL)."""

    @classmethod
    def from_file(cls, path: Path) -> SortedWnidOrder:
        """From `LOC_synset_mapping.txt` (`wnid names`) or a one-WNID-per-line list; must be sorted."""
        wnids, names = _wnid_lines(path)
        if pc.any(pc.not_equal(wnids, wnids.take(pc.sort_indices(wnids)))).as_py():
            raise InputError(path, "WNIDs are not sorted: this is not the sorted-WNID order")
        return cls(wnids, names, path)


class DevkitOrder(ClassOrder):
    """1-based ILSVRC2012_ID of the devkit (`map_clsloc.txt`, with or without a header line)."""

    base = 1

    @classmethod
    def from_file(cls, path: Path) -> DevkitOrder:
        """From `wnid id name` lines whose ids are exactly 1..N."""
        lines = text_lines(path)
        numbers = np.flatnonzero(pc.not_equal(lines, "").to_numpy(zero_copy_only=False)) + 1
        parts = pc.utf8_split_whitespace(lines.take(pa.array(numbers - 1)))
        header = len(parts) > 0 and not is_wnid(pa.array(parts[0].as_py()[:1], pa.string()))[0].as_py()
        parts, numbers = parts.slice(int(header)), numbers[int(header):]
        fields = np.asarray(pc.list_value_length(parts))
        fail_at_first(path, fields < 2, "expected `wnid id name`", lines=numbers)
        wnids, ids = pc.list_element(parts, 0), pc.list_element(parts, 1)
        fail_at_first(path, pc.invert(is_wnid(wnids)), "not a WNID", "wnid", numbers)
        fail_at_first(path, pc.invert(pc.match_substring_regex(ids, r"^[0-9]+$")), "not an integer ILSVRC2012_ID",
                      "id", numbers)
        ids = ids.cast(pa.int64()).to_numpy()
        if not np.array_equal(np.sort(ids), np.arange(1, len(ids) + 1)):
            raise InputError(path, "ILSVRC2012_IDs are not exactly 1..N")
        take = pa.array(np.argsort(ids))
        names = pc.list_element(parts, 2).take(take) if (fields > 2).all() else None
        return cls(wnids.take(take), names, path)


class ListOrder(ClassOrder):
    """0-based position in any other class list, named so it is never taken for another order."""

    def __init__(self, wnids: pa.Array, names: pa.Array | None, path: Path, name: str) -> None:
        super().__init__(wnids, names, path)
        self.name = name

    @classmethod
    def from_file(cls, path: Path, name: str) -> ListOrder:
        """From a one-WNID-per-line list."""
        return cls(read_wnid_list(path), None, path, name)


def _require(order: ClassOrder, kind: type[ClassOrder], what: str) -> None:
    if type(order) is not kind:
        raise MlbuildError(f"{what} is numbered in {kind.__name__}, not {type(order).__name__}")


def _wnid_lines(path: Path) -> tuple[pa.Array, pa.Array | None]:
    """`wnid[ name...]` lines as (wnids, names or None); blank lines ignored."""
    lines = text_lines(path)
    numbers = np.flatnonzero(pc.not_equal(lines, "").to_numpy(zero_copy_only=False)) + 1
    lines = lines.take(pa.array(numbers - 1))
    has_name, wnids, names = split_first(lines.cast(pa.binary()), " ")
    wnids = pc.if_else(has_name, wnids, lines.cast(pa.binary())).cast(pa.string())
    fail_at_first(path, pc.invert(is_wnid(wnids)), "not a WNID", "wnid", numbers)
    return wnids, (names.cast(pa.string()) if pc.all(has_name).as_py() else None)


def val_image_ids(numbers: np.ndarray) -> pa.Array:
    """`ILSVRC2012_val_%08d` for 1-based validation image numbers."""
    return pc.binary_join_element_wise("ILSVRC2012_val_", pc.utf8_lpad(pa.array(numbers).cast(pa.string()), 8, "0"), "")


def read_loc_solution(path: Path) -> pa.Table:
    """(image, wnid) from Kaggle's `LOC_val_solution.csv`: the first token of PredictionString."""
    check_header(path, ["ImageId", "PredictionString"])
    batches = [b for _, b in stream_csv(path, ["ImageId", "PredictionString"],
                                        {"ImageId": pa.string(), "PredictionString": pa.string()}, True)]
    table = pa.Table.from_batches(batches) if batches else None
    if table is None or not table.num_rows:
        raise InputError(path, "no rows")
    images = table.column("ImageId").combine_chunks()
    wnids = pc.list_element(pc.utf8_split_whitespace(table.column("PredictionString").combine_chunks()), 0)
    lines = np.arange(2, len(images) + 2)
    fail_at_first(path, pc.invert(pc.match_substring_regex(images, VAL_IMAGE_REGEX)),
                  "not an ILSVRC2012_val image id", "ImageId", lines)
    fail_at_first(path, pc.invert(is_wnid(wnids)), "first token is not a WNID", "PredictionString", lines)
    return pa.table({"image": images, "wnid": wnids}).sort_by("image")


def read_devkit_ground_truth(path: Path, order: DevkitOrder) -> pa.Table:
    """(image, wnid) from `ILSVRC2012_validation_ground_truth.txt`: line i = ILSVRC2012_ID of val image i."""
    _require(order, DevkitOrder, "the devkit ground truth")
    lines = text_lines(path)
    numbers = np.flatnonzero(pc.not_equal(lines, "").to_numpy(zero_copy_only=False)) + 1
    lines = lines.take(pa.array(numbers - 1))
    fail_at_first(path, pc.invert(pc.match_substring_regex(lines, r"^[0-9]+$")), "not an integer ILSVRC2012_ID",
                  lines=numbers)
    ids = lines.cast(pa.int64()).to_numpy()
    return pa.table({"image": val_image_ids(numbers), "wnid": order.wnids_of(ids, path, numbers)})


def read_real(path: Path, order: SortedWnidOrder) -> tuple[pa.Table, np.ndarray]:
    """(image, wnid) multi-labels of ImageNet ReaL, and the 1-based numbers of excluded images.

    Entry i of `real.json` holds 0-based sorted-WNID indices for ILSVRC2012_val_{i+1};
    an empty list means ReaL excludes that image.
    """
    _require(order, SortedWnidOrder, "ImageNet ReaL")
    try:
        entries = pa.array(json.loads(Path(path).read_text(encoding="utf-8")), pa.list_(pa.int64()))
    except (ValueError, TypeError, pa.ArrowInvalid, pa.ArrowTypeError) as err:
        raise InputError(path, f"not a JSON list of lists of class indices: {err}") from None
    numbers = np.asarray(pc.list_parent_indices(entries)) + 1
    flat = np.asarray(pc.list_flatten(entries))
    wnids = order.wnids_of(flat, path, numbers)
    excluded = np.flatnonzero(np.asarray(pc.list_value_length(entries)) == 0) + 1
    return pa.table({"image": val_image_ids(numbers), "wnid": wnids}), excluded


@dataclass
class IlsvrcValConfig:
    """Files of the ILSVRC-2012 validation set; give `solution` or `ground_truth` (+ `devkit_order`).

    `real` needs `sorted_order` (LOC_synset_mapping.txt or imagenet_synsets.txt).
    `images_dir`, when given, sets each image's path to `<images_dir>/<id>.JPEG`.
    """

    solution: Path | None = None
    ground_truth: Path | None = None
    devkit_order: Path | None = None
    real: Path | None = None
    sorted_order: Path | None = None
    images_dir: Path | None = None
    name: str = "ilsvrc2012"
    split: str = "eval"


class IlsvrcVal(SourceAdapter):
    """The 50,000 validation images (split "eval"), labels "ilsvrc2012" and optionally "real"."""

    label_kind = "wnid"
    config_class = IlsvrcValConfig

    def __init__(self, config: IlsvrcValConfig) -> None:
        if (config.solution is None) == (config.ground_truth is None):
            raise InputError("ilsvrc2012_val", "give exactly one of solution (LOC_val_solution.csv) and ground_truth",
                             field="solution")
        if config.ground_truth is not None and config.devkit_order is None:
            raise InputError(config.ground_truth, "the devkit ground truth needs devkit_order (map_clsloc.txt)",
                             field="devkit_order")
        if config.real is not None and config.sorted_order is None:
            raise InputError(config.real, "ImageNet ReaL needs sorted_order (LOC_synset_mapping.txt)",
                             field="sorted_order")
        super().__init__(config.name)
        self.config = config
        self.label_sets = ("real",) if config.real is not None else ()

    def _truth(self) -> pa.Table:
        if self.config.solution is not None:
            return read_loc_solution(self.config.solution)
        order = DevkitOrder.from_file(self.config.devkit_order)
        return read_devkit_ground_truth(self.config.ground_truth, order)

    def classes(self) -> pa.Table:
        """The 1,000 classes (names from the order file when it has them)."""
        path = self.config.sorted_order or self.config.devkit_order
        if path is None:
            wnids = pc.unique(self._truth().column("wnid")).sort()
            return classes_table(self.name, wnids, None, wnids)
        order = SortedWnidOrder.from_file(path) if self.config.sorted_order else DevkitOrder.from_file(path)
        return classes_table(self.name, order.wnids, order.names, order.wnids)

    def images(self) -> Iterator[pa.RecordBatch]:
        """One IMAGES batch of the validation images."""
        images = self._truth().column("image").combine_chunks()
        paths = None
        if self.config.images_dir is not None:
            paths = pc.binary_join_element_wise(f"{Path(self.config.images_dir)}/", images, ".JPEG", "")
        yield images_batch(self.name, images, self.config.split, path=paths)

    def labels(self) -> Iterator[pa.RecordBatch]:
        """Ground-truth labels, then ReaL labels; ReaL's excluded images are reported as skips."""
        truth = self._truth()
        self.new_skip_report(self.config.solution or self.config.ground_truth)
        yield labels_batch(self.name, truth.column("image"), truth.column("wnid"), 1.0, "ilsvrc2012")
        if self.config.real is not None:
            real, excluded = read_real(self.config.real, SortedWnidOrder.from_file(self.config.sorted_order))
            self.new_skip_report(self.config.real).extend(excluded.tolist(), "ReaL excludes this image (no labels)")
            yield labels_batch(self.name, real.column("image"), real.column("wnid"), 1.0, "real")
