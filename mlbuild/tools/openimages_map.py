"""Build and read the shipped Open Images -> WordNet 3.0 table (`wordnet_maps/openimages_wordnet.csv`).

The table maps every V6 class MID by its display name (`NameMapper`), with the
ImageNet-21k synset list as the prior vocabulary of visual WNIDs, the 600-class box
hierarchy as hierarchy evidence, and the reviewed `openimages_overrides.csv` on top.
Regenerate it, deterministically, from the real public files with:

    python -m mlbuild.tools.openimages_map --data ../shared/data
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from mlbuild._util.resources import wordnet_map
from mlbuild.classes.mapping.classes import map_classes
from mlbuild.classes.mapping.names import Mapping, NameMapper
from mlbuild.classes.mapping.tables import OPENIMAGES_TABLE as TABLE
from mlbuild.classes.mapping.tables import read_overrides, write_csv
from mlbuild.sources.openimages import read_descriptions, read_hierarchy, read_mid_list
from mlbuild.sources.wnids import read_wnid_list

OVERRIDES = "openimages_overrides.csv"
COLUMNS = ("mid", "display_name", "wnid", "synset", "method", "score", "reason", "evidence")
# Inputs under the --data folder (the layout of ../shared/data).
DESCRIPTIONS = "openimages/oidv6-class-descriptions.csv"
HIERARCHY = "openimages/bbox_labels_600_hierarchy.json"
VOCABULARY = "imagenet21k/imagenet22k_synsets.txt"
SUBSETS = {"boxable (600 hierarchy)": "openimages/v3_2017_11/classes-bbox.txt",
           "V3 trainable": "openimages/v3_2017_11/classes-trainable.txt"}


@dataclass(frozen=True)
class Inputs:
    """The public files the table is built from."""

    descriptions: Path
    hierarchy: Path | None = None
    vocabulary: Path | None = None
    overrides: Path | None = None

    @classmethod
    def under(cls, data: Path, overrides: Path | None) -> Inputs:
        """The standard file names under a data folder laid out like ../shared/data."""
        return cls(data / DESCRIPTIONS, data / HIERARCHY, data / VOCABULARY, overrides)


def build(inputs: Inputs) -> list[tuple[str, str, Mapping]]:
    """(mid, display name, mapping) for every class, in the descriptions file's order."""
    table = read_descriptions(inputs.descriptions)
    mids, names = table.column("LabelName").to_pylist(), table.column("DisplayName").to_pylist()
    vocabulary = read_wnid_list(inputs.vocabulary, strict=False).to_pylist() if inputs.vocabulary else []
    mapper = NameMapper(vocabulary=vocabulary)
    edges = []
    if inputs.hierarchy:
        tree = read_hierarchy(inputs.hierarchy)
        edges = list(zip(*(tree.column(c).to_pylist() for c in ("child", "parent", "relation"))))
    overrides = read_overrides(inputs.overrides, "mid", mapper.lex.wn) if inputs.overrides else {}
    result = map_classes(mapper, mids, names, edges, overrides)
    return [(mid, name, result[mid]) for mid, name in zip(mids, names)]


def write(rows: list[tuple[str, str, Mapping]], out: Path) -> Path:
    """Write the table atomically."""
    return write_csv(out, COLUMNS, ((mid, name, m.wnid, m.synset, m.method, f"{m.score:.3f}", m.reason,
                                     m.evidence) for mid, name, m in rows))


def coverage(rows: list[tuple[str, str, Mapping]], subset: set[str] | None = None) -> tuple[int, int]:
    """(mapped, total) over all rows or a subset of MIDs."""
    chosen = [m for mid, _, m in rows if subset is None or mid in subset]
    return sum(m.mapped for m in chosen), len(chosen)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: rebuild the table and print coverage."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder laid out like ../shared/data")
    parser.add_argument("--overrides", type=Path, default=wordnet_map(OVERRIDES))
    parser.add_argument("--no-overrides", action="store_true", help="the automatic mapping alone (for review)")
    parser.add_argument("--out", type=Path, default=wordnet_map(TABLE))
    args = parser.parse_args(argv)
    rows = build(Inputs.under(args.data, None if args.no_overrides else args.overrides))
    write(rows, args.out)
    mapped, total = coverage(rows)
    print(f"all V6 classes: {mapped:,}/{total:,} mapped ({mapped / total:.1%}) -> {args.out}")
    for label, rel in SUBSETS.items():
        subset = set(read_mid_list(args.data / rel).to_pylist())
        mapped, total = coverage(rows, subset)
        print(f"{label}: {mapped:,}/{total:,} mapped ({mapped / total:.1%})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
