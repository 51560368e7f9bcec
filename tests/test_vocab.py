"""`mlbuild vocab`: WNID lists in, classes.parquet and hierarchy.parquet out (read back)."""
from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from mlbuild.cli import main
from mlbuild.errors import InputError
from mlbuild.sources.wnids import read_wnid_list


def test_vocab_command_merges_sources_and_writes_manifests(tmp_path):
    (tmp_path / "a.txt").write_text("n02084071\nn00015388\n")
    (tmp_path / "b.txt").write_text("# comment\nn02084071\tdog, domestic dog\n\nn02083346 canine\n")
    out = tmp_path / "out"
    assert main(["vocab", "--wnids", f"in21k={tmp_path / 'a.txt'}", "--wnids", str(tmp_path / "b.txt"),
                 "--out", str(out)]) == 0
    classes = pq.read_table(out / "classes.parquet").to_pylist()
    assert [c["wnid"] for c in classes] == ["n00015388", "n02083346", "n02084071"]
    dog = classes[2]
    assert dog["sources"] == ["b:n02084071", "in21k:n02084071"] and dog["parents"] == [1]
    hierarchy = pq.read_table(out / "hierarchy.parquet").to_pylist()
    assert {(h["child_wnid"], h["parent_wnid"]) for h in hierarchy} == {
        ("n02084071", "n02083346"), ("n02083346", "n00015388")}
    assert not list(out.glob(".*partial"))


def test_vocab_output_is_byte_identical_across_runs(tmp_path):
    (tmp_path / "a.txt").write_text("n02084071\nn00015388\nn02121620\n")
    for run in ("one", "two"):
        main(["vocab", "--wnids", str(tmp_path / "a.txt"), "--out", str(tmp_path / run)])
    for name in ("classes.parquet", "hierarchy.parquet"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


def test_bad_wnid_names_file_line_and_field(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("n02084071\nn0208407x\n")
    with pytest.raises(InputError, match=r"bad.txt:2: field 'wnid'"):
        read_wnid_list(path, strict=False)
    assert main(["vocab", "--wnids", str(path), "--out", str(tmp_path / "o")]) == 2


def test_unknown_wnid_is_a_clear_cli_error(tmp_path, capsys):
    (tmp_path / "a.txt").write_text("n99999999\n")
    assert main(["vocab", "--wnids", str(tmp_path / "a.txt"), "--out", str(tmp_path / "o")]) == 2
    assert "n99999999" in capsys.readouterr().err


def test_imagenet21k_vocabulary(shared_data, tmp_path):
    src = shared_data / "imagenet21k" / "imagenet22k_synsets.txt"
    assert main(["vocab", "--wnids", f"imagenet21k={src}", "--out", str(tmp_path)]) == 0
    classes = pq.read_table(tmp_path / "classes.parquet")
    assert classes.num_rows == 21841
    assert classes.column("class_index").to_pylist() == list(range(21841))


def test_one_wnid_list_reader_strict_and_lenient(tmp_path):
    from mlbuild.sources.wnids import read_wnid_file
    path = tmp_path / "list.txt"
    path.write_text("# comment\nn02084071 dog, domestic dog\n\nn02083346\nn02084071\n")
    lenient = read_wnid_file(path, strict=False).to_pylist()
    assert [(r["wnid"], r["name"], r["line"]) for r in lenient] == [
        ("n02084071", "dog, domestic dog", 2), ("n02083346", None, 4), ("n02084071", None, 5)]
    with pytest.raises(InputError, match=r"list.txt:1: field 'wnid'"):   # no comments in strict mode
        read_wnid_file(path, strict=True)
    path.write_text("n02084071\tdog, domestic dog\n\nn02083346\nn02084071\n")
    with pytest.raises(InputError, match=r"list.txt:4: field 'wnid': the list repeats a WNID"):
        read_wnid_file(path, strict=True)
    path.write_text("n02084071\tdog, domestic dog\nn02083346\n")
    strict = read_wnid_file(path).to_pylist()
    assert [(r["wnid"], r["name"]) for r in strict] == [("n02084071", "dog, domestic dog"), ("n02083346", None)]
    path.write_text("")
    assert read_wnid_list(path).to_pylist() == []
