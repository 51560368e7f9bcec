"""Shared fixtures: the real source files in ../shared/data (skip when absent) and our own fixtures."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
# mlbuild's cache (the lexicon's indexes) goes to a folder of this session, also for the builds tests
# run in subprocesses, not to the user's ~/.cache; removed at the end
CACHE = os.environ["MLBUILD_CACHE_DIR"] = tempfile.mkdtemp(prefix="mlbuild-test-cache-")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(CACHE, ignore_errors=True)


def shared_data_dir() -> Path:
    """Where the real public source files live (override with MLBUILD_SHARED_DATA)."""
    return Path(os.environ.get("MLBUILD_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real source files; tests that need them skip with a reason when absent."""
    root = shared_data_dir()
    if not root.is_dir():
        pytest.skip(f"real source files not present at {root} (set MLBUILD_SHARED_DATA)")
    return root


@pytest.fixture(scope="session")
def fixtures() -> Path:
    """The project's own small fixtures, in the exact real formats."""
    return FIXTURES
