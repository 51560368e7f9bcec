"""The bad-input corpus (tests/bad_inputs.py) through `mlbuild build`: each case's exact outcome, never a traceback."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from bad_inputs import BASES, CASES, ERROR, OK, SKIP, Case

from mlbuild.cli import main


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(value)


def write_case(case: Case, folder: Path) -> Path:
    """The case's input files and build.toml in `folder`; returns the config's path."""
    base = BASES[case.base]
    for name, data in (base.files | case.files).items():
        if data is not None:
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
    table = {k: v for k, v in (base.table | case.options).items() if v is not None}
    header = case.header or ("[[eval]]" if base.evaluation else "[[source]]")
    text = header + "\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in table.items())
    build = {"workers": 1, "partition_images": 2} | case.build
    config = (text + "\n[build]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in build.items())).encode()
    config += case.toml if isinstance(case.toml, bytes) else case.toml.encode()
    path = folder / "build.toml"
    path.write_bytes(config)
    return path


def manifest_ids(out: Path) -> set[str]:
    """source_image_id of every manifest row."""
    ids: set[str] = set()
    for part in sorted((out / "images").rglob("part-*.parquet")):
        ids |= set(pq.read_table(part, columns=["source_image_id"]).column(0).to_pylist())
    return ids


def check_outcome(case: Case, code: int, err: str, out: Path) -> None:
    """The case's outcome class, exactly."""
    assert "Traceback" not in err and "unexpected error" not in err, err
    if case.outcome == ERROR:
        assert code == 2, f"expected a clear error, exit {code}: {err}"
        assert err.startswith("mlbuild build: error: "), err
        assert case.match in err, f"{case.match!r} not in {err!r}"
        return
    assert code == 0, err
    warnings = "\n".join(json.loads((out / "build.json").read_text())["warnings"])
    assert manifest_ids(out) == (BASES[case.base].good if case.good is None else case.good)
    if case.outcome == SKIP:
        assert "rows skipped" in warnings and "line " in warnings, warnings
    else:
        assert "rows skipped" not in warnings, warnings
    assert case.match in warnings, f"{case.match!r} not in {warnings!r}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    config = write_case(case, folder)
    monkeypatch.chdir(tmp_path)  # relative paths must resolve against the config's folder, not here
    code = main(["build", str(config), "--out", str(tmp_path / "out")])
    check_outcome(case, code, capsys.readouterr().err, tmp_path / "out")


def test_relative_config_path(tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """A config named relative to the working directory: its paths still resolve once, against its folder."""
    case = next(c for c in CASES if c.id == "config-include-relative-to-config")
    (tmp_path / "in").mkdir()
    write_case(case, tmp_path / "in")
    monkeypatch.chdir(tmp_path)
    code = main(["build", "in/build.toml", "--out", "out"])
    check_outcome(case, code, capsys.readouterr().err, tmp_path / "out")


def test_corpus_covers_every_adapter_and_outcome() -> None:
    assert len(CASES) >= 100 and len({c.id for c in CASES}) == len(CASES)
    assert {c.base for c in CASES} == set(BASES)
    by_outcome = Counter(c.outcome for c in CASES)
    assert by_outcome[ERROR] and by_outcome[SKIP] and by_outcome[OK]
    assert any(c.id.startswith("config-") for c in CASES)


@pytest.mark.parametrize("case_id", ["csv-label-kind-typo", "urls-line-without-tab", "coco-truncated"])
def test_real_subprocess(case_id: str, tmp_path: Path) -> None:
    """A few cases through a real `python -m mlbuild` process: same outcome, no traceback on stderr."""
    case = next(c for c in CASES if c.id == case_id)
    folder = tmp_path / "in"
    folder.mkdir()
    config = write_case(case, folder)
    env = {k: v for k, v in os.environ.items() if k != "MLBUILD_DEBUG"}
    run = subprocess.run([sys.executable, "-m", "mlbuild", "build", str(config), "--out", str(tmp_path / "out")],
                         capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    check_outcome(case, run.returncode, run.stderr, tmp_path / "out")


def test_unexpected_error_is_one_line_unless_debug(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug (not an input mistake) is one line naming where, and the traceback only on request."""
    import mlbuild.commands.build as build_command

    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(build_command, "build", broken)
    monkeypatch.delenv("MLBUILD_DEBUG", raising=False)
    assert main(["build", "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "ZeroDivisionError: division by zero" in err and "MLBUILD_DEBUG=1 (or --debug)" in err
    assert main(["--debug", "build", "--out", str(tmp_path / "out")]) == 1
    assert "Traceback" in capsys.readouterr().err
    monkeypatch.setenv("MLBUILD_DEBUG", "1")
    assert main(["build", "--out", str(tmp_path / "out")]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_a_command_line_loads_only_the_command_it_names():
    code = ("import json, sys; from mlbuild.cli import build_parser; "
            "named = build_parser(['--debug', 'download', 'list.tsv', '--out', 'o']); "
            "loaded = ['mlbuild.pipeline' in sys.modules, 'scipy' in sys.modules]; "
            "every = build_parser(['--help']); "
            "print(json.dumps([sorted(p._subparsers._group_actions[0].choices) for p in (named, every)] + [loaded]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    named, every, loaded = json.loads(out)
    assert named == ["download"] and loaded == [False, False]
    assert {"build", "download", "map-names", "export"} <= set(every)
