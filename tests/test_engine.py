"""The local engine: task order, shared inputs, identical manifests for any worker count,
compact task payloads, a base install that never imports dask, and the sharded image
stages (hash, near-duplicate join) giving what one pass gives."""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from engine_inputs import parquet_files, planted_hashes, write_build

from mlbuild._util.parquet import read_table
from mlbuild.config import load_config
from mlbuild.engines.local import LocalEngine, make_engine
from mlbuild.images.hash_keys import key_table
from mlbuild.images.neardup import dedup_pairs
from mlbuild.images.sharded import hash_files, near_duplicates
from mlbuild.labels.ingest import compact
from mlbuild.pipeline import _image_slice, build
from mlbuild.schemas import IMAGES
from mlbuild.sources.base import images_batch

REPO = Path(__file__).resolve().parent.parent


def build_with(config_path: Path, out: Path, workers: int) -> dict[str, bytes]:
    config = load_config(config_path)
    config.workers = workers
    build(config, out, resume=False)
    return parquet_files(out)


@pytest.fixture(scope="module")
def config_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A build of 12,000 images in 24 partitions (fall11 list, multi-label CSV, eval CSV)."""
    return write_build(tmp_path_factory.mktemp("inputs"), n_fall11=8000, n_custom=3000, n_eval=1000,
                       partition_images=500)


def shifted(task: int, offset: np.ndarray) -> tuple[int, int]:
    """A task that uses a shared array and reports which process ran it."""
    return task + int(offset[task % len(offset)]), os.getpid()


def test_local_map_keeps_task_order_and_passes_shared():
    offset = np.arange(0, 1000, 10)
    expected = [t + int(offset[t % 100]) for t in range(40)]
    serial = [r for r, _ in LocalEngine(1).map(shifted, range(40), offset)]
    results = list(LocalEngine(2).map(shifted, range(40), offset))
    assert serial == expected
    assert [r for r, _ in results] == expected
    assert os.getpid() not in {pid for _, pid in results}  # the pool really ran them


def locked(task: int, lock: threading.Lock) -> int:
    with lock:
        return task * 2


def test_local_pool_inherits_shared_inputs_instead_of_pickling_them():
    # A lock cannot be pickled: the map works only if shared inputs are never sent per task.
    assert list(LocalEngine(2).map(locked, range(10), threading.Lock())) == \
        [t * 2 for t in range(10)]


def test_make_engine_rejects_unknown_names():
    with pytest.raises(ValueError, match="unknown engine 'spark'"):
        make_engine("spark")


def test_local_one_and_two_workers_write_identical_manifests(config_path: Path, tmp_path: Path):
    one = build_with(config_path, tmp_path / "one", workers=1)
    two = build_with(config_path, tmp_path / "two", workers=2)
    parts = [name for name in one if name.startswith("images/")]
    assert len(parts) == 24  # 11,000 training images in parts 0-21, 1,000 eval images in 22-23
    assert one.keys() == two.keys()
    assert all(one[name] == two[name] for name in one)
    ids = pa.concat_tables(read_table(tmp_path / "two" / name, ["image_id"]) for name in parts)["image_id"]
    assert len(ids) == 12_000 and len(set(ids.to_pylist())) == 12_000


def test_image_slice_pickles_only_its_rows():
    def images(ids: list[str]) -> pa.Table:
        batch = images_batch("src", pa.array(ids), "train", url=pa.array([f"http://example.org/{i}.jpg" for i in ids]))
        return compact(pa.Table.from_batches([batch]))

    big, small = images([f"img_{i:07d}" for i in range(200_000)]), images(["a", "b"])
    offsets = np.cumsum([0, big.num_rows, small.num_rows])
    part = _image_slice([big, small], offsets, 199_990, 200_002)
    assert part["source_image_id"].to_pylist() == [f"img_{i:07d}" for i in range(199_990, 200_000)] + ["a", "b"]
    assert part.schema == IMAGES
    assert len(pickle.dumps(part)) < 4_000  # the whole source would be ~7 MB


def test_base_install_never_imports_dask(config_path: Path, tmp_path: Path):
    script = ("import sys\nfrom mlbuild.cli import main\n"
              f"status = main(['build', {str(config_path)!r}, '--out', {str(tmp_path / 'out')!r}, "
              "'--workers', '2'])\n"
              "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed'))\n"
              "print(status, loaded)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "0 []"
    assert (tmp_path / "out" / "build.json").is_file()


def test_sharded_dedup_finds_the_same_pairs_as_one_join():
    train, evals = planted_hashes(5000, 400)
    whole = dedup_pairs(train, evals, 6)
    sharded = near_duplicates(LocalEngine(2), train, evals, 6, shard_rows=700)
    assert whole.num_rows >= 100  # the planted pairs, at least
    assert sharded.equals(whole)


def test_sharded_hashing_matches_one_pass_and_numbers_skips_globally(fixtures: Path, tmp_path: Path):
    files = sorted((fixtures / "images").glob("*.[jp][pn]g"))
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not a jpeg")
    paths = [str(p) for p in files] + [str(broken)] + [str(p) for p in files]
    listing = pa.table({"image_id": [f"i{k}" for k in range(len(paths))], "path": paths})
    whole, whole_keys, whole_skips = key_table(listing, "phash", role="eval")
    sharded, keys, skips = hash_files(LocalEngine(2), listing, "phash", role="eval", shard_rows=4)
    assert sharded.equals(whole.drop_columns(["hash_failure"]))
    assert keys.equals(whole_keys)
    assert skips.count == whole_skips.count == 1
    assert [line for line, _ in skips.examples] == [len(files) + 1]
