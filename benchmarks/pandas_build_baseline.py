"""A straightforward pandas implementation of the label build, the baseline for bench_build.py.

Same steps as `mlbuild build` without downloads: read the fall11 list and the Open Images
image and label files, map classes to WordNet (the same class map and taxonomy), join
labels to images, explode ancestors (positives) and descendants (negatives), drop
duplicates, group per image and write Parquet. Usage: pandas_build_baseline.py FOLDER
"""
from __future__ import annotations

import csv
import sys
from pathlib import Path

import pandas as pd

from mlbuild.classes.taxonomy import Taxonomy


def main(folder: Path) -> None:
    urls = pd.read_csv(folder / "fall11_urls.txt", sep="\t", header=None, names=["image_id", "url"],
                       quoting=csv.QUOTE_NONE, encoding="latin-1", on_bad_lines="skip", usecols=[0, 1])
    urls["wnid"] = urls["image_id"].str[:9]
    images = pd.read_csv(folder / "images.csv")
    labels = pd.read_csv(folder / "labels.csv")
    class_map = pd.read_csv(folder / "oi_class_map.csv").dropna()
    labels = labels.merge(class_map, left_on="LabelName", right_on="mid")
    tax = Taxonomy()
    for wnid in pd.concat([urls["wnid"], labels["wnid"]]).unique():
        if tax.wordnet.has(wnid):
            tax.add(wnid)
    index = tax.dag.index
    up = {w: [index[a] for a in tax.ancestors(w) | {w}] for w in tax.wnids()}
    down = {w: [index[d] for d in tax.descendants(w) | {w}] for w in tax.wnids()}
    urls = urls[urls["wnid"].isin(index)]
    in21k = urls.assign(labels=urls["wnid"].map(up)).explode("labels")
    positives = labels[labels["Confidence"] == 1]
    negatives = labels[labels["Confidence"] == 0]
    pos = positives.assign(labels=positives["wnid"].map(up)).explode("labels")
    neg = negatives.assign(negatives=negatives["wnid"].map(down)).explode("negatives")
    pos = pos.drop_duplicates(["ImageID", "labels"])
    neg = neg.drop_duplicates(["ImageID", "negatives"])
    neg = neg.merge(pos[["ImageID", "labels"]], left_on=["ImageID", "negatives"],
                    right_on=["ImageID", "labels"], how="left", indicator=True)
    neg = neg[neg["_merge"] == "left_only"]
    pos_lists = pos.groupby("ImageID")["labels"].agg(lambda s: sorted(s)).rename("labels")
    neg_lists = neg.groupby("ImageID")["negatives"].agg(lambda s: sorted(s)).rename("negatives")
    oi = images.merge(pos_lists, left_on="ImageID", right_index=True, how="left") \
        .merge(neg_lists, left_on="ImageID", right_index=True, how="left")
    in21k_lists = in21k.groupby("image_id")["labels"].agg(lambda s: sorted(s))
    out = folder / "out-pandas"
    out.mkdir(exist_ok=True)
    oi.to_parquet(out / "openimages.parquet")
    urls.merge(in21k_lists.rename("labels"), left_on="image_id", right_index=True).to_parquet(
        out / "imagenet21k.parquet")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
