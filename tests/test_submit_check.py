"""Is my notebook ready to submit? ``ct.check_my_work()`` in the kernel, ``convtrain check`` in a shell.

The notebooks are the tiny course's (``grading_fixtures/tiny_course.py``: three exercises,
2 + 3 + 1 points): the solution notebook, the untouched workshop, the workshop with the
first exercise solved, the solved notebook as Colab saves it (nbgrader metadata lost on
every third graded cell) and the one-solved notebook with the second test cell deleted.
Each gets its exact report, in the kernel (tests run in this process against the
namespace its cells made) and from the shell (a fresh kernel per notebook). One test runs
``ct.check_my_work()`` itself in a real kernel, one checks a real lesson.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
import re
import sys
import warnings
from pathlib import Path

import pytest

from convtrain import submit_check
from convtrain.instructor.cohort import colab_notebook, with_answers_from

sys.path.insert(0, str(Path(__file__).parent / "grading_fixtures"))
import tiny_course  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ANSWERS = ("double", "count", "mean")

HAND_IN = """\
To hand in: download the notebook and upload the .ipynb where your course collects work (renaming it, e.g. "Copy of ...", is fine).
  Colab:   File → Download → Download .ipynb
  Kaggle:  File → Download notebook
  Jupyter: File → Save Notebook (Ctrl+S / ⌘S), then upload <file>"""
IN_PLACE = "Grading metadata: every answer and test cell is in place."
RESTORED = ("Cells the grader will not find as they are (nothing is lost: grading restores them "
            "from the course's copy):")
LOST_TEST = ("the test cell has lost its grading metadata (Colab can drop it). Grading recognises "
             "it by its text and runs the course's copy of the test: nothing to do.")
LOST_ANSWER = ("the answer cell has lost its grading metadata (Colab can drop it). Your answer "
               "still runs when graded (every cell of yours runs, in order): nothing to do.")
UNTOUCHED = "                            its answer cell is still as handed out"

EXERCISES = {
    "solution": f"""\
  ✓ done         2 points   Exercise 1 (test_double)
  ✓ done         3 points   Exercise 2: counting
  ✓ done         1 point    Exercise 3 (test_mean)

✓ Every exercise passes its visible tests (6 of 6 points). Hidden tests run when your notebook is graded.

{IN_PLACE}""",
    "untouched": f"""\
  · not started  2 points   Exercise 1 (test_double)
{UNTOUCHED}
  · not started  3 points   Exercise 2: counting
{UNTOUCHED}
  · not started  1 point    Exercise 3 (test_mean)
{UNTOUCHED}

Visible tests pass for 0 of 3 exercises (0 of 6 points). Hidden tests run when your notebook is graded.

{IN_PLACE}""",
    "one": f"""\
  ✓ done         2 points   Exercise 1 (test_double)
  · not started  3 points   Exercise 2: counting
{UNTOUCHED}
  · not started  1 point    Exercise 3 (test_mean)
{UNTOUCHED}

Visible tests pass for 1 of 3 exercises (2 of 6 points). Hidden tests run when your notebook is graded.

{IN_PLACE}""",
    "colab": f"""\
  ✓ done         ? points   Exercise 1 (double)
  ✓ done         3 points   Exercise 2: counting
  ✓ done         1 point    Exercise 3 (test_mean)

✓ Every exercise passes its visible tests (4 of 4 known points; 1 exercise's points unknown). Hidden tests run when your notebook is graded.

{RESTORED}
  - Exercise 1 (double): {LOST_TEST}
  - Exercise 3 (test_mean): {LOST_ANSWER}""",
    "deleted": f"""\
  ✓ done         2 points   Exercise 1 (test_double)
  ? no test      3 points   Exercise 2: counting
                            its test cell is missing: see below
  · not started  1 point    Exercise 3 (test_mean)
{UNTOUCHED}

Visible tests pass for 1 of 3 exercises (2 of 6 points). Hidden tests run when your notebook is graded.

{RESTORED}
  - Exercise 2: counting: the test cell is missing (deleted?). Grading puts the course's copy of the test back after your answer and grades it, so nothing is lost; but you cannot check this exercise here. To see the test again, copy it from a fresh copy of the workshop.""",
}
KERNEL_HEADER = ("Check your work: {name}\nVisible tests only, run in this kernel against what you "
                 "have run so far; the notebook is not changed.\n\n")


@pytest.fixture(scope="module")
def notebooks(tmp_path_factory) -> dict[str, dict]:
    root = tmp_path_factory.mktemp("tiny")
    tiny_course.build_course(root)
    release = json.loads((root / "workshops" / tiny_course.LESSON / "00_tiny.ipynb").read_text())
    solution = json.loads((root / "solutions" / tiny_course.LESSON / "00_tiny.ipynb").read_text())
    perfect = with_answers_from(release, solution, set(ANSWERS))
    one = with_answers_from(release, solution, {"double"})
    deleted = copy.deepcopy(one)
    deleted["cells"] = [cell for cell in deleted["cells"]
                        if cell["metadata"].get("nbgrader", {}).get("grade_id") != "test_count"]
    return {"solution": solution, "untouched": release, "one": one,
            "colab": colab_notebook(perfect, "Copy of 00_tiny.ipynb"), "deleted": deleted,
            "_course": str(root / "course")}


def namespace_of(notebook: dict) -> dict:
    """What running every code cell in order leaves (errors skipped, output swallowed)."""
    namespace: dict = {}
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for cell in notebook["cells"]:
            if cell["cell_type"] == "code":
                try:
                    exec(submit_check.cell_source(cell), namespace)
                except Exception:  # noqa: BLE001, S110 - as a notebook run with errors allowed
                    pass
    return namespace


# --------------------------------------------------------------------------- in the kernel

@pytest.mark.parametrize("case", list(EXERCISES))
def test_report_in_the_kernel(notebooks, case):
    notebook = notebooks[case]
    executed = [submit_check.cell_source(cell) for cell in notebook["cells"]]
    text, outcomes = submit_check.check(notebook, namespace_of(notebook), name=f"{case}.ipynb",
                                        executed=executed, file="<file>")
    assert text == KERNEL_HEADER.format(name=f"{case}.ipynb") + EXERCISES[case] + "\n\n" + HAND_IN


def test_hidden_tests_never_run_and_never_show(notebooks):
    solution = copy.deepcopy(notebooks["solution"])
    for cell in solution["cells"]:
        if "### BEGIN HIDDEN TESTS" in submit_check.cell_source(cell):
            cell["source"] = submit_check.cell_source(cell).replace(
                "### BEGIN HIDDEN TESTS", "### BEGIN HIDDEN TESTS\nraise RuntimeError('SECRET hidden test ran')")
    text, outcomes = submit_check.check(solution, namespace_of(notebooks["solution"]))
    assert [o.status for o in outcomes] == ["done"] * 3
    assert "SECRET" not in text and "HIDDEN" not in text


def test_tests_leave_the_students_names_and_random_state_alone():
    import torch

    notebook = {"cells": [
        {"cell_type": "code", "source": "def answer():\n    return 1",
         "metadata": {"nbgrader": {"grade_id": "answer", "solution": True, "grade": False}}},
        {"cell_type": "code", "source": "x = torch.rand(3)\ntorch.manual_seed(123)\nprint('noise')\n"
                                        "assert answer() == 1",
         "metadata": {"nbgrader": {"grade_id": "test_answer", "grade": True, "solution": False,
                                   "points": 1}}}]}
    namespace = {"torch": torch, "x": "mine"}
    exec(notebook["cells"][0]["source"], namespace)
    torch.manual_seed(7)
    expected = torch.rand(2)
    torch.manual_seed(7)
    shown = io.StringIO()
    with contextlib.redirect_stdout(shown):
        _text, outcomes = submit_check.check(notebook, namespace, emit=print)
    assert [o.status for o in outcomes] == ["done"]
    assert namespace["x"] == "mine"
    assert torch.equal(torch.rand(2), expected)
    assert "noise" not in shown.getvalue() and "✓ done" in shown.getvalue()


def test_an_answer_edited_since_it_ran_is_noted(notebooks):
    notebook = copy.deepcopy(notebooks["one"])
    namespace = namespace_of(notebook)
    for cell in notebook["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == "double":
            cell["source"] = submit_check.cell_source(cell) + "\n# tidied up after running"
    executed = [submit_check.cell_source(cell) for cell in notebooks["one"]["cells"]]
    _text, outcomes = submit_check.check(notebook, namespace, executed=executed)
    assert outcomes[0].status == "done"
    assert outcomes[0].note.startswith("the answer in the notebook is not the code that ran")


def test_without_the_file_it_says_so_and_what_to_do(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    submit_check.check_my_work()
    out = capsys.readouterr().out
    assert out.startswith("Check your work: this notebook\nNot checked: could not find this notebook's file")
    assert "ct.check_my_work(\"path/to/notebook.ipynb\")" in out and "Kaggle:  File → Download notebook" in out


@pytest.mark.slow
def test_check_my_work_in_a_real_kernel(notebooks, tmp_path, monkeypatch):
    """The last cell of a workshop, run in a real kernel that knows its notebook's path
    (JupyterLab sets JPY_SESSION_NAME; ipykernel makes it ``__session__``)."""
    import nbformat

    from convtrain.instructor.headless import run

    notebook = copy.deepcopy(notebooks["one"])
    notebook["cells"].append({"cell_type": "code", "id": "check", "source": "ct.check_my_work()", "metadata": {},
                              "outputs": [], "execution_count": None})
    notebook["cells"].insert(0, {"cell_type": "code", "id": "import", "source": "import convtrain as ct",
                                 "metadata": {}, "outputs": [], "execution_count": None})
    path = tmp_path / "00_tiny.ipynb"
    path.write_text(json.dumps(notebook))
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    monkeypatch.setenv("JPY_SESSION_NAME", str(path))
    node = nbformat.reads(path.read_text(), as_version=4)
    run(node, tmp_path, timeout=120, allow_errors=True)
    out = "".join(o.get("text", "") for o in node.cells[-1].outputs if o.get("name") == "stdout")
    out = re.sub(r"saved at \d\d:\d\d", "saved at HH:MM", out)
    assert out == (
        "Check your work: 00_tiny.ipynb\n"
        f"Read from {path} (the notebook this kernel runs), as last saved at HH:MM: save (Ctrl+S) "
        "first so that this checks what you will hand in.\n"
        "Visible tests only, run in this kernel against what you have run so far; the notebook is "
        "not changed.\n\n" + EXERCISES["one"] + "\n\n" + HAND_IN.replace("<file>", str(path)) + "\n")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


# --------------------------------------------------------------------------- from the shell

CLI_HEADER = ("Check your work: {name}\nRan {path} top to bottom in a fresh kernel: visible tests "
              "only; the file is not changed.\n{tests}\n\n")
FILE_TESTS = "Tests: this file's own test cells (--file-tests)."
COURSE_TESTS = ("Tests: the course's visible tests for 00_tiny (the notebook was identified by its "
                "content, as grading does).")
CLI_GRADEBOOK = {
    "colab": f"""\
  ✓ done         2 points   Exercise 1 (test_double)
  ✓ done         3 points   Exercise 2: counting
  ✓ done         1 point    Exercise 3 (test_mean)

✓ Every exercise passes its visible tests (6 of 6 points). Hidden tests run when your notebook is graded.

{RESTORED}
  - Exercise 1 (test_double): {LOST_TEST}
  - Exercise 3 (test_mean): {LOST_ANSWER}""",
    "deleted": f"""\
  ✓ done         2 points   Exercise 1 (test_double)
  · not started  3 points   Exercise 2: counting
{UNTOUCHED}
  · not started  1 point    Exercise 3 (test_mean)
{UNTOUCHED}

Visible tests pass for 1 of 3 exercises (2 of 6 points). Hidden tests run when your notebook is graded.

{RESTORED}
  - Exercise 2: counting: the test cell is missing (deleted?). Grading puts the course's copy back after your answer and grades it, so nothing is lost; it was checked here the same way.""",
}
CASES = [(case, "file") for case in EXERCISES] + [(case, "course") for case in CLI_GRADEBOOK]


@pytest.mark.slow
@pytest.mark.parametrize(("case", "tests"), CASES)
def test_convtrain_check(notebooks, tmp_path, capsys, case, tests):
    from convtrain.instructor.check import main

    path = tmp_path / f"{case}.ipynb"
    path.write_text(json.dumps(notebooks[case]))
    options = ["--file-tests"] if tests == "file" else ["--course", notebooks["_course"]]
    status = main([str(path), *options, "--timeout", "60"])
    expected = (CLI_HEADER.format(name=path.name, path=path,
                                  tests=FILE_TESTS if tests == "file" else COURSE_TESTS)
                + (EXERCISES if tests == "file" else CLI_GRADEBOOK)[case] + "\n\n"
                + HAND_IN.replace("<file>", str(path)) + "\n")
    assert capsys.readouterr().out == expected
    assert status == (0 if case in ("solution", "colab") else 1)


@pytest.mark.parametrize("content", ["{not json", '{"nbformat": 3, "worksheets": []}'])
def test_convtrain_check_an_unreadable_file_exits_2(tmp_path, capsys, content):
    from convtrain.instructor.check import main

    path = tmp_path / "broken.ipynb"
    path.write_text(content)
    assert main([str(path)]) == 2
    assert "convtrain check:" in capsys.readouterr().err
    assert main([str(tmp_path / "missing.ipynb")]) == 2


@pytest.mark.slow
def test_convtrain_check_a_real_lesson(tmp_path, capsys):
    """00_building_blocks with its first exercise solved, from the file's own tests."""
    from convtrain.instructor.check import main

    lesson = "00_building_blocks"
    workshop = json.loads((ROOT / "workshops" / lesson / f"{lesson}.ipynb").read_text())
    solution = json.loads((ROOT / "solutions" / lesson / f"{lesson}.ipynb").read_text())
    found = submit_check.survey(workshop)
    first = found.exercises[0]
    path = tmp_path / f"Copy of {lesson}.ipynb"
    path.write_text(json.dumps(with_answers_from(workshop, solution, set(first.answer_ids))))
    assert main([str(path), "--file-tests"]) == 1
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("  ") and line[2] in "✓✗·?"]
    assert len(lines) == len(found.exercises) >= 3
    assert lines[0].startswith("  ✓ done") and first.title in lines[0]
    assert all(line.startswith("  · not started") for line in lines[1:]), out
    assert IN_PLACE in out


def test_written_questions_are_counted_not_checked():
    """A written answer is graded by a person: the check says how many hold an answer."""
    def written(grade_id, source, points):
        return {"cell_type": "markdown", "source": source, "metadata": {"nbgrader": {
            "grade": True, "solution": True, "grade_id": grade_id, "points": points,
            "locked": False, "schema_version": 3, "task": False}}}

    notebook = {"cells": [
        {"cell_type": "markdown", "source": "### Written question 1", "metadata": {}},
        written("written_a", "Doubling is linear because 2(a+b) = 2a + 2b.", 2),
        {"cell_type": "markdown", "source": "### Written question 2", "metadata": {}},
        written("written_b", "YOUR ANSWER HERE", 1.5),
        written("written_c", ["  \n"], 1)]}
    found = submit_check.survey(notebook)
    assert found.written == [(2.0, True), (1.5, False), (1.0, False)]
    assert found.exercises == []  # a written answer is not an exercise with a test
    lines = submit_check.summary_lines(found, [])
    assert ("Written questions: 1 of 3 answered (4.5 points, graded by your instructor: no test "
            "checks them).") in lines
