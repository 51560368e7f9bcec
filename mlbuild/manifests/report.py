"""`mlbuild report BUILD_DIR --out report.html`: one self-contained HTML page about a build.

Plots are PNGs embedded as data: URIs; no script, style or font is fetched, so the page
reads offline. A last inline script sets `data-images="loaded/total"` on <body> once every
plot has decoded (the headless-browser test reads it).
"""
from __future__ import annotations

import html
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlbuild._util.atomic import write_atomic
from mlbuild._util.progress import Progress
from mlbuild.images.hash_keys import FAILURES
from mlbuild.manifests import plots
from mlbuild.manifests.datasheet import datasheet
from mlbuild.manifests.html_blocks import image, note, table
from mlbuild.manifests.report_data import ReportData, gather
from mlbuild.manifests.summary import histogram_mean, image_parts

TOP = 20
STYLE = """body{font:14px/1.45 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ddd;padding:.2em .6em;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f4f4f4}img{max-width:100%}
pre{background:#f7f7f7;padding:.8em;overflow:auto;max-height:30em}.note{color:#555}nav a{margin-right:.8em}"""
LOADED = """<script>(function(){var imgs=[].slice.call(document.images);function check(){
var ok=imgs.filter(function(i){return i.complete&&i.naturalWidth>0}).length;
document.body.setAttribute('data-images',ok+'/'+imgs.length);}
imgs.forEach(function(i){i.addEventListener('load',check);i.addEventListener('error',check)});check();})();</script>"""


def write_report(out_dir: Path, path: Path) -> Path:
    """Gather the build's numbers, draw the plots, write the page atomically; returns its path."""
    out_dir, path = Path(out_dir), Path(path)
    with Progress("report: image parts", total=len(image_parts(out_dir)), unit="parts") as progress:
        data = gather(out_dir, progress)
    sections = [(title, render) for title, render in SECTIONS]
    body = []
    with Progress("report: sections", total=len(sections), unit="sections") as progress:
        for title, render in sections:
            body.append(f'<h2 id="{_anchor(title)}">{html.escape(title)}</h2>\n{render(data)}')
            progress.update(1)
    nav = " ".join(f'<a href="#{_anchor(t)}">{html.escape(t)}</a>' for t, _ in sections)
    page = (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>mlbuild report: "
            f"{html.escape(str(out_dir))}</title><style>{STYLE}</style></head><body>\n"
            f"<h1>mlbuild build report</h1><p>{html.escape(str(out_dir.resolve()))} &middot; mlbuild "
            f"{html.escape(str(data.record['mlbuild']))}</p><nav>{nav}</nav>\n" + "\n".join(body)
            + f"\n{LOADED}\n</body></html>\n")
    return write_atomic(path, page)


def _anchor(title: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in title.lower())


def _train(d: ReportData):
    return d.classes.column("positives_train").to_numpy() if "positives_train" in d.classes.column_names \
        else np.zeros(d.classes.num_rows, np.int64)


def _overview(d: ReportData) -> str:
    counts = d.record["counts"]
    rows = [(split, n) for split, n in counts["images"].items()]
    stats = d.record["config"].get("stats", {})
    return (table(["split", "images (after dedup)"], rows)
            + note(f"{counts['classes']:,} classes, {counts['edges']:,} hierarchy edges, "
                   f"{len(d.record['warnings'])} warnings; sampling = {stats.get('sampling', 'none')!r}."))


def _images_per_class(d: ReportData) -> str:
    counts, n = _train(d), d.record["counts"]["images"].get("train", 0)
    share = counts / max(n, 1)
    return (image(plots.images_per_class(counts, "train"), "images per class, log scale")
            + note(f"Of {int((counts > 0).sum()):,} classes with training positives: "
                   f"{int((share > 0.1).sum()):,} are on more than 10% of the {n:,} training images, "
                   f"{int(((share < 0.001) & (counts > 0)).sum()):,} on fewer than 0.1%; "
                   f"classes without any: {int((counts == 0).sum()):,}."))


def _labels_per_image(d: ReportData) -> str:
    train = d.splits.get("train")
    plot = "" if train is None else image(plots.histogram(
        {"with ancestors": train.labels, "direct": train.direct}, "labels per image", "training images"),
        "labels per image")
    rows = [(s, st.images, round(histogram_mean(st.labels), 2), round(histogram_mean(st.direct), 2), len(st.labels) - 1,
             int(st.labels[0]), st.removed) for s, st in d.splits.items()]
    return plot + table(["split", "images", "labels/image", "direct/image", "max", "unlabelled",
                         "removed by dedup"], rows)


def _depth(d: ReportData) -> str:
    depth, labelled = d.classes.column("depth").to_numpy(), _train(d) > 0
    size = depth.max(initial=0) + 1
    series = {"labelled classes": np.bincount(depth[labelled], minlength=size),
              "all classes": np.bincount(depth, minlength=size)}
    return image(plots.histogram(series, "depth in the class hierarchy (0 = root)", "classes"), "depth")


def _sources(d: ReportData) -> str:
    counts = d.groups["split"]
    sources, splits = sorted({s for s, _ in counts}), sorted({p for _, p in counts})
    values = np.array([[counts[(s, p)] for p in splits] for s in sources], float).reshape(len(sources), -1)
    return (image(plots.stacked_bars(sources, splits, values, "image rows"), "images per source and split")
            + table(["source", *splits, "total"], [(s, *map(int, v), int(v.sum())) for s, v in zip(sources, values)]))


def _overlap(d: ReportData) -> str:
    if not d.overlap:
        return note("No image was collapsed as a duplicate of another source's image.")
    rows = sorted(((a, b, n) for (a, b), n in d.overlap.items()), key=lambda r: -r[2])
    return (note("Rows collapsed into another row's image (same URL / Flickr photo): the row is kept with "
                 "empty labels and `dedup = duplicate_of:<kept image>`; its labels went to the kept image.")
            + table(["collapsed row's source", "kept image's source", "rows"], rows))


def _min_images(d: ReportData) -> str:
    info = d.record.get("min_images")
    counts = _train(d)
    if info:
        dropped = sorted(info["dropped"], key=lambda r: (-r[1], r[0]))
        counts = np.concatenate([counts, [r[1] for r in dropped]])
        head = note(f"min_images = {info['threshold']}: {info['classes_before']:,} classes before, "
                    f"{info['classes_after']:,} after; {len(dropped):,} dropped (their positives moved to the "
                    f"nearest kept ancestors listed; none listed = the labels left the dataset).")
        head += table(["dropped class", "training positives", "labels moved to"],
                      [(w, n, " ".join(into) or "-") for w, n, into in dropped[:TOP]])
    else:
        head = note("min_images = 0: no class was dropped for having too few images.")
    return head + image(plots.threshold_curve(counts, info["threshold"] if info else 0), "classes kept")


def _dedup(d: ReportData) -> str:
    pairs = d.dedup_pairs
    rows = []
    for eval_set in sorted(set(pairs.column("eval_set").to_pylist())):
        sel = pairs.filter(pc.equal(pairs.column("eval_set"), eval_set))
        examples = "; ".join(f"{r['image_id']} ~ {r['eval_image_id']} (d={r['distance']}, {r['transform']})"
                             for r in sel.slice(0, 3).to_pylist())
        matched = Counter(sel.column("transform").to_pylist())
        rows.append((eval_set, sel.num_rows, len(set(sel.column("image_id").to_pylist())),
                     ", ".join(f"{t} {n}" for t, n in matched.most_common()), examples))
    removed = sorted((s, p, k, n) for (s, p, k), n in d.removed.items())
    return (table(["eval set", "pairs", "training images removed", "matched by", "example pairs"], rows)
            if rows else note("No near-duplicate of an evaluation image was found (or dedup was off)."))\
        + table(["source", "split", "removed as", "rows"], removed) + _hashing(d)


def _hashing(d: ReportData) -> str:
    """Images hashed for the near-duplicate search, and why the others were not, per source and split."""
    hashed = d.record["counts"].get("hashing", {})
    rows = [(source, split, *(reasons.get(r, 0) for r in FAILURES))
            for source, splits in sorted(hashed.items()) for split, reasons in sorted(splits.items())]
    if not rows:
        return note("No image was hashed for the near-duplicate search (dedup off, or no evaluation set).")
    return ("<h3>Images hashed for the near-duplicate search</h3>"
            + note("Images not hashed were not checked against the evaluation sets: no_file = no local path "
                   "(URL only, or not downloaded: see the download statuses), missing_file = the path does "
                   "not exist, undecodable = not a readable image.")
            + table(["source", "split", *FAILURES], rows))


def _statuses(d: ReportData) -> str:
    counts = Counter({(s, st or "not downloaded"): n for (s, st), n in d.groups["status"].items()})
    sources, statuses = sorted({s for s, _ in counts}), sorted({st for _, st in counts})
    values = np.array([[counts[(s, st)] for st in statuses] for s in sources], float).reshape(len(sources), -1)
    plot = image(plots.stacked_bars(sources, statuses, values, "images"), "download statuses") \
        if set(statuses) != {"not downloaded"} else note("Downloads were off: no image was fetched by the build.")
    return plot + table(["source", *statuses], [(s, *map(int, v)) for s, v in zip(sources, values)])


def _mappings(d: ReportData) -> str:
    sc = d.source_classes
    if "score" not in sc.column_names:
        return note("This build's source_classes.parquet has no scores.")
    mapped = sc.filter(pc.and_(pc.is_valid(sc.column("wnid")), pc.less(sc.column("score"), 1.0)))
    low = mapped.sort_by([("score", "ascending"), ("source", "ascending"), ("source_class", "ascending")])
    given = sc.filter(pc.and_(pc.is_valid(sc.column("wnid")), pc.is_null(sc.column("score")))).num_rows
    names = dict(zip(d.classes.column("wnid").to_pylist(), d.classes.column("name").to_pylist()))
    unmapped = Counter(sc.filter(pc.is_null(sc.column("wnid"))).column("source").to_pylist())
    return (table(["source", "source class", "wnid", "class name", "method", "score"],
                  [(r["source"], r["source_class"], r["wnid"], names.get(r["wnid"], "(dropped)"), r["method"],
                    float(r["score"])) for r in low.slice(0, TOP).to_pylist()])
            + note(f"Mappings with a score below 1 (exact WNIDs and synset names score 1; {given:,} classes were "
                   "mapped by a user's class map and have no score). Unmapped source classes (their labels are "
                   "left out): "
                   + (", ".join(f"{s}: {n:,}" for s, n in sorted(unmapped.items())) or "none") + "."))


def _cooccurrence(d: ReportData) -> str:
    cooc = d.cooccurrence
    if cooc is None or cooc.num_rows == 0:
        return note("No two unrelated classes are direct labels of one training image.")
    names, wnids = d.classes.column("name").to_pylist(), d.classes.column("wnid").to_pylist()
    label = lambda c: f"{names[c]} ({wnids[c]})"  # noqa: E731
    fmt = lambda r: (label(r["class_a"]), label(r["class_b"]), r["count"], r["expected"], r["lift"], r["pmi"])  # noqa: E731
    headers = ["class a", "class b", "images", "expected", "lift", "PMI (bits)"]
    by_count = _top(cooc, "count")
    frequent = cooc.filter(pc.greater_equal(cooc.column("count"), 10))
    by_lift = _top(frequent, "lift")
    return (note(f"{cooc.num_rows:,} pairs of direct labels on the same training image, ancestor/descendant "
                 "pairs excluded (cooccurrence.parquet). The most frequent ones are what a curator checks first.")
            + table(headers, map(fmt, by_count.to_pylist()))
            + "<h3>Highest lift (at least 10 images)</h3>"
            + (table(headers, map(fmt, by_lift.to_pylist())) if frequent.num_rows
               else note("No pair is on 10 or more images.")))


def _top(pairs: pa.Table, key: str) -> pa.Table:
    """The TOP pairs by `key`, ties by class indices: a selection, not a sort of millions of pairs."""
    keys = [(key, "descending"), ("class_a", "ascending"), ("class_b", "ascending")]
    return pairs.take(pc.select_k_unstable(pairs, k=min(TOP, pairs.num_rows), sort_keys=keys)) if pairs.num_rows \
        else pairs


def _config(d: ReportData) -> str:
    r = d.record
    return ("<h3>Versions</h3>" + table(["package", "version"], [("mlbuild", r["mlbuild"]), *r["versions"].items()])
            + "<h3>Timings (s)</h3>" + table(["stage", "seconds"], list(r["timings"].items()))
            + "<h3>Inputs</h3>" + table(["file", "bytes", "sha256"],
                                        [(p, v["bytes"], v["sha256"]) for p, v in r["inputs"].items()])
            + f"<h3>Warnings ({len(r['warnings'])})</h3>" + "".join(note(w) for w in r["warnings"])
            + "<h3>Config</h3><pre>" + html.escape(json.dumps(r["config"], indent=2, sort_keys=True)) + "</pre>")


SECTIONS: list[tuple[str, Callable[[ReportData], str]]] = [
    ("Overview", _overview), ("Images per class", _images_per_class), ("Labels per image", _labels_per_image),
    ("Depth of labelled classes", _depth), ("Images per source and split", _sources),
    ("Overlap between sources", _overlap), ("Classes and min_images", _min_images),
    ("Dedup removals per evaluation set", _dedup), ("Download statuses", _statuses),
    ("Lowest-score class mappings", _mappings), ("Top unrelated co-occurring pairs", _cooccurrence),
    ("Datasheet", datasheet), ("Config and versions", _config),
]
