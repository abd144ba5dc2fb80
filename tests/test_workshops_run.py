"""Every workshop runs top to bottom before its exercises are done.

A student opens a workshop and runs all cells: the exercises' own cells and their tests
fail (the stubs raise ``NotImplementedError``), but every other cell, the experiments
included, must run; an experiment that needs an exercise uses a stand-in meanwhile
(``ct.with_fallback``). Executed like the benchmark and ``make demo`` do, in the fast
profile, errors collected instead of stopping.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from convtrain.instructor import course
from convtrain.instructor.headless import notebook_client

ROOT = Path(__file__).resolve().parents[1]
LESSONS = course.lessons(ROOT / "solutions")

pytestmark = [pytest.mark.slow]


def failing_cells(notebook) -> list[str]:
    """The cells that raised although they are neither an answer cell nor a graded test."""
    found = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        meta = course.nbgrader_meta(cell)
        if meta.get("solution") or meta.get("grade"):
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                first_line = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
                found.append(f"cell {index} ({first_line[:60]!r}): {output['ename']}: "
                             f"{output['evalue'][:200]}")
    return found


@pytest.mark.parametrize("lesson", LESSONS)
def test_untouched_workshop_runs_top_to_bottom(lesson, monkeypatch):
    monkeypatch.setenv("CONVTRAIN_PROFILE", "fast")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    path = ROOT / "workshops" / lesson / f"{lesson}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    client = notebook_client(notebook, timeout=300, kernel_name="python3", allow_errors=True,
                             resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    problems = failing_cells(notebook)
    assert not problems, (f"{lesson}: run untouched, these cells fail although they are not "
                          "exercises (wrap the exercise they use in ct.with_fallback):\n"
                          + "\n".join(problems))
