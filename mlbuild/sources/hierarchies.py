"""Published class hierarchies, read strictly: Tencent ML-Images' dictionary, YOLO9000's WordTree, ImageNet's is_a.

Each becomes a `PublishedHierarchy`: its classes in the file's own order (the order a
vocabulary taken from it keeps), their names when the file has them, and its parent edges.
- `tencent`: `dictionary_and_semantic_hierarchy.txt`, a header
  `category_index<TAB>category_id<TAB>index_of_parent_category<TAB>category name`, then one row per
  class: index (0, 1, ... in order), WNID, parent index (-1 for a root), name. One parent per class.
- `wordtree`: `9k.tree`, lines `WNID parent_line_index` (-1 for a root); names from `9k.names`
  (one per line, same order) when that file sits beside it.
- `is_a`: ImageNet's `wordnet.is_a.txt`, lines `parent_wnid child_wnid`, unsorted; its classes are
  every WNID it names, in sorted order, and it has no names.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlbuild.errors import InputError
from mlbuild.sources.textio import fail_at_first, text_lines
from mlbuild.sources.wnids import is_wnid

TENCENT_HEADER = "category_index\tcategory_id\tindex_of_parent_category\tcategory name"
FORMATS = ("tencent", "wordtree", "is_a")


@dataclass(frozen=True)
class PublishedHierarchy:
    """A published hierarchy: classes in file order, their names (or None), parent edges as WNIDs."""

    path: Path
    format: str
    wnids: list[str]
    names: list[str | None]
    edges: list[tuple[str, str]]      # (child, parent), in file order

    def parents(self) -> dict[str, list[str]]:
        """Child WNID -> its parents in file order (every class present, roots with none)."""
        out: dict[str, list[str]] = {w: [] for w in self.wnids}
        for child, parent in self.edges:
            out[child].append(parent)
        return out


def read_hierarchy(path: Path, fmt: str) -> PublishedHierarchy:
    """Read a published hierarchy file of format `fmt` (one of FORMATS)."""
    readers = {"tencent": read_tencent_dictionary, "wordtree": read_wordtree, "is_a": read_is_a}
    if fmt not in readers:
        raise InputError(path, f"unknown hierarchy format {fmt!r}; choose from {list(FORMATS)}",
                         field="hierarchy_format")
    return readers[fmt](Path(path))


def read_tencent_dictionary(path: Path) -> PublishedHierarchy:
    """Tencent ML-Images' `dictionary_and_semantic_hierarchy.txt` (index, WNID, parent index, name)."""
    lines = text_lines(path)
    if not len(lines) or lines[0].as_py() != TENCENT_HEADER:
        raise InputError(path, f"the first line must be the header {TENCENT_HEADER!r}", line=1)
    body = lines.slice(1)
    fields = pc.split_pattern(body, "\t", max_splits=3)
    fail_at_first(path, pc.not_equal(pc.list_value_length(fields), 4),
                  "not `index<TAB>WNID<TAB>parent index<TAB>name`", lines=np.arange(2, len(body) + 2))
    index, wnids, parents, names = (pc.list_element(fields, i) for i in range(4))
    expected = pa.array(np.arange(len(body)).astype(str))
    fail_at_first(path, pc.not_equal(index, expected), "category_index is not the row's number (0, 1, ...)",
                  "category_index", lines=np.arange(2, len(body) + 2))
    return _by_index(path, "tencent", wnids, parents, names.to_pylist(), first_line=2)


def read_wordtree(path: Path) -> PublishedHierarchy:
    """YOLO9000's `9k.tree` (`WNID parent_line_index`), with names from `9k.names` beside it if present."""
    lines = text_lines(path)
    fields = pc.utf8_split_whitespace(lines)
    fail_at_first(path, pc.not_equal(pc.list_value_length(fields), 2), "not `WNID parent_line_index`")
    names_file = Path(path).with_suffix(".names")
    names: list[str | None] = [None] * len(lines)
    if names_file.is_file():
        names = text_lines(names_file).to_pylist()
        if len(names) != len(lines):
            raise InputError(names_file, f"{len(names):,} names for the {len(lines):,} classes of {path}")
    return _by_index(path, "wordtree", pc.list_element(fields, 0), pc.list_element(fields, 1), names, first_line=1)


def read_is_a(path: Path) -> PublishedHierarchy:
    """ImageNet's `wordnet.is_a.txt` (`parent_wnid child_wnid` per line); classes sorted by WNID."""
    lines = text_lines(path)
    lines = lines.filter(pc.not_equal(lines, ""))
    fields = pc.utf8_split_whitespace(lines)
    fail_at_first(path, pc.not_equal(pc.list_value_length(fields), 2), "not `parent_wnid child_wnid`")
    parent, child = pc.list_element(fields, 0), pc.list_element(fields, 1)
    fail_at_first(path, pc.invert(pc.and_(is_wnid(parent), is_wnid(child))), "not a WNID (n + 8 digits)")
    edges = list(zip(child.to_pylist(), parent.to_pylist()))
    wnids = sorted({w for edge in edges for w in edge})
    return _checked(PublishedHierarchy(Path(path), "is_a", wnids, [None] * len(wnids), edges))


def _by_index(path: Path, fmt: str, wnids: pa.Array, parents: pa.Array, names: list[str | None],
              first_line: int) -> PublishedHierarchy:
    """A hierarchy given as rows with a parent row index (-1 = root)."""
    numbers = np.arange(first_line, first_line + len(wnids))
    fail_at_first(path, pc.invert(is_wnid(wnids)), "not a WNID (n + 8 digits)", "wnid", lines=numbers)
    ok = pc.match_substring_regex(parents, r"^(-1|[0-9]+)$")
    fail_at_first(path, pc.invert(ok), "parent is not a row index or -1", "parent", lines=numbers)
    parent = np.asarray(parents.cast(pa.int64()))
    fail_at_first(path, parent >= len(wnids), f"parent index beyond the last row ({len(wnids) - 1})", "parent",
                  lines=numbers)
    wnid_list = wnids.to_pylist()
    edges = [(wnid_list[i], wnid_list[p]) for i, p in enumerate(parent.tolist()) if p >= 0]
    return _checked(PublishedHierarchy(Path(path), fmt, wnid_list, names, edges))


def _checked(hierarchy: PublishedHierarchy) -> PublishedHierarchy:
    """The hierarchy, if its WNIDs are unique and its edges make no cycle (InputError otherwise)."""
    seen: set[str] = set()
    for number, wnid in enumerate(hierarchy.wnids):
        if wnid in seen:
            raise InputError(hierarchy.path, f"class {wnid} occurs twice (row {number})", field="wnid")
        seen.add(wnid)
    parents = hierarchy.parents()
    state: dict[str, int] = {}   # 1 = on the current path, 2 = done
    for start in hierarchy.wnids:
        stack = [(start, iter(parents[start]))]
        while stack:
            node, rest = stack[-1]
            state[node] = 1
            nxt = next(rest, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                raise InputError(hierarchy.path, f"the hierarchy has a cycle through {nxt} and {node}")
            elif nxt not in state:
                stack.append((nxt, iter(parents[nxt])))
    return hierarchy
