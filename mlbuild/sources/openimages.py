"""Open Images as a source: image lists, image-level labels, class descriptions, hierarchy.

Every large file streams through pyarrow's CSV reader in bounded batches and is
validated column-wise: a row whose ImageID is not 16 lowercase hex digits, whose
LabelName is not a MID, or whose Confidence is not in [0, 1] is skipped and counted
with its line. A wrong header or a malformed row (field count, unparsable number) is
an InputError naming file, line and field. Verified negatives (confidence 0) are kept.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from mlbuild.errors import InputError
from mlbuild.sources.base import (SourceAdapter, classes_table, edges_table, failing_rows, images_batch,
                                  labels_batch, record_skips)
from mlbuild.sources.textio import CSV_BLOCK_BYTES, check_header, fail_at_first, stream_csv, text_lines

IMAGE_COLUMNS = ["ImageID", "Subset", "OriginalURL", "OriginalLandingURL", "License", "AuthorProfileURL",
                 "Author", "Title", "OriginalSize", "OriginalMD5", "Thumbnail300KURL", "Rotation"]
LABEL_COLUMNS = ["ImageID", "Source", "LabelName", "Confidence"]
DESCRIPTION_COLUMNS = ["LabelName", "DisplayName"]
IMAGE_ID_REGEX = r"^[0-9a-f]{16}$"
MID_REGEX = r"^/[a-z]/[0-9a-z_]+$"
ROOT = "/m/0bl9f"  # "Entity": the hierarchy's root, not a class of the class lists
RELATIONS = {"Subcategory": "is_a", "Part": "part_of"}
_MD5_B64_REGEX = r"^[A-Za-z0-9+/]{21}[AQgw]==$"  # base64 of exactly 16 bytes
_B64_VALUES = np.zeros(256, np.uint8)
_B64_VALUES[np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", np.uint8)] = \
    np.arange(64, dtype=np.uint8)
_HEX = np.frombuffer(b"0123456789abcdef", np.uint8)


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
    url: str = "thumbnail"
    keep_root: bool = False
    name: str = "openimages"
    block_bytes: int = CSV_BLOCK_BYTES


class OpenImages(SourceAdapter):
    """Open Images V3-V7 image lists and human/machine image-level labels."""

    label_kind = "mid"

    def __init__(self, config: OpenImagesConfig) -> None:
        if config.url not in ("thumbnail", "original"):
            raise ValueError(f"url must be 'thumbnail' or 'original', not {config.url!r}")
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
        types = {c: pa.string() for c in IMAGE_COLUMNS} | {"OriginalSize": pa.int64(), "Rotation": pa.float32()}
        for path in self.config.image_lists:
            for first, batch, rows in self._valid_rows(path, IMAGE_COLUMNS, types, _image_checks):
                yield self._image_rows(path, first, batch, rows)

    def _valid_rows(self, path: Path, columns: list[str], types: dict[str, pa.DataType],
                    checks) -> Iterator[tuple[int, pa.RecordBatch, np.ndarray]]:
        """(first line, batch of the rows passing `checks`, their row numbers in the block) per block."""
        check_header(path, columns)
        report = self.new_skip_report(path)
        for first, batch in stream_csv(path, columns, types, True, self.config.block_bytes):
            failures, keep = failing_rows(checks(batch))
            record_skips(report, first, failures)
            rows = np.arange(batch.num_rows)
            if keep is not None:
                batch, rows = batch.filter(keep), rows[keep.to_numpy(zero_copy_only=False)]
            yield first, batch, rows

    def _image_rows(self, path: Path, first: int, batch: pa.RecordBatch, rows: np.ndarray) -> pa.RecordBatch:
        """One IMAGES batch from validated image-list rows."""
        md5, bad_md5 = md5_hex(batch.column("OriginalMD5"))
        if len(bad_md5):
            self.repair_report(path).extend((first + rows[bad_md5]).tolist(),
                                            "OriginalMD5 is not base64 of 16 bytes: md5 left null")
        original, thumb = batch.column("OriginalURL"), batch.column("Thumbnail300KURL")
        use_original = pa.repeat(True, batch.num_rows) if self.config.url == "original" \
            else pc.equal(thumb, "")
        return images_batch(self.name, batch.column("ImageID"), batch.column("Subset"),
                            url=pc.if_else(use_original, original, thumb), md5=_only_where(use_original, md5),
                            size=_only_where(use_original, batch.column("OriginalSize")),
                            rotation=batch.column("Rotation"), license=batch.column("License"))

    def labels(self) -> Iterator[pa.RecordBatch]:
        """LABELS batches from every label file; label_source = the Source column."""
        types = {"ImageID": pa.string(), "Source": pa.string(), "LabelName": pa.string(),
                 "Confidence": pa.float32()}
        for path in self.config.label_files:
            for _, batch, _ in self._valid_rows(path, LABEL_COLUMNS, types, _label_checks):
                if self._trainable is not None:
                    batch = batch.filter(pc.is_in(batch.column("LabelName"), value_set=self._trainable))
                yield labels_batch(self.name, batch.column("ImageID"), batch.column("LabelName"),
                                   batch.column("Confidence"), batch.column("Source"))


def _bad_image_id(batch: pa.RecordBatch) -> tuple[pa.Array, str]:
    return pc.invert(pc.match_substring_regex(batch.column("ImageID"), IMAGE_ID_REGEX)), \
        "ImageID is not 16 lowercase hex digits"


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


def md5_hex(b64: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Base64 MD5 digests as 32 lowercase hex digits, and the rows that are non-empty but malformed.

    Empty or malformed values give null. Columnar: a lookup table maps the 22 base64
    characters to 6-bit values, which are regrouped into the 16 digest bytes.
    """
    ok = pc.fill_null(pc.match_substring_regex(b64, _MD5_B64_REGEX), False)
    bad = np.flatnonzero(pc.and_not(pc.not_equal(b64, ""), ok).to_numpy(zero_copy_only=False))
    values = pc.if_else(ok, b64, "A" * 22 + "==").cast(pa.binary())  # every value now 24 bytes
    start = np.frombuffer(values.buffers()[1], np.int32, 1, 4 * values.offset)[0]
    chars = np.frombuffer(values.buffers()[2], np.uint8, 24 * len(values), start).reshape(-1, 24)
    sextets = np.zeros((len(values), 24), np.uint32)
    sextets[:, :22] = _B64_VALUES[chars[:, :22]]
    groups = sextets.reshape(-1, 6, 4)
    bits = (groups[..., 0] << 18) | (groups[..., 1] << 12) | (groups[..., 2] << 6) | groups[..., 3]
    raw = np.stack([(bits >> 16) & 255, (bits >> 8) & 255, bits & 255], axis=2).reshape(-1, 18)[:, :16]
    raw = raw.astype(np.uint8)
    digits = np.stack([_HEX[raw >> 4], _HEX[raw & 15]], axis=2).reshape(-1, 32)
    hexed = pa.FixedSizeBinaryArray.from_buffers(pa.binary(32), len(values), [None, pa.py_buffer(digits)])
    hexed = hexed.cast(pa.binary()).cast(pa.string())
    return pc.if_else(ok, hexed, pa.nulls(len(values), pa.string())), bad


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
