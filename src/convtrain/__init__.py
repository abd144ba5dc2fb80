"""convtrain: the helper library of the convtrain course.

Import it as ``import convtrain as ct``. The runtime helpers and the claim helper are
re-exported (``ct.profile()``, ``ct.device()``, ``ct.seed_everything(0)``,
``ct.claim(...)``, ``ct.with_fallback(...)``, and ``ct.check_my_work()``, the last cell of
every workshop: is this notebook ready to submit?); every other room is
a module loaded on first use (``ct.data``, ``ct.models``, ``ct.train``, ``ct.plots``,
``ct.checks``), so ``import convtrain`` stays fast in a Colab cell.

This package is what a student's notebook imports. The instructor's tooling (building
workshops, the gradebook, grading, the demo cohort) lives in ``convtrain.instructor``;
nothing here imports it.
"""

from __future__ import annotations

import importlib

from convtrain.claims import claim
from convtrain.fallback import with_fallback
from convtrain.runtime import device, environment, profile, seed_everything
from convtrain.submit_check import check_my_work

__version__ = "0.1.0"
__all__ = ["check_my_work", "claim", "device", "environment", "profile", "seed_everything",
           "with_fallback", "__version__"]

_SUBMODULES = {"bootstrap", "checks", "claims", "data", "doctor", "fallback", "models", "plots",
               "lr_finder", "runtime", "submit_check", "tracking", "train"}


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"convtrain.{name}")
    raise AttributeError(f"module 'convtrain' has no attribute {name!r}")
