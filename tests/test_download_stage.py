"""The build's download stage against a real loopback server: files, statuses, then dedup on them."""
from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from download_server import ImageServer, Page

from mlbuild.pipeline import build

PHOTO = Path(__file__).resolve().parent / "fixtures" / "images" / "chelsea.jpg"
OTHER = Path(__file__).resolve().parent / "fixtures" / "images" / "coffee.jpg"


@pytest.fixture(scope="module")
def server():
    srv = ImageServer().start()
    yield srv
    srv.stop()


def test_build_downloads_urls_records_status_and_removes_eval_duplicates(server, tmp_path):
    cat = server.add("stage/cat.jpg", Page(body=PHOTO.read_bytes()))
    cup = server.add("stage/cup.jpg", Page(body=OTHER.read_bytes()))
    gone = server.add("stage/gone.jpg", Page(status=404, content_type="text/html", body=b"no"))
    (tmp_path / "train.csv").write_text(
        f"image_id,url,labels\ncat,{cat},n02123045\ncup,{cup},n03063599\ngone,{gone},n02084071\n")
    (tmp_path / "eval.csv").write_text(f"image_id,path,labels\nv1,{PHOTO},n02123045\n")
    (tmp_path / "build.toml").write_text(
        '[[source]]\nkind = "tabular"\nname = "web"\npath = "train.csv"\nid_column = "image_id"\n'
        'url_column = "url"\nlabels_column = "labels"\nlabel_kind = "wnid"\n\n'
        '[[eval]]\nkind = "tabular"\nname = "ev"\npath = "eval.csv"\nid_column = "image_id"\n'
        'path_column = "path"\nlabels_column = "labels"\nlabel_kind = "wnid"\nsplit = "eval"\n\n'
        '[download]\nenabled = true\nprocesses = 1\nconnect_timeout = 2.0\nread_timeout = 2.0\n'
        'total_timeout = 5.0\nbackoff_base = 0.05\n')
    out = build(tmp_path / "build.toml", tmp_path / "out").out_dir
    rows = {r["image_id"]: r for r in pq.read_table(out / "images").to_pylist()}
    assert rows["web:cat"]["status"] == "ok" and Path(rows["web:cat"]["path"]).read_bytes() == PHOTO.read_bytes()
    assert rows["web:gone"]["status"] == "http_4xx" and rows["web:gone"]["path"] is None
    assert rows["web:cup"]["phash"] is not None and rows["web:cup"]["dedup"] is None
    assert rows["web:cat"]["dedup"] == "near_duplicate:ev:v1"      # the downloaded copy of an eval image
    assert rows["ev:v1"]["status"] is None                          # local file: nothing downloaded
    hits = server.hit_count("stage/cat.jpg")
    build(tmp_path / "build.toml", tmp_path / "out")                # rerun: the journal says done
    assert server.hit_count("stage/cat.jpg") == hits
    again = {r["image_id"]: r for r in pq.read_table(out / "images").to_pylist()}
    assert again["web:cat"]["status"] == "ok" and again["web:cat"]["dedup"] == rows["web:cat"]["dedup"]
