"""``convtrain grade SUBMISSIONS --out OUTDIR``: grade a cohort.

    convtrain grade submissions.zip --out grades/ --jobs 2
    convtrain grade submitted/ --out grades/ --timeout-cell 60 --timeout-notebook 300 --memory-mb 4096
    convtrain grade submissions.zip --out grades/ --scheduler tcp://HOST:8786 --db postgresql://...

Exit status 0 when every notebook was processed (some may score 0 and carry flags);
2 when grading could not run at all (no course or gradebook, bad arguments).
See ``course/GRADING.md`` for what is checked and why, ``course/SCALING.md`` for a cluster.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import sys
import tempfile
import traceback
from pathlib import Path

import nbformat

from convtrain.instructor import course as course_module
from convtrain.instructor import similarity
from convtrain.instructor.course import Course, CourseError
from convtrain.instructor.grading import (
    cluster,
    cohort_report,
    execute,
    gradebook,
    record,
    report,
    restore,
    sandbox,
    score,
    written,
)
from convtrain.instructor.grading import discover as discover_module
from convtrain.instructor.grading.discover import Submission
from convtrain.instructor.grading.flags import Flag
from convtrain.instructor.grading.gradebook import Assignment
from convtrain.instructor.grading.report import Result

GRADER_VERSION = "1"


@dataclasses.dataclass(frozen=True)
class Plan:
    """Everything a worker needs to grade one notebook (no open handles: safe in threads)."""

    course: Course
    assignments: dict[str, Assignment]
    limits: execute.Limits
    isolation: sandbox.Isolation
    private_paths: tuple[Path, ...]
    scratch_root: Path  # each notebook runs in a fresh folder in here (under the tmp folder)
    keep_scratch: bool = False
    files: dict[str, tuple[tuple[str, bytes], ...]] = dataclasses.field(default_factory=dict)
    use_sandbox: bool = True  # what --no-sandbox / --require-isolation ask of workers
    require_isolation: bool = False


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="convtrain grade", description="Autograde a folder or zip of student notebooks.",
        epilog="Layouts: SUBMISSIONS/<student_id>/*.ipynb or SUBMISSIONS/<student_id>_<anything>.ipynb, "
               "or a zip of either. See course/GRADING.md.")
    parser.add_argument("submissions", type=Path, help="folder or .zip of submissions")
    parser.add_argument("--out", type=Path, required=True, help="output folder (grades.csv, feedback/)")
    parser.add_argument("--course", type=Path, default=None,
                        help="course folder with nbgrader_config.py (default: the repository's course/)")
    parser.add_argument("--jobs", type=_positive_int, default=1, help="notebooks graded in parallel")
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help="grade on a Dask cluster: tcp://HOST:8786, or local:N for N local "
                             "worker processes (see course/SCALING.md); --jobs is then ignored")
    parser.add_argument("--db", default=None, metavar="URL",
                        help="the gradebook: sqlite:///FILE or postgresql://USER:PW@HOST/DB "
                             "(default: CourseDirectory.db_url of nbgrader_config.py, else "
                             "gradebook.db in the course)")
    parser.add_argument("--timeout-cell", type=_positive_float, default=120.0, metavar="S",
                        help="seconds a cell may run before it is interrupted (default 120)")
    parser.add_argument("--timeout-notebook", type=_positive_float, default=600.0, metavar="S",
                        help="seconds a whole notebook may run (default 600)")
    parser.add_argument("--memory-mb", type=_positive_int, default=4096, metavar="M",
                        help="heap memory limit of a kernel in MiB (default 4096; torch alone uses ~800)")
    parser.add_argument("--regrade", action="store_true", help="grade again notebooks graded before")
    parser.add_argument("--no-sandbox", "--no-namespaces", dest="no_sandbox", action="store_true",
                        help="do not run kernels in the bubblewrap sandbox even if available (debugging)")
    parser.add_argument("--require-isolation", action="store_true",
                        help="refuse to grade unless kernels can run in the bubblewrap sandbox")
    parser.add_argument("--keep-scratch", action="store_true", help="keep each run's scratch folder (debugging)")
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.submissions.exists():
        print(f"convtrain grade: {args.submissions} does not exist. Pass the folder or zip "
              "the LMS exported.", file=sys.stderr)
        return 2
    if args.scheduler:
        try:
            scheduled = cluster.parse_scheduler(args.scheduler)
        except ValueError as error:
            print(f"convtrain grade: --scheduler: {error}", file=sys.stderr)
            return 2
        if isinstance(scheduled, int):
            args.jobs = scheduled  # the kernels' thread count is shared out as for --jobs
    args.out.mkdir(parents=True, exist_ok=True)
    log = report.Log(args.out / "grading.log")
    try:
        course = course_module.load_course(course_module.find_course(args.course), args.db)
        gradebook.check_gradebook(course)
        gradebook.sync_gradebook(course, log)
        assignments = gradebook.load_assignments(course)
    except CourseError as error:
        print(f"convtrain grade: {error}", file=sys.stderr)
        return 2
    if not assignments:
        print(f"convtrain grade: nothing to grade against: {course.source_dir} holds no lesson "
              "(a folder NN_topic with the notebook NN_topic.ipynb), so the gradebook "
              f"{course.gradebook_name} has no assignments.", file=sys.stderr)
        return 2
    scratch = Path(tempfile.mkdtemp(prefix="convtrain-grade-"))  # unzipped files, kernels' folders
    try:
        try:
            folder = discover_module.unpack(args.submissions, scratch)
        except ValueError as error:
            print(f"convtrain grade: {error}", file=sys.stderr)
            return 2
        plan = _plan(args, course, assignments, folder, scratch)
        log(f"isolation: {plan.isolation.describe()}"
            f"{' (here; each worker builds its own)' if args.scheduler else ''}")
        if args.require_isolation and not plan.isolation.sandboxed and not args.scheduler:
            print(f"convtrain grade: --require-isolation: no sandbox here ({plan.isolation.why_not}). "
                  "Run `convtrain doctor` for how to get one.", file=sys.stderr)
            return 2
        log(f"grading {folder} with {args.scheduler or f'{args.jobs} job(s)'}; course "
            f"{course.root}", screen=False)
        try:
            results = grade_all(discover_module.discover(folder), plan, args.out, args.jobs,
                                args.regrade, log, args.scheduler)
        except (cluster.IsolationRefused, OSError) as error:  # OSError: no scheduler there
            if not args.scheduler:
                raise
            print(f"convtrain grade: {error}", file=sys.stderr)
            return 2
    finally:
        if args.keep_scratch:
            log(f"scratch folders kept in {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    finish(results, course, assignments, args.out, log, plan.isolation.describe())
    return 0


def _plan(args, course: Course, assignments: dict[str, Assignment], folder: Path,
          scratch_root: Path) -> Plan:
    private = [*course.private_paths(), args.submissions.resolve(), folder.resolve(),
               args.out.resolve()]
    threads = max(1, (os.cpu_count() or 1) // args.jobs) if args.jobs > 1 else None
    limits = execute.Limits(args.timeout_cell, args.timeout_notebook, args.memory_mb, threads)
    isolation = sandbox.choose(private, use_sandbox=not args.no_sandbox,
                               probe_dir=str(scratch_root), memory_mb=args.memory_mb)
    files = {name: execute.lesson_files(assignment.files_dir)
             for name, assignment in assignments.items()}
    return Plan(course, assignments, limits, isolation, tuple(private), scratch_root.resolve(),
                args.keep_scratch, files, not args.no_sandbox, args.require_isolation)


def cache_key(plan: Plan) -> str:
    """Changes when the assignments, the limits or the grader change: results are redone."""
    settings = {"version": GRADER_VERSION,
                "assignments": sorted(a.fingerprint for a in plan.assignments.values()),
                "limits": dataclasses.asdict(plan.limits) | {"threads": None}}
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]


def grade_all(submissions: list[Submission], plan: Plan, out: Path, jobs: int, regrade: bool,
              log, scheduler: str | None = None) -> list[Result]:
    """Grade every submission (reusing earlier results unless ``regrade``), ``jobs`` at a time
    here or, with ``scheduler``, on a Dask cluster (``cluster.py``). Each result is saved as it
    arrives (a rerun grades only what is missing)."""
    key = cache_key(plan)
    results: dict[int, Result] = {}
    todo = []
    for index, submission in enumerate(submissions):
        path = report.result_path(out, submission.student_id, submission.sha256, key)
        cached = None if regrade else report.load_result(path)
        if cached is not None and cached.label == submission.label:
            results[index] = cached
        else:
            todo.append((index, submission, path))
    where = f"on the cluster {scheduler}" if scheduler else f"{jobs} at a time"
    log(f"{len(submissions)} notebook(s) found, {len(results)} already graded, {len(todo)} to grade"
        f"{f', {where}' if todo else ''}")
    width = len(str(len(todo)))
    stream = _cluster_results(todo, plan, log, scheduler) if scheduler and todo else \
        _local_results(todo, plan, jobs, log)
    with _progress(len(todo), log) as advance:
        for done, (index, result) in enumerate(stream, 1):
            results[index] = result
            log(f"[{done:>{width}}/{len(todo)}] {result_line(result)}")
            advance()
    return [results[index] for index in sorted(results)]


def _local_results(todo, plan: Plan, jobs: int, log):
    """``(index, result)`` as each notebook is graded here, ``jobs`` at a time (saved first)."""

    def work(item):
        index, submission, path = item
        result = grade_one(submission, plan, log)
        report.save_result(path, result)
        return index, result

    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(work, item) for item in todo]
        for future in concurrent.futures.as_completed(futures):
            yield future.result()


def _cluster_results(todo, plan: Plan, log, scheduler: str):
    """``(index, result)`` as each task comes back from the Dask cluster (saved first).

    Reading and restoring each notebook (``prepare``) and scoring it (``conclude``) happen
    here; only the run (``cluster.grade_task``) goes to a worker.
    """

    def payloads():
        for index, submission, path in todo:
            try:
                prepared = prepare(submission, plan, log)
            except Exception:  # noqa: BLE001 - as grade_one: a 0 with a flag
                prepared = _failed(submission, plan, log)
            if isinstance(prepared, Result):
                finished.append((index, path, prepared))
                continue
            yield (index, path, prepared), (prepared.task, plan.use_sandbox, plan.require_isolation)

    finished: list = []  # graded without a run (unreadable, unmatched)
    with cluster.connect(scheduler) as client:
        isolations = client.run(cluster.describe_isolation, plan.use_sandbox, plan.limits.memory_mb)
        for worker, isolation in sorted(isolations.items()):
            log(f"worker {worker}: {isolation}", screen=False)
        log(f"{len(isolations)} worker(s); isolation: {'; '.join(sorted(set(isolations.values())))}")
        bare = sorted(worker for worker, text in isolations.items() if not text.startswith("bubblewrap"))
        if plan.require_isolation and bare:
            raise cluster.IsolationRefused(
                f"--require-isolation: {len(bare)} worker(s) cannot build the sandbox "
                f"({isolations[bare[0]]}); see course/SCALING.md on containers")
        for (index, path, prepared), outcome, error in cluster.run_tasks(
                client, payloads(), cluster.grade_task):
            while finished:
                early_index, early_path, early = finished.pop()
                report.save_result(early_path, early)
                yield early_index, early
            result = _cluster_result(prepared, outcome, error, plan, log)
            report.save_result(path, result)
            yield index, result
        for early_index, early_path, early in finished:
            report.save_result(early_path, early)
            yield early_index, early


def _cluster_result(prepared: Prepared, outcome, error, plan: Plan, log) -> Result:
    submission = prepared.submission
    if error is not None:
        if cluster.is_killed_worker(error):
            log(f"{submission.label}: every worker that ran it died ({error}); scored 0")
            return _zero(submission, plan, Flag.WORKER_LOST)
        log(f"{submission.label}: grading failed on the worker: {type(error).__name__}: "
            f"{str(error)[:300]}")
        log("".join(traceback.format_exception(error)), screen=False)
        return _zero(submission, plan, Flag.GRADER_ERROR)
    execution, _isolation = outcome
    try:
        return conclude(prepared, execution, log)
    except Exception:  # noqa: BLE001 - as grade_one
        return _failed(submission, plan, log)


def result_line(result: Result) -> str:
    """One notebook's grade on one line: where it lay, what it is, its points, flags, time."""
    flags = f" [{';'.join(result.flags)}]" if result.flags else ""
    return (f"{result.label}: {result.assignment} {result.score:g}/{result.max_score:g}"
            f"{flags} {result.seconds:.1f}s")


@contextlib.contextmanager
def _progress(total: int, log):
    """A tqdm bar with an ETA on a terminal's stderr (the log's lines print above it);
    nothing elsewhere, so captured output and CI logs stay one line per notebook."""
    if not total or not sys.stderr.isatty():
        yield lambda: None
        return
    from tqdm import tqdm

    bar = tqdm(total=total, unit="notebook", desc="grading", file=sys.stderr, leave=False,
               dynamic_ncols=True)
    echo, log.echo = log.echo, bar.write
    try:
        yield bar.update
    finally:
        log.echo = echo
        bar.close()


def grade_one(submission: Submission, plan: Plan, log) -> Result:
    """Grade one notebook; never raises (a failure is a 0 with a flag)."""
    try:
        result = _grade(submission, plan, log)
    except Exception:  # noqa: BLE001 - one broken submission must not stop the cohort
        result = _failed(submission, plan, log)
    return result


def _failed(submission: Submission, plan: Plan, log) -> Result:
    """The result of a notebook the grader raised on (call in an ``except`` block)."""
    log(f"{submission.label}: grading failed (traceback in grading.log)")
    log(traceback.format_exc(), screen=False)
    return _zero(submission, plan, Flag.GRADER_ERROR)


def _zero(submission: Submission, plan: Plan, flag: Flag) -> Result:
    assignment = discover_module.identify([], submission.path.name, plan.assignments)
    return Result(submission.student_id, assignment.name if assignment else "unknown", 0.0,
                  assignment.max_score if assignment else 0.0, [flag], submission.label)


@dataclasses.dataclass
class Prepared:
    """A notebook ready to run: its self-contained task, and what scoring needs afterwards."""

    submission: Submission
    assignment: Assignment
    cells: list
    flags: set
    task: execute.Task


def _grade(submission: Submission, plan: Plan, log) -> Result:
    prepared = prepare(submission, plan, log)
    if isinstance(prepared, Result):
        return prepared
    execution = execute.run_task(prepared.task, plan.isolation, plan.scratch_root,
                                 plan.keep_scratch)
    return conclude(prepared, execution, log)


def prepare(submission: Submission, plan: Plan, log) -> Prepared | Result:
    """Read, identify and restore a notebook into its task, or its result when it cannot run
    (unreadable, matching no lesson). Runs where the gradebook is."""
    try:
        notebook = nbformat.reads(submission.path.read_text(encoding="utf-8"), as_version=4)
        cells = [dict(cell) for cell in notebook.cells]
    except Exception as error:  # noqa: BLE001 - any unreadable file is graded 0
        log(f"{submission.label}: unreadable: {type(error).__name__}: {str(error)[:200]}")
        assignment = discover_module.identify([], submission.path.name, plan.assignments)
        return Result(submission.student_id, assignment.name if assignment else "unknown", 0.0,
                      assignment.max_score if assignment else 0.0, [Flag.UNREADABLE], submission.label)
    assignment = discover_module.identify(cells, submission.path.name, plan.assignments)
    if assignment is None:
        return Result(submission.student_id, "unknown", 0.0, 0.0, [Flag.UNMATCHED], submission.label)
    steps, flags = restore.restore(cells, assignment)
    if submission.path.name != f"{assignment.notebook}.ipynb":
        flags.add(Flag.RENAMED)
    files = plan.files[assignment.name] if assignment.name in plan.files else \
        execute.lesson_files(assignment.files_dir)
    task = execute.Task(submission.label, tuple(steps), files, plan.limits,
                        tuple(str(path) for path in plan.private_paths))
    return Prepared(submission, assignment, cells, flags, task)


def conclude(prepared: Prepared, execution: execute.Execution, log) -> Result:
    """Points, flags and the result of an executed task. Runs where the gradebook is."""
    submission, assignment, cells, flags = (prepared.submission, prepared.assignment,
                                            prepared.cells, prepared.flags)
    tests, run_flags = score.score(assignment, execution, restore.untouched_answers(cells, assignment))
    if Flag.KERNEL_START_FAILED in run_flags and execution.runs and execution.runs[0].errors:
        log(f"{submission.label}: the kernel did not start: {execution.runs[0].errors[0][1]}",
            screen=False)
    details = score.tamper_details(execution)
    if details:
        log(f"{submission.label}: the agent saw {'; '.join(details[:20])}", screen=False)
    return Result(
        student_id=submission.student_id, assignment=assignment.name,
        score=float(sum(test.points for test in tests)), max_score=assignment.max_score,
        flags=sorted(flags | run_flags), label=submission.label,
        tests=[dataclasses.asdict(test) for test in tests], seconds=round(execution.seconds, 2),
        answers=restore.answer_texts(cells, assignment),
        written=[dataclasses.asdict(item) for item in written.grade_written(cells, assignment)])


def finish(results: list[Result], course: Course, assignments: dict[str, Assignment], out: Path,
           log, isolation: str) -> None:
    """grades.csv, feedback per student, the cohort report and the gradebook (backed up first).

    ``isolation``: how the kernels were kept apart (``Isolation.describe()``), for the report.
    """
    final = report.best_per_assignment(results)
    grades = report.write_grades(out, final)
    by_student: dict[str, list[Result]] = {}
    for result in final:
        by_student.setdefault(result.student_id, []).append(result)
    for student_id, student_results in by_student.items():
        report.write_feedback(out, student_id, student_results)
    log(f"wrote {grades} ({len(final)} rows) and feedback for {len(by_student)} student(s) "
        f"in {out / 'feedback'}")
    similar = None
    try:  # never changes a grade: it points the instructor at answers to read side by side
        similar = similarity.analyze(final, assignments)
        page, _table = similarity.write(out, similar)
        log(f"wrote {page}: {len(similar.pairs)} pair(s) of similar answers to read "
            f"({similar.seconds:.1f} s; grades unchanged)")
    except Exception as error:  # noqa: BLE001 - grades and feedback are written; go on
        log(f"could not compare the answers ({type(error).__name__}: {error}); grades.csv and "
            f"the feedback are complete.\n{traceback.format_exc()}")
    try:
        log(f"wrote {cohort_report.write_report(out, results, isolation, assignments, similar)} "
            "(the cohort at a glance)")
    except Exception as error:  # noqa: BLE001 - grades and feedback are written; go on
        log(f"could not write the cohort report ({type(error).__name__}: {error}); grades.csv "
            f"and the feedback are complete.\n{traceback.format_exc()}")
    try:
        backup = gradebook.backup_gradebook(course)
    except CourseError as error:  # PostgreSQL without pg_dump: the server's own backups
        log(f"{error} Recording anyway (see course/SCALING.md on backing up a server's gradebook).")
        backup = None
    try:
        stored = record.record(course, assignments, final)
    except Exception as error:  # noqa: BLE001 - grades.csv is written; say what went wrong
        log(f"could not record the grades in {course.gradebook_name} ({type(error).__name__}: "
            f"{error}); grades.csv is complete. Backup: {backup}")
        return
    log(f"{stored} submission(s) recorded in the gradebook {course.gradebook_name} "
        f"(backup: {backup})")
    pending = [result for result in final if result.manual_pending]
    if pending:
        try:
            shown = written.write_for_formgrader(course.root, assignments, final, log)
            log(f"{sum(r.manual_pending for r in pending):g} points of written answers in "
                f"{len(pending)} notebook(s) wait for manual grading: the formgrader shows "
                f"{shown} (`make lab`, then Formgrader → Manage Assignments)")
        except Exception as error:  # noqa: BLE001 - grades.csv and the gradebook are written
            log(f"could not write the formgrader's copies ({type(error).__name__}: {error}); "
                "grade the written answers from the submitted files.")
