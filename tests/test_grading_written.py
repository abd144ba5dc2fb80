"""Written answers, graded by people: found in every shape of submission, never scored by a
machine, set aside with their points pending, shown in the formgrader, and never lost.

The course is the tiny assignment with two written answers (``tiny_course.WRITTEN``: 2 and
1.5 points, each right after its question). One cohort, graded once by the real command.
"""

from __future__ import annotations

import copy
import csv
import sys
from pathlib import Path

import nbformat
import pytest

from convtrain.instructor.course import load_course, nbgrader_meta
from convtrain.instructor.grading import restore, written
from convtrain.instructor.grading.command import main
from convtrain.instructor.grading.gradebook import load_assignments

sys.path.insert(0, str(Path(__file__).parent / "grading_fixtures"))
import tiny_course  # noqa: E402

pytestmark = pytest.mark.xdist_group("grading_written")

LESSON = tiny_course.LESSON
AUTO = sum(tiny_course.POINTS.values())  # 6
TOTAL = AUTO + sum(tiny_course.WRITTEN.values())  # 9.5
WHY, MEAN = "written_why_double", "written_mean"


# --------------------------------------------------------------------------- notebooks

def _by_id(notebook) -> dict:
    return {nbgrader_meta(cell).get("grade_id"): cell for cell in notebook.cells}


def solved(root: Path, answers: dict[str, str]) -> nbformat.NotebookNode:
    """The release with every code exercise solved and the written answers in ``answers``."""
    release = nbformat.read(root / "workshops" / LESSON / f"{LESSON}.ipynb", as_version=4)
    solution = _by_id(nbformat.read(root / "solutions" / LESSON / f"{LESSON}.ipynb", as_version=4))
    notebook = copy.deepcopy(release)
    for grade_id, cell in _by_id(notebook).items():
        if grade_id in ("double", "count", "mean"):
            cell.source = "\n".join(line for line in solution[grade_id].source.splitlines()
                                    if "SOLUTION" not in line)
        elif grade_id in answers:
            cell.source = answers[grade_id]
    return notebook


def stripped(notebook) -> nbformat.NotebookNode:
    """As Colab saves it: every cell's nbgrader metadata gone."""
    copied = copy.deepcopy(notebook)
    for cell in copied.cells:
        cell.metadata.pop("nbgrader", None)
    return copied


def without_cell(notebook, grade_id: str) -> nbformat.NotebookNode:
    copied = copy.deepcopy(notebook)
    copied.cells = [cell for cell in copied.cells if nbgrader_meta(cell).get("grade_id") != grade_id]
    return copied


def with_question_edited(notebook, grade_id: str) -> nbformat.NotebookNode:
    copied = copy.deepcopy(notebook)
    for index, cell in enumerate(copied.cells):
        if nbgrader_meta(cell).get("grade_id") == grade_id:
            copied.cells[index - 1].source += "\n\n(I reworded this.)"
    return copied


BOTH = {WHY: "Doubling distributes over sums.", MEAN: "Outliers pull it."}

# student -> (notebook maker, score, max_score, flags, points pending, status of each answer)
CASES = {
    "answered": (lambda r: solved(r, BOTH), AUTO, TOTAL, "", 3.5, ("pending", "pending")),
    "unanswered": (lambda r: solved(r, {}), AUTO, TOTAL, "", 0.0, ("not_answered", "not_answered")),
    "emptied": (lambda r: solved(r, {WHY: "  \n", MEAN: ""}), AUTO, TOTAL, "", 0.0,
                ("not_answered", "not_answered")),
    "colab": (lambda r: stripped(solved(r, BOTH)), AUTO, TOTAL, "metadata_restored", 3.5,
              ("pending", "pending")),
    # the two stubs are the same text: the one left as it was must not take the other's place
    "colab_second_only": (lambda r: stripped(solved(r, {MEAN: "Outliers pull it."})), AUTO, TOTAL,
                          "metadata_restored", 1.5, ("not_answered", "pending")),
    "colab_first_only": (lambda r: stripped(solved(r, {WHY: "It is linear."})), AUTO, TOTAL,
                         "metadata_restored", 2.0, ("pending", "not_answered")),
    # nothing the student wrote is lost: an answer that cannot be located waits for a person
    "deleted": (lambda r: without_cell(solved(r, BOTH), MEAN), AUTO, TOTAL, "", 3.5,
                ("pending", "missing")),
    "colab_question_edited": (lambda r: stripped(with_question_edited(solved(r, BOTH), MEAN)), AUTO,
                              TOTAL, "metadata_restored", 3.5, ("pending", "missing")),
    "untouched": (lambda r: nbformat.read(r / "workshops" / LESSON / f"{LESSON}.ipynb",
                                          as_version=4), 0.0, TOTAL, "", 0.0,
                  ("not_answered", "not_answered")),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("written")
    course = tiny_course.build_course(root, written=True)
    submissions = root / "submissions"
    for student, (make, *_rest) in CASES.items():
        (submissions / student).mkdir(parents=True)
        nbformat.write(make(root), submissions / student / f"{LESSON}.ipynb")
    out = root / "out"
    status = main([str(submissions), "--out", str(out), "--course", str(course), "--jobs", "2",
                   "--timeout-cell", "60"])
    assert status == 0
    return {"root": root, "course": course, "out": out, "submissions": submissions}


def grades(out: Path) -> dict[str, dict]:
    with (out / "grades.csv").open() as handle:
        return {row["student_id"]: row for row in csv.DictReader(handle)}


def results(out: Path) -> dict[str, dict]:
    import json

    found = {}
    for path in (out / "results").glob("*/*.json"):
        data = json.loads(path.read_text())
        found[data["student_id"]] = data
    return found


# --------------------------------------------------------------------------- the verdicts

@pytest.mark.parametrize("student", sorted(CASES))
def test_written_answers_are_pending_never_scored(graded, student):
    _make, score, top, flags, pending, _statuses = CASES[student]
    row = grades(graded["out"])[student]
    assert (float(row["score"]), float(row["max_score"]), row["flags"],
            float(row["manual_pending"])) == (score, top, flags, pending), row


@pytest.mark.parametrize("student", sorted(CASES))
def test_each_written_answer_is_found_where_the_student_left_it(graded, student):
    statuses = tuple(item["status"] for item in results(graded["out"])[student]["written"])
    assert statuses == CASES[student][5]


def test_the_gradebook_marks_answered_ones_for_manual_grading(graded):
    from nbgrader.api import Gradebook

    course = load_course(graded["course"])
    with Gradebook(course.db_url) as gradebook:
        def grade(student, cell):
            return gradebook.find_grade(cell, LESSON, LESSON, student)

        answered = grade("answered", WHY)
        assert (answered.auto_score, answered.needs_manual_grade) == (None, True)
        left = grade("unanswered", WHY)
        assert (left.auto_score, left.needs_manual_grade) == (0.0, False)
        test = grade("answered", "test_double")
        assert (test.auto_score, test.needs_manual_grade) == (2.0, False)
        lost = grade("deleted", MEAN)
        assert (lost.auto_score, lost.needs_manual_grade) == (None, True)


def test_the_formgrader_gets_each_answer_beside_its_score_box(graded):
    path = graded["course"] / "autograded" / "colab" / LESSON / f"{LESSON}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    answers = {nbgrader_meta(cell)["grade_id"]: cell for cell in notebook.cells
               if nbgrader_meta(cell).get("grade")}
    assert set(answers) == {WHY, MEAN}
    assert answers[WHY].source == BOTH[WHY] and answers[MEAN].source == BOTH[MEAN]
    assert all(nbgrader_meta(cell)["points"] == tiny_course.WRITTEN[name]
               for name, cell in answers.items())
    lost = nbformat.read(graded["course"] / "autograded" / "deleted" / LESSON / f"{LESSON}.ipynb",
                         as_version=4)
    assert "could be taken for this answer" in lost.cells[-1].source


def test_feedback_tells_the_student_a_person_grades_it(graded):
    page = (graded["out"] / "feedback" / "answered.html").read_text()
    assert "your instructor grades this answer" in page
    assert "3.5 more points for written answers" in page
    assert "not answered: 0 points" in (graded["out"] / "feedback" / "unanswered.html").read_text()


def test_a_manual_grade_survives_a_regrade_and_reaches_the_export(graded, tmp_path):
    from nbgrader.api import Gradebook

    course = load_course(graded["course"])
    with Gradebook(course.db_url) as gradebook:  # what the formgrader does with a score box
        grade = gradebook.find_grade(WHY, LESSON, LESSON, "answered")
        grade.manual_score = 1.5
        grade.needs_manual_grade = False
        gradebook.db.commit()
    assert main([str(graded["submissions"]), "--out", str(graded["out"]), "--course",
                 str(graded["course"]), "--jobs", "2"]) == 0
    with Gradebook(course.db_url) as gradebook:
        grade = gradebook.find_grade(WHY, LESSON, LESSON, "answered")
        assert (grade.manual_score, grade.needs_manual_grade) == (1.5, False)
    from convtrain.instructor.export import export

    data, _files = export(graded["out"], "wide", tmp_path / "wide.csv", course_dir=graded["course"],
                          with_manual=True)
    assert data.cells[("answered", LESSON)].total == AUTO + 1.5
    assert data.max_scores[LESSON] == TOTAL
    _data, files = export(graded["out"], "canvas", tmp_path / "canvas.csv")
    notes = files[1].read_text()
    assert "colab,00_tiny" in notes and "written answers not graded yet" in notes


# --------------------------------------------------------------------------- units

def test_unanswered_means_the_stub_or_nothing():
    spec = next(cell for cell in _assignment().cells if cell.is_written)
    assert restore.unanswered("YOUR ANSWER HERE", spec)
    assert restore.unanswered("  YOUR   ANSWER\nHERE ", spec)
    assert restore.unanswered("", spec)
    assert not restore.unanswered("YOUR ANSWER HERE: linear maps.", spec)
    assert not restore.unanswered(None, spec)  # not found is not the same as not answered


def test_question_titles_come_from_the_question_heading():
    assert written.question_title(tiny_course.QUESTIONS[WHY]) == "Written question 1"
    assert written.question_title("**Why** does it fail?") == "Why does it fail?"


def _assignment():
    from convtrain.instructor.grading.gradebook import Assignment, CellSpec

    return Assignment("00_tiny", "00_tiny", (
        CellSpec(WHY, "markdown", "YOUR ANSWER HERE", False, True, True, 2.0),), None,
        questions=((WHY, tiny_course.QUESTIONS[WHY]),))


def test_loaded_assignment_knows_its_written_answers_and_questions(graded):
    assignment = load_assignments(load_course(graded["course"]))[LESSON]
    assert [cell.name for cell in assignment.written] == [WHY, MEAN]
    assert assignment.written_max_score == 3.5 and assignment.max_score == TOTAL
    assert assignment.question(MEAN) == tiny_course.QUESTIONS[MEAN]
    assert assignment.title("test_count") == "Exercise 2: counting"  # not the written heading


def test_the_cohort_report_counts_what_waits_for_a_person(graded):
    waiting = [case for case in CASES.values() if case[4]]
    page = (graded["out"] / "report.html").read_text()
    assert f"{len(waiting)} notebook(s), {sum(case[4] for case in waiting):g} points" in page
