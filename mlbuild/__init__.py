"""mlbuild: build large multi-label image datasets the way ML-Images was built.

Sources (ImageNet-21k, Open Images, custom lists) are mapped to WordNet 3.0,
merged into one class hierarchy, propagated, deduplicated against evaluation
sets and written as Parquet manifests.

The names in `__all__` are the public API (docs/api.md). They are imported on
first use, so `import mlbuild` stays cheap and the stage modules may import
`mlbuild.__version__` without a cycle.
"""
from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> (module, attribute in that module)
_EXPORTS: dict[str, tuple[str, str]] = {
    "build": ("mlbuild.pipeline", "build"),
    "BuildResult": ("mlbuild.pipeline", "BuildResult"),
    "BuildConfig": ("mlbuild.config", "BuildConfig"),
    "load_config": ("mlbuild.config", "load_config"),
    "config_from_dict": ("mlbuild.config", "config_from_dict"),
    "Taxonomy": ("mlbuild.classes.taxonomy", "Taxonomy"),
    "build_vocabulary": ("mlbuild.classes.vocabulary", "build_vocabulary"),
    "map_names": ("mlbuild.classes.mapping", "map_names"),
    "load_wordnet": ("mlbuild.classes.wordnet", "load"),
    "make_adapter": ("mlbuild.sources.registry", "make_adapter"),
    "download": ("mlbuild.images.download.downloader", "download"),
    "DownloadConfig": ("mlbuild.images.download.config", "DownloadConfig"),
    "hash_images": ("mlbuild.images.hash_keys", "hash_table"),
    "find_near_duplicates": ("mlbuild.images.neardup", "dedup_pairs"),
    "inspect": ("mlbuild.manifests.summary", "summarize"),
    "read_table": ("mlbuild._util.parquet", "read_table"),
    "MlbuildError": ("mlbuild.errors", "MlbuildError"),
    "InputError": ("mlbuild.errors", "InputError"),
}

__all__ = [
    "__version__",
    "build",
    "BuildResult",
    "BuildConfig",
    "load_config",
    "config_from_dict",
    "Taxonomy",
    "build_vocabulary",
    "map_names",
    "load_wordnet",
    "make_adapter",
    "download",
    "DownloadConfig",
    "hash_images",
    "find_near_duplicates",
    "inspect",
    "read_table",
    "MlbuildError",
    "InputError",
]

if TYPE_CHECKING:
    from mlbuild._util.parquet import read_table
    from mlbuild.classes.mapping import map_names
    from mlbuild.classes.taxonomy import Taxonomy
    from mlbuild.classes.vocabulary import build_vocabulary
    from mlbuild.classes.wordnet import load as load_wordnet
    from mlbuild.config import BuildConfig, config_from_dict, load_config
    from mlbuild.errors import InputError, MlbuildError
    from mlbuild.images.download.config import DownloadConfig
    from mlbuild.images.download.downloader import download
    from mlbuild.images.hash_keys import hash_table as hash_images
    from mlbuild.images.neardup import dedup_pairs as find_near_duplicates
    from mlbuild.manifests.summary import summarize as inspect
    from mlbuild.pipeline import BuildResult, build
    from mlbuild.sources.registry import make_adapter


def __getattr__(name: str) -> Any:
    """Import a public name's module on first use (PEP 562)."""
    try:
        module, attribute = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'mlbuild' has no attribute {name!r}") from None
    value = getattr(import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
