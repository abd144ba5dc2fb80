"""The course being graded: its folders, its gradebook, and what each assignment contains.

The gradebook (nbgrader's ``gradebook.db``) is the only thing grading trusts: it holds
every graded cell as the instructor wrote it (hidden tests included) and its points.
:func:`sync_gradebook` fills it from ``solutions/`` when a lesson is missing or has
changed since, so ``convtrain grade`` works right after a clone.

>>> course = load_course(find_course())
>>> assignments = load_assignments(course)
>>> assignments["00_building_blocks"].max_score
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat

BEGIN_HIDDEN = "BEGIN HIDDEN TESTS"
REPOSITORY_PRIVATE = (".git", "artifacts", "notes", ".pytest_cache", "build", "dist")
END_HIDDEN = "END HIDDEN TESTS"


class CourseError(RuntimeError):
    """Grading cannot run at all (no course, no gradebook, broken config)."""


@dataclasses.dataclass(frozen=True)
class CellSpec:
    """One cell the gradebook knows, as the instructor wrote it.

    ``source`` is the gradebook's text: for a test cell the whole test, hidden part
    included; for an answer cell the stub students start from.
    """

    name: str
    cell_type: str
    source: str
    locked: bool
    solution: bool
    grade: bool
    points: float

    @property
    def is_test(self) -> bool:
        """A graded code cell that is not an answer: it runs the instructor's tests."""
        return self.grade and not self.solution and self.cell_type == "code"

    @property
    def release_source(self) -> str:
        """The text students received (hidden tests removed, as nbgrader does)."""
        return "\n".join(text for hidden, text in split_hidden(self.source) if not hidden)

    def metadata(self) -> dict:
        """The nbgrader cell metadata a release carries for this cell."""
        meta = {"grade": self.grade, "grade_id": self.name, "locked": self.locked,
                "schema_version": 3, "solution": self.solution, "task": False}
        if self.grade:
            meta["points"] = self.points
        return meta


@dataclasses.dataclass(frozen=True)
class Assignment:
    """One lesson notebook: its cells in notebook order and the folder of its data files."""

    name: str
    notebook: str
    cells: tuple[CellSpec, ...]
    files_dir: Path | None

    @property
    def tests(self) -> tuple[CellSpec, ...]:
        return tuple(cell for cell in self.cells if cell.is_test)

    @property
    def max_score(self) -> float:
        return float(sum(cell.points for cell in self.cells if cell.grade))

    @property
    def fingerprint(self) -> str:
        """Changes whenever a graded cell or its points change (keys the result cache)."""
        digest = hashlib.sha256()
        for cell in self.cells:
            digest.update(f"{cell.name}\0{cell.points}\0{cell.source}\0".encode())
        return digest.hexdigest()[:16]


@dataclasses.dataclass(frozen=True)
class Course:
    """Where an nbgrader course keeps things (read from its ``nbgrader_config.py``)."""

    root: Path
    source_dir: Path
    release_dir: Path
    gradebook: Path

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.gradebook}"

    def private_paths(self) -> list[Path]:
        """What student code must never see: the course root (gradebook), the solutions, and in
        the repository around them the git history (it holds every hidden test) and CI output."""
        paths = [self.root, self.source_dir, self.gradebook.parent]
        for folder in {self.root.parent, self.source_dir.parent}:
            if (folder / ".git").exists():
                paths += [folder / name for name in REPOSITORY_PRIVATE if (folder / name).exists()]
        return paths


def find_course(explicit: Path | None = None, start: Path | None = None) -> Path:
    """The course folder: ``explicit``, else ``course/`` above ``start`` (the current
    directory), else the one next to this package's source checkout.

    Raises:
        CourseError: when none holds an ``nbgrader_config.py``.
    """
    if explicit is not None:
        folder = Path(explicit).resolve()
        if not (folder / "nbgrader_config.py").is_file():
            raise CourseError(f"{folder} is not a course folder (no nbgrader_config.py in it). "
                              "Pass --course with the folder that holds nbgrader_config.py.")
        return folder
    here = (start or Path.cwd()).resolve()
    package_checkout = Path(__file__).resolve().parents[3]
    for folder in [here, *here.parents, package_checkout]:
        for candidate in (folder / "course", folder):
            if (candidate / "nbgrader_config.py").is_file():
                return candidate
    raise CourseError("No course found: run from the repository (it has course/nbgrader_config.py) "
                      "or pass --course DIR.")


def load_course(course_dir: Path) -> Course:
    """Read the folders and gradebook location from ``course_dir/nbgrader_config.py``."""
    from traitlets.config.loader import PyFileConfigLoader

    try:
        config = PyFileConfigLoader("nbgrader_config.py", path=str(course_dir)).load_config()
    except Exception as error:  # noqa: BLE001 - any error in the config file stops grading
        raise CourseError(f"Cannot read {course_dir / 'nbgrader_config.py'}: {error}") from error
    settings = config.get("CourseDirectory", {})
    root = Path(settings.get("root", course_dir)).resolve()
    db_url = settings.get("db_url", f"sqlite:///{root / 'gradebook.db'}")
    if not db_url.startswith("sqlite:///"):
        raise CourseError(f"Only SQLite gradebooks are supported, the config names {db_url}.")
    return Course(
        root=root,
        source_dir=(root / settings.get("source_directory", "source")).resolve(),
        release_dir=(root / settings.get("release_directory", "release")).resolve(),
        gradebook=Path(db_url.removeprefix("sqlite:///")).resolve(),
    )


def split_hidden(source: str) -> list[tuple[bool, str]]:
    """Split a test cell into ``(hidden, text)`` regions, delimiter lines dropped.

    >>> split_hidden("a\\n### BEGIN HIDDEN TESTS\\nb\\n### END HIDDEN TESTS\\nc")
    [(False, 'a'), (True, 'b'), (False, 'c')]
    """
    regions: list[tuple[bool, list[str]]] = [(False, [])]
    for line in source.splitlines():
        if BEGIN_HIDDEN in line:
            regions.append((True, []))
        elif END_HIDDEN in line:
            regions.append((False, []))
        else:
            regions[-1][1].append(line)
    texts = [(hidden, "\n".join(lines)) for hidden, lines in regions]
    return [(hidden, text) for hidden, text in texts if text.strip()] or [(False, "")]


# --------------------------------------------------------------------------- the gradebook

def lesson_ids(course: Course) -> list[str]:
    """Lessons in the source folder: ``NAME/NAME.ipynb`` (or any notebook in NAME/)."""
    if not course.source_dir.is_dir():
        return []
    return sorted(folder.name for folder in course.source_dir.iterdir()
                  if folder.is_dir() and any(folder.glob("*.ipynb")))


def check_gradebook(course: Course) -> None:
    """Raise :class:`CourseError` when the gradebook exists but cannot be read as a database.

    The message names the newest backup and the command that restores it; nothing is
    graded into a damaged gradebook.
    """
    import sqlite3

    if not course.gradebook.exists():
        return
    problem = None
    try:
        connection = sqlite3.connect(f"file:{course.gradebook}?mode=ro", uri=True)
        try:
            verdict = connection.execute("PRAGMA quick_check").fetchone()
            tables = {row[0] for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            connection.close()
        if not verdict or verdict[0] != "ok":
            problem = f"SQLite reports: {verdict[0] if verdict else 'no answer'}"
        elif "assignment" not in tables:
            problem = "it holds no nbgrader tables"
    except sqlite3.DatabaseError as error:
        problem = str(error)
    if problem is None:
        return
    backups = sorted(course.gradebook.parent.glob(f"{course.gradebook.name}.*.bak"))
    if backups:
        advice = (f"The newest backup is {backups[-1]}. Restore it with:\n"
                  f"    cp '{backups[-1]}' '{course.gradebook}'\nthen run `convtrain grade` again "
                  "(submissions graded since that backup are graded again).")
    else:
        advice = (f"No backup ({course.gradebook.name}.<time>.bak) was found next to it. Move the "
                  "damaged file away and run `convtrain grade` again: the lessons are recorded "
                  "anew from solutions/ (manual grades in the damaged file are lost).")
    raise CourseError(f"The gradebook {course.gradebook} is damaged ({problem}); nothing was "
                      f"graded.\n{advice}")


def backup_gradebook(course: Course) -> Path | None:
    """Copy the gradebook to ``gradebook.db.<UTC time>.bak`` next to it; return the copy."""
    if not course.gradebook.exists():
        return None
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    backup = course.gradebook.with_name(f"{course.gradebook.name}.{stamp}.bak")
    shutil.copy2(course.gradebook, backup)
    return backup


def stale_lessons(course: Course) -> list[str]:
    """Lessons whose graded cells in ``solutions/`` differ from the gradebook (or are absent)."""
    recorded = _recorded_tests(course)
    stale = []
    for lesson in lesson_ids(course):
        for path in sorted((course.source_dir / lesson).glob("*.ipynb")):
            if _solution_tests(path) != recorded.get((lesson, path.stem)):
                stale.append(lesson)
                break
    return stale


def _solution_tests(path: Path) -> dict[str, tuple[str, float]]:
    notebook = nbformat.read(path, as_version=4)
    tests = {}
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):
            tests[meta["grade_id"]] = (cell.source, float(meta.get("points", 0)))
    return tests


def _recorded_tests(course: Course) -> dict[tuple[str, str], dict[str, tuple[str, float]]]:
    if not course.gradebook.exists():
        return {}
    from nbgrader.api import Gradebook

    recorded: dict[tuple[str, str], dict[str, tuple[str, float]]] = {}
    with Gradebook(course.db_url) as gradebook:
        for assignment in gradebook.assignments:
            for notebook in assignment.notebooks:
                points = {cell.name: float(cell.max_score) for cell in notebook.grade_cells}
                recorded[(assignment.name, notebook.name)] = {
                    cell.name: (cell.source, points[cell.name]) for cell in notebook.source_cells
                    if cell.name in points and cell.name not in
                    {solution.name for solution in notebook.solution_cells}
                }
    return recorded


def sync_gradebook(course: Course, log=print) -> list[str]:
    """Record in the gradebook every lesson that is missing from it or changed; return them.

    Runs nbgrader's ``generate_assignment`` in this process with the release written
    to a scratch folder (``workshops/`` is ``convtrain build``'s business). The
    gradebook is backed up first.
    """
    stale = stale_lessons(course)
    if not stale:
        return []
    from nbgrader.apps import NbGraderAPI
    from traitlets.config.loader import PyFileConfigLoader

    backup = backup_gradebook(course)
    if backup:
        log(f"gradebook backed up to {backup}")
    _put_python_bin_on_path()  # nbgrader runs the `alembic` executable next to this Python
    config = PyFileConfigLoader("nbgrader_config.py", path=str(course.root)).load_config()
    with tempfile.TemporaryDirectory(prefix="convtrain-release-") as scratch:
        config.CourseDirectory.root = str(course.root)
        config.CourseDirectory.source_directory = str(course.source_dir)
        config.CourseDirectory.release_directory = scratch
        config.CourseDirectory.db_url = course.db_url
        api = NbGraderAPI(config=config)
        for lesson in stale:
            log(f"recording {lesson} in the gradebook (nbgrader generate_assignment)")
            result = api.generate_assignment(lesson, force=True, create=True)
            if not result["success"]:
                raise CourseError(f"nbgrader could not record {lesson} in {course.gradebook}:\n"
                                  f"{result.get('error') or result.get('log')}")
    return stale


def _put_python_bin_on_path() -> None:
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


def load_assignments(course: Course) -> dict[str, Assignment]:
    """Every notebook the gradebook knows, keyed by lesson id (``lesson/notebook`` when a
    lesson has several notebooks), cells in the order of the source notebook."""
    if not course.gradebook.exists():
        raise CourseError(f"No gradebook at {course.gradebook}. Run `convtrain build` or "
                          "`nbgrader generate_assignment LESSON` in the course folder first.")
    from nbgrader.api import Gradebook

    assignments = {}
    with Gradebook(course.db_url) as gradebook:
        for assignment in gradebook.assignments:
            for notebook in assignment.notebooks:
                key = assignment.name if len(assignment.notebooks) == 1 else \
                    f"{assignment.name}/{notebook.name}"
                assignments[key] = Assignment(
                    name=key, notebook=notebook.name,
                    cells=_ordered_cells(course, assignment.name, notebook),
                    files_dir=_files_dir(course, assignment.name),
                )
    return assignments


def _ordered_cells(course: Course, assignment: str, notebook) -> tuple[CellSpec, ...]:
    points = {cell.name: float(cell.max_score) for cell in notebook.grade_cells}
    solutions = {cell.name for cell in notebook.solution_cells}
    cells = {cell.name: CellSpec(
        name=cell.name, cell_type=cell.cell_type, source=cell.source or "", locked=cell.locked,
        solution=cell.name in solutions, grade=cell.name in points,
        points=points.get(cell.name, 0.0)) for cell in notebook.source_cells}
    order = _notebook_order(course, assignment, notebook.name)
    ranked = sorted(cells, key=lambda name: (order.get(name, len(order)), name))
    return tuple(cells[name] for name in ranked)


def _notebook_order(course: Course, assignment: str, notebook: str) -> dict[str, int]:
    """grade_id -> position, from the release notebook or else the source notebook."""
    for folder in (course.release_dir, course.source_dir):
        path = folder / assignment / f"{notebook}.ipynb"
        if path.is_file():
            cells = nbformat.read(path, as_version=4).cells
            ids = [cell.metadata.get("nbgrader", {}).get("grade_id") for cell in cells]
            return {grade_id: index for index, grade_id in enumerate(ids) if grade_id}
    return {}


def _files_dir(course: Course, assignment: str) -> Path | None:
    """The release folder of a lesson: its data files are copied next to each run."""
    folder = course.release_dir / assignment
    return folder if folder.is_dir() else None
