"""Small shared helpers (arrays, memory, threads, progress, shipped data, Parquet I/O); private to mlbuild."""
