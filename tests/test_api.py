"""The public API: every exported name resolves, is documented, and the docs' example runs."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import mlbuild
from mlbuild.sample import sample_config

API_DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"


def test_every_public_name_resolves_and_is_documented():
    documented = set(re.findall(r"`(\w+)[`(]", API_DOC.read_text()))
    for name in mlbuild.__all__:
        assert getattr(mlbuild, name) is not None
        assert name == "__version__" or name in documented, f"{name} is exported but not in docs/api.md"


def test_all_lists_exactly_the_lazy_exports():
    assert set(mlbuild.__all__) == {"__version__", *mlbuild._EXPORTS}


def test_unknown_names_raise_attribute_error():
    try:
        mlbuild.no_such_name  # noqa: B018
    except AttributeError as err:
        assert "no_such_name" in str(err)
    else:
        raise AssertionError("expected AttributeError")


def test_import_is_lazy():
    code = "import sys, mlbuild; print(any(m.startswith(('pyarrow', 'numpy')) for m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


def test_docs_example_custom_merge(tmp_path):
    config = sample_config()
    config.taxonomy.merge.append({"from": "n02123045", "into": "n02121620"})   # tabby into cat
    result = mlbuild.build(config, tmp_path / "out")
    wnids = mlbuild.read_table(result.out_dir / "classes.parquet")["wnid"].to_pylist()
    assert "n02123045" not in wnids and "n02121620" in wnids
    assert "classes" in mlbuild.inspect(result.out_dir)
