"""Where work runs: local processes or a Dask cluster, behind one Engine interface."""
