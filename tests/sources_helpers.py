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
