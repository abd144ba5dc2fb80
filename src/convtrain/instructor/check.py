"""``convtrain check NOTEBOOK.ipynb``: is this notebook ready to submit? From a shell.

    convtrain check "Copy of 02_dropout.ipynb"
    convtrain check submissions/jdoe/00_building_blocks.ipynb --timeout 120

The same report as ``ct.check_my_work()`` in the notebook (:mod:`convtrain.submit_check`),
for a student on their own machine and for an instructor answering "it worked on my
side": the notebook runs **top to bottom in a fresh kernel** (as Jupyter's *Restart & Run
All* would: in the notebook's folder, no sandbox, errors do not stop the run, a cell past
``--timeout`` seconds is interrupted), with each test cell's **visible** tests only, then
each exercise is reported from its test cell's outputs. The file itself is never changed.

Which tests: where a course with a gradebook is at hand (``--course``, else the
repository's ``course/``) and it knows the notebook (identified by content, as
``convtrain grade`` does), the gradebook's visible tests, points and exercise headings; a
deleted or edited test cell is then checked with the course's copy, put where grading puts
it. Otherwise (a student with only the workshop) the file's own test cells.

Exit status: 0 when every exercise passes its visible tests; 1 otherwise (or when the file
holds no exercise); 2 when the file cannot be read as a notebook or no kernel could run it.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

from convtrain import submit_check
from convtrain.submit_check import Exercise, Outcome, Survey

MARK = "convtrain_check"  # cell metadata key: the exercise number a run cell tests
ERRORS_SHOWN = 3


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="convtrain check",
        description="Run a notebook top to bottom in a fresh kernel and report, per exercise, "
                    "whether its visible tests pass (never the hidden ones).")
    parser.add_argument("notebook", type=Path, help="the .ipynb file")
    parser.add_argument("--course", type=Path, default=None,
                        help="course folder with nbgrader_config.py and a gradebook (default: the "
                             "repository's course/, when there is one)")
    parser.add_argument("--file-tests", action="store_true",
                        help="use the notebook's own test cells even where a gradebook knows it")
    parser.add_argument("--timeout", type=float, default=300.0, metavar="S",
                        help="seconds a cell may run before it is interrupted (default 300)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    path = args.notebook
    try:
        notebook = read(path)
    except ValueError as error:
        print(f"convtrain check: {error}", file=sys.stderr)
        return 2
    found, source = survey(notebook, path, args.course, args.file_tests)
    run_cells = prepared(notebook, found)
    try:
        executed, stopped = execute(run_cells, path.resolve().parent, args.timeout)
    except Exception as error:  # noqa: BLE001 - no kernel: say why, exit 2
        print(f"convtrain check: could not run {path} in a kernel: {type(error).__name__}: "
              f"{error}", file=sys.stderr)
        return 2
    outcomes = outcomes_of(found, executed)
    header = [f"Check your work: {path.name}",
              f"Ran {path} top to bottom in a fresh kernel: visible tests only; the file is not "
              "changed.",
              source]
    print(submit_check.render(found, outcomes, header, file=str(path),
                              notes=cell_errors(executed, stopped)))
    return 0 if found.exercises and all(o.status == submit_check.DONE for o in outcomes) else 1


# --------------------------------------------------------------------------- reading

def read(path: Path) -> dict:
    """The notebook (nbformat 4, any minor version) as a dict, cell sources as text, read as
    grading reads it.

    Raises:
        ValueError: when the file is missing, not JSON, or not an nbformat 4 notebook.
    """
    import nbformat

    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"cannot read {path}: {getattr(error, 'strerror', None) or error}") from error
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("nbformat") != 4 or \
                not isinstance(data.get("cells"), list):
            raise ValueError("not nbformat 4")
        notebook = nbformat.reads(text, as_version=4)
    except Exception as error:  # noqa: BLE001 - whatever is wrong, it is not a notebook we can run
        raise ValueError(f"{path} is not a notebook that can be read ({type(error).__name__}: "
                         f"{str(error)[:200]}); hand in the .ipynb file saved by Jupyter, Colab "
                         "or Kaggle") from error
    return {**notebook, "cells": [dict(cell) for cell in notebook.cells]}


def survey(notebook: dict, path: Path, course_dir: Path | None, file_tests: bool) -> tuple[Survey, str]:
    """The exercises to check and a line saying where their tests come from."""
    found = submit_check.survey(notebook, path.name)
    if file_tests:
        return found, "Tests: this file's own test cells (--file-tests)."
    assignment, why_not = _assignment(notebook, path, course_dir)
    if assignment is None:
        return found, f"Tests: this file's own test cells ({why_not})."
    return (from_gradebook(notebook, assignment, path.name),
            f"Tests: the course's visible tests for {assignment.name} (the notebook was "
            "identified by its content, as grading does).")


def _assignment(notebook: dict, path: Path, course_dir: Path | None):
    try:
        from convtrain.instructor.course import CourseError, find_course, load_course
        from convtrain.instructor.grading.discover import identify
        from convtrain.instructor.grading.gradebook import load_assignments
    except ImportError as error:  # the student half alone: no nbgrader
        return None, f"no course tools here: {error.name} is not installed"
    try:
        assignments = load_assignments(load_course(find_course(course_dir)))
    except (CourseError, ImportError) as error:
        return None, "no gradebook found: " + str(error).split(". ")[0].rstrip(".")
    assignment = identify(notebook["cells"], path.name, assignments)
    if assignment is None:
        return None, "the gradebook knows no lesson like it"
    return assignment, ""


def from_gradebook(notebook: dict, assignment, name: str) -> Survey:
    """The exercises of ``assignment`` found in the student's cells as grading pairs them,
    with the gradebook's titles, points and visible tests, and what is amiss."""
    from convtrain.instructor.course import nbgrader_meta
    from convtrain.instructor.grading.discover import normalize
    from convtrain.instructor.grading.restore import partners

    cells = notebook["cells"]
    paired = partners(cells, assignment)
    where = {spec_name: index for index, spec_name in paired.items()}
    tests = {test.name for test, _answers in assignment.exercises}
    exercises, findings = [], []
    for number, (test, answers) in enumerate(assignment.exercises, 1):
        title = assignment.title(test.name) or f"Exercise {number} ({test.name})"
        answer_cells = [where[a.name] for a in answers if a.name in where]
        index = where.get(test.name)
        exercises.append(Exercise(
            number, title, test.name, test.points, test.release_source, index, answer_cells,
            [a.name for a in answers], [submit_check.cell_source(cells[i]) for i in answer_cells]))
        if index is None:
            findings.append(f"{title}: the test cell is missing (deleted?). Grading puts the "
                            "course's copy back after your answer and grades it, so nothing is "
                            "lost; it was checked here the same way.")
        else:
            meta = nbgrader_meta(cells[index])
            if meta.get("grade_id") != test.name or not meta.get("grade"):
                findings.append(f"{title}: the test cell has lost its grading metadata (Colab can "
                                "drop it). Grading recognises it by its text and runs the course's "
                                "copy of the test: nothing to do.")
            if normalize(submit_check.cell_source(cells[index])) not in (
                    normalize(test.release_source), normalize(test.source)):
                findings.append(f"{title}: the test cell was changed. Grading (and this check) "
                                "runs the course's copy of the test instead.")
        for answer in answers:
            at = where.get(answer.name)
            if at is not None and nbgrader_meta(cells[at]).get("grade_id") != answer.name:
                findings.append(f"{title}: the answer cell has lost its grading metadata (Colab "
                                "can drop it). Your answer still runs when graded (every cell of "
                                "yours runs, in order): nothing to do.")
    for index, cell in enumerate(cells):
        grade_id = nbgrader_meta(cell).get("grade_id")
        if grade_id in tests and index not in paired:
            title = next(e.title for e in exercises if e.test_id == grade_id)
            findings.append(f"{title}: the test cell `{grade_id}` appears twice. Grading runs the "
                            "course's copy once; the extra copy runs as ordinary code.")
    return Survey(name, exercises, findings)


# --------------------------------------------------------------------------- running

def prepared(notebook: dict, found: Survey) -> list[dict]:
    """The cells to run: the student's, each exercise's test cell holding its visible test
    (marked with the exercise's number), a test missing from the file put after its answer,
    and ``check_my_work()`` cells emptied (this is that check)."""
    cells = copy.deepcopy(notebook["cells"])
    extra: dict[int, list[dict]] = {}  # insert after the cell with this index (-1: at the start)
    for exercise in found.exercises:
        if exercise.test_source is None:
            continue
        if exercise.test_cell is not None:
            cell = cells[exercise.test_cell]
            cell["source"] = exercise.test_source
            cell.setdefault("metadata", {})[MARK] = exercise.number
        else:
            after = exercise.answer_cells[-1] if exercise.answer_cells else len(cells) - 1
            extra.setdefault(after, []).append(
                {"cell_type": "code", "source": exercise.test_source, "metadata": {MARK: exercise.number},
                 "outputs": [], "execution_count": None})
    run = [*extra.get(-1, [])]
    for index, cell in enumerate(cells):
        if cell.get("cell_type") == "code" and submit_check.CHECK_CELL.search(submit_check.cell_source(cell)):
            cell["source"] = ""
        run.append(cell)
        run.extend(extra.get(index, []))
    return run


def execute(cells: list[dict], cwd: Path, timeout: float) -> tuple[list[dict], str]:
    """Run ``cells`` in a fresh kernel; return them with their outputs and, when the run
    stopped early (the kernel died), why."""
    import nbformat
    from nbclient.exceptions import DeadKernelError

    from convtrain.instructor.headless import run

    for cell in cells:
        cell.pop("id", None)  # nbformat 4.0 (Colab) has none; 4.5 ids are not needed to run
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
    notebook = nbformat.from_dict({"nbformat": 4, "nbformat_minor": 4, "cells": cells, "metadata": {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}})
    stopped = ""
    try:
        run(notebook, cwd, timeout=int(timeout), allow_errors=True, interrupt_on_timeout=True)
    except DeadKernelError:
        stopped = "The kernel died (an exit, a crash or too much memory); the cells after it did not run."
    return [dict(cell) for cell in notebook.cells], stopped


def _error(cell: dict) -> tuple[str, str] | None:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return str(output.get("ename", "")), str(output.get("evalue", ""))
    return None


def outcomes_of(found: Survey, cells: list[dict]) -> list[Outcome]:
    """Each exercise's outcome, read from its run test cell."""
    run_cells = {cell.get("metadata", {}).get(MARK): cell for cell in cells
                 if cell.get("metadata", {}).get(MARK)}
    outcomes = []
    for exercise in found.exercises:
        cell = run_cells.get(exercise.number)
        if exercise.test_source is None or cell is None:
            outcomes.append(submit_check.classify(exercise, None))
        elif not cell.get("execution_count") and not cell.get("outputs"):
            outcomes.append(Outcome(submit_check.FAILING, "did not run (the notebook stopped before it)"))
        else:
            error = _error(cell)
            outcomes.append(submit_check.classify(exercise, *(error or (None, "")), live=False))
    return outcomes


def cell_errors(cells: list[dict], stopped: str) -> list[str]:
    """Lines about the cells outside the tests that stopped with an error (an answer cell that
    still raises NotImplementedError is not news), the first few."""
    lines = []
    for position, cell in enumerate(cells, 1):
        if cell.get("metadata", {}).get(MARK) or cell.get("cell_type") != "code":
            continue
        error = _error(cell)
        if error is None or error[0] == "NotImplementedError":
            continue
        first = submit_check.first_line(submit_check.cell_source(cell)) or "(empty)"
        lines.append(f"  - cell {position} ({first[:50]}): "
                     f"{error[0]}: {submit_check.first_line(error[1])}".rstrip(": "))
    shown = lines[:ERRORS_SHOWN] + ([f"  - and {len(lines) - ERRORS_SHOWN} more"] if len(lines) > ERRORS_SHOWN else [])
    text = ["Cells outside the tests that stopped with an error (a test after one may fail because "
            "of it):", *shown] if shown else []
    if stopped:
        text = [*text, stopped]
    return text
