"""The config schema: a TOML table checked against a dataclass's type hints and field metadata.

One checker for every table of a build config (sections, [build], each source's options):
- keys must be fields of the dataclass (near misses get a "did you mean");
- values must have the field's type: `bool` is only `true`/`false` (never a string),
  `int` is never a boolean, `float` takes integers, `Path` is resolved against the
  config's folder, `list[X]` also takes a single X, `X | None` takes X;
- field metadata adds `choices` (allowed values), `min`/`max` (inclusive bounds), `above`
  (exclusive lower bound),
  `keys` (required keys of a table), `names` (for `str | Path` fields: the strings that
  are names, not paths; `folder`: the key that must then say where the named files are)
  and `output` (a path that need not exist; other paths are inputs and must).
Every mistake is one line naming the file, line, `[section] key`, what was given and
what is allowed; all mistakes of a config are reported together as one `ConfigError`.
"""
from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlbuild.errors import InputError, MlbuildError


class ConfigError(InputError):
    """One or more config mistakes, one line each (file:line: [section] key: what, allowed)."""

    def __init__(self, path: object, lines: list[str]) -> None:
        self.path, self.line, self.field, self.lines = str(path), None, None, lines
        MlbuildError.__init__(self, "\n".join(lines))


@dataclass
class Place:
    """Where a table is: the config file, its TOML text (for line numbers), the table's header."""

    origin: str
    base: Path = Path(".")
    text: str | None = None
    header: str = ""          # TOML header name: "classes", "source", "build"
    index: int = 0            # which [[header]] table (0-based), for arrays of tables
    errors: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        """`[classes]` or `[[source]] #2` as the user reads it."""
        if not self.header:
            return "(top level)"
        return f"[[{self.header}]] #{self.index + 1}" if self.header in ARRAY_TABLES else f"[{self.header}]"

    def at(self, header: str, index: int = 0) -> Place:
        """The same config, another table (errors are shared)."""
        return Place(self.origin, self.base, self.text, header, index, self.errors)

    def error(self, key: str | None, message: str) -> None:
        """Record one mistake about `key` (None: the table itself)."""
        line = find_line(self.text, self.header, self.index, key) or find_line(self.text, self.header, self.index, None)
        where = self.origin + (f":{line}" if line else "")
        what = f"{self.label} {key}" if key else self.label
        self.errors.append(f"{where}: {what}: {message}")

    def raise_errors(self) -> None:
        """Raise every recorded mistake as one ConfigError."""
        if self.errors:
            raise ConfigError(self.origin, list(self.errors))


ARRAY_TABLES = ("source", "eval")


class _Bad(Exception):
    """A value that does not fit: what was expected."""


def did_you_mean(given: str, allowed: list[str] | tuple[str, ...]) -> str:
    """` (did you mean 'x'?)` for a near miss among `allowed`, else ''."""
    close = difflib.get_close_matches(str(given), [str(a) for a in allowed], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_table(cls: type[Any], table: Any, place: Place, extra: type[Any] | None = None,
                only: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The table's values converted to `cls`'s field types; mistakes are recorded in `place`.

    `only` restricts the keys to those fields of `cls`; the fields of the dataclass `extra`
    are allowed too (the [download] table holds the downloader's settings).
    """
    if not isinstance(table, dict):
        place.error(None, f"must be a table, got {_show(table)}")
        return {}
    specs = {f.name: (f, hint) for f, hint in zip(dataclasses.fields(cls), _hints(cls))
             if only is None or f.name in only}
    if extra is not None:
        specs |= {f.name: (f, hint) for f, hint in zip(dataclasses.fields(extra), _hints(extra))}
    allowed = sorted(specs)
    out: dict[str, Any] = {}
    for key, value in table.items():
        if key not in specs:
            place.error(key, f"unknown key{did_you_mean(key, allowed)}; allowed: {', '.join(allowed)}")
            continue
        spec, hint = specs[key]
        meta = dict(spec.metadata)
        try:
            out[key] = convert(hint, value, meta, place.base)
        except _Bad as bad:
            place.error(key, f"got {_show(value)}, {bad}")
            continue
        _check_inputs(key, out[key], meta, table, place)
    for key, (spec, _) in specs.items():
        if key not in table and _required(spec):
            place.error(key, "missing: this key is required")
    return out


def _check_inputs(key: str, value: Any, meta: dict[str, Any], table: dict, place: Place) -> None:
    """Paths are inputs and must exist (unless meta["output"]); a name from meta["names"] needs its folder key."""
    for item in value if isinstance(value, (list, tuple)) else [value]:
        if isinstance(item, Path) and not meta.get("output") and not item.exists():
            place.error(key, f"{item}: no such file or folder")
        folder = meta.get("folder")
        if folder and isinstance(item, str) and item in meta.get("names", ()) and table.get(folder) is None:
            place.error(key, f"{item!r} is a named list: set `{folder}` to the folder that holds it")


def _hints(cls: type) -> list[Any]:
    hints = typing.get_type_hints(cls)
    return [hints[f.name] for f in dataclasses.fields(cls)]


def _required(spec: dataclasses.Field) -> bool:
    return spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING


def convert(hint: Any, value: Any, meta: dict[str, Any], base: Path) -> Any:
    """`value` as type `hint` (paths resolved against `base`), checked against `meta`; _Bad if it does not fit."""
    if hint is Any or hint is None:
        return value
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return _union(args, value, meta, base)
    if origin in (list, tuple):
        items = value if isinstance(value, (list, tuple)) else [value]  # one value for a one-item list
        converted = [convert(args[0], item, meta, base) for item in items]
        return converted if origin is list else tuple(converted)
    if origin is dict:
        return _table(value, meta)
    return _limits(_scalar(hint, value, base), meta)


def _union(args: tuple, value: Any, meta: dict[str, Any], base: Path) -> Any:
    options = [a for a in args if a is not type(None)]
    if value is None and len(options) < len(args):
        return None
    if set(options) == {str, Path}:   # a name from meta["names"] / meta["pattern"], else a path
        if isinstance(value, str) and _is_name(value, meta):
            return value
        return convert(Path, value, meta, base)
    if len(options) == 1:
        return convert(options[0], value, meta, base)
    for option in options:
        try:
            return convert(option, value, meta, base)
        except _Bad:
            continue
    raise _Bad("expected " + " or ".join(_type_name(o) for o in options))


def _is_name(value: str, meta: dict[str, Any]) -> bool:
    return value in meta.get("names", ()) or bool(meta.get("pattern") and re.fullmatch(meta["pattern"], value))


def _table(value: Any, meta: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Bad("expected a table {key = value, ...}")
    keys = meta.get("keys")
    if keys is not None and set(value) != set(keys):
        raise _Bad(f"expected a table with exactly the keys {', '.join(keys)}")
    if keys is not None and not all(isinstance(v, str) for v in value.values()):
        raise _Bad("expected text values")
    return dict(value)


def _scalar(hint: Any, value: Any, base: Path) -> Any:
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise _Bad("expected true or false (a TOML boolean" + (", not a string)" if isinstance(value, str) else ")"))
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _Bad("expected an integer")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise _Bad("expected a number")
    if hint is str:
        if isinstance(value, str):
            return value
        raise _Bad("expected a string")
    if hint is Path:
        if isinstance(value, (str, Path)) and str(value):
            return base / value
        raise _Bad("expected a path (a string)")
    if isinstance(value, hint):
        return value
    raise _Bad(f"expected {_type_name(hint)}")


def _limits(value: Any, meta: dict[str, Any]) -> Any:
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        raise _Bad(f"allowed: {', '.join(map(repr, choices))}{did_you_mean(value, choices)}")
    if "min" in meta and value < meta["min"]:
        raise _Bad(f"must be >= {meta['min']}")
    if "above" in meta and value <= meta["above"]:
        raise _Bad(f"must be > {meta['above']}")
    if "max" in meta and value > meta["max"]:
        raise _Bad(f"must be <= {meta['max']}")
    return value


def field_problem(value: Any, meta: dict[str, Any]) -> str | None:
    """What is wrong with a value under its field's metadata (choices, bounds), or None."""
    try:
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if item is not None:
                _limits(item, meta)
    except _Bad as bad:
        return f"got {_show(value)}, {bad}"
    return None


def _type_name(hint: Any) -> str:
    return {bool: "true/false", int: "an integer", float: "a number", str: "a string",
            Path: "a path"}.get(hint, getattr(hint, "__name__", str(hint)))


def _show(value: Any) -> str:
    text = repr(value)
    return (text[:60] + "...") if len(text) > 63 else text


_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\"']+)\s*\]\]?")


def find_line(text: str | None, header: str, index: int, key: str | None) -> int | None:
    """1-based line of `key` in the `index`-th `[header]` / `[[header]]` table (of the header if key is None).

    A light scan (TOML keeps no positions): top-level keys before any header have header "".
    """
    if text is None:
        return None
    current, seen = "", {"": 0}
    for number, line in enumerate(text.splitlines(), start=1):
        match = _HEADER.match(line)
        if match:
            current = match.group(2).strip("\"'")
            seen[current] = seen.get(current, -1) + 1
            if key is None and current == header and seen[current] == index:
                return number
            continue
        if key is not None and current == header and seen.get(current) == index and \
                re.match(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=", line):
            return number
    return None


def schema_rows(cls: type[Any], only: tuple[str, ...] | None = None) -> list[tuple[str, str, str, str]]:
    """(key, type, default, allowed) of every field, as docs/config.md writes them."""
    rows = []
    for spec, hint in zip(dataclasses.fields(cls), _hints(cls)):
        if only is None or spec.name in only:
            rows.append((spec.name, type_text(hint), default_text(spec), allowed_text(hint, dict(spec.metadata))))
    return rows


def type_text(hint: Any) -> str:
    """`int`, `list of path`, `name or path`, ... for a type hint."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        if set(options) == {str, Path}:
            return "name or path"
        return " or ".join(type_text(o) for o in options)
    if origin in (list, tuple):
        return f"list of {type_text(args[0])}"
    if origin is dict:
        return "table"
    return {bool: "bool", int: "int", float: "float", str: "string", Path: "path"}.get(hint, str(hint))


def default_text(spec: dataclasses.Field) -> str:
    """The default as TOML would write it; `required` when there is none."""
    if spec.default is not dataclasses.MISSING:
        value = spec.default
    elif spec.default_factory is not dataclasses.MISSING:
        value = spec.default_factory()
    else:
        return "required"
    return _toml_text(value)


def _toml_text(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_text(v) for v in value) + "]"
    if isinstance(value, (str, Path)):
        return f'"{value}"'
    return str(value)


def allowed_text(hint: Any, meta: dict[str, Any]) -> str:
    """The allowed values a field's metadata gives (choices, bounds, table keys, names)."""
    parts = []
    if "choices" in meta:
        parts.append(", ".join(f'"{c}"' for c in meta["choices"]))
    if "min" in meta or "max" in meta:
        lo, hi = meta.get("min"), meta.get("max")
        parts.append(f"{lo}..{hi}" if lo is not None and hi is not None else f">= {lo}" if lo is not None
                     else f"<= {hi}")
    if "above" in meta:
        parts.append(f"> {meta['above']}")
    if "keys" in meta:
        parts.append("{" + ", ".join(meta["keys"]) + "}")
    if "names" in meta:
        parts.append(("a WNID, " if meta.get("pattern") else "") + "a named list or a file")
    return "; ".join(parts)
