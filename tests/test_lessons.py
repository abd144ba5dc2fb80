"""Every lesson: its structure and the build.

The grading round trip of every lesson (graded by `convtrain grade`) is in
``test_round_trip.py``.
"""

import ast
import json
import re
from pathlib import Path

import pytest

from convtrain import bootstrap
from convtrain.instructor import build, cohort, course

ROOT = Path(__file__).resolve().parents[1]
LESSONS = course.lessons(ROOT / "solutions")
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"


def load(lesson: str, folder: str = "solutions") -> dict:
    return json.loads((ROOT / folder / lesson / f"{lesson}.ipynb").read_text())


def code_cells(notebook: dict) -> list[dict]:
    return [c for c in notebook["cells"] if c["cell_type"] == "code"]


def source(cell: dict) -> str:
    text = cell["source"]
    return text if isinstance(text, str) else "".join(text)


def test_there_are_lessons():
    assert "00_building_blocks" in LESSONS, f"lessons found: {LESSONS}"


@pytest.mark.parametrize("lesson", LESSONS)
def test_first_code_cell_is_the_bootstrap(lesson):
    first = source(code_cells(load(lesson))[0])
    extras = re.search(r"convtrain(?:\[([^\]]*)\])? @", first)
    assert extras, f"{lesson}: the first code cell is not the bootstrap cell:\n{first}"
    names = tuple(e.strip() for e in extras.group(1).split(",")) if extras.group(1) else ()
    assert first == bootstrap.cell_source(names), (
        f"{lesson}: the first code cell differs from convtrain.bootstrap.cell_source({names})")


@pytest.mark.parametrize("lesson", LESSONS)
def test_nbgrader_structure(lesson):
    notebook = load(lesson)
    ids, graded = [], []
    for cell in notebook["cells"]:
        meta = course.nbgrader_meta(cell)
        assert not cell.get("outputs"), f"{lesson}: solutions carry no outputs"
        if not meta:
            continue
        assert meta.get("schema_version") == 3 and meta.get("grade_id"), f"{lesson}: bad metadata {meta}"
        ids.append(meta["grade_id"])
        if meta.get("grade") and cell["cell_type"] == "code":
            graded.append((meta, source(cell)))
    assert len(ids) == len(set(ids)), f"{lesson}: duplicate grade ids {sorted(i for i in ids if ids.count(i) > 1)}"
    assert len(graded) >= 3, f"{lesson}: at least three autograded exercises, found {len(graded)}"
    for meta, text in graded:
        name = f"{lesson}/{meta['grade_id']}"
        assert meta.get("locked") and not meta.get("solution"), f"{name}: a test cell must be locked"
        assert float(meta.get("points", 0)) > 0, f"{name}: a test cell needs points"
        assert HIDDEN_BEGIN in text and HIDDEN_END in text, f"{name}: no hidden tests"
        visible = text.split(HIDDEN_BEGIN)[0]
        assert re.search(r"\bcheck_\w+\(|\bassert\b", visible), f"{name}: no visible tests"
        last = ast.parse(text).body[-1]
        assert not isinstance(last, ast.Expr) or isinstance(getattr(last, "value", None), ast.Call) \
            and getattr(last.value.func, "id", "") == "print", (
            f"{name}: the last statement must not be an expression (nbgrader reads a number as partial credit)")
    for exercise in cohort.exercises(notebook):
        assert exercise.answer_ids, f"{lesson}/{exercise.test_id}: no answer cell before this test"


def test_workshops_are_in_sync_with_solutions():
    problems = build.build(ROOT, check=True)
    assert not problems, "run `convtrain build` and commit workshops/:\n" + "\n".join(problems)



@pytest.mark.parametrize("lesson", LESSONS)
def test_last_code_cell_checks_the_students_work(lesson):
    notebook = json.loads((ROOT / "solutions" / lesson / f"{lesson}.ipynb").read_text())
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert "".join(code[-1]["source"]).strip() == "ct.check_my_work()", (
        f"{lesson}: the last code cell must be `ct.check_my_work()` (see CONTRIBUTING.md)")
