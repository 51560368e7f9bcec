"""Build configs: TOML in, dataclasses out, clear errors for what is wrong."""
from __future__ import annotations

from pathlib import Path

import pytest

from mlbuild.config import load_config
from mlbuild.errors import InputError
from mlbuild.sources.registry import input_files, make_adapter


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "build.toml"
    path.write_text(text)
    return path


def test_sections_and_relative_paths(tmp_path):
    (tmp_path / "urls.txt").write_text("n02084071_1\thttp://x/a.jpg\n")
    (tmp_path / "map.csv").write_text("source_class,wnid\n")
    config = load_config(write(tmp_path, """
[[source]]
kind = "imagenet_urls"
urls = "urls.txt"
class_map = "map.csv"

[classes]
min_images = 3
exclude = ["n02084071"]

[taxonomy]
relations = ["hypernym"]
merge = [{from = "n01322604", into = "n02084071"}]

[build]
workers = 2
partition_images = 1000
"""))
    spec = config.sources[0]
    assert spec.kind == "imagenet_urls" and spec.class_map == tmp_path / "map.csv"
    assert config.classes.min_images == 3 and config.taxonomy.merge[0]["into"] == "n02084071"
    assert config.workers == 2 and config.partition_images == 1000
    adapter = make_adapter(spec)
    assert adapter.config.urls == tmp_path / "urls.txt"
    assert input_files(spec) == [tmp_path / "urls.txt", tmp_path / "map.csv"]


@pytest.mark.parametrize("text,match", [
    ("[[source]]\nurls = 'x'\n", "kind"),
    ("[[source]]\nkind = 'nope'\n", "kind: got 'nope', allowed"),
    ("[[source]]\nkind = 'imagenet_urls'\nurls = 'x'\n[classes]\nmin_image = 1\n", "min_image"),
    ("[sources]\n", "unknown section"),
    ("[classes]\nmin_images = 1\n", "no \\[\\[source\\]\\]"),
    ("[[source]\n", "not valid TOML"),
])
def test_errors_name_what_is_wrong(tmp_path, text, match):
    with pytest.raises(InputError, match=match):
        config = load_config(write(tmp_path, text))
        make_adapter(config.sources[0])


def test_missing_config_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="cannot read"):
        load_config(tmp_path / "absent.toml")
