"""Write and read Parquet manifests: atomically (temp + rename) and deterministically."""
from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

WRITE_OPTIONS = dict(compression="zstd", compression_level=3, write_statistics=True,
                     use_dictionary=True, data_page_size=1 << 20)


def write_table(table: pa.Table, path: Path, row_group_size: int = 1 << 20) -> Path:
    """Write table to path through a temporary file and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    pq.write_table(table.replace_schema_metadata(table.schema.metadata), partial,
                   row_group_size=row_group_size, **WRITE_OPTIONS)
    with open(partial, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(partial, path)
    return path


def read_table(path: Path, columns: list[str] | None = None) -> pa.Table:
    """Read one Parquet file (no dataset layer, no pandas metadata)."""
    return pq.ParquetFile(path).read(columns=columns)
