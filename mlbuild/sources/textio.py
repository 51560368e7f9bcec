"""Columnar reading of the sources' text files: line blocks, first-separator splits, CSV streams.

Everything here keeps exact 1-based line numbers so that a skipped row can be
named, and reads in blocks of bounded size so memory does not grow with the file.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from mlbuild._util.threads import ordered_map
from mlbuild.errors import InputError

BLOCK_BYTES = 32 << 20
# Blocks of `stream_csv` (and of pyarrow's own streaming reader, which reads up to 32 blocks
# ahead, so about 33 blocks of memory). 4 MiB cuts the same batches as pyarrow's reader did.
CSV_BLOCK_BYTES = 4 << 20
T = TypeVar("T")
# Control bytes that text lists practically never contain; one that is absent from a block
# serves as the CSV delimiter, so pyarrow splits that block into exactly one field per line
# (a block containing all of them takes a slower numpy path).
_FILLER_BYTES = bytes([*range(0x01, 0x09), 0x0B, *range(0x0E, 0x20)])


def line_blocks(path: Path, block_bytes: int = BLOCK_BYTES, skip_lines: int = 0) -> Iterator[bytes]:
    """Yield blocks of about `block_bytes` that each end at a newline (the last one may not).

    Memory is about two blocks; each byte is copied once. The first `skip_lines` lines
    (a header) are left out; blocks are still cut at the same offsets, counted from the
    start of the file, as pyarrow's streaming CSV reader cuts its batches.
    """
    rest = b""
    with open(path, "rb") as f:
        while chunk := f.read(block_bytes):
            cut = chunk.rfind(b"\n") + 1
            if cut == 0:
                rest += chunk
                continue
            block, skip_lines = _drop_lines(b"".join((rest, memoryview(chunk)[:cut])), skip_lines)
            rest = chunk[cut:]
            if block:
                yield block
    rest, _ = _drop_lines(rest, skip_lines)
    if rest:
        yield rest


def _drop_lines(block: bytes, count: int) -> tuple[bytes, int]:
    """The block without its first `count` lines, and how many lines are left to drop."""
    start = 0
    while count and start < len(block):
        start = block.find(b"\n", start) + 1 or len(block)
        count -= 1
    return (block[start:] if start else block), count


def parsed_blocks(path: Path, parse: Callable[[bytes], tuple[int, T]], block_bytes: int = BLOCK_BYTES,
                  workers: int = 2, skip_lines: int = 0) -> Iterator[tuple[int, T]]:
    """Yield (first line number, result) of `parse(block)` for every line block, in file order.

    `parse` returns (number of lines in the block, result). Up to `workers` blocks are
    parsed at once in threads (pyarrow and numpy release the GIL) while the caller
    consumes the current result, so about `workers + 1` blocks are held at a time.
    The first `skip_lines` lines (a header) are not parsed; numbering still counts them.
    """
    line = 1 + skip_lines
    for count, result in ordered_map(parse, line_blocks(path, block_bytes, skip_lines), workers):
        yield line, result
        line += count


def _count_lines(block: bytes) -> int:
    """Number of lines in a block (a last line without newline counts), off the GIL."""
    data = np.frombuffer(block, np.uint8)
    return int(np.count_nonzero(data == 10)) + int(len(data) > 0 and data[-1] != 10)


def split_lines(block: bytes) -> pa.Array:
    """The block's lines as a binary array: one element per line, no line ends, exact bytes.

    pyarrow's CSV parser is the fast line splitter; quoting is off and the delimiter is
    a byte absent from the block. pyarrow ends lines at CR too, so CRLF becomes LF and a
    lone CR (never legal inside a URL) is percent-encoded to keep one row per line.
    """
    if not block:
        return pa.array([], pa.binary())
    if b"\r" in block:
        block = block.replace(b"\r\n", b"\n").replace(b"\r", b"%0D")
    delimiter = next((chr(b) for b in _FILLER_BYTES if bytes([b]) not in block), None)
    if delimiter is None:
        return _split_lines_numpy(block)
    # One parse block for the whole block: faster here than pyarrow's threaded chunking,
    # and no line can straddle a chunk boundary.
    read = pacsv.ReadOptions(column_names=["line"], block_size=len(block) + 1, use_threads=False)
    parse = pacsv.ParseOptions(delimiter=delimiter, quote_char=False, ignore_empty_lines=False)
    convert = pacsv.ConvertOptions(column_types={"line": pa.binary()})
    table = pacsv.read_csv(pa.BufferReader(block), read, parse, convert)
    return table.column(0).combine_chunks() if table.num_rows else pa.array([], pa.binary())


def _split_lines_numpy(block: bytes) -> pa.Array:
    """Slow exact line split, for a block that contains every candidate delimiter byte."""
    data = np.frombuffer(block, np.uint8)
    ends = np.flatnonzero(data == 10)
    if len(ends) == 0 or ends[-1] != len(data) - 1:
        ends = np.append(ends, len(data))
    starts = np.concatenate([[0], ends[:-1] + 1])
    offsets = np.empty(2 * len(ends) + 1, np.int64)
    offsets[0:-1:2], offsets[1::2] = starts, ends
    offsets[-1] = len(data)
    both = pa.LargeBinaryArray.from_buffers(pa.large_binary(), 2 * len(ends),
                                            [None, pa.py_buffer(offsets), pa.py_buffer(block)])
    return both.take(pa.array(np.arange(0, 2 * len(ends), 2))).cast(pa.binary())


def split_first(lines: pa.Array, sep: str) -> tuple[pa.Array, pa.Array, pa.Array]:
    """Split every line at its first `sep`: (has_sep mask, head, tail), heads/tails for all lines.

    Lines without `sep` get an empty head and the whole line as tail. Columnar: one
    find per line, then two gathers from the original buffer; no per-row Python.
    """
    at = pc.find_substring(lines, sep).to_numpy(zero_copy_only=False)
    has = at >= 0
    n = len(lines)
    starts = np.frombuffer(lines.buffers()[1], np.int32, n + 1, 4 * lines.offset)
    at = np.where(has, at, 0).astype(np.int32)
    offsets = np.empty(3 * n + 1, np.int32)
    offsets[0:-1:3] = starts[:-1]
    offsets[1:-1:3] = starts[:-1] + at
    offsets[2:-1:3] = starts[:-1] + np.where(has, at + len(sep), 0)
    offsets[-1] = starts[-1]
    pieces = pa.BinaryArray.from_buffers(pa.binary(), 3 * n,
                                         [None, pa.py_buffer(offsets), lines.buffers()[2]])
    index = np.arange(0, 3 * n, 3, dtype=np.int64)
    return pa.array(has), pieces.take(pa.array(index)), pieces.take(pa.array(index + 2))


def text_lines(path: Path) -> pa.Array:
    """A small text file's lines as trimmed strings (strict UTF-8), one per physical line."""
    lines = split_lines(Path(path).read_bytes())
    try:
        return pc.utf8_trim_whitespace(lines.cast(pa.string()))
    except pa.ArrowInvalid:
        raise InputError(path, "not UTF-8 text") from None


def fail_at_first(path: Path, bad: pa.Array | np.ndarray, message: str, field: str | None = None,
                  lines: np.ndarray | None = None) -> None:
    """Raise InputError at the first bad row (True or null); its line is lines[row], default row + 1."""
    if isinstance(bad, (pa.Array, pa.ChunkedArray)):
        bad = pc.fill_null(bad, True).to_numpy(zero_copy_only=False)
    if bad.any():
        row = int(np.argmax(bad))
        raise InputError(path, message, line=int(lines[row]) if lines is not None else row + 1, field=field)


def first_line(path: Path) -> str:
    """The file's first line without BOM, line end or trailing blanks (for header checks)."""
    with open(path, "rb") as f:
        head = f.readline(1 << 16)
    return head.decode("utf-8", "replace").lstrip("\ufeff").rstrip("\r\n ").rstrip()


def check_header(path: Path, expected: list[str], optional: bool = False) -> bool:
    """Whether the file starts with the header `expected`; InputError if it is a wrong header.

    With `optional`, a first line that is data (not starting like the header) means
    "no header"; without it, the header is required.
    """
    found = [c.strip() for c in first_line(path).split(",")]
    if found == expected:
        return True
    if optional and found and found[0] != expected[0]:
        return False
    raise InputError(path, f"unexpected header {found} (expected {expected})", line=1)


def stream_csv(path: Path, names: list[str], types: dict[str, pa.DataType], header: bool,
               block_bytes: int = CSV_BLOCK_BYTES, build: Callable[[pa.RecordBatch], T] | None = None,
               workers: int = 2) -> Iterator[tuple[int, T]]:
    """Read an RFC-4180 comma-separated file as (first line number, `build(batch)`) per block, in file order.

    The file is cut into line blocks, and `workers` threads each parse a block (pyarrow,
    one thread per block) and run `build` on its batch (default: return the batch), so
    the caller's per-block work (validation, output columns) runs on every core too;
    about `workers + 1` blocks are in memory. Columns missing from `types` are strings;
    empty values and `nan` are null in non-string columns; strings stay as written.
    Row k of a block's batch is on line `first + k` (a quoted field spanning lines would
    shift this within its block; the list files have none). A malformed row (wrong field
    count, a value that does not convert) raises InputError naming its line and field,
    after every earlier block has been yielded.
    """
    parse = pacsv.ParseOptions(ignore_empty_lines=False, newlines_in_values=False)
    convert = pacsv.ConvertOptions(column_types={n: types.get(n, pa.string()) for n in names},
                                   null_values=["", "nan", "NaN"], strings_can_be_null=False,
                                   quoted_strings_can_be_null=False)

    def parse_block(block: bytes) -> tuple[int, tuple[pa.ArrowInvalid | None, T | None]]:
        # One parse chunk, so one batch per block and pyarrow's row numbers count from the block start.
        read = pacsv.ReadOptions(column_names=names, block_size=len(block) + 1, use_threads=False)
        try:
            table = pacsv.read_csv(pa.BufferReader(block), read, parse, convert)
        except pa.ArrowInvalid as err:
            return _count_lines(block), (err, None)
        batch = table.combine_chunks().to_batches()[0]
        return _count_lines(block), (None, build(batch) if build else batch)

    for first, (err, result) in parsed_blocks(path, parse_block, block_bytes, workers, int(header)):
        if err is not None:
            raise _input_error(path, err, names, first) from None
        yield first, result


def _input_error(path: Path, err: pa.ArrowInvalid, names: list[str], first: int) -> InputError:
    """pyarrow's CSV error in a block starting at line `first` as an InputError with its line and field.

    pyarrow names the block's row ("Row #n", 1-based) and field ("column #k").
    """
    text = str(err)
    row = re.search(r"Row #(\d+)", text)
    col = re.search(r"column #(\d+)", text)
    field = names[int(col.group(1))] if col and int(col.group(1)) < len(names) else None
    message = re.sub(r"In CSV column #\d+: |Row #\d+: ", "", text)
    return InputError(path, message, line=first + int(row.group(1)) - 1 if row else None, field=field)
