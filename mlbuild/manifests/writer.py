"""The build's manifests: staged under `<out>/.partial`, moved into place, `build.json` last.

The output folder must be one mlbuild owns (`mlbuild._util.ownership`). A killed build
leaves its finished parts in `.partial/`; a build killed while publishing is completed by
the next run (`mlbuild.manifests.publish`), so nothing partial looks complete. Parts are
written atomically and are the unit of resume: a rerun with the same config and inputs keeps
finished parts. Parquet outputs are byte-identical for the same inputs and config;
`build.json` differs only in its `timings`.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import platform
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mlbuild import __version__
from mlbuild._util.ownership import MARKER, claim_output_dir
from mlbuild._util.parquet import read_table, write_table
from mlbuild.classes.closure import Closure
from mlbuild.classes.normalize import label_targets
from mlbuild.classes.taxonomy import Taxonomy
from mlbuild.config import BuildConfig
from mlbuild.errors import OutputError
from mlbuild.images.decontaminate import merge_counts
from mlbuild.images.neardup import PAIRS
from mlbuild.labels.propagate import CONFLICT_KINDS, PROVENANCE, Propagated
from mlbuild.manifests import statistics
from mlbuild.manifests.publish import STAGE, Stage, fingerprint
from mlbuild.sources.registry import input_paths

IMAGE_EXTRA = pa.schema([
    pa.field("labels", pa.list_(pa.int32())), pa.field("confidences", pa.list_(pa.float32())),
    pa.field("label_provenance", pa.list_(pa.uint8())), pa.field("label_sources", pa.list_(pa.uint64())),
    pa.field("direct_labels", pa.list_(pa.int32())), pa.field("negatives", pa.list_(pa.int32())),
    pa.field("conflicts", pa.list_(pa.int32())),
    pa.field("phash", pa.uint64()), pa.field("status", pa.string()), pa.field("dedup", pa.string()),
])
ENGINE_KEYS = ("engine", "workers", "scheduler")  # how a build runs, not what it builds
TOP_LEVEL = ("classes", "hierarchy", "source_classes", "dedup_pairs", "cooccurrence")  # the manifests beside images/
COUNTS = pa.schema([pa.field("split", pa.string()), pa.field("class_index", pa.int32()),
                    pa.field("positives", pa.int64()), pa.field("verified_negatives", pa.int64()),
                    pa.field("usable", pa.int64())])
COUNTED = ("positives", "verified_negatives")


class ManifestWriter:
    """Writes one build's manifests into out_dir, resumably and atomically.

    Claims the folder and checks the inputs before any work. `completed` is the record of
    this same build when a kill had interrupted its publish (now finished): nothing to redo.
    """

    def __init__(self, out_dir: Path, config: BuildConfig, resume: bool = True) -> None:
        self.out, self.config = Path(out_dir), config
        paths = [p for spec in config.sources for p in input_paths(spec)] + [
            Path(p) for p in (config.classes.vocabulary, config.taxonomy.hierarchy) if p is not None]
        claim_output_dir(self.out, "build", inputs=paths)
        download_folder(self.out, config.download.folder)
        self.inputs = [p for p in paths if p.is_file()]
        self._digests: Future[dict[str, dict]] | None = None
        settings = {k: v for k, v in _plain(config).items() if k not in ENGINE_KEYS}
        self._stage = Stage(self.out, fingerprint(settings, paths))
        self.stage = self._stage.path
        self.completed = self._stage.open(resume)
        self.n_classes = 0
        self.notes: dict = {}   # extra build.json entries from the build's stages (e.g. "min_images")

    def hash_inputs(self) -> None:
        """Start the inputs' sha256 digests for build.json in the background (after ingest: the
        single-threaded stages that follow leave a core free, and hashlib releases the GIL)."""
        if self._digests is None:
            pool = ThreadPoolExecutor(1, thread_name_prefix="mlbuild-sha256")
            self._digests = pool.submit(_checksums, self.inputs)
            pool.shutdown(wait=False)  # the thread ends with its one task

    def begin(self, tax: Taxonomy) -> None:
        """Fix the vocabulary the parts are written against."""
        self.n_classes = len(tax.wnids())

    def _input_digests(self) -> dict[str, dict]:
        self.hash_inputs()
        assert self._digests is not None
        return self._digests.result()

    def has_part(self, part: int) -> bool:
        """True if partition `part` was finished by this or an interrupted earlier run."""
        return part_done(self.stage, part)

    def finish(self, tax: Taxonomy, sources: list, mapped: list, timings: dict[str, float]) -> dict:
        """Write classes, hierarchy, source classes and build.json; move everything into place
        (the folder's last build's files that this one does not have are removed)."""
        _require_side_parts(self.stage)
        counts = _split_counts(self.stage / "counts", self.n_classes)
        classes, hierarchy = tax.to_tables()
        classes = statistics.with_keep_rate(_with_counts(classes, counts, self.config.stats.negatives),
                                            self.config.stats)
        write_table(classes, self.stage / "classes.parquet")
        start = time.perf_counter()
        statistics.write_products(self.stage, classes, counts.get("train", {"usable": 0})["usable"],
                                  Closure.ancestors(tax), self.config.stats)
        timings = {**timings, "statistics": round(time.perf_counter() - start, 3)}
        write_table(hierarchy, self.stage / "hierarchy.parquet")
        write_table(_source_classes(tax, mapped), self.stage / "source_classes.parquet")
        pairs = [read_table(p) for p in sorted((self.stage / "pairs").glob("part-*.parquet"))]
        write_table(pa.concat_tables(pairs).sort_by([(n, "ascending") for n in PAIRS.names]) if pairs
                    else PAIRS.empty_table(), self.stage / "dedup_pairs.parquet")
        summary = _summary(sources, mapped, counts, classes, hierarchy)
        summary["counts"]["conflicts"] = _conflicts(self.stage / "counts")
        summary["counts"]["hashing"] = hashed = _hashed(self.stage / "counts")
        summary["warnings"] += hashing_warnings(hashed, sources, self.config.dedup.enabled)
        record = {"mlbuild": __version__, "config": _plain(self.config), "versions": _versions(),
                  "sources": [s.name for s in sources], "label_provenance": list(PROVENANCE),
                  "inputs": self._input_digests(), "counts": summary["counts"],
                  "warnings": summary["warnings"], "timings": timings, **self.notes}
        self._stage.publish(record)
        return summary["counts"]


def _require_side_parts(stage: Path) -> None:
    """Every finished part has its dedup pairs and co-occurrence counts (a stage left by an older
    mlbuild may lack them: refuse rather than publish statistics that miss its parts)."""
    done = {p.name for p in (stage / "counts").glob("part-*.parquet")}
    for side in ("pairs", "cooc"):
        missing = sorted(done - {p.name for p in (stage / side).glob("part-*.parquet")})
        if missing:
            raise OutputError(stage / side, f"{len(missing)} finished parts lack their {side} file (e.g. "
                                            f"{missing[0]}; left by another mlbuild version?): rebuild with "
                                            "--no-resume")


def download_folder(out: Path, name: str) -> Path:
    """`<out>/<name>`, where a build downloads images: a plain folder name beside the manifests."""
    reserved = {"images", "shards", STAGE, MARKER, "build.json", *(f"{n}.parquet" for n in TOP_LEVEL)}
    if not name or name in reserved or name != Path(name).name or name in (".", ".."):
        raise OutputError(out / name, f"[download] folder = {name!r} must be a plain folder name other "
                                      f"than {sorted(reserved)}")
    return out / name


def part_done(stage: Path, part: int) -> bool:
    """A part is finished when its counts file (written last) exists."""
    return (stage / "counts" / f"part-{part:05d}.parquet").is_file()


def with_labels(images: pa.Table, labels: Propagated, status: pa.Array | None = None,
                sets: dict[str, tuple[Propagated, np.ndarray]] | None = None) -> pa.Table:
    """The image rows with the label columns, the download status, and empty phash / dedup.

    `sets`: extra label sets (name -> their labels, which images they annotate), written as
    `<name>_labels` and `<name>_direct_labels`, null on images the set does not annotate.
    """
    n = images.num_rows
    extra = [labels.labels, labels.confidences, labels.provenance, labels.sources, labels.direct,
             labels.negatives, labels.conflicts, pa.nulls(n, pa.uint64()),
             pa.nulls(n, pa.string()) if status is None else status, pa.nulls(n, pa.string())]
    for f, column in zip(IMAGE_EXTRA, extra):
        images = images.append_column(f, column)
    for name, (own, annotated) in (sets or {}).items():
        for column, values in ((f"{name}_labels", own.labels), (f"{name}_direct_labels", own.direct)):
            images = images.append_column(column, _masked(values, ~annotated))
    return images


def _masked(lists: pa.ListArray, null: np.ndarray) -> pa.ListArray:
    return pa.ListArray.from_arrays(lists.offsets, lists.values, mask=pa.array(null))


def write_part(stage: Path, n_classes: int, part: int, table: pa.Table, pairs: pa.Table,
               conflicts: dict[str, int] | None = None, hashed: dict | None = None, downloads: bool = False) -> None:
    """Write one partition's image rows (split by split) and dedup pairs, then its counts.

    Counts cover usable rows, those a model trains on: not removed as duplicates and, when the
    build downloads, downloaded (with a `path`). Conflicts by kind, and the images hashed and not
    hashed per source, split and reason (`unhashed_counts`), ride in the metadata.
    """
    counts = []
    splits = sorted(pc.unique(table.column("split")).to_pylist())
    for split in splits:
        rows = table if len(splits) == 1 else table.filter(pc.equal(table.column("split"), split))
        write_table(rows, stage / "images" / split / f"part-{part:05d}.parquet")
        usable = rows.select(["labels", "negatives"]).filter(_usable(rows, downloads))
        per_class = {c: np.bincount(pc.list_flatten(usable.column(c)).to_numpy(), minlength=n_classes)
                     for c in ("labels", "negatives")}
        counts.append(pa.table({"split": pa.array([split] * n_classes),
                                "class_index": pa.array(np.arange(n_classes, dtype=np.int32)),
                                "positives": pa.array(per_class["labels"]),
                                "verified_negatives": pa.array(per_class["negatives"]),
                                "usable": pa.array(np.full(n_classes, usable.num_rows))}, COUNTS))
    write_table(pairs, stage / "pairs" / f"part-{part:05d}.parquet")
    write_table(statistics.cooccurrence_part(table, n_classes), stage / "cooc" / f"part-{part:05d}.parquet")
    counts = pa.concat_tables(counts) if counts else COUNTS.empty_table()
    metadata = {b"conflicts": json.dumps(conflicts or {}, sort_keys=True).encode(),
                b"hashed": json.dumps(hashed or {}, sort_keys=True).encode()}
    write_table(counts.replace_schema_metadata(metadata), stage / "counts" / f"part-{part:05d}.parquet")


def _hashed(folder: Path) -> dict:
    """Images hashed and not hashed, {source: {split: {reason: count}}}, summed over the parts."""
    total: dict = {}
    for p in sorted(folder.glob("part-*.parquet")):
        merge_counts(total, json.loads(pq.ParquetFile(p).schema_arrow.metadata.get(b"hashed", b"{}")))
    return total


def hashing_warnings(hashed: dict, sources: list, dedup_enabled: bool) -> list[str]:
    """Say which images were not checked for near duplicates, and loudly when nothing was."""
    warnings = []
    for source, splits in sorted(hashed.items()):
        for split, reasons in sorted(splits.items()):
            missing = {r: n for r, n in sorted(reasons.items()) if r != "hashed" and n}
            if missing:
                total = sum(reasons.values())
                warnings.append(f"{source}/{split}: {sum(missing.values()):,} of {total:,} images not hashed ("
                                + ", ".join(f"{r} {n:,}" for r, n in missing.items())
                                + "), so not checked for near duplicates")
    evals = [s.name for s in sources if s.spec.evaluation]
    if dedup_enabled and evals:
        train = sum(r.get("hashed", 0) for splits in hashed.values() for split, r in splits.items() if split == "train")
        if not hashed:
            warnings.append(f"NOTHING WAS DECONTAMINATED: no image of the evaluation sets ({', '.join(evals)}) "
                            "has a local file to hash")
        elif not train:
            warnings.append(f"NOTHING WAS DECONTAMINATED: evaluation sets ({', '.join(evals)}) were hashed but no "
                            "training image has a local file to hash (download them or give paths)")
    return warnings


def _usable(rows: pa.Table, downloads: bool) -> pa.Array:
    """Rows not removed by dedup and, when the build downloads, with a file."""
    keep = pc.is_null(rows.column("dedup"))
    return pc.and_(keep, pc.is_valid(rows.column("path"))) if downloads else keep


def _conflicts(folder: Path) -> dict[str, int]:
    """Conflicts by kind summed over the parts."""
    total = dict.fromkeys(CONFLICT_KINDS, 0)
    for path in sorted(folder.glob("part-*.parquet")):
        for kind, n in json.loads(pq.ParquetFile(path).schema_arrow.metadata.get(b"conflicts", b"{}")).items():
            total[kind] += n
    return total


def _split_counts(folder: Path, n_classes: int) -> dict[str, dict[str, np.ndarray | int]]:
    """Per split: positives and verified negatives per class, and usable images, summed over the parts."""
    out: dict[str, dict] = {}
    for path in sorted(folder.glob("part-*.parquet")):
        table = read_table(path)
        for split in pc.unique(table.column("split")).to_pylist():
            rows = table.filter(pc.equal(table.column("split"), split))
            old = out.setdefault(split, {**{c: np.zeros(n_classes, np.int64) for c in COUNTED}, "usable": 0})
            for c in COUNTED:
                old[c] += rows.column(c).to_numpy()
            old["usable"] += int(rows.column("usable")[0].as_py())
    return out


def _with_counts(classes: pa.Table, counts: dict[str, dict], negatives: str) -> pa.Table:
    """classes + `positives_<split>`, `verified_negatives_<split>`, `usable_<split>` and `pos_weight`.

    pos_weight = negatives / positives over usable training images, the negatives being every
    usable image without the class (`all_unlabeled`) or its verified negatives (`verified_only`).
    """
    n = classes.num_rows
    for split in sorted(counts):
        for c in COUNTED:
            classes = classes.append_column(f"{c}_{split}", pa.array(counts[split][c], pa.int64()))
        classes = classes.append_column(f"usable_{split}", pa.array(np.full(n, counts[split]["usable"]), pa.int64()))
    train = counts.get("train", {"positives": np.zeros(n, np.int64), "verified_negatives": np.zeros(n, np.int64),
                                 "usable": 0})
    positives = train["positives"]
    against = train["verified_negatives"] if negatives == "verified_only" else train["usable"] - positives
    with np.errstate(divide="ignore", invalid="ignore"):
        weight = np.where(positives > 0, against / np.maximum(positives, 1), np.nan)
    return classes.append_column("pos_weight", pa.array(weight.astype(np.float32), from_pandas=True))


def _source_classes(tax: Taxonomy, mapped: list) -> pa.Table:
    """Every source class with its WNID, how it was mapped (method, score, runner-up sense and its
    score, for review), further concepts of a tag, the images carrying it (name and tag sources), and
    the classes its positives and its verified negatives go to."""
    tables = []
    for m in mapped:
        n, targets = len(m.ids), label_targets(tax, m.all_targets())
        split = int(targets.indptr[n])
        tables.append(pa.table([
            pa.array([m.source] * n, pa.string()), pa.array(m.ids, pa.string()), pa.array(m.wnids, pa.string()),
            pa.array(m.methods, pa.string()), pa.array(m.scores, pa.float32()),
            pa.array(m.runner_ups, pa.string()), pa.array(m.runner_up_scores, pa.float32()),
            pa.array([list(a) for a in m.also] if m.also else [[]] * n, pa.list_(pa.string())),
            pa.array(m.images if m.images else [None] * n, pa.int64()),
            _csr_lists(targets.indptr[:n + 1], targets.indices[:split]),
            _csr_lists(targets.indptr[n:] - split, targets.indices[split:])], schema=SOURCE_CLASS_SCHEMA))
    table = pa.concat_tables(tables) if tables else SOURCE_CLASS_SCHEMA.empty_table()
    return table.sort_by([("source", "ascending"), ("source_class", "ascending")])


def _csr_lists(indptr: np.ndarray, indices: np.ndarray) -> pa.ListArray:
    """CSR rows as an int32 list array."""
    return pa.ListArray.from_arrays(pa.array(indptr, pa.int32()), pa.array(indices, pa.int32()))


SOURCE_CLASS_SCHEMA = pa.schema([("source", pa.string()), ("source_class", pa.string()), ("wnid", pa.string()),
                                 ("method", pa.string()), ("score", pa.float32()), ("runner_up", pa.string()),
                                 ("runner_up_score", pa.float32()), ("also_wnids", pa.list_(pa.string())),
                                 ("images", pa.int64()),
                                 ("class_indices", pa.list_(pa.int32())),
                                 ("negative_class_indices", pa.list_(pa.int32()))])


def _summary(sources: list, mapped: list, counts: dict, classes: pa.Table, hierarchy: pa.Table) -> dict:
    """Counts and warnings for build.json (deterministic)."""
    warnings = [w for s in sources for w in s.skips]
    for m in mapped:
        unmapped = m.unmapped()
        if unmapped:
            warnings.append(f"{m.source}: {len(unmapped)} of {len(m.ids)} classes not mapped to WordNet "
                            f"(their labels are left out), e.g. {sorted(unmapped)[:5]}")
    return {"counts": {"sources": {s.name: s.counts for s in sources},
                       "images": {split: c["usable"] for split, c in sorted(counts.items())},
                       "classes": classes.num_rows, "edges": hierarchy.num_rows},
            "warnings": warnings}


def _versions() -> dict[str, str]:
    import numpy
    return {"python": platform.python_version(), "pyarrow": pa.__version__, "numpy": numpy.__version__}


def _checksums(paths: list[Path]) -> dict[str, dict]:
    """sha256 and size of every input file."""
    return {str(p): {"bytes": p.stat().st_size, "sha256": _sha256(p)} for p in paths}


def _sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _plain(config: BuildConfig) -> dict:
    return json.loads(json.dumps(dataclasses.asdict(config), default=str, sort_keys=True))
