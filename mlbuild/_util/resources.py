"""Locate the data folders the package ships (`wordnet_maps/`, `manifests/`).

In a wheel they live inside the package (`mlbuild/_data/...`, hatchling
force-include); in a source checkout they are the repository's top-level folders.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path


def data_dir(name: str) -> Path:
    """Path of a shipped data folder: 'wordnet_maps' or 'manifests'."""
    packaged = Path(str(resources.files("mlbuild"))) / "_data" / name
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[2] / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"mlbuild data folder {name!r} is missing from this install")


def wordnet_map(filename: str) -> Path:
    """Path of one file in `wordnet_maps/`."""
    return data_dir("wordnet_maps") / filename
