"""The grading round trip of every lesson, graded by the command instructors run.

The cohort of ``convtrain.instructor.cohort`` (per lesson: the perfect notebook, the untouched
workshop, one exercise solved, and the perfect one as Colab saves it under an LMS's
name) is graded ONCE, exactly as the README tells instructors to:

    .venv/bin/convtrain grade SUBMISSIONS --out OUT --jobs 2

with ``--course`` pointing at a scratch copy of ``course/``, ``solutions/`` and
``workshops/`` (so the repository's gradebook never sees these students). Each
(lesson, submission) then checks its row of OUT/grades.csv: the exact score, maximum
and flags (none, except the informational ``metadata_restored;renamed`` for the Colab
copy). A failure quotes the student's feedback for the tests that differ and the
notebook's lines of grading.log.

Set CONVTRAIN_ROUNDTRIP_EACH=1 to also grade every exercise solved on its own (slower;
for lesson authors).
"""

from __future__ import annotations

import csv
import dataclasses
import html
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from convtrain.instructor import cohort, course

ROOT = Path(__file__).resolve().parents[1]
LESSONS = course.lessons(ROOT / "solutions")
SOLVE_EACH = os.environ.get("CONVTRAIN_ROUNDTRIP_EACH") == "1"
GRADE_TIMEOUT = 40 * 60  # far above the measured run; a hang fails instead of blocking CI

# One xdist worker grades the cohort once and runs every check (`--dist loadgroup`).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("round_trip")]

CASES = [(lesson, submission.student)
         for lesson in LESSONS
         for submission in cohort.lesson_submissions(ROOT, lesson, solve_each=SOLVE_EACH)]


def convtrain_command() -> str:
    for candidate in (ROOT / ".venv" / "bin" / "convtrain", Path(sys.executable).parent / "convtrain"):
        if candidate.is_file():
            return str(candidate)
    found = shutil.which("convtrain")
    assert found, "the convtrain command is not installed: run `make setup`"
    return found


@dataclasses.dataclass
class Run:
    """One `convtrain grade` run over the cohort (a short repr keeps failure reports readable)."""

    command: list[str]
    out: Path
    expected: dict[tuple[str, str], cohort.Submission]
    returncode: int | None = None  # None: killed after GRADE_TIMEOUT
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0
    gradebook_before: int | None = None

    def __repr__(self) -> str:
        return (f"Run({len(self.expected)} notebooks, exit {self.returncode}, "
                f"{self.seconds:.0f} s, out={self.out})")


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> Run:
    """The whole cohort graded once by `convtrain grade --jobs 2` in a subprocess."""
    scratch = tmp_path_factory.mktemp("round_trip")
    course = cohort.scratch_course(ROOT, scratch, LESSONS)
    submissions = scratch / "submissions"
    expected = cohort.write_cohort(scratch, LESSONS, submissions, solve_each=SOLVE_EACH)
    out = scratch / "out"
    command = [convtrain_command(), "grade", str(submissions), "--out", str(out), "--jobs", "2",
               "--course", str(course)]
    run = Run(command, out, expected, gradebook_before=_gradebook_state())
    started = time.monotonic()
    try:
        process = subprocess.run(command, cwd=scratch, capture_output=True, text=True,
                                 timeout=GRADE_TIMEOUT)
        run.returncode, run.stdout, run.stderr = process.returncode, process.stdout, process.stderr
    except subprocess.TimeoutExpired as error:
        run.stdout = _text(error.stdout)
        run.stderr = _text(error.stderr) + f"\n(killed after {GRADE_TIMEOUT} s)"
    run.seconds = time.monotonic() - started
    print(f"\nconvtrain grade: {len(expected)} notebooks in {run.seconds:.0f} s (--jobs 2)")
    return run


def _text(output: bytes | str | None) -> str:
    return output.decode(errors="replace") if isinstance(output, bytes) else output or ""


def _gradebook_state():
    path = ROOT / "course" / "gradebook.db"
    return path.stat().st_mtime_ns if path.exists() else None


def read_grades(out: Path) -> dict[tuple[str, str], dict]:
    path = out / "grades.csv"
    if not path.is_file():
        return {}
    with path.open(newline="") as handle:
        return {(row["student_id"], row["assignment"]): row for row in csv.DictReader(handle)}


def feedback_text(out: Path, student: str) -> str:
    """The student's feedback page as plain text (tags stripped)."""
    path = out / "feedback" / f"{student}.html"
    if not path.is_file():
        pages = [p for p in sorted((out / "feedback").glob("*.html"))
                 if f"Feedback for {html.escape(student)}<" in p.read_text()]
        if not pages:
            return f"(no feedback page for {student} in {out / 'feedback'})"
        path = pages[0]
    page = re.sub(r"<(style|title)\b.*?</\1>", "", path.read_text(), flags=re.S)
    text = re.sub(r"</(h\d|p|li|pre|details|summary)>|<br\s*/?>", "\n", page)
    text = html.unescape(re.sub(r"<[^>]+>", "", text))
    return "\n".join(line.rstrip() for line in text.splitlines() if line.strip())


def lesson_section(text: str, lesson: str) -> str:
    """The part of a feedback text about one lesson (from its heading to the next one)."""
    match = re.search(rf"^{re.escape(lesson)}: .*?(?=^\d\d_\w+: [\d.]+ / [\d.]+$|\Z)", text,
                      flags=re.S | re.M)
    return match.group(0) if match else text


def feedback_by_test(section: str) -> dict[str, tuple[float, str]]:
    """test id -> (points scored, its feedback text), as the feedback page shows them."""
    found = {}
    matches = list(re.finditer(r"^(\w+): ([\d.]+) / ([\d.]+) \(([^)]*)\)$", section, flags=re.M))
    for match, following in zip(matches, [*matches[1:], None]):
        end = following.start() if following else len(section)
        found[match.group(1)] = (float(match.group(2)), section[match.start():end].strip())
    return found


def log_lines(out: Path, label: str) -> str:
    """grading.log's lines about one notebook (with the traceback lines that follow them)."""
    path = out / "grading.log"
    if not path.is_file():
        return "(no grading.log)"
    lines, keep = [], False
    for line in path.read_text().splitlines():
        stamped = re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ", line)
        if stamped:
            keep = label in line
        if keep:
            lines.append(line)
    return "\n".join(lines) or f"(no line about {label} in grading.log)"


def explain(run: Run, submission: cohort.Submission, row: dict | None) -> str:
    """What went wrong with one notebook: its grade, the feedback of the tests that differ,
    and its lines of grading.log."""
    want = f"score {submission.expected_total:g} / {submission.max_score:g}, " \
           f"flags [{submission.flags_text}], {submission.pending:g} points pending manual grading"
    head = f"{submission.lesson} / {submission.student} ({submission.path}): "
    log = "grading.log:\n" + log_lines(run.out, submission.path)
    if row is None:
        return f"{head}no row in grades.csv (grading exited with {run.returncode}), " \
               f"expected {want}\n\n{log}"
    got = f"score {row['score']} / {row['max_score']}, flags [{row['flags']}], " \
          f"{row['manual_pending']} points pending manual grading"
    section = lesson_section(feedback_text(run.out, submission.student), submission.lesson)
    shown = feedback_by_test(section)
    tests = ", ".join(
        f"{test_id} {f'{shown[test_id][0]:g}' if test_id in shown else '?'} (expected {points:g})"
        for test_id, points in submission.expected.items())
    differing = [test_id for test_id, points in submission.expected.items()
                 if test_id in shown and shown[test_id][0] != points]
    if differing:
        feedback = "feedback for the tests that differ:\n" + \
            "\n\n".join(shown[test_id][1] for test_id in differing)
    else:
        feedback = "feedback:\n" + section
    return f"{head}got {got}, expected {want}\ntests: {tests}\n\n{feedback}\n\n{log}"


def test_the_grading_run_succeeds(graded):
    assert graded.returncode == 0, (
        f"{' '.join(graded.command)} exited with {graded.returncode}\n"
        f"stderr:\n{graded.stderr[-4000:]}\nstdout:\n{graded.stdout[-4000:]}")


def test_repository_gradebook_untouched(graded):
    assert _gradebook_state() == graded.gradebook_before, \
        "the round trip wrote into the repository's course/gradebook.db"


def test_one_row_per_submission(graded):
    rows = set(read_grades(graded.out))
    expected = set(graded.expected)
    assert rows == expected, (f"missing rows: {sorted(expected - rows)}; "
                              f"unexpected rows: {sorted(rows - expected)}")


@pytest.mark.parametrize(("lesson", "student"), CASES,
                         ids=[f"{lesson}-{student}" for lesson, student in CASES])
def test_submission_gets_its_exact_grade(graded, lesson, student):
    submission = graded.expected[(student, lesson)]
    row = read_grades(graded.out).get((student, lesson))
    assert row is not None, explain(graded, submission, row)
    got = (float(row["score"]), float(row["max_score"]), row["flags"], float(row["manual_pending"]))
    want = (submission.expected_total, submission.max_score, submission.flags_text,
            submission.pending)
    assert got == want, explain(graded, submission, row)
