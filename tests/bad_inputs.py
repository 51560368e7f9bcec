"""The bad-input corpus: one small valid input set per adapter, and the mutations that break it.

A `Case` starts from its adapter's base files (all good rows), replaces or deletes files and
source options, and names the outcome the build must give:
- ERROR: exit status 2, one `mlbuild build: error:` message containing `match` (the file and
  the line or field at fault), no traceback;
- SKIP: success, the bad rows counted in build.json's warnings (`match`, with line numbers),
  and the manifest holds exactly the good rows;
- OK: success and the manifest holds exactly the good rows (`match`, if given, is in the warnings).
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

ERROR, SKIP, OK = "error", "skip", "ok"


@dataclass
class Base:
    """A valid source: its files, its [[source]] table, the ids it yields, whether it is an eval set."""

    files: dict[str, bytes]
    table: dict[str, Any]
    good: set[str]
    evaluation: bool = False


@dataclass
class Case:
    id: str
    base: str
    outcome: str
    match: str = ""
    files: dict[str, bytes | None] = field(default_factory=dict)   # None deletes the file
    options: dict[str, Any] = field(default_factory=dict)          # None deletes the option
    toml: str | bytes = ""                                          # appended to the config (after [build])
    good: set[str] | None = None                                    # default: the base's
    build: dict[str, Any] = field(default_factory=dict)             # overrides of [build]
    header: str | None = None                                       # instead of [[source]] / [[eval]]


URLS = b"n02084071_1\thttp://x.org/1.jpg\nn02084071_2\thttp://x.org/2.jpg\nn02121808_3\thttp://x.org/3.jpg\n"
URL_IDS = {"n02084071_1", "n02084071_2", "n02121808_3"}
OI_HEADER = (b"ImageID,Subset,OriginalURL,OriginalLandingURL,License,AuthorProfileURL,Author,Title,"
             b"OriginalSize,OriginalMD5,Thumbnail300KURL,Rotation\n")
OI_ROW = "{id},train,https://x.org/{id}_o.jpg,,https://creativecommons.org/licenses/by/2.0/,,A,T,100,,,0.0\n"
OI_IDS = ["000060e3121c7305", "0000b86e2fd18333", "0001eeaf4aed83f9"]
OI_IMAGES = OI_HEADER + "".join(OI_ROW.format(id=i) for i in OI_IDS).encode()
OI_LABELS = (b"ImageID,Source,LabelName,Confidence\n000060e3121c7305,verification,/m/01yrx,1\n"
             b"0000b86e2fd18333,verification,/m/0bt9lr,1\n0001eeaf4aed83f9,machine,/m/0bt9lr,0.8\n")
OI_CLASSES = b"LabelName,DisplayName\n/m/0bt9lr,Dog\n/m/01yrx,Cat\n"
SOLUTION = (b"ImageId,PredictionString\nILSVRC2012_val_00000001,n01440764 1 2 3 4\n"
            b"ILSVRC2012_val_00000002,n01443537 1 2 3 4\nILSVRC2012_val_00000003,n01484850 5 6 7 8\n")
VAL_IDS = {"ILSVRC2012_val_00000001", "ILSVRC2012_val_00000002", "ILSVRC2012_val_00000003"}
SYNSETS = b"n01440764 tench\nn01443537 goldfish\nn01484850 great white shark\n"
COCO = {"images": [{"id": 1, "file_name": "1.jpg", "coco_url": "http://c.org/1.jpg"},
                   {"id": 2, "file_name": "2.jpg", "coco_url": "http://c.org/2.jpg"}],
        "categories": [{"id": 18, "name": "dog"}],
        "annotations": [{"image_id": 1, "category_id": 18}, {"image_id": 2, "category_id": 18}]}
TAB_ROWS = [{"image_id": "a", "url": "http://t.org/a.jpg", "labels": "n02084071"},
            {"image_id": "b", "url": "http://t.org/b.jpg", "labels": "n02121808 n02084071"},
            {"image_id": "c", "url": "http://t.org/c.jpg", "labels": "n02084071"}]
TAB_CSV = b"image_id,url,labels\n" + "".join(f"{r['image_id']},{r['url']},{r['labels']}\n"
                                             for r in TAB_ROWS).encode()
TAB_IDS = {"a", "b", "c"}
TAB_TABLE = {"name": "mine", "id_column": "image_id", "url_column": "url", "labels_column": "labels",
             "label_kind": "wnid", "delimiter": " "}


def coco_json(**changes: Any) -> bytes:
    return json.dumps(COCO | changes).encode()


def parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


BASES = {
    "urls": Base({"urls.txt": URLS}, {"kind": "imagenet_urls", "urls": "urls.txt"}, URL_IDS),
    "folder": Base({"tree/n02084071/n02084071_1.JPEG": b"x", "tree/n02084071/n02084071_2.jpeg": b"x",
                    "tree/n02121808/n02121808_3.png": b"x"},
                   {"kind": "imagenet_folder", "root": "tree", "name": "folder"}, URL_IDS),
    "oi": Base({"images.csv": OI_IMAGES, "labels.csv": OI_LABELS, "classes.csv": OI_CLASSES},
               {"kind": "openimages", "image_lists": ["images.csv"], "label_files": ["labels.csv"],
                "descriptions": "classes.csv"}, set(OI_IDS)),
    "ilsvrc": Base({"LOC_val_solution.csv": SOLUTION, "LOC_synset_mapping.txt": SYNSETS,
                    "real.json": b"[[0], [1, 2], [2]]"},
                   {"kind": "ilsvrc2012_val", "solution": "LOC_val_solution.csv", "real": "real.json",
                    "sorted_order": "LOC_synset_mapping.txt"}, VAL_IDS, evaluation=True),
    "coco": Base({"instances.json": coco_json()}, {"kind": "coco", "annotations": ["instances.json"]},
                 {"1", "2"}, evaluation=True),
    "csv": Base({"list.csv": TAB_CSV}, {"kind": "tabular", "path": "list.csv", **TAB_TABLE}, TAB_IDS),
    "parquet": Base({"list.parquet": parquet_bytes(pa.Table.from_pylist(TAB_ROWS))},
                    {"kind": "tabular", "path": "list.parquet", **TAB_TABLE}, TAB_IDS),
    "jsonl": Base({"list.jsonl": jsonl(TAB_ROWS)}, {"kind": "tabular", "path": "list.jsonl", **TAB_TABLE},
                  TAB_IDS),
}

BINARY = bytes(range(256)) * 4
ILSVRC1K = "".join(f"n{i:08d}\n" for i in sorted([*range(999), 2084071])).encode()  # the size of the real list
UTF16 = "n02084071_1\thttp://x.org/1.jpg\n".encode("utf-16")
BOM = b"\xef\xbb\xbf"
SKIPPED = "rows skipped"


def _urls(*lines: bytes) -> bytes:
    return b"".join(lines)


CASES = [
    # ---- ImageNet fall11 URL list
    Case("urls-missing-file", "urls", ERROR, "urls.txt: no such file", files={"urls.txt": None}),
    Case("urls-empty", "urls", ERROR, "urls.txt", files={"urls.txt": b""}),
    Case("urls-binary", "urls", ERROR, "urls.txt:1", files={"urls.txt": BINARY}),
    Case("urls-utf16", "urls", ERROR, "urls.txt:1", files={"urls.txt": UTF16}),
    Case("urls-wrong-format-option", "urls", ERROR, "wrong format option", options={"format": "csv"}),
    Case("urls-format-typo", "urls", ERROR, "[[source]] #1 format: got 'tvs'", options={"format": "tvs"}),
    Case("urls-truncated-mid-id", "urls", SKIP, "urls.txt: 1 rows skipped (line 4: no TAB",
         files={"urls.txt": URLS + b"n0208"}),
    Case("urls-truncated-mid-url", "urls", OK, files={"urls.txt": URLS + b"n02084071_9\thttp://x.or"},
         good=URL_IDS | {"n02084071_9"}),
    Case("urls-no-final-newline", "urls", OK, files={"urls.txt": URLS[:-1]}),
    Case("urls-line-without-tab", "urls", SKIP, "line 2: no TAB",
         files={"urls.txt": _urls(URLS[:30], b"n02084071_7 http://x.org/7.jpg\n", URLS[30:])}),
    Case("urls-empty-lines", "urls", SKIP, "line 2: no TAB", files={"urls.txt": URLS.replace(b"\n", b"\n\n", 1)}),
    Case("urls-binary-line", "urls", SKIP, "line 2", files={"urls.txt": URLS[:30] + BINARY[:200] + b"\n" + URLS[30:]}),
    Case("urls-bad-id", "urls", SKIP, "image id is not <wnid>_<number>",
         files={"urls.txt": URLS + b"x02084071_4\thttp://x.org/4.jpg\n"}),
    Case("urls-empty-url", "urls", SKIP, "line 4: empty URL", files={"urls.txt": URLS + b"n02084071_4\t\n"}),
    Case("urls-header-line", "urls", SKIP, "line 1: image id is not",
         files={"urls.txt": b"image_id\turl\n" + URLS}),
    Case("urls-bom", "urls", OK, files={"urls.txt": BOM + URLS}),
    Case("urls-crlf", "urls", OK, files={"urls.txt": URLS.replace(b"\n", b"\r\n")}),
    Case("urls-non-utf8-url", "urls", OK, "rows repaired",
         files={"urls.txt": URLS + b"n02084071_4\thttp://x.org/m\xfcller.jpg\n"}, good=URL_IDS | {"n02084071_4"}),
    Case("urls-nul-in-url", "urls", OK, files={"urls.txt": URLS + b"n02084071_4\thttp://x.org/\x00.jpg\n"},
         good=URL_IDS | {"n02084071_4"}),
    Case("urls-duplicate-line", "urls", OK, "1 images repeat an earlier image id",
         files={"urls.txt": URLS + URLS[:30]}),
    Case("urls-duplicate-id-other-url", "urls", OK, "repeat an earlier image id",
         files={"urls.txt": URLS + b"n02084071_1\thttp://x.org/other.jpg\n"}),
    Case("urls-long-line", "urls", OK,
         files={"urls.txt": URLS + b"n02084071_5\thttp://x.org/" + b"a" * 100_000 + b"\n"},
         good=URL_IDS | {"n02084071_5"}),
    Case("urls-is-a-folder", "urls", ERROR, "urls.txt", files={"urls.txt": None, "urls.txt/x": b""}),
    Case("urls-named-list-without-dir", "urls", ERROR, "classes: 'fall11' is a named list: set `lists_dir`",
         options={"classes": "fall11"}),
    Case("urls-named-list-wrong-size", "urls", ERROR, "imagenet_synsets.txt: 1 WNIDs where this list has 1,000",
         options={"classes": "ilsvrc1k", "lists_dir": "lists"}, files={"lists/imagenet_synsets.txt": b"n02084071\n"}),
    Case("urls-named-list", "urls", OK, options={"classes": "ilsvrc1k", "lists_dir": "lists"},
         files={"lists/imagenet_synsets.txt": ILSVRC1K}, good={"n02084071_1", "n02084071_2"}),
    Case("urls-class-list-missing", "urls", ERROR, "[[source]] #1 classes", options={"classes": "mine.txt"}),
    Case("urls-class-list-bad-line", "urls", ERROR, "mine.txt:2", options={"classes": "mine.txt"},
         files={"mine.txt": b"n02084071\nnot-a-wnid\n"}),
    Case("urls-class-list-restricts", "urls", OK, options={"classes": "mine.txt"},
         files={"mine.txt": b"n02084071\n"}, good={"n02084071_1", "n02084071_2"}),
    Case("urls-lemmas-bad-line", "urls", ERROR, "words.txt:2", options={"lemmas": "words.txt"},
         files={"words.txt": b"n02084071\tdog\nn02121808 no tab\n"}),
    Case("urls-lemmas-binary", "urls", ERROR, "words.txt", options={"lemmas": "words.txt"},
         files={"words.txt": BINARY}),
    Case("urls-lemmas-used", "urls", OK, options={"lemmas": "words.txt"},
         files={"words.txt": b"n02084071\tdog, domestic dog\nn02121808\tdomestic cat, house cat\n"}),
    Case("urls-unknown-option", "urls", ERROR, "[[source]] #1 lemma: unknown key (did you mean 'lemmas'?)",
         options={"lemma": "words.txt"}),
    Case("urls-block-bytes-zero", "urls", ERROR, "block_bytes: got 0", options={"block_bytes": 0}),
    # ---- ImageNet folder tree
    Case("folder-missing-root", "folder", ERROR, "nowhere: no such file", options={"root": "nowhere"}),
    Case("folder-root-is-file", "folder", ERROR, "rootfile", files={"rootfile": b"x"}, options={"root": "rootfile"}),
    Case("folder-no-images", "folder", ERROR, "has no images", files={"tree/n02084071/n02084071_1.JPEG": None,
                                                                      "tree/n02084071/n02084071_2.jpeg": None,
                                                                      "tree/n02121808/n02121808_3.png": None,
                                                                      "tree/n02084071/notes.txt": b""}),
    Case("folder-non-wnid-folder", "folder", SKIP, "folder 'notes' is not a WNID",
         files={"tree/notes/readme.jpg": b"x"}),
    Case("folder-other-extensions-ignored", "folder", OK, files={"tree/n02084071/notes.txt": b"x"}),
    Case("folder-nested-folder-ignored", "folder", OK, files={"tree/n02084071/sub/n02084071_9.JPEG": b"x"}),
    Case("folder-same-stem-two-extensions", "folder", OK, "repeat an earlier image id",
         files={"tree/n02084071/n02084071_1.png": b"x"}),
    Case("folder-same-name-two-classes", "folder", OK, "repeat an earlier image id",
         files={"tree/n02121808/n02084071_1.JPEG": b"x"}),
    Case("folder-empty-files", "folder", OK, files={"tree/n02084071/n02084071_1.JPEG": b""}),
    Case("folder-extensions-not-list", "folder", ERROR, "extensions: got 5", options={"extensions": 5}),
    Case("folder-batch-rows-negative", "folder", ERROR, "batch_rows: got -1", options={"batch_rows": -1}),
    # ---- Open Images
    Case("oi-images-missing", "oi", ERROR, "images.csv: no such file", files={"images.csv": None}),
    Case("oi-images-empty", "oi", ERROR, "images.csv:1", files={"images.csv": b""}),
    Case("oi-images-header-only", "oi", ERROR, "has no images (no rows)", files={"images.csv": OI_HEADER}),
    Case("oi-images-wrong-header", "oi", ERROR, "images.csv:1", files={"images.csv": b"a,b\n" + OI_IMAGES}),
    Case("oi-images-binary", "oi", ERROR, "images.csv:1", files={"images.csv": BINARY}),
    Case("oi-images-bad-id", "oi", SKIP, "line 5: ImageID is not 16 lowercase hex digits",
         files={"images.csv": OI_IMAGES + OI_ROW.format(id="XYZ").encode()}),
    Case("oi-images-no-url", "oi", SKIP, "line 5: no OriginalURL",
         files={"images.csv": OI_IMAGES + b"00aa00aa00aa00aa,train,,,,,,,1,,,\n"}),
    Case("oi-images-too-few-fields", "oi", ERROR, "images.csv:5",
         files={"images.csv": OI_IMAGES + b"00aa00aa00aa00aa,train\n"}),
    Case("oi-images-size-not-number", "oi", ERROR, "images.csv:3",
         files={"images.csv": OI_IMAGES.replace(b",100,", b",big,", 2).replace(b",big,", b",100,", 1)}),
    Case("oi-images-bad-md5", "oi", OK, "rows repaired",
         files={"images.csv": OI_IMAGES.replace(b",100,,", b",100,notbase64,", 1)}),
    Case("oi-images-truncated", "oi", ERROR, "images.csv:4", files={"images.csv": OI_IMAGES[:-20]}),
    Case("oi-images-crlf", "oi", OK, files={"images.csv": OI_IMAGES.replace(b"\n", b"\r\n")}),
    Case("oi-images-duplicated-row", "oi", OK, "repeat an earlier image id",
         files={"images.csv": OI_IMAGES + OI_ROW.format(id=OI_IDS[0]).encode()}),
    Case("oi-images-listed-twice", "oi", OK, "3 images repeat", options={"image_lists": ["images.csv", "images.csv"]}),
    Case("oi-labels-missing", "oi", ERROR, "labels.csv: no such file", files={"labels.csv": None}),
    Case("oi-labels-empty", "oi", ERROR, "labels.csv:1", files={"labels.csv": b""}),
    Case("oi-labels-header-only", "oi", OK, files={"labels.csv": b"ImageID,Source,LabelName,Confidence\n"}),
    Case("oi-labels-bad-mid", "oi", SKIP, "line 5: LabelName is not a MID",
         files={"labels.csv": OI_LABELS + b"000060e3121c7305,verification,dog,1\n"}),
    Case("oi-labels-confidence-out-of-range", "oi", SKIP, "line 5: Confidence is not in [0, 1]",
         files={"labels.csv": OI_LABELS + b"000060e3121c7305,verification,/m/0bt9lr,2\n"}),
    Case("oi-labels-confidence-text", "oi", ERROR, "labels.csv:5: field 'Confidence'",
         files={"labels.csv": OI_LABELS + b"000060e3121c7305,verification,/m/0bt9lr,yes\n"}),
    Case("oi-labels-empty-source", "oi", SKIP, "line 5: empty Source",
         files={"labels.csv": OI_LABELS + b"000060e3121c7305,,/m/0bt9lr,1\n"}),
    Case("oi-labels-bad-image-id", "oi", SKIP, "line 5: ImageID is not",
         files={"labels.csv": OI_LABELS + b"000060e3121c730,verification,/m/0bt9lr,1\n"}),
    Case("oi-labels-unknown-image", "oi", OK,
         files={"labels.csv": OI_LABELS + b"ffffffffffffffff,machine,/m/0bt9lr,1\n"}),
    Case("oi-labels-duplicated", "oi", OK, files={"labels.csv": OI_LABELS + OI_LABELS.split(b"\n", 1)[1]}),
    Case("oi-labels-extra-field", "oi", ERROR, "labels.csv:5",
         files={"labels.csv": OI_LABELS + b"000060e3121c7305,verification,/m/0bt9lr,1,extra\n"}),
    Case("oi-labels-non-utf8", "oi", ERROR, "labels.csv",
         files={"labels.csv": OI_LABELS + b"000060e3121c7305,verific\xe9tion,/m/0bt9lr,1\n"}),
    Case("oi-descriptions-bad-mid", "oi", ERROR, "classes.csv:4: field 'LabelName'",
         files={"classes.csv": OI_CLASSES + b"dog,Dog\n"}),
    Case("oi-descriptions-binary", "oi", ERROR, "classes.csv", files={"classes.csv": BINARY}),
    Case("oi-descriptions-unmapped-mid-by-name", "oi", OK,
         files={"classes.csv": OI_CLASSES + b"/m/zzzzzz,Golden retriever\n",
                "labels.csv": OI_LABELS + b"000060e3121c7305,verification,/m/zzzzzz,1\n"}),
    Case("oi-hierarchy-truncated", "oi", ERROR, "h.json", options={"hierarchies": ["h.json"]},
         files={"h.json": b'{"LabelName": "/m/0bl9f", "Subcategory": [{"LabelName"'}),
    Case("oi-hierarchy-no-labelname", "oi", ERROR, "h.json: hierarchy node without a LabelName",
         options={"hierarchies": ["h.json"]}, files={"h.json": b'{"Subcategory": []}'}),
    Case("oi-hierarchy-single-path", "oi", OK, options={"hierarchies": "h.json"},
         files={"h.json": b'{"LabelName": "/m/0bl9f", "Subcategory": [{"LabelName": "/m/0bt9lr"}]}'}),
    Case("oi-trainable-bad-line", "oi", ERROR, "t.txt:2", options={"trainable": "t.txt"},
         files={"t.txt": b"/m/0bt9lr\nDog\n"}),
    Case("oi-url-typo", "oi", ERROR,
         "url: got 'originall', allowed: 'thumbnail', 'original' (did you mean 'original'?)",
         options={"url": "originall"}),
    Case("oi-keep-root-string", "oi", ERROR, "keep_root: got 'yes', expected true or false",
         options={"keep_root": "yes"}),
    Case("oi-single-image-list-string", "oi", OK, options={"image_lists": "images.csv"}),
    # ---- ILSVRC-2012 validation + ReaL
    Case("ilsvrc-solution-missing", "ilsvrc", ERROR, "LOC_val_solution.csv: no such file",
         files={"LOC_val_solution.csv": None}),
    Case("ilsvrc-solution-empty", "ilsvrc", ERROR, "LOC_val_solution.csv:1", files={"LOC_val_solution.csv": b""}),
    Case("ilsvrc-solution-header-only", "ilsvrc", ERROR, "LOC_val_solution.csv: no rows",
         files={"LOC_val_solution.csv": b"ImageId,PredictionString\n"}),
    Case("ilsvrc-solution-wrong-header", "ilsvrc", ERROR, "LOC_val_solution.csv:1",
         files={"LOC_val_solution.csv": b"id,pred\n" + SOLUTION.split(b"\n", 1)[1]}),
    Case("ilsvrc-solution-bad-image-id", "ilsvrc", ERROR, "LOC_val_solution.csv:5: field 'ImageId'",
         files={"LOC_val_solution.csv": SOLUTION + b"val_4,n01440764 1 2 3 4\n"}),
    Case("ilsvrc-solution-bad-wnid", "ilsvrc", ERROR, "LOC_val_solution.csv:5: field 'PredictionString'",
         files={"LOC_val_solution.csv": SOLUTION + b"ILSVRC2012_val_00000004,tench 1 2 3 4\n"}),
    Case("ilsvrc-solution-binary", "ilsvrc", ERROR, "LOC_val_solution.csv", files={"LOC_val_solution.csv": BINARY}),
    Case("ilsvrc-solution-duplicated-row", "ilsvrc", OK, "repeat an earlier image id",
         files={"LOC_val_solution.csv": SOLUTION + SOLUTION.split(b"\n")[1] + b"\n"}),
    Case("ilsvrc-real-truncated", "ilsvrc", ERROR, "real.json", files={"real.json": b"[[0], [1,"}),
    Case("ilsvrc-real-not-a-list", "ilsvrc", ERROR, "real.json", files={"real.json": b'{"a": 1}'}),
    Case("ilsvrc-real-index-out-of-range", "ilsvrc", ERROR, "real.json:2", files={"real.json": b"[[0], [7], []]"}),
    Case("ilsvrc-real-excluded-images-counted", "ilsvrc", SKIP, "real.json: 2 rows skipped",
         files={"real.json": b"[[0], [], []]"}),
    Case("ilsvrc-real-without-order", "ilsvrc", ERROR, "sorted_order", options={"sorted_order": None}),
    Case("ilsvrc-order-unsorted", "ilsvrc", ERROR, "LOC_synset_mapping.txt: WNIDs are not sorted",
         files={"LOC_synset_mapping.txt": b"n01443537 goldfish\nn01440764 tench\nn01484850 shark\n"}),
    Case("ilsvrc-order-bad-wnid", "ilsvrc", ERROR, "LOC_synset_mapping.txt:2: field 'wnid'",
         files={"LOC_synset_mapping.txt": b"n01440764 tench\ngoldfish\n"}),
    Case("ilsvrc-both-truths", "ilsvrc", ERROR, "exactly one of solution", options={"ground_truth": "gt.txt"},
         files={"gt.txt": b"1\n"}),
    Case("ilsvrc-ground-truth-without-order", "ilsvrc", ERROR, "devkit_order",
         options={"solution": None, "ground_truth": "gt.txt", "real": None}, files={"gt.txt": b"1\n2\n"}),
    Case("ilsvrc-ground-truth-not-integer", "ilsvrc", ERROR, "gt.txt:2",
         options={"solution": None, "ground_truth": "gt.txt", "devkit_order": "map.txt", "real": None},
         files={"gt.txt": b"1\ntwo\n", "map.txt": b"n01440764 1 tench\nn01443537 2 goldfish\n"}),
    Case("ilsvrc-devkit-ids-not-1-to-n", "ilsvrc", ERROR, "map.txt: ILSVRC2012_IDs are not exactly 1..N",
         options={"solution": None, "ground_truth": "gt.txt", "devkit_order": "map.txt", "real": None},
         files={"gt.txt": b"1\n", "map.txt": b"n01440764 1 tench\nn01443537 3 goldfish\n"}),
    Case("ilsvrc-ground-truth-out-of-range", "ilsvrc", ERROR, "gt.txt:2",
         options={"solution": None, "ground_truth": "gt.txt", "devkit_order": "map.txt", "real": None},
         files={"gt.txt": b"1\n9\n", "map.txt": b"n01440764 1 tench\nn01443537 2 goldfish\n"}),
    # ---- COCO
    Case("coco-single-file-string", "coco", OK, options={"annotations": "instances.json"}),
    Case("coco-missing", "coco", ERROR, "instances.json: no such file", files={"instances.json": None}),
    Case("coco-empty", "coco", ERROR, "instances.json: not COCO JSON", files={"instances.json": b""}),
    Case("coco-truncated", "coco", ERROR, "instances.json: not COCO JSON", files={"instances.json": coco_json()[:-30]}),
    Case("coco-binary", "coco", ERROR, "instances.json: not COCO JSON", files={"instances.json": BINARY}),
    Case("coco-utf16", "coco", ERROR, "instances.json: not COCO JSON",
         files={"instances.json": coco_json().decode().encode("utf-16")}),
    Case("coco-a-list", "coco", ERROR, "field 'images'", files={"instances.json": b"[]"}),
    Case("coco-no-images", "coco", ERROR, "field 'images'", files={"instances.json": b'{"annotations": []}'}),
    Case("coco-image-without-id", "coco", ERROR, "field 'images.id'",
         files={"instances.json": coco_json(images=COCO["images"] + [{"file_name": "x.jpg"}])}),
    Case("coco-image-id-text", "coco", ERROR, "field 'images'",
         files={"instances.json": coco_json(images=COCO["images"] + [{"id": "three"}])}),
    Case("coco-unknown-category", "coco", ERROR, "field 'annotations.category_id'",
         files={"instances.json": coco_json(annotations=[{"image_id": 1, "category_id": 99}])}),
    Case("coco-bad-category", "coco", ERROR, "field 'categories'",
         files={"instances.json": coco_json(categories=[{"id": "x", "name": 5}])}),
    Case("coco-duplicate-image-id", "coco", OK, "repeat an earlier image id",
         files={"instances.json": coco_json(images=COCO["images"] + COCO["images"][:1])}),
    Case("coco-captions-file", "coco", OK, files={"instances.json": coco_json(categories=[], annotations=[])}),
    Case("coco-url-typo", "coco", ERROR, "url: got 'flikr'", options={"url": "flikr"}),
    # ---- tabular CSV
    Case("csv-missing", "csv", ERROR, "list.csv: no such file", files={"list.csv": None}),
    Case("csv-empty", "csv", ERROR, "list.csv", files={"list.csv": b""}),
    Case("csv-header-only", "csv", ERROR, "list.csv: source 'mine' has no images",
         files={"list.csv": b"image_id,url,labels\n"}),
    Case("csv-every-row-bad", "csv", ERROR, "has no images (", files={"list.csv": b"image_id,url,labels\n,,x\n"}),
    Case("csv-binary", "csv", ERROR, "list.csv", files={"list.csv": BINARY}),
    Case("csv-missing-column", "csv", ERROR, "list.csv", files={"list.csv": b"image_id,labels\na,n02084071\n"}),
    Case("csv-row-without-id", "csv", SKIP, "list.csv: 1 rows skipped (line 5: no image id",
         files={"list.csv": TAB_CSV + b",http://t.org/z.jpg,n02084071\n"}),
    Case("csv-row-without-url", "csv", SKIP, "line 5: no URL or path", files={"list.csv": TAB_CSV + b"z,,n02084071\n"}),
    Case("csv-bad-wnid-label", "csv", SKIP, "line 5: label not a WNID",
         files={"list.csv": TAB_CSV + b"z,http://t.org/z.jpg,dog\n"}, good=TAB_IDS | {"z"}),
    Case("csv-too-many-fields", "csv", ERROR, "list.csv", files={"list.csv": TAB_CSV + b"z,http://t.org/z.jpg,n1,extra\n"}),
    Case("csv-truncated-row", "csv", ERROR, "list.csv", files={"list.csv": TAB_CSV + b"z,http://t"}),
    Case("csv-bom", "csv", OK, files={"list.csv": BOM + TAB_CSV}),
    Case("csv-crlf", "csv", OK, files={"list.csv": TAB_CSV.replace(b"\n", b"\r\n")}),
    Case("csv-duplicate-rows", "csv", OK, "repeat an earlier image id", files={"list.csv": TAB_CSV + b"a,http://t.org/a.jpg,n02084071\n"}),
    Case("csv-non-utf8", "csv", ERROR, "list.csv", files={"list.csv": TAB_CSV + b"z,http://t.org/\xe9.jpg,n02084071\n"}),
    Case("csv-confidence-out-of-range", "csv", SKIP, "confidence is not in [0, 1]",
         options={"confidence_column": "conf"},
         files={"list.csv": b"image_id,url,labels,conf\na,http://t.org/a.jpg,n02084071,1\n"
                            b"b,http://t.org/b.jpg,n02084071,0.5\nc,http://t.org/c.jpg,n02084071,1\n"
                            b"z,http://t.org/z.jpg,n02084071,7\n"}),
    Case("csv-label-kind-typo", "csv", ERROR, "label_kind: got 'wnids'", options={"label_kind": "wnids"}),
    Case("csv-format-typo", "csv", ERROR, "format: got 'xlsx'", options={"format": "xlsx"}),
    Case("csv-no-location-column", "csv", ERROR, "url_column", options={"url_column": None}),
    Case("csv-required-key-missing", "csv", ERROR, "[[source]] #1 id_column: missing", options={"id_column": None}),
    Case("csv-id-column-number", "csv", ERROR, "id_column: got 5, expected a string", options={"id_column": 5}),
    # ---- tabular Parquet
    Case("parquet-truncated", "parquet", ERROR, "list.parquet",
         files={"list.parquet": BASES["parquet"].files["list.parquet"][:-40]}),
    Case("parquet-not-parquet", "parquet", ERROR, "list.parquet", files={"list.parquet": TAB_CSV}),
    Case("parquet-empty", "parquet", ERROR, "list.parquet", files={"list.parquet": b""}),
    Case("parquet-missing-column", "parquet", ERROR, "list.parquet",
         files={"list.parquet": parquet_bytes(pa.table({"image_id": ["a"], "labels": ["n02084071"]}))}),
    Case("parquet-integer-ids", "parquet", OK, good={"1", "2"},
         files={"list.parquet": parquet_bytes(pa.table({"image_id": [1, 2], "url": ["http://t/1", "http://t/2"],
                                                        "labels": ["n02084071", "n02121808"]}))}),
    Case("parquet-null-id", "parquet", SKIP, "line 2: no image id", good={"a"},
         files={"list.parquet": parquet_bytes(pa.table({"image_id": ["a", None], "url": ["http://t/a", "http://t/b"],
                                                        "labels": ["n02084071", "n02121808"]}))}),
    Case("parquet-list-labels", "parquet", OK, good={"a"},
         files={"list.parquet": parquet_bytes(pa.table({"image_id": ["a"], "url": ["http://t/a"],
                                                        "labels": [["n02084071", "n02121808"]]}))}),
    Case("parquet-zero-rows", "parquet", ERROR, "has no images",
         files={"list.parquet": parquet_bytes(pa.Table.from_pylist(TAB_ROWS).slice(0, 0))}),
    # ---- tabular JSONL
    Case("jsonl-truncated", "jsonl", ERROR, "list.jsonl", files={"list.jsonl": jsonl(TAB_ROWS)[:-10]}),
    Case("jsonl-invalid-line", "jsonl", ERROR, "list.jsonl",
         files={"list.jsonl": jsonl(TAB_ROWS[:1]) + b"{not json}\n" + jsonl(TAB_ROWS[1:])}),
    Case("jsonl-empty", "jsonl", ERROR, "list.jsonl", files={"list.jsonl": b""}),
    Case("jsonl-missing-key-in-row", "jsonl", SKIP, "line 4: no URL or path",
         files={"list.jsonl": jsonl(TAB_ROWS + [{"image_id": "z", "labels": "n02084071"}])}),
    Case("jsonl-binary", "jsonl", ERROR, "list.jsonl", files={"list.jsonl": BINARY}),
    Case("jsonl-blank-lines", "jsonl", OK, files={"list.jsonl": jsonl(TAB_ROWS).replace(b"\n", b"\n\n")}),
    # ---- the config itself
    Case("config-enabled-string", "csv", ERROR, "[download] enabled: got 'false', expected true or false",
         toml='[download]\nenabled = "false"\n'),
    Case("config-partition-negative", "csv", ERROR, "[build] partition_images: got -5, must be >= 1",
         build={"partition_images": -5}),
    Case("config-partition-string", "csv", ERROR, "[build] partition_images: got '8', expected an integer",
         build={"partition_images": "8"}),
    Case("config-workers-bool", "csv", ERROR, "[build] workers: got True, expected an integer",
         build={"workers": True}),
    Case("config-unknown-build-key", "csv", ERROR, "[build] partition_image: unknown key (did you mean "
                                                   "'partition_images'?)", toml="partition_image = 8\n"),
    Case("config-engine-typo", "csv", ERROR, "[build] engine: got 'dsak'", toml='engine = "dsak"\n'),
    Case("config-unknown-section", "csv", ERROR, "[clases]: unknown section (did you mean 'classes'?)",
         toml="[clases]\nmin_images = 1\n"),
    Case("config-unknown-classes-key", "csv", ERROR, "[classes] min_image: unknown key",
         toml="[classes]\nmin_image = 1\n"),
    Case("config-min-images-negative", "csv", ERROR, "[classes] min_images: got -1",
         toml="[classes]\nmin_images = -1\n"),
    Case("config-include-missing-file", "csv", ERROR, "[classes] include: ",
         toml='[classes]\ninclude = ["missing_list.txt"]\n'),
    Case("config-include-named-list", "csv", OK, files={"lists/imagenet_synsets.txt": ILSVRC1K},
         toml='[classes]\ninclude = ["ilsvrc1k"]\nlists_dir = "lists"\n'),
    Case("config-include-relative-to-config", "csv", OK, toml='[classes]\ninclude = ["keep.txt"]\n',
         files={"keep.txt": b"n02084071\n"}),
    Case("config-exclude-wnid-string", "csv", OK, toml='[classes]\nexclude = "n02121808"\n'),
    Case("config-include-named-list-without-dir", "csv", ERROR, "[classes] include: '21k-p-winter21' is a named list",
         toml='[classes]\ninclude = ["21k-p-winter21"]\n'),
    Case("config-relations-typo", "csv", ERROR, "[taxonomy] relations: got ['hypernim'], allowed:",
         toml='[taxonomy]\nrelations = ["hypernim"]\n'),
    Case("config-merge-wrong-keys", "csv", ERROR, "[taxonomy] merge",
         toml='[taxonomy]\nmerge = [{from = "n1", to = "n2"}]\n'),
    Case("config-confidence-above-one", "csv", ERROR, "[labels] machine_min_confidence: got 2",
         toml="[labels]\nmachine_min_confidence = 2\n"),
    Case("config-negatives-int", "csv", ERROR, "[labels] negatives: got 1", toml="[labels]\nnegatives = 1\n"),
    Case("config-hash-typo", "csv", ERROR, "[dedup] hash: got 'phahs'", toml='[dedup]\nhash = "phahs"\n'),
    Case("config-max-distance-too-big", "csv", ERROR, "[dedup] max_distance: got 100, must be <= 32",
         toml="[dedup]\nmax_distance = 100\n"),
    Case("config-download-unknown-key", "csv", ERROR,
         "[download] concurency: unknown key (did you mean 'concurrency'?)",
         toml="[download]\nconcurency = 4\n"),
    Case("config-download-zero-concurrency", "csv", ERROR, "[download] concurrency: got 0, must be > 0",
         toml="[download]\nconcurrency = 0\n"),
    Case("config-kind-typo", "csv", ERROR, "[[source]] #1 kind: got 'tabluar'", options={"kind": "tabluar"}),
    Case("config-kind-missing", "csv", ERROR, "[[source]] #1 kind: missing", options={"kind": None}),
    Case("config-class-map-missing", "csv", ERROR, "class_map", options={"class_map": "nomap.csv"}),
    Case("config-two-sources-one-name", "csv", ERROR, "[[source]] #1 and [[source]] #2 are both named 'mine'",
         toml='[[source]]\nkind = "tabular"\npath = "list.csv"\nname = "mine"\nid_column = "image_id"\n'
              'url_column = "url"\nlabels_column = "labels"\n'),
    Case("config-source-not-array", "csv", ERROR, "write [[source]]", header="[source]"),
    Case("config-key-outside-sections", "csv", ERROR,
         "build.toml:1: (top level) workers: a key outside any section (it belongs in [build])",
         header="workers = 2\n[[source]]"),
    Case("config-invalid-toml", "csv", ERROR, "not valid TOML", toml="[classes\n"),
    Case("config-not-utf8", "csv", ERROR, "build.toml: not UTF-8", toml=b"# caf\xe9\n"),
]
