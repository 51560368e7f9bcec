"""The embedded sample build: `mlbuild build --out DIR` with no config builds it, offline.

Real-format rows (fall11 TAB list with a non-UTF-8 URL and a row without a TAB, an Open
Images image list, human labels with verified negatives and class descriptions), a local
ImageNet folder tree and an evaluation set; see README.md beside this file.
"""
from __future__ import annotations

from pathlib import Path

from mlbuild.config import BuildConfig, load_config

SAMPLE_DIR = Path(__file__).resolve().parent


def sample_config() -> BuildConfig:
    """The sample's build config, with paths inside the installed package."""
    return load_config(SAMPLE_DIR / "build.toml")
