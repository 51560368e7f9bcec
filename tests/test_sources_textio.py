"""Columnar text reading: line blocks, exact line splits, first-separator splits, CSV streams."""
from __future__ import annotations

import pyarrow as pa
import pytest

from mlbuild.errors import InputError
from mlbuild.sources.textio import (_FILLER_BYTES, check_header, line_blocks, parsed_blocks, split_first,
                                    split_lines, stream_csv)


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


def test_stream_csv_numbers_batches_and_names_bad_lines(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n" + "".join(f"{i},x\n" for i in range(1, 2001)))
    firsts = [(first, b.column("a")[0].as_py()) for first, b in stream_csv(path, ["a", "b"], {"a": pa.int64()},
                                                                           True, block_bytes=1024)]
    assert len(firsts) > 5 and all(first == value + 1 for first, value in firsts)
    path.write_text("a,b\n1,x\n2\n")
    with pytest.raises(InputError, match="Expected 2 columns") as err:
        list(stream_csv(path, ["a", "b"], {"a": pa.int64()}, True))
    assert err.value.line == 3
    path.write_text("a,b\n1,x\nzz,y\n")
    with pytest.raises(InputError, match="invalid value 'zz'") as err:
        list(stream_csv(path, ["a", "b"], {"a": pa.int64()}, True))
    assert (err.value.line, err.value.field) == (3, "a")


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
