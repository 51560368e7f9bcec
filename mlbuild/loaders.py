"""Read mlbuild's shards and manifests for training, without PyTorch.

`iter_shards` yields one `Sample` per image of WebDataset tars or Parquet shards (from
`mlbuild export` or `mlbuild download --output-format ...`): the image (bytes, or a PIL
image with `decode=True`), its multi-hot target over `num_classes` and its JSON metadata.
`read_manifest` reads a manifest into pandas with 64-bit hashes exact (see docs/download.md
for the `webdataset` package and Hugging Face `datasets` recipes).
"""
from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from PIL import Image

IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff", "ico")


@dataclass
class Sample:
    """One training example."""

    key: str
    image: bytes | Image.Image
    target: np.ndarray | None  # float32 multi-hot (1 at each label), None without num_classes
    meta: dict[str, Any]


def multi_hot(labels: Iterable[int], num_classes: int) -> np.ndarray:
    """A float32 vector of `num_classes` zeros with 1 at each label."""
    target = np.zeros(num_classes, np.float32)
    target[np.asarray(list(labels), dtype=np.int64)] = 1.0
    return target


def num_classes(build_dir: Path) -> int:
    """The number of classes of a build (rows of classes.parquet)."""
    return pq.ParquetFile(Path(build_dir) / "classes.parquet").metadata.num_rows


def iter_shards(paths: Iterable[Path], num_classes: int | None = None, decode: bool = False) -> Iterator[Sample]:
    """Every sample of the shards, in order; `.tar` are WebDataset, `.parquet` are Parquet shards."""
    for path in paths:
        path = Path(path)
        samples = _tar_samples(path) if path.suffix == ".tar" else _parquet_samples(path)
        for key, data, meta in samples:
            image = Image.open(io.BytesIO(data)) if decode else data
            target = multi_hot(meta.get("labels", []), num_classes) if num_classes is not None else None
            yield Sample(key, image, target, meta)


def _tar_samples(path: Path) -> Iterator[tuple[str, bytes, dict]]:
    """(key, image bytes, JSON) per sample; members of a sample are adjacent (WebDataset rule)."""
    current, parts = None, {}
    with tarfile.open(path, "r:") as tar:
        for member in tar:
            key, _, ext = member.name.partition(".")
            if key != current and current is not None:
                yield _joined(current, parts)
                parts = {}
            current = key
            parts[ext] = tar.extractfile(member).read()
    if current is not None:
        yield _joined(current, parts)


def _joined(key: str, parts: dict[str, bytes]) -> tuple[str, bytes, dict]:
    image = next((parts[e] for e in IMAGE_EXTENSIONS if e in parts), None)
    if image is None or "json" not in parts:
        raise ValueError(f"sample {key!r} lacks an image or its .json (has {sorted(parts)})")
    return key, image, json.loads(parts["json"])


def _parquet_samples(path: Path) -> Iterator[tuple[str, bytes, dict]]:
    source = pq.ParquetFile(path)
    for batch in source.iter_batches(batch_size=256):
        for row in batch.to_pylist():
            image = row.pop("image")
            row.pop("format")
            yield row.pop("key"), image, row


def read_manifest(path: Path, columns: list[str] | None = None):
    """A manifest (Parquet file or folder) as a pandas DataFrame, 64-bit hashes exact.

    pHash is stored as uint64; plain `pd.read_parquet` turns a uint64 column with nulls into
    float64 (53-bit mantissa: hashes change). Here Arrow types are kept (`uint64[pyarrow]`).
    """
    import pandas as pd

    return pd.read_parquet(path, columns=columns, dtype_backend="pyarrow")
