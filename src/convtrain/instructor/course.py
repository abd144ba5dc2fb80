"""The course on disk: where it is, what a lesson is, its nbgrader config, and the
metadata nbgrader writes into cells. Every other instructor module asks this one.

A checkout of the course looks like this::

    course/nbgrader_config.py              the nbgrader course root (gradebook.db lands here)
    solutions/NN_topic/NN_topic.ipynb      a lesson, as the instructor writes it
    workshops/NN_topic/NN_topic.ipynb      the student version, generated from it

A lesson is a folder ``NN_topic`` (two digits, lower-case words) holding a notebook
of the same name. Building, testing and grading all use :func:`lessons`, so a folder
that does not follow the pattern is none of them (and :func:`misnamed_lessons` says so).

>>> LESSON_PATTERN.match("02_dropout") is not None, LESSON_PATTERN.match("Dropout") is None
(True, True)
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from pathlib import Path

LESSON_PATTERN = re.compile(r"^\d\d_[a-z0-9_]+$")
BEGIN_HIDDEN = "BEGIN HIDDEN TESTS"
END_HIDDEN = "END HIDDEN TESTS"
BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
# In the repository around the course, what student code must not see either: the git
# history holds every hidden test, and CI output holds executed solutions.
REPOSITORY_PRIVATE = (".git", "artifacts", "notes", ".pytest_cache", "build", "dist")


class CourseError(RuntimeError):
    """The course cannot be used at all (not found, broken config, damaged gradebook)."""


@dataclasses.dataclass(frozen=True)
class Course:
    """Where an nbgrader course keeps things (read from its ``nbgrader_config.py``)."""

    root: Path  # the folder holding nbgrader_config.py
    source_dir: Path  # solutions/
    release_dir: Path
    gradebook: Path | None  # the SQLite file; None when the gradebook is a server's
    database: str | None = None  # the URL of a server's gradebook (PostgreSQL), else None

    @property
    def db_url(self) -> str:
        return self.database or f"sqlite:///{self.gradebook}"

    @property
    def is_sqlite(self) -> bool:
        return self.database is None

    @property
    def gradebook_name(self) -> str:
        """The gradebook in messages: its file, or its URL without the password."""
        if self.is_sqlite:
            return str(self.gradebook)
        return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", self.database)

    @property
    def workshops_dir(self) -> Path:
        """Where the generated student notebooks are committed (next to the sources)."""
        return self.source_dir.parent / "workshops"

    def lessons(self) -> list[str]:
        """The lesson ids of this course, in order (see :func:`lessons`)."""
        return lessons(self.source_dir)

    def private_paths(self) -> list[Path]:
        """What student code must never see: the course root (gradebook), the solutions, and in
        the repository around them the git history and CI output."""
        paths = [self.root, self.source_dir, *([self.gradebook.parent] if self.gradebook else [])]
        for folder in {self.root.parent, self.source_dir.parent}:
            if (folder / ".git").exists():
                paths += [folder / name for name in REPOSITORY_PRIVATE if (folder / name).exists()]
        return paths


# --------------------------------------------------------------------------- finding it

def find_course(explicit: Path | None = None, start: Path | None = None) -> Path:
    """The course folder: ``explicit``, else ``course/`` above ``start`` (the current
    directory), else the one next to this package's source checkout (editable installs).

    Raises:
        CourseError: when none holds an ``nbgrader_config.py``.
    """
    if explicit is not None:
        folder = Path(explicit).resolve()
        if not (folder / "nbgrader_config.py").is_file():
            raise CourseError(f"{folder} is not a course folder (no nbgrader_config.py in it). "
                              "Pass --course with the folder that holds nbgrader_config.py.")
        return folder
    here = Path(start or Path.cwd()).resolve()
    package_checkout = Path(__file__).resolve().parents[3]
    for folder in [here, *here.parents, package_checkout]:
        for candidate in (folder / "course", folder):
            if (candidate / "nbgrader_config.py").is_file():
                return candidate
    raise CourseError("No course found: run this inside a clone of the convtrain repository "
                      "(it has course/nbgrader_config.py), or pass --course DIR.")


def load_course(course_dir: Path | None = None, db_url: str | None = None) -> Course:
    """Read the folders and gradebook location from ``course_dir/nbgrader_config.py``
    (default: :func:`find_course`). ``db_url`` (``convtrain grade --db``) overrides the
    config's ``CourseDirectory.db_url``: ``sqlite:///FILE`` (the default, ``gradebook.db`` in
    the course root) or ``postgresql://USER:PASSWORD@HOST:PORT/DATABASE``."""
    course_dir = find_course() if course_dir is None else Path(course_dir)
    config = _read_config(course_dir)
    settings = config.get("CourseDirectory", {})
    root = Path(settings.get("root", course_dir)).resolve()
    db_url = db_url or settings.get("db_url", f"sqlite:///{root / 'gradebook.db'}")
    folders = dict(root=root,
                   source_dir=(root / settings.get("source_directory", "source")).resolve(),
                   release_dir=(root / settings.get("release_directory", "release")).resolve())
    if db_url.startswith("sqlite:///"):
        return Course(**folders, gradebook=Path(db_url.removeprefix("sqlite:///")).resolve())
    if POSTGRES_URL.match(db_url):
        return Course(**folders, gradebook=None, database=postgres_url(db_url))
    raise CourseError(f"Unsupported gradebook {db_url}: use sqlite:///FILE or "
                      "postgresql://USER:PASSWORD@HOST:PORT/DATABASE.")


POSTGRES_URL = re.compile(r"^postgres(ql)?(\+\w+)?://")


def postgres_url(url: str) -> str:
    """The SQLAlchemy form of a PostgreSQL URL: ``postgresql+psycopg2://`` when it names no
    driver (SQLAlchemy 2.1 would look for psycopg 3; ``convtrain[postgres]`` installs psycopg2).

    >>> postgres_url("postgres://grader@db.example.org/course")
    'postgresql+psycopg2://grader@db.example.org/course'
    """
    return re.sub(r"^postgres(ql)?://", "postgresql+psycopg2://", url)


def repo_root(start: Path | None = None) -> Path:
    """The checkout around the course: the folder holding ``course/`` and ``solutions/``."""
    course = load_course(find_course(start=start))
    if not course.source_dir.is_dir():
        raise CourseError(f"The course at {course.root} has no {course.source_dir.name}/ folder "
                          "next to it. Run this inside a clone of the convtrain repository.")
    return course.source_dir.parent


def _read_config(course_dir: Path):
    from traitlets.config.loader import PyFileConfigLoader

    try:
        return PyFileConfigLoader("nbgrader_config.py", path=str(course_dir)).load_config()
    except Exception as error:  # noqa: BLE001 - any error in the config file stops the command
        raise CourseError(f"Cannot read {Path(course_dir) / 'nbgrader_config.py'}: {error}") \
            from error


# --------------------------------------------------------------------------- lessons

def lessons(source_dir: Path) -> list[str]:
    """Lesson ids (``NN_topic``) with a notebook ``NN_topic/NN_topic.ipynb`` in ``source_dir``."""
    source_dir = Path(source_dir)
    if not source_dir.is_dir():
        return []
    return [folder.name for folder in sorted(source_dir.iterdir())
            if LESSON_PATTERN.match(folder.name) and (folder / f"{folder.name}.ipynb").is_file()]


def misnamed_lessons(source_dir: Path) -> list[str]:
    """Folders of ``source_dir`` that hold a notebook but are not lessons (misnamed)."""
    source_dir = Path(source_dir)
    if not source_dir.is_dir():
        return []
    found = set(lessons(source_dir))
    return [folder.name for folder in sorted(source_dir.iterdir())
            if folder.is_dir() and folder.name not in found and any(folder.glob("*.ipynb"))]


# --------------------------------------------------------------------------- nbgrader

def nbgrader_meta(cell) -> dict:
    """The ``nbgrader`` metadata of a cell (a dict or an nbformat node); ``{}`` when absent."""
    metadata = cell.get("metadata") if hasattr(cell, "get") else None
    meta = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    return meta if isinstance(meta, dict) else {}


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


def without_solution_markers(source: str) -> str:
    """A solution cell's text as a student's answer: the marker lines removed.

    >>> without_solution_markers("### BEGIN SOLUTION\\nx = 1\\n### END SOLUTION")
    'x = 1'
    """
    return "\n".join(line for line in source.split("\n")
                     if line.strip() not in (BEGIN_SOLUTION, END_SOLUTION))


def generate_assignments(course: Course, lesson_ids: list[str], release_dir: Path,
                         gradebook: Path | None = None, log=None) -> dict[str, Path]:
    """nbgrader's ``generate_assignment`` for each lesson, in this process: the student
    version is written to ``release_dir/<lesson>`` and the graded cells are recorded in
    ``gradebook`` (a SQLite file; default: the course's own, SQLite or PostgreSQL).
    Returns lesson id -> generated folder.

    Raises:
        CourseError: when nbgrader refuses a lesson (its log says why).
    """
    from nbgrader.apps import NbGraderAPI

    put_python_bin_on_path()
    config = _read_config(course.root)
    config.CourseDirectory.root = str(course.root)
    config.CourseDirectory.source_directory = str(course.source_dir)
    config.CourseDirectory.release_directory = str(Path(release_dir).resolve())
    config.CourseDirectory.db_url = f"sqlite:///{Path(gradebook).resolve()}" if gradebook \
        else course.db_url
    api = NbGraderAPI(config=config)
    generated = {}
    for lesson in lesson_ids:
        if log:
            log(f"recording {lesson} (nbgrader generate_assignment)")
        result = api.generate_assignment(lesson, force=True, create=True)
        if not result["success"]:
            raise CourseError(f"nbgrader could not generate {lesson}:\n"
                              f"{result.get('error') or result.get('log')}")
        generated[lesson] = Path(release_dir) / lesson
    return generated


def put_python_bin_on_path() -> None:
    """Put the folder of this Python on PATH: nbgrader runs the ``alembic`` found there."""
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
