"""Mapping benchmark: accuracy of name -> WordNet 3.0 mapping on public class lists, and its speed.

Usage: python benchmarks/bench_mapping.py [--data ../shared/data] [--dict /usr/share/wordnet]
                                         [--sample 1000] [--lists imagenet1k,coco80,...] [--no-speed] [--review]

Accuracy: each list is mapped as a whole by `mlbuild.classes.mapping.map_names` (the API both the
old and the new mapper have, so a checkout of an older commit can be measured with the same
script: `PYTHONPATH=/path/to/old/checkout python benchmarks/bench_mapping.py`). A name is correct
when its WNID is one of the true WNIDs of that entry. The lists and where their truth comes from:

- imagenet1k: the first lemma of every ILSVRC-2012 class (`LOC_synset_mapping.txt`) -> its WNID;
- openimages_boxable: the V6 display names of the 601 boxable classes -> the reviewed WNIDs of the
  shipped `wordnet_maps/openimages_wordnet.csv` (all 601 were reviewed by hand; the 9 the review
  left unmapped are not scored);
- coco80: COCO's 80 detection class names -> WNIDs assigned by hand (`benchmarks/data/coco80_wordnet.csv`;
  a few names accept two synsets, e.g. `book` the object or the work);
- imagenet_det200: the 200 ImageNet DET short names (`fall11_urls_sample/200words.csv`);
- tencent, wordtree, imagenet21k: a fixed random sample (seed 13) of Tencent ML-Images' class
  names, YOLO9000's WordTree names and ImageNet-21k's first lemmas, each with its WNID.

Errors are sorted into kinds: `unmapped`; `more_general` (the answer is an is-a ancestor of the
truth: a head-noun fallback); `more_specific` (a descendant); `other_sense` (the answer and the
truth are both senses of the name: a disambiguation error); `other` (anything else).

Shipped table precision (`--review`): the 220 automatic mappings judged by hand in
docs/openimages_mapping_review.md, looked up in the shipped `wordnet_maps/openimages_wordnet.csv`. A
row whose shipped synset is the one judged keeps its verdict; an override row is a reviewed answer
(correct); a row the mapper has changed since is judged by `benchmarks/data/openimages_review_rejudged.csv`
(the re-judged rows listed at the end of the review); anything else is counted as not judged.
Precision = correct / (correct + wrong); strict = correct / every sampled row the table maps.

Speed: maps the 19,994 Open Images V6 display names with `map_names` in a fresh interpreter (CPU
seconds including imports and index building), against baselines measured in the same run: the
mapper of an older checkout (`--baseline-checkout DIR`, e.g. `git worktree add /tmp/old main`) and,
when a WordNet 3.0 dict directory is installed (`--dict`), NLTK's first sense (`synsets(name, "n")[0]`).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

SAMPLE_SEED = 13
HERE = Path(__file__).resolve().parent
REPO = HERE.parent
ERROR_KINDS = ("unmapped", "more_general", "more_specific", "other_sense", "other")

READ_NAMES = """
import csv
names = [r[1] for r in csv.reader(open({path!r}, encoding="utf-8"))][1:]
"""
MLBUILD = READ_NAMES + """
import time; t = time.process_time()
from mlbuild.classes.mapping import map_names
found = map_names(names)
print(time.process_time() - t, sum(m.mapped for m in found), len(found))
"""
NLTK = READ_NAMES + """
import re, time, tempfile, pathlib; t = time.process_time()
from mlbuild.classes.wordnet.export import _reader
wn = _reader(pathlib.Path({dict!r}), pathlib.Path(tempfile.mkdtemp()))
def first(name):
    key = re.sub(r"\\s*\\(.*\\)$", "", name).strip().lower().replace(" ", "_")
    found = wn.synsets(key, "n")
    return found[0] if found else None
mapped = sum(first(n) is not None for n in names)
print(time.process_time() - t, mapped, len(names))
"""

Entry = tuple[str, frozenset[str]]   # (name, accepted WNIDs)


def _lines(path: Path) -> list[str]:
    return [line.rstrip("\n") for line in open(path, encoding="utf-8") if line.strip()]


def imagenet1k(data: Path) -> list[Entry]:
    """First lemma of each ILSVRC-2012 class."""
    rows = [line.split(" ", 1) for line in _lines(data / "ilsvrc2012/LOC_synset_mapping.txt")]
    return [(lemmas.split(",")[0].strip(), frozenset([wnid])) for wnid, lemmas in rows]


def openimages_boxable(data: Path) -> list[Entry]:
    """V6 display names of the 601 boxable classes, truth from the shipped reviewed table."""
    boxable = [row[0] for row in csv.reader(open(data / "openimages/class-descriptions-boxable.csv",
                                                 encoding="utf-8"))]
    table = {r["mid"]: r for r in csv.DictReader(open(REPO / "wordnet_maps/openimages_wordnet.csv",
                                                      encoding="utf-8"))}
    return [(table[mid]["display_name"], frozenset([table[mid]["wnid"]])) for mid in boxable if table[mid]["wnid"]]


def coco80(data: Path) -> list[Entry]:
    """COCO's 80 names with hand-assigned WNIDs (space-separated alternatives)."""
    rows = csv.DictReader(open(HERE / "data/coco80_wordnet.csv", encoding="utf-8"))
    return [(r["name"], frozenset(r["wnids"].split())) for r in rows]


def imagenet_det200(data: Path) -> list[Entry]:
    """The ImageNet DET short names."""
    rows = csv.reader(open(data / "imagenet21k/fall11_urls_sample/200words.csv", encoding="utf-8"))
    return [(name, frozenset([wnid])) for wnid, name in rows]


def tencent(data: Path) -> list[Entry]:
    """Tencent ML-Images class names (their first lemma; the file lists all of them, comma-separated)."""
    rows = [line.split("\t") for line in _lines(data / "tencent/dictionary_and_semantic_hierarchy.txt")[1:]]
    return [(r[3].split(",")[0].strip(), frozenset([r[1]])) for r in rows]


def wordtree(data: Path) -> list[Entry]:
    """YOLO9000 WordTree names and WNIDs (same line order)."""
    wnids = [line.split()[0] for line in _lines(data / "wordtree/9k.tree")]
    return [(name, frozenset([w])) for name, w in zip(_lines(data / "wordtree/9k.names"), wnids)]


def imagenet21k(data: Path) -> list[Entry]:
    """First lemma of every ImageNet-21k synset."""
    rows = [line.split("\t") for line in _lines(data / "imagenet21k/imagenet_synset_to_lemma.txt")]
    return [(lemmas.split(",")[0].strip(), frozenset([wnid])) for wnid, lemmas in rows]


LISTS = {"imagenet1k": (imagenet1k, False), "openimages_boxable": (openimages_boxable, False),
         "coco80": (coco80, False), "imagenet_det200": (imagenet_det200, False),
         "tencent": (tencent, True), "wordtree": (wordtree, True), "imagenet21k": (imagenet21k, True)}


def error_kind(wn, name: str, answer: str, truth: frozenset[str]) -> str:
    """Which kind of error a wrong answer is (see the module docstring)."""
    if not answer:
        return "unmapped"
    row = wn.row(answer)
    truths = [wn.row(t) for t in truth if wn.has(t)]
    if any(row in wn.ancestors(t) for t in truths):
        return "more_general"
    if any(t in wn.ancestors(row) for t in truths):
        return "more_specific"
    senses = {s.wnid for s in wn.lookup(name.split(" (")[0])}
    return "other_sense" if answer in senses and truth & senses else "other"


def score(entries: list[Entry]) -> dict:
    """Accuracy and error kinds of map_names on one list (mapped as a whole)."""
    from mlbuild.classes import wordnet
    from mlbuild.classes.mapping import map_names

    wn = wordnet.load()
    found = map_names([name for name, _ in entries])
    kinds: Counter[str] = Counter()
    examples: dict[str, list[str]] = {}
    for (name, truth), m in zip(entries, found):
        if m.wnid in truth:
            continue
        kind = error_kind(wn, name, m.wnid, truth)
        kinds[kind] += 1
        examples.setdefault(kind, []).append(f"{name} -> {m.synset or '-'}")
    correct = len(entries) - sum(kinds.values())
    duplicates = len(entries) - len({n.lower() for n, _ in entries})
    return {"names": len(entries), "correct": correct, "accuracy": round(correct / len(entries), 4),
            "duplicate_names": duplicates, "errors": {k: kinds[k] for k in ERROR_KINDS},
            "examples": {k: v[:6] for k, v in examples.items()}}


def accuracy(data: Path, lists: list[str], sample: int) -> dict:
    """Per-list accuracy (lists marked sampled are cut to a fixed random sample)."""
    out = {}
    for name in lists:
        read, sampled = LISTS[name]
        entries = read(data)
        if sampled and len(entries) > sample:
            entries = random.Random(SAMPLE_SEED).sample(entries, sample)
        out[name] = score(entries)
    return out


def openimages_review() -> dict:
    """Precision of the shipped Open Images table on the hand-reviewed sample (see the module docstring)."""
    sample = []
    for line in open(REPO / "docs/openimages_mapping_review.md", encoding="utf-8"):
        if re.match(r"^\| \d+ \|", line):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            sample.append((cells[1].strip("`"), cells[3].split(":")[0], cells[6]))
    shipped = {r["mid"]: r for r in csv.DictReader(open(REPO / "wordnet_maps/openimages_wordnet.csv",
                                                        encoding="utf-8"))}
    again = {(r["mid"], r["synset"]): r["verdict"]
             for r in csv.DictReader(open(HERE / "data/openimages_review_rejudged.csv", encoding="utf-8"))}
    verdicts: Counter[str] = Counter()
    for mid, synset, verdict in sample:
        row = shipped[mid]
        if not row["wnid"]:
            verdicts["unmapped"] += 1
        elif row["method"] == "override":
            verdicts["correct (override)"] += 1
        elif row["synset"] == synset:
            verdicts[verdict] += 1
        else:
            verdicts[again.get((mid, row["synset"]), "not judged")] += 1
    correct = verdicts["correct"] + verdicts["correct (override)"]
    mapped = len(sample) - verdicts["unmapped"]
    return {"sampled": len(sample), **dict(sorted(verdicts.items())),
            "precision": round(correct / max(correct + verdicts["wrong"], 1), 4),
            "strict_precision": round(correct / max(mapped, 1), 4)}


def run(code: str, pythonpath: str | None = None) -> tuple[float, int, int]:
    """(seconds, mapped, total) printed by a fresh interpreter (with an older checkout first on the path)."""
    env = {**os.environ, "PYTHONPATH": pythonpath} if pythonpath else None
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                         env=env, cwd=pythonpath).stdout
    seconds, mapped, total = out.split()
    return float(seconds), int(mapped), int(total)


def speed(data: Path, dict_dir: str, checkout: str | None) -> dict:
    """CPU seconds to map the 19,994 V6 names, against the baselines that are available."""
    path = str(data / "openimages/oidv6-class-descriptions.csv")
    ours = run(MLBUILD.format(path=path))
    out = {"names": ours[2], "mlbuild_cpu_s": round(ours[0], 2), "mlbuild_mapped": ours[1]}
    if checkout:
        old = run(MLBUILD.format(path=path), checkout)
        out.update(baseline_checkout_cpu_s=round(old[0], 2), baseline_checkout_mapped=old[1],
                   ratio_vs_checkout=round(ours[0] / old[0], 2))
    if Path(dict_dir, "data.noun").is_file():
        base = run(NLTK.format(path=path, dict=dict_dir))
        out.update(nltk_first_sense_cpu_s=round(base[0], 2), nltk_mapped=base[1],
                   ratio_vs_nltk=round(ours[0] / base[0], 2))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--dict", default="/usr/share/wordnet")
    parser.add_argument("--sample", type=int, default=1000, help="entries drawn from the large lists")
    parser.add_argument("--lists", default=",".join(LISTS), help=f"comma-separated, from {list(LISTS)}")
    parser.add_argument("--baseline-checkout", help="an older mlbuild checkout whose mapper is timed too")
    parser.add_argument("--no-speed", action="store_true")
    parser.add_argument("--review", action="store_true", help="only the shipped Open Images table's precision")
    args = parser.parse_args()
    if args.review:
        print(json.dumps({"openimages_review": openimages_review()}, indent=1))
        return
    result = {"accuracy": accuracy(args.data, args.lists.split(","), args.sample),
              "openimages_review": openimages_review()}
    if not args.no_speed:
        result["speed"] = speed(args.data, args.dict, args.baseline_checkout)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
