"""Class vocabularies from WNID list files and published hierarchies, written as manifests."""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from mlbuild._util.ownership import claim_output_dir
from mlbuild._util.parquet import write_table
from mlbuild.classes.taxonomy import DEFAULT_RELATIONS, Taxonomy
from mlbuild.sources.hierarchies import PublishedHierarchy, read_hierarchy
from mlbuild.sources.wnids import read_wnid_file, read_wnid_list


def source_name(spec: str) -> tuple[str, Path]:
    """Split `NAME=PATH` (or a plain PATH, named by its stem) into (name, path)."""
    name, sep, path = spec.partition("=")
    return (name, Path(path)) if sep else (Path(spec).stem, Path(spec))


def fixed_vocabulary(path: Path | None, hierarchy: PublishedHierarchy | None = None,
                     ) -> tuple[list[str], list[str | None]] | None:
    """(WNIDs, names) of a fixed vocabulary: the file's lines (strict: `WNID[<TAB>name]`, no repeats),
    else the published hierarchy's classes in its order; None when neither is given.

    A WNID without a name in the file takes the hierarchy's name, if it has one.
    """
    published = dict(zip(hierarchy.wnids, hierarchy.names)) if hierarchy is not None else {}
    if path is None:
        return (list(hierarchy.wnids), list(hierarchy.names)) if hierarchy is not None else None
    table = read_wnid_file(path, strict=True)
    wnids = table.column("wnid").to_pylist()
    names = [n or published.get(w) for w, n in zip(wnids, table.column("name").to_pylist())]
    return wnids, names


def build_vocabulary(specs: Iterable[str], relations: Iterable[str] = DEFAULT_RELATIONS,
                     vocabulary: Path | None = None, hierarchy: tuple[Path, str] | None = None,
                     tree: bool = False) -> Taxonomy:
    """A taxonomy of the union of the WNID lists, each remembered as a source.

    With `vocabulary` (a WNID list) or `hierarchy` ((file, format)), the classes are fixed as
    `[classes] vocabulary` / `[taxonomy] hierarchy` fix them in a build; `tree` keeps one parent each.
    """
    tax = Taxonomy(relations=relations, tree=tree)
    if hierarchy is not None:
        tax.use_hierarchy(read_hierarchy(*hierarchy))
    for spec in specs:
        name, path = source_name(spec)
        tax.add_all(read_wnid_list(path, strict=False).to_pylist(), source=name)
    fixed = fixed_vocabulary(vocabulary, tax.hierarchy)
    if fixed is not None:
        tax.fix_vocabulary(*fixed)
    return tax


def write_vocabulary(tax: Taxonomy, out_dir: Path) -> tuple[Path, Path]:
    """Write classes.parquet and hierarchy.parquet into out_dir (an mlbuild `vocab` folder)."""
    out_dir = claim_output_dir(Path(out_dir), "vocab")
    classes, hierarchy = tax.to_tables()
    return write_table(classes, out_dir / "classes.parquet"), write_table(hierarchy, out_dir / "hierarchy.parquet")
