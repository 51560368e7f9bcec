"""The package's layer rules (docs/architecture.md), checked on every import statement.

Each top-level part of `mlbuild` has a rank in the data flow; a module may import its own part
and parts of lower rank only. The sanctioned upward edges: `mlbuild.config` reads the
downloader's own settings class (`mlbuild.images.download.config`) and, through the adapter registry,
each adapter's config class (`mlbuild.sources.registry`): stage configs beside their stages, which the
one config schema checks at load time.
"""
from __future__ import annotations

import ast
from pathlib import Path

import mlbuild

PACKAGE = Path(mlbuild.__file__).parent

# part -> rank; a part may import parts of equal or lower rank
RANKS = {
    "errors": 0, "schemas": 0, "_util": 0,
    "engines": 1,
    "config": 2, "config_check": 2,
    "sources": 3,
    "classes": 4,
    "labels": 5,
    "images": 6,
    "manifests": 7,
    "pipeline": 8,
    "sample": 9,
    "loaders": 9,
    "commands": 10, "tools": 10, "cli": 10, "__main__": 11, "__init__": 11,
}
SANCTIONED = {
    ("config", "mlbuild.images.download.config"),
    ("config", "mlbuild.sources.registry"),  # each adapter's config class: the schema of its [[source]] table
}


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported mlbuild module) for every import in a file, `from mlbuild import x` as mlbuild.x."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "mlbuild":
            if node.module == "mlbuild":
                found += [(node.lineno, f"mlbuild.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "mlbuild"]
    return found


def part_of(module: str) -> str:
    """Top-level part of a dotted module name: mlbuild.images.neardup -> images."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def file_violations(path: Path, here: str) -> list[str]:
    """The imports of one file, which belongs to part `here`, that break the rules."""
    out = []
    for line, target in imports(path):
        there = part_of(target)
        if there == "__version__" or (here, target) in SANCTIONED:
            continue
        if there not in RANKS or here not in RANKS:
            out.append(f"{path}:{line}: part {here if here not in RANKS else there!r} has no rank in RANKS")
        elif RANKS[there] > RANKS[here]:
            out.append(f"{path}:{line}: {here} (rank {RANKS[here]}) imports {target} (rank {RANKS[there]})")
    return out


def violations() -> list[str]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        out += file_violations(path, part_of(".".join(rel.parts)))
    return out


def test_no_lower_layer_imports_a_higher_one():
    assert violations() == []


def test_every_top_level_entry_has_a_rank():
    entries = {p.stem for p in PACKAGE.iterdir() if (p.suffix == ".py" or (p / "__init__.py").is_file())}
    assert entries - set(RANKS) == set()


def test_the_checker_catches_an_upward_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from mlbuild.pipeline import build\nfrom mlbuild import schemas\n")
    found = file_violations(bad, "sources")                       # as if it were a source adapter
    assert len(found) == 1 and "sources (rank 3) imports mlbuild.pipeline" in found[0]
    assert file_violations(bad, "commands") == []                  # a face may import anything
