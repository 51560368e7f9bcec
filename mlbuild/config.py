"""The build configuration: one dataclass per stage, read from TOML and passed whole.

See docs/config.md for every key. Relative paths in a config file are resolved
against the file's folder, so a config and its inputs can move together.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from mlbuild.errors import InputError

HUMAN_LABEL_SOURCES = ("verification", "crowdsource-verification")


@dataclass
class SourceSpec:
    """One source: an adapter `kind`, its options (the adapter's own config keys), eval or not.

    `base` is the folder relative paths in the options are resolved against.
    """

    kind: str
    options: dict[str, Any]
    evaluation: bool = False
    base: Path = Path(".")
    class_map: Path | None = None     # CSV `source_class|mid,wnid`: overrides how this source's classes map
    class_descriptions: Path | None = None   # CSV `source_class,description`: gloss evidence for name labels


@dataclass
class ClassesConfig:
    """Which classes the dataset keeps."""

    min_images: int = 0                 # positives (after propagation) in the training split
    include: list[str] = field(default_factory=list)   # WNID list files or named class lists
    exclude: list[str] = field(default_factory=list)   # WNIDs or WNID list files
    keep_eval_classes: bool = True      # classes of evaluation sets survive min_images
    vocabulary: Path | None = None      # WNID per line (optional TAB name): exactly these, class_index = line


@dataclass
class TaxonomyConfig:
    """WordNet relations that make parents and the custom operations, applied in order."""

    relations: list[str] = field(default_factory=lambda: ["hypernym", "instance_hypernym"])
    merge: list[dict[str, str]] = field(default_factory=list)       # {from, into}
    drop: list[str] = field(default_factory=list)
    rename: list[dict[str, str]] = field(default_factory=list)      # {wnid, name}
    add_parent: list[dict[str, str]] = field(default_factory=list)  # {child, parent}
    hierarchy: Path | None = None       # a published hierarchy: its edges replace WordNet's parents
    hierarchy_format: str | None = field(default=None, metadata={"choices": ("tencent", "wordtree", "is_a")})
    tree: bool = False                  # one parent per class (docs/taxonomy.md gives the rule)


@dataclass
class LabelsConfig:
    """Which label rows are positives and negatives."""

    machine_min_confidence: float = 0.5     # machine labels at or above this are positives
    human_sources: list[str] = field(default_factory=lambda: list(HUMAN_LABEL_SOURCES))
    negatives: bool = True                  # keep verified negatives (pushed down to descendants)
    collapse_duplicates: bool = True        # same URL / Flickr photo across sources -> one image
    conflicts: str = field(default="human_first", metadata={"choices": ("human_first", "positive_first")})


@dataclass
class DedupConfig:
    """Train x evaluation near-duplicate removal (needs local or downloaded images)."""

    enabled: bool = True
    max_distance: int = field(default=6, metadata={"min": 0, "max": 32})     # K for plain x plain keys
    extra_distance: int = field(default=4, metadata={"min": 0, "max": 32})   # K against mirrored, cropped eval keys
    check_distance: int = field(default=16, metadata={"min": 0, "max": 64})  # check-signature distance
    hash: str = field(default="phash", metadata={"choices": ("phash", "dhash")})
    within_train: bool = False      # collapse near-identical training images (plain keys within K + check)
    within_train_distance: int = field(default=2, metadata={"min": 0, "max": 32})


@dataclass
class DownloadSection:
    """Download URL-only images during the build (off by default: a build lists images).

    `options` are the downloader's settings (mlbuild.images.download.config.DownloadConfig, docs/download.md).
    """

    enabled: bool = False
    folder: str = "files"                   # under the build's output folder
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class StatsConfig:
    """Training statistics written with the manifests (docs/manifests.md: "Sampling and co-occurrence",
    and `pos_weight` in classes.parquet)."""

    sampling: str = field(default="none", metadata={"choices": ("none", "sqrt", "inverse", "repeat_factor")})
    repeat_threshold: float = field(default=0.001, metadata={"min": 0.0, "max": 1.0})   # LVIS repeat-factor t
    negatives_per_positive: float = field(default=3.0, metadata={"min": 0.0})          # target for negative_keep_rate
    # negatives of pos_weight: every usable image without the class, or only its verified negatives
    negatives: str = field(default="all_unlabeled", metadata={"choices": ("all_unlabeled", "verified_only")})


@dataclass
class BuildConfig:
    """Everything one build needs."""

    sources: list[SourceSpec]
    classes: ClassesConfig = field(default_factory=ClassesConfig)
    taxonomy: TaxonomyConfig = field(default_factory=TaxonomyConfig)
    labels: LabelsConfig = field(default_factory=LabelsConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    download: DownloadSection = field(default_factory=DownloadSection)
    stats: StatsConfig = field(default_factory=StatsConfig)
    partition_images: int = 1 << 18
    workers: int = 0                    # worker processes; 0 = one per core
    engine: str = "local"               # "local" or "dask"
    scheduler: str | None = None        # dask scheduler address; None starts a LocalCluster
    origin: str = "<python>"


def load_config(path: Path) -> BuildConfig:
    """Read a TOML build config; paths inside are relative to its folder."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise InputError(path, f"not valid TOML: {err}") from err
    except OSError as err:
        raise InputError(path, f"cannot read: {err.strerror}") from err
    return config_from_dict(data, base=path.parent, origin=str(path))


def config_from_dict(data: dict[str, Any], base: Path = Path("."), origin: str = "<dict>") -> BuildConfig:
    """A BuildConfig from parsed TOML (or an equivalent dict)."""
    known = {"source", "eval", "classes", "taxonomy", "labels", "dedup", "build", "download", "stats"}
    unknown = set(data) - known
    if unknown:
        raise InputError(origin, f"unknown sections {sorted(unknown)}; expected {sorted(known)}")
    sources = [_source(s, base, origin, False) for s in data.get("source", [])]
    sources += [_source(s, base, origin, True) for s in data.get("eval", [])]
    if not sources:
        raise InputError(origin, "no [[source]] tables: a build needs at least one source")
    build = data.get("build", {})
    classes = _section(ClassesConfig, data.get("classes", {}), origin, "classes")
    taxonomy = _section(TaxonomyConfig, data.get("taxonomy", {}), origin, "taxonomy")
    _fixed_vocabulary(classes, taxonomy, base, origin)
    return BuildConfig(
        sources=sources, classes=classes, taxonomy=taxonomy,
        labels=_section(LabelsConfig, data.get("labels", {}), origin, "labels"),
        dedup=_section(DedupConfig, data.get("dedup", {}), origin, "dedup"),
        download=_download(data.get("download", {}), origin),
        stats=_section(StatsConfig, data.get("stats", {}), origin, "stats"),
        partition_images=int(build.get("partition_images", 1 << 18)),
        workers=int(build.get("workers", 0)), engine=build.get("engine", "local"),
        scheduler=build.get("scheduler"), origin=origin)


def _source(table: dict[str, Any], base: Path, origin: str, evaluation: bool) -> SourceSpec:
    if "kind" not in table:
        raise InputError(origin, "every [[source]] / [[eval]] needs a `kind`", field="kind")
    options = {k: v for k, v in table.items() if k not in ("kind", "class_map", "class_descriptions")}
    class_map = base / table["class_map"] if "class_map" in table else None
    described = base / table["class_descriptions"] if "class_descriptions" in table else None
    return SourceSpec(table["kind"], options, evaluation, base, class_map, described)


def _download(table: dict[str, Any], origin: str) -> DownloadSection:
    """[download]: `enabled`, `folder`, and the downloader's own settings."""
    from mlbuild.images.download.config import DownloadConfig
    options = {k: v for k, v in table.items() if k not in ("enabled", "folder")}
    allowed = {f.name for f in fields(DownloadConfig)}
    unknown = set(options) - allowed
    if unknown:
        raise InputError(origin, f"unknown keys {sorted(unknown)} in [download]; allowed: enabled, folder, "
                         f"{sorted(allowed)}", field="download")
    return DownloadSection(bool(table.get("enabled", False)), str(table.get("folder", "files")), options)


def _section(cls: type, table: dict[str, Any], origin: str, name: str) -> Any:
    allowed = {f.name for f in fields(cls)}
    unknown = set(table) - allowed
    if unknown:
        raise InputError(origin, f"unknown keys {sorted(unknown)} in [{name}]; allowed: {sorted(allowed)}",
                         field=name)
    for f in fields(cls):
        if f.name in table:
            _check_value(table[f.name], f.metadata, origin, f"{name}.{f.name}")
    return cls(**table)


def _check_value(value: Any, meta: Any, origin: str, key: str) -> None:
    """A value against its field's `choices` / `min` / `max` metadata."""
    if "choices" in meta and value not in meta["choices"]:
        raise InputError(origin, f"{value!r}: allowed values are {list(meta['choices'])}", field=key)
    if ("min" in meta or "max" in meta) and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise InputError(origin, f"{value!r}: expected a number", field=key)
    if "min" in meta and value < meta["min"] or "max" in meta and value > meta["max"]:
        raise InputError(origin, f"{value!r}: must be within [{meta.get('min', '-inf')}, "
                         f"{meta.get('max', 'inf')}]", field=key)


def _fixed_vocabulary(classes: ClassesConfig, taxonomy: TaxonomyConfig, base: Path, origin: str) -> None:
    """Resolve the vocabulary and hierarchy paths; refuse settings a fixed vocabulary would ignore."""
    if classes.vocabulary is not None:
        classes.vocabulary = base / classes.vocabulary
    if taxonomy.hierarchy is not None:
        taxonomy.hierarchy = base / taxonomy.hierarchy
        if taxonomy.hierarchy_format is None:
            raise InputError(origin, "[taxonomy] hierarchy needs hierarchy_format (tencent, wordtree or is_a)",
                             field="hierarchy_format")
    if classes.vocabulary is None and taxonomy.hierarchy is None:
        return
    clashing = [k for k in ("include", "exclude", "min_images") if getattr(classes, k)]
    if clashing:
        raise InputError(origin, f"[classes] {', '.join(clashing)} cannot change a fixed vocabulary "
                         "([classes] vocabulary, or the classes of [taxonomy] hierarchy)", field=clashing[0])
