"""Adapters by config `kind`; each adapter declares its config dataclass (`config_class`).

A source table's keys are the fields of that dataclass, checked by the one config schema
(`mlbuild.config_check`): types, allowed values, ranges; path fields are resolved against
the config's folder and must exist.
"""
from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path
from typing import Any

from mlbuild.config import SourceSpec
from mlbuild.config_check import Place, check_table, did_you_mean
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


def adapter_types(kind: str) -> tuple[type[SourceAdapter], type[Any]]:
    """(adapter class, its config dataclass) for a kind."""
    if kind not in ADAPTERS:
        raise InputError("<config>", f"unknown source kind {kind!r}{did_you_mean(kind, list(ADAPTERS))}; "
                         f"known: {sorted(ADAPTERS)}", field="kind")
    module, name = ADAPTERS[kind].split(":")
    cls = getattr(importlib.import_module(module), name)
    return cls, cls.config_class


def check_options(kind: str, options: dict[str, Any], place: Place) -> dict[str, Any]:
    """A source's options checked against its adapter's config class (input paths must exist)."""
    return check_table(adapter_types(kind)[1], options, place)


def make_adapter(spec: SourceSpec) -> SourceAdapter:
    """The adapter a [[source]] / [[eval]] table describes."""
    cls, config_cls = adapter_types(spec.kind)
    return cls(config_cls(**_options(spec)))


def source_name(spec: SourceSpec) -> str:
    """The name a source's image ids are prefixed with (its `name`, else the adapter's default)."""
    if "name" in spec.options:
        return str(spec.options["name"])
    fields = {f.name: f for f in dataclasses.fields(adapter_types(spec.kind)[1])}
    return str(fields["name"].default) if "name" in fields else spec.kind


def input_files(spec: SourceSpec) -> list[Path]:
    """Every existing file the spec names (for checksums in build.json)."""
    return [p for p in input_paths(spec) if p.is_file()]


def input_paths(spec: SourceSpec) -> list[Path]:
    """Every path the spec names, files and folders (its class map included)."""
    found = []
    for value in _options(spec).values():
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(item, Path):
                found.append(item)
    return found + ([spec.class_map] if spec.class_map is not None else [])


def _options(spec: SourceSpec) -> dict[str, Any]:
    """The spec's options, checked (a spec made in Python gets the same checks as a config file)."""
    place = Place(f"{spec.kind} source", spec.base, header="source")
    values = check_options(spec.kind, spec.options, place)
    place.raise_errors()
    return values
