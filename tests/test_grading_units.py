"""Unit tests of the grading steps that need no kernel: discovery, identification,
restoring the run, the guard's report parsing, the result files."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from convtrain.instructor.course import split_hidden
from convtrain.instructor.grading import guard, report
from convtrain.instructor.grading.discover import clean_name, discover, identify, unpack
from convtrain.instructor.grading.gradebook import Assignment, CellSpec
from convtrain.instructor.grading.restore import restore

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
    result = report.Result("ann/../x", "01_demo", 2.5, 3.0, ["renamed"], "ann.ipynb")
    path = report.result_path(tmp_path, result.student_id, "f" * 64, "key")
    assert path.parent.parent == tmp_path / "results"  # the id cannot escape the folder
    report.save_result(path, result)
    assert report.load_result(path) == result
    report.write_grades(tmp_path, [result])
    assert (tmp_path / "grades.csv").read_text() == (
        "student_id,assignment,score,max_score,flags\nann/../x,01_demo,2.5,3,renamed\n")
