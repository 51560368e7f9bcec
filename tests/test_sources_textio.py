"""Columnar text reading: line blocks, exact line splits, first-separator splits, CSV streams."""
from __future__ import annotations

import threading
from itertools import accumulate

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from mlbuild.errors import InputError
from mlbuild.sources.textio import (
    _FILLER_BYTES,
    check_header,
    line_blocks,
    parsed_blocks,
    split_first,
    split_lines,
    stream_csv,
)


def test_line_blocks_end_at_newlines_and_keep_every_byte(tmp_path):
    data = b"".join(b"line %d %s\n" % (i, b"x" * (i % 37)) for i in range(500)) + b"tail without newline"
    path = tmp_path / "f.txt"
    path.write_bytes(data)
    blocks = list(line_blocks(path, 100))
    assert b"".join(blocks) == data
    assert all(b.endswith(b"\n") for b in blocks[:-1])


def test_parsed_blocks_number_lines_across_blocks(tmp_path):
    path = tmp_path / "f.txt"
    path.write_bytes(b"".join(b"%d\n" % i for i in range(1, 1001)))
    seen = list(parsed_blocks(path, lambda block: (len(split_lines(block)), split_lines(block)), 64))
    assert len(seen) > 10
    for first, lines in seen:
        assert int(lines[0].as_py()) == first  # line n holds the number n


@pytest.mark.parametrize("block, lines", [
    (b"a\tb\nc\n", [b"a\tb", b"c"]),
    (b"a\n\nb", [b"a", b"", b"b"]),
    (b"a\r\nb\r\n", [b"a", b"b"]),
    (b"a\rb\nc\n", [b"a%0Db", b"c"]),
    (b"x,\"y\n", [b"x,\"y"]),
    (b"\xff\xfe\n\xe9\n", [b"\xff\xfe", b"\xe9"]),
])
def test_split_lines_is_exact(block, lines):
    assert split_lines(block).to_pylist() == lines


def test_split_lines_without_a_free_delimiter_byte():
    block = bytes(_FILLER_BYTES) + b"\tz\nsecond\nthird"
    assert split_lines(block).to_pylist() == [bytes(_FILLER_BYTES) + b"\tz", b"second", b"third"]


def test_split_first_splits_at_the_first_separator_only():
    lines = pa.array([b"id\turl\tmore", b"no-sep", b"", b"\tlead", b"trail\t"], pa.binary())
    has, head, tail = split_first(lines.slice(0), "\t")
    assert has.to_pylist() == [True, False, False, True, True]
    assert head.to_pylist() == [b"id", b"", b"", b"", b"trail"]
    assert tail.to_pylist() == [b"url\tmore", b"no-sep", b"", b"lead", b""]
    has, head, tail = split_first(lines.slice(1, 3), "\t")  # offsets of a sliced array
    assert head.to_pylist() == [b"", b"", b""] and tail.to_pylist() == [b"no-sep", b"", b"lead"]


def test_line_blocks_skip_header_lines_but_cut_at_the_same_offsets(tmp_path):
    path = tmp_path / "f.csv"
    path.write_bytes(b"a,b\n" + b"".join(b"%d,x\n" % i for i in range(300)))
    whole, headless = list(line_blocks(path, 100)), list(line_blocks(path, 100, skip_lines=1))
    assert headless == [whole[0][4:]] + whole[1:]
    path.write_bytes(b"a,b")
    assert list(line_blocks(path, 100, skip_lines=1)) == []


def _csv_rows(first_and_batches):
    return pa.Table.from_batches([b for _, b in first_and_batches]).to_pylist()


@pytest.mark.parametrize("block_bytes", [16, 64, 1 << 20])
def test_stream_csv_reads_like_one_pyarrow_read(tmp_path, block_bytes):
    path = tmp_path / "t.csv"
    body = ('1,"x, ""q""",0.5\r\n2,,nan\n\n3,y,\n' * 20 + "4,z,1").encode()
    path.write_bytes(b"a,b,c\n" + body)
    types = {"a": pa.int64(), "c": pa.float32()}
    read = stream_csv(path, ["a", "b", "c"], types, True, block_bytes)
    expected = pacsv.read_csv(pa.BufferReader(body), pacsv.ReadOptions(column_names=["a", "b", "c"]),
                              pacsv.ParseOptions(ignore_empty_lines=False),
                              pacsv.ConvertOptions(column_types=types | {"b": pa.string()},
                                                   null_values=["", "nan", "NaN"], strings_can_be_null=False))
    assert _csv_rows(read) == expected.to_pylist()
    firsts = [(first, b.num_rows) for first, b in stream_csv(path, ["a", "b", "c"], types, True, block_bytes)]
    assert [f for f, _ in firsts] == list(accumulate([2] + [n for _, n in firsts[:-1]]))


def test_stream_csv_builds_in_worker_threads_in_file_order(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n" + "".join(f"{i},x\n" for i in range(1, 2001)))
    seen = list(stream_csv(path, ["a", "b"], {"a": pa.int64()}, True, 1024,
                           lambda b: (threading.current_thread() is threading.main_thread(), b.column("a")[0].as_py())))
    assert len(seen) > 5 and not any(in_main for _, (in_main, _) in seen)
    assert all(first == value + 1 for first, (_, value) in seen)


@pytest.mark.parametrize("block_bytes", [64, 1 << 20])
def test_stream_csv_names_the_absolute_line_of_a_malformed_row(tmp_path, block_bytes):
    path = tmp_path / "t.csv"
    good = "a,b\n" + "".join(f"{i},x\n" for i in range(1, 100))  # lines 2..100
    path.write_text(good + "101\n102,x\n")
    yielded = []
    with pytest.raises(InputError, match="Expected 2 columns") as err:
        yielded.extend(stream_csv(path, ["a", "b"], {"a": pa.int64()}, True, block_bytes))
    assert (err.value.line, err.value.path) == (101, str(path))
    if block_bytes == 64:  # the blocks before the bad one were all yielded
        assert _csv_rows(yielded)[-1]["a"] >= 90
    path.write_text(good + "zz,y\n")
    with pytest.raises(InputError, match="invalid value 'zz'") as err:
        list(stream_csv(path, ["a", "b"], {"a": pa.int64()}, True, block_bytes))
    assert (err.value.line, err.value.field) == (101, "a")


def test_check_header(tmp_path):
    path = tmp_path / "h.csv"
    path.write_bytes(b"\xef\xbb\xbfLabelName,DisplayName \r\n/m/01,x\r\n")
    assert check_header(path, ["LabelName", "DisplayName"])
    path.write_text("/m/01,x\n")
    assert not check_header(path, ["LabelName", "DisplayName"], optional=True)
    path.write_text("LabelName,Name\n")
    with pytest.raises(InputError, match="unexpected header") as err:
        check_header(path, ["LabelName", "DisplayName"], optional=True)
    assert err.value.line == 1
