"""A synthetic cohort of submissions, with the grades `convtrain grade` must give them.

CI (``tests/test_round_trip.py``), ``make demo`` and benchmarks grade this cohort with
the same command instructors run. Per lesson, made from ``solutions/`` and
``workshops/`` the way students make them:

- ``perfect``: the workshop with every answer cell filled in with the solution's code
  (the ``### BEGIN/END SOLUTION`` marker lines are gone, as in a student's file:
  nbgrader's release replaced them and what lay between with the stub);
- ``untouched``: the workshop as released;
- ``only-<first exercise>``: the workshop with exactly one exercise solved;
- ``colab``: the perfect notebook (in ``make demo``: the one-exercise one) as Google
  Colab saves it (Colab's notebook metadata, nbformat 4.0, cell ids and output ids in
  cell metadata, outputs, nbgrader metadata lost on some cells) under a name an LMS
  gives it: a Canvas flat export
  ``colab_<user>_<submission>_Copy of <lesson> (1).ipynb`` for every other lesson,
  ``colab/Copy of <lesson>.ipynb`` for the rest.

Each :class:`Submission` carries the points each test must score, the maximum and the
exact flags: none for the first three, only the informational ``metadata_restored``
and ``renamed`` for ``colab``. :func:`write_cohort` writes a cohort into a folder in a
layout `convtrain grade` accepts; :func:`scratch_course` copies the course so grading
it never touches the repository's gradebook.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import shutil
import uuid
from pathlib import Path

from convtrain.instructor.course import lessons as course_lessons
from convtrain.instructor.course import nbgrader_meta, without_solution_markers

COLAB_FLAGS = ("metadata_restored", "renamed")
COURSE_IGNORED = shutil.ignore_patterns("gradebook.db*", "submitted", "autograded", "feedback",
                                        "exchange", "source", "release", "demo", ".nbgrader.log",
                                        ".ipynb_checkpoints", "__pycache__")


@dataclasses.dataclass(frozen=True)
class Exercise:
    """One graded exercise: its answer cells and the test cell that grades them."""

    test_id: str
    points: float
    answer_ids: tuple[str, ...]

    @property
    def name(self) -> str:
        """The exercise's name: its test id without the ``test_`` prefix."""
        return self.test_id.removeprefix("test_") or self.test_id


@dataclasses.dataclass
class Submission:
    """One notebook of the cohort, where it lies, and the grade it must get."""

    student: str
    lesson: str
    kind: str  # perfect, untouched, only-<exercise name>, colab
    path: str  # inside the submissions folder (the grader's label for it)
    notebook: dict
    expected: dict[str, float]  # test cell grade_id -> points it must score
    max_score: float  # every point of the lesson, written answers included
    flags: tuple[str, ...] = ()  # exactly the flags grades.csv must show, sorted
    pending: float = 0.0  # points of written answers left to a person (grades.csv's manual_pending)

    @property
    def expected_total(self) -> float:
        return sum(self.expected.values())

    @property
    def flags_text(self) -> str:
        """The flags as grades.csv writes them."""
        return ";".join(sorted(self.flags))


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


def written_answers(notebook: dict) -> dict[str, float]:
    """The written answers of a source notebook (graded by a person): grade id -> points."""
    return {nbgrader_meta(cell)["grade_id"]: float(nbgrader_meta(cell).get("points", 0))
            for cell in notebook["cells"] if cell["cell_type"] == "markdown"
            and nbgrader_meta(cell).get("grade") and nbgrader_meta(cell).get("solution")}


def student_answer(solution_source: str | list[str]) -> str:
    """The solution cell's text as a student's answer: without the solution marker lines."""
    text = "".join(solution_source) if isinstance(solution_source, list) else solution_source
    return without_solution_markers(text)


def with_answers_from(workshop: dict, solution: dict, answer_ids: set[str]) -> dict:
    """A copy of the workshop whose answer cells in ``answer_ids`` hold the solution's code."""
    solved = {nbgrader_meta(c).get("grade_id"): c["source"] for c in solution["cells"]}
    notebook = copy.deepcopy(workshop)
    for cell in notebook["cells"]:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if grade_id in answer_ids:
            cell["source"] = student_answer(solved[grade_id]).splitlines(keepends=True)
    return notebook


def colab_notebook(notebook: dict, name: str) -> dict:
    """``notebook`` as Google Colab saves it after "Run all" (``name``: Colab's file name).

    nbformat 4.0 (no top-level cell ids), Colab's notebook metadata, per cell an ``id``
    in the metadata, an ``outputId`` and an execution count on code cells with output,
    and the nbgrader metadata (with ``deletable``/``editable``) gone from every third
    nbgrader cell, answers and tests alike.
    """
    data = copy.deepcopy(notebook)
    data["nbformat"], data["nbformat_minor"] = 4, 0
    data["metadata"] = {
        "colab": {"provenance": [], "name": name, "gpuType": "T4"},
        "kernelspec": {"name": "python3", "display_name": "Python 3"},
        "language_info": {"name": "python"},
        "accelerator": "GPU",
    }
    graded_index = 0
    execution = 0
    for index, cell in enumerate(data["cells"]):
        cell.pop("id", None)
        metadata = dict(cell.get("metadata", {}))
        if "nbgrader" in metadata:
            if graded_index % 3 == 0:
                for key in ("nbgrader", "deletable", "editable"):
                    metadata.pop(key, None)
            graded_index += 1
        digest = hashlib.sha256(f"{name}\0{index}".encode()).hexdigest()
        metadata["id"] = _colab_id(digest)
        if cell["cell_type"] == "code":
            execution += 1
            cell["execution_count"] = execution
            if nbgrader_meta(notebook["cells"][index]).get("grade"):
                metadata["colab"] = {"base_uri": "https://localhost:8080/"}
                metadata["outputId"] = str(uuid.UUID(digest[:32]))
                cell["outputs"] = [{"output_type": "stream", "name": "stdout",
                                    "text": ["All visible tests passed.\n"]}]
            else:
                cell["outputs"] = []
        cell["metadata"] = metadata
        if isinstance(cell.get("source"), str):  # Colab writes sources as lists of lines
            cell["source"] = cell["source"].splitlines(keepends=True)
    return data


def _colab_id(digest: str) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    number = int(digest[:24], 16)
    return "".join(alphabet[(number >> (6 * i)) & 63] for i in range(12))


ROUND_TRIP = ("perfect", "untouched", "only", "colab")  # CI's cohort: every case, per lesson


def lesson_submissions(root: Path, lesson: str, solve_each: bool = False,
                       kinds: tuple[str, ...] = ROUND_TRIP) -> list[Submission]:
    """The cohort's notebooks for one lesson, one per kind in ``kinds``:

    - ``perfect``, ``untouched``;
    - ``only``: the first exercise alone solved (every exercise on its own with
      ``solve_each``), student ``only-<exercise>``;
    - ``colab``: the perfect notebook as Colab saves it, under an LMS's name;
    - ``colab-only``: the first-exercise-only notebook as Colab saves it (student ``colab``).
    """
    unknown = set(kinds) - {"perfect", "untouched", "only", "colab", "colab-only"}
    if unknown:
        raise ValueError(f"unknown submission kinds: {sorted(unknown)}")
    solution = _read(Path(root) / "solutions" / lesson / f"{lesson}.ipynb")
    workshop = _read(Path(root) / "workshops" / lesson / f"{lesson}.ipynb")
    graded = exercises(solution)
    if not graded:
        raise ValueError(f"{lesson} has no graded exercises")
    full = {e.test_id: e.points for e in graded}
    zero = dict.fromkeys(full, 0.0)
    written = written_answers(solution)
    max_score = sum(full.values()) + sum(written.values())
    file = f"{lesson}.ipynb"
    perfect = with_answers_from(workshop, solution,
                                {a for e in graded for a in e.answer_ids} | set(written))
    all_written = sum(written.values())  # the perfect student answers every written question

    def only(exercise: Exercise) -> tuple[dict, dict[str, float]]:
        return (with_answers_from(workshop, solution, set(exercise.answer_ids)),
                dict(zero, **{exercise.test_id: exercise.points}))

    submissions = []
    if "perfect" in kinds:
        submissions.append(Submission("perfect", lesson, "perfect", f"perfect/{file}", perfect,
                                      dict(full), max_score, pending=all_written))
    if "untouched" in kinds:
        submissions.append(Submission("untouched", lesson, "untouched", f"untouched/{file}",
                                      copy.deepcopy(workshop), dict(zero), max_score))
    if "only" in kinds:
        for exercise in graded if solve_each else graded[:1]:
            kind = f"only-{exercise.name}"
            notebook, expected = only(exercise)
            submissions.append(Submission(kind, lesson, kind, f"{kind}/{file}", notebook,
                                          expected, max_score))
    if "colab" in kinds or "colab-only" in kinds:
        notebook, expected = (perfect, dict(full)) if "colab" in kinds else only(graded[0])
        submissions.append(Submission("colab", lesson, "colab", colab_path(lesson),
                                      colab_notebook(notebook, f"Copy of {file}"), expected,
                                      max_score, COLAB_FLAGS,
                                      pending=all_written if "colab" in kinds else 0.0))
    return submissions


def colab_path(lesson: str) -> str:
    """Where the Colab copy lies: a Canvas flat export for even lessons, else a student folder."""
    number = int(lesson.split("_", 1)[0]) if lesson[:2].isdigit() else len(lesson)
    if number % 2 == 0:
        return f"colab_{104233 + number}_{5829341 + 7 * number}_Copy of {lesson} (1).ipynb"
    return f"colab/Copy of {lesson}.ipynb"


def write_cohort(root: Path, lessons: list[str], folder: Path, solve_each: bool = False,
                 kinds: tuple[str, ...] = ROUND_TRIP) -> dict[tuple[str, str], Submission]:
    """Write every lesson's submissions into ``folder``; return (student, lesson) -> submission."""
    cohort = {}
    for lesson in lessons:
        for submission in lesson_submissions(root, lesson, solve_each=solve_each, kinds=kinds):
            key = (submission.student, lesson)
            if key in cohort:
                raise ValueError(f"two submissions for {key}")
            path = Path(folder) / submission.path
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(submission.notebook, indent=1, ensure_ascii=False) + "\n",
                            encoding="utf-8")
            cohort[key] = submission
    return cohort


def scratch_course(root: Path, target: Path, lessons: list[str] | None = None) -> Path:
    """Copy ``course/``, ``solutions/`` and ``workshops/`` of ``root`` into ``target`` (same
    layout, without gradebook or nbgrader state); return the copy's course folder.

    Grading with ``--course`` pointing there records grades in a gradebook of its own.
    """
    root, target = Path(root), Path(target)
    shutil.copytree(root / "course", target / "course", ignore=COURSE_IGNORED, dirs_exist_ok=True)
    for folder in ("solutions", "workshops"):
        for lesson in lessons if lessons is not None else course_lessons(root / "solutions"):
            shutil.copytree(root / folder / lesson, target / folder / lesson, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    return target / "course"



def _read(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))
