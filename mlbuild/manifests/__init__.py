"""Stage 5, manifests: the Parquet files a build writes, and reading them back."""
