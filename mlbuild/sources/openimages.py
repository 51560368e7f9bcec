"""Open Images as a source: image lists, image-level labels, class descriptions, hierarchy.

Every large file is read in line blocks that worker threads parse, validate
column-wise and turn into output batches (`textio.stream_csv`), yielded in file
order: a row whose ImageID is not 16 lowercase hex digits, whose LabelName is not a
MID, or whose Confidence is not in [0, 1] is skipped and counted with its line. A
wrong header or a malformed row (field count, unparsable number) is an InputError
naming file, line and field. Verified negatives (confidence 0) are kept.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

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
from mlbuild.sources.textio import CSV_BLOCK_BYTES, check_header, fail_at_first, stream_csv, text_lines

IMAGE_COLUMNS = ["ImageID", "Subset", "OriginalURL", "OriginalLandingURL", "License", "AuthorProfileURL",
                 "Author", "Title", "OriginalSize", "OriginalMD5", "Thumbnail300KURL", "Rotation"]
LABEL_COLUMNS = ["ImageID", "Source", "LabelName", "Confidence"]
DESCRIPTION_COLUMNS = ["LabelName", "DisplayName"]
IMAGE_TYPES = {c: pa.string() for c in IMAGE_COLUMNS} | {"OriginalSize": pa.int64(), "Rotation": pa.float32()}
LABEL_TYPES = {"ImageID": pa.string(), "Source": pa.string(), "LabelName": pa.string(), "Confidence": pa.float32()}
IMAGE_ID_REGEX = r"^[0-9a-f]{16}$"  # checked as IMAGE_ID_PATTERN, which is cheaper
MID_REGEX = r"^/[a-z]/[0-9a-z_]+$"
ROOT = "/m/0bl9f"  # "Entity": the hierarchy's root, not a class of the class lists
RELATIONS = {"Subcategory": "is_a", "Part": "part_of"}
Repairs = list[tuple[np.ndarray, str]]  # (rows of a batch, reason) of rows kept with a re-encoded field
_B64_DIGITS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64_VALUES = bytes(_B64_DIGITS.find(b) if b in _B64_DIGITS else 0 for b in range(256))  # translate table


def byte_pattern(*runs: tuple[bytes, int]) -> list[tuple[bytes, slice]]:
    """A fixed-width pattern for `fixed_width_match` from runs of (allowed bytes, count).

    `^[0-9a-f]{16}$` is `byte_pattern((b"0123456789abcdef", 16))`. Each run becomes a
    `bytes.translate` table (allowed bytes to 0, others to 1) and the positions it covers.
    """
    pattern, start = [], 0
    for allowed, count in runs:
        table = bytes(int(b not in allowed) for b in range(256))
        pattern.append((table, slice(start, start + count)))
        start += count
    return pattern


IMAGE_ID_PATTERN = byte_pattern((b"0123456789abcdef", 16))  # IMAGE_ID_REGEX
_MD5_B64_PATTERN = byte_pattern((_B64_DIGITS, 21), (b"AQgw", 1), (b"=", 2))  # base64 of exactly 16 bytes


@dataclass
class OpenImagesConfig:
    """Which Open Images files to read.

    `url` chooses the image URL: "thumbnail" (Thumbnail300KURL, falling back to
    OriginalURL where it is empty) or "original". OriginalMD5/OriginalSize describe the
    original file only, so `md5`/`size` are set only on rows whose URL is the original.
    `trainable` (a one-MID-per-line list) restricts classes and labels to it.
    `keep_root` keeps the hierarchy's edges to the root /m/0bl9f (Entity).
    """

    image_lists: list[Path] = field(default_factory=list)
    label_files: list[Path] = field(default_factory=list)
    descriptions: Path | None = None
    hierarchies: list[Path] = field(default_factory=list)
    trainable: Path | None = None
    url: str = field(default="thumbnail", metadata={"choices": ("thumbnail", "original")})
    keep_root: bool = False
    name: str = "openimages"
    block_bytes: int = field(default=CSV_BLOCK_BYTES, metadata={"min": 1 << 10})


class OpenImages(SourceAdapter):
    """Open Images V3-V7 image lists and human/machine image-level labels."""

    label_kind = "mid"
    config_class = OpenImagesConfig

    def __init__(self, config: OpenImagesConfig) -> None:
        if config.url not in ("thumbnail", "original"):
            raise InputError("openimages", f"url must be 'thumbnail' or 'original', not {config.url!r}", field="url")
        super().__init__(config.name)
        self.config = config
        self._trainable = read_mid_list(config.trainable) if config.trainable else None

    def classes(self) -> pa.Table:
        """The described classes (restricted to the trainable list if given)."""
        if self.config.descriptions is None:
            raise InputError("openimages", "classes() needs the class-descriptions file")
        table = read_descriptions(self.config.descriptions)
        if self._trainable is not None:
            table = table.filter(pc.is_in(table.column("LabelName"), value_set=self._trainable))
        return classes_table(self.name, table.column("LabelName"), table.column("DisplayName"))

    def class_names(self) -> dict[str, str]:
        """MID -> display name from `descriptions` (all described classes, trainable or not)."""
        if self.config.descriptions is None:
            return {}
        table = read_descriptions(self.config.descriptions)
        return dict(zip(table.column("LabelName").to_pylist(), table.column("DisplayName").to_pylist()))

    def hierarchy(self) -> pa.Table:
        """is_a / part_of edges of every hierarchy file, deduplicated and sorted."""
        edges = [read_hierarchy(p, self.config.keep_root) for p in self.config.hierarchies]
        if not edges:
            return super().hierarchy()
        table = pa.concat_tables(edges).group_by(["child", "parent", "relation"]).aggregate([])
        table = table.sort_by([("child", "ascending"), ("parent", "ascending"), ("relation", "ascending")])
        return edges_table(self.name, table.column("child"), table.column("parent"), table.column("relation"))

    def images(self) -> Iterator[pa.RecordBatch]:
        """IMAGES batches from every image list; split = the Subset column."""
        for path in self.config.image_lists:
            yield from self._read(path, IMAGE_COLUMNS, IMAGE_TYPES, _image_checks, self._image_rows)

    def labels(self) -> Iterator[pa.RecordBatch]:
        """LABELS batches from every label file; label_source = the Source column."""
        for path in self.config.label_files:
            yield from self._read(path, LABEL_COLUMNS, LABEL_TYPES, _label_checks, self._label_rows)

    def _read(self, path: Path, columns: list[str], types: dict[str, pa.DataType],
              checks: Callable[[pa.RecordBatch], list[tuple[pa.Array, str]]],
              build: Callable[[pa.RecordBatch], tuple[pa.RecordBatch, Repairs]]) -> Iterator[pa.RecordBatch]:
        """`build`'s output batch for the rows of every block that pass `checks`.

        Checking and building run in `stream_csv`'s worker threads; skips and repairs
        (rows of the checked rows, from `build`) are recorded here, in file order.
        """
        check_header(path, columns)
        skips, repairs = self.new_skip_report(path), self.repair_report(path)

        def work(batch: pa.RecordBatch) -> tuple[list[tuple[pa.Array, str]], pa.RecordBatch, Repairs]:
            failures, keep = failing_rows(checks(batch))
            rows = np.arange(batch.num_rows)
            if keep is not None:
                batch, rows = batch.filter(keep), rows[keep.to_numpy(zero_copy_only=False)]
            out, repaired = build(batch)
            return failures, out, [(rows[kept], reason) for kept, reason in repaired]

        for first, (failures, out, repaired) in stream_csv(path, columns, types, True, self.config.block_bytes,
                                                           work):
            record_skips(skips, first, failures)
            for rows, reason in repaired:
                repairs.extend((first + rows).tolist(), reason)
            yield out

    def _image_rows(self, batch: pa.RecordBatch) -> tuple[pa.RecordBatch, Repairs]:
        """One IMAGES batch from validated image-list rows, and its repaired rows."""
        md5, bad_md5 = md5_hex(batch.column("OriginalMD5"))
        original, thumb = batch.column("OriginalURL"), batch.column("Thumbnail300KURL")
        use_original = pa.repeat(True, batch.num_rows) if self.config.url == "original" else pc.equal(thumb, "")
        out = images_batch(self.name, batch.column("ImageID"), batch.column("Subset"),
                           url=pc.if_else(use_original, original, thumb), md5=_only_where(use_original, md5),
                           size=_only_where(use_original, batch.column("OriginalSize")),
                           rotation=batch.column("Rotation"), license=batch.column("License"),
                           author=_only_where(pc.not_equal(batch.column("Author"), ""), batch.column("Author")))
        return out, ([(bad_md5, "OriginalMD5 is not base64 of 16 bytes: md5 left null")] if len(bad_md5) else [])

    def _label_rows(self, batch: pa.RecordBatch) -> tuple[pa.RecordBatch, Repairs]:
        """One LABELS batch from validated label rows (of the trainable classes, if given)."""
        if self._trainable is not None:
            batch = batch.filter(pc.is_in(batch.column("LabelName"), value_set=self._trainable))
        return labels_batch(self.name, batch.column("ImageID"), batch.column("LabelName"),
                            batch.column("Confidence"), batch.column("Source")), []


def _bad_image_id(batch: pa.RecordBatch) -> tuple[pa.Array, str]:
    ok, _ = fixed_width_match(batch.column("ImageID"), IMAGE_ID_PATTERN)
    return pa.array(~ok), "ImageID is not 16 lowercase hex digits"


def _image_checks(batch: pa.RecordBatch) -> list[tuple[pa.Array, str]]:
    """(bad-row mask, reason) checks of an image-list batch."""
    no_url = pc.and_(pc.equal(batch.column("OriginalURL"), ""), pc.equal(batch.column("Thumbnail300KURL"), ""))
    return [_bad_image_id(batch), (no_url, "no OriginalURL or Thumbnail300KURL")]


def _label_checks(batch: pa.RecordBatch) -> list[tuple[pa.Array, str]]:
    """(bad-row mask, reason) checks of an image-label batch."""
    conf = batch.column("Confidence")
    return [_bad_image_id(batch),
            (pc.invert(pc.match_substring_regex(batch.column("LabelName"), MID_REGEX)), "LabelName is not a MID"),
            (pc.equal(batch.column("Source"), ""), "empty Source"),
            (pc.invert(pc.and_(pc.greater_equal(conf, 0), pc.less_equal(conf, 1))), "Confidence is not in [0, 1]")]


def _only_where(mask: pa.Array, values: pa.Array) -> pa.Array:
    """`values` where mask is true, else null."""
    return pc.if_else(mask, values, pa.nulls(len(values), values.type))


def fixed_width_match(values: pa.Array, pattern: list[tuple[bytes, slice]]) -> tuple[np.ndarray, np.ndarray]:
    """Which strings match a `byte_pattern`, and those strings' bytes as a (matches, width) uint8 array.

    A columnar fixed-width regex: lengths come from the offsets, bytes are classified by
    `bytes.translate` (faster than RE2 or a numpy gather here). Non-ASCII text never
    matches an ASCII pattern; null never matches. `values`: string or binary (32-bit offsets).
    """
    width, n = pattern[-1][1].stop, len(values)
    offsets = np.frombuffer(values.buffers()[1], np.int32, n + 1, 4 * values.offset)
    sized = np.diff(offsets) == width
    if values.null_count:
        sized &= values.is_valid().to_numpy(zero_copy_only=False)
    if not sized.any():
        return sized, np.empty((0, width), np.uint8)
    data = np.frombuffer(values.buffers()[2], np.uint8)
    if sized.all():  # the usual case: the values are one contiguous (n, width) slab
        rows, chars = None, data[offsets[0]:offsets[-1]].reshape(n, width)
    else:
        rows = np.flatnonzero(sized)
        chars = data[offsets[rows, None] + np.arange(width)]
    good = np.ones(len(chars), bool)
    for table, run in pattern:
        flags = np.frombuffer(chars[:, run].tobytes().translate(table), np.uint8)
        good[np.flatnonzero(flags) // (run.stop - run.start)] = False
    if rows is None:
        return good, (chars if good.all() else chars[good])
    ok = np.zeros(n, bool)
    ok[rows[good]] = True
    return ok, chars[good]


def md5_hex(b64: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Base64 MD5 digests as 32 lowercase hex digits, and the rows that are non-empty but malformed.

    Empty or malformed values give null. Columnar: a `bytes.translate` table maps the
    base64 characters to 6-bit values, which numpy regroups into the 16 digest bytes.
    """
    ok, chars = fixed_width_match(b64, _MD5_B64_PATTERN)
    given = pc.fill_null(pc.greater(pc.binary_length(b64), 0), False).to_numpy(zero_copy_only=False)
    sextets = np.frombuffer(chars.tobytes().translate(_B64_VALUES), np.uint8).reshape(-1, 24)  # "==" -> 0
    a, b, c, d = (sextets[:, i::4] for i in range(4))  # the 6 groups of 4 sextets -> 3 bytes each
    raw = np.stack([(a << 2) | (b >> 4), (b << 4) | (c >> 2), (c << 6) | d], axis=2).reshape(-1, 18)[:, :16]
    offsets = np.zeros(len(b64) + 1, np.int32)
    np.cumsum(np.where(ok, 32, 0), out=offsets[1:])
    hexed = pa.StringArray.from_buffers(len(b64), pa.py_buffer(offsets), pa.py_buffer(raw.tobytes().hex().encode()),
                                        pa.py_buffer(np.packbits(ok, bitorder="little")), len(b64) - len(chars))
    return hexed, np.flatnonzero(given & ~ok)


def read_descriptions(path: Path) -> pa.Table:
    """`LabelName,DisplayName` rows (header or not, CRLF or LF, RFC-4180 quoting) as a table."""
    header = check_header(path, DESCRIPTION_COLUMNS, optional=True)
    read = pacsv.ReadOptions(column_names=DESCRIPTION_COLUMNS, skip_rows=int(header), use_threads=False)
    convert = pacsv.ConvertOptions(column_types={c: pa.string() for c in DESCRIPTION_COLUMNS})
    try:
        table = pacsv.read_csv(path, read, pacsv.ParseOptions(ignore_empty_lines=True), convert)
    except pa.ArrowInvalid as err:
        raise InputError(path, str(err)) from None
    fail_at_first(path, pc.invert(pc.match_substring_regex(table.column("LabelName"), MID_REGEX)), "not a MID",
                  "LabelName", np.arange(table.num_rows) + 1 + int(header))
    return table.set_column(1, "DisplayName", pc.utf8_trim_whitespace(table.column("DisplayName")))


def read_mid_list(path: Path) -> pa.Array:
    """A one-MID-per-line list (classes-trainable.txt, classes.txt), blank lines ignored."""
    lines = text_lines(path)
    blank = pc.equal(lines, "")
    fail_at_first(path, pc.and_not(pc.invert(pc.match_substring_regex(lines, MID_REGEX)), blank), "not a MID")
    return lines.filter(pc.invert(blank))


def read_hierarchy(path: Path, keep_root: bool = False) -> pa.Table:
    """(child, parent, relation) edges of a hierarchy JSON: Subcategory = is_a, Part = part_of."""
    try:
        root = json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(path, f"not a JSON hierarchy: {err}") from None
    edges: list[tuple[str, str, str]] = []
    stack = [root]
    while stack:
        node = stack.pop()
        if not isinstance(node, dict) or not isinstance(node.get("LabelName"), str):
            raise InputError(path, f"hierarchy node without a LabelName: {str(node)[:80]}")
        for key, relation in RELATIONS.items():
            for child in node.get(key, []):
                stack.append(child)
                if isinstance(child, dict) and (keep_root or node["LabelName"] != ROOT):
                    edges.append((child.get("LabelName"), node["LabelName"], relation))
    child, parent, relation = zip(*edges) if edges else ((), (), ())
    return pa.table({"child": pa.array(child, pa.string()), "parent": pa.array(parent, pa.string()),
                     "relation": pa.array(relation, pa.string())})
