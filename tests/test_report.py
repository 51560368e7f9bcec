"""`mlbuild report`: a self-contained page with the build's numbers, rendered in a real headless browser."""
from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from mlbuild.cli import main
from mlbuild.pipeline import build
from mlbuild.sample import sample_config

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
    assert "imagenet_local:n02123045_1 ~ sample_eval:val_0001 (d=0)" in page           # dedup example pair
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
