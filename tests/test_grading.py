"""`convtrain grade` end to end: a cohort with one student per threat, graded by the real command.

The course is the tiny three-exercise assignment of ``grading_fixtures/tiny_course.py``
(2 + 3 + 1 points). Every student below is a hand-made notebook; each test asserts the
exact score and flags that student's row of grades.csv must have. The cohort is graded
once per session (two jobs) and the tests read the result.
"""

from __future__ import annotations

import copy
import csv
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import nbformat
import pytest

from convtrain.instructor.course import nbgrader_meta

sys.path.insert(0, str(Path(__file__).parent / "grading_fixtures"))
import tiny_course  # noqa: E402

from convtrain.instructor.grading.command import main  # noqa: E402

# With `-n 2 --dist loadgroup` one worker grades the cohort once (not once per worker)
# while the other runs the separate command runs marked SIDE.
pytestmark = pytest.mark.xdist_group("grading_cohort")
SIDE = pytest.mark.xdist_group("grading_side")

LESSON = tiny_course.LESSON
FULL = 6
CELL_TIMEOUT = "30"  # generous: the kernel imports torch, and this machine is shared


# --------------------------------------------------------------------------- notebooks

def _cells_by_id(notebook) -> dict:
    return {nbgrader_meta(c).get("grade_id"): c for c in notebook.cells}


class Notebooks:
    """Makes student notebooks from the course's release and solution."""

    def __init__(self, root: Path):
        self.root = root
        self.release = nbformat.read(root / "workshops" / LESSON / f"{LESSON}.ipynb", as_version=4)
        self.solution = nbformat.read(root / "solutions" / LESSON / f"{LESSON}.ipynb", as_version=4)

    def untouched(self):
        return copy.deepcopy(self.release)

    def solved(self, answers=("double", "count", "mean")):
        notebook = self.untouched()
        solutions = _cells_by_id(self.solution)
        for cell in notebook.cells:
            grade_id = nbgrader_meta(cell).get("grade_id")
            if grade_id in answers:
                cell.source = "\n".join(line for line in solutions[grade_id].source.split("\n")
                                        if "### BEGIN SOLUTION" not in line
                                        and "### END SOLUTION" not in line)
        return notebook

    @staticmethod
    def answer(notebook, grade_id: str, source: str):
        _cells_by_id(notebook)[grade_id].source = source
        return notebook

    @staticmethod
    def insert_after(notebook, grade_id: str, source: str):
        index = list(_cells_by_id(notebook)).index(grade_id)
        notebook.cells.insert(index + 1, nbformat.v4.new_code_cell(source))
        return notebook


def write(path: Path, notebook) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(notebook, indent=1) if isinstance(notebook, dict) else notebook)


def colab_version(notebook):
    """What Colab hands back: no nbgrader metadata, Colab's own metadata, nbformat 4.0."""
    data = json.loads(nbformat.writes(notebook))
    data["nbformat_minor"] = 0
    data["metadata"] = {"colab": {"provenance": [], "name": "Copy of 00_tiny.ipynb"},
                        "kernelspec": {"name": "python3", "display_name": "Python 3"},
                        "accelerator": "GPU"}
    for index, cell in enumerate(data["cells"]):
        cell["metadata"] = {"id": f"cell{index}", "colab": {"base_uri": "https://localhost:8080/"}}
        cell.pop("id", None)
    return data


WRONG_COUNT = 'def count_positive(values):\n    return 2\n'  # right for VALUES, wrong for the hidden case

LIAR = '''import torch

class Agreeable(int):
    def __eq__(self, other):
        return True
    __hash__ = int.__hash__

class Mimic(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        return torch.ones(3) * 2

def double(x):
    return torch.zeros_like(x).as_subclass(Mimic)

def count_positive(values):
    return Agreeable(0)
'''

PATCHER = '''import builtins
import torch
import convtrain.checks
def _quiet(*args, **kwargs):
    return None
convtrain.checks.check_equal = _quiet
check_equal = _quiet
torch.allclose = lambda *args, **kwargs: True
builtins.isinstance = lambda obj, kind: True
'''

LEAKER = '''import inspect, linecache, sys
STOLEN = []

def count_positive(values):
    try:
        STOLEN.append(inspect.getsource(sys._getframe(1)))
    except Exception:
        pass
    STOLEN.append(" ".join(map(str, In)))
    STOLEN.append(repr(list(linecache.cache.values())))
    return sum(1 for value in values if value > 0)
'''

STUCK = '''import time
while True:
    try:
        time.sleep(0.2)
    except KeyboardInterrupt:
        pass
'''


FORKER_MARK = "convtrain-test-forker-7f3e"
FORKER = f'''import os, subprocess
subprocess.Popen(["sh", "-c", "sleep 1000 # {FORKER_MARK}"])
if os.fork() == 0:  # a daemon: double fork, new session, ignores SIGTERM
    os.setsid()
    if os.fork() == 0:
        os.execvp("sh", ["sh", "-c", "trap '' TERM HUP; sleep 1000 # {FORKER_MARK}"])
    os._exit(0)
import torch
from torch.utils.data import DataLoader, TensorDataset
batches = list(DataLoader(TensorDataset(torch.arange(8.0)), batch_size=2, num_workers=2))
'''


WIDGETS = '''import ipywidgets as widgets
from IPython.display import display
out = widgets.Output()
display(out)
with out:
    print("inside an Output widget")
widgets.interact(lambda k=3: k * 2, k=(1, 5))
import warnings
warnings.warn("an honest warning")
'''


def leftover_processes() -> list[str]:
    """Processes a graded notebook left behind: the forker's, or kernels whose scratch is gone."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        text = " ".join(argv)
        kernel_files = [arg for arg in argv if arg.endswith("kernel.json") and "cvg-" in arg]
        if FORKER_MARK in text or any(not Path(f).exists() for f in kernel_files):
            found.append(f"{entry.name}: {text[:120]}")
    return found


def snooper(course: Path, submissions: Path) -> str:
    return f'''import os, convtrain.checks
SEEN = []
for path in [{str(course / "gradebook.db")!r}, {str(course)!r}, {str(submissions / "perfect")!r}]:
    try:
        SEEN.append(os.listdir(path) if os.path.isdir(path) else open(path, "rb").read(10))
    except OSError as error:
        SEEN.append(type(error).__name__)
try:
    with open(convtrain.checks.__file__, "a") as handle:
        handle.write("# tampered")
except OSError:
    pass
'''


PICKLER = """import copy, io
import torch
model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
torch.save(model.state_dict(), io.BytesIO())  # saving weights, as the capstone asks
torch.save(model, io.BytesIO())
best = copy.deepcopy(model)  # keeping the best epoch's model
"""


def build_cohort(root: Path, course: Path, submissions: Path) -> dict[str, str]:
    """Write one folder per student; return student -> what it tests."""
    nbs = Notebooks(root)
    s = submissions
    write(s / "perfect" / f"{LESSON}.ipynb", nbformat.writes(nbs.solved()))
    write(s / "untouched" / f"{LESSON}.ipynb", nbformat.writes(nbs.untouched()))
    write(s / "partial" / f"{LESSON}.ipynb", nbformat.writes(nbs.solved(answers=("double",))))
    write(s / "copyof" / "Copy of 00_tiny (1).ipynb", nbformat.writes(nbs.solved()))
    write(s / "lms42_12345_00_tiny.ipynb", nbformat.writes(nbs.solved()))
    write(s / "colab" / "Copy of 00_tiny.ipynb", colab_version(nbs.solved()))
    deleted = nbs.solved()
    deleted.cells = [c for c in deleted.cells
                     if nbgrader_meta(c).get("grade_id") != "test_count"]
    write(s / "deleted" / f"{LESSON}.ipynb", nbformat.writes(deleted))
    edited = nbs.answer(nbs.solved(), "count", WRONG_COUNT)
    _cells_by_id(edited)["test_count"].source = "print('all good')"
    write(s / "edited" / f"{LESSON}.ipynb", nbformat.writes(edited))
    emptied = nbs.answer(nbs.solved(), "double", "def double(x):\n    return x\n")
    _cells_by_id(emptied)["test_double"].source = ""
    write(s / "emptied" / f"{LESSON}.ipynb", nbformat.writes(emptied))
    reordered = nbs.solved()
    test = _cells_by_id(reordered)["test_double"]
    reordered.cells.remove(test)
    reordered.cells.insert(0, test)
    write(s / "reordered" / f"{LESSON}.ipynb", nbformat.writes(reordered))
    patched = nbs.answer(nbs.solved(), "count", "def count_positive(values):\n    return 0\n")
    write(s / "patcher" / f"{LESSON}.ipynb",
          nbformat.writes(nbs.insert_after(patched, "count", PATCHER)))
    liar = nbs.answer(nbs.solved(), "double", LIAR)
    write(s / "liar" / f"{LESSON}.ipynb", nbformat.writes(nbs.answer(liar, "count", "pass")))
    leaker = nbs.answer(nbs.solved(), "count", LEAKER)
    leaker = nbs.answer(leaker, "mean", 'def noisy_mean(values):\n    raise ValueError("STOLEN " + " | ".join(STOLEN))\n')
    write(s / "leaker" / f"{LESSON}.ipynb", nbformat.writes(leaker))
    write(s / "snooper" / f"{LESSON}.ipynb",
          nbformat.writes(nbs.insert_after(nbs.solved(), "double", snooper(course, s))))
    write(s / "looper" / f"{LESSON}.ipynb", nbformat.writes(
        nbs.answer(nbs.solved(), "double", "while True:\n    pass\n")))
    write(s / "stuck" / f"{LESSON}.ipynb", nbformat.writes(nbs.answer(nbs.solved(), "count", STUCK)))
    write(s / "exiter" / f"{LESSON}.ipynb", nbformat.writes(
        nbs.answer(nbs.solved(), "count", "import os\nos._exit(1)\n")))
    write(s / "hog" / f"{LESSON}.ipynb", nbformat.writes(nbs.answer(
        nbs.solved(), "count", "def count_positive(values):\n    return len(bytearray(8 * 1024**3))\n")))
    write(s / "widgets" / f"{LESSON}.ipynb",
          nbformat.writes(nbs.insert_after(nbs.solved(), "double", WIDGETS)))
    write(s / "pickler" / f"{LESSON}.ipynb",
          nbformat.writes(nbs.insert_after(nbs.solved(), "double", PICKLER)))
    write(s / "forker" / f"{LESSON}.ipynb",
          nbformat.writes(nbs.insert_after(nbs.solved(), "mean", FORKER)))
    network = "import urllib.request\ntry:\n    urllib.request.urlopen('http://example.com', timeout=5)\nexcept Exception:\n    pass\n"
    write(s / "network" / f"{LESSON}.ipynb",
          nbformat.writes(nbs.insert_after(nbs.solved(), "double", network)))
    write(s / "garbage" / f"{LESSON}.ipynb", '{"cells": [ this is not json')
    write(s / "stranger" / "homework.ipynb", nbformat.writes(nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("print('my own project')")])))
    write(s / "dup" / f"{LESSON}.ipynb", nbformat.writes(nbs.untouched()))
    write(s / "dup" / "00_tiny (1).ipynb", nbformat.writes(nbs.solved()))


EXPECTED = {  # student -> (assignment, score, max_score, flags)
    "perfect": (LESSON, FULL, FULL, ""),
    "untouched": (LESSON, 0, FULL, ""),
    "partial": (LESSON, 2, FULL, ""),
    "copyof": (LESSON, FULL, FULL, "renamed"),
    "lms42": (LESSON, FULL, FULL, "renamed"),
    "colab": (LESSON, FULL, FULL, "metadata_restored;renamed"),
    "deleted": (LESSON, FULL, FULL, "test_deleted"),
    "edited": (LESSON, 3, FULL, "test_edited"),
    "emptied": (LESSON, 4, FULL, "test_edited"),
    "reordered": (LESSON, FULL, FULL, ""),
    "patcher": (LESSON, 3, FULL, "tamper"),
    "liar": (LESSON, 1, FULL, ""),
    "leaker": (LESSON, 5, FULL, ""),
    "snooper": (LESSON, FULL, FULL, "forbidden_access"),
    "looper": (LESSON, 4, FULL, "cell_timeout"),
    "stuck": (LESSON, 2, FULL, "cell_timeout"),
    "exiter": (LESSON, 2, FULL, "kernel_died"),
    "hog": (LESSON, 3, FULL, "memory_limit"),
    "network": (LESSON, FULL, FULL, "network_attempt"),
    "forker": (LESSON, FULL, FULL, ""),
    "pickler": (LESSON, FULL, FULL, ""),  # torch.save and deepcopy cache __slotnames__: honest
    "widgets": (LESSON, FULL, FULL, ""),  # an Output widget, interact, a warning: no crash, no flag  # subprocesses, a daemon and DataLoader workers: honest
    "garbage": (LESSON, 0, FULL, "unreadable"),
    "stranger": ("unknown", 0, 0, "unmatched"),
    "dup": (LESSON, FULL, FULL, "duplicate;renamed"),
}


def read_grades(out: Path) -> dict[str, tuple]:
    with (out / "grades.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["student_id", "assignment", "score", "max_score", "flags",
                             "manual_pending"]
    return {row["student_id"]: (row["assignment"], float(row["score"]), float(row["max_score"]),
                                row["flags"]) for row in rows}


# --------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def course_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tiny")
    tiny_course.build_course(root)
    return root


@pytest.fixture(scope="module")
def graded(course_root: Path):
    """The whole cohort graded once by the real command, with two jobs."""
    course = course_root / "course"
    submissions = course_root / "submissions"
    build_cohort(course_root, course, submissions)
    checks_file = Path(__import__("convtrain.checks").checks.__file__)
    checks_before = checks_file.read_bytes()
    out = course_root / "out"
    started = time.monotonic()
    status = main([str(submissions), "--out", str(out), "--course", str(course), "--jobs", "2",
                   "--timeout-cell", CELL_TIMEOUT, "--timeout-notebook", "240"])
    seconds = time.monotonic() - started
    assert checks_file.read_bytes() == checks_before, "student code modified convtrain/checks.py"
    return {"status": status, "out": out, "course": course, "submissions": submissions,
            "seconds": seconds}


# --------------------------------------------------------------------------- the cohort

def test_exit_status_is_zero_when_every_notebook_was_processed(graded):
    assert graded["status"] == 0


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_each_student_gets_the_exact_score_and_flags(graded, student):
    grades = read_grades(graded["out"])
    assignment, score, max_score, flags = EXPECTED[student]
    assert grades[student] == (assignment, score, max_score, flags), grades[student]


def test_no_process_outlives_its_notebook(graded):
    """Kernels, their subprocesses, daemons and DataLoader workers end with their notebook
    (the forker's daemon ignores SIGTERM and left its session; timed-out and crashed kernels too)."""
    deadline = time.monotonic() + 10
    while leftover_processes() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert leftover_processes() == []


def test_one_row_per_student_and_assignment(graded):
    assert set(read_grades(graded["out"])) == set(EXPECTED)


def test_feedback_never_shows_hidden_tests(graded):
    hidden_texts = ["double(randn)", "count_positive(more)", "noisy_mean([4])", "HIDDEN TESTS",
                    "torch.randn(4, 5)"]
    pages = sorted((graded["out"] / "feedback").glob("*.html"))
    assert len(pages) == len(EXPECTED)
    for page in pages:
        text = page.read_text()
        for hidden in hidden_texts:
            assert hidden not in text, f"{page.name} shows hidden test text {hidden!r}"


def test_feedback_shows_scores_and_visible_messages(graded):
    page = (graded["out"] / "feedback" / "partial.html").read_text()
    assert "00_tiny: 2 / 6" in page
    assert "NotImplementedError" in page  # the visible test's failure message
    assert "check_equal(count_positive(VALUES), 2" in page  # the visible test itself
    edited = (graded["out"] / "feedback" / "edited.html").read_text()
    assert "A hidden test failed (AssertionError)" in edited


def test_student_code_could_not_read_private_files(graded):
    # The snooper still scored full marks; its reads were refused and flagged.
    assert read_grades(graded["out"])["snooper"][1] == FULL
    assert "gradebook" not in (graded["out"] / "feedback" / "snooper.html").read_text()


def test_original_submissions_are_not_modified(graded):
    stamp = {p: p.read_bytes() for p in graded["submissions"].rglob("*.ipynb")}
    assert stamp and all(p.read_bytes() == b for p, b in stamp.items())
    assert json.loads((graded["submissions"] / "perfect" / f"{LESSON}.ipynb").read_text())["cells"]


def test_grades_are_recorded_in_the_backed_up_gradebook(graded):
    from nbgrader.api import Gradebook

    course = graded["course"]
    assert list(course.glob("gradebook.db.*.bak")), "no gradebook backup was made"
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        assert gradebook.find_submission(LESSON, "perfect").score == FULL
        assert gradebook.find_submission(LESSON, "partial").score == 2


def test_rerun_is_idempotent_and_reuses_results(graded):
    before = (graded["out"] / "grades.csv").read_text()
    started = time.monotonic()
    status = main([str(graded["submissions"]), "--out", str(graded["out"]),
                   "--course", str(graded["course"]), "--timeout-cell", CELL_TIMEOUT,
                   "--timeout-notebook", "240"])
    assert status == 0
    assert (graded["out"] / "grades.csv").read_text() == before
    total = len(list(graded["submissions"].rglob("*.ipynb")))
    assert f"{total} already graded, 0 to grade" in (graded["out"] / "grading.log").read_text()
    assert time.monotonic() - started < graded["seconds"]


# --------------------------------------------------------------------------- other inputs

@SIDE
def test_lms_zip_with_a_wrapper_folder(course_root, tmp_path):
    nbs = Notebooks(course_root)
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("export/ann/Copy of 00_tiny.ipynb", nbformat.writes(nbs.solved(("double",))))
        handle.writestr("export/ben/00_tiny (2).ipynb", nbformat.writes(nbs.solved()))
        handle.writestr("export/ben/notes.txt", "ignored")
        handle.writestr("__MACOSX/export/._junk.ipynb", "binary junk")
    out = tmp_path / "out"
    assert main([str(archive), "--out", str(out), "--course", str(course_root / "course"),
                 "--timeout-cell", CELL_TIMEOUT]) == 0
    assert read_grades(out) == {"ann": (LESSON, 2, FULL, "renamed"), "ben": (LESSON, FULL, FULL, "renamed")}


@SIDE
def test_interrupted_run_converges_to_the_same_grades(course_root, tmp_path):
    nbs = Notebooks(course_root)
    submissions = tmp_path / "submissions"
    for student, answers in {"a1": ("double",), "a2": ("count",), "a3": ("double", "mean")}.items():
        write(submissions / student / f"{LESSON}.ipynb", nbformat.writes(nbs.solved(answers)))
    out = tmp_path / "out"
    command = [sys.executable, "-c", "import sys; from convtrain.instructor.grading.command import main; "
               "sys.exit(main(sys.argv[1:]))", str(submissions), "--out", str(out),
               "--course", str(course_root / "course"), "--timeout-cell", CELL_TIMEOUT]
    process = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not list((out / "results").rglob("*.json")) and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (out / "grades.csv").exists(), "the run finished before it could be interrupted"
    assert main(command[3:]) == 0
    assert read_grades(out) == {"a1": (LESSON, 2, FULL, ""), "a2": (LESSON, 3, FULL, ""),
                                "a3": (LESSON, 3, FULL, "")}


@SIDE
def test_notebook_time_limit_stops_the_run_and_keeps_what_completed(course_root, tmp_path):
    nbs = Notebooks(course_root)
    slow = nbs.answer(nbs.solved(), "mean", "import time\ntime.sleep(600)\n")
    write(tmp_path / "subs" / "slow" / f"{LESSON}.ipynb", nbformat.writes(slow))
    out = tmp_path / "out"
    assert main([str(tmp_path / "subs"), "--out", str(out), "--course", str(course_root / "course"),
                 "--timeout-cell", "500", "--timeout-notebook", "60"]) == 0
    assert read_grades(out) == {"slow": (LESSON, 5, FULL, "notebook_timeout")}


@SIDE
def test_feedback_says_what_was_not_attempted_and_report_shows_the_cohort(course_root, tmp_path):
    """Two notebooks run (one untouched, one partly solved with a wrong answer), one is
    garbage: the feedback tells "not attempted" from "wrong", the report covers all three."""
    import html

    nbs = Notebooks(course_root)
    subs = tmp_path / "subs"
    write(subs / "untouched" / f"{LESSON}.ipynb", nbformat.writes(nbs.untouched()))
    partial = nbs.answer(nbs.solved(answers=("double",)), "mean",
                         "def noisy_mean(values):\n    return 0.0\n")
    odd = "<i>partial&co"
    write(subs / odd / f"{LESSON}.ipynb", nbformat.writes(partial))
    write(subs / "garbage" / f"{LESSON}.ipynb", '{"cells": [ not json')
    out = tmp_path / "out"
    assert main([str(subs), "--out", str(out), "--course", str(course_root / "course"),
                 "--jobs", "2", "--timeout-cell", CELL_TIMEOUT]) == 0
    assert read_grades(out) == {"untouched": (LESSON, 0, FULL, ""), odd: (LESSON, 2, FULL, ""),
                                "garbage": (LESSON, 0, FULL, "unreadable")}
    untouched = (out / "feedback" / "untouched.html").read_text()
    assert ("<strong>00_tiny</strong> — 0 / 6 points · exercises: 0 passed, 0 attempted, 3 in all"
            " · not attempted: test_double, Exercise 2: counting, test_mean") in untouched
    assert "Not attempted: the answer cell before the test test_double still raises " \
           "NotImplementedError." in untouched
    assert "Not attempted: the cell under “Exercise 2: counting” still raises " \
           "NotImplementedError." in untouched
    assert "Read the message" not in untouched
    pages = [page for page in (out / "feedback").glob("*.html") if page.name.startswith("i_partial")]
    partial_page = pages[0].read_text()
    assert ("<strong>00_tiny</strong> — 2 / 6 points · exercises: 1 passed, 2 attempted, 3 in all"
            " · revisit: test_mean · not attempted: Exercise 2: counting") in partial_page
    assert "noisy_mean" in partial_page and "Read the message" in partial_page  # the check's own words
    assert "<i>" not in partial_page
    page = (out / "report.html").read_text()
    assert "<strong>Isolation:</strong> " in page
    assert page.count('<img src="data:image/png;base64,') == 1
    assert html.escape(odd) in page and "<i>" not in page
    assert "<code>unreadable</code>" in page
    assert "wrote " + str(out / "report.html") in (out / "grading.log").read_text()


def test_missing_submissions_is_an_error_that_says_what_to_do(tmp_path, capsys):
    assert main([str(tmp_path / "nope"), "--out", str(tmp_path / "out")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_missing_course_is_an_error_that_says_what_to_do(tmp_path, capsys):
    (tmp_path / "subs").mkdir()
    assert main([str(tmp_path / "subs"), "--out", str(tmp_path / "out"),
                 "--course", str(tmp_path)]) == 2
    assert "--course" in capsys.readouterr().err


@SIDE
def test_damaged_gradebook_is_a_clear_error_and_nothing_is_graded(course_root, tmp_path, capsys):
    import shutil

    course = tmp_path / "course"
    shutil.copytree(course_root / "course", course)
    shutil.copytree(course_root / "solutions", tmp_path / "solutions")
    shutil.copytree(course_root / "workshops", tmp_path / "workshops")
    gradebook = course / "gradebook.db"
    backup = course / "gradebook.db.29991231T235959Z.bak"
    shutil.copy(gradebook, backup)
    damaged = b"\0" * 4096 + gradebook.read_bytes()[4096:]  # what a student's overwrite did
    gradebook.write_bytes(damaged)
    (tmp_path / "subs" / "ann").mkdir(parents=True)
    write(tmp_path / "subs" / "ann" / f"{LESSON}.ipynb", nbformat.writes(Notebooks(tmp_path).solved()))
    capsys.readouterr()
    assert main([str(tmp_path / "subs"), "--out", str(tmp_path / "out"), "--course", str(course)]) == 2
    error = capsys.readouterr().err
    assert "damaged" in error and "nothing was graded" in error
    assert f"cp '{backup}' '{gradebook.resolve()}'" in error
    assert "Traceback" not in error
    assert gradebook.read_bytes() == damaged  # untouched: nothing graded into it
    assert not (tmp_path / "out" / "grades.csv").exists()


@SIDE
def test_require_isolation_refuses_to_grade_without_the_sandbox(course_root, tmp_path, capsys):
    (tmp_path / "subs" / "ann").mkdir(parents=True)
    assert main([str(tmp_path / "subs"), "--out", str(tmp_path / "out"), "--course",
                 str(course_root / "course"), "--no-sandbox", "--require-isolation"]) == 2
    assert "--require-isolation" in capsys.readouterr().err
    assert "isolation: audit hook only" in (tmp_path / "out" / "grading.log").read_text()


def test_bad_arguments_exit_non_zero(tmp_path):
    with pytest.raises(SystemExit) as stopped:
        main([str(tmp_path), "--out", str(tmp_path / "out"), "--jobs", "0"])
    assert stopped.value.code == 2


# --------------------------------------------------------------------------- a real lesson

REAL_LESSON = "00_building_blocks"
REPO = Path(__file__).resolve().parents[1]


@SIDE
@pytest.mark.slow
@pytest.mark.skipif(not (REPO / "solutions" / REAL_LESSON / f"{REAL_LESSON}.ipynb").is_file(),
                    reason="the first lesson is not written yet")
def test_real_lesson_solution_gets_full_marks_and_workshop_zero(tmp_path):
    """The guard must not flag honest code: the real lesson, graded in a scratch course."""
    import shutil

    from nbgrader.api import Gradebook

    (tmp_path / "course").mkdir()
    shutil.copy(REPO / "course" / "nbgrader_config.py", tmp_path / "course")
    shutil.copytree(REPO / "solutions" / REAL_LESSON, tmp_path / "solutions" / REAL_LESSON)
    submissions = tmp_path / "submissions"
    solution = tmp_path / "solutions" / REAL_LESSON / f"{REAL_LESSON}.ipynb"
    write(submissions / "solution" / f"{REAL_LESSON}.ipynb", solution.read_text())
    workshop = REPO / "workshops" / REAL_LESSON / f"{REAL_LESSON}.ipynb"
    if workshop.is_file():
        write(submissions / "workshop" / f"Copy of {REAL_LESSON}.ipynb", workshop.read_text())
    out = tmp_path / "out"
    assert main([str(submissions), "--out", str(out), "--course", str(tmp_path / "course"),
                 "--jobs", "2"]) == 0
    with Gradebook(f"sqlite:///{tmp_path / 'course' / 'gradebook.db'}") as gradebook:
        max_score = gradebook.find_assignment(REAL_LESSON).max_score
    solution_cells = json.loads(solution.read_text())["cells"]
    written = sum(float(nbgrader_meta(c).get("points", 0)) for c in solution_cells
                  if c["cell_type"] == "markdown" and nbgrader_meta(c).get("grade"))
    grades = read_grades(out)
    assert max_score >= 3
    # every test passes; the written answers' points wait for a person (not in the score)
    assert grades["solution"] == (REAL_LESSON, max_score - written, max_score, "")
    if workshop.is_file():
        assert grades["workshop"] == (REAL_LESSON, 0, max_score, "renamed")
        # Every exercise of the workshop as released is "not attempted", named by its heading.
        feedback = (out / "feedback" / "workshop.html").read_text()
        assert "exercises: 0 passed, 0 attempted" in feedback
        assert "Not attempted: the cell under “Exercise 1" in feedback
        assert "Read the message" not in feedback and "is not defined" not in feedback
    assert "re-teach this" in (out / "report.html").read_text()
