"""Every MlbuildError survives pickling, so an error raised in a worker process reaches the user
as its one clear line (not as a pickling failure of the process pool).

Importing dask.distributed registers pickle reducers for every exception class (tblib), which
would hide the bug: the round trip ignores copyreg's table, and the CLI test runs in a fresh
process that never imports dask."""
from __future__ import annotations

import importlib
import io
import pickle
import pkgutil
import subprocess
import sys
import textwrap

import mlbuild
from mlbuild.errors import MlbuildError

EXAMPLES = {  # class name -> constructor arguments
    "MlbuildError": ("something went wrong",),
    "InputError": ("labels.csv", "not a number", 7, "Confidence"),
    "OutputError": ("out/build.json", OSError(28, "No space left on device")),
    "UnknownClassError": ("n99999999 is not a class of this taxonomy",),
    "TaxonomyError": ("edge a -> b would make a cycle",),
    "ConfigError": ("build.toml", ["build.toml:3: [build] workers: got -1, allowed >= 0", "build.toml:5: ..."]),
    "FetchError": ("https://example.org/x.csv: HTTP 404 Not Found",),
}


def _subclasses(cls: type) -> set[type]:
    return {sub for direct in cls.__subclasses__() for sub in {direct} | _subclasses(direct)}


def test_every_mlbuild_error_round_trips_through_pickle():
    for info in pkgutil.walk_packages(mlbuild.__path__, "mlbuild."):
        if info.name.endswith("__main__"):  # runs the CLI when imported
            continue
        try:
            importlib.import_module(info.name)
        except ImportError:  # an optional extra (dask) not installed: its module defines no error
            continue
    classes = {cls for cls in _subclasses(MlbuildError) | {MlbuildError} if cls.__module__.startswith("mlbuild")}
    assert {cls.__name__ for cls in classes} == set(EXAMPLES)  # a new error class needs an example here
    for cls in classes:
        err = cls(*EXAMPLES[cls.__name__])
        buffer = io.BytesIO()
        pickler = pickle.Pickler(buffer)
        pickler.dispatch_table = {}  # the class's own __reduce__, not a reducer some import registered
        pickler.dump(err)
        back = pickle.loads(buffer.getvalue())
        assert type(back) is cls and str(back) == str(err) and back.args == err.args
        assert back.__dict__ == err.__dict__


CLI_WITH_A_FAILING_WORKER = textwrap.dedent("""
    import os, sys
    import mlbuild.images.sharded
    from mlbuild.cli import main
    from mlbuild.errors import InputError

    def raise_in_worker(*args, **kwargs):  # stands in for the hash stage's shard function
        raise InputError("photos/a.jpg", f"cannot be read (worker {os.getpid()})", line=1, field="path")

    mlbuild.images.sharded.key_table = raise_in_worker  # the forked workers inherit it
    print(os.getpid(), flush=True)
    code = main(sys.argv[1:])
    assert "dask" not in sys.modules
    sys.exit(code)
""")


def test_an_input_error_in_a_local_engine_worker_is_one_clear_line_at_the_cli(tmp_path):
    for name in ("a.jpg", "b.jpg"):
        (tmp_path / name).write_bytes(b"not decoded here")
    done = subprocess.run([sys.executable, "-c", CLI_WITH_A_FAILING_WORKER, "hash", str(tmp_path), "--out",
                           str(tmp_path / "h.parquet"), "--workers", "2"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("mlbuild hash: error: photos/a.jpg:1: field 'path': cannot be read (worker ")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    worker = int(done.stderr.split("(worker ")[1].split(")")[0])
    assert worker != int(done.stdout) and not (tmp_path / "h.parquet").exists()  # raised in a worker
