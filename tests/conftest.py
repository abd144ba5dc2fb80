"""Shared test set-up: the fast profile, offline, FiftyOne in a scratch database.

Notebook kernels started by nbval and nbgrader inherit this environment.
"""

import os
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts"

os.environ["CONVTRAIN_PROFILE"] = "fast"
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ["FIFTYONE_DO_NOT_TRACK"] = "true"
os.environ["FIFTYONE_DATABASE_VALIDATION"] = "false"
os.environ.setdefault("FIFTYONE_DATABASE_DIR", tempfile.mkdtemp(prefix="convtrain-fiftyone-db-"))
os.environ.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")
# Tests run on two xdist workers on a 2-core machine: one thread per kernel avoids
# oversubscription (torch would start two threads in each).
os.environ.setdefault("OMP_NUM_THREADS", "1")


def pytest_collection_modifyitems(config, items):
    """Keep every cell of one notebook on one xdist worker (`--dist loadgroup`).

    nbval runs a notebook's cells as separate test items sharing one kernel.
    """
    for item in items:
        path = Path(str(item.fspath))
        if path.suffix == ".ipynb":
            item.add_marker(pytest.mark.xdist_group(name=path.stem))


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS

# Notebooks under tests/ are fixtures (e.g. hand-made submissions), not lessons for nbval.
collect_ignore_glob = ["**/*.ipynb", "**/grading_fixtures/**"]
