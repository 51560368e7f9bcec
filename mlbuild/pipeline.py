"""The build: read sources, normalize classes, propagate labels, write manifests.

`build(config, out_dir)` is the Python twin of `mlbuild build`. Stages:
1. ingest every source (columnar, `mlbuild.labels.ingest`);
2. normalize: map source classes to WNIDs, merge into one taxonomy, apply custom
   operations and class selection (`mlbuild.classes.normalize`);
3. point every label row at its classes and order rows by image;
4. propagate per partition of images (`mlbuild.labels.propagate`), each label set apart; with
   `min_images`, a first pass counts positives, under-populated classes are dropped and their
   labels move (positives up, negatives down);
5. write manifests (`mlbuild.manifests.writer`): parts first, build.json last.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlbuild import schemas
from mlbuild._util.memory import trim, use_lean_arrow_pool
from mlbuild._util.progress import Progress
from mlbuild.classes.closure import Closure
from mlbuild.classes.normalize import (
    build_taxonomy,
    label_targets,
    map_source_classes,
    select_classes,
    with_image_context,
)
from mlbuild.classes.taxonomy import Taxonomy
from mlbuild.config import BuildConfig, DedupConfig, load_config
from mlbuild.engines.local import Engine, make_engine
from mlbuild.images.decontaminate import EvalHashes, duplicate_ids, hash_eval_sets, mark
from mlbuild.images.download.config import DownloadConfig
from mlbuild.images.download_stage import download_images
from mlbuild.images.duplicate_keys import first_of_duplicates
from mlbuild.images.neardup import Limits
from mlbuild.images.train_groups import train_near_groups
from mlbuild.labels.ingest import SourceData, read_source
from mlbuild.labels.label_rows import LabelRows, Moved, count_without_class, label_rows
from mlbuild.labels.propagate import propagate
from mlbuild.manifests.webdataset_export import export_webdataset
from mlbuild.manifests.writer import ManifestWriter, with_labels, write_part
from mlbuild.sources.registry import make_adapter


@dataclass
class BuildResult:
    """What a build produced: where, how many, how long."""

    out_dir: Path
    counts: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


def build(config: BuildConfig | str | Path, out_dir: str | Path, resume: bool = True,
          engine: Engine | None = None) -> BuildResult:
    """Build the manifests described by config into out_dir.

    `engine` runs the partitions (default: the config's engine, closed afterwards).
    """
    config = config if isinstance(config, BuildConfig) else load_config(Path(config))
    use_lean_arrow_pool()
    writer = ManifestWriter(Path(out_dir), config, resume=resume)
    if writer.completed is not None:  # a kill had interrupted this very build's publish, now finished
        return BuildResult(Path(out_dir), writer.completed["counts"], writer.completed["timings"])
    timer = _Timer()
    with timer("ingest"):
        sources = [read_source(spec, make_adapter(spec), config.labels) for spec in config.sources]
    writer.hash_inputs()
    with timer("normalize"):
        mapped = [map_source_classes(s.name, s.label_kind, s.class_ids, s.spec.class_map, s.spec.class_descriptions,
                                     s.class_names, s.edges)
                  for s in sources]
        for s, m in zip(sources, mapped):
            if s.label_kind in ("name", "tag"):
                code = with_image_context(m, s.image_row, s.class_code)
                if s.label_kind == "tag":
                    s.counts["labels_by_image_context"] = int((code != s.class_code).sum())
                s.class_code, s.class_ids = code, list(m.ids)
        tax = build_taxonomy(mapped, config.taxonomy, config.classes.vocabulary)
        eval_wnids = {w for s, m in zip(sources, mapped) if s.spec.evaluation for w in m.wnids if w}
        protected = eval_wnids if config.classes.keep_eval_classes else set()
        select_classes(tax, config.classes, protected=protected)
        sets = list(dict.fromkeys(name for s in sources for name in s.label_sets))
        targets = [label_targets(tax, m.all_targets()) for m in mapped]
        rows = label_rows(sources, targets, sets)
        annotated = {name: np.concatenate([s.annotated.get(name, np.zeros(s.images.num_rows, bool))
                                           for s in sources]) for name in sets}
    statuses = [pa.nulls(s.images.num_rows, pa.string()) for s in sources]
    if config.download.enabled:
        with timer("download"):
            for i, src in enumerate(sources):
                src.images, statuses[i] = download_images(src.images, src.name, config.download, Path(out_dir))
    images = [s.images for s in sources]
    offsets = np.cumsum([0] + [t.num_rows for t in images])
    runner = engine or make_engine(config.engine, config.workers, config.scheduler)
    try:
        with timer("duplicates"):
            first, near = _duplicates(runner, sources, images, offsets, config)
            evals = _eval_hashes(runner, sources, config.dedup)
        if config.classes.min_images > 0:
            with timer("count"):
                counts = _train_counts(rows, _moved(rows, first), sources, offsets, tax, config.partition_images,
                                       config.labels.conflicts)
                before = tax.wnids()
                rows = _drop_rare(tax, counts, config.classes.min_images, protected, rows, sources)
                writer.notes["min_images"] = _dropped(tax, before, counts, config.classes.min_images)
        with timer("propagate+write"):
            writer.begin(tax)
            up = Closure.ancestors(tax)
            inputs = PartInputs(rows, _moved(rows, first), images, offsets, statuses, writer.stage, near, annotated)
            del rows, first
            ranges = inputs.ranges(config.partition_images, writer.has_part)
            tasks: Iterable[PartTask | PartRange] = ranges if runner.shares_memory else map(inputs.task, ranges)
            shared = PartShared(up, up.inverse(), evals, config.labels.conflicts, config.download.enabled,
                                inputs if runner.shares_memory else None)
            with Progress("propagate+write", total=int(offsets[-1]), unit="images") as progress:
                for done in runner.map(run_part, tasks, shared):
                    progress.update(done)
    finally:
        if engine is None:
            runner.close()
    with timer("finish"):
        counts = writer.finish(tax, sources, mapped, timer.timings)
    shards = DownloadConfig(**config.download.options) if config.download.enabled else None
    if shards is not None and shards.output_format != "files":
        export_webdataset(Path(out_dir), Path(out_dir) / "shards", shard_size=shards.shard_size,
                          fmt=shards.output_format, threads=shards.workers)
    return BuildResult(Path(out_dir), counts, timer.timings)


def _duplicates(runner: Engine, sources: list[SourceData], images: list[pa.Table], offsets: np.ndarray,
                config: BuildConfig) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Per image, the row of the image it duplicates (None: no collapsing), and which images are
    in a near-duplicate group of training hashes (None unless `[dedup] within_train`)."""
    training = [not s.spec.evaluation for s in sources]
    if not config.dedup.within_train:
        return (first_of_duplicates(images, training) if config.labels.collapse_duplicates else None), None
    group = train_near_groups(runner, images, offsets, config.dedup.hash, config.dedup.within_train_distance,
                              config.dedup.check_distance if config.dedup.hash == "phash" else 64, training)
    urls = training if config.labels.collapse_duplicates else [False] * len(sources)
    return first_of_duplicates(images, urls, keys=[group]), pc.is_valid(group).to_numpy(zero_copy_only=False)


@dataclass
class PartTask:
    """One partition: its images, its label rows, where to write (the closures are shared)."""

    part: int
    first_image: int
    images: pa.Table
    rows: LabelRows
    duplicates: pa.Array      # per image: the image id it duplicates, or null
    status: pa.Array          # per image: the downloader's status, or null
    stage: Path
    annotated: dict[str, np.ndarray] = field(default_factory=dict)  # extra label set -> images it annotates


@dataclass(frozen=True)
class PartRange:
    """One partition by position only: images lo..hi and label rows a..b of `PartInputs`."""

    part: int
    lo: int
    hi: int
    a: int
    b: int


@dataclass
class PartInputs:
    """Everything partitions are cut from. Engines whose workers share the driver's memory
    (forked or in-process) receive it once and get `PartRange` tasks: no table is copied or
    pickled per partition. Other engines get each partition cut out as a `PartTask`."""

    rows: LabelRows
    moved: Moved | None       # duplicates' rows, when duplicates are collapsed
    images: list[pa.Table]
    offsets: np.ndarray
    statuses: list[pa.Array]
    stage: Path
    near: np.ndarray | None = None  # per image: in a near-duplicate group of training hashes
    annotated: dict[str, np.ndarray] = field(default_factory=dict)  # extra label set -> images it annotates

    def ranges(self, size: int, done: Callable[[int], bool]) -> Iterator[PartRange]:
        """Every unfinished partition of `size` images (fixed boundaries: any worker count)."""
        n_images = int(self.offsets[-1])
        for part, (lo, (a, b)) in enumerate(zip(range(0, n_images, size), self.rows.bounds(n_images, size))):
            if not done(part):
                yield PartRange(part, lo, min(lo + size, n_images), a, b)

    def task(self, r: PartRange, copy: bool = True) -> PartTask:
        """The partition's data; a compact copy to send to another process (`copy`), else views."""
        table = _image_slice(self.images, self.offsets, r.lo, r.hi, copy)
        rows = self.rows.slice(r.a, r.b)
        if self.moved is None:
            duplicates = pa.nulls(r.hi - r.lo, pa.string())
        else:
            rows = self.moved.part(rows, r.lo, r.hi)
            duplicates = duplicate_ids(self.moved.first, self.images, self.offsets, r.lo, r.hi, self.near)
        status = pa.chunked_array(self.statuses, pa.string()).slice(r.lo, r.hi - r.lo).combine_chunks()
        annotated = {name: flags[r.lo:r.hi].copy() for name, flags in self.annotated.items()}
        return PartTask(r.part, r.lo, table, rows, duplicates, status, self.stage, annotated)


@dataclass(frozen=True)
class PartShared:
    """What every partition shares (the engine ships it to each worker once): the closures, the
    evaluation hashes, the conflict policy, whether images were downloaded, and the `PartInputs`
    that `PartRange` tasks are cut from (None when tasks are whole `PartTask`s)."""

    up: Closure
    down: Closure
    evals: EvalHashes | None
    policy: str
    downloads: bool
    inputs: PartInputs | None


def _moved(rows: LabelRows, first: np.ndarray | None) -> Moved | None:
    return None if first is None else Moved.of(rows, first)


def run_part(task: PartTask | PartRange, shared: PartShared) -> int:
    """Propagate one partition's labels (each label set apart), mark duplicates, write its part files;
    returns its image count."""
    up, down, evals, policy = shared.up, shared.down, shared.evals, shared.policy
    if isinstance(task, PartRange):
        assert shared.inputs is not None, "PartRange tasks need the shared PartInputs"
        task = shared.inputs.task(task, copy=False)
    rows, n = task.rows, task.images.num_rows
    rows = rows.with_image(rows.image - task.first_image)
    main = rows.select(rows.label_set == 0) if task.annotated else rows
    labels = propagate(n, main, up, down, policy)
    sets = {name: (propagate(n, rows.select(rows.label_set == i + 1), up, down, policy), flags)
            for i, (name, flags) in enumerate(task.annotated.items())}
    table, pairs, hashed = mark(with_labels(task.images, labels, task.status, sets), task.duplicates, evals)
    write_part(task.stage, up.n_classes, task.part, table, pairs, labels.counts, hashed, shared.downloads)
    return n


def _eval_hashes(runner: Engine, sources: list[SourceData], config: DedupConfig) -> EvalHashes | None:
    """Hashes of the evaluation sets' local images, when dedup is on and there are any."""
    tables = {s.name: s.images.filter(pc.is_valid(s.images.column("path")))
              for s in sources if s.spec.evaluation}
    tables = {name: t for name, t in tables.items() if t.num_rows}
    if not config.enabled or not tables:
        return None
    limits = Limits(config.max_distance, config.extra_distance, config.check_distance)
    return hash_eval_sets(tables, config.hash, limits, runner)


def _image_slice(images: list[pa.Table], offsets: np.ndarray, lo: int, hi: int, copy: bool = True) -> pa.Table:
    """Rows lo..hi of the concatenation of the sources' image tables, one chunk per column.

    `copy`: a compact copy. A sliced table pickles its parents' whole buffers (pyarrow 26), so
    a view would ship every source's full image table with each task sent to another process;
    a worker that shares the driver's memory reads views (copying ~50 MB per part costs more
    than it saves).
    """
    pieces = []
    for table, start in zip(images, offsets[:-1]):
        a, b = max(lo - start, 0), min(hi - start, table.num_rows)
        if a < b:
            pieces.append(table.slice(a, b - a).cast(schemas.IMAGES))  # decodes the compacted columns
    table = pa.concat_tables(pieces)
    return table.take(pa.array(np.arange(hi - lo))) if copy else table.combine_chunks()


def _train_counts(rows: LabelRows, moved: Moved | None, sources: list[SourceData], offsets: np.ndarray,
                  tax: Taxonomy, size: int, policy: str) -> np.ndarray:
    """Positives per class after propagation (and the trust order), over training images only."""
    up = Closure.ancestors(tax)
    down = up.inverse()
    train = np.concatenate([np.full(s.images.num_rows, not s.spec.evaluation) for s in sources])
    counts = np.zeros(up.n_classes, np.int64)
    n_images = int(offsets[-1])
    for lo, (a, b) in zip(range(0, n_images, size), rows.bounds(n_images, size)):
        part = rows.slice(a, b) if moved is None else moved.part(rows.slice(a, b), lo, lo + size)
        part = part.select(train[part.image] & (part.label_set == 0))
        if len(part.image):
            labels = propagate(min(size, n_images - lo), part.with_image(part.image - lo), up, down, policy).labels
            counts += np.bincount(labels.values.to_numpy(), minlength=up.n_classes)
    return counts


def _drop_rare(tax: Taxonomy, counts: np.ndarray, min_images: int, protected: set[str],
               rows: LabelRows, sources: list[SourceData]) -> LabelRows:
    """Drop classes with fewer training positives than min_images; their labels move as for any dropped
    class (`label_targets`: positives up, negatives down)."""
    before = tax.wnids()
    rare = [w for w, n in zip(before, counts) if n < min_images and w not in protected]
    if not rare:
        return rows
    tax.drop(*rare)
    moved, lost = rows.remapped(label_targets(tax, [[w] for w in before]))
    lost_src, lost_negative = rows.src[lost], rows.negative[lost]
    for number, src in enumerate(sources):
        count_without_class(src.counts, lost_src == number, lost_negative)
    return moved


def _dropped(tax: Taxonomy, before: list[str], counts: np.ndarray, min_images: int) -> dict:
    """What min_images did, for build.json: every class dropped, its positives, where its labels went."""
    dropped = [[w, int(n), sorted(tax.nearest(w))] for w, n in zip(before, counts) if w not in tax.classes]
    return {"threshold": min_images, "classes_before": len(before), "classes_after": len(tax.wnids()),
            "dropped": dropped}


class _Timer:
    """Named wall-clock timings of the build's stages; a stage's freed heap memory is returned as it ends."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    def __call__(self, name: str) -> _Timer:
        self.name = name
        return self

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        trim()
        self.timings[self.name] = round(time.perf_counter() - self.start, 3)
