"""`convtrain grade --scheduler local:2` on a real Dask LocalCluster, with the gradebook in
SQLite and in a real PostgreSQL server (Debian's ``postgresql``, started in a temporary
folder by ``grading_fixtures/postgres_server.py``).

The same cohort (the tiny course: a solved, a partly solved, an untouched and an unreadable
notebook) is graded locally, on the cluster, and on the cluster with PostgreSQL while a
worker is killed mid-task: the three ``grades.csv`` are identical, and a second run grades
nothing again.
"""

from __future__ import annotations

import copy
import csv
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest

from convtrain.instructor.course import nbgrader_meta

sys.path.insert(0, str(Path(__file__).parent / "grading_fixtures"))
import postgres_server  # noqa: E402
import tiny_course  # noqa: E402

pytest.importorskip("distributed", reason="the cluster tests need Dask: pip install 'convtrain[grading]'")

from convtrain.instructor.grading import cluster  # noqa: E402
from convtrain.instructor.grading.command import main  # noqa: E402
from convtrain.instructor.grading.flags import Flag  # noqa: E402

pytestmark = pytest.mark.xdist_group("grading_cluster")
LESSON = tiny_course.LESSON
CELL_TIMEOUT = "60"  # the kernel imports torch, and this machine is shared
EXPECTED = {"solved": ("6", ""), "partial": ("2", ""), "untouched": ("0", ""),
            "garbage": ("0", "unreadable")}
NO_POSTGRES = postgres_server.missing_reason()


def build_cohort(root: Path) -> Path:
    release = nbformat.read(root / "workshops" / LESSON / f"{LESSON}.ipynb", as_version=4)
    solution = nbformat.read(root / "solutions" / LESSON / f"{LESSON}.ipynb", as_version=4)
    answers = {nbgrader_meta(cell).get("grade_id"): cell.source for cell in solution.cells}

    def solved(ids):
        notebook = copy.deepcopy(release)
        for cell in notebook.cells:
            if nbgrader_meta(cell).get("grade_id") in ids:
                cell.source = answers[nbgrader_meta(cell)["grade_id"]]
        return notebook

    submissions = root / "submissions"
    for student, notebook in {"solved": solved({"double", "count", "mean"}),
                              "partial": solved({"double"}), "untouched": release}.items():
        (submissions / student).mkdir(parents=True)
        nbformat.write(notebook, submissions / student / f"{LESSON}.ipynb")
    (submissions / "garbage").mkdir()
    (submissions / "garbage" / f"{LESSON}.ipynb").write_text("{ not a notebook")
    return submissions


def grade(root: Path, out: Path, *extra: str) -> int:
    return main([str(root / "submissions"), "--out", str(out), "--course", str(root / "course"),
                 "--jobs", "2", "--timeout-cell", CELL_TIMEOUT, "--timeout-notebook", "300",
                 *extra])


def grades(out: Path) -> dict[str, tuple[str, str]]:
    with (out / "grades.csv").open() as handle:
        return {row["student_id"]: (row["score"], row["flags"]) for row in csv.DictReader(handle)}


class WorkerKiller(threading.Thread):
    """Kills (SIGKILL) the first Dask worker process of this test seen running a kernel."""

    def __init__(self):
        super().__init__(daemon=True)
        self.killed: list[int] = []
        self.done = threading.Event()

    def run(self) -> None:
        import psutil

        me = psutil.Process()
        while not self.done.is_set() and not self.killed:
            for child in me.children():
                try:
                    if "spawn_main" not in " ".join(child.cmdline()):
                        continue
                    if any("ipykernel" in " ".join(p.cmdline()) for p in child.children(True)):
                        child.kill()
                        self.killed.append(child.pid)
                        break
                except psutil.Error:
                    continue
            time.sleep(0.2)


@pytest.fixture(scope="module")
def course_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tiny-cluster")
    tiny_course.build_course(root)
    build_cohort(root)
    return root


@pytest.fixture(scope="module")
def local_grades(course_root: Path):
    out = course_root / "out-local"
    assert grade(course_root, out) == 0
    return (out / "grades.csv").read_text()


@pytest.fixture(scope="module")
def postgres():
    if NO_POSTGRES:
        pytest.skip(NO_POSTGRES)
    server = postgres_server.PostgresServer.start()
    yield server
    server.stop()


def test_the_local_run_grades_the_cohort(course_root, local_grades):
    assert grades(course_root / "out-local") == EXPECTED


def test_the_cluster_gives_the_same_grades_and_a_rerun_regrades_nothing(course_root, local_grades):
    out = course_root / "out-cluster"
    assert grade(course_root, out, "--scheduler", "local:2") == 0
    assert (out / "grades.csv").read_text() == local_grades
    log = (out / "grading.log").read_text()
    assert "2 worker(s)" in log and "[4/4]" in log  # one line per notebook, as locally
    results = sorted(path.stat().st_mtime_ns for path in (out / "results").rglob("*.json"))
    assert grade(course_root, out, "--scheduler", "local:2") == 0
    assert (out / "grades.csv").read_text() == local_grades
    assert "4 already graded, 0 to grade" in (out / "grading.log").read_text()
    assert sorted(path.stat().st_mtime_ns for path in (out / "results").rglob("*.json")) == results


def test_postgres_gradebook_on_the_cluster_with_a_worker_killed(course_root, local_grades,
                                                                 postgres):
    from nbgrader.api import Gradebook

    url = postgres.create_database("gradebook")
    out = course_root / "out-postgres"
    killer = WorkerKiller()
    killer.start()
    try:
        assert grade(course_root, out, "--scheduler", "local:2", "--db", url) == 0
    finally:
        killer.done.set()
        killer.join()
    assert killer.killed, "no worker was seen running a kernel: nothing was killed"
    assert (out / "grades.csv").read_text() == local_grades
    backups = sorted((course_root / "course").glob("gradebook.*.sql"))
    assert backups and "CREATE TABLE" in backups[-1].read_text()  # pg_dump, before recording
    with Gradebook(url.replace("postgresql://", "postgresql+psycopg2://")) as gradebook:
        scores = {s.student.id: s.score for s in gradebook.assignment_submissions(LESSON)}
    assert scores == {student: float(score) for student, (score, _) in EXPECTED.items()
                      if student != "garbage"} | {"garbage": 0.0}
    assert grade(course_root, out, "--scheduler", "local:2", "--db", url) == 0
    assert "4 already graded, 0 to grade" in (out / "grading.log").read_text()
    assert (out / "grades.csv").read_text() == local_grades


def test_gradebook_functions_work_on_postgres(course_root, postgres):
    from convtrain.instructor.course import load_course
    from convtrain.instructor.grading import gradebook

    url = postgres.create_database("gradebook_units")
    course = load_course(course_root / "course", url)
    assert not course.is_sqlite and "postgres@" in course.gradebook_name
    gradebook.check_gradebook(course)  # an empty database is a gradebook still to create
    assert not gradebook.gradebook_exists(course) and gradebook.backup_gradebook(course) is None
    assert gradebook.sync_gradebook(course, log=lambda message, screen=True: None) == [LESSON]
    assert gradebook.sync_gradebook(course, log=lambda message, screen=True: None) == []
    assignments = gradebook.load_assignments(course)
    assert assignments[LESSON].max_score == 6.0
    sqlite_course = load_course(course_root / "course")
    assert gradebook.load_assignments(sqlite_course)[LESSON].fingerprint == \
        assignments[LESSON].fingerprint
    assert gradebook.backup_gradebook(course).suffix == ".sql"


def test_a_task_that_kills_every_worker_is_given_up_after_bounded_tries():
    import cluster_faults

    with cluster.connect("local:2") as client:
        outcomes = {tag: (value, error) for tag, value, error in cluster.run_tasks(
            client, [(n, (n, 1)) for n in range(3)], cluster_faults.die_on)}
    assert outcomes[0] == (0, None) and outcomes[2] == (2, None)
    assert outcomes[1][0] is None and cluster.is_killed_worker(outcomes[1][1])
    assert f"on {cluster.LOCAL_ALLOWED_FAILURES + 1} " in str(outcomes[1][1])


def test_a_lost_task_scores_zero_with_the_worker_lost_flag(tmp_path):
    from distributed import KilledWorker

    from convtrain.instructor.grading import command

    submission = SimpleNamespace(student_id="s1", label="s1/x.ipynb",
                                 path=tmp_path / "x.ipynb")
    prepared = SimpleNamespace(submission=submission)
    plan = SimpleNamespace(assignments={})
    result = command._cluster_result(prepared, None, KilledWorker("grade-1", SimpleNamespace(address="tcp://w:1"), 2), plan,
                                     lambda *args, **kwargs: None)
    assert result.flags == [Flag.WORKER_LOST] and result.score == 0


def test_parse_scheduler():
    assert cluster.parse_scheduler("local:3") == 3
    assert cluster.parse_scheduler("tcp://h:8786") == "tcp://h:8786"
    for bad in ("local:0", "h:8786"):
        with pytest.raises(ValueError):
            cluster.parse_scheduler(bad)


def test_require_isolation_refuses_a_cluster_without_the_sandbox(course_root, tmp_path):
    assert grade(course_root, tmp_path / "out", "--scheduler", "local:1", "--no-sandbox",
                 "--require-isolation") == 2
    assert not (tmp_path / "out" / "grades.csv").exists()
