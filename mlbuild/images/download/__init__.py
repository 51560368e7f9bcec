"""The async image downloader: HTTP, validation, journal, store, per-process loops."""
