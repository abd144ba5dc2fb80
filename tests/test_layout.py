"""The two halves of the package stay apart: what a notebook imports loads no instructor tooling.

A student's Colab has no nbgrader, and the student library is teaching material: every
module under ``src/convtrain/`` outside ``instructor/`` must import without it, and
``import convtrain`` (plus every room a lesson uses) must not load it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "convtrain"
STUDENT_ROOMS = ["convtrain", "convtrain.checks", "convtrain.claims", "convtrain.data",
                 "convtrain.fallback", "convtrain.models", "convtrain.plots", "convtrain.runtime",
                 "convtrain.train", "convtrain.bootstrap"]


def test_importing_the_student_library_loads_no_instructor_tooling():
    code = (f"import importlib, sys\nfor name in {STUDENT_ROOMS!r}: importlib.import_module(name)\n"
            "print(sorted(m for m in sys.modules if m.startswith(('convtrain.instructor', "
            "'nbgrader', 'nbclient', 'jupyter_client'))))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


def test_no_student_module_imports_the_instructor_half_at_module_level():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "instructor" in path.relative_to(PACKAGE).parts:
            continue
        for node in ast.parse(path.read_text()).body:  # top level only: lazy imports are fine
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offenders += [f"{path.relative_to(PACKAGE)}: {name}" for name in names
                          if name.startswith(("convtrain.instructor", "nbgrader"))]
    assert offenders == []
