"""Project error types and the counted skip report used by every reader.

Errors name the file, line and field that caused them; skipped rows are
counted and summarized (with the first few line numbers), never printed per row.
"""
from __future__ import annotations

from dataclasses import dataclass, field


class MlbuildError(Exception):
    """Base class of every error mlbuild raises on purpose.

    Every subclass pickles, whatever its `__init__` takes: an error raised in a worker process
    comes back to the driver as itself (the one clear line), not as a pickling failure.
    """

    def __reduce__(self) -> tuple:
        return _rebuilt, (type(self), self.args, self.__dict__)


def _rebuilt(cls: type[MlbuildError], args: tuple, state: dict) -> MlbuildError:
    """An unpickled error: its message and attributes restored without calling its `__init__`."""
    err = cls.__new__(cls, *args)
    err.args = args
    err.__dict__.update(state)
    return err


class InputError(MlbuildError):
    """Bad input: names the file, the 1-based line and the field at fault."""

    def __init__(self, path: object, message: str, line: int | None = None,
                 field: str | None = None) -> None:
        self.path, self.line, self.field = str(path), line, field
        where = self.path + (f":{line}" if line is not None else "")
        what = f"field {field!r}: " if field else ""
        super().__init__(f"{where}: {what}{message}")


class OutputError(MlbuildError):
    """An output that cannot be written (full disk, read-only, a file where a folder should be),
    or a folder mlbuild will not write into because it does not own it."""

    def __init__(self, path: object, reason: object) -> None:
        self.path = str(path)
        self.reason = f"cannot write: {reason.strerror or reason}" if isinstance(reason, OSError) else str(reason)
        super().__init__(f"{self.path}: {self.reason}")


class UnknownClassError(MlbuildError):
    """A WNID, synset name or class that the vocabulary does not know."""


class TaxonomyError(MlbuildError):
    """An operation that would break the class DAG (cycle, missing class)."""


@dataclass
class SkipReport:
    """Counts rows a reader skipped, keeping the first few line numbers as evidence."""

    path: str
    keep: int = 20
    count: int = 0
    examples: list[tuple[int, str]] = field(default_factory=list)

    def add(self, line: int, reason: str) -> None:
        """Record one skipped row."""
        self.count += 1
        if len(self.examples) < self.keep:
            self.examples.append((line, reason))

    def extend(self, lines: list[int], reason: str) -> None:
        """Record many skipped rows sharing one reason."""
        self.count += len(lines)
        room = self.keep - len(self.examples)
        self.examples.extend((line, reason) for line in lines[:max(room, 0)])

    def summary(self) -> str:
        """One line for logs and build.json."""
        if not self.count:
            return f"{self.path}: no rows skipped"
        shown = ", ".join(f"line {n}: {why}" for n, why in self.examples[:5])
        return f"{self.path}: {self.count} rows skipped ({shown}{', ...' if self.count > 5 else ''})"
