"""``convtrain export GRADED_DIR --to canvas|moodle|wide --out FILE``: grades into the LMS.

    convtrain export graded/ --to canvas --roster canvas_gradebook.csv --out canvas_import.csv
    convtrain export graded/ --to moodle --roster roster.csv --roster-key "Email address" --out moodle.csv
    convtrain export graded/ --to wide --course course/ --out grades_wide.csv

``GRADED_DIR/grades.csv`` (what ``convtrain grade`` writes) is long: one row per student and
lesson. LMSs import wide files with their own header rows. The formats:

- ``canvas``: Canvas's gradebook import CSV (Canvas Instructor Guide, "How do I import grades
  in the Gradebook?", https://community.canvaslms.com/t5/Instructor-Guide/How-do-I-import-grades-in-the-Gradebook/ta-p/807):
  the columns ``Student,ID,SIS User ID,SIS Login ID,Section`` (Canvas matches a student by
  ``ID``, the Canvas user id, or the SIS ids), then one column per assignment, and a second
  row ``Points Possible`` with each assignment's maximum. An assignment column updates an
  existing assignment when its header is Canvas's own, ``Name (assignment id)``: taken from
  the roster when it is a Canvas gradebook export with a column for the lesson (``00_tiny``
  or ``00_tiny (12345)``); otherwise the header is the lesson id and Canvas offers to create
  the assignment with those points. Canvas imports no comments: flags and manual points go
  to the side file.
- ``moodle``: Moodle's grade import from a CSV file (Moodle docs, "Grade import",
  https://docs.moodle.org/en/Grade_import): an identifier column (the roster's columns, e.g.
  ``Email address`` or ``ID number``; ``Username`` holding the submission id without a
  roster) and one column per grade item. On import, map the identifier under *Identify user
  by* and each lesson column to its grade item (or *new grade item*). Moodle's feedback
  columns are shown to students; flags are notes for the instructor, so they go to the side
  file too.
- ``wide``: a plain CSV, one row per student and one column per lesson, then ``total``,
  ``flags`` and ``manual`` (a spreadsheet of your own: everything fits in it).

A **roster** (``--roster``, CSV) maps the ids found in submissions (the first folder, or
the LMS download name before the first ``_``: grades.csv's ``student_id``) to the LMS's: its
``--roster-key`` column (default ``submission_id``) holds the submission id, its other
columns are the LMS's (Canvas: ``Student, ID, SIS User ID, SIS Login ID, Section``; Moodle:
``Email address``, ``ID number``, ...). Students on the roster without a submission get an
empty cell, never a 0; ids not on the roster are listed on the screen and in the side file
(and kept as rows in ``wide``), never dropped silently.

**Manual points**: with ``--course``, what the formgrader changed in the gradebook (a
``manual_score`` replacing an autograded one, extra credit, the written answers' scores)
is added to the score; the side file shows the autograded and the manual part, and notes
the written answers not graded yet (grades.csv's ``manual_pending``, where the gradebook
holds no manual points for that notebook). The **side file** (``FILE`` with
``.notes.csv``, canvas and moodle) has one row per student and lesson with flags or manual
points, plus the ids that are not on the roster and the notebooks that matched no lesson.

Exit status: 0 when the file was written; 2 when it could not be (no grades.csv, a roster
without its key column or with an id twice, an unreadable gradebook).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import re
import sys
from pathlib import Path

FORMATS = ("canvas", "moodle", "wide")
CANVAS_IDENTITY = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
NOTES_COLUMNS = ("student_id", "lesson", "score", "max_score", "auto_score", "manual_points",
                 "flags", "note")
UNKNOWN = "unknown"  # grades.csv's assignment for a notebook that matched no lesson


class ExportError(RuntimeError):
    """The export cannot be written (the message says why and what to do)."""


@dataclasses.dataclass(frozen=True)
class Grade:
    """One row of grades.csv, with the manual points the gradebook adds to it."""

    student_id: str
    lesson: str
    score: float  # autograded (grades.csv)
    max_score: float
    flags: tuple[str, ...]
    manual: float = 0.0  # formgrader: manual scores minus the autograded ones, plus extra credit
    pending: float = 0.0  # written answers' points that waited for a person (grades.csv)

    @property
    def total(self) -> float:
        return self.score + self.manual


@dataclasses.dataclass
class Roster:
    """The LMS's students: the key column holds the submission id."""

    key: str
    columns: list[str]  # every column of the roster file, in order
    rows: list[dict[str, str]]

    def by_id(self) -> dict[str, dict[str, str]]:
        return {row[self.key]: row for row in self.rows if row.get(self.key)}

    def identity_columns(self) -> list[str]:
        return [column for column in self.columns if column != self.key]


# --------------------------------------------------------------------------- reading

def read_grades(graded: Path) -> list[Grade]:
    path = Path(graded) / "grades.csv"
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as error:
        raise ExportError(f"cannot read {path} ({error.strerror or error}): pass the OUTDIR "
                          "of `convtrain grade`.") from error
    missing = {"student_id", "assignment", "score", "max_score"} - set(rows[0] if rows else {})
    if rows and missing:
        raise ExportError(f"{path} is not a grades.csv of `convtrain grade` (no {sorted(missing)}).")
    return [Grade(row["student_id"], row["assignment"], float(row["score"]), float(row["max_score"]),
                  tuple(flag for flag in (row.get("flags") or "").split(";") if flag),
                  pending=float(row.get("manual_pending") or 0))
            for row in rows]


def read_roster(path: Path, key: str | None) -> Roster:
    try:
        with Path(path).open(newline="", encoding="utf-8-sig") as handle:  # Excel writes a BOM
            reader = csv.DictReader(handle)
            rows = [{name: (value or "").strip() for name, value in row.items() if name}
                    for row in reader]
            columns = [name for name in reader.fieldnames or [] if name]
    except OSError as error:
        raise ExportError(f"cannot read the roster {path} ({error.strerror or error}).") from error
    key = key or "submission_id"
    if key not in columns:
        raise ExportError(f"the roster {path} has no column {key!r} (its columns: "
                          f"{', '.join(columns) or 'none'}). Add a column submission_id holding the "
                          "id each student's submissions are filed under, or name the column that "
                          "does with --roster-key.")
    seen: dict[str, int] = {}
    for number, row in enumerate(rows, 2):
        value = row.get(key, "")
        if value and value in seen:
            raise ExportError(f"the roster {path} has {key} {value!r} twice (lines {seen[value]} "
                              f"and {number}).")
        seen[value] = number
    return Roster(key, columns, rows)


def manual_points(course_dir: Path | None) -> dict[tuple[str, str], float]:
    """(student id, lesson) -> what the formgrader added to the autograded score: manual scores
    in place of autograded ones, plus extra credit (only where it is not 0)."""
    from convtrain.instructor.course import CourseError, find_course, load_course

    try:
        course = load_course(find_course(course_dir))
        sqlite_file = getattr(course, "gradebook", None)
        if sqlite_file is not None and not Path(sqlite_file).is_file():
            raise CourseError(f"no gradebook at {sqlite_file}: grade with `convtrain grade "
                              "--course` first, or leave --course out (no manual points)")
        from nbgrader.api import Gradebook

        found = {}
        with Gradebook(course.db_url) as gradebook:
            for assignment in gradebook.assignments:
                for submission in gradebook.assignment_submissions(assignment.name):
                    delta = 0.0
                    for notebook in submission.notebooks:
                        for grade in notebook.grades:
                            delta += float(grade.score or 0.0) - float(grade.auto_score or 0.0)
                    if abs(delta) > 1e-9:
                        found[(submission.student.id, assignment.name)] = round(delta, 6)
        return found
    except CourseError as error:
        raise ExportError(str(error)) from error
    except Exception as error:  # noqa: BLE001 - the gradebook could not be read: say so
        raise ExportError(f"cannot read the manual points from the gradebook: "
                          f"{type(error).__name__}: {error}") from error


# --------------------------------------------------------------------------- the table

@dataclasses.dataclass
class Table:
    """The grades in wide form, ready for any format."""

    lessons: list[str]
    max_scores: dict[str, float]
    students: list[str]  # submission ids (roster order first, then the rest sorted)
    cells: dict[tuple[str, str], Grade]  # (student, lesson) -> grade
    roster: Roster | None
    not_on_roster: list[str]
    no_submission: list[str]  # on the roster, no notebook at all
    unmatched: list[Grade]  # notebooks that matched no lesson
    identities: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)

    def identity(self, student: str) -> dict[str, str]:
        """The student's roster row ({} without a roster or when not on it)."""
        return self.identities.get(student, {})


def table(grades: list[Grade], roster: Roster | None, manual: dict[tuple[str, str], float]) -> Table:
    """Arrange ``grades`` per student and lesson (the lessons graded, in name order)."""
    matched = [g for g in grades if g.lesson != UNKNOWN]
    unmatched = [g for g in grades if g.lesson == UNKNOWN]
    columns = sorted({g.lesson for g in matched})
    max_scores = {lesson: max((g.max_score for g in matched if g.lesson == lesson), default=0.0)
                  for lesson in columns}
    cells = {(g.student_id, g.lesson): dataclasses.replace(g, manual=manual.get((g.student_id, g.lesson), 0.0))
             for g in matched}
    graded_ids = sorted({g.student_id for g in grades})
    if roster is None:
        return Table(columns, max_scores, graded_ids, cells, None, [], [], unmatched)
    on_roster = [row[roster.key] for row in roster.rows if row.get(roster.key)]
    not_on = [student for student in graded_ids if student not in set(on_roster)]
    graded = {g.student_id for g in grades}
    no_submission = [student for student in on_roster if student not in graded]
    return Table(columns, max_scores, on_roster + not_on, cells, roster, not_on, no_submission,
                 unmatched, roster.by_id())


def _number(value: float) -> str:
    return f"{round(float(value), 6):g}"


def _score(cells: dict, student: str, lesson: str) -> str:
    grade = cells.get((student, lesson))
    return "" if grade is None else _number(grade.total)


# --------------------------------------------------------------------------- formats

def canvas_rows(data: Table) -> list[list[str]]:
    headers = [canvas_header(lesson, data.roster) for lesson in data.lessons]
    rows = [[*CANVAS_IDENTITY, *headers],
            ["Points Possible", "", "", "", "", *(_number(data.max_scores[lesson]) for lesson in data.lessons)]]
    for student in data.students:
        if student in data.not_on_roster:
            continue  # Canvas would not know them: listed in the notes instead
        who = data.identity(student)
        identity = [who.get(name, "") for name in CANVAS_IDENTITY] if data.roster else \
            [student, "", "", student, ""]
        rows.append([*identity, *(_score(data.cells, student, lesson) for lesson in data.lessons)])
    return rows


def canvas_header(lesson: str, roster: Roster | None) -> str:
    """Canvas's own header for the lesson's assignment when the roster (a Canvas gradebook
    export) has one, ``00_tiny (12345)``; else the lesson id."""
    for column in roster.columns if roster else []:
        if column == lesson or re.fullmatch(rf"{re.escape(lesson)}\s*\(\d+\)", column):
            return column
    return lesson


def moodle_rows(data: Table) -> list[list[str]]:
    identity = data.roster.identity_columns() if data.roster else ["Username"]
    rows = [[*identity, *data.lessons]]
    for student in data.students:
        if student in data.not_on_roster:
            continue
        who = data.identity(student)
        values = [who.get(name, "") for name in identity] if data.roster else [student]
        rows.append([*values, *(_score(data.cells, student, lesson) for lesson in data.lessons)])
    return rows


def wide_rows(data: Table) -> list[list[str]]:
    identity = data.roster.identity_columns() if data.roster else []
    rows = [["student_id", *identity, *data.lessons, "total", "flags", "manual"],
            ["Points Possible", *([""] * len(identity)), *(_number(data.max_scores[lesson]) for lesson in data.lessons),
             _number(sum(data.max_scores.values())), "", ""]]
    for student in data.students:
        who = data.identity(student)
        grades = [data.cells[(student, lesson)] for lesson in data.lessons if (student, lesson) in data.cells]
        flags = "; ".join([*(f"{g.lesson}: {','.join(g.flags)}" for g in grades if g.flags),
                           *(f"(no lesson): {','.join(g.flags)}" for g in data.unmatched
                             if g.student_id == student)])
        manual = "; ".join(f"{g.lesson}: {g.manual:+g}" for g in grades if g.manual)
        total = _number(sum(g.total for g in grades)) if grades else ""
        rows.append([student, *(who.get(name, "") for name in identity),
                     *(_score(data.cells, student, lesson) for lesson in data.lessons),
                     total, flags, manual])
    return rows


def notes_rows(data: Table) -> list[list[str]]:
    rows = [list(NOTES_COLUMNS)]
    for student in data.students:
        outside = student in data.not_on_roster
        for lesson in data.lessons:
            grade = data.cells.get((student, lesson))
            waiting = grade is not None and grade.pending and not grade.manual
            if grade is None or not (grade.flags or grade.manual or outside or waiting):
                continue
            note = "not on the roster: not in the export" if outside else ""
            if waiting:
                note = "; ".join(filter(None, [note, f"{_number(grade.pending)} points of written "
                                               "answers not graded yet (formgrader)"]))
            rows.append([student, lesson, _number(grade.total), _number(grade.max_score),
                         _number(grade.score), _number(grade.manual) if grade.manual else "",
                         ";".join(grade.flags), note])
    for grade in data.unmatched:
        rows.append([grade.student_id, "", "", "", "", "", ";".join(grade.flags),
                     "a notebook that matched no lesson (see report.html)"])
    return rows


WRITERS = {"canvas": canvas_rows, "moodle": moodle_rows, "wide": wide_rows}


def notes_path(out: Path) -> Path:
    return Path(out).with_suffix(".notes.csv")


def write_csv(path: Path, rows: list[list[str]]) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with Path(path).open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)


def export(graded: Path, to: str, out: Path, roster_path: Path | None = None,
           roster_key: str | None = None, course_dir: Path | None = None,
           with_manual: bool = False) -> tuple[Table, list[Path]]:
    """Write the export (and for canvas/moodle its side file); return the table and the files."""
    grades = read_grades(graded)
    roster = read_roster(roster_path, roster_key) if roster_path else None
    manual = manual_points(course_dir) if with_manual else {}
    data = table(grades, roster, manual)
    write_csv(out, WRITERS[to](data))
    written = [Path(out)]
    if to != "wide":
        write_csv(notes_path(out), notes_rows(data))
        written.append(notes_path(out))
    return data, written


# --------------------------------------------------------------------------- command

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="convtrain export", description="Write grades.csv of `convtrain grade` as an LMS "
        "import file: Canvas's gradebook CSV, Moodle's grade import CSV, or a plain wide CSV.")
    parser.add_argument("graded", type=Path, help="the OUTDIR of `convtrain grade` (has grades.csv)")
    parser.add_argument("--to", choices=FORMATS, required=True, help="the file's format")
    parser.add_argument("--out", type=Path, required=True, help="the file to write")
    parser.add_argument("--roster", type=Path, default=None,
                        help="CSV mapping submission ids to the LMS's ids (e.g. the LMS's gradebook "
                             "export with a submission_id column)")
    parser.add_argument("--roster-key", default=None, metavar="COLUMN",
                        help="the roster column holding the submission id (default submission_id)")
    parser.add_argument("--course", type=Path, default=None,
                        help="the course whose gradebook holds manual points (formgrader): they are "
                             "added to the scores")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        data, written = export(args.graded, args.to, args.out, args.roster, args.roster_key,
                               args.course, with_manual=args.course is not None)
    except ExportError as error:
        print(f"convtrain export: {error}", file=sys.stderr)
        return 2
    listed = [s for s in data.students if s not in data.not_on_roster or args.to == "wide"]
    print(f"wrote {written[0]} ({args.to}: {len(listed)} student(s) × {len(data.lessons)} lesson(s))")
    if len(written) > 1:
        print(f"wrote {written[1]} (flags, manual points, what is not in the export)")
    if data.roster is None and args.to != "wide":
        key = "SIS Login ID" if args.to == "canvas" else "Username"
        print(f"no roster: students are named by their submission id in {key}; pass --roster to "
              "map them to the LMS's ids")
    if data.no_submission:
        print(f"on the roster without any submission (empty cells): {', '.join(data.no_submission)}")
    if data.not_on_roster:
        where = "kept as rows" if args.to == "wide" else f"not in {written[0].name}, listed in the notes"
        print(f"NOT ON THE ROSTER ({where}): {', '.join(data.not_on_roster)}")
    if data.unmatched:
        print(f"{len(data.unmatched)} notebook(s) matched no lesson: "
              f"{', '.join(sorted({g.student_id for g in data.unmatched}))}")
    return 0
