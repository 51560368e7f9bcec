"""The report's datasheet (Gebru et al., "Datasheets for Datasets"): what the build knows, filled in;
the questions only the dataset's creators can answer, left as headings for them."""
from __future__ import annotations

import html
from collections import Counter

import numpy as np
import pyarrow as pa

from mlbuild._util.parquet import read_table
from mlbuild._util.resources import wordnet_map
from mlbuild.classes.wordnet.graph import SNAPSHOT
from mlbuild.manifests.html_blocks import note, table
from mlbuild.manifests.report_data import ReportData

FOR_THE_USER = "(to be written by the dataset's creators)"
USER_QUESTIONS = {
    "Motivation": ["For what purpose was the dataset created?", "Who created the dataset, on behalf of whom?",
                   "Who funded the creation of the dataset?"],
    "Collection process": ["Who was involved in the data collection, and how were they compensated?",
                           "Over what timeframe was the data collected?", "Were any ethical review processes "
                           "conducted?", "Did the individuals in the images consent to their use?"],
    "Uses": ["Has the dataset been used for any tasks already?", "Are there tasks for which the dataset should "
             "not be used?"],
    "Distribution": ["How will the dataset be distributed, and when?", "Do any export controls or other "
                     "regulatory restrictions apply?"],
    "Maintenance": ["Who will support, host and maintain the dataset?", "How can the owner be contacted?",
                    "Will the dataset be updated (labels corrected, images removed on request)?"],
}


def datasheet(d: ReportData) -> str:
    """The datasheet section's HTML."""
    parts = [note("Answers the build can give are filled in from its manifests; the rest are headings to fill.")]
    parts += _user("Motivation")
    parts += ["<h3>Composition</h3>", _composition(d), "<h4>Known biases of the class vocabulary</h4>", _biases(d)]
    parts += ["<h3>Collection process</h3>", _collection(d)] + _user("Collection process", heading=False)
    parts += ["<h3>Preprocessing, cleaning, labelling</h3>", _preprocessing(d)]
    parts += ["<h3>Uses</h3>", note("Built by mlbuild for training and evaluating multi-label image classifiers "
                                    "over WordNet 3.0 noun classes (the use ML-Images and Open Images serve).")]
    parts += _user("Uses", heading=False)
    parts += ["<h3>Distribution and licences</h3>", _licences(d)] + _user("Distribution", heading=False)
    parts += _user("Maintenance")
    return "\n".join(parts)


def _user(section: str, heading: bool = True) -> list[str]:
    out = [f"<h3>{html.escape(section)}</h3>"] if heading else []
    return out + [f"<h4>{html.escape(q)}</h4>{note(FOR_THE_USER)}" for q in USER_QUESTIONS[section]]


def _composition(d: ReportData) -> str:
    counts = d.record["counts"]
    unlabelled = sum(int(s.labels[0]) for s in d.splits.values())
    removed = sum(s.removed for s in d.splits.values())
    return (note(f"Instances are images, listed by URL or local path in images/<split>/part-*.parquet, each with "
                 f"multi-label WordNet 3.0 noun classes: positives with all their ancestors (`labels`), the "
                 f"labels the sources gave (`direct_labels`) and verified negatives (`negatives`). "
                 f"{counts['classes']:,} classes in a hierarchy of {counts['edges']:,} edges.")
            + table(["split", "images"], list(counts["images"].items()))
            + note(f"Missing information: {unlabelled:,} image rows have no positive label; {removed:,} rows are "
                   f"marked removed by dedup (kept, with the reason in `dedup`); "
                   f"{counts.get('conflicts', {}).get('positive_over_negative', 0):,} (image, class) pairs had a "
                   f"positive over a verified negative and "
                   f"{counts.get('conflicts', {}).get('machine_positive_removed', 0):,} machine positives were removed "
                   "by a verified negative (`conflicts`). Not self-contained: URL rows point to third-party hosts "
                   "(Flickr and others) whose images may disappear or change."))


def _biases(d: ReportData) -> str:
    """Classes and training positives per WordNet lexicographer file; the person classes named."""
    wnids, names = d.classes.column("wnid").to_pylist(), d.classes.column("name").to_pylist()
    lex = lexnames(wnids)
    positives = d.classes.column("positives_train").to_numpy() if "positives_train" in d.classes.column_names \
        else np.zeros(len(wnids), np.int64)
    by_lex = Counter(lex)
    rows = [(name, n, round(100 * n / max(len(wnids), 1), 1), int(sum(1 for x, p in zip(lex, positives)
                                                                     if x == name and p > 0)))
            for name, n in by_lex.most_common()]
    people = sorted((p, w, nm) for w, nm, x, p in zip(wnids, names, lex, positives) if x == "noun.person")[::-1]
    return (note("The vocabulary is what the sources' classes map to in WordNet: its mix of topics is theirs. "
                 "ImageNet's person classes were found to be largely non-visual or offensive (Yang et al., "
                 "'Towards Fairer Datasets', 2020); review them before training.")
            + table(["WordNet category", "classes", "% of classes", "with training positives"], rows)
            + note(f"{len(people):,} person classes (noun.person); most frequent: "
                   + (", ".join(f"{nm} ({w}, {p:,})" for p, w, nm in people[:10]) or "none") + "."))


def lexnames(wnids: list[str]) -> list[str]:
    """WordNet lexicographer file of each noun WNID (noun.animal, noun.person, ...), from the snapshot's columns."""
    snapshot = read_table(wordnet_map(SNAPSHOT), ["offset", "lexname"])
    offsets = snapshot.column("offset").to_numpy()
    rows = np.searchsorted(offsets, np.array([int(w[1:]) for w in wnids], np.int64))
    return snapshot.column("lexname").take(pa.array(rows, pa.int64())).to_pylist()


def _collection(d: ReportData) -> str:
    sources = d.record["config"]["sources"]
    rows = [(s["options"].get("name", s["kind"]), s["kind"], "evaluation" if s["evaluation"] else "training",
             c.get("images", 0), c.get("positives", 0), c.get("negatives", 0))
            for s, c in zip(sources, d.record["counts"]["sources"].values())]
    return (table(["source", "kind", "role", "images", "positive labels", "verified negatives"], rows)
            + note(f"Input files and their sha256 are listed under 'Config and versions' "
                   f"({len(d.record['inputs'])} files)."))


def _preprocessing(d: ReportData) -> str:
    cfg = d.record["config"]
    methods = Counter(d.source_classes.column("method").to_pylist())
    return note(
        "Source classes were mapped to WordNet 3.0 synsets ("
        + ", ".join(f"{m}: {n:,}" for m, n in methods.most_common()) + "); "
        f"labels propagated to ancestors, verified negatives to descendants; machine labels kept at confidence >= "
        f"{cfg['labels']['machine_min_confidence']}; duplicates across sources collapsed: "
        f"{cfg['labels']['collapse_duplicates']}; near-duplicates of evaluation images within Hamming distance "
        f"{cfg['dedup']['max_distance']} ({cfg['dedup']['hash']}) removed from training: {cfg['dedup']['enabled']}; "
        + (f"classes with fewer than {cfg['classes']['min_images']} training images dropped."
           if cfg["classes"]["min_images"] else "no class dropped for its number of images (min_images = 0)."))


def _licences(d: ReportData) -> str:
    rows = sorted(((s, lic or "(none given by the source)", n) for (s, lic), n in d.groups["license"].items()),
                  key=lambda r: (r[0], -r[2]))
    authors = ", ".join(f"{s}: {n:,}" for s, n in sorted(d.authors.items())) or "none"
    return (table(["source", "licence", "images"], rows)
            + note(f"Images with an author name kept for attribution (`author` column): {authors}. Licences are as "
                   "the sources list them; images without one remain under their owners' copyright."))
