"""`convtrain grade` against students who want points without solving anything.

The course is the tiny assignment of ``grading_fixtures/tiny_course.py`` (2 + 3 + 1
points). ``grading_fixtures/attacks/catalog.py`` holds one student per attack, each the
untouched release (or junk answers, or the solution) plus a few cells, grouped in seven
classes: kernel rewiring, persistence outside the scratch folder, processes that outlive
the kernel, reading other paths of the machine, lying objects, floods of output, and
honest oddities that must not be flagged. Each student's expected row of grades.csv
is the grader's CONTRACT (see the catalog's docstring), not what it did on the day the
attack was written: a failing test here is a hole in the grader.

The cohort is graded once per session by the real command in a subprocess (two jobs);
around it the session plants what the attacks go after and checks it afterwards:

- another copy of the course (solutions and gradebook, with secrets in them) in the
  grading user's home and in the tmp folder; both must be unchanged byte for byte;
- secrets in the grader's environment, in the course folder and in a classmate's
  notebook; none may reach any feedback page or grades.csv;
- the files each persistence attack tries to create; none may exist afterwards;
- the processes each process attack starts (markers in their argv or name); none may
  be alive once the command has returned.

Whatever the attacks manage to leave behind is removed when the module ends (files
restored, processes killed by pid), so that a hole found today does not outlive the run.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import pwd
import secrets
import shutil
import signal
import site
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).parent / "grading_fixtures"))
import tiny_course  # noqa: E402
from attacks import catalog  # noqa: E402

# With `-n 2 --dist loadgroup` one worker grades this cohort once, apart from
# tests/test_grading.py's own cohort.
pytestmark = pytest.mark.xdist_group("grading_attacks")

LESSON = catalog.LESSON
FULL = catalog.FULL
CELL_TIMEOUT = "30"  # generous: the kernel imports torch, and this machine is shared
NOTEBOOK_TIMEOUT = "240"
TOKEN = secrets.token_hex(3)  # names the attackers' files and processes in this session
DIGITS = str(1_000_000 + secrets.randbelow(8_999_999))
PEER = "h13_peer"  # the classmate f07 copies from (its folder name is its student id)

SECRETS = {
    "other clone solution": f"cvsecret-sol-{TOKEN}",
    "other clone gradebook": f"cvsecret-gb-{TOKEN}",
    "grader environment": f"cvsecret-env-{TOKEN}",
    "course folder notes": f"cvsecret-course-{TOKEN}",
    "classmate notebook": f"cvsecret-peer-{TOKEN}",
}
# Proof that a read worked, for reads whose content is not ours to plant.
READ_PROOF = {
    "f04_etc_shadow": ["shadow root"],  # the attack leaks only the first user name
    "f08_grader_output": ["isolation:"],  # the first line of grading.log
    "f05_proc_parent_environ": ["--course"],  # the grader's argv names the private folders
}

ATTACKS = {item.name: item for item in catalog.ATTACKS}
HOME = Path(pwd.getpwuid(os.getuid()).pw_dir)


def _render(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace(f"%%{key}%%", value)
    return text


# --------------------------------------------------------------------------- the world

def _plant_other_copy(base: Path, course_root: Path) -> Path | None:
    """Another copy of the course (a clone, a colleague's), with secrets in it."""
    other = base / f"cvk-other-{TOKEN}"
    try:
        shutil.copytree(course_root / "solutions", other / "solutions")
        (other / "course").mkdir(parents=True)
    except OSError:
        shutil.rmtree(other, ignore_errors=True)
        return None
    notebook_path = other / "solutions" / LESSON / f"{LESSON}.ipynb"
    notebook = nbformat.read(notebook_path, as_version=4)
    for cell in notebook.cells:
        if "### BEGIN SOLUTION" in cell.source:
            cell.source = cell.source.replace("### BEGIN SOLUTION",
                                              f"### BEGIN SOLUTION\n    # {SECRETS['other clone solution']}", 1)
    nbformat.write(notebook, notebook_path)
    shutil.copy(course_root / "course" / "nbgrader_config.py", other / "course")
    shutil.copy(course_root / "course" / "gradebook.db", other / "course")
    with sqlite3.connect(other / "course" / "gradebook.db") as db:
        db.execute("UPDATE source_cell SET source = ? || char(10) || source WHERE source LIKE '%HIDDEN%'",
                   (f"# {SECRETS['other clone gradebook']}",))
    db.close()
    return other


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _state(path: Path):
    try:
        return ("file", path.read_bytes())
    except FileNotFoundError:
        return ("absent", None)
    except OSError as error:
        return ("error", type(error).__name__)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def processes_with(markers) -> dict[str, list[int]]:
    """Live processes (not zombies) whose argv or name contains one of ``markers``."""
    found: dict[str, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue
        for marker in markers:
            if (marker in cmdline or marker in comm) and _alive(int(entry.name)):
                found.setdefault(marker, []).append(int(entry.name))
    return found


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The course, the secrets and the other copies the attackers go after; cleaned up after."""
    root = tmp_path_factory.mktemp("attacks")
    course = tiny_course.build_course(root)
    (course / "cvsecret-notes.txt").write_text(f"instructor notes: {SECRETS['course folder notes']}\n")
    others = [other for other in (_plant_other_copy(HOME, root),
                                  _plant_other_copy(Path(tempfile.gettempdir()), root)) if other]
    import convtrain.checks
    import convtrain.instructor.grading.guard
    import convtrain.instructor.grading.score

    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    values = {
        "T": TOKEN, "D": DIGITS, "PEER_SECRET": SECRETS["classmate notebook"],
        "HOME": str(HOME), "COURSE": str(course), "ROOT": str(root), "OUT": str(root / "out"),
        "SITE": site.getsitepackages()[0], "PYVER": version,
        "BASESITE": f"{sys.base_prefix}/lib/{version}/site-packages",
        "PYC:checks": importlib.util.cache_from_source(convtrain.checks.__file__),
        "PYC:guard": importlib.util.cache_from_source(convtrain.instructor.grading.guard.__file__),
        "PYC:score": importlib.util.cache_from_source(convtrain.instructor.grading.score.__file__),
    }
    targets = {name: [Path(_render(t, values)) for t in item.targets] for name, item in ATTACKS.items()}
    markers = {name: [_render(m, values) for m in item.markers] for name, item in ATTACKS.items()}
    before = {path: _state(path) for paths in targets.values() for path in paths}
    existing_dirs = {path: next(p for p in path.parents if p.exists()) for path in before}
    yield {"root": root, "course": course, "others": others, "values": values, "targets": targets,
           "markers": markers, "before": before}
    # Undo whatever got through: restore or remove the targets (and folders they made),
    # remove the other copies, kill the attackers' processes by pid.
    for path, (kind, content) in before.items():
        try:
            if kind == "file" and _state(path) != (kind, content):
                path.write_bytes(content)
            elif kind == "absent" and (path.exists() or path.is_symlink()):
                path.unlink()
            folder = path.parent
            while folder != existing_dirs[path] and folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
                folder = folder.parent
        except OSError:
            pass
    for other in others:
        shutil.rmtree(other, ignore_errors=True)
    for pids in processes_with([m for ms in markers.values() for m in ms]).values():
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


@pytest.fixture(scope="module")
def graded(world):
    """The whole attack cohort graded once by the real command (a subprocess), two jobs."""
    root, course = world["root"], world["course"]
    submissions, out = root / "submissions", root / "out"
    release = nbformat.read(root / "workshops" / LESSON / f"{LESSON}.ipynb", as_version=4)
    solution = nbformat.read(root / "solutions" / LESSON / f"{LESSON}.ipynb", as_version=4)
    catalog.write_cohort(submissions, release, solution, world["values"])
    handed_in = _tree(submissions)
    others_before = {str(other): _tree(other) for other in world["others"]}
    env = dict(os.environ, CVATK_GRADER_SECRET=SECRETS["grader environment"])
    command = [sys.executable, "-m", "convtrain.cli", "grade", str(submissions), "--out", str(out),
               "--course", str(course), "--jobs", "2", "--timeout-cell", CELL_TIMEOUT,
               "--timeout-notebook", NOTEBOOK_TIMEOUT]
    started = time.monotonic()
    with (root / "grade-command.txt").open("wb") as console:
        status = subprocess.run(command, env=env, stdout=console, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, timeout=3600).returncode
    seconds = time.monotonic() - started
    time.sleep(1.0)  # let a process killed at the very end disappear from /proc
    survivors = processes_with([m for ms in world["markers"].values() for m in ms])
    after = {path: _state(path) for path in world["before"]}
    # What the session saw, for a person reading the run afterwards (not used by the tests).
    (out / "attack-session.json").write_text(json.dumps({
        "seconds": round(seconds, 1), "status": status, "survivors": survivors,
        "changed_targets": sorted(str(p) for p, state in after.items() if state != world["before"][p]),
        "others_changed": [other for other, tree in others_before.items() if _tree(Path(other)) != tree],
        "submissions_changed": _tree(submissions) != handed_in}, indent=1))
    return {"status": status, "out": out, "seconds": seconds, "survivors": survivors,
            "after": after, "handed_in": handed_in, "submissions": submissions,
            "others_before": others_before, "console": (root / "grade-command.txt")}


def read_grades(out: Path) -> dict[str, tuple]:
    with (out / "grades.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    return {row["student_id"]: (row["assignment"], float(row["score"]), float(row["max_score"]),
                                {flag for flag in row["flags"].split(";") if flag}) for row in rows}


def log_lines(out: Path, student: str) -> str:
    lines = (out / "grading.log").read_text(errors="replace").splitlines()
    return "\n".join(line[:300] for line in lines if f"{student}/" in line or f" {student}:" in line)


# --------------------------------------------------------------------------- the tests

def test_exit_status_is_zero(graded):
    assert graded["status"] == 0, graded["console"].read_text(errors="replace")[-3000:]


def test_one_row_per_attack(graded):
    assert set(read_grades(graded["out"])) == set(ATTACKS)


def _by_class(predicate=lambda item: True):
    return [pytest.param(item.name, id=item.name) for item in catalog.ATTACKS if predicate(item)]


@pytest.mark.parametrize("name", _by_class())
def test_score_and_flags(graded, name):
    """The contract: a trick earns nothing; honest oddities get full marks and no flag."""
    item = ATTACKS[name]
    assignment, score, max_score, flags = read_grades(graded["out"])[name]
    assert (assignment, max_score) == (LESSON, FULL)
    problems = []
    if score != item.expect.score:
        problems.append(f"score {score:g}, contract {item.expect.score:g}")
    if not item.expect.admits(flags):
        problems.append(f"flags {';'.join(sorted(flags)) or '(none)'}, contract {item.expect.describe()}")
    assert not problems, (f"{name} ({catalog.CLASSES[item.klass]}: {item.summary}): "
                          + "; ".join(problems) + "\n" + log_lines(graded["out"], name))


@pytest.mark.parametrize("name", _by_class(lambda item: item.markers))
def test_no_process_outlives_grading(graded, world, name):
    alive = {marker: graded["survivors"][marker] for marker in world["markers"][name]
             if marker in graded["survivors"]}
    assert not alive, f"{name}: still running after `convtrain grade` returned: {alive}"


@pytest.mark.parametrize("name", _by_class(lambda item: item.targets))
def test_nothing_written_outside_scratch(graded, world, name):
    changed = [str(path) for path in world["targets"][name]
               if graded["after"][path] != world["before"][path]]
    assert not changed, f"{name} wrote outside its scratch folder: {changed}"


def test_other_course_copies_are_unchanged(graded, world):
    assert world["others"], "no other copy of the course could be planted"
    for other in world["others"]:
        assert _tree(other) == graded["others_before"][str(other)], f"{other} was changed"


def test_submissions_are_unchanged(graded):
    assert _tree(graded["submissions"]) == graded["handed_in"]


def test_grading_log_was_not_written_by_students(graded):
    assert f"cvk{TOKEN} fake log line" not in (graded["out"] / "grading.log").read_text(errors="replace")


@pytest.mark.parametrize("name", _by_class(lambda item: item.leaks))
def test_stolen_secrets_never_reach_the_feedback(graded, name):
    page = (graded["out"] / "feedback" / f"{name}.html").read_text(errors="replace")
    grades = (graded["out"] / "grades.csv").read_text(errors="replace")
    shown = [what for what, secret in SECRETS.items() if secret.lower() in (page + grades).lower()]
    shown += [proof for proof in READ_PROOF.get(name, []) if proof in page]
    assert not shown, f"{name}'s feedback shows what it read: {shown}"


def test_no_secret_on_any_feedback_page(graded):
    pages = {page.name: page.read_text(errors="replace") for page in (graded["out"] / "feedback").glob("*.html")}
    assert len(pages) == len(ATTACKS)
    shown = sorted({(name, what) for name, text in pages.items() for what, secret in SECRETS.items()
                    if secret.lower() in text.lower()})
    assert not shown, shown


def test_feedback_never_shows_hidden_tests(graded):
    hidden = ["double(randn)", "count_positive(more)", "noisy_mean([4])", "HIDDEN TESTS", "torch.randn(4, 5)"]
    for page in sorted((graded["out"] / "feedback").glob("*.html")):
        text = page.read_text(errors="replace")
        assert not [h for h in hidden if h in text], f"{page.name} shows hidden test text"


def test_report_how_long_the_cohort_took(graded, capsys):
    with capsys.disabled():
        print(f"\n[attack cohort: {len(ATTACKS)} notebooks graded in {graded['seconds']:.0f} s with --jobs 2]")
    assert graded["seconds"] > 0
