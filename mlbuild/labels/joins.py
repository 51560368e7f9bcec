"""Find the image row of every label row: the join of label image ids against image ids.

Three strategies, fastest first, all columnar:
- aligned: the label batch names the same images, in order, as a slice of the image
  table (one label per image, e.g. ImageNet URL lists): positions, no hashing;
- hex keys: ids that are a common prefix plus fixed-width hex (Open Images'
  16-hex ImageIDs) become uint64 keys, joined by binary search on the sorted image keys;
- hash: pyarrow's `index_in` for anything else (it rebuilds its hash table per call,
  which is why the two strategies above exist for the big sources).
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlbuild._util.arrays import stable_argsort

_HEX = np.full(256, 255, dtype=np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    _HEX[_c] = _i
for _i, _c in enumerate(b"ABCDEF"):
    _HEX[_c] = 10 + _i


class ImageIndex:
    """The image ids of one source, ready to be joined against label ids."""

    def __init__(self, image_ids: pa.Array) -> None:
        self.ids = image_ids
        self.keys = hex_keys(image_ids)
        self.unique: bool | None = None  # known only from the hex keys' sort
        if self.keys is not None:
            self.order = stable_argsort(self.keys)
            self.sorted_keys = self.keys[self.order]
            self.unique = not (len(self.sorted_keys) > 1 and (self.sorted_keys[1:] == self.sorted_keys[:-1]).any())
            if not self.unique:
                self.keys = None  # duplicate ids: fall back to the hash join's first-match rule

    def lookup(self, label_ids: pa.Array, start_hint: int = 0) -> np.ndarray:
        """Image row of every label id (-1 where the image is unknown)."""
        end = start_hint + len(label_ids)
        if end <= len(self.ids) and self.ids.slice(start_hint, len(label_ids)).equals(label_ids):
            return np.arange(start_hint, end, dtype=np.int64)
        keys = hex_keys(label_ids) if self.keys is not None else None
        if keys is not None:
            at = np.minimum(np.searchsorted(self.sorted_keys, keys), len(self.sorted_keys) - 1)
            found = self.sorted_keys[at] == keys
            return np.where(found, self.order[at], -1).astype(np.int64)
        rows = pc.index_in(label_ids, value_set=self.ids)
        return pc.fill_null(rows, -1).to_numpy(zero_copy_only=False).astype(np.int64)


def duplicate_rows(ids: pa.Array) -> tuple[np.ndarray, np.ndarray] | None:
    """(rows whose id repeats an earlier row's, that earlier first row), or None when every id is unique.

    Columnar: ids become uint64 keys (hex ids exactly, `<letter><digits>_<digits>` ids such as
    ImageNet's by their two numbers), sorted; rows sharing a key are then compared exactly, so a
    key collision never merges two different ids. Other ids take a hash pass.
    """
    ids = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
    keys = hex_keys(ids)
    if keys is None:
        keys = _two_number_keys(ids)
    if keys is not None:
        ordered = np.sort(keys, kind="stable")  # values only (stable: fast on sorted runs, see arrays)
        repeated = ordered[1:][ordered[1:] == ordered[:-1]]
        if not len(repeated):
            return None
        found = pc.is_in(pa.array(keys), value_set=pa.array(np.unique(repeated)))  # few: a hash set of them
        candidates = np.flatnonzero(found.to_numpy(zero_copy_only=False))
    else:
        if pc.count_distinct(ids).as_py() + ids.null_count == len(ids):
            return None
        candidates = np.arange(len(ids))
    subset = ids.take(pa.array(candidates))
    first = candidates[pc.index_in(subset, value_set=subset).to_numpy(zero_copy_only=False)]
    repeated = first != candidates
    return (candidates[repeated], first[repeated]) if repeated.any() else None


def _two_number_keys(ids: pa.Array) -> np.ndarray | None:
    """uint64 keys from the digits at 1..8 and after position 9 (`n01440764_10026`), else None."""
    if len(ids) == 0 or ids.null_count or not pa.types.is_string(ids.type):
        return None
    try:
        a = pc.cast(pc.utf8_slice_codeunits(ids, 1, 9), pa.uint64()).to_numpy(zero_copy_only=False)
        b = pc.cast(pc.utf8_slice_codeunits(ids, 10, 30), pa.uint64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return (a << np.uint64(32)) ^ b


def hex_keys(ids: pa.Array) -> np.ndarray | None:
    """uint64 keys of ids that are one common prefix plus 1-16 hex digits, else None."""
    ids = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
    if len(ids) == 0 or ids.null_count or not pa.types.is_string(ids.type):
        return None
    offsets = np.frombuffer(ids.buffers()[1], dtype=np.int32)[ids.offset:ids.offset + len(ids) + 1]
    width = int(offsets[1] - offsets[0])
    if width == 0 or not (np.diff(offsets) == width).all():
        return None
    data = np.frombuffer(ids.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]].reshape(-1, width)
    prefix = ids[0].as_py().rfind(":") + 1
    digits = width - prefix
    if not 0 < digits <= 16 or (prefix and not (data[:, :prefix] == data[0, :prefix]).all()):
        return None
    nibbles = _HEX[data[:, prefix:]]
    if (nibbles == 255).any():
        return None
    padded = np.zeros((len(ids), 16), np.uint8)  # right-align the digits in 16 nibbles
    padded[:, 16 - digits:] = nibbles
    packed = (padded[:, 0::2] << 4) | padded[:, 1::2]  # 8 bytes per id, most significant first
    return np.ascontiguousarray(packed).view(">u8").ravel().astype(np.uint64)
