"""Unit tests of the grading steps that need no kernel: discovery, identification,
restoring the run, the guard's report parsing, the result files, the flags, scoring
(not-attempted exercises) and the feedback pages."""

from __future__ import annotations

import html
import re
import zipfile
from pathlib import Path

import pytest

from convtrain.instructor.course import split_hidden
from convtrain.instructor.grading import flags, guard, report
from convtrain.instructor.grading.discover import clean_name, discover, identify, unpack
from convtrain.instructor.grading.execute import Execution, StepRun
from convtrain.instructor.grading.flags import Flag
from convtrain.instructor.grading.gradebook import (
    Assignment,
    CellSpec,
    clean_heading,
    exercise_titles,
)
from convtrain.instructor.grading.restore import Step, restore, untouched_answers
from convtrain.instructor.grading.score import score

TEST_SOURCE = "check(f(1), 2)\n### BEGIN HIDDEN TESTS\ncheck(f(5), 10)\n### END HIDDEN TESTS\nprint('ok')"


def spec(name, source, *, kind="code", locked=False, solution=False, grade=False, points=0.0):
    return CellSpec(name, kind, source, locked, solution, grade, points)


ASSIGNMENT = Assignment("01_demo", "01_demo", (
    spec("intro", "# Demo lesson", kind="markdown", locked=True),
    spec("setup", "import math", locked=True),
    spec("f", "def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()", solution=True),
    spec("test_f", TEST_SOURCE, locked=True, grade=True, points=2.0),
    spec("g", "def g(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()", solution=True),
    spec("test_g", "check(g(1), 1)\nprint('ok')", locked=True, grade=True, points=1.0),
), None)
OTHER = Assignment("02_other", "02_other", (
    spec("other_setup", "import os", locked=True),
    spec("test_h", "check(h(), 3)", locked=True, grade=True, points=1.0),
), None)


def release_cells(assignment=ASSIGNMENT, with_metadata=True):
    cells = []
    for cell in assignment.cells:
        metadata = {"nbgrader": cell.metadata()} if with_metadata else {}
        cells.append({"cell_type": cell.cell_type, "source": cell.release_source, "metadata": metadata})
    return cells


def kinds(steps):
    return [(step.kind, step.cell, step.hidden) for step in steps]


def test_split_hidden_separates_visible_and_hidden_regions():
    assert split_hidden(TEST_SOURCE) == [(False, "check(f(1), 2)"), (True, "check(f(5), 10)"),
                                         (False, "print('ok')")]
    assert split_hidden("") == [(False, "")]
    assert ASSIGNMENT.cells[3].release_source == "check(f(1), 2)\nprint('ok')"


@pytest.mark.parametrize("name, expected", [
    ("Copy of 02_dropout.ipynb", "02_dropout"), ("02_dropout (1).ipynb", "02_dropout"),
    ("Copy of Copy of 02_dropout (12).ipynb", "02_dropout"), ("jdoe_12345_02_dropout.ipynb",
                                                               "jdoe_12345_02_dropout")])
def test_clean_name_removes_what_colab_and_lms_add(name, expected):
    assert clean_name(name) == expected


def test_identify_prefers_content_over_the_file_name():
    assignments = {"01_demo": ASSIGNMENT, "02_other": OTHER}
    cells = release_cells(with_metadata=False)
    assert identify(cells, "02_other.ipynb", assignments) is ASSIGNMENT
    assert identify([], "jdoe_1_02_other.ipynb", assignments) is OTHER
    assert identify([{"cell_type": "code", "source": "print(1)"}], "mine.ipynb", assignments) is None


def test_restore_runs_the_gradebook_tests_in_release_order():
    steps, flags = restore(release_cells(), ASSIGNMENT)
    assert flags == set()
    assert kinds(steps) == [("given", "setup", False), ("student", "f", False),
                            ("test", "test_f", False), ("test", "test_f", True),
                            ("test", "test_f", False), ("student", "g", False),
                            ("test", "test_g", False)]
    assert steps[3].source == "check(f(5), 10)"  # the hidden test comes from the gradebook


def test_restore_puts_back_deleted_and_edited_tests_after_their_answer():
    cells = release_cells(with_metadata=False)
    del cells[3]  # test_f deleted
    cells[-1]["source"] = "pass"  # test_g emptied of its checks (its metadata kept)
    cells[-1]["metadata"] = {"nbgrader": ASSIGNMENT.cells[-1].metadata()}
    cells.insert(0, cells.pop(3))  # the g answer moved to the top
    steps, flags = restore(cells, ASSIGNMENT)
    assert flags == {"test_deleted", "test_edited", "metadata_restored"}
    assert [step.source for step in steps if step.cell == "test_g"] == ["check(g(1), 1)\nprint('ok')"]
    order = [(step.kind, step.cell) for step in steps if not step.hidden]
    assert order.index(("test", "test_f")) == order.index(("student", "f")) + 1
    assert order.index(("test", "test_g")) == order.index(("student", "g")) + 1


LONG_ANSWER = "\n".join(f"weights_{i} = [{i}] * {i + 3}  # a long answer, nothing like the stub"
                        for i in range(40)) + "\n\ndef f(x):\n    return 2 * x\n"


def test_restore_runs_a_long_answer_that_lost_its_metadata_before_its_test():
    """Too rewritten to resemble its stub, the answer is found by position: the cells between
    the previous exercise's test and its own; its test runs after the last of them."""
    cells = release_cells(with_metadata=False)
    cells[2]["source"] = "import numpy  # a helper cell of the student's"
    cells.insert(3, {"cell_type": "code", "source": LONG_ANSWER, "metadata": {}})
    steps, _flags = restore(cells, ASSIGNMENT)
    order = [(step.kind, step.cell, step.source[:20]) for step in steps if not step.hidden]
    answer = order.index(("student", "f", LONG_ANSWER[:20]))
    assert order[answer + 1][:2] == ("test", "test_f")
    helper = next(i for i, (kind, _cell, text) in enumerate(order) if text.startswith("import numpy"))
    assert order[helper][:2] == ("student", None) and helper < answer


def test_restore_keeps_extra_student_cells_and_ignores_their_metadata():
    cells = release_cells()
    cells.insert(3, {"cell_type": "code", "source": "helper = 1",
                     "metadata": {"nbgrader": {"grade": True, "grade_id": "mine", "points": 99}}})
    steps, _ = restore(cells, ASSIGNMENT)
    assert ("student", None, False) in kinds(steps)
    assert {step.cell for step in steps if step.kind == "test"} == {"test_f", "test_g"}


def test_discover_reads_student_folders_and_flat_lms_names(tmp_path):
    for name in ("ann/Copy of 01_demo.ipynb", "ann/.ipynb_checkpoints/01_demo-checkpoint.ipynb",
                 "bob_4711_01_demo.ipynb", "cy/01_demo/01_demo.ipynb"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("{}")
    found = [(sub.student_id, sub.label) for sub in discover(tmp_path)]
    assert found == [("ann", "ann/Copy of 01_demo.ipynb"), ("bob", "bob_4711_01_demo.ipynb"),
                     ("cy", "cy/01_demo/01_demo.ipynb")]


def test_unpack_refuses_paths_outside_the_archive(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("../../escape.ipynb", "{}")
    with pytest.raises(ValueError, match="unsafe path"):
        unpack(archive, tmp_path / "scratch")
    assert not (tmp_path.parent / "escape.ipynb").exists()


def test_unpack_says_what_is_wrong_with_a_non_zip(tmp_path):
    (tmp_path / "grades.txt").write_text("not a zip")
    with pytest.raises(ValueError, match="neither a folder nor a zip"):
        unpack(tmp_path / "grades.txt", tmp_path)


def test_sealed_region_hides_its_code_and_only_the_agent_can_open_it():
    key = guard.new_key()
    sealed = guard.seal(key, "test", "3:test_f", "check(f(5), 10)  # hidden")
    assert "check" not in sealed.cell_source and "hidden" not in sealed.cell_source
    payload = guard.open_sealed(key, sealed.cell_source)
    assert payload == {"kind": "test", "region": "3:test_f", "nonce": sealed.nonce,
                       "code": "check(f(5), 10)  # hidden"}
    with pytest.raises(ValueError, match="not sealed"):
        guard.open_sealed(guard.new_key(), sealed.cell_source)


def test_only_records_signed_for_the_sent_region_count():
    key = guard.new_key()
    sealed = guard.seal(key, "test", "3:test_f", "pass")
    good = {"region": sealed.region, "nonce": sealed.nonce, "status": "pass", "tamper": []}
    forged = guard.MARK + " " + guard.sign(guard.new_key(), good)
    other = guard.MARK + " " + guard.sign(key, dict(good, nonce="0" * 16))
    unsigned = guard.MARK + " {'region': '3:test_f', 'status': 'pass'} 00"
    text = "\n".join(["student output", forged, other, unsigned,
                      guard.MARK + " " + guard.sign(key, good)])
    assert guard.records(key, text, sealed) == [good]
    assert guard.without_marks(text) == "student output"


def test_agent_reports_are_merged():
    merged = guard.merged_reports([{"tamper": ["builtins.abs"], "forbidden": 1, "network": 0},
                                   {"tamper": ["torch.allclose"], "forbidden": 2, "network": 0}])
    assert merged == {"tamper": {"builtins.abs", "torch.allclose"}, "forbidden": 2, "network": 0}


def test_private_paths_reach_the_kernel_only_as_digests(tmp_path):
    config = guard.write_agent_config(tmp_path, guard.new_key(), [tmp_path / "course"], [])
    text = config.read_text()
    assert str(tmp_path / "course") not in text
    assert guard.private_digests([tmp_path / "course"])[0] in text
    assert str(config) in guard.setup_source(config)


def test_best_result_per_assignment_flags_duplicates():
    results = [report.Result("ann", "01_demo", 1.0, 3.0, [], "a"),
               report.Result("ann", "01_demo", 3.0, 3.0, ["renamed"], "b"),
               report.Result("bob", "01_demo", 0.0, 3.0, [], "c")]
    best = report.best_per_assignment(results)
    assert [(r.student_id, r.score, r.flags) for r in best] == [
        ("ann", 3.0, ["duplicate", "renamed"]), ("bob", 0.0, [])]


def test_results_round_trip_and_grades_csv_columns(tmp_path: Path):
    written = [{"name": "why_bn", "max_points": 2.0, "status": "pending", "title": "", "answer": "x"},
               {"name": "which_curve", "max_points": 1.5, "status": "not_answered", "title": "",
                "answer": "YOUR ANSWER HERE"},
               {"name": "lost", "max_points": 1.0, "status": "missing", "title": "", "answer": ""}]
    result = report.Result("ann/../x", "01_demo", 2.5, 7.5, ["renamed"], "ann.ipynb",
                           written=written)
    path = report.result_path(tmp_path, result.student_id, "f" * 64, "key")
    assert path.parent.parent == tmp_path / "results"  # the id cannot escape the folder
    report.save_result(path, result)
    assert report.load_result(path) == result
    report.write_grades(tmp_path, [result])
    # pending: the answered written answer and the one not found (a person must look)
    assert (tmp_path / "grades.csv").read_text() == (
        "student_id,assignment,score,max_score,flags,manual_pending\n"
        "ann/../x,01_demo,2.5,7.5,renamed,3\n")


# --------------------------------------------------------------------------- flags

GRADING_DIR = Path(report.__file__).parent
REPO = GRADING_DIR.parents[3]


def _flag_constants(path: Path) -> list[str]:
    """String constants in ``events.add(...)``/``flags.add(...)`` calls, in what a function
    named ``reason`` (the watchdog's) returns, and flag values in list, set and tuple
    literals: flags made from plain strings."""
    import ast

    places = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr == "add" and isinstance(node.func.value, ast.Name) \
                and node.func.value.id in ("events", "flags"):
            places.append(node)
        elif isinstance(node, ast.FunctionDef) and node.name == "reason":
            places += [leaf for leaf in ast.walk(node) if isinstance(leaf, ast.Return)]
    tree = ast.parse(path.read_text())
    values = [leaf.value for place in places for leaf in ast.walk(place)
              if isinstance(leaf, ast.Constant) and isinstance(leaf.value, str)]
    if path.name != "flags.py":  # a flag's value in a list, set or tuple: [..., "duplicate"]
        values += [leaf.value for node in ast.walk(tree) if isinstance(node, (ast.List, ast.Set, ast.Tuple))
                   for leaf in node.elts if isinstance(leaf, ast.Constant)
                   and leaf.value in Flag._value2member_map_]
    return values


def test_every_flag_the_code_makes_is_a_flag_member():
    made = {path.name: _flag_constants(path) for path in sorted(GRADING_DIR.glob("*.py"))}
    strings = {value for values in made.values() for value in values}
    assert strings, "the scan found no flag at all: it is broken"
    assert strings <= set(Flag._value2member_map_), strings - set(Flag._value2member_map_)
    # Only execute.py (whose events become flags in score._run_flags) still uses strings.
    assert {name for name, values in made.items() if values} == {"execute.py"}


def test_flags_are_strings_with_notes_and_a_kind():
    assert len(Flag) == 18 and Flag.RENAMED == "renamed" and f"{Flag.TAMPER}" == "tamper"
    assert {flag.value for flag in Flag if flag.informational} == {"renamed", "metadata_restored",
                                                                   "duplicate"}
    for flag in Flag:
        assert flag.student.endswith(".") and flag.instructor.endswith("."), flag
        assert "|" not in flag.instructor, f"{flag} would break the Markdown table"
    assert flags.known(["renamed", "tamper", "from_the_future"]) == [Flag.TAMPER, Flag.RENAMED]
    assert not hasattr(report, "FLAG_NOTES")


def test_grading_md_flags_table_is_the_generated_one():
    text = (REPO / "course" / "GRADING.md").read_text(encoding="utf-8")
    assert flags.table_in(text) == flags.generated_section(), (
        f"course/GRADING.md's flags table differs from grading/flags.py; run `{flags.UPDATE_COMMAND}`")
    table = flags.markdown_table().splitlines()
    assert len(table) == 2 + len(Flag)
    assert table[2].startswith("| `test_edited` | attention") and table[-1].startswith("| `duplicate` | informational")


def test_flags_update_rewrites_only_the_generated_section(tmp_path, capsys):
    path = tmp_path / "GRADING.md"
    path.write_text(f"# Intro\n\n{flags.TABLE_START}\n| old |\n{flags.TABLE_END}\n\nrest\n")
    assert flags.main(["--update", str(path)]) == 0
    assert path.read_text() == f"# Intro\n\n{flags.generated_section()}\n\nrest\n"
    assert flags.main(["--update", str(path)]) == 0
    assert "already up to date" in capsys.readouterr().out
    path.write_text("no markers")
    assert flags.main(["--update", str(path)]) == 2
    assert flags.TABLE_START in capsys.readouterr().err


def test_restore_flags_are_members():
    cells = release_cells(with_metadata=False)
    cells = [cell for cell in cells if cell["source"] != ASSIGNMENT.cells[5].release_source]
    _steps, found = restore(cells, ASSIGNMENT)
    assert found == {Flag.METADATA_RESTORED, Flag.TEST_DELETED}
    assert all(isinstance(flag, Flag) for flag in found)


# --------------------------------------------------------------------------- exercises and not attempted

TITLED = Assignment("01_demo", "01_demo", ASSIGNMENT.cells, None,
                    titles=(("test_f", "Exercise 1: `f`"),))


def test_exercise_titles_come_from_the_headings_before_the_answer():
    cells = [
        {"cell_type": "markdown", "source": "# Lesson 1\nIntro.", "metadata": {}},
        {"cell_type": "markdown", "source": "### ✏️ Exercise 1 (3 points): `conv2d`\nWrite it.",
         "metadata": {}},
        {"cell_type": "code", "source": "def conv2d(): ...", "metadata": {"nbgrader": {
            "grade_id": "conv2d", "solution": True, "grade": False}}},
        {"cell_type": "markdown", "source": "## Exercise 9: not this one, it is after the answer",
         "metadata": {}},
        {"cell_type": "code", "source": "check()", "metadata": {"nbgrader": {
            "grade_id": "test_conv2d", "solution": False, "grade": True}}},
        {"cell_type": "markdown", "source": "## Counting", "metadata": {}},
        {"cell_type": "code", "source": "x = 1", "metadata": {"nbgrader": {
            "grade_id": "count", "solution": True, "grade": False}}},
        {"cell_type": "code", "source": "check()", "metadata": {"nbgrader": {
            "grade_id": "test_count", "solution": False, "grade": True}}},
    ]
    assert exercise_titles(cells) == (("test_conv2d", "Exercise 1: `conv2d`"),)
    assert clean_heading("### ✏️ Exercise 2 — compute the worked example (2 points)") == \
        "Exercise 2 — compute the worked example"
    assert clean_heading("## Exercise 3: output size (1 point)") == "Exercise 3: output size"


def test_answers_belong_to_the_next_test_cell():
    assert [(test.name, [a.name for a in answers]) for test, answers in ASSIGNMENT.exercises] == [
        ("test_f", ["f"]), ("test_g", ["g"])]
    assert [a.name for a in ASSIGNMENT.answers("test_g")] == ["g"]
    assert ASSIGNMENT.answers("nope") == () and TITLED.title("test_f") == "Exercise 1: `f`"
    assert TITLED.title("test_g") == "" and TITLED.fingerprint != ASSIGNMENT.fingerprint


def test_untouched_answers_ignore_whitespace_only_changes():
    cells = release_cells()
    assert untouched_answers(cells, ASSIGNMENT) == {"f", "g"}
    cells[2]["source"] = "def f(x):\n        # YOUR CODE HERE   \n\n    raise NotImplementedError()\n"
    cells[4]["source"] = "def g(x):\n    return x\n"
    assert untouched_answers(cells, ASSIGNMENT) == {"f"}


def _execution(outcomes: dict[tuple[str, bool], tuple[str, list]]) -> Execution:
    """Test regions of ASSIGNMENT with (status, errors) per (test id, hidden); the rest passes."""
    runs = []
    for spec in ASSIGNMENT.tests:
        for hidden, text in split_hidden(spec.source):
            status, errors = outcomes.get((spec.name, hidden), ("ok", []))
            verdict = {"status": "pass"} if status == "ok" and not errors else \
                {"status": "fail", "error": list(errors[0]) if errors else None}
            runs.append(StepRun(Step("test", text, spec.name, hidden), status, errors=errors,
                                records=[] if status == "not_run" else [verdict]))
    return Execution(runs, set(), {"tamper": set(), "forbidden": 0, "network": 0}, 1.0)


def _statuses(tests):
    return {test.name: (test.status, test.message) for test in tests}


def test_untouched_stub_is_not_attempted_with_the_exercise_heading():
    execution = _execution({("test_f", False): ("error", [("NotImplementedError", "")]),
                            ("test_g", False): ("error", [("NameError", "name 'g' is not defined")])})
    tests, run_flags = score(TITLED, execution, {"f", "g"})
    assert run_flags == set()
    assert _statuses(tests) == {
        "test_f": ("not_attempted", "Not attempted: the cell under “Exercise 1: `f`” still raises "
                                    "NotImplementedError."),
        "test_g": ("not_attempted", "Not attempted: the answer cell before the test test_g still "
                                    "raises NotImplementedError.")}
    assert tests[0].title == "Exercise 1: `f`" and tests[1].title == ""
    assert sum(test.points for test in tests) == 0


def test_errors_that_mean_not_attempted_and_errors_that_mean_wrong():
    execution = _execution({("test_f", False): ("error", [("NameError", "name 'f' is not defined")]),
                            ("test_g", False): ("error", [("NameError", "name 'helper' is not defined")])})
    tests, _ = score(TITLED, execution, set())  # both answers edited
    assert _statuses(tests) == {
        "test_f": ("not_attempted", "Not attempted: the cell under “Exercise 1: `f`” does not "
                                    "define `f` yet."),
        "test_g": ("failed", "NameError: name 'helper' is not defined")}  # the student's own bug
    execution = _execution({("test_f", False): ("error", [("NotImplementedError", "")]),
                            ("test_g", False): ("error", [("AssertionError", "g(1): expected 1, got 2")])})
    tests, _ = score(TITLED, execution, set())
    assert _statuses(tests)["test_f"][0] == "not_attempted"
    assert _statuses(tests)["test_g"] == ("failed", "AssertionError: g(1): expected 1, got 2")


def test_a_hidden_failure_is_never_called_not_attempted_and_leaks_nothing():
    execution = _execution({("test_f", True): ("error", [("NotImplementedError", "check(f(5), 10)")])})
    tests, _ = score(TITLED, execution, set())
    assert _statuses(tests)["test_f"] == ("hidden_failed", "A hidden test failed (NotImplementedError).")
    execution = _execution({("test_f", False): ("error", [("AssertionError", "saw check(f(5), 10)")])})
    tests, _ = score(TITLED, execution, set())
    assert _statuses(tests)["test_f"] == ("failed", "AssertionError: saw [hidden]")
    assert "f(5)" not in tests[0].visible_source


def test_a_test_that_did_not_run_stays_not_run_even_if_untouched():
    execution = _execution({("test_g", False): ("not_run", [])})
    tests, _ = score(TITLED, execution, {"g"})
    assert _statuses(tests)["test_g"][0] == "not_run"
    assert _statuses(tests)["test_f"] == ("passed", "")


# --------------------------------------------------------------------------- feedback

def _test_dict(name, status, points, max_points, title="", message=""):
    return {"name": name, "points": points, "max_points": max_points, "status": status,
            "message": message, "visible_source": f"check({name})", "title": title}


def _feedback(tmp_path, student, results):
    return report.write_feedback(tmp_path, student, results).read_text(encoding="utf-8")


def test_feedback_starts_with_one_summary_line_per_lesson(tmp_path):
    conv = report.Result("ann", "00_conv", 3.0, 8.0, [Flag.RENAMED], "ann/Copy of 00_conv.ipynb", [
        _test_dict("test_conv2d", "passed", 3.0, 3.0, "Exercise 1: `conv2d`"),
        _test_dict("test_worked", "failed", 0.0, 2.0, "Exercise 2 — worked example",
                   "AssertionError: worked example: expected 4, got 5"),
        _test_dict("test_size", "hidden_failed", 0.0, 1.0, "Exercise 3 — output size",
                   "A hidden test failed (AssertionError)."),
        _test_dict("test_params", "not_attempted", 0.0, 2.0, "Exercise 4 — parameter counts",
                   "Not attempted: the cell under “Exercise 4 — parameter counts” still raises "
                   "NotImplementedError.")], 12.0)
    drop = report.Result("ann", "01_drop", 4.0, 4.0, [], "ann/01_drop.ipynb", [
        _test_dict("test_inverted", "passed", 2.0, 2.0), _test_dict("test_mc", "passed", 2.0, 2.0)])
    page = _feedback(tmp_path, "ann", [conv, drop])
    summary = re.search(r'<ul class="summary">(.*?)</ul>', page).group(1)
    lines = re.findall(r"<li>(.*?)</li>", summary)
    assert lines == [
        "<strong>00_conv</strong> — 3 / 8 points · exercises: 1 passed, 3 attempted, 4 in all · "
        "revisit: Exercise 2 — worked example, Exercise 3 — output size · "
        "not attempted: Exercise 4 — parameter counts",
        "<strong>01_drop</strong> — 4 / 4 points · exercises: 2 passed, 2 attempted, 2 in all · "
        "all passed"]
    assert page.index('class="summary"') < page.index("<h2>00_conv: 3 / 8</h2>")
    # the checks' own message for a wrong answer, the generic hint with it
    assert "AssertionError: worked example: expected 4, got 5" in page
    assert page.count("Read the message: it says what was expected") == 1
    # not attempted: said in words, with its own hint, and a status of its own
    assert ('<h3 class="not_attempted"><span class="title">Exercise 4 — parameter counts</span><br>'
            '<span class="test-id">test_params: 0 / 2 (not attempted)</span></h3>') in page
    assert "Not attempted: the cell under “Exercise 4 — parameter counts” still raises" in page
    assert "Replace <code>raise NotImplementedError()</code> in that cell" in page
    assert html.escape(Flag.RENAMED.student) in page  # informational flags are explained too
    assert "<code>conv2d</code>" in page


def test_feedback_for_an_unreadable_notebook_and_escaping(tmp_path):
    evil = "<img src=x onerror=alert(1)>"
    broken = report.Result(evil, "01_drop", 0.0, 4.0, [Flag.UNREADABLE], f"{evil}.ipynb")
    tampered = report.Result(evil, "00_conv", 0.0, 2.0, ["tamper", "from_the_future"],
                             "x.ipynb", [_test_dict("test_a", "failed", 0.0, 2.0, "", evil)])
    page = _feedback(tmp_path, evil, [broken, tampered])
    assert "<img" not in page and html.escape(evil) in page
    assert f"<strong>01_drop</strong> — 0 / 4 points · not graded: {html.escape(Flag.UNREADABLE.student)}" in page
    assert html.escape(Flag.TAMPER.student) in page and "from_the_future" not in page
