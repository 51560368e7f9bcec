"""Label rows: duplicates' rows moving to the kept image's partition, against a brute force."""
from __future__ import annotations

import numpy as np
import pytest

from mlbuild.labels.label_rows import LabelRows, Moved


def random_rows(rng: np.random.Generator, n_images: int, n_rows: int) -> LabelRows:
    image = np.sort(rng.integers(0, n_images, n_rows)).astype(np.int32)
    return LabelRows.of(image, rng.integers(0, 50, n_rows), rng.random(n_rows), rng.random(n_rows) < 0.3,
                        rng.random(n_rows) < 0.5, rng.integers(0, 3, n_rows))


def as_set(rows: LabelRows) -> list[tuple]:
    return sorted(zip(rows.image.tolist(), rows.cls.tolist(), rows.conf.tolist(), rows.negative.tolist(),
                      rows.machine.tolist(), rows.src.tolist()))


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("size", [1, 7, 1000])
def test_partitions_after_the_move_equal_every_row_repointed(seed, size):
    rng = np.random.default_rng(seed)
    n_images = 60
    rows = random_rows(rng, n_images, 300)
    first = np.arange(n_images)
    dup = rng.choice(np.arange(1, n_images), 15, replace=False)
    kept = np.setdiff1d(np.arange(n_images), dup)
    first[dup] = [rng.choice(kept[kept < d]) for d in dup]  # each duplicates an earlier kept image
    moved = Moved.of(rows, first)
    repointed = rows.with_image(first[rows.image])
    seen = []
    for lo, (a, b) in zip(range(0, n_images, size), rows.bounds(n_images, size)):
        part = moved.part(rows.slice(a, b), lo, lo + size)
        expected = repointed.select((repointed.image >= lo) & (repointed.image < lo + size))
        assert as_set(part) == as_set(expected)
        seen += part.image.tolist()
    assert len(seen) == len(rows.image) and not set(seen) & set(dup.tolist())


def test_label_rows_of_the_sample_are_sorted_and_free_the_sources_arrays():
    from mlbuild.classes.normalize import build_taxonomy, label_targets, map_source_classes
    from mlbuild.config import load_config
    from mlbuild.labels.ingest import LABEL_ARRAYS, NEGATIVE, read_source
    from mlbuild.labels.label_rows import label_rows
    from mlbuild.sample import SAMPLE_DIR
    from mlbuild.sources.registry import make_adapter

    config = load_config(SAMPLE_DIR / "build.toml")
    sources = [read_source(spec, make_adapter(spec), config.labels) for spec in config.sources]
    mapped = [map_source_classes(s.name, s.label_kind, s.class_ids, s.spec.class_map) for s in sources]
    tax = build_taxonomy(mapped, config.taxonomy)
    targets = [label_targets(tax, m.all_targets()) for m in mapped]
    codes = [s.class_code + len(s.class_ids) * (s.polarity == NEGATIVE) for s in sources]
    expected = sum(int(np.diff(t.indptr)[c[s.polarity != 0]].sum()) for s, t, c in zip(sources, targets, codes))
    rows = label_rows(sources, targets, [])
    assert rows.image.dtype == np.int32 and (np.diff(rows.image) >= 0).all()
    assert len(rows.image) == expected > 0
    for src in sources:  # released for real: not views that keep the label arrays alive
        assert all(len(getattr(src, a)) == 0 and getattr(src, a).base is None for a in LABEL_ARRAYS)


def test_stable_order_equals_a_stable_argsort():
    from mlbuild._util.arrays import stable_argsort
    from mlbuild.labels.label_rows import _stable_order
    rng = np.random.default_rng(7)
    for case in range(300):
        n = int(rng.integers(1, 400))
        image = np.sort(rng.integers(0, 60, n)).astype(np.int32)
        moved = rng.random(n) < rng.choice([0.0, 0.02, 0.2, 0.9])   # a few rows pointed back (merged ids), or many
        image[moved] = rng.integers(0, 60, int(moved.sum()))
        assert np.array_equal(_stable_order(image), stable_argsort(image)), case
