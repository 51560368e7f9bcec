"""Export the WordNet 3.0 noun database to the Parquet snapshot that mlbuild ships.

Reads a WordNet 3.0 `dict/` directory (Debian: /usr/share/wordnet from
`wordnet-base` + `wordnet-sense-index`) with NLTK's reader and writes one Parquet
file: one row per noun synset in data.noun order, relations as row indices, the
lemma index as per-lemma sense ranks and tag counts, and the noun morphology
exceptions in the file's key-value metadata. The output is deterministic.
"""
from __future__ import annotations

import json
import shutil
import tempfile
import warnings
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from mlbuild._util.atomic import write_atomic
from mlbuild.errors import InputError

# lexnames(5WN): NLTK's reader needs this file, which Debian does not install.
LEXNAMES = (
    "adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute "
    "noun.body noun.cognition noun.communication noun.event noun.feeling noun.food noun.group "
    "noun.location noun.motive noun.object noun.person noun.phenomenon noun.plant "
    "noun.possession noun.process noun.quantity noun.relation noun.shape noun.state "
    "noun.substance noun.time verb.body verb.change verb.cognition verb.communication "
    "verb.competition verb.consumption verb.contact verb.creation verb.emotion verb.motion "
    "verb.perception verb.possession verb.social verb.stative verb.weather adj.ppl"
).split()
_LEX_POS = {"adj": 3, "adv": 4, "noun": 1, "verb": 2}
RELATION_METHODS = {
    "hypernym": "hypernyms",
    "instance_hypernym": "instance_hypernyms",
    "part_holonym": "part_holonyms",
    "member_holonym": "member_holonyms",
    "substance_holonym": "substance_holonyms",
}
SCHEMA = pa.schema(
    [pa.field("offset", pa.uint32(), nullable=False), pa.field("name", pa.string()),
     pa.field("lexname", pa.string()), pa.field("lemmas", pa.list_(pa.string())),
     pa.field("lemma_ranks", pa.list_(pa.int16())), pa.field("lemma_counts", pa.list_(pa.int32())),
     pa.field("gloss", pa.string())]
    + [pa.field(rel, pa.list_(pa.int32())) for rel in RELATION_METHODS]
)


def _reader(dict_dir: Path, workdir: Path):
    """NLTK's WordNetCorpusReader over a copy of dict_dir that has a `lexnames` file."""
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    if not (dict_dir / "data.noun").is_file():
        raise InputError(dict_dir, "not a WordNet database directory (no data.noun)")
    root = workdir / "dict"
    shutil.copytree(dict_dir, root, ignore=lambda d, names: [n for n in names if (Path(d) / n).is_dir()])
    if not (root / "lexnames").exists():
        lines = (f"{i:02d}\t{name}\t{_LEX_POS[name.split('.')[0]]}\n" for i, name in enumerate(LEXNAMES))
        (root / "lexnames").write_text("".join(lines))
    nltk.data.path.append(str(root))  # NLTK only opens corpora under its data path
    class Reader(WordNetCorpusReader):
        def map_wn(self, version="wordnet"):  # the OMW mapping would load NLTK's downloaded corpus
            return None

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "multilingual functions are not available"
        reader = Reader(str(root), None)
    if reader.get_version() != "3.0":
        raise InputError(dict_dir, f"WordNet {reader.get_version()} found, 3.0 required")
    return reader


def _rows(reader) -> dict[str, list]:
    """Column lists for every noun synset, in data.noun (offset) order."""
    synsets = sorted(reader.all_synsets("n"), key=lambda s: s.offset())
    row_of = {s.offset(): i for i, s in enumerate(synsets)}
    cols: dict[str, list] = {f.name: [] for f in SCHEMA}
    for s in synsets:
        lemmas = s.lemmas()
        cols["offset"].append(s.offset())
        cols["name"].append(s.name())
        cols["lexname"].append(s.lexname())
        cols["lemmas"].append([lem.name() for lem in lemmas])
        cols["lemma_ranks"].append([_rank(reader, lem.name(), s) for lem in lemmas])
        cols["lemma_counts"].append([lem.count() for lem in lemmas])
        cols["gloss"].append(s.definition())
        for rel, method in RELATION_METHODS.items():
            cols[rel].append(sorted(row_of[t.offset()] for t in getattr(s, method)()))
    return cols


def _rank(reader, lemma: str, synset) -> int:
    """1-based position of synset among the noun senses of lemma (index.noun order)."""
    offsets = reader._lemma_pos_offset_map[lemma.lower()]["n"]
    return offsets.index(synset.offset()) + 1


def export(dict_dir: Path, out: Path) -> pa.Table:
    """Write the noun snapshot of the WordNet 3.0 database in dict_dir to out (atomically)."""
    with tempfile.TemporaryDirectory() as tmp:
        reader = _reader(Path(dict_dir), Path(tmp))
        table = pa.table(_rows(reader), schema=SCHEMA)
        exceptions = {k: v for k, v in sorted(reader._exception_map["n"].items())}
    meta = {b"wordnet.version": b"3.0", b"wordnet.noun_exceptions": json.dumps(exceptions).encode()}
    table = table.replace_schema_metadata(meta)
    write_atomic(out, lambda temp: pq.write_table(table, temp, compression="zstd", compression_level=9,
                                                  row_group_size=len(table), write_statistics=False))
    return table
