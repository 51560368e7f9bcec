"""Helpers shared by the tests of mlbuild.sources."""
from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa


def assert_conforms(data: pa.Table | pa.RecordBatch | Iterable[pa.RecordBatch], schema: pa.Schema) -> pa.Table:
    """Assert every batch has exactly `schema` and no nulls in non-nullable fields; return them as a table."""
    batches = [data] if isinstance(data, (pa.Table, pa.RecordBatch)) else list(data)
    for batch in batches:
        assert batch.schema.equals(schema), f"schema differs:\n{batch.schema}\n!=\n{schema}"
        for f in schema:
            if not f.nullable:
                assert batch.column(f.name).null_count == 0, f"nulls in non-nullable {f.name}"
    tables = [b if isinstance(b, pa.Table) else pa.Table.from_batches([b]) for b in batches]
    return pa.concat_tables(tables) if tables else schema.empty_table()


def reference_tokens(line: str, n_classes: int) -> tuple[str, list[tuple[int, float]], list[str]]:
    """A line read the slow way: (image, valid (idx, conf) labels, reasons of bad tokens)."""
    fields = line.split()
    good, bad = [], []
    for token in fields[1:]:
        idx, _, conf = token.partition(":")
        try:
            i, c = int(idx), float(conf)
        except ValueError:
            bad.append("label token is not idx:conf")
            continue
        if i >= n_classes:
            bad.append("label index beyond")
        elif not 0 < c <= 1:
            bad.append("label confidence not in (0, 1]")
        else:
            good.append((i, c))
    return (fields[0] if fields else ""), good, bad
