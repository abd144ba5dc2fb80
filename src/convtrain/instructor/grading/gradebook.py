"""The gradebook: what each assignment contains, as grading trusts it.

The gradebook (nbgrader's ``gradebook.db``) is the only thing grading trusts: it holds
every graded cell as the instructor wrote it (hidden tests included) and its points.
:func:`sync_gradebook` fills it from ``solutions/`` when a lesson is missing or has
changed since, so ``convtrain grade`` works right after a clone. Where the course and
its gradebook lie is :mod:`convtrain.instructor.course`'s business.

>>> from convtrain.instructor.course import load_course
>>> course = load_course()  # doctest: +SKIP
>>> load_assignments(course)["00_building_blocks"].max_score  # doctest: +SKIP
9.0
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import shutil
import tempfile
import time
from pathlib import Path

import nbformat

from convtrain.instructor.course import (
    Course,
    CourseError,
    generate_assignments,
    nbgrader_meta,
    split_hidden,
)


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
    def is_written(self) -> bool:
        """A written answer graded by a person: a Markdown cell with points that the student
        fills in (nbgrader's "manually graded answer")."""
        return self.grade and self.solution and self.cell_type == "markdown"

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
    """One lesson notebook: its cells in notebook order and the folder of its data files.

    ``titles`` are ``(test id, heading)`` pairs: the lesson's markdown heading that
    introduces each exercise (e.g. "Exercise 2: `streaming_mean_std`"), where it has one.
    ``questions`` are ``(written answer id, question)`` pairs: the Markdown cell right before
    each written answer in the release, which locates the answer in a notebook that lost
    its metadata; ``given_texts`` the release's other Markdown cells (normalized), which are
    never taken for an answer.
    """

    name: str
    notebook: str
    cells: tuple[CellSpec, ...]
    files_dir: Path | None
    titles: tuple[tuple[str, str], ...] = ()
    questions: tuple[tuple[str, str], ...] = ()
    given_texts: frozenset[str] = frozenset()

    @property
    def tests(self) -> tuple[CellSpec, ...]:
        return tuple(cell for cell in self.cells if cell.is_test)

    @property
    def exercises(self) -> tuple[tuple[CellSpec, tuple[CellSpec, ...]], ...]:
        """``(test cell, its answer cells)`` in notebook order: answer cells belong to the next
        test cell (as in :func:`convtrain.instructor.cohort.exercises`)."""
        found, pending = [], []
        for cell in self.cells:
            if cell.solution and not cell.grade:
                pending.append(cell)
            elif cell.is_test:
                found.append((cell, tuple(pending)))
                pending = []
        return tuple(found)

    def answers(self, test_id: str) -> tuple[CellSpec, ...]:
        """The answer cells graded by the test cell ``test_id``."""
        return next((answers for test, answers in self.exercises if test.name == test_id), ())

    def title(self, test_id: str) -> str:
        """The heading of the exercise that ``test_id`` grades, or "" when it has none."""
        return dict(self.titles).get(test_id, "")

    @property
    def written(self) -> tuple[CellSpec, ...]:
        """The written answers, graded by a person in the formgrader."""
        return tuple(cell for cell in self.cells if cell.is_written)

    def question(self, written_id: str) -> str:
        """The question a written answer answers (its Markdown), or "" when unknown."""
        return dict(self.questions).get(written_id, "")

    @property
    def max_score(self) -> float:
        """Every point of the lesson: the tests' and the written answers'."""
        return float(sum(cell.points for cell in self.cells if cell.grade))

    @property
    def written_max_score(self) -> float:
        """The points that only a person can give (written answers)."""
        return float(sum(cell.points for cell in self.written))

    @property
    def fingerprint(self) -> str:
        """Changes whenever a graded cell, its points or an exercise's heading change (keys the
        result cache: feedback messages name the headings)."""
        digest = hashlib.sha256()
        for cell in self.cells:
            digest.update(f"{cell.name}\0{cell.points}\0{cell.source}\0".encode())
        for test_id, title in self.titles:
            digest.update(f"title\0{test_id}\0{title}\0".encode())
        for written_id, question in self.questions:
            digest.update(f"question\0{written_id}\0{question}\0".encode())
        return digest.hexdigest()[:16]


# --------------------------------------------------------------------------- the gradebook

def gradebook_exists(course: Course) -> bool:
    """Whether the gradebook has been created: its SQLite file exists, or the PostgreSQL
    database holds nbgrader's tables (an empty database is a gradebook still to create)."""
    if course.is_sqlite:
        return course.gradebook.exists()
    return bool(_postgres_tables(course))


def _postgres_tables(course: Course) -> set[str]:
    import sqlalchemy

    try:
        engine = sqlalchemy.create_engine(course.db_url)
        try:
            return set(sqlalchemy.inspect(engine).get_table_names())
        finally:
            engine.dispose()
    except Exception as error:  # noqa: BLE001 - no server, no driver, bad URL, no rights
        raise CourseError(f"Cannot open the gradebook {course.gradebook_name}: "
                          f"{type(error).__name__}: {str(error).strip()[:300]}") from error


def check_gradebook(course: Course) -> None:
    """Raise :class:`CourseError` when the gradebook exists but cannot be read as a database
    (PostgreSQL: when the server cannot be reached, or the database holds tables that are not
    nbgrader's).

    The message names the newest backup and the command that restores it; nothing is
    graded into a damaged gradebook.
    """
    if not course.is_sqlite:
        tables = _postgres_tables(course)
        if tables and "assignment" not in tables:
            raise CourseError(f"The database {course.gradebook_name} holds tables but not "
                              "nbgrader's; nothing was graded. Name an empty database or an "
                              "nbgrader gradebook.")
        return
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
    """Copy the gradebook to ``gradebook.db.<UTC time>.bak`` next to it; return the copy.

    PostgreSQL: ``pg_dump`` (from PATH, else Debian's ``/usr/lib/postgresql/*/bin``) writes
    ``gradebook.<UTC time>.sql`` in the course root (restore: ``psql URL -f FILE`` into an
    empty database). Raises :class:`CourseError` when that cannot be done.
    """
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    if not course.is_sqlite:
        return _pg_dump(course, course.root / f"gradebook.{stamp}.sql")
    if not course.gradebook.exists():
        return None
    backup = course.gradebook.with_name(f"{course.gradebook.name}.{stamp}.bak")
    shutil.copy2(course.gradebook, backup)
    return backup


def pg_tool(name: str) -> str | None:
    """A PostgreSQL client program: on PATH, else the newest of Debian's versioned folders."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
                        key=lambda path: int(path.parts[-3]) if path.parts[-3].isdigit() else 0)
    return str(candidates[-1]) if candidates else None


def _pg_dump(course: Course, target: Path) -> Path | None:
    import subprocess

    if not gradebook_exists(course):
        return None
    program = pg_tool("pg_dump")
    if program is None:
        raise CourseError("pg_dump was not found (Debian: apt-get install postgresql-client); "
                          f"the gradebook {course.gradebook_name} was not backed up.")
    url = re.sub(r"^postgresql\+\w+://", "postgresql://", course.db_url)  # libpq's URI form
    result = subprocess.run([program, "--no-owner", f"--file={target}", f"--dbname={url}"],
                            capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        target.unlink(missing_ok=True)
        raise CourseError(f"pg_dump could not back up {course.gradebook_name}: "
                          f"{result.stderr.strip()[-300:]}")
    return target


def stale_lessons(course: Course) -> list[str]:
    """Lessons whose graded cells in ``solutions/`` differ from the gradebook (or are absent)."""
    recorded = _recorded_tests(course)
    stale = []
    for lesson in course.lessons():
        path = course.source_dir / lesson / f"{lesson}.ipynb"
        if _solution_tests(path) != recorded.get((lesson, lesson)):
            stale.append(lesson)
    return stale


def _solution_tests(path: Path) -> dict[str, tuple[str, float]]:
    notebook = nbformat.read(path, as_version=4)
    tests = {}
    for cell in notebook.cells:
        meta = nbgrader_meta(cell)
        if meta.get("grade") and not meta.get("solution"):
            tests[meta["grade_id"]] = (cell.source, float(meta.get("points", 0)))
        elif meta.get("grade") and cell.cell_type == "markdown":  # a written answer
            tests[meta["grade_id"]] = ("", float(meta.get("points", 0)))
    return tests


def _recorded_tests(course: Course) -> dict[tuple[str, str], dict[str, tuple[str, float]]]:
    if not gradebook_exists(course):
        return {}
    from nbgrader.api import Gradebook

    recorded: dict[tuple[str, str], dict[str, tuple[str, float]]] = {}
    with Gradebook(course.db_url) as gradebook:
        for assignment in gradebook.assignments:
            for notebook in assignment.notebooks:
                points = {cell.name: float(cell.max_score) for cell in notebook.grade_cells}
                solutions = {solution.name for solution in notebook.solution_cells}
                recorded[(assignment.name, notebook.name)] = {
                    cell.name: ("" if cell.name in solutions else cell.source, points[cell.name])
                    for cell in notebook.source_cells
                    if cell.name in points and (cell.name not in solutions
                                                or cell.cell_type == "markdown")
                }
    return recorded


def sync_gradebook(course: Course, log=lambda message, screen=True: print(message)) -> list[str]:
    """Record in the gradebook every lesson that is missing from it or changed; return them.

    Runs nbgrader's ``generate_assignment`` in this process with the release written
    to a scratch folder (``workshops/`` is ``convtrain build``'s business). The
    gradebook is backed up first.
    """
    stale = stale_lessons(course)
    if not stale:
        return []
    try:
        backup = backup_gradebook(course)
    except CourseError as error:
        log(f"{error} Going on: nbgrader only adds or replaces the lessons {', '.join(stale)}.")
        backup = None
    if backup:
        log(f"gradebook backed up to {backup}", screen=False)
    with tempfile.TemporaryDirectory(prefix="convtrain-release-") as scratch:
        generate_assignments(course, stale, Path(scratch), course.gradebook, log=log)
    return stale


def load_assignments(course: Course) -> dict[str, Assignment]:
    """Every notebook the gradebook knows, keyed by lesson id (``lesson/notebook`` when a
    lesson has several notebooks), cells in the order of the source notebook."""
    if not gradebook_exists(course):
        raise CourseError(f"No gradebook at {course.gradebook_name}. `convtrain grade` creates it "
                          "from solutions/ on its first run; with a course of your own, run "
                          "`nbgrader generate_assignment LESSON` in the course folder.")
    from nbgrader.api import Gradebook

    assignments = {}
    with Gradebook(course.db_url) as gradebook:
        for assignment in gradebook.assignments:
            for notebook in assignment.notebooks:
                key = assignment.name if len(assignment.notebooks) == 1 else \
                    f"{assignment.name}/{notebook.name}"
                lesson_cells = _lesson_cells(course, assignment.name, notebook.name)
                assignments[key] = Assignment(
                    name=key, notebook=notebook.name,
                    cells=_ordered_cells(notebook, lesson_cells),
                    files_dir=_files_dir(course, assignment.name),
                    titles=exercise_titles(lesson_cells),
                    questions=written_questions(lesson_cells),
                    given_texts=given_markdown(lesson_cells),
                )
    return assignments


def _ordered_cells(notebook, lesson_cells: list) -> tuple[CellSpec, ...]:
    points = {cell.name: float(cell.max_score) for cell in notebook.grade_cells}
    solutions = {cell.name for cell in notebook.solution_cells}
    cells = {cell.name: CellSpec(
        name=cell.name, cell_type=cell.cell_type, source=cell.source or "", locked=cell.locked,
        solution=cell.name in solutions, grade=cell.name in points,
        points=points.get(cell.name, 0.0)) for cell in notebook.source_cells}
    ids = [nbgrader_meta(cell).get("grade_id") for cell in lesson_cells]
    order = {grade_id: index for index, grade_id in enumerate(ids) if grade_id}
    ranked = sorted(cells, key=lambda name: (order.get(name, len(order)), name))
    return tuple(cells[name] for name in ranked)


def _lesson_cells(course: Course, assignment: str, notebook: str) -> list:
    """The cells of the release notebook, or else the source notebook ([] if neither exists)."""
    for folder in (course.release_dir, course.source_dir):
        path = folder / assignment / f"{notebook}.ipynb"
        if path.is_file():
            return list(nbformat.read(path, as_version=4).cells)
    return []


EXERCISE_HEADING = re.compile(r"\b(exercise|task|question|problem)\b", re.IGNORECASE)
POINTS_NOTE = re.compile(r"\s*\(\s*\d+(?:\.\d+)?\s*points?\b[^)]*\)", re.IGNORECASE)


def exercise_titles(cells: list) -> tuple[tuple[str, str], ...]:
    """``(test id, heading)`` per exercise of a lesson notebook's cells.

    The heading is the last Markdown heading that names an exercise ("Exercise 2", "Task",
    "Question", "Problem") between the previous test cell and the exercise's first answer
    cell (else its test cell), without its "#" marks, leading symbols and "(N points)".
    """
    titles, heading, answered = [], "", False
    for cell in cells:
        meta = nbgrader_meta(cell)
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        if cell.get("cell_type") == "markdown" and meta.get("grade"):  # a written answer
            heading = ""
        elif cell.get("cell_type") == "markdown" and not answered:
            for line in source.splitlines():
                if line.startswith("#") and EXERCISE_HEADING.search(line):
                    heading = clean_heading(line)
        elif meta.get("solution") and not meta.get("grade"):
            answered = True
        elif meta.get("grade") and not meta.get("solution") and cell.get("cell_type") == "code":
            if heading and meta.get("grade_id"):
                titles.append((meta["grade_id"], heading))
            heading, answered = "", False
    return tuple(titles)


def written_questions(cells: list) -> tuple[tuple[str, str], ...]:
    """``(written answer id, question)`` per written answer of a lesson notebook's cells: the
    text of the Markdown cell just before it."""
    found = []
    for previous, cell in zip([None, *cells], cells):
        meta = nbgrader_meta(cell)
        if cell.get("cell_type") == "markdown" and meta.get("grade") and meta.get("solution") \
                and previous is not None and previous.get("cell_type") == "markdown":
            source = previous.get("source", "")
            found.append((meta["grade_id"], "".join(source) if isinstance(source, list) else source))
    return tuple(found)


def given_markdown(cells: list) -> frozenset[str]:
    """The normalized text of every Markdown cell of the release that is not a written answer."""
    from convtrain.instructor.grading.discover import normalize

    return frozenset(normalize("".join(cell.get("source", "")) if isinstance(cell.get("source"), list)
                               else cell.get("source", ""))
                     for cell in cells if cell.get("cell_type") == "markdown"
                     and not (nbgrader_meta(cell).get("grade") and nbgrader_meta(cell).get("solution")))


def clean_heading(line: str) -> str:
    """ "### ✏️ Exercise 1 (3 points): `conv2d`" -> "Exercise 1: `conv2d`"."""
    text = POINTS_NOTE.sub("", line.lstrip("#").strip())
    text = re.sub(r"^[^\w`*_(\[]+", "", text)  # emoji and other symbols in front
    return re.sub(r"\s+", " ", text).strip()


def _files_dir(course: Course, assignment: str) -> Path | None:
    """The release folder of a lesson: its data files are copied next to each run."""
    folder = course.release_dir / assignment
    return folder if folder.is_dir() else None
