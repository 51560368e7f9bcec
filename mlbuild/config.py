"""The build configuration: one dataclass per stage, read from TOML and passed whole.

See docs/config.md for every key. Relative paths in a config file are resolved
against the file's folder, so a config and its inputs can move together.
"""
from __future__ import annotations

import dataclasses
import re
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlbuild.config_check import Place, check_table, did_you_mean
from mlbuild.errors import InputError, MlbuildError

HUMAN_LABEL_SOURCES = ("verification", "crowdsource-verification")
WNID_PATTERN = r"n[0-9]{8}"
# The WordNet relations a taxonomy can follow (mlbuild.classes.wordnet.graph.RELATIONS; a test checks they agree)
# and the named ImageNet class lists (mlbuild.sources.wnids.CLASS_LISTS, likewise).
RELATIONS = ("hypernym", "instance_hypernym", "part_holonym", "member_holonym", "substance_holonym")
CLASS_LIST_NAMES = ("fall11", "google21k", "ms22k", "21k-p-fall11", "21k-p-winter21", "imagenet12k", "ilsvrc1k")


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

    min_images: int = field(default=0, metadata={"min": 0})   # positives (after propagation), training split
    # WNIDs, named class lists (read from lists_dir) or WNID list files
    include: list[str | Path] = field(default_factory=list,
                                      metadata={"names": CLASS_LIST_NAMES, "pattern": WNID_PATTERN,
                                                "folder": "lists_dir"})
    exclude: list[str | Path] = field(default_factory=list,
                                      metadata={"names": CLASS_LIST_NAMES, "pattern": WNID_PATTERN,
                                                "folder": "lists_dir"})
    lists_dir: Path | None = None       # the folder of the named class lists
    keep_eval_classes: bool = True      # classes of evaluation sets survive min_images
    vocabulary: Path | None = None      # WNID per line (optional TAB name): exactly these, class_index = line


@dataclass
class TaxonomyConfig:
    """WordNet relations that make parents and the custom operations, applied in order."""

    relations: list[str] = field(default_factory=lambda: ["hypernym", "instance_hypernym"],
                                 metadata={"choices": RELATIONS})
    merge: list[dict[str, str]] = field(default_factory=list, metadata={"keys": ("from", "into")})
    drop: list[str] = field(default_factory=list)
    rename: list[dict[str, str]] = field(default_factory=list, metadata={"keys": ("wnid", "name")})
    add_parent: list[dict[str, str]] = field(default_factory=list, metadata={"keys": ("child", "parent")})
    hierarchy: Path | None = None       # a published hierarchy: its edges replace WordNet's parents
    hierarchy_format: str | None = field(default=None, metadata={"choices": ("tencent", "wordtree", "is_a")})
    tree: bool = False                  # one parent per class (docs/taxonomy.md gives the rule)


@dataclass
class LabelsConfig:
    """Which label rows are positives and negatives."""

    machine_min_confidence: float = field(default=0.5, metadata={"min": 0.0, "max": 1.0})  # machine: positive
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
    partition_images: int = field(default=1 << 18, metadata={"min": 1})
    workers: int = field(default=0, metadata={"min": 0})   # worker processes; 0 = one per core
    engine: str = field(default="local", metadata={"choices": ("local", "dask")})
    scheduler: str | None = None        # dask scheduler address; None starts a LocalCluster
    origin: str = "<python>"


def sections() -> dict[str, type[Any]]:
    """The config's sections: BuildConfig fields that are dataclasses (`[classes]`, `[download]`, ...)."""
    hints = typing.get_type_hints(BuildConfig)
    return {f.name: hints[f.name] for f in dataclasses.fields(BuildConfig) if dataclasses.is_dataclass(hints[f.name])}


def build_keys() -> tuple[str, ...]:
    """The keys of `[build]`: BuildConfig's plain fields (how a build runs)."""
    return tuple(f.name for f in dataclasses.fields(BuildConfig)
                 if f.name not in sections() and f.name not in ("sources", "origin"))


def load_config(path: Path) -> BuildConfig:
    """Read a TOML build config, checked against the schema; paths inside are relative to its folder."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as err:
        raise InputError(path, f"cannot read: {err.strerror}") from err
    except UnicodeDecodeError as err:
        raise InputError(path, f"not UTF-8 text (byte {err.start})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        line = re.search(r"at line (\d+)", str(err))
        raise InputError(path, f"not valid TOML: {err}", line=int(line.group(1)) if line else None) from None
    return config_from_dict(data, base=path.parent, origin=str(path), text=text)


def config_from_dict(data: dict[str, Any], base: Path = Path("."), origin: str = "<dict>",
                     text: str | None = None) -> BuildConfig:
    """A BuildConfig from parsed TOML (or an equivalent dict); every mistake is reported at once (ConfigError)."""
    place = Place(origin, base, text)
    known = ["source", "eval", "build", *sections()]
    for name, value in data.items():
        if name in known:
            continue
        if isinstance(value, (dict, list)):
            place.at(name).error(None, f"unknown section{did_you_mean(name, known)}; allowed: {', '.join(known)}")
        else:
            place.error(name, f"a key outside any section{_home_of(name)}; sections: {', '.join(known)}")
    labelled = [(place.at(h, i), t, h) for h in ("source", "eval") for i, t in _tables(data, h, place)]
    sources = [_source(t, at, h == "eval") for at, t, h in labelled]
    values = {name: _section(cls, data.get(name, {}), place.at(name)) for name, cls in sections().items()}
    values |= check_table(BuildConfig, data.get("build", {}), place.at("build"), only=build_keys())
    if not data.get("source") and not data.get("eval"):
        place.error(None, "no [[source]] tables: a build needs at least one source")
    _unique_names([(at.label, spec) for (at, _, _), spec in zip(labelled, sources)], place)
    _fixed_vocabulary(values["classes"], values["taxonomy"], place)
    place.raise_errors()
    return BuildConfig(sources=sources, origin=origin, **values)


def _tables(data: dict[str, Any], header: str, place: Place) -> list[tuple[int, dict]]:
    """The [[header]] tables, numbered; a single [header] table is reported (it must be an array)."""
    tables = data.get(header, [])
    if not isinstance(tables, list):
        place.at(header).error(None, f"write [[{header}]] (one table per source), not [{header}]")
        return []
    return list(enumerate(tables))


COMMON = ("class_map", "class_descriptions")  # keys every [[source]] takes, besides its adapter's


def _source(table: Any, place: Place, evaluation: bool) -> SourceSpec:
    """One [[source]] / [[eval]]: `kind`, the `COMMON` keys and the adapter's options (its config class)."""
    from mlbuild.sources.registry import ADAPTERS, check_options
    if not isinstance(table, dict) or not isinstance(table.get("kind"), str):
        place.error("kind", f"missing: every source needs a kind; allowed: {', '.join(ADAPTERS)}")
        return SourceSpec("", {}, evaluation, place.base)
    kind = table["kind"]
    common = check_table(SourceSpec, {k: v for k, v in table.items() if k in COMMON}, place, only=COMMON)
    options = {k: v for k, v in table.items() if k != "kind" and k not in COMMON}
    if kind not in ADAPTERS:
        allowed = ", ".join(map(repr, ADAPTERS))
        place.error("kind", f"got {kind!r}, allowed: {allowed}{did_you_mean(kind, list(ADAPTERS))}")
    else:
        check_options(kind, options, place)  # the adapter converts them again, from the same base
    return SourceSpec(kind, options, evaluation, place.base, common.get("class_map"),
                      common.get("class_descriptions"))


def _home_of(key: str) -> str:
    """` (it belongs in [section])` for a key some section has, else ''."""
    homes = [name for name, cls in sections().items() if key in {f.name for f in dataclasses.fields(cls)}]
    homes += ["build"] if key in build_keys() else []
    return f" (it belongs in [{homes[0]}])" if homes else ""


def _unique_names(sources: list[tuple[str, SourceSpec]], place: Place) -> None:
    """Two sources with one name would give the same image ids: refuse."""
    from mlbuild.sources.registry import ADAPTERS, source_name
    seen: dict[str, str] = {}
    for label, spec in sources:
        if spec.kind not in ADAPTERS:
            continue
        name = source_name(spec)
        if name in seen:
            place.error(None, f"{seen[name]} and {label} are both named {name!r} (image ids would collide): "
                              "give each a distinct `name`")
        seen.setdefault(name, label)


def _section(cls: type, table: Any, place: Place) -> Any:
    """A section's dataclass from its table; [download] also takes the downloader's settings."""
    if cls is not DownloadSection:
        return cls(**check_table(cls, table, place))
    from mlbuild.images.download.config import DownloadConfig
    values = check_table(DownloadSection, table, place, extra=DownloadConfig, only=("enabled", "folder"))
    options = {k: v for k, v in values.items() if k not in ("enabled", "folder")}
    try:
        DownloadConfig.from_mapping(options)
    except MlbuildError as err:
        place.error(None, str(err))
    return DownloadSection(values.get("enabled", False), values.get("folder", "files"), options)


def _fixed_vocabulary(classes: ClassesConfig, taxonomy: TaxonomyConfig, place: Place) -> None:
    """Refuse settings a fixed vocabulary would ignore (the paths are already resolved by the schema)."""
    if taxonomy.hierarchy is not None and taxonomy.hierarchy_format is None:
        place.at("taxonomy").error("hierarchy_format", "missing: [taxonomy] hierarchy needs hierarchy_format "
                                                       "(tencent, wordtree or is_a)")
    if classes.vocabulary is None and taxonomy.hierarchy is None:
        return
    clashing = [k for k in ("include", "exclude", "min_images") if getattr(classes, k)]
    if clashing:
        place.at("classes").error(clashing[0], f"[classes] {', '.join(clashing)} cannot change a fixed vocabulary "
                                               "([classes] vocabulary, or the classes of [taxonomy] hierarchy)")


def schema_tables() -> dict[str, list[tuple[str, str, str, str]]]:
    """Every table of the config and its (key, type, default, allowed) rows: what docs/config.md must list."""
    from mlbuild.config_check import schema_rows
    from mlbuild.images.download.config import DownloadConfig
    from mlbuild.sources.registry import ADAPTERS, adapter_types
    tables = {f'[[source]] kind = "{kind}"': schema_rows(adapter_types(kind)[1]) for kind in ADAPTERS}
    tables["[[source]] (every kind)"] = schema_rows(SourceSpec, only=COMMON)
    for name, cls in sections().items():
        tables[f"[{name}]"] = schema_rows(cls, only=("enabled", "folder") if cls is DownloadSection else None)
    tables["[download]"] += schema_rows(DownloadConfig)
    tables["[build]"] = schema_rows(BuildConfig, only=build_keys())
    return tables
