"""The build's manifests: staged under `<out>/.partial`, moved into place, `build.json` last.

A killed build leaves only `.partial/` (and no `build.json` if it died while moving),
so nothing partial looks complete. Parts are written atomically and are the unit of
resume: a rerun with the same config and inputs keeps finished parts. Parquet
outputs are byte-identical for the same inputs and config; `build.json` differs only
in its `timings`.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mlbuild import __version__
from mlbuild._util.parquet import read_table, write_table
from mlbuild.classes.taxonomy import Taxonomy
from mlbuild.config import BuildConfig
from mlbuild.images.decontaminate import merge_counts
from mlbuild.images.neardup import PAIRS
from mlbuild.labels.propagate import Closure, Propagated
from mlbuild.manifests import statistics
from mlbuild.sources.registry import input_files

IMAGE_EXTRA = pa.schema([
    pa.field("labels", pa.list_(pa.int32())), pa.field("confidences", pa.list_(pa.float32())),
    pa.field("direct_labels", pa.list_(pa.int32())), pa.field("negatives", pa.list_(pa.int32())),
    pa.field("phash", pa.uint64()), pa.field("status", pa.string()), pa.field("dedup", pa.string()),
])
ENGINE_KEYS = ("engine", "workers", "scheduler")  # how a build runs, not what it builds
COUNTS = pa.schema([pa.field("split", pa.string()), pa.field("class_index", pa.int32()),
                    pa.field("positives", pa.int64()), pa.field("images", pa.int64())])


class ManifestWriter:
    """Writes one build's manifests into out_dir, resumably and atomically."""

    def __init__(self, out_dir: Path, config: BuildConfig, resume: bool = True) -> None:
        self.out, self.config = Path(out_dir), config
        self.stage = self.out / ".partial"
        self.inputs = [p for spec in config.sources for p in input_files(spec)]
        settings = {k: v for k, v in _plain(config).items() if k not in ENGINE_KEYS}
        fingerprint = json.dumps({"config": settings, "inputs": [_stat(p) for p in self.inputs]}, sort_keys=True)
        marker = self.stage / "fingerprint.json"
        if not resume or not marker.is_file() or marker.read_text() != fingerprint:
            shutil.rmtree(self.stage, ignore_errors=True)
            self.stage.mkdir(parents=True)
            _atomic_text(marker, fingerprint)
        self.n_classes = 0
        self.notes: dict = {}   # extra build.json entries from the build's stages (e.g. "min_images")

    def begin(self, tax: Taxonomy) -> None:
        """Fix the vocabulary the parts are written against."""
        self.n_classes = len(tax.wnids())

    def has_part(self, part: int) -> bool:
        """True if partition `part` was finished by this or an interrupted earlier run."""
        return part_done(self.stage, part)

    def finish(self, tax: Taxonomy, sources: list, mapped: list, timings: dict[str, float]) -> dict:
        """Write classes, hierarchy, source classes and build.json; move everything into place."""
        counts = _split_counts(self.stage / "counts", self.n_classes)
        classes, hierarchy = tax.to_tables()
        classes = statistics.with_keep_rate(_with_counts(classes, counts), self.config.stats)
        write_table(classes, self.stage / "classes.parquet")
        start = time.perf_counter()
        statistics.write_products(self.stage, classes, counts.get("train", (None, 0))[1], Closure.ancestors(tax),
                                  self.config.stats)
        timings = {**timings, "statistics": round(time.perf_counter() - start, 3)}
        write_table(hierarchy, self.stage / "hierarchy.parquet")
        write_table(_source_classes(tax, mapped), self.stage / "source_classes.parquet")
        pairs = [read_table(p) for p in sorted((self.stage / "pairs").glob("part-*.parquet"))]
        write_table(pa.concat_tables(pairs).sort_by([(n, "ascending") for n in PAIRS.names]) if pairs
                    else PAIRS.empty_table(), self.stage / "dedup_pairs.parquet")
        summary = _summary(sources, mapped, counts, classes, hierarchy)
        summary["counts"]["negative_conflicts"] = _conflicts(self.stage / "counts")
        summary["counts"]["hashing"] = hashed = _hashed(self.stage / "counts")
        summary["warnings"] += hashing_warnings(hashed, sources, self.config.dedup.enabled)
        record = {"mlbuild": __version__, "config": _plain(self.config), "versions": _versions(),
                  "inputs": _checksums(self.inputs), "counts": summary["counts"],
                  "warnings": summary["warnings"], "timings": timings, **self.notes}
        self._publish(record)
        return summary["counts"]

    def _publish(self, record: dict) -> None:
        """Move staged files into out/ (stale parts removed), then write build.json last."""
        (self.out / "build.json").unlink(missing_ok=True)  # from here on the old build is not "complete"
        shutil.rmtree(self.out / "images", ignore_errors=True)
        for path in sorted(self.stage.rglob("*.parquet")):
            rel = path.relative_to(self.stage)
            if rel.parts[0] in ("counts", "pairs"):
                continue
            (self.out / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, self.out / rel)
        _atomic_text(self.out / "build.json", json.dumps(record, indent=2, sort_keys=True) + "\n")
        shutil.rmtree(self.stage)


def part_done(stage: Path, part: int) -> bool:
    """A part is finished when its counts file (written last) exists."""
    return (stage / "counts" / f"part-{part:05d}.parquet").is_file()


def with_labels(images: pa.Table, labels: Propagated, status: pa.Array | None = None) -> pa.Table:
    """The image rows with the label columns, the download status, and empty phash / dedup."""
    n = images.num_rows
    extra = [labels.labels, labels.confidences, labels.direct, labels.negatives,
             pa.nulls(n, pa.uint64()), pa.nulls(n, pa.string()) if status is None else status,
             pa.nulls(n, pa.string())]
    for f, column in zip(IMAGE_EXTRA, extra):
        images = images.append_column(f, column)
    return images


def write_part(stage: Path, n_classes: int, part: int, table: pa.Table, pairs: pa.Table,
               conflicts: int = 0, hashed: dict | None = None) -> None:
    """Write one partition's image rows (split by split) and dedup pairs, then its counts.

    Counts cover the rows a model trains on: those not removed as duplicates. The number of
    (image, class) pairs where a positive overrode an implied negative, and the images hashed
    and not hashed per source, split and reason (`unhashed_counts`), ride in the metadata.
    """
    counts = []
    splits = sorted(pc.unique(table.column("split")).to_pylist())
    for split in splits:
        rows = table if len(splits) == 1 else table.filter(pc.equal(table.column("split"), split))
        write_table(rows, stage / "images" / split / f"part-{part:05d}.parquet")
        kept = rows if rows.column("dedup").null_count == rows.num_rows else \
            rows.filter(pc.is_null(rows.column("dedup")))
        positives = np.bincount(pc.list_flatten(kept.column("labels")).to_numpy(), minlength=n_classes)
        counts.append(pa.table({"split": pa.array([split] * n_classes),
                                "class_index": pa.array(np.arange(n_classes, dtype=np.int32)),
                                "positives": pa.array(positives),
                                "images": pa.array(np.full(n_classes, kept.num_rows))}, COUNTS))
    write_table(pairs, stage / "pairs" / f"part-{part:05d}.parquet")
    counts = pa.concat_tables(counts) if counts else COUNTS.empty_table()
    metadata = {b"conflicts": str(conflicts).encode(), b"hashed": json.dumps(hashed or {}, sort_keys=True).encode()}
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


def _conflicts(folder: Path) -> int:
    """Positive-over-negative conflicts summed over the parts."""
    return sum(int(pq.ParquetFile(p).schema_arrow.metadata.get(b"conflicts", b"0"))
               for p in sorted(folder.glob("part-*.parquet")))


def _split_counts(folder: Path, n_classes: int) -> dict[str, tuple[np.ndarray, int]]:
    """Per split: (positives per class, images) summed over the parts."""
    out: dict[str, tuple[np.ndarray, int]] = {}
    for path in sorted(folder.glob("part-*.parquet")):
        table = read_table(path)
        for split in pc.unique(table.column("split")).to_pylist():
            rows = table.filter(pc.equal(table.column("split"), split))
            positives = rows.column("positives").to_numpy()
            images = int(rows.column("images")[0].as_py())
            old, n = out.get(split, (np.zeros(n_classes, np.int64), 0))
            out[split] = (old + positives, n + images)
    return out


def _with_counts(classes: pa.Table, counts: dict[str, tuple[np.ndarray, int]]) -> pa.Table:
    """classes + `positives_<split>` columns and `pos_weight` = negatives/positives on train."""
    for split in sorted(counts):
        classes = classes.append_column(f"positives_{split}", pa.array(counts[split][0], pa.int64()))
    positives, images = counts.get("train", (np.zeros(classes.num_rows, np.int64), 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        weight = np.where(positives > 0, (images - positives) / np.maximum(positives, 1), np.nan)
    return classes.append_column("pos_weight", pa.array(weight.astype(np.float32), from_pandas=True))


def _source_classes(tax: Taxonomy, mapped: list) -> pa.Table:
    """Every source class with its WNID, how it was mapped (method, score, runner-up sense and its
    score, for review), further concepts of a tag, and the classes its labels go to."""
    index = tax.dag.index
    rows: dict[str, list] = {c: [] for c in SOURCE_CLASS_SCHEMA.names}
    for m in mapped:
        for i, sid in enumerate(m.ids):
            rows["source"].append(m.source)
            rows["source_class"].append(sid)
            rows["wnid"].append(m.wnids[i])
            rows["method"].append(m.methods[i])
            rows["score"].append(m.scores[i])
            rows["runner_up"].append(m.runner_ups[i])
            rows["runner_up_score"].append(m.runner_up_scores[i])
            rows["also_wnids"].append(list(m.also[i]) if m.also else [])
            rows["class_indices"].append(sorted({index[w] for wnid in m.targets(i) for w in tax.nearest(wnid)}))
    table = pa.table(rows, schema=SOURCE_CLASS_SCHEMA)
    return table.sort_by([("source", "ascending"), ("source_class", "ascending")])


SOURCE_CLASS_SCHEMA = pa.schema([("source", pa.string()), ("source_class", pa.string()), ("wnid", pa.string()),
                                 ("method", pa.string()), ("score", pa.float32()), ("runner_up", pa.string()),
                                 ("runner_up_score", pa.float32()), ("also_wnids", pa.list_(pa.string())),
                                 ("class_indices", pa.list_(pa.int32()))])


def _summary(sources: list, mapped: list, counts: dict, classes: pa.Table, hierarchy: pa.Table) -> dict:
    """Counts and warnings for build.json (deterministic)."""
    warnings = [w for s in sources for w in s.skips]
    for m in mapped:
        unmapped = m.unmapped()
        if unmapped:
            warnings.append(f"{m.source}: {len(unmapped)} of {len(m.ids)} classes not mapped to WordNet "
                            f"(their labels are left out), e.g. {sorted(unmapped)[:5]}")
    return {"counts": {"sources": {s.name: s.counts for s in sources},
                       "images": {split: n for split, (_, n) in sorted(counts.items())},
                       "classes": classes.num_rows, "edges": hierarchy.num_rows},
            "warnings": warnings}


def _versions() -> dict[str, str]:
    import numpy
    return {"python": platform.python_version(), "pyarrow": pa.__version__, "numpy": numpy.__version__}


def _checksums(paths: list[Path]) -> dict[str, dict]:
    """sha256 and size of every input file, hashed in threads (hashlib releases the GIL)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        digests = list(pool.map(_sha256, paths))
    return {str(p): {"bytes": p.stat().st_size, "sha256": d} for p, d in zip(paths, digests)}


def _sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _stat(path: Path) -> list:
    st = path.stat()
    return [str(path), st.st_size, st.st_mtime_ns]


def _plain(config: BuildConfig) -> dict:
    return json.loads(json.dumps(dataclasses.asdict(config), default=str, sort_keys=True))


def _atomic_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)
