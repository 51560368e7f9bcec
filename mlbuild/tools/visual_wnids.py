"""Build the shipped visual prior vocabulary `wordnet_maps/visual_wnids.txt`.

The WNIDs of every ImageNet-21k (fall11) synset, plus the ILSVRC-2012 classes (one of them,
n04399382 teddy bear, is not in fall11): the synsets people have photographed and labelled.
A line `wnid<TAB>500` marks a synset with at least 500 images: the classes Alibaba-MIIL's
ImageNet-21K-P kept from fall11 after removing those with fewer than 500 images, and the
ILSVRC-2012 classes (732 or more training images each). Name mapping prefers these synsets by
default. Regenerate, byte for byte, with:

    python -m mlbuild.tools.visual_wnids --data ../shared/data
"""
from __future__ import annotations

import argparse
from pathlib import Path

from mlbuild._util.resources import wordnet_map
from mlbuild.classes.mapping.tables import VISUAL_WNIDS, write_lines
from mlbuild.sources.wnids import read_wnid_list

LISTS = ("imagenet21k/imagenet22k_synsets.txt", "ilsvrc2012/LOC_synset_mapping.txt")
FREQUENT = ("imagenet21k/imagenet21k_miil_synsets.txt", "ilsvrc2012/LOC_synset_mapping.txt")
FREQUENT_IMAGES = 500


def build(data: Path, out: Path) -> int:
    """Write the sorted union of the lists under data, frequent synsets marked; returns its size."""
    wnids = sorted({w for rel in LISTS for w in read_wnid_list(data / rel, strict=False).to_pylist()})
    frequent = {w for rel in FREQUENT for w in read_wnid_list(data / rel, strict=False).to_pylist()}
    write_lines(out, (f"{w}\t{FREQUENT_IMAGES}" if w in frequent else w for w in wnids))
    return len(wnids)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder laid out like ../shared/data")
    parser.add_argument("--out", type=Path, default=wordnet_map(VISUAL_WNIDS))
    args = parser.parse_args(argv)
    print(f"{build(args.data, args.out):,} WNIDs -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
