"""Cross-source exact duplicates: Flickr photo ids from real URL forms, sha256, canonical ids."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from mlbuild.images.duplicate_keys import CANONICAL, canonical_ids, flickr_photo_ids

# URL forms as they occur in fall11_urls.txt, Open Images and COCO (see shared/data/README.md)
URLS = {
    "http://farm4.static.flickr.com/3178/2614147932_a532eb3dfc.jpg": 2614147932,          # ImageNet
    "http://static.flickr.com/27/63731363_26eb5e3334.jpg": 63731363,                      # ImageNet
    "http://photos12.flickr.com/18756827_7d8d8432df.jpg": 18756827,                       # ImageNet
    "https://c1.staticflickr.com/5/4129/5215831864_46f356962f_o.jpg": 5215831864,         # Open Images
    "https://farm3.staticflickr.com/2413/2278524427_f8ea6ee4d2_z.jpg": 2278524427,        # Open Images thumb
    "http://farm7.staticflickr.com/6116/6255196340_da26cf2c9e_z.jpg": 6255196340,         # COCO
    "https://live.staticflickr.com/65535/52799254312_4e6e0f0a7b_b.jpg": 52799254312,
    "https://www.flickr.com/photos/brokentaco/5215831864": None,  # a landing page, not a photo
    "http://images.cocodataset.org/val2017/000000397133.jpg": None,
    "http://example.com/farm4.static.flickr.com/3178/2614147932_a5.jpg": None,
    "http://www.notflickr.example/1/2614147932_a532eb3dfc.jpg": None,
}


def test_flickr_photo_ids_from_every_url_form():
    ids = flickr_photo_ids(pa.chunked_array([list(URLS)[:4], [*list(URLS)[4:], None]]))
    assert ids.type == pa.int64()
    assert ids.to_pylist() == [*URLS.values(), None]


def test_groups_join_sha256_and_photo_id_transitively():
    table = pa.table({
        "image_id": ["openimages:b", "imagenet21k:n1_2", "coco:9", "imagenet21k:n1_1", "openimages:a", "x"],
        "url": ["https://c1.staticflickr.com/5/4129/5215831864_46f356962f_o.jpg",   # photo P
                "http://farm4.static.flickr.com/3178/5215831864_46f356962f.jpg",     # photo P, other size
                None,
                "http://example.com/1.jpg",
                "http://farm1.static.flickr.com/1/777_abc.jpg",
                "http://farm1.static.flickr.com/1/888_abc.jpg"],
        "sha256": ["s1", None, "s2", "s2", "s1", None],
    })
    got = canonical_ids(table)
    assert got.schema == CANONICAL
    assert got.to_pylist() == [
        {"image_id": "coco:9", "canonical_id": "coco:9", "group_size": 2},
        {"image_id": "imagenet21k:n1_1", "canonical_id": "coco:9", "group_size": 2},
        {"image_id": "imagenet21k:n1_2", "canonical_id": "imagenet21k:n1_2", "group_size": 3},
        {"image_id": "openimages:a", "canonical_id": "imagenet21k:n1_2", "group_size": 3},
        {"image_id": "openimages:b", "canonical_id": "imagenet21k:n1_2", "group_size": 3},
        {"image_id": "x", "canonical_id": "x", "group_size": 1},
    ]


def test_missing_columns_link_nothing():
    got = canonical_ids(pa.table({"image_id": ["b", "a"]}))
    assert got["canonical_id"].to_pylist() == ["a", "b"]


def reference_components(n: int, edges: list[tuple[int, int]]) -> list[int]:
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            x = parent[x]
        return x
    for a, b in edges:
        ra, rb = find(a), find(b)
        parent[max(ra, rb)] = min(ra, rb)
    return [find(i) for i in range(n)]


def test_long_alternating_chains_match_union_find():
    """A chain whose links alternate between sha256 and photo id, cut at random places."""
    rng = np.random.default_rng(5)
    n = 3000
    perm = rng.permutation(n)
    links = np.sort(rng.choice(n - 1, 2700, replace=False))  # link t joins perm[t] and perm[t + 1]
    sha, photo = [None] * n, [None] * n
    for t in links.tolist():
        key = sha if t % 2 else photo
        key[perm[t]] = key[perm[t + 1]] = t
    table = pa.table({
        "image_id": [f"{i:05d}" for i in range(n)],
        "url": [None if p is None else f"https://c1.staticflickr.com/5/41/{p}_ab_o.jpg" for p in photo],
        "sha256": [None if s is None else f"{s:064x}" for s in sha],
    })
    expected = reference_components(n, [(int(perm[t]), int(perm[t + 1])) for t in links])
    got = canonical_ids(table)
    assert got["canonical_id"].to_pylist() == [f"{r:05d}" for r in expected]
    assert got["group_size"].to_pylist() == np.bincount(expected, minlength=n)[expected].tolist()
