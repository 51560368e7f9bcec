"""The Arrow schemas every source adapter yields, so later stages never know the source.

An adapter (see `mlbuild.sources.base.SourceAdapter`) yields:
- classes: one row per class of the source's own vocabulary (`CLASSES`);
- hierarchy: the source's own parent edges, if it has any (`SOURCE_EDGES`);
- images: record batches of `IMAGES`;
- labels: record batches of `LABELS` (image-level labels, positives and verified negatives).
"""
from __future__ import annotations

import pyarrow as pa

IMAGES = pa.schema([
    pa.field("image_id", pa.string(), nullable=False),        # "<source>:<source_image_id>", stable
    pa.field("source", pa.string(), nullable=False),          # "imagenet21k", "openimages", "coco", ...
    pa.field("source_image_id", pa.string(), nullable=False),
    pa.field("split", pa.string(), nullable=False),           # "train", "validation", "test", "eval"
    pa.field("url", pa.string()),                             # null for local files
    pa.field("path", pa.string()),                            # local file path, null for URLs
    pa.field("md5", pa.string()),                             # expected MD5 as 32 lowercase hex, if the source gives it
    pa.field("size", pa.int64()),                             # expected byte size, if known
    pa.field("rotation", pa.float32()),                       # Open Images rotation in degrees; null if unknown
    pa.field("license", pa.string()),
    pa.field("author", pa.string()),                          # the photographer, where the source names one
])

LABELS = pa.schema([
    pa.field("image_id", pa.string(), nullable=False),
    # class id in the source vocabulary: WNID, MID, name, tag
    pa.field("source_class", pa.string(), nullable=False),
    # 1 present, 0 verified absent, fraction for machine labels
    pa.field("confidence", pa.float32(), nullable=False),
    # "imagenet", "verification", "crowdsource-verification", "machine", "real", ...
    pa.field("label_source", pa.string(), nullable=False),
])

CLASSES = pa.schema([
    pa.field("source", pa.string(), nullable=False),
    pa.field("source_class", pa.string(), nullable=False),
    pa.field("name", pa.string()),                            # display name / lemmas as the source writes them
    pa.field("wnid", pa.string()),                            # the WNID when the source names classes by WNID
])

SOURCE_EDGES = pa.schema([
    pa.field("source", pa.string(), nullable=False),
    pa.field("child", pa.string(), nullable=False),
    pa.field("parent", pa.string(), nullable=False),
    pa.field("relation", pa.string(), nullable=False),        # "is_a" or "part_of"
])


def empty(schema: pa.Schema) -> pa.Table:
    """An empty table of the schema."""
    return schema.empty_table()
