"""Adapters by config `kind`, built from a TOML table with paths resolved against the config's folder.

Each adapter class `X` has a dataclass `XConfig` beside it; the table's keys are
that dataclass's fields. Fields typed as paths are resolved relative to the config file.
"""
from __future__ import annotations

import dataclasses
import importlib
import typing
from pathlib import Path
from typing import Any

from mlbuild.config import SourceSpec
from mlbuild.errors import InputError
from mlbuild.sources.base import SourceAdapter

ADAPTERS = {
    "imagenet_urls": "mlbuild.sources.imagenet:ImageNetUrls",
    "imagenet_folder": "mlbuild.sources.imagenet:ImageNetFolder",
    "openimages": "mlbuild.sources.openimages:OpenImages",
    "ilsvrc2012_val": "mlbuild.sources.ilsvrc:IlsvrcVal",
    "coco": "mlbuild.sources.coco:Coco",
    "tabular": "mlbuild.sources.tabular:Tabular",
    "tencent": "mlbuild.sources.tencent:Tencent",
}


def adapter_types(kind: str) -> tuple[type, type]:
    """(adapter class, its config dataclass) for a kind."""
    if kind not in ADAPTERS:
        raise InputError("<config>", f"unknown source kind {kind!r}; known: {sorted(ADAPTERS)}", field="kind")
    module, name = ADAPTERS[kind].split(":")
    mod = importlib.import_module(module)
    return getattr(mod, name), getattr(mod, f"{name}Config")


def make_adapter(spec: SourceSpec) -> SourceAdapter:
    """The adapter a [[source]] / [[eval]] table describes."""
    cls, config_cls = adapter_types(spec.kind)
    return cls(config_cls(**_options(config_cls, spec)))


def input_files(spec: SourceSpec) -> list[Path]:
    """Every existing file the spec names (for checksums in build.json)."""
    return [p for p in input_paths(spec) if p.is_file()]


def input_paths(spec: SourceSpec) -> list[Path]:
    """Every path the spec names, files and folders, existing or not (its class map included)."""
    _, config_cls = adapter_types(spec.kind)
    found = []
    for value in _options(config_cls, spec).values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, Path):
                found.append(item)
    return found + ([spec.class_map] if spec.class_map is not None else [])


def _options(config_cls: type, spec: SourceSpec) -> dict[str, Any]:
    hints = typing.get_type_hints(config_cls)
    allowed = {f.name for f in dataclasses.fields(config_cls)}
    unknown = set(spec.options) - allowed
    if unknown:
        raise InputError(spec.base, f"unknown keys {sorted(unknown)} for a {spec.kind!r} source; "
                         f"allowed: {sorted(allowed)}", field=spec.kind)
    return {key: _resolve(hints.get(key), value, spec.base) for key, value in spec.options.items()}


def _resolve(hint: Any, value: Any, base: Path) -> Any:
    text = str(hint)
    if "Path" not in text:
        return value
    if isinstance(value, list):
        return [base / v for v in value]
    if isinstance(value, str) and ("/" in value or "\\" in value or "." in value or "str" not in text):
        return base / value
    return value
