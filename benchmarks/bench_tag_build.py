"""What mapping tags costs a build: one custom source built twice, with tags and with WNIDs.

Usage: python benchmarks/bench_tag_build.py [--images 1000000] [--distinct 20000] [--data ../shared/data]
                                           [--full-build-seconds 158.4]

Writes (once, under benchmarks/_data/tags-<images>-<distinct>/) two CSV sources over the same image
ids, each image with 1-5 labels (3 on average) drawn uniformly from `--distinct` values: real names
(the Open Images V6 display names, then Tencent ML-Images names, as tags, `|`-separated) in
`tags.csv`, and as many ImageNet-21k WNIDs in `wnids.csv` (the same draw, value i -> WNID i). Uniform
draws are the hard case for per-image context: almost every image has a tag set of its own. Both
are built by `mlbuild build` (no download, no dedup) in their own process, one after the other;
the script prints wall and CPU time (the build's and its workers') and the build's stage timings
(`build.json`) of each, the difference of CPU times, the mapping cost
(normalize with tags minus normalize with WNIDs, and its image-context part), and that cost as a
share of the full-scale build's wall time (`--full-build-seconds`, the figure in docs/benchmarks.md).
"""
from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

HERE = Path(__file__).resolve().parent


def real_names(data: Path, n: int) -> list[str]:
    """n distinct real class names: Open Images V6 display names, then Tencent names."""
    names = [r[1] for r in csv.reader(open(data / "openimages/oidv6-class-descriptions.csv", encoding="utf-8"))][1:]
    tencent = [line.split("\t")[3].split(",")[0].strip()
               for line in open(data / "tencent/dictionary_and_semantic_hierarchy.txt", encoding="utf-8")][1:]
    unique = list(dict.fromkeys(x for x in names + tencent if x and "|" not in x))
    if len(unique) < n:
        raise SystemExit(f"only {len(unique)} distinct names in {data}")
    return unique[:n]


def wnids(data: Path, n: int) -> list[str]:
    return (data / "imagenet21k/imagenet22k_synsets.txt").read_text().split()[:n]


def generate(folder: Path, data: Path, images: int, distinct: int) -> None:
    """tags.csv, wnids.csv and their configs (skipped when already there)."""
    if (folder / "wnids.toml").is_file():
        return
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(13)
    per = rng.integers(1, 6, images)
    values = rng.integers(0, distinct, int(per.sum()))
    offsets = pa.array(np.r_[0, np.cumsum(per)].astype(np.int32))
    ids = pc.binary_join_element_wise("img", pa.array(np.arange(images).astype(str)), "")
    urls = pc.binary_join_element_wise("http://example.org/", ids, ".jpg", "")
    for kind, vocabulary in (("tag", real_names(data, distinct)), ("wnid", wnids(data, distinct))):
        labels = pa.ListArray.from_arrays(offsets, pa.array(vocabulary).take(pa.array(values)))
        joined = pc.binary_join(labels, "|")
        name = "tags" if kind == "tag" else "wnids"
        pacsv.write_csv(pa.table({"id": ids, "url": urls, "labels": joined}), folder / f"{name}.csv")
        (folder / f"{name}.toml").write_text(
            f'[[source]]\nkind = "tabular"\npath = "{name}.csv"\nname = "{name}"\nid_column = "id"\n'
            f'url_column = "url"\nlabels_column = "labels"\ndelimiter = "|"\nlabel_kind = "{kind}"\n\n'
            '[dedup]\nenabled = false\n', encoding="utf-8")


def run_build(folder: Path, name: str) -> dict:
    """Wall and CPU seconds (the build and its workers) and build.json timings/counts of one build
    in a fresh process."""
    out = folder / f"out-{name}"
    start, cpu = time.perf_counter(), _children_cpu()
    subprocess.run([sys.executable, "-m", "mlbuild", "build", str(folder / f"{name}.toml"), "--out", str(out),
                    "--no-resume"], check=True, stdout=subprocess.DEVNULL)
    wall, cpu = time.perf_counter() - start, _children_cpu() - cpu
    summary = json.loads((out / "build.json").read_text())
    return {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "timings": summary["timings"],
            "counts": summary["counts"]["sources"][name]}


def _children_cpu() -> float:
    """User + system CPU seconds of the finished child processes (and the workers they waited for)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def image_context_seconds(folder: Path) -> float:
    """Seconds of the per-image part alone (`with_image_context`) on the tag source's label arrays."""
    code = f"""
import time, tomllib
from pathlib import Path
from mlbuild.config import config_from_dict
from mlbuild.labels.ingest import read_source
from mlbuild.sources.registry import make_adapter
from mlbuild.classes.normalize import map_source_classes, with_image_context
folder = Path({str(folder)!r})
config = config_from_dict(tomllib.loads((folder / "tags.toml").read_text()), base=folder)
spec = config.sources[0]
src = read_source(spec, make_adapter(spec), config.labels)
mapped = map_source_classes(src.name, src.label_kind, src.class_ids)
start = time.perf_counter()
with_image_context(mapped, src.image_row, src.class_code)
print(time.perf_counter() - start)
"""
    return float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1_000_000)
    parser.add_argument("--distinct", type=int, default=20_000)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--full-build-seconds", type=float, default=158.4,
                        help="wall time of the full-scale build (docs/benchmarks.md)")
    args = parser.parse_args()
    folder = HERE / "_data" / f"tags-{args.images}-{args.distinct}"
    generate(folder, args.data, args.images, args.distinct)
    wnid = run_build(folder, "wnids")
    tags = run_build(folder, "tags")
    context = image_context_seconds(folder)
    cost = tags["timings"]["normalize"] - wnid["timings"]["normalize"]
    print(json.dumps({"images": args.images, "distinct": args.distinct, "wnids": wnid, "tags": tags,
                      "image_context_s": round(context, 2), "mapping_cost_s": round(cost, 2),
                      "build_cpu_difference_s": round(tags["cpu_s"] - wnid["cpu_s"], 1),
                      "mapping_cost_vs_wnid_build": round(cost / wnid["wall_s"], 3),
                      "mapping_cost_vs_full_build": round(cost / args.full_build_seconds, 3)}, indent=1))


if __name__ == "__main__":
    main()
