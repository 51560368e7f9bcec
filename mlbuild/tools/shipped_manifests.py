"""Regenerate the manifests mlbuild ships, from the real public files.

    python -m mlbuild.tools.shipped_manifests --data ../shared/data --out manifests/

- `vocabulary/`: the unified ImageNet-21k (fall11) + Open Images V6 class vocabulary
  (Open Images MIDs mapped by `wordnet_maps/openimages_wordnet.csv`): classes.parquet and
  hierarchy.parquet, every class with its source ids;
- `ilsvrc2012_val.parquet`: the 50,000 validation images with their original label and
  their ReaL labels, each direct and propagated in the unified vocabulary;
- `coco2017_val.parquet`: the 5,000 COCO 2017 validation images (ids, URLs, sizes).
Everything is deterministic; manifests/README.md documents schemas, counts and licences.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlbuild._util.parquet import write_table
from mlbuild.classes.closure import Closure
from mlbuild.classes.mapping.tables import openimages_wnids
from mlbuild.classes.taxonomy import Taxonomy
from mlbuild.labels.label_rows import LabelRows
from mlbuild.labels.propagate import propagate
from mlbuild.sources.coco import Coco, CocoConfig
from mlbuild.sources.ilsvrc import IlsvrcVal, IlsvrcValConfig
from mlbuild.sources.openimages import read_descriptions
from mlbuild.sources.wnids import read_wnid_list


def unified_vocabulary(data: Path) -> Taxonomy:
    """ImageNet-21k WNIDs plus every mapped Open Images V6 class, merged by WNID."""
    tax = Taxonomy()
    tax.add_all(read_wnid_list(data / "imagenet21k" / "imagenet22k_synsets.txt").to_pylist(), source="imagenet21k")
    mids = read_descriptions(data / "openimages" / "oidv6-class-descriptions.csv").column("LabelName").to_pylist()
    mapping = openimages_wnids()
    pairs = [(mapping[m], f"openimages:{m}") for m in mids if mapping.get(m)]
    tax.add_all([w for w, _ in pairs], source_ids=[s for _, s in pairs])
    return tax


def ilsvrc_manifest(data: Path, tax: Taxonomy) -> pa.Table:
    """Validation images with original and ReaL labels, direct and propagated."""
    adapter = IlsvrcVal(IlsvrcValConfig(solution=data / "ilsvrc2012" / "LOC_val_solution.csv",
                                        real=data / "imagenet_real" / "real.json",
                                        sorted_order=data / "ilsvrc2012" / "LOC_synset_mapping.txt"))
    images = pa.Table.from_batches(list(adapter.images())).sort_by("image_id")
    labels = pa.Table.from_batches(list(adapter.labels()))
    tax.add_all(pc.unique(labels.column("source_class")).to_pylist(), source="ilsvrc2012")  # e.g. teddy bear
    up = Closure.ancestors(tax)
    columns = {"image_id": images.column("image_id"), "source_image_id": images.column("source_image_id")}
    for kind, name in (("ilsvrc2012", "original"), ("real", "real")):
        part = labels.filter(pc.equal(labels.column("label_source"), kind))
        row = pc.index_in(part.column("image_id"), value_set=images.column("image_id")).to_numpy()
        cls = np.array([tax.dag.index[w] for w in part.column("source_class").to_pylist()], np.int32)
        order = np.argsort(row, kind="stable")
        result = propagate(images.num_rows, LabelRows.of(row[order], cls[order]), up)
        columns[f"{name}_direct"] = result.direct
        columns[f"{name}_labels"] = result.labels
    real_seen = pc.is_in(images.column("image_id"), value_set=labels.filter(
        pc.equal(labels.column("label_source"), "real")).column("image_id"))
    columns["real_excluded"] = pc.invert(real_seen)
    return pa.table(columns)


def coco_manifest(data: Path) -> pa.Table:
    """The COCO 2017 validation images with URLs, as an evaluation image list."""
    adapter = Coco(CocoConfig(annotations=[data / "coco" / "captions_val2017.json"], name="coco2017_val"))
    images = pa.Table.from_batches(list(adapter.images())).sort_by("image_id")
    return images.select(["image_id", "source_image_id", "split", "url"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="regenerate mlbuild's shipped manifests")
    parser.add_argument("--data", type=Path, required=True, help="folder of the real public files")
    parser.add_argument("--out", type=Path, default=Path("manifests"))
    args = parser.parse_args(argv)
    tax = unified_vocabulary(args.data)
    ilsvrc = ilsvrc_manifest(args.data, tax)
    classes, hierarchy = tax.to_tables()
    write_table(classes, args.out / "vocabulary" / "classes.parquet")
    write_table(hierarchy, args.out / "vocabulary" / "hierarchy.parquet")
    write_table(ilsvrc, args.out / "ilsvrc2012_val.parquet")
    write_table(coco_manifest(args.data), args.out / "coco2017_val.parquet")
    print(f"{classes.num_rows:,} classes, {hierarchy.num_rows:,} edges, {ilsvrc.num_rows:,} ILSVRC-2012 val "
          f"images -> {args.out}")


if __name__ == "__main__":
    main()
