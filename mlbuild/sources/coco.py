"""COCO annotation JSON (captions_* or instances_*) as an evaluation set to deduplicate against.

Images come from `images[]` (`id`, `file_name`, `coco_url`, `flickr_url`, `width`,
`height`, `license`); instances files also give image-level labels: the names of the
categories of each image's annotations (label_kind "name", label_source "coco").
IMAGES has no width/height/second URL, so `details()` returns them per image_id.
The eval files are small (val2017: 5,000 images); they are parsed whole with `json`.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from mlbuild.errors import InputError
from mlbuild.sources.base import SourceAdapter, classes_table, images_batch, labels_batch, prefixed

IMAGE_FIELDS = {"id": pa.int64(), "file_name": pa.string(), "coco_url": pa.string(), "flickr_url": pa.string(),
                "width": pa.int32(), "height": pa.int32(), "license": pa.int64()}


@dataclass
class CocoConfig:
    """COCO annotation files; `url` is "coco" (images.cocodataset.org) or "flickr"."""

    annotations: list[Path] = field(default_factory=list)
    name: str = "coco"
    split: str = "eval"
    url: str = field(default="coco", metadata={"choices": ("coco", "flickr")})


def read_coco(path: Path) -> dict[str, Any]:
    """The parsed annotation file; InputError unless it has an `images` list."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(path, f"not COCO JSON: {err}") from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise InputError(path, "not a COCO annotation file (no `images` list)", field="images")
    return data


def image_table(path: Path, data: dict[str, Any]) -> pa.Table:
    """The `images[]` entries as a table with the COCO fields (missing ones null)."""
    images = data["images"]
    try:
        table = pa.Table.from_pylist(images, schema=pa.schema(IMAGE_FIELDS))
    except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
        raise InputError(path, f"bad image entry: {err}", field="images") from None
    if table.column("id").null_count:
        raise InputError(path, "an image has no id", field="images.id")
    licenses = pa.Table.from_pylist(data.get("licenses", []),
                                    schema=pa.schema({"id": pa.int64(), "url": pa.string()}))
    urls = licenses.column("url").take(pc.index_in(table.column("license"), value_set=licenses.column("id")))
    return table.append_column("license_url", urls)


class Coco(SourceAdapter):
    """COCO images (split "eval" by default) and, from instances files, their category names."""

    label_kind = "name"
    config_class = CocoConfig

    def __init__(self, config: CocoConfig) -> None:
        if config.url not in ("coco", "flickr"):
            raise InputError("coco", f"url must be 'coco' or 'flickr', not {config.url!r}", field="url")
        super().__init__(config.name)
        self.config = config

    def _files(self) -> Iterator[tuple[Path, dict]]:
        for path in self.config.annotations:
            yield Path(path), read_coco(path)

    def classes(self) -> pa.Table:
        """The categories of the instances files (none for captions files), by name."""
        found = [_categories(p, d).column("name").combine_chunks() for p, d in self._files()]
        names = pc.unique(pa.chunked_array(found, pa.string()))
        names = names.take(pc.sort_indices(names))
        return classes_table(self.name, names, names)

    def images(self) -> Iterator[pa.RecordBatch]:
        """One IMAGES batch per annotation file."""
        for path, data in self._files():
            self.new_skip_report(path)
            table = image_table(path, data)
            url = table.column("coco_url" if self.config.url == "coco" else "flickr_url")
            yield images_batch(self.name, table.column("id").cast(pa.string()), self.config.split,
                               url=url, license=table.column("license_url"))

    def details(self) -> pa.Table:
        """Per image_id: file_name, coco_url, flickr_url, width, height (not in IMAGES)."""
        tables = []
        for path, data in self._files():
            table = image_table(path, data)
            ids = prefixed(self.name, table.column("id").combine_chunks())
            tables.append(table.select(["file_name", "coco_url", "flickr_url", "width", "height"])
                          .add_column(0, "image_id", ids))
        return pa.concat_tables(tables)

    def labels(self) -> Iterator[pa.RecordBatch]:
        """Per instances file: one label per (image, category) of its annotations."""
        for path, data in self._files():
            categories = _categories(path, data)
            if not categories.num_rows:
                continue
            pairs = pa.Table.from_pylist(data.get("annotations", []),
                                         schema=pa.schema({"image_id": pa.int64(), "category_id": pa.int64()}))
            pairs = pairs.group_by(["image_id", "category_id"]).aggregate([]).sort_by(
                [("image_id", "ascending"), ("category_id", "ascending")])
            where = pc.index_in(pairs.column("category_id"), value_set=categories.column("id"))
            if where.null_count:
                raise InputError(path, "an annotation names an unknown category_id", field="annotations.category_id")
            yield labels_batch(self.name, pairs.column("image_id").cast(pa.string()).combine_chunks(),
                               categories.column("name").take(where), 1.0, "coco")


def _categories(path: Path, data: dict) -> pa.Table:
    """(id, name) of the file's categories; empty for captions files."""
    try:
        return pa.Table.from_pylist(data.get("categories", []),
                                    schema=pa.schema({"id": pa.int64(), "name": pa.string()}))
    except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
        raise InputError(path, f"bad category entry: {err}", field="categories") from None
