"""Source adapters: each reads one source's files and yields the common Arrow schemas.

See `base.SourceAdapter` for the contract and docs/sources.md for every adapter's
options and the quirks of the real files it handles.
"""
from mlbuild.sources.base import RepairReport, SourceAdapter

__all__ = ["RepairReport", "SourceAdapter"]
