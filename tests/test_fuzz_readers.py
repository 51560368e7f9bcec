"""Fuzzing the text readers: good rows mixed with arbitrary bad lines all survive, nothing crashes.

Each example writes a file of good rows (unique ids) interleaved with generated bad lines, reads
it with the adapter in small blocks (so bad lines fall at block edges too), and checks that every
good row comes out unchanged, every other line is counted as skipped, or the reader refuses the
file with an InputError (only where the format makes a line structurally fatal).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlbuild.errors import InputError
from mlbuild.sources.imagenet import ImageNetUrls, ImageNetUrlsConfig
from mlbuild.sources.openimages import OpenImages, OpenImagesConfig
from mlbuild.sources.tabular import Tabular, TabularConfig

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NOT_NEWLINE = st.binary(max_size=60).map(lambda b: b.replace(b"\n", b"").replace(b"\r", b""))
# text without the CSV specials: such a field never changes how a line splits
PLAIN = st.text(st.characters(blacklist_characters=',"\n\r', blacklist_categories=("Cs",)), max_size=20)


def lines_with_noise(good: list[bytes], bad: list[bytes], positions: list[int]) -> bytes:
    """The good lines in order with the bad lines inserted at the given positions."""
    out = list(good)
    for k, line in enumerate(bad):
        at = positions[k] if k < len(positions) else len(out)
        out.insert(at % (len(out) + 1), line)
    return b"".join(line + b"\n" for line in out)


def write(data: bytes, name: str) -> Path:
    path = Path(tempfile.mkdtemp()) / name
    path.write_bytes(data)
    return path


good_urls = st.lists(st.tuples(st.integers(0, 10**6), st.text("abcxyz/._-", min_size=1, max_size=30)),
                     min_size=1, max_size=30, unique_by=lambda t: t[0])


@FUZZ
@given(good=good_urls, bad=st.lists(NOT_NEWLINE, max_size=30), positions=st.lists(st.integers(0, 100), max_size=30))
def test_imagenet_urls_keep_every_good_row(good: list, bad: list[bytes], positions: list[int]) -> None:
    rows = {f"n02084071_{i}": f"http://x.org/{path}" for i, path in good}
    lines = [f"{k}\t{v}".encode() for k, v in rows.items()]
    noise = [b for b in bad if not b.startswith(b"n")]  # a line starting like an id could be a valid row
    path = write(lines_with_noise(lines, noise, positions), "urls.txt")
    adapter = ImageNetUrls(ImageNetUrlsConfig(path, block_bytes=64))
    table = pa.Table.from_batches(list(adapter.images()))
    found = dict(zip(table.column("source_image_id").to_pylist(), table.column("url").to_pylist()))
    assert found == rows
    assert sum(r.count for r in adapter.skips) == len(noise)


LABEL_HEADER = b"ImageID,Source,LabelName,Confidence"
hex_ids = st.text("0123456789abcdef", min_size=16, max_size=16)


@FUZZ
@given(good=st.lists(st.tuples(hex_ids, st.sampled_from(["/m/0bt9lr", "/m/01yrx"]), st.sampled_from(["0", "1", "0.5"])),
                     min_size=1, max_size=30),
       bad=st.lists(st.tuples(PLAIN, PLAIN, PLAIN, st.one_of(st.just(""), st.floats(-5, 5).map(str))), max_size=30),
       positions=st.lists(st.integers(0, 100), max_size=30))
def test_openimages_labels_keep_every_good_row(good: list, bad: list, positions: list[int]) -> None:
    lines = [f"{i},verification,{mid},{conf}".encode() for i, mid, conf in good]
    noise = [",".join((image[:15], source, label, conf)).encode() for image, source, label, conf in bad]
    path = write(LABEL_HEADER + b"\n" + lines_with_noise(lines, noise, positions), "labels.csv")
    adapter = OpenImages(OpenImagesConfig(label_files=[path], block_bytes=1024))
    table = pa.Table.from_batches(list(adapter.labels()))
    found = list(zip(table.column("image_id").to_pylist(), table.column("source_class").to_pylist(),
                     table.column("confidence").to_pylist()))
    assert found == [(f"openimages:{i}", mid, float(conf)) for i, mid, conf in good]  # bad ids are 15 digits
    assert sum(r.count for r in adapter.skips) == len(noise)


@FUZZ
@given(good=st.lists(st.integers(0, 10**6), min_size=1, max_size=30, unique=True),
       bad=st.lists(st.tuples(PLAIN, PLAIN), max_size=30), positions=st.lists(st.integers(0, 100), max_size=30))
def test_tabular_csv_keeps_every_good_row(good: list[int], bad: list, positions: list[int]) -> None:
    lines = [f"img{i},http://t.org/{i}.jpg,n02084071".encode() for i in good]
    noise = [f",{url},{label}".encode() for url, label in bad]  # no id: skipped whatever else the row holds
    path = write(b"image_id,url,labels\n" + lines_with_noise(lines, noise, positions), "list.csv")
    try:
        adapter = Tabular(TabularConfig(path, "t", "image_id", "labels", label_kind="wnid", url_column="url"))
        table = pa.Table.from_batches(list(adapter.images()))
    except InputError as err:  # only a structural problem may refuse the file, and it names the file
        assert str(path) in str(err)
        return
    assert table.column("source_image_id").to_pylist() == [f"img{i}" for i in good]
    assert sum(r.count for r in adapter.skips) == len(noise)
