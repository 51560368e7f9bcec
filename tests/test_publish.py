"""Crash-safe publishing: a build killed after each step of moving its manifests into place, at
every step in turn, is completed by the rerun byte for byte; build.json only beside a complete set."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from mlbuild.config import load_config
from mlbuild.manifests.publish import KILL_AFTER_STEP, KILLED_EXIT
from mlbuild.pipeline import build
from mlbuild.sample import SAMPLE_DIR


def digests(out: Path) -> dict[str, str]:
    """sha256 of every published Parquet file (the stage excluded)."""
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*.parquet")) if ".partial" not in p.relative_to(out).parts}


def sample(partition: int):
    config = load_config(SAMPLE_DIR / "build.toml")
    config.partition_images, config.workers = partition, 1  # in-process: the forked child is the build
    return config


def build_killed_after(step: int, config, out: Path) -> int:
    """Run the build in a forked child that exits after publish step `step`; its exit status."""
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            os.environ[KILL_AFTER_STEP] = str(step)
            build(config, out)
            status = 0
        finally:
            os._exit(status)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def assert_complete_if_recorded(out: Path, allowed: list[dict[str, str]]) -> None:
    """build.json exists only beside exactly the files it lists, each as one complete build wrote it."""
    if not (out / "build.json").exists():
        return
    record = json.loads((out / "build.json").read_text())
    found = digests(out)
    assert sorted(found) == record["files"]
    assert found in allowed


@pytest.mark.parametrize("previous", [None, 3], ids=["fresh-folder", "over-a-build-with-more-parts"])
def test_kill_after_every_publish_step_then_rerun_is_byte_identical(tmp_path, previous):
    config = sample(partition=8)
    clean = digests(build(config, tmp_path / "clean").out_dir)
    base = tmp_path / "base"
    before = digests(build(sample(previous), base).out_dir) if previous else None
    allowed = [clean] + ([before] if before else [])
    step = 0
    while True:
        step += 1
        out = tmp_path / f"killed-{step}"
        if previous:
            shutil.copytree(base, out)
        status = build_killed_after(step, config, out)
        if status == 0:
            break  # past the last step: every step has been a kill point
        assert status == KILLED_EXIT, status
        assert_complete_if_recorded(out, allowed)
        build(config, out)
        assert digests(out) == clean, f"killed after step {step}"
        assert json.loads((out / "build.json").read_text())["files"] == sorted(clean)
        assert not (out / ".partial").exists()
        shutil.rmtree(out)
    assert step > len(clean) + 3  # every file move, build.json and the stage removal were kill points
    if previous:
        assert len(before) > len(clean)  # the old build's extra parts were removed, one step each


def test_rerun_with_changed_inputs_after_a_kill_in_publish_builds_afresh(tmp_path):
    """The interrupted publish is completed, then the changed build replaces it."""
    src = tmp_path / "sample"
    shutil.copytree(SAMPLE_DIR, src, ignore=shutil.ignore_patterns("__pycache__", "*.py", ".test-*"))
    config = load_config(src / "build.toml")
    config.workers = 1
    out = tmp_path / "out"
    before = pq.read_table(build(config, tmp_path / "before").out_dir / "images").column("image_id").to_pylist()
    assert build_killed_after(4, config, out) == KILLED_EXIT
    first = src / "imagenet_tree" / "n04099429" / "n04099429_1.JPEG"
    shutil.copy(first, first.with_name("n04099429_9.JPEG"))  # an image added to a folder input
    rerun = build(load_config(src / "build.toml"), out)
    clean = build(load_config(src / "build.toml"), tmp_path / "clean")
    assert digests(rerun.out_dir) == digests(clean.out_dir)
    rows = pq.read_table(out / "images").column("image_id").to_pylist()
    assert sorted(rows) == sorted(before + ["imagenet_local:n04099429_9"])  # added once, nothing lost
