"""docs/config.md lists every config key with the type, default and allowed values the schema has."""
from __future__ import annotations

import re
from pathlib import Path

from mlbuild import config
from mlbuild.images.download.config import DownloadConfig
from mlbuild.sources.wnids import CLASS_LISTS

DOCS = Path(__file__).resolve().parent.parent / "docs" / "config.md"
HEADING = re.compile(r"^#{2,3} `(.+)`\s*$")


def documented_tables(text: str) -> dict[str, dict[str, tuple[str, str, str]]]:
    """Heading -> key -> (type, default, allowed) of the 5-column key tables of docs/config.md."""
    tables: dict[str, dict[str, tuple[str, str, str]]] = {}
    current = None
    for line in text.splitlines():
        heading = HEADING.match(line)
        if heading:
            current = tables.setdefault(heading.group(1), {})
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if current is not None and len(cells) == 5 and re.fullmatch(r"`[a-z_]+`", cells[0]):
            current[cells[0].strip("`")] = (cells[1], cells[2], cells[3])
    return tables


def row(key: str, type_: str, default: str, allowed: str) -> str:
    return f"| `{key}` | {type_} | {default} | {allowed} | <what it does> |"


def test_docs_list_every_key_as_the_schema_says() -> None:
    docs = documented_tables(DOCS.read_text(encoding="utf-8"))
    problems = []
    for title, rows in config.schema_tables().items():
        if title not in docs:
            problems.append(f'add a heading "### `{title}`" with the table '
                            "| key | type | default | allowed | meaning | and a row per key")
            continue
        for key, *schema in rows:
            found = docs[title].get(key)
            if found is None:
                problems.append(f"under `{title}`, add the row: {row(key, *schema)}")
            elif list(found) != schema:
                problems.append(f"under `{title}`, the row of `{key}` says {list(found)}; the schema says "
                                f"{schema}: write {row(key, *schema)}")
        for key in sorted(set(docs[title]) - {r[0] for r in rows}):
            problems.append(f"under `{title}`, remove the row of `{key}`: the schema has no such key")
    assert not problems, "docs/config.md does not match the config schema (mlbuild/config.py and the " \
                         "adapters' config classes):\n" + "\n".join(problems)


def test_docs_parser_sees_a_wrong_row() -> None:
    """The comparison can fail: a changed default is caught."""
    text = DOCS.read_text(encoding="utf-8").replace("| `min_images` | int | 0 |", "| `min_images` | int | 1 |")
    assert documented_tables(text)["[classes]"]["min_images"][1] == "1"


def test_config_constants_agree_with_their_modules() -> None:
    from mlbuild.classes.wordnet.graph import RELATIONS
    from mlbuild.images.download.results import RETRY_MODES
    assert config.RELATIONS == RELATIONS
    assert config.CLASS_LIST_NAMES == tuple(CLASS_LISTS)
    assert DownloadConfig.__dataclass_fields__["retry"].metadata["choices"] == RETRY_MODES
