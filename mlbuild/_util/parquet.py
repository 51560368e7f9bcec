"""Write and read Parquet manifests: atomically (temp + rename) and deterministically."""
from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from mlbuild._util.atomic import write_atomic

# Dictionary encoding only where values repeat: trying it on unique URLs and ids costs time
# and then falls back to plain anyway. zstd level 1: ~2x faster than 3 for a few % in size.
# No min/max statistics: computing them over 23M URLs and label lists costs more than they save.
DICTIONARY_COLUMNS = ["source", "split", "license", "status", "relation", "method", "eval_set"]
WRITE_OPTIONS = dict(compression="zstd", compression_level=1, write_statistics=False,
                     data_page_size=1 << 20)


def write_table(table: pa.Table, path: Path, row_group_size: int = 1 << 20) -> Path:
    """Write table to path atomically (`write_atomic`)."""
    dictionary = [c for c in DICTIONARY_COLUMNS if c in table.column_names]
    dictionary += [f"{c}.list.element" for c in ("label_sources", "label_provenance", "conflicts")
                   if c in table.column_names]
    return write_atomic(path, lambda temp: pq.write_table(table, temp, row_group_size=row_group_size,
                                                          use_dictionary=dictionary, **WRITE_OPTIONS))


def read_table(path: Path, columns: list[str] | None = None) -> pa.Table:
    """Read one Parquet file (no dataset layer, no pandas metadata)."""
    return pq.ParquetFile(path).read(columns=columns)
