"""Written answers: found, set aside for a person, and shown to them in the formgrader.

A written answer is a Markdown cell with points (nbgrader's "manually graded answer").
No machine grades it. ``convtrain grade`` finds each one in the submission (by grade id,
or as the cell right after its question when Colab dropped the metadata) and gives it a
status:

- ``pending``: the student wrote something; its points wait for a person
  (grades.csv's ``manual_pending``, the formgrader's "needs manual grade");
- ``not_answered``: still the handed-out stub, or empty: 0 points, nothing to grade;
- ``missing``: no cell could be taken for it (deleted, or the question edited too): its
  points are pending as well, so that a person opens the notebook; nothing is lost.

:func:`write_for_formgrader` writes, per student and lesson, the notebook the formgrader
shows (``autograded/<student>/<lesson>/<notebook>.ipynb`` in the course): the autograded
results as text, then each question with the student's answer in a cell that carries its
grade id, which is where the formgrader puts the score box.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import nbformat

from convtrain.instructor.grading import restore
from convtrain.instructor.grading.gradebook import Assignment, clean_heading

ANSWER_LIMIT = 20_000  # characters of a written answer kept in the result
PENDING = ("pending", "missing")


@dataclasses.dataclass
class WrittenResult:
    """One written answer as grading found it (``status``: pending, not_answered, missing)."""

    name: str
    max_points: float
    status: str
    title: str = ""  # the question's first line, for feedback and reports
    answer: str = ""

    @property
    def pending_points(self) -> float:
        return self.max_points if self.status in PENDING else 0.0


def grade_written(cells: list, assignment: Assignment) -> list[WrittenResult]:
    """The written answers of a submission's cells, in the lesson's order."""
    texts = restore.written_answers(cells, assignment)
    found = []
    for spec in assignment.written:
        text = texts.get(spec.name)
        if text is None:
            status = "missing"
        elif restore.unanswered(text, spec):
            status = "not_answered"
        else:
            status = "pending"
        found.append(WrittenResult(spec.name, spec.points, status,
                                   question_title(assignment.question(spec.name)),
                                   (text or "")[:ANSWER_LIMIT]))
    return found


def pending_points(written: list[dict]) -> float:
    """The points of a result's written answers (``Result.written``) still to be graded."""
    return float(sum(item["max_points"] for item in written if item["status"] in PENDING))


def question_title(question: str) -> str:
    """What a question is called: its last heading ("Written question 2"), else its first line."""
    headings = [line for line in question.splitlines() if line.startswith("#")]
    if headings:
        return clean_heading(headings[-1])
    for line in question.splitlines():
        line = re.sub(r"[*_>]+", "", line).strip()
        if line:
            return line if len(line) <= 120 else line[:117] + "..."
    return ""


# --------------------------------------------------------------------------- the formgrader

def formgrader_notebook(result, assignment: Assignment) -> nbformat.NotebookNode:
    """What the formgrader shows for one graded submission (``result``: a ``report.Result``).

    The answers sit in Markdown cells with their nbgrader metadata, so the formgrader shows
    a score box beside each; the tests' outcomes are text (they are graded already).
    """
    lines = [f"# {assignment.name}: {result.student_id}",
             "",
             f"Submitted file: `{result.label}`. Autograded: **{result.score:g}** points of "
             f"{assignment.max_score - assignment.written_max_score:g}"
             + (f"; flags: {', '.join(result.flags)}" if result.flags else "") + ".",
             "",
             "| exercise | points | status |", "|---|---|---|"]
    for test in result.tests:
        title = (test.get("title") or test["name"]).replace("|", "\\|")
        lines.append(f"| {title} | {test['points']:g} / {test['max_points']:g} | "
                     f"{test['status'].replace('_', ' ')} |")
    cells = [nbformat.v4.new_markdown_cell("\n".join(lines))]
    answers = {item["name"]: item for item in result.written}
    for spec in assignment.written:
        item = answers.get(spec.name, {"status": "missing", "answer": ""})
        question = assignment.question(spec.name) or f"Written answer `{spec.name}`"
        cells.append(nbformat.v4.new_markdown_cell(question))
        text = item["answer"] if item["status"] != "missing" else (
            "*No cell of this submission could be taken for this answer (deleted, or its "
            f"question edited). Read the submitted file `{result.label}`.*")
        answer = nbformat.v4.new_markdown_cell(text or "*(empty)*")
        answer.metadata["nbgrader"] = spec.metadata()
        cells.append(answer)
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    return notebook


SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]*$")


def write_for_formgrader(root: Path, assignments: dict[str, Assignment], results: list,
                         log) -> int:
    """Write the formgrader's notebook of every result whose lesson has written answers;
    return how many were written. A student id that is not a plain file name (it would
    point outside the folder) is logged and skipped: grade that one from its file."""
    written = 0
    for result in results:
        assignment = assignments.get(result.assignment)
        if assignment is None or not assignment.written:
            continue
        if not SAFE_ID.match(result.student_id):
            log(f"{result.label}: the student id {result.student_id!r} is not a plain file name; "
                "its written answers are not in the formgrader (read the file)", screen=False)
            continue
        lesson = assignment.name.split("/")[0]
        path = root / "autograded" / result.student_id / lesson / f"{assignment.notebook}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        nbformat.write(formgrader_notebook(result, assignment), temporary)
        temporary.replace(path)
        written += 1
    return written
