"""How fast is `convtrain grade`? Wall time for 1 and 2 jobs, and the cost of its safety.

    python benchmarks/bench_grading.py                    # 30 students x every lesson
    python benchmarks/bench_grading.py --students 3 --lessons 00_building_blocks
    python benchmarks/bench_grading.py --scheduler local:2   # 20 students x 3 lessons: Dask

Builds a scratch copy of the course (the repository's nbgrader_config.py and
solutions/, releases and gradebook generated into the scratch folder, so the real
gradebook never sees the fake students), then a cohort: students cycle through a
perfect submission (the solution notebook), a partial one (the first exercise solved)
and an empty one (the release). It prints

- plain: executing the same notebooks top to bottom with nbclient, one after the other,
  no sandbox, no guard (what grading costs at least);
- grade, 1 job and 2 jobs: the real command on a fresh output folder;
- the ratio grade(1 job) / plain (goal: at most 1.3) and the speed-up of 2 jobs.

With ``--scheduler ADDRESS`` (``local:2``: a Dask LocalCluster of two worker processes) it
grades the cohort (default 20 students x 3 lessons = 60 notebooks) with ``--jobs 2`` and on
the cluster, and prints both wall times, their ratio (goal: at most 1.1 on a local:2
cluster), the cluster's start-up and the per-task overhead: the extra worker-seconds per
notebook, ``(cluster - jobs 2) x workers / notebooks``, and the round trip of an empty task
carrying a typical payload.
"""

from __future__ import annotations

import argparse
import copy
import os
import shutil
import tempfile
import time
from pathlib import Path

import nbformat

from convtrain.instructor.course import nbgrader_meta

REPO = Path(__file__).resolve().parents[1]
KINDS = ("perfect", "partial", "empty")
SCHEDULER_LESSONS = ("00_building_blocks", "01_input_normalization", "07_optimization")


def build_course(scratch: Path, lessons: list[str]) -> Path:
    """A course in ``scratch`` with the repository's config and lessons; return course/."""
    from convtrain.instructor.course import generate_assignments, load_course

    course = scratch / "course"
    course.mkdir()
    shutil.copy(REPO / "course" / "nbgrader_config.py", course)
    for lesson in lessons:
        shutil.copytree(REPO / "solutions" / lesson, scratch / "solutions" / lesson)
    (scratch / "workshops").mkdir()
    loaded = load_course(course)
    generate_assignments(loaded, lessons, loaded.release_dir)
    return course


def make_cohort(scratch: Path, lessons: list[str], students: int) -> Path:
    submissions = scratch / "submissions"
    for lesson in lessons:
        solution = nbformat.read(scratch / "solutions" / lesson / f"{lesson}.ipynb", as_version=4)
        release = nbformat.read(scratch / "workshops" / lesson / f"{lesson}.ipynb", as_version=4)
        for number in range(students):
            kind = KINDS[number % len(KINDS)]
            notebook = {"perfect": solution, "empty": release}.get(kind) or _partial(release, solution)
            path = submissions / f"s{number:03d}_{kind}" / f"{lesson}.ipynb"
            path.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(notebook, path)
    return submissions


def _partial(release, solution):
    notebook = copy.deepcopy(release)
    answers = {c.metadata["nbgrader"]["grade_id"]: c for c in solution.cells
               if nbgrader_meta(c).get("solution")}
    for cell in notebook.cells:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id].source
            break
    return notebook


def plain_execution(submissions: Path, scratch: Path) -> float:
    """Seconds to run every notebook top to bottom with nbclient, one after the other."""
    workdir = scratch / "plain"
    workdir.mkdir()
    paths = sorted(submissions.rglob("*.ipynb"))
    _run_plain(paths[0], scratch, workdir)  # warm-up, not timed: the first torch import reads the disk
    started = time.monotonic()
    for path in paths:
        _run_plain(path, scratch, workdir)
    return time.monotonic() - started


def _run_plain(path: Path, scratch: Path, workdir: Path) -> None:
    from convtrain.instructor.headless import notebook_client  # no Output-widget stall (see there)

    notebook = nbformat.read(path, as_version=4)
    shutil.copytree(scratch / "workshops" / path.stem, workdir, dirs_exist_ok=True)  # data files
    notebook_client(notebook, timeout=600, kernel_name="python3", allow_errors=True,
                    resources={"metadata": {"path": str(workdir)}}).execute()


def grade(submissions: Path, course: Path, out: Path, jobs: int, *extra: str) -> float:
    from convtrain.instructor.grading.command import main

    started = time.monotonic()
    status = main([str(submissions), "--out", str(out), "--course", str(course), "--jobs", str(jobs),
                   *extra])
    if status != 0:
        raise SystemExit(f"convtrain grade exited with {status}")
    return time.monotonic() - started


def cluster_overhead(scheduler: str, tasks: int, payload_bytes: int = 100_000) -> tuple[float, float]:
    """(seconds to start/connect to the cluster, seconds per empty task round trip with a
    ``payload_bytes`` argument, submitted all at once and collected as they finish)."""
    from convtrain.instructor.grading import cluster

    started = time.monotonic()
    with cluster.connect(scheduler) as client:
        client.submit(len, b"").result()
        startup = time.monotonic() - started
        payload = os.urandom(payload_bytes)
        started = time.monotonic()
        for _tag, value, error in cluster.run_tasks(client, [(n, (payload,)) for n in range(tasks)], len):
            assert error is None and value == payload_bytes
        return startup, (time.monotonic() - started) / tasks


def compare_scheduler(args, lessons: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as folder:
        scratch = Path(folder)
        course = build_course(scratch, lessons)
        submissions = make_cohort(scratch, lessons, args.students)
        count = len(list(submissions.rglob("*.ipynb")))
        print(f"cohort: {args.students} students x {len(lessons)} lesson(s) = {count} notebooks "
              f"({', '.join(lessons)})", flush=True)
        jobs = grade(submissions, course, scratch / "out-jobs", 2)
        dask = grade(submissions, course, scratch / "out-dask", 2, "--scheduler", args.scheduler)
        same = (scratch / "out-jobs" / "grades.csv").read_text() == \
            (scratch / "out-dask" / "grades.csv").read_text()
        startup, round_trip = cluster_overhead(args.scheduler, count)
        workers = int(args.scheduler.removeprefix("local:")) if args.scheduler.startswith("local:") else 2
        print(f"convtrain grade --jobs 2:                     {jobs:8.1f} s")
        print(f"convtrain grade --scheduler {args.scheduler:<17} {dask:8.1f} s")
        print(f"ratio scheduler / jobs 2:                     {dask / jobs:8.2f}   (goal <= 1.1)")
        print(f"per-task overhead ((dask - jobs) x {workers} / {count}):  "
              f"{(dask - jobs) * workers / count:8.2f} worker-s/notebook")
        print(f"cluster start-up; empty 100 kB task round trip: {startup:6.1f} s; "
              f"{round_trip * 1000:.1f} ms")
        print(f"grades.csv identical: {same}; cpus: {os.cpu_count()}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=None, help="default 30 (20 with --scheduler)")
    parser.add_argument("--lessons", nargs="*", default=None,
                        help="default: every lesson in solutions/ (with --scheduler: " +
                             ", ".join(SCHEDULER_LESSONS) + ")")
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help="compare --jobs 2 with this Dask scheduler (local:N or tcp://HOST:8786)")
    args = parser.parse_args(argv)
    os.environ.setdefault("CONVTRAIN_PROFILE", "fast")
    os.environ.setdefault("TQDM_DISABLE", "1")  # the grader sets it in its kernels too
    if args.scheduler:
        args.students = args.students or 20
        compare_scheduler(args, args.lessons or list(SCHEDULER_LESSONS))
        return
    args.students = args.students or 30
    lessons = args.lessons or sorted(p.name for p in (REPO / "solutions").iterdir()
                                     if (p / f"{p.name}.ipynb").is_file())
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as folder:
        scratch = Path(folder)
        course = build_course(scratch, lessons)
        submissions = make_cohort(scratch, lessons, args.students)
        count = len(list(submissions.rglob("*.ipynb")))
        print(f"cohort: {args.students} students x {len(lessons)} lesson(s) = {count} notebooks")
        plain = plain_execution(submissions, scratch)
        one = grade(submissions, course, scratch / "out1", jobs=1)
        two = grade(submissions, course, scratch / "out2", jobs=2)
        print(f"plain execution (nbclient, 1 at a time): {plain:8.1f} s")
        print(f"convtrain grade --jobs 1:                {one:8.1f} s")
        print(f"convtrain grade --jobs 2:                {two:8.1f} s")
        print(f"ratio grade(1 job) / plain:              {one / plain:8.2f}   (goal <= 1.3)")
        print(f"speed-up of 2 jobs over 1:               {one / two:8.2f}   (cpus: {os.cpu_count()})")


if __name__ == "__main__":
    main()
