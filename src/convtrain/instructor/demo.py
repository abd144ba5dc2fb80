"""`make demo`: the course's main job, offline, end to end.

1. regenerate `workshops/` from `solutions/`;
2. execute every solution notebook in the fast profile, timing each;
3. make a small cohort (per lesson a perfect submission, an untouched one, one with
   a single exercise solved and a Colab-saved, LMS-renamed copy: `convtrain.instructor.cohort`),
   grade it with `convtrain grade`, and print the grade table and where the feedback lies.

Everything is written under ``artifacts/demo/``.

    python -m convtrain.instructor.demo [--jobs 2] [--lessons 00_building_blocks ...]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import csv
import os
import shutil
import sys
import time
from pathlib import Path

from convtrain.instructor import build, cohort, course


def execute(notebook_path: Path, out_path: Path, timeout: int = 300) -> float:
    """Run a notebook top to bottom in a fresh kernel (fast profile); return the wall seconds.

    The time includes starting the kernel, as a student or CI experiences it.
    """
    import nbformat

    from convtrain.instructor.headless import notebook_client

    notebook = nbformat.read(notebook_path, as_version=4)
    # Not nbclient's Output-widget frontend: it stalled 02_dropout's interact cell for up to
    # `timeout` seconds (see convtrain.instructor.headless).
    client = notebook_client(notebook, timeout=timeout, kernel_name="python3",
                             resources={"metadata": {"path": str(notebook_path.parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    out_path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, out_path)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m convtrain.instructor.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=2, help="notebooks run in parallel")
    parser.add_argument("--lessons", nargs="*", help="lesson ids (default: all)")
    args = parser.parse_args(argv)

    os.environ["CONVTRAIN_PROFILE"] = "fast"
    # Several kernels share the cores; one torch thread each is faster for tiny models.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    root = course.repo_root()
    out = root / "artifacts" / "demo"
    lessons = args.lessons or course.lessons(root / "solutions")

    print(f"1/3 Regenerating workshops/ for {len(lessons)} lessons ...", flush=True)
    build.build(root, lessons)

    print(f"2/3 Executing the solution notebooks (fast profile, {args.jobs} at a time) ...",
          flush=True)
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {
            lesson: pool.submit(execute, root / "solutions" / lesson / f"{lesson}.ipynb",
                                out / "executed" / f"{lesson}.ipynb")
            for lesson in lessons
        }
        for lesson, future in futures.items():
            print(f"   {lesson:<28} {future.result():6.1f} s", flush=True)

    print("3/3 Grading a demo cohort (perfect, untouched, one exercise, a Colab copy) ...",
          flush=True)
    submissions = out / "submissions"
    shutil.rmtree(submissions, ignore_errors=True)
    expected = cohort.write_cohort(root, lessons, submissions)
    from convtrain.instructor.grading.command import main as grade

    status = grade([str(submissions), "--out", str(out / "graded"), "--jobs", str(args.jobs),
                    "--regrade"])
    if status != 0:
        print(f"convtrain grade failed with status {status}", file=sys.stderr)
        return status
    return report(out / "graded", expected)


def report(graded: Path, expected: dict[tuple[str, str], cohort.Submission]) -> int:
    """Print the grade table; return 1 when a demo student did not get the expected grade."""
    rows = list(csv.DictReader((graded / "grades.csv").open()))
    print(f"\n{'student':<26} {'assignment':<26} {'score':>6} {'max':>6} {'expected':>8}  flags")
    wrong = 0
    for row in rows:
        want = expected.get((row["student_id"], row["assignment"]))
        ok = want is not None and abs(float(row["score"]) - want.expected_total) < 1e-9 \
            and abs(float(row["max_score"]) - want.max_score) < 1e-9 \
            and row["flags"] == want.flags_text
        wrong += not ok
        print(f"{row['student_id']:<26} {row['assignment']:<26} {float(row['score']):6.1f} "
              f"{float(row['max_score']):6.1f} {want.expected_total if want else '?':>8}  "
              f"{row['flags']}{'' if ok else '   <-- unexpected'}")
    missing = set(expected) - {(row["student_id"], row["assignment"]) for row in rows}
    for student, lesson in sorted(missing):
        wrong += 1
        print(f"{student:<26} {lesson:<26} no row in grades.csv   <-- unexpected")
    print(f"\ngrades: {graded / 'grades.csv'}\nfeedback HTML: {graded / 'feedback'}")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
