"""A synthetic cohort of submissions, and grading it with plain nbgrader.

CI and `make demo` prove the course grades itself: for each lesson, the solution
notebook submitted as a student's must score full marks, the untouched workshop
zero, and a workshop with exactly one exercise solved exactly that exercise's
points. This module makes those submissions from `solutions/` and `workshops/`
and grades them with nbgrader's Python API in a scratch course, reading scores
back from the gradebook (the `nbgrader validate` CLI exits 0 even when tests fail).
"""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

from convtrain.build import course_config, put_venv_on_path


@dataclasses.dataclass(frozen=True)
class Exercise:
    """One graded exercise: its answer cells and the test cell that grades them."""

    test_id: str
    points: float
    answer_ids: tuple[str, ...]


@dataclasses.dataclass
class Submission:
    """A submission made for the round trip, with the score it must get."""

    student: str
    lesson: str
    notebook: dict
    expected: dict[str, float]  # test cell grade_id -> points it must score

    @property
    def expected_total(self) -> float:
        return sum(self.expected.values())


def nbgrader_meta(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def exercises(notebook: dict) -> list[Exercise]:
    """The graded exercises of a source notebook, in order.

    Answer cells (``solution: true``) belong to the next graded test cell.
    """
    found, pending = [], []
    for cell in notebook["cells"]:
        meta = nbgrader_meta(cell)
        if meta.get("solution") and not meta.get("grade"):
            pending.append(meta["grade_id"])
        elif meta.get("grade") and cell["cell_type"] == "code":
            found.append(Exercise(meta["grade_id"], float(meta.get("points", 0)), tuple(pending)))
            pending = []
    return found


def with_answers_from(workshop: dict, solution: dict, answer_ids: set[str]) -> dict:
    """A copy of the workshop notebook whose answer cells in ``answer_ids`` hold the solution."""
    solved = {nbgrader_meta(c).get("grade_id"): c["source"] for c in solution["cells"]}
    notebook = copy.deepcopy(workshop)
    for cell in notebook["cells"]:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if grade_id in answer_ids:
            cell["source"] = solved[grade_id]
    return notebook


def round_trip_submissions(root: Path, lesson: str, solve_each: bool = False) -> list[Submission]:
    """Submissions of one lesson: perfect, untouched, and one exercise solved (each, with ``solve_each``)."""
    solution = _read(root / "solutions" / lesson / f"{lesson}.ipynb")
    workshop = _read(root / "workshops" / lesson / f"{lesson}.ipynb")
    graded = exercises(solution)
    zero = {e.test_id: 0.0 for e in graded}
    submissions = [
        Submission("perfect", lesson, solution, {e.test_id: e.points for e in graded}),
        Submission("untouched", lesson, workshop, dict(zero)),
    ]
    for exercise in graded if solve_each else graded[:1]:
        notebook = with_answers_from(workshop, solution, set(exercise.answer_ids))
        expected = dict(zero, **{exercise.test_id: exercise.points})
        submissions.append(Submission(f"only-{exercise.test_id}", lesson, notebook, expected))
    return submissions


def autograde(root: Path, submissions: list[Submission], scratch: Path) -> dict[str, dict[str, float]]:
    """Grade submissions with nbgrader in a scratch course; return student → {test id: score}.

    Every submission must belong to the same lesson.
    """
    from nbgrader.api import Gradebook
    from nbgrader.apps import NbGraderAPI

    lessons = {s.lesson for s in submissions}
    if len(lessons) != 1:
        raise ValueError(f"autograde() grades one lesson at a time, got {sorted(lessons)}")
    lesson = lessons.pop()
    put_venv_on_path()
    api = NbGraderAPI(config=course_config(root, scratch))
    result = api.generate_assignment(lesson, force=True, create=True)
    if not result["success"]:
        raise RuntimeError(f"nbgrader could not generate {lesson}:\n{result.get('log')}")
    for submission in submissions:
        target = scratch / "submitted" / submission.student / lesson / f"{lesson}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(submission.notebook))
    result = api.autograde(lesson, "*", force=True, create=True)
    if not result["success"]:
        raise RuntimeError(f"nbgrader autograde failed for {lesson}:\n{result.get('log')}")
    scores = {}
    with Gradebook(f"sqlite:///{scratch / 'gradebook.db'}") as gradebook:
        for submission in submissions:
            scores[submission.student] = {
                test_id: float(gradebook.find_grade(test_id, lesson, lesson, submission.student).score)
                for test_id in submission.expected
            }
    return scores


def autograded_errors(scratch: Path, student: str, lesson: str, test_id: str) -> str:
    """The error a test cell raised in an autograded notebook (for readable test failures)."""
    path = scratch / "autograded" / student / lesson / f"{lesson}.ipynb"
    if not path.is_file():
        return f"(no autograded notebook at {path})"
    for cell in _read(path)["cells"]:
        if nbgrader_meta(cell).get("grade_id") == test_id:
            errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
            return "\n".join(f"{e['ename']}: {e['evalue']}" for e in errors) or "(no error output)"
    return f"(test cell {test_id} not found)"


def _read(path: Path) -> dict:
    return json.loads(Path(path).read_text())
