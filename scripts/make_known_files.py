"""Regenerate `wordnet_maps/known_files.csv` (name,url,size,md5) for `mlbuild fetch`.

Sources of the facts:
- the official Open Images files: URL, exact size and MD5 from
  `official_files_manifest_from_datasets-mila.tsv` (78 files, see its PROVENANCE.md);
- class lists, ImageNet ReaL, Tencent ML-Images' dictionary and list samples and YOLO9000's
  WordTree, each pinned to a git commit (so their bytes cannot change):
  size and MD5 measured on the local copies in ../shared/data, which PROVENANCE.md
  records as unmodified copies of exactly those commits;
- other official metadata (ImageNet's words.txt / wordnet.is_a.txt / gloss.txt, the
  Open Images V6 lists not in the manifest, COCO annotations): URL only, size and MD5
  unknown (empty), so `mlbuild fetch` checks nothing but completeness for them.

    python scripts/make_known_files.py [--shared ../shared/data] [--out wordnet_maps/known_files.csv]
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import io
import os
from pathlib import Path
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parent.parent
TIMM = "https://raw.githubusercontent.com/huggingface/pytorch-image-models/aa4b5850c1543fa488abf260f18390eda46cf85d/timm/data/_info/"
REAL = "https://raw.githubusercontent.com/google-research/reassessed-imagenet/bcd006fe12e929f055e0ec7fe39dbf4d64a6881a/"
GCS = "https://storage.googleapis.com/openimages/"
TENCENT = "https://raw.githubusercontent.com/Tencent/tencent-ml-images/182631879cdb3d44d594d13d3f29a98bf7acdf81/data/"
DARKNET = "https://raw.githubusercontent.com/pjreddie/darknet/f6afaabcdf85f77e7aff2ec55c020c0e297c77f9/data/"
PINNED = {  # url -> local copy under the shared data folder
    TIMM + "imagenet22k_synsets.txt": "imagenet21k/imagenet22k_synsets.txt",
    TIMM + "imagenet21k_goog_synsets.txt": "imagenet21k/imagenet21k_goog_synsets.txt",
    TIMM + "imagenet22k_ms_synsets.txt": "imagenet21k/imagenet22k_ms_synsets.txt",
    TIMM + "imagenet21k_miil_synsets.txt": "imagenet21k/imagenet21k_miil_synsets.txt",
    TIMM + "imagenet21k_miil_w21_synsets.txt": "imagenet21k/imagenet21k_miil_w21_synsets.txt",
    TIMM + "imagenet12k_synsets.txt": "imagenet21k/imagenet12k_synsets.txt",
    TIMM + "imagenet_synset_to_lemma.txt": "imagenet21k/imagenet_synset_to_lemma.txt",
    TIMM + "imagenet_synset_to_definition.txt": "imagenet21k/imagenet_synset_to_definition.txt",
    TIMM + "imagenet_synsets.txt": "ilsvrc2012/imagenet_synsets.txt",
    REAL + "real.json": "imagenet_real/real.json",
    TENCENT + "dictionary_and_semantic_hierarchy.txt": "tencent/dictionary_and_semantic_hierarchy.txt",
    TENCENT + "train_urls_tiny.txt": "tencent/train_urls_tiny.txt",
    TENCENT + "train_im_list_tiny.txt": "tencent/train_im_list_tiny.txt",
    DARKNET + "9k.tree": "wordtree/9k.tree",
    DARKNET + "9k.names": "wordtree/9k.names",
}
UNCHECKED = [
    "http://www.image-net.org/archive/words.txt",
    "http://www.image-net.org/archive/wordnet.is_a.txt",
    "http://www.image-net.org/archive/gloss.txt",
    GCS + "v6/oidv6-class-descriptions.csv",
    GCS + "v6/oidv6-classes-trainable.txt",
    GCS + "v6/oidv6-train-images-with-labels-with-rotation.csv",
    GCS + "v6/oidv6-train-annotations-human-imagelabels.csv",
    GCS + "v5/validation-annotations-human-imagelabels.csv",
    GCS + "v5/test-annotations-human-imagelabels.csv",
    GCS + "2018_04/bbox_labels_600_hierarchy.json",
    "http://images.cocodataset.org/annotations/annotations_trainval2017.zip",
]


def _name(url: str) -> str:
    return Path(urlparse(url).path).name


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def known_rows(shared: Path) -> list[dict[str, str]]:
    """All rows, sorted by name; a name may occur once only."""
    rows = []
    with open(shared / "openimages/official_files_manifest_from_datasets-mila.tsv", newline="") as f:
        for rec in csv.DictReader(f, delimiter="\t"):
            rows.append({"name": _name(rec["url"]), "url": rec["url"], "size": rec["size_bytes"], "md5": rec["md5"]})
    for url, local in PINNED.items():
        path = shared / local
        rows.append({"name": _name(url), "url": url, "size": str(path.stat().st_size), "md5": _md5(path)})
    rows += [{"name": _name(url), "url": url, "size": "", "md5": ""} for url in UNCHECKED]
    names = [r["name"] for r in rows]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise SystemExit(f"file names occur twice: {repeated}")
    return sorted(rows, key=lambda r: r["name"])


def render(rows: list[dict[str, str]]) -> str:
    """The CSV text (LF line ends)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, ["name", "url", "size", "md5"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=REPO / "wordnet_maps" / "known_files.csv")
    args = parser.parse_args()
    tmp = args.out.with_name(args.out.name + ".tmp")
    tmp.write_text(render(known_rows(args.shared)), encoding="utf-8")
    os.replace(tmp, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
