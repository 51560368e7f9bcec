"""Build stage: download the images that are known only by URL, then point the manifest at the files.

Each source's URL-only images are downloaded into `<out>/<folder>/<source>/` (resumable: the
downloader's journal), hashed as they arrive. Images that arrived get their `path`; every
image gets the downloader's `status` (null for local files), which the manifests carry.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlbuild.config import DownloadSection
from mlbuild.images.download.config import DownloadConfig
from mlbuild.images.download.downloader import download_shard
from mlbuild.images.phash import phash_int


def download_images(images: pa.Table, name: str, section: DownloadSection, out_dir: Path) -> tuple[pa.Table, pa.Array]:
    """(images with `path` set where the download succeeded, per-image status or null)."""
    wanted = pc.and_(pc.is_valid(images.column("url")), pc.is_null(images.column("path")))
    todo = images.filter(wanted).select(["image_id", "url", "md5", "size"])
    statuses = pa.nulls(images.num_rows, pa.string())
    if todo.num_rows == 0:
        return images, statuses
    folder = out_dir / section.folder / name
    results = download_shard(todo, DownloadConfig(**section.options), folder, shard=name, hasher=phash_int)
    at = pc.index_in(images.column("image_id"), value_set=results.column("image_id"))
    found = pc.is_valid(at).to_numpy(zero_copy_only=False)
    take = pa.array(np.where(found, pc.fill_null(at, 0).to_numpy(zero_copy_only=False), 0))
    statuses = pc.if_else(pa.array(found), results.column("status").take(take), statuses)
    stored = results.column("path").take(take)
    paths = pc.if_else(pc.and_(pa.array(found), pc.is_valid(stored)),
                       pc.binary_join_element_wise(str(folder) + "/", stored, ""), images.column("path"))
    return images.set_column(images.schema.get_field_index("path"), "path", paths), statuses
