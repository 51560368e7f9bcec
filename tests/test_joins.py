"""Label-to-image joins: the aligned, hex-key and hash strategies agree with a plain lookup."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from mlbuild.labels.joins import ImageIndex, hex_keys


def test_hex_keys_parse_prefixed_fixed_width_hex():
    keys = hex_keys(pa.array(["openimages:000060e3121c7305", "openimages:ffffffffffffffff",
                              "openimages:00000000000000aB"]))
    assert keys.tolist() == [0x60E3121C7305, 0xFFFFFFFFFFFFFFFF, 0xAB]
    assert hex_keys(pa.array(["x:12", "x:123"])) is None          # not fixed width
    assert hex_keys(pa.array(["a:12", "b:34"])) is None           # prefixes differ
    assert hex_keys(pa.array(["x:1g"])) is None                   # not hex


def expected(ids: list[str], probe: list[str]) -> list[int]:
    where = {v: i for i, v in reversed(list(enumerate(ids)))}
    return [where.get(p, -1) for p in probe]


def test_every_strategy_matches_a_dictionary_lookup():
    rng = np.random.default_rng(0)
    hexes = [f"oi:{v:016x}" for v in rng.integers(0, 2**62, 500)]
    names = [f"imagenet21k:n0208407{i % 10}_{i}" for i in range(500)]
    for ids in (hexes, names):
        index = ImageIndex(pa.array(ids))
        aligned = ids[100:200]
        assert index.lookup(pa.array(aligned), start_hint=100).tolist() == list(range(100, 200))
        probe = [ids[i] for i in rng.integers(0, 500, 300)] + ["oi:0000000000000000", "missing"]
        assert index.lookup(pa.array(probe)).tolist() == expected(ids, probe)
