"""``OUTDIR/report.html``: the cohort at a glance, for the instructor.

One self-contained page (no external CSS, scripts or fonts; figures are PNGs embedded
as ``data:`` URIs, drawn with matplotlib's Agg canvas) that opens offline:

- how the kernels were isolated, and the totals (students, notebooks, graded);
- per lesson: the distribution of scores (a histogram), and the share of students who
  passed each exercise (a bar chart and a table, most-failed first: "re-teach this");
- the flags and the students who carry them, attention flags first, informational
  ones apart;
- the slowest notebooks;
- similar answers: the pairs of students whose answers look copied (the most exercises
  first), linked to ``similarity.html``, which shows each pair side by side
  (:mod:`convtrain.instructor.similarity`; it never changes a grade).

Its size grows with the number of lessons and exercises, not of students: two figures
per lesson whatever the cohort. Every string that comes from a submission (student ids,
file names) is escaped.

>>> write_report(out, results, "bubblewrap sandbox ...", assignments)  # doctest: +SKIP
PosixPath('out/report.html')
"""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import os
import statistics
import time
import warnings
from collections.abc import Mapping
from pathlib import Path

from convtrain.instructor.grading import report
from convtrain.instructor.grading.flags import Flag
from convtrain.instructor.grading.gradebook import Assignment
from convtrain.instructor.grading.report import STATUSES, Result, exercise_name, inline

SLOWEST = 10
LIST_OPEN_UP_TO = 50  # students listed under a flag shown unfolded up to this many
PASS_COLOR, RETEACH_COLOR, BAR_COLOR = "#1a7f37", "#b3261e", "#4c72b0"

STYLE = """
body{font-family:sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#1f2328}
table{border-collapse:collapse;margin:.5rem 0 1rem}
th,td{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.number{text-align:right;font-variant-numeric:tabular-nums}
tr.reteach td{background:#ffebe9}.badge{background:#b3261e;color:#fff;border-radius:.3rem;
padding:0 .3rem;font-size:.8em;margin-left:.3rem;white-space:nowrap}
img{max-width:100%;height:auto}.muted{color:#59636e}code{background:#f6f8fa;padding:0 .2rem}
section{margin-bottom:2.5rem}
"""


@dataclasses.dataclass
class ExerciseStats:
    """How a lesson's students did on one exercise."""

    test_id: str
    name: str  # the exercise's heading, else its test id
    students: int  # students with a notebook for the lesson
    counts: dict[str, int]  # status -> students; "not_graded": no result for this test

    @property
    def passed_share(self) -> float:
        return self.counts.get("passed", 0) / self.students if self.students else 0.0


@dataclasses.dataclass
class LessonStats:
    """``max_score`` and ``scores`` are the tests' (written answers are graded by people);
    ``pending``: per notebook, the points of its written answers that wait for a person."""

    lesson: str
    max_score: float
    scores: list[float]
    exercises: list[ExerciseStats]
    pending: list[float] = dataclasses.field(default_factory=list)

    @property
    def reteach(self) -> set[str]:
        """The exercises the fewest students passed (when not everyone passed them)."""
        if not self.exercises:
            return set()
        lowest = min(exercise.passed_share for exercise in self.exercises)
        if lowest >= 1.0:
            return set()
        return {e.test_id for e in self.exercises if e.passed_share == lowest}


def write_report(out: Path, results: list[Result], isolation: str,
                 assignments: Mapping[str, Assignment] | None = None, similar=None) -> Path:
    """Write ``out/report.html`` for every graded notebook in ``results``; return its path.

    ``similar``: the :class:`convtrain.instructor.similarity.Findings` of the cohort, if any.
    """
    path = Path(out) / "report.html"
    page = render(results, isolation, assignments or {}, similar)
    temporary = path.with_suffix(f".tmp{os.getpid()}")
    temporary.write_text(page, encoding="utf-8")
    os.replace(temporary, path)
    return path


def render(results: list[Result], isolation: str,
           assignments: Mapping[str, Assignment] | None = None, similar=None) -> str:
    """The report page as HTML text."""
    assignments = assignments or {}
    final = report.best_per_assignment(results)
    lessons = lesson_stats(final, assignments)
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    body = [
        "<h1>Grading report</h1>",
        f"<p class=\"muted\">Written {stamp} by <code>convtrain grade</code>. Each student's "
        "page is in <code>feedback/</code>; every grade is in <code>grades.csv</code>.</p>",
        f"<p><strong>Isolation:</strong> {html.escape(isolation)}</p>",
        _totals_html(results, final),
        _overview_html(lessons),
        *(_lesson_html(lesson) for lesson in lessons),
        _flags_html(final),
        _slowest_html(results),
        _similar_html(similar),
    ]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<title>Grading report</title>"
            f"<style>{STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


# --------------------------------------------------------------------------- numbers

def lesson_stats(final: list[Result], assignments: Mapping[str, Assignment]) -> list[LessonStats]:
    """Per lesson (those with a notebook, in name order): scores and per-exercise statuses.

    ``final`` holds one result per student and lesson; notebooks that matched no lesson
    (``unknown``) are left out. The exercises are the gradebook's, in notebook order,
    else those the results name.
    """
    by_lesson: dict[str, list[Result]] = {}
    for result in final:
        if result.assignment in assignments or result.tests:
            by_lesson.setdefault(result.assignment, []).append(result)
    stats = []
    for lesson, group in sorted(by_lesson.items()):
        assignment = assignments.get(lesson)
        names: dict[str, str] = {}
        if assignment is not None:
            for test, _answers in assignment.exercises:
                names[test.name] = assignment.title(test.name) or test.name
        for result in group:
            for test in result.tests:
                names.setdefault(test["name"], exercise_name(test))
        exercises = []
        for test_id, name in names.items():
            counts = dict.fromkeys((*STATUSES, "not_graded"), 0)
            for result in group:
                status = next((t["status"] for t in result.tests if t["name"] == test_id),
                              "not_graded")
                counts[status if status in counts else "failed"] += 1
            exercises.append(ExerciseStats(test_id, name, len(group), counts))
        max_score = assignment.max_score - assignment.written_max_score if assignment is not None \
            else max(result.max_score for result in group)
        stats.append(LessonStats(lesson, max_score, [result.score for result in group], exercises,
                                 [result.manual_pending for result in group]))
    return stats


# --------------------------------------------------------------------------- HTML parts

def _totals_html(results: list[Result], final: list[Result]) -> str:
    students = len({result.student_id for result in results})
    graded = sum(1 for result in results if result.tests)
    rows = [("students", students), ("notebooks handed in", len(results)),
            ("notebooks graded (run and scored)", graded),
            ("notebooks not graded (unreadable, unmatched, grader error)", len(results) - graded),
            ("rows in grades.csv (best notebook per student and lesson)", len(final)),
            ("lessons", len({r.assignment for r in final if r.assignment != "unknown"}))]
    cells = "".join(f"<tr><th>{html.escape(name)}</th><td class=\"number\">{value}</td></tr>"
                    for name, value in rows)
    return f"<section id=\"totals\"><h2>Totals</h2><table>{cells}</table></section>"


def _overview_html(lessons: list[LessonStats]) -> str:
    if not lessons:
        return "<section id=\"lessons\"><h2>Lessons</h2><p>No notebook matched a lesson.</p></section>"
    rows = []
    for lesson in lessons:
        scores = lesson.scores
        full = sum(1 for score in scores if lesson.max_score and score >= lesson.max_score)
        if len(lesson.exercises) > 1 and len(lesson.reteach) == len(lesson.exercises):
            weakest = "all alike"
        else:
            weakest = ", ".join(inline(e.name) for e in lesson.exercises
                                if e.test_id in lesson.reteach)
        rows.append(
            f"<tr><td><a href=\"#{_anchor(lesson.lesson)}\">{html.escape(lesson.lesson)}</a></td>"
            f"<td class=\"number\">{len(scores)}</td>"
            f"<td class=\"number\">{_number(statistics.mean(scores))} / {_number(lesson.max_score)}</td>"
            f"<td class=\"number\">{_number(statistics.median(scores))}</td>"
            f"<td class=\"number\">{_percent(full / len(scores))}</td>"
            f"<td>{weakest or '—'}</td>"
            f"<td class=\"number\">{_written_cell(lesson.pending)}</td></tr>")
    return ("<section id=\"lessons\"><h2>Lessons</h2><table><tr><th>lesson</th><th>students</th>"
            "<th>mean (tests)</th><th>median</th><th>full marks</th><th>most failed exercise</th>"
            "<th>written answers to grade (formgrader)</th></tr>"
            + "".join(rows) + "</table></section>")


def _written_cell(pending: list[float]) -> str:
    waiting = [points for points in pending if points]
    if not waiting:
        return "—"
    return f"{len(waiting)} notebook(s), {_number(sum(waiting))} points"


def _lesson_html(lesson: LessonStats) -> str:
    figure = _figure_png(lesson)
    alt = f"{lesson.lesson}: score distribution and share of students passing each exercise"
    reteach = lesson.reteach
    ordered = sorted(lesson.exercises, key=lambda e: (e.passed_share, lesson.exercises.index(e)))
    rows = []
    for exercise in ordered:
        counts = exercise.counts
        badge = "<span class=\"badge\">re-teach this</span>" if exercise.test_id in reteach else ""
        rows.append(
            f"<tr class=\"{'reteach' if exercise.test_id in reteach else 'exercise'}\">"
            f"<td>{inline(exercise.name)}{badge}<br><span class=\"muted\">"
            f"{html.escape(exercise.test_id)}</span></td>"
            f"<td class=\"number\">{_percent(exercise.passed_share)}</td>"
            + "".join(f"<td class=\"number\">{counts.get(status, 0)}</td>"
                      for status in (*STATUSES, "not_graded")) + "</tr>")
    header = "".join(f"<th>{name}</th>" for name in (
        "exercise (most failed first)", "share passed", "passed", "failed", "hidden failed",
        "not attempted", "not run", "not graded"))
    return (f"<section id=\"{_anchor(lesson.lesson)}\" class=\"lesson\">"
            f"<h2>{html.escape(lesson.lesson)}</h2>"
            f"<p>{len(lesson.scores)} student(s); mean {_number(statistics.mean(lesson.scores))} "
            f"of {_number(lesson.max_score)} points.</p>"
            f"<img src=\"data:image/png;base64,{figure}\" alt=\"{html.escape(alt)}\">"
            f"<table class=\"exercises\"><tr>{header}</tr>{''.join(rows)}</table></section>")


def _flags_html(final: list[Result]) -> str:
    carriers: dict[Flag, list[Result]] = {}
    for result in final:
        for flag in {Flag(value) for value in result.flags if value in Flag._value2member_map_}:
            carriers.setdefault(flag, []).append(result)
    parts = ["<section id=\"flags\"><h2>Flags</h2>"]
    attention = [flag for flag in Flag if not flag.informational and flag in carriers]
    informational = [flag for flag in Flag if flag.informational and flag in carriers]
    parts.append("<h3>Needing attention</h3>")
    if attention:
        parts.append(_flag_table(attention, carriers, unfold=True))
    else:
        parts.append("<p>No notebook carries a flag that needs attention.</p>")
    parts.append("<h3>Informational</h3><p class=\"muted\">Honest work carries these too; "
                 "nothing to look into.</p>")
    if informational:
        parts.append(_flag_table(informational, carriers, unfold=False))
    else:
        parts.append("<p>None.</p>")
    unknown = sorted({value for r in final for value in r.flags} - set(Flag._value2member_map_))
    if unknown:
        parts.append("<p>Flags this grader does not know (from older results): "
                     + ", ".join(f"<code>{html.escape(value)}</code>" for value in unknown) + "</p>")
    parts.append("</section>")
    return "".join(parts)


def _flag_table(flags: list[Flag], carriers: dict[Flag, list[Result]], unfold: bool) -> str:
    rows = []
    for flag in flags:
        group = sorted(carriers[flag], key=lambda r: (r.student_id, r.assignment))
        items = "".join(
            f"<li><a href=\"feedback/{html.escape(report.safe_name(r.student_id))}.html\">"
            f"{html.escape(r.student_id)}</a> ({html.escape(r.assignment)})</li>" for r in group)
        opened = " open" if unfold and len(group) <= LIST_OPEN_UP_TO else ""
        rows.append(
            f"<tr class=\"flag\"><td><code>{flag.value}</code></td><td>{inline(flag.instructor)}</td>"
            f"<td class=\"number\">{len(group)}</td><td><details{opened}><summary>"
            f"{len(group)} notebook(s)</summary><ul>{items}</ul></details></td></tr>")
    return ("<table class=\"flags\"><tr><th>flag</th><th>meaning</th><th>notebooks</th>"
            "<th>students (lesson)</th></tr>" + "".join(rows) + "</table>")


def _slowest_html(results: list[Result]) -> str:
    slowest = sorted(results, key=lambda r: (-r.seconds, r.student_id, r.label))[:SLOWEST]
    rows = "".join(
        f"<tr><td>{html.escape(r.student_id)}</td><td>{html.escape(r.assignment)}</td>"
        f"<td><code>{html.escape(r.label)}</code></td><td class=\"number\">{r.seconds:.1f}</td>"
        f"<td class=\"number\">{_number(r.score)} / {_number(r.max_score)}</td></tr>"
        for r in slowest)
    return (f"<section id=\"slowest\"><h2>Slowest notebooks (top {SLOWEST})</h2>"
            "<table><tr><th>student</th><th>lesson</th><th>file</th><th>seconds</th>"
            f"<th>score</th></tr>{rows}</table></section>")


def _similar_html(similar) -> str:
    """The pairs of students with similar answers, most exercises first; details in similarity.html."""
    if similar is None:
        return ""
    parts = ["<section id=\"similar\"><h2>Similar answers</h2><p class=\"muted\">Pairs of "
             "students whose answer cells share much of their code once comments, layout and "
             "names are set aside, handed-out code and common idioms discounted. Not a verdict and "
             "no grade changed: read them side by side in "
             "<a href=\"similarity.html\">similarity.html</a>.</p>"]
    pairs = similar.student_pairs()
    if not pairs:
        parts.append(f"<p>None reported ({similar.compared} answers compared, {similar.short} too "
                     "short to compare).</p></section>")
        return "".join(parts)
    rows = "".join(
        f"<tr><td>{html.escape(a)}</td><td>{html.escape(b)}</td><td class=\"number\">{len(found)}</td>"
        f"<td class=\"number\">{_percent(max(p.score for p in found))}</td>"
        f"<td>{html.escape(', '.join(sorted({p.a.lesson for p in found})))}</td></tr>"
        for (a, b), found in pairs[:SLOWEST])
    more = f"<p>and {len(pairs) - SLOWEST} more pairs in similarity.html.</p>" if len(pairs) > SLOWEST else ""
    parts.append("<table><tr><th>student</th><th>student</th><th>similar exercises</th>"
                 f"<th>most shared</th><th>lessons</th></tr>{rows}</table>{more}</section>")
    return "".join(parts)


# --------------------------------------------------------------------------- figures

def _figure_png(lesson: LessonStats) -> str:
    """The lesson's figure (score histogram, pass share per exercise) as base64 PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    exercises = lesson.exercises
    height = max(3.2, 0.45 * len(exercises) + 1.4)
    figure = Figure(figsize=(11, height), dpi=96, layout="constrained")
    FigureCanvasAgg(figure)
    left, right = figure.subplots(1, 2, width_ratios=(1, 1.3))
    top = lesson.max_score if lesson.max_score > 0 else max(lesson.scores, default=0) or 1
    width = 1.0 if top <= 30 else top / 20
    edges = [index * width - width / 2 for index in range(int(top / width) + 2)]
    left.hist(lesson.scores, bins=edges, color=BAR_COLOR, edgecolor="white")
    left.set(title="score distribution", xlabel=f"points (of {top:g})", ylabel="students",
             xlim=(-width, top + width))
    left.yaxis.get_major_locator().set_params(integer=True)
    reteach = lesson.reteach
    labels = [_short(exercise.name) for exercise in exercises]
    shares = [100 * exercise.passed_share for exercise in exercises]
    colors = [RETEACH_COLOR if e.test_id in reteach else
              PASS_COLOR if e.passed_share >= 1 else BAR_COLOR for e in exercises]
    positions = list(range(len(exercises)))
    right.barh(positions, shares, color=colors)
    right.set_yticks(positions, labels)
    right.invert_yaxis()  # notebook order, top to bottom
    right.set(title="students who passed each exercise (red: re-teach)", xlabel="% of students",
              xlim=(0, 118))
    for position, share, exercise in zip(positions, shares, exercises):
        right.text(min(share + 1, 100), position,
                   f"{share:.0f}% ({exercise.counts['passed']}/{exercise.students})",
                   va="center", fontsize=8)
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # a glyph missing from the font is not an error
        warnings.simplefilter("ignore")
        figure.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _short(text: str, limit: int = 42) -> str:
    text = text.replace("`", "")
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------- small helpers

def _anchor(lesson: str) -> str:
    return "lesson-" + report.safe_name(lesson)


def _number(value: float) -> str:
    """7 -> "7", 7.3333 -> "7.33"."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _percent(share: float) -> str:
    return f"{100 * share:.0f}%"
