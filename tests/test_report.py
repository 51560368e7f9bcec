"""`mlbuild report`: a self-contained page with the build's numbers, rendered in a real headless browser."""
from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from PIL import Image, ImageOps

from mlbuild.cli import main
from mlbuild.pipeline import build
from mlbuild.sample import SAMPLE_DIR, sample_config

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--no-first-run", "--disable-component-update", "--disable-sync", "--virtual-time-budget=10000"]


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """The sample built with min_images = 2 and square-root sampling, and its report."""
    folder = tmp_path_factory.mktemp("report")
    config = sample_config()
    config.classes.min_images = 2
    config.stats.sampling = "sqrt"
    out = build(config, folder / "out").out_dir
    assert main(["report", str(out), "--out", str(folder / "report.html")]) == 0
    return folder / "report.html"


def images_of(page: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'<img alt="[^"]*" src="data:image/png;base64,([^"]+)"', page)]


def test_report_is_self_contained_and_its_plots_are_pngs(report):
    page = report.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page), "nothing may be fetched"
    assert "<link" not in page and "@import" not in page and "url(" not in page
    pngs = images_of(page)
    assert len(pngs) == page.count("<img") >= 5
    for png in pngs:
        with Image.open(io.BytesIO(png)) as im:
            assert im.format == "PNG" and im.width > 300 and im.height > 100


def test_report_shows_the_builds_numbers(report):
    page = report.read_text(encoding="utf-8")
    for title in ("Images per class", "Labels per image", "Depth of labelled classes", "Images per source and split",
                  "Overlap between sources", "Classes and min_images", "Dedup removals per evaluation set",
                  "Download statuses", "Lowest-score class mappings", "Top unrelated co-occurring pairs",
                  "Datasheet", "Config and versions"):
        assert f">{title}</h2>" in page
    assert "imagenet_local:n02123045_1 ~ sample_eval:val_0001 (d=0, plain)" in page    # dedup example pair
    assert "<td>sample_eval</td><td class=\"n\">1</td><td class=\"n\">1</td><td>plain 1</td>" in page
    assert "min_images = 2: 13 classes before, 10 after; 3 dropped" in page
    assert "<td>n04037443</td><td class=\"n\">1</td><td>n02958343</td>" in page       # racer -> car
    assert "<td>/m/02jvh9</td><td>n03797390</td><td>mug</td>" in page                 # lowest mapping score
    assert "openimages: 4" in page                                                     # authors kept
    assert "https://creativecommons.org/licenses/by/2.0/" in page                      # licence as text
    assert "&#x27;sampling&#x27;: &#x27;sqrt&#x27;" in page or "sampling = &#x27;sqrt&#x27;" in page


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (Debian: apt-get install chromium)")
def test_every_plot_loads_in_a_headless_browser(report, tmp_path):
    done = subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
                           report.resolve().as_uri()], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    n = len(images_of(report.read_text(encoding="utf-8")))
    assert re.search(r"<body[^>]*>", done.stdout).group(0) == f'<body data-images="{n}/{n}">'


def test_report_of_an_unfinished_build_is_an_input_error(tmp_path, capsys):
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "r.html")]) == 2
    assert "no build.json" in capsys.readouterr().err and not (tmp_path / "r.html").exists()


def test_report_counts_images_that_could_not_be_hashed(tmp_path, capsys):
    """A training image that is not a readable image and an evaluation image whose file is gone:
    counted per source and split in build.json and shown by inspect and the report; a mirrored
    training copy of an evaluation image: its pair carries the transform and distance."""
    sample = tmp_path / "sample"
    shutil.copytree(SAMPLE_DIR, sample, ignore=shutil.ignore_patterns(".test-*", "__pycache__", "*.py"))
    (sample / "imagenet_tree" / "n02123045" / "n02123045_9.JPEG").write_bytes(b"not a JPEG")
    with Image.open(sample / "eval_images" / "val_0002.jpg") as img:
        ImageOps.mirror(img).save(sample / "imagenet_tree" / "n03063599" / "n03063599_9.JPEG", quality=80)
    with (sample / "eval.csv").open("a") as f:
        f.write("val_0003,eval_images/gone.jpg,n02123045\n")
    out = build(sample / "build.toml", tmp_path / "out").out_dir
    assert main(["report", str(out), "--out", str(tmp_path / "report.html")]) == 0
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "<h3>Images hashed for the near-duplicate search</h3>" in page
    assert "<th>hashed</th><th>no_file</th><th>missing_file</th><th>undecodable</th>" in page
    n = lambda v: f'<td class="n">{v}</td>'  # noqa: E731
    assert "<td>imagenet_local</td><td>train</td>" + n(6) + n(0) + n(0) + n(1) in page
    assert "<td>sample_eval</td><td>eval</td>" + n(2) + n(0) + n(1) + n(0) in page
    record = json.loads((out / "build.json").read_text())
    assert record["counts"]["hashing"]["imagenet_local"]["train"] == {"hashed": 6, "undecodable": 1}
    rows = pq.read_table(out / "dedup_pairs.parquet").to_pylist()
    pairs = {(p["image_id"], p["transform"]): p["distance"] for p in rows}
    assert set(pairs) == {("imagenet_local:n02123045_1", "plain"), ("imagenet_local:n03063599_9", "mirrored")}
    assert pairs["imagenet_local:n03063599_9", "mirrored"] <= 4  # [dedup] extra_distance
    assert "<td>plain 1, mirrored 1</td>" in page or "<td>mirrored 1, plain 1</td>" in page
    assert main(["inspect", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "not hashed: undecodable 1" in shown and "not hashed: missing_file 1" in shown
