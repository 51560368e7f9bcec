"""The Dask engine on a LocalCluster of 2 worker processes with 1 thread each: task order,
shared inputs, manifests byte-identical to the local engine, re-runs after a worker is
killed mid-build and after a task fails, no retry of bad input; the sharded image stages
(download + hash against a loopback server, near-duplicate join) on Dask."""
from __future__ import annotations

import gc
import os
import signal
import time
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from download_server import ImageServer, Page, jpeg_bytes
from engine_inputs import parquet_files, planted_hashes, write_build

from mlbuild._util.parquet import read_table
from mlbuild.errors import InputError
from mlbuild.images.download.config import DownloadConfig
from mlbuild.images.download.downloader import download
from mlbuild.images.neardup import dedup_pairs
from mlbuild.images.phash import phash_int
from mlbuild.images.sharded import download_shards, near_duplicates
from mlbuild.pipeline import build

pytest.importorskip("distributed", reason="the dask engine needs the extra: pip install 'mlbuild[dask]'")
from mlbuild.engines.distributed import DaskEngine  # noqa: E402  (after the skip)

N_IMAGES, PARTITION = 12_000, 400


@pytest.fixture(scope="module")
def engine() -> Iterator[DaskEngine]:
    with DaskEngine(workers=2) as dask_engine:
        yield dask_engine


@pytest.fixture(scope="module")
def config_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12,000 images in 30 partitions: enough parts to kill a worker in the middle."""
    return write_build(tmp_path_factory.mktemp("inputs"), n_fall11=8000, n_custom=3000, n_eval=1000,
                       partition_images=PARTITION)


@pytest.fixture(scope="module")
def local_build(config_path: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("local")
    build(config_path, out, resume=False)
    return parquet_files(out)


def scaled(task: int, factor: np.ndarray) -> tuple[int, int]:
    return task * int(factor[0]), os.getpid()


def test_map_keeps_task_order_and_ships_shared_inputs(engine: DaskEngine):
    results = list(engine.map(scaled, range(30), np.array([3])))
    assert [r for r, _ in results] == [3 * t for t in range(30)]
    assert len({pid for _, pid in results}) == 2  # both worker processes ran tasks
    assert os.getpid() not in {pid for _, pid in results}


def test_dask_build_is_byte_identical_to_local(engine: DaskEngine, config_path: Path,
                                               local_build: dict[str, bytes], tmp_path: Path):
    build(config_path, tmp_path, resume=False, engine=engine)
    assert parquet_files(tmp_path) == local_build


def released(engine: DaskEngine, wait: float = 30.0) -> bool:
    """True once the client holds no future (a dropped future is released asynchronously).

    Garbage is collected while waiting: a dropped future caught in a reference cycle (an
    exception's traceback after a worker death, say) is freed only by the cyclic collector,
    which an idle wait never triggers. Seen once in CI, not reproduced in 8 runs since:
    futures still held after 30 s; the likeliest cause is such a cycle, not a real leak.
    """
    deadline = time.monotonic() + wait
    while engine.client.futures and time.monotonic() < deadline:
        gc.collect()
        time.sleep(0.05)
    return not engine.client.futures


class DieOnce:
    """An engine wrapper whose task for partition `victim` SIGKILLs its own worker process
    once, after writing its part files and before returning: the worker dies mid-task."""

    shares_memory = False

    def __init__(self, engine: DaskEngine, marker: Path, victim: int) -> None:
        self.engine, self.marker, self.victim = engine, marker, victim

    def map(self, fn: Callable[[Any, Any], Any], tasks: Iterable[Any], shared: Any) -> Iterator[Any]:
        return self.engine.map(partial(run_then_die_once, fn, str(self.marker), self.victim), tasks, shared)

    def close(self) -> None:
        """The wrapped engine belongs to the fixture."""


def run_then_die_once(fn: Callable[[Any, Any], Any], marker: str, victim: int, task: Any, shared: Any) -> Any:
    result = fn(task, shared)
    if task.part == victim:
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return result  # the re-run
        done = len(list((task.stage / "counts").glob("part-*.parquet")))
        os.write(fd, str(done).encode())
        os.close(fd)
        os.kill(os.getpid(), signal.SIGKILL)
    return result


def test_worker_killed_mid_build_is_rerun_and_output_identical(
        engine: DaskEngine, config_path: Path, local_build: dict[str, bytes], tmp_path: Path,
        capfd: pytest.CaptureFixture):
    marker, victim, n_parts = tmp_path / "killed", 12, N_IMAGES // PARTITION
    before = len(engine.retried)
    build(config_path, tmp_path / "out", resume=False, engine=DieOnce(engine, marker, victim))
    done_at_kill = int(marker.read_text())
    assert 0 < done_at_kill < n_parts  # the worker really died in the middle of the build
    assert victim in [r.task for r in engine.retried[before:]]
    assert all("died" in r.reason for r in engine.retried[before:])
    assert "task re-run(s) (" in capfd.readouterr().err
    files = parquet_files(tmp_path / "out")
    assert files == local_build
    parts = sorted((tmp_path / "out" / "images").rglob("part-*.parquet"))
    ids = pa.concat_tables(read_table(p, ["image_id"]) for p in parts)["image_id"].to_pylist()
    assert len(ids) == N_IMAGES and len(set(ids)) == N_IMAGES  # nothing lost, nothing twice
    assert released(engine)  # no task, partition or shared input left in the cluster


def fail_once(task: int, marker: str) -> int:
    if task == 3 and not os.path.exists(marker):
        Path(marker).touch()
        raise ConnectionResetError("peer went away")
    return task + 100


def bad_input(task: int, shared: None) -> int:
    if task == 2:
        raise InputError("labels.csv", "not a WNID", line=7, field="labels")
    return task


def test_failed_task_is_resubmitted_and_reported(engine: DaskEngine, tmp_path: Path):
    before = len(engine.retried)
    results = list(engine.map(fail_once, range(8), str(tmp_path / "failed")))
    assert results == [t + 100 for t in range(8)]
    assert [(r.task, r.reason) for r in engine.retried[before:]] == [(3, "ConnectionResetError: peer went away")]
    assert released(engine)


def test_bad_input_is_not_retried(engine: DaskEngine):
    before = len(engine.retried)
    with pytest.raises(InputError, match=r"labels.csv:7: field 'labels': not a WNID"):
        list(engine.map(bad_input, range(6), None))
    assert engine.retried[before:] == []


def test_sharded_dedup_on_dask_matches_one_join(engine: DaskEngine):
    train, evals = planted_hashes(3000, 300)
    assert near_duplicates(engine, train, evals, 6, shard_rows=500).equals(dedup_pairs(train, evals, 6))


def test_download_and_hash_by_shard_on_dask_match_one_process(engine: DaskEngine, tmp_path: Path):
    server = ImageServer().start()
    try:
        urls = [server.add(f"d/{i}.jpg", Page(jpeg_bytes(i)) if i % 7 else Page(status=404)) for i in range(23)]
        names = ["image_id", "url", "md5", "size"]
        batch = pa.RecordBatch.from_arrays([pa.array([f"d:{i:02d}" for i in range(23)]), pa.array(urls),
                                            pa.nulls(23, pa.string()), pa.nulls(23, pa.int64())], names)
        config = DownloadConfig(concurrency=8, per_host=8, connect_timeout=2.0, processes=1)
        one = download([batch], config, tmp_path / "one", hasher=phash_int)
        sharded = download_shards(engine, [batch], config, tmp_path / "sharded", shard_rows=5, hasher=phash_int)
    finally:
        server.stop()
    assert sorted(p.name for p in (tmp_path / "sharded" / "journal").iterdir()) == \
        [f"shard-{i:05d}.jsonl" for i in range(5)]
    assert sharded.equals(read_table(one.results))
    assert sharded.filter(pc.equal(sharded["status"], "ok"))["phash"].null_count == 0
    assert pc.count_distinct(sharded["status"]).as_py() == 2  # ok and http_4xx
