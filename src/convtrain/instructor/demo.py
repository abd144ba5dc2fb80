"""`make demo`: the course's main job, offline, end to end, in about two and a half minutes.

1. **build**: regenerate ``workshops/`` from ``solutions/``; the same nbgrader pass
   records the lessons in the demo's own gradebook (the instructor's is never touched);
2. **grade**: ``convtrain grade``, the command instructors run, grades three students in
   its sandbox: ``perfect`` hands in every lesson with every exercise solved (this runs
   each solution notebook once, in the fast profile); ``untouched`` (the workshops as
   released) and ``colab`` (one exercise solved, saved by Google Colab, renamed by an LMS)
   hand in three quick lessons (``convtrain.instructor.cohort``; CI's round trip grades
   every case on every lesson);
3. **report**: the grade table, each grade checked against the one it must be, what each
   lesson took to run, the isolation used and where the reports lie.

Everything is written under ``artifacts/demo/``. Exit status 1 when a grade is not the
expected one.

    python -m convtrain.instructor.demo [--jobs 2] [--lessons 00_building_blocks ...] [--out DIR]

With ``--lessons`` it is a lesson author's round trip: that lesson built, solved, left
untouched and half-done, graded, and each grade checked.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
import time
from pathlib import Path

from convtrain.instructor import build, cohort, course

# Lessons the untouched and the Colab student hand in: quick ones, and the one with widgets.
SAMPLED_LESSONS = ("00_building_blocks", "02_dropout", "07_optimization")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m convtrain.instructor.demo",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=2, help="notebooks graded in parallel")
    parser.add_argument("--lessons", nargs="*", help="lesson ids (default: all)")
    parser.add_argument("--out", type=Path, help="where to write (default: artifacts/demo)")
    args = parser.parse_args(argv)

    os.environ["CONVTRAIN_PROFILE"] = "fast"
    root = course.repo_root()
    out = (args.out or root / "artifacts" / "demo").resolve()
    lessons = args.lessons or course.lessons(root / "solutions")
    demo_course = out / "course"
    shutil.rmtree(demo_course, ignore_errors=True)
    (demo_course / "course").mkdir(parents=True)

    started = time.perf_counter()
    build.build(root, lessons, gradebook=demo_course / "course" / "gradebook.db")
    cohort.scratch_course(root, demo_course, lessons)
    print(f"1/3 build   workshops/ for {len(lessons)} lessons, recorded in the demo's gradebook "
          f"({time.perf_counter() - started:.1f} s)", flush=True)

    submissions, graded = out / "submissions", out / "graded"
    shutil.rmtree(submissions, ignore_errors=True)
    shutil.rmtree(graded, ignore_errors=True)
    # The perfect student hands in every lesson (that is the run of every solution); the
    # other two a few quick ones: an untouched workshop runs every cell too, with stand-ins.
    sampled = [lesson for lesson in SAMPLED_LESSONS if lesson in lessons] or lessons[:1]
    expected = cohort.write_cohort(root, lessons, submissions, kinds=("perfect",))
    expected |= cohort.write_cohort(root, sampled, submissions, kinds=("untouched", "colab-only"))
    print(f"2/3 grade   {len(expected)} notebooks of 3 students: perfect (every lesson); "
          f"untouched and colab (one exercise, saved by Colab, renamed by an LMS) on "
          f"{', '.join(sampled)}", flush=True)
    from convtrain.instructor.grading.command import main as grade

    status = grade([str(submissions), "--out", str(graded), "--course",
                    str(demo_course / "course"), "--jobs", str(args.jobs)])
    if status != 0:
        print(f"convtrain grade failed with status {status}", file=sys.stderr)
        return status
    print("3/3 report", flush=True)
    wrong = grade_table(graded, expected, lessons)
    print(f"\n{lesson_times(graded)}")
    print(f"\n{isolation_used(graded)}")
    print(f"grades:   {graded / 'grades.csv'}\nreport:   {graded / 'report.html'}\n"
          f"feedback: {graded / 'feedback'}/<student>.html")
    print(f"\nmake demo: {time.perf_counter() - started:.0f} s"
          f"{'' if not wrong else f', {wrong} grade(s) not as expected'}")
    return 1 if wrong else 0


def grade_table(graded: Path, expected: dict[tuple[str, str], cohort.Submission],
                lessons: list[str]) -> int:
    """Print lessons x students with each score; return how many differ from ``expected``."""
    rows = {(row["student_id"], row["assignment"]): row
            for row in csv.DictReader((graded / "grades.csv").open())}
    students = sorted({student for student, _ in expected})
    print(f"\n{'lesson':<26}" + "".join(f"{student:>14}" for student in students))
    wrong, notes = 0, []
    for lesson in lessons:
        cells = []
        for student in students:
            want, row = expected.get((student, lesson)), rows.get((student, lesson))
            if want is None:
                cells.append("")
                continue
            if row is None:
                wrong += 1
                cells.append("missing !")
                notes.append(f"{student} / {lesson}: no row in grades.csv")
                continue
            score, top = float(row["score"]), float(row["max_score"])
            pending = float(row["manual_pending"])
            ok = abs(score - want.expected_total) < 1e-9 and abs(top - want.max_score) < 1e-9 \
                and row["flags"] == want.flags_text and abs(pending - want.pending) < 1e-9
            wrong += not ok
            written = f" +{pending:g}✍" if pending else ""
            cells.append(f"{score:g}/{top:g}{written}{'' if ok else ' !'}")
            if not ok:
                notes.append(f"{student} / {lesson}: got {score:g}/{top:g} [{row['flags']}] "
                             f"{pending:g} pending, expected {want.expected_total:g}/"
                             f"{want.max_score:g} [{want.flags_text}] {want.pending:g} pending")
        print(f"{lesson:<26}" + "".join(f"{cell:>14}" for cell in cells))
    if any(want.pending for want in expected.values()):
        print("+N✍: points of written answers waiting for a person (the formgrader); the "
              "tests' score is before the +")
    flags = {want.flags_text for want in expected.values() if want.flags}
    print("every grade as expected" if not wrong else "\n".join(["not as expected:", *notes]))
    if flags:
        print(f"informational flags, expected on the colab copies: {', '.join(sorted(flags))}")
    return wrong


def lesson_times(graded: Path) -> str:
    """Seconds each lesson's perfect submission took to grade: the solution notebook's run."""
    times = {}
    for path in (graded / "results").glob("perfect/*.json"):
        result = json.loads(path.read_text())
        times[result["assignment"]] = result["seconds"]
    if not times:
        return "(no run times: the perfect submissions left no results)"
    parts = [f"{lesson} {seconds:.0f} s" for lesson, seconds in sorted(times.items())]
    return "run time of each solution notebook (graded, sandbox included): " + ", ".join(parts)


def isolation_used(graded: Path) -> str:
    """The isolation line of this run's grading log."""
    for line in reversed((graded / "grading.log").read_text().splitlines()):
        if " isolation: " in line:
            return "isolation: " + line.split(" isolation: ", 1)[1]
    return "isolation: (not logged)"


if __name__ == "__main__":
    sys.exit(main())
