"""Downloader input: Parquet manifests (IMAGES schema) or plain URL lists, streamed as batches.

Every batch is normalized to `image_id, url, md5, size` (md5 lowercased, size int64,
missing columns null) and validated columnar: a bad value raises `InputError` with the
file, line (row for Parquet) and field; rows without a URL are skipped and counted.

Plain lists are read in blocks and split columnar. The format is taken from the first
non-empty line: `id<TAB>url` if it has a TAB, `id,url` if it has a comma before any
`://` (split on the first comma, so URLs may contain commas), else one URL per line
with the id `url:<16 hex digits of the URL's SipHash>`. A first line whose URL field is
`url` is a header. Lines that do not split in two are skipped and counted. Bytes that are
not UTF-8 (the fall11 list has some) are percent-encoded, which requests the same bytes.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mlbuild.errors import InputError, SkipReport
from mlbuild.images.download.state import id_hashes

COLUMNS = pa.schema([("image_id", pa.string()), ("url", pa.string()), ("md5", pa.string()),
                     ("size", pa.int64())])
_MD5 = "^[0-9a-f]{32}$"
_BLOCK = 16 << 20
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_NOT_UTF8 = re.compile("[\udc80-\udcff]+")


def normalize_batch(batch: pa.RecordBatch, origin: object, lines: np.ndarray,
                    skips: SkipReport) -> pa.RecordBatch:
    """`batch` as COLUMNS, validated; `lines[i]` is row i's line number for error messages."""
    names = batch.schema.names
    for required in ("image_id", "url"):
        if required not in names:
            raise InputError(origin, f"missing column {required!r} (has {names})", field=required)
    columns = [_cast(batch, name, COLUMNS.field(name).type, origin) for name in COLUMNS.names]
    image_id, url, md5, size = columns
    _reject(origin, lines, "image_id", pc.or_kleene(pc.is_null(image_id), pc.equal(image_id, "")),
            "empty image id")
    md5 = pc.utf8_lower(pc.utf8_trim_whitespace(md5))
    _reject(origin, lines, "md5", pc.invert(pc.match_substring_regex(md5, _MD5)),
            "not 32 hex digits")
    _reject(origin, lines, "size", pc.less(size, 0), "negative size")
    has_url = pc.and_kleene(pc.is_valid(url), pc.not_equal(url, ""))
    has_url = pc.fill_null(has_url, False)
    no_url = ~has_url.to_numpy(zero_copy_only=False)
    out = pa.RecordBatch.from_arrays([image_id, url, md5, size], schema=COLUMNS)
    if not no_url.any():
        return out
    _skip(skips, lines[no_url], "no url")
    return out.filter(has_url)


def _skip(skips: SkipReport, lines: np.ndarray, why: str) -> None:
    """Count every line in `lines`, keeping only the first few numbers as evidence."""
    skips.extend(lines[:skips.keep].tolist(), why)
    skips.count += len(lines) - min(len(lines), skips.keep)


def _cast(batch: pa.RecordBatch, name: str, type_: pa.DataType, origin: object) -> pa.Array:
    if name not in batch.schema.names:
        return pa.nulls(batch.num_rows, type_)
    try:
        return batch.column(name).cast(type_)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
        raise InputError(origin, f"cannot read as {type_}: {err}", field=name) from err


def _reject(origin: object, lines: np.ndarray, field_name: str, bad: pa.Array, why: str) -> None:
    """Raise for the first row where `bad` is true (nulls are not bad)."""
    flags = pc.fill_null(bad, False).to_numpy(zero_copy_only=False)
    if flags.any():
        raise InputError(origin, why, line=int(lines[np.argmax(flags)]), field=field_name)


@dataclass
class InputList:
    """A download input: a Parquet file or folder of them, or a plain URL list."""

    path: Path
    batch_size: int = 2048
    skips: SkipReport = field(init=False)

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self.skips = SkipReport(str(self.path))
        if not self.path.exists():
            raise InputError(self.path, "no such file or folder")

    @property
    def parquet_files(self) -> list[Path]:
        """The Parquet files of the input, empty for a plain list."""
        if self.path.is_dir():
            return sorted(self.path.rglob("*.parquet"))
        with open(self.path, "rb") as f:
            return [self.path] if f.read(4) == b"PAR1" else []

    def total(self) -> int | None:
        """Number of rows, when known without reading the data (Parquet metadata)."""
        files = self.parquet_files
        return sum(pq.ParquetFile(p).metadata.num_rows for p in files) if files else None

    def batches(self) -> Iterator[pa.RecordBatch]:
        """Normalized batches of COLUMNS, in input order."""
        files = self.parquet_files
        if self.path.is_dir() and not files:
            raise InputError(self.path, "folder holds no .parquet files")
        if files:
            for path in files:
                yield from _parquet_batches(path, self.batch_size, self.skips)
        else:
            yield from _list_batches(self.path, self.skips)


def _parquet_batches(path: Path, batch_size: int, skips: SkipReport) -> Iterator[pa.RecordBatch]:
    source = pq.ParquetFile(path)
    wanted = [c for c in COLUMNS.names if c in source.schema_arrow.names]
    first = 1
    for batch in source.iter_batches(batch_size=batch_size, columns=wanted):
        lines = np.arange(first, first + batch.num_rows)
        first += batch.num_rows
        yield normalize_batch(batch, path, lines, skips)


def _list_batches(path: Path, skips: SkipReport) -> Iterator[pa.RecordBatch]:
    """Blocks of whole lines, split columnar; the format is fixed by the first line."""
    layout, first_line = None, 1
    for text in _line_blocks(path):
        lines = pc.list_flatten(pc.split_pattern(pa.array([text]), "\n"))
        numbers = np.arange(first_line, first_line + len(lines))
        first_line += len(lines)
        lines = pc.utf8_trim_whitespace(lines)
        keep = pc.not_equal(lines, "")
        lines, numbers = lines.filter(keep), numbers[keep.to_numpy(zero_copy_only=False)]
        if not len(lines):
            continue
        if layout is None:
            layout = _layout(lines[0].as_py())
            if _is_header(lines[0].as_py(), layout):
                lines, numbers = lines.slice(1), numbers[1:]
        batch, numbers = _split(lines, numbers, layout, skips)
        yield normalize_batch(batch, path, numbers, skips)


def _line_blocks(path: Path) -> Iterator[str]:
    """The file as text blocks ending at a newline; non-UTF-8 bytes percent-encoded."""
    carry = b""
    with open(path, "rb") as f:
        while True:
            block = f.read(_BLOCK)
            data = carry + block
            cut = len(data) if not block else data.rfind(b"\n") + 1
            if cut:
                yield _utf8(data[:cut])
            carry = data[cut:]
            if not block:
                return


def _utf8(data: bytes) -> str:
    text = data.decode("utf-8", "surrogateescape")
    if _NOT_UTF8.search(text) is None:
        return text
    return _NOT_UTF8.sub(lambda m: "".join(f"%{ord(c) - 0xDC00:02X}" for c in m.group()), text)


def _layout(first: str) -> str:
    """The separator of the list ('\t', ',' or '' for URL-only), judged from its first line."""
    if "\t" in first:
        return "\t"
    comma, scheme = first.find(","), first.find("://")
    return "," if comma >= 0 and (scheme < 0 or comma < scheme) else ""


def _is_header(first: str, layout: str) -> bool:
    fields = first.split(layout, 1) if layout else [first]
    return fields[-1].strip().strip('"').lower() == "url"


def _split(lines: pa.Array, numbers: np.ndarray, layout: str,
           skips: SkipReport) -> tuple[pa.RecordBatch, np.ndarray]:
    """(image_id, url) columns from the lines, dropping lines that do not split in two."""
    if not layout:
        urls = _unquote(lines)
        return pa.RecordBatch.from_arrays([_url_ids(urls), urls], ["image_id", "url"]), numbers
    parts = pc.split_pattern(lines, layout, max_splits=1)
    two = pc.equal(pc.list_value_length(parts), 2).to_numpy(zero_copy_only=False)
    if not two.all():
        _skip(skips, numbers[~two], f"not id{'<TAB>' if layout == chr(9) else layout}url")
        parts, numbers = parts.filter(pa.array(two)), numbers[two]
    columns = [_unquote(pc.list_element(parts, i)) for i in (0, 1)]
    return pa.RecordBatch.from_arrays(columns, ["image_id", "url"]), numbers


def _unquote(values: pa.Array) -> pa.Array:
    return pc.replace_substring_regex(pc.utf8_trim_whitespace(values), '^"(.*)"$', r"\1")


def _url_ids(urls: pa.Array) -> pa.Array:
    """`url:` + the 16 hex digits of each URL's SipHash (vectorized hex formatting)."""
    digests = id_hashes(urls).astype(">u8").view(np.uint8).reshape(-1, 8)
    hexed = np.empty((len(digests), 16), dtype=np.uint8)
    hexed[:, 0::2], hexed[:, 1::2] = _HEX[digests >> 4], _HEX[digests & 15]
    hexes = pa.array(hexed.view("S16").ravel()).cast(pa.string())
    return pc.binary_join_element_wise("url:", hexes, "")
