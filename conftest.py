"""Shared test set-up for `tests/` and the nbval run over `solutions/`.

The fast profile, offline, FiftyOne in a scratch database, one thread per kernel.
It lives at the repository root so that it also applies when only notebooks are
collected; notebook kernels started by nbval and nbgrader inherit this environment.
"""

import os
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
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


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS

# Only lessons are notebooks for nbval: notebooks elsewhere are fixtures or outputs.
collect_ignore_glob = ["tests/**/*.ipynb", "workshops/*", "artifacts/*", "course/*"]
