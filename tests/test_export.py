"""``convtrain export``: grades.csv as Canvas's and Moodle's import files and a wide CSV.

A small cohort written by hand: ann (both lessons, a manual point and a flag), bob (one
lesson, extra credit, informational flags), cyd (a tamper flag and a 0), dee (on the roster,
no submission: empty cells, never 0), zed (graded, not on the roster: listed, not dropped)
and eve (a notebook that matched no lesson). Each export is compared with a file written
by hand below. The manual points come from a gradebook made with nbgrader's API, as the
formgrader leaves it: no kernel runs.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from convtrain.instructor.export import main

GRADES = """\
student_id,assignment,score,max_score,flags
ann,00_tiny,6,6,
ann,01_drop,3,4,renamed
bob,00_tiny,2,6,metadata_restored;renamed
cyd,01_drop,0,4,tamper
eve,unknown,0,0,unmatched
zed,00_tiny,5,6,
"""
CANVAS_ROSTER = """\
Student,ID,SIS User ID,SIS Login ID,Section,00_tiny (9001),submission_id
"Aalto, Ann",101,S101,ann@uni.edu,Sec A,,ann
"Berg, Bob",102,S102,bob@uni.edu,Sec A,,bob
"Cole, Cyd",103,S103,cyd@uni.edu,Sec B,,cyd
"Dahl, Dee",104,S104,dee@uni.edu,Sec B,,dee
"""
MOODLE_ROSTER = """\
\ufeffFirst name,Last name,Email address,submission_id
Ann,Aalto,ann@uni.edu,ann
Bob,Berg,bob@uni.edu,bob
Cyd,Cole,cyd@uni.edu,cyd
Dee,Dahl,dee@uni.edu,dee
"""

# ann/01_drop: test_d autograded 1, given 2 by hand (+1); bob/00_tiny: 0.5 extra credit.
CANVAS_WITH_MANUAL = """\
Student,ID,SIS User ID,SIS Login ID,Section,00_tiny (9001),01_drop
Points Possible,,,,,6,4
"Aalto, Ann",101,S101,ann@uni.edu,Sec A,6,4
"Berg, Bob",102,S102,bob@uni.edu,Sec A,2.5,
"Cole, Cyd",103,S103,cyd@uni.edu,Sec B,,0
"Dahl, Dee",104,S104,dee@uni.edu,Sec B,,
"""
CANVAS_NOTES_WITH_MANUAL = """\
student_id,lesson,score,max_score,auto_score,manual_points,flags,note
ann,01_drop,4,4,3,1,renamed,
bob,00_tiny,2.5,6,2,0.5,metadata_restored;renamed,
cyd,01_drop,0,4,0,,tamper,
zed,00_tiny,5,6,5,,,not on the roster: not in the export
eve,,,,,,unmatched,a notebook that matched no lesson (see report.html)
"""
CANVAS_WITHOUT_ROSTER = """\
Student,ID,SIS User ID,SIS Login ID,Section,00_tiny,01_drop
Points Possible,,,,,6,4
ann,,,ann,,6,3
bob,,,bob,,2,
cyd,,,cyd,,,0
eve,,,eve,,,
zed,,,zed,,5,
"""
MOODLE = """\
First name,Last name,Email address,00_tiny,01_drop
Ann,Aalto,ann@uni.edu,6,3
Bob,Berg,bob@uni.edu,2,
Cyd,Cole,cyd@uni.edu,,0
Dee,Dahl,dee@uni.edu,,
"""
MOODLE_NOTES = """\
student_id,lesson,score,max_score,auto_score,manual_points,flags,note
ann,01_drop,3,4,3,,renamed,
bob,00_tiny,2,6,2,,metadata_restored;renamed,
cyd,01_drop,0,4,0,,tamper,
zed,00_tiny,5,6,5,,,not on the roster: not in the export
eve,,,,,,unmatched,a notebook that matched no lesson (see report.html)
"""
WIDE_WITH_ROSTER_AND_MANUAL = """\
student_id,First name,Last name,Email address,00_tiny,01_drop,total,flags,manual
Points Possible,,,,6,4,10,,
ann,Ann,Aalto,ann@uni.edu,6,4,10,01_drop: renamed,01_drop: +1
bob,Bob,Berg,bob@uni.edu,2.5,,2.5,"00_tiny: metadata_restored,renamed",00_tiny: +0.5
cyd,Cyd,Cole,cyd@uni.edu,,0,0,01_drop: tamper,
dee,Dee,Dahl,dee@uni.edu,,,,,
eve,,,,,,,(no lesson): unmatched,
zed,,,,5,,5,,
"""
WIDE = """\
student_id,00_tiny,01_drop,total,flags,manual
Points Possible,6,4,10,,
ann,6,3,9,01_drop: renamed,
bob,2,,2,"00_tiny: metadata_restored,renamed",
cyd,,0,0,01_drop: tamper,
eve,,,,(no lesson): unmatched,
zed,5,,5,,
"""


@pytest.fixture
def cohort(tmp_path: Path) -> Path:
    graded = tmp_path / "graded"
    graded.mkdir()
    (graded / "grades.csv").write_text(GRADES)
    (tmp_path / "canvas_roster.csv").write_text(CANVAS_ROSTER)
    (tmp_path / "moodle_roster.csv").write_text(MOODLE_ROSTER, encoding="utf-8")
    return tmp_path


@pytest.fixture
def course(tmp_path: Path) -> Path:
    """A course whose gradebook holds the cohort's autograded scores and two manual changes."""
    from nbgrader.api import Gradebook

    from convtrain.instructor.course import put_python_bin_on_path

    folder = tmp_path / "course"
    folder.mkdir()
    (folder / "nbgrader_config.py").write_text(
        "import os\nc = get_config()  # noqa: F821\n"
        "c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))\n")
    put_python_bin_on_path()
    cells = {"00_tiny": {"test_a": 2, "test_b": 4}, "01_drop": {"test_c": 2, "test_d": 2}}
    autograded = {("ann", "00_tiny"): (2, 4), ("ann", "01_drop"): (2, 1), ("bob", "00_tiny"): (2, 0),
                  ("cyd", "01_drop"): (0, 0), ("zed", "00_tiny"): (1, 4)}
    with warnings.catch_warnings(), Gradebook(f"sqlite:///{folder / 'gradebook.db'}") as gradebook:
        warnings.simplefilter("ignore")  # nbgrader's add_submission: SQLAlchemy autoflush warnings
        for lesson, points in cells.items():
            gradebook.add_assignment(lesson)
            gradebook.add_notebook(lesson, lesson)
            for name, maximum in points.items():
                gradebook.add_grade_cell(name, lesson, lesson, max_score=maximum, cell_type="code")
        for (student, lesson), scores in autograded.items():
            gradebook.update_or_create_student(student)
            gradebook.add_submission(lesson, student)
            for name, score in zip(cells[lesson], scores):
                gradebook.find_grade(name, lesson, lesson, student).auto_score = float(score)
        gradebook.find_grade("test_d", "01_drop", "01_drop", "ann").manual_score = 2.0
        gradebook.find_grade("test_a", "00_tiny", "00_tiny", "bob").extra_credit = 0.5
        gradebook.db.commit()
    return folder


def test_canvas_with_roster_and_manual_points(cohort, course, capsys):
    out = cohort / "canvas.csv"
    assert main([str(cohort / "graded"), "--to", "canvas", "--roster", str(cohort / "canvas_roster.csv"),
                 "--course", str(course), "--out", str(out)]) == 0
    assert out.read_text() == CANVAS_WITH_MANUAL
    assert (cohort / "canvas.notes.csv").read_text() == CANVAS_NOTES_WITH_MANUAL
    said = capsys.readouterr().out
    assert "on the roster without any submission (empty cells): dee" in said
    assert "NOT ON THE ROSTER (not in canvas.csv, listed in the notes): eve, zed" in said


def test_canvas_without_roster(cohort, capsys):
    out = cohort / "canvas.csv"
    assert main([str(cohort / "graded"), "--to", "canvas", "--out", str(out)]) == 0
    assert out.read_text() == CANVAS_WITHOUT_ROSTER
    assert "no roster" in capsys.readouterr().out


def test_moodle_with_roster(cohort):
    out = cohort / "moodle.csv"
    assert main([str(cohort / "graded"), "--to", "moodle", "--roster", str(cohort / "moodle_roster.csv"),
                 "--out", str(out)]) == 0
    assert out.read_text() == MOODLE
    assert (cohort / "moodle.notes.csv").read_text() == MOODLE_NOTES


def test_wide_with_roster_and_manual_points(cohort, course):
    out = cohort / "wide.csv"
    assert main([str(cohort / "graded"), "--to", "wide", "--roster", str(cohort / "moodle_roster.csv"),
                 "--course", str(course), "--out", str(out)]) == 0
    assert out.read_text() == WIDE_WITH_ROSTER_AND_MANUAL
    assert not (cohort / "wide.notes.csv").exists()


def test_wide_without_roster(cohort):
    out = cohort / "wide.csv"
    assert main([str(cohort / "graded"), "--to", "wide", "--out", str(out)]) == 0
    assert out.read_text() == WIDE


def test_a_roster_keyed_by_another_column(cohort):
    (cohort / "graded" / "grades.csv").write_text(
        "student_id,assignment,score,max_score,flags\nann@uni.edu,00_tiny,6,6,\n")
    out = cohort / "moodle.csv"
    assert main([str(cohort / "graded"), "--to", "moodle", "--roster", str(cohort / "moodle_roster.csv"),
                 "--roster-key", "Email address", "--out", str(out)]) == 0
    assert out.read_text().splitlines()[:2] == ["First name,Last name,submission_id,00_tiny",
                                                "Ann,Aalto,ann,6"]


@pytest.mark.parametrize(("roster", "message"), [
    ("name,email\nAnn,ann@uni.edu\n", "has no column 'submission_id'"),
    ("submission_id,email\nann,a@uni.edu\nann,b@uni.edu\n", "has submission_id 'ann' twice (lines 2 and 3)"),
])
def test_a_bad_roster_is_a_clear_error(cohort, capsys, roster, message):
    (cohort / "bad.csv").write_text(roster)
    out = cohort / "x.csv"
    assert main([str(cohort / "graded"), "--to", "canvas", "--roster", str(cohort / "bad.csv"),
                 "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_no_grades_is_a_clear_error(tmp_path, capsys):
    assert main([str(tmp_path), "--to", "wide", "--out", str(tmp_path / "x.csv")]) == 2
    assert "grades.csv" in capsys.readouterr().err
