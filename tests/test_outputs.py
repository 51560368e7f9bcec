"""Output folders mlbuild owns: refused before any work when they are someone else's, a user's
files are never deleted or overwritten, unwritable targets (read-only, full disk) are one clear line."""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from process_helpers import in_small_filesystem

from mlbuild._util.ownership import MARKER
from mlbuild.cli import main
from mlbuild.config import load_config
from mlbuild.errors import OutputError
from mlbuild.pipeline import build
from mlbuild.sample import SAMPLE_DIR


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under folder with its sha256."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def sample_copy(tmp_path: Path, tree_at: Path | None = None) -> Path:
    """The sample's inputs copied under tmp_path; its ImageNet folder tree at `tree_at` if given."""
    src = tmp_path / "sample"
    shutil.copytree(SAMPLE_DIR, src, ignore=shutil.ignore_patterns("__pycache__", "*.py", ".test-*"))
    config = src / "build.toml"
    if tree_at is not None:
        shutil.move(src / "imagenet_tree", tree_at)
        config.write_text(config.read_text().replace('root = "imagenet_tree"', f'root = "{tree_at}"'))
    return config


def error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1, err
    return err


def test_a_folder_source_inside_the_output_folder_is_refused_and_untouched(tmp_path, capsys):
    """The issue's case: the user's ImageNet folder lives at OUT/images/<wnid>/."""
    out = tmp_path / "out"
    config = sample_copy(tmp_path, tree_at=out / "images")
    (out / "notes.txt").write_text("mine")
    before = snapshot(out)
    assert main(["build", str(config), "--out", str(out)]) == 2
    assert "contains the input" in error_line(capsys)
    assert snapshot(out) == before


def test_a_foreign_folder_a_file_or_another_commands_folder_is_refused(tmp_path, capsys):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "photo.jpg").write_bytes(b"x")
    assert main(["build", "--out", str(foreign)]) == 2
    assert "not made by mlbuild" in error_line(capsys)
    assert snapshot(foreign) == {"photo.jpg": hashlib.sha256(b"x").hexdigest()}
    afile = tmp_path / "afile"
    afile.write_text("data")
    assert main(["build", "--out", str(afile)]) == 2
    assert "is a file" in error_line(capsys) and afile.read_text() == "data"
    (tmp_path / "urls.txt").write_text("a\thttp://127.0.0.1:9/a.jpg\n")
    assert main(["download", str(tmp_path / "urls.txt"), "--out", str(tmp_path / "dl"), "--processes", "1",
                 "--max-attempts", "1"]) == 0
    capsys.readouterr()
    assert main(["build", "--out", str(tmp_path / "dl")]) == 2
    assert "mlbuild download folder, not a build folder" in error_line(capsys)
    assert main(["download", str(tmp_path / "urls.txt"), "--out", str(foreign)]) == 2
    assert "not made by mlbuild" in error_line(capsys)
    assert main(["vocab", "--wnids", str(tmp_path / "urls.txt"), "--out", str(foreign)]) == 2
    assert "not made by mlbuild" in error_line(capsys)


def test_an_output_folder_inside_an_input_folder_is_refused(tmp_path):
    config = load_config(sample_copy(tmp_path))
    with pytest.raises(OutputError, match="inside the input folder"):
        build(config, tmp_path / "sample" / "imagenet_tree" / "out")
    assert not (tmp_path / "sample" / "imagenet_tree" / "out").exists()


def test_rebuilds_remove_only_what_the_last_build_published(tmp_path):
    config = load_config(SAMPLE_DIR / "build.toml")
    config.partition_images, config.workers = 3, 1
    out = build(config, tmp_path / "out").out_dir
    assert (out / MARKER).is_file() and len(list((out / "images" / "train").glob("*.parquet"))) > 3
    (out / "notes.txt").write_text("mine")
    (out / "images" / "train" / "README").write_text("also mine")
    config.partition_images = 100
    build(config, out)
    clean = build(config, tmp_path / "clean").out_dir
    manifests = [(k, v) for k, v in snapshot(out).items() if k.endswith(".parquet")]
    assert manifests == [(k, v) for k, v in snapshot(clean).items() if k.endswith(".parquet")]
    assert (out / "notes.txt").read_text() == "mine" and (out / "images" / "train" / "README").exists()


def test_a_users_file_where_a_part_would_go_is_never_overwritten(tmp_path):
    config = load_config(SAMPLE_DIR / "build.toml")
    config.workers = 1
    out = tmp_path / "out"
    (out / "images" / "train").mkdir(parents=True)
    (out / MARKER).write_text('{"kind": "build", "tool": "mlbuild", "version": "0.1.0"}\n')
    (out / "images" / "train" / "part-00000.parquet").write_bytes(b"the user's own file")
    with pytest.raises(OutputError, match="not written by this folder's last build"):
        build(config, out)
    assert (out / "images" / "train" / "part-00000.parquet").read_bytes() == b"the user's own file"
    assert not (out / "build.json").exists()


def test_download_folder_must_be_a_plain_name_beside_the_manifests(tmp_path):
    config = load_config(SAMPLE_DIR / "build.toml")
    for bad in ("images", "../elsewhere", ".partial"):
        config.download.folder = bad
        with pytest.raises(OutputError, match="must be a plain folder name"):
            build(config, tmp_path / "out")


def test_single_file_outputs_replace_only_their_own_files(tmp_path, capsys):
    folder = tmp_path / "imgs"
    folder.mkdir()
    shutil.copy(SAMPLE_DIR / "eval_images" / "val_0001.jpg", folder / "a.jpg")
    mine = tmp_path / "notes.parquet"
    pq.write_table(pa.table({"x": [1]}), mine)
    before = mine.read_bytes()
    assert main(["hash", str(folder), "--out", str(mine), "--workers", "1"]) == 2
    assert "not written by mlbuild" in error_line(capsys) and mine.read_bytes() == before
    assert main(["hash", str(folder), "--out", str(folder), "--workers", "1"]) == 2
    assert "is a folder" in error_line(capsys)
    hashes = tmp_path / "h.parquet"
    for _ in range(2):  # the second run replaces the file the first wrote
        assert main(["hash", str(folder), "--out", str(hashes), "--workers", "1"]) == 0
    pairs = tmp_path / "pairs.parquet"
    for _ in range(2):
        assert main(["dedup", "--train", str(hashes), "--eval", str(hashes), "--out", str(pairs)]) == 0
    assert main(["dedup", "--train", str(hashes), "--eval", str(hashes), "--out", str(mine)]) == 2
    capsys.readouterr()
    assert main(["dedup", "--train", str(hashes), "--eval", str(hashes), "--out", str(hashes)]) == 2
    assert "is also an input" in error_line(capsys)


def test_a_full_disk_is_one_clear_error_line(tmp_path):
    done = in_small_filesystem(tmp_path, "$MLBUILD build --out $FS/out --workers 2")
    assert done.returncode == 2, done.stderr
    assert "No space left on device" in done.stderr and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr


def test_a_read_only_folder_is_refused_before_any_work(tmp_path):
    done = in_small_filesystem(tmp_path, "mkdir $FS/out && mount -o remount,ro $FS && "
                                         "$MLBUILD build --out $FS/out --workers 2")
    assert done.returncode == 2, done.stderr
    assert "Read-only file system" in done.stderr and "Traceback" not in done.stderr
