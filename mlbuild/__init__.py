"""mlbuild: build large multi-label image datasets the way ML-Images was built.

Sources (ImageNet-21k, Open Images, custom lists) are mapped to WordNet 3.0,
merged into one class hierarchy, propagated, deduplicated against evaluation
sets and written as Parquet manifests.
"""

__version__ = "0.1.0"
