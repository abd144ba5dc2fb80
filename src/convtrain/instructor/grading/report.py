"""What a grading run leaves in OUTDIR.

- ``grades.csv``: ``student_id,assignment,score,max_score,flags,manual_pending``, one row
  per student and assignment, sorted; rewritten whole from the results on every run.
  ``score`` is what the tests gave; ``max_score`` counts every point of the lesson, the
  written answers' too; ``manual_pending`` is the written answers' points that wait for a
  person (the formgrader), 0 when there are none.
- ``feedback/<student_id>.html``: a summary line per lesson, then per exercise its
  points, status (``not_attempted`` apart from ``failed``), message, a hint and the
  visible test; never the hidden tests. (``report.html``: see ``cohort_report``.)
- ``grading.log``: one line per event, appended.
- ``results/``: one JSON file per graded notebook, named by the student, the
  notebook's SHA-256 and the assignment's fingerprint. A rerun reuses these (unless
  ``--regrade``), which makes reruns idempotent and an interrupted run resumable. Each
  holds the student's answer cells per exercise too (``Result.answers``), from which
  ``similarity`` writes ``similarity.html`` without the submissions.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import html
import json
import os
import re
import time
from pathlib import Path

from convtrain.instructor.grading import flags as flags_module

COLUMNS = ("student_id", "assignment", "score", "max_score", "flags", "manual_pending")
RESULT_VERSION = 4  # 2: TestResult.title, status not_attempted; flags from grading.flags
# 3: Result.answers (each exercise's answer cells, for the similarity report)
# 4: Result.written (written answers, graded by a person)
STATUSES = ("passed", "failed", "hidden_failed", "not_attempted", "not_run")  # of a test


@dataclasses.dataclass
class Result:
    """A graded notebook (or one that could not be graded: score 0 and a flag)."""

    student_id: str
    assignment: str
    score: float
    max_score: float
    flags: list[str]
    label: str  # where the notebook was in SUBMISSIONS
    tests: list[dict] = dataclasses.field(default_factory=list)  # TestResult fields
    seconds: float = 0.0
    answers: dict[str, str] = dataclasses.field(default_factory=dict)  # test id -> answer code
    written: list[dict] = dataclasses.field(default_factory=list)  # written.WrittenResult fields

    @property
    def manual_pending(self) -> float:
        """Points of written answers that wait for a person."""
        return float(sum(item["max_points"] for item in self.written
                         if item["status"] in ("pending", "missing")))


def safe_name(text: str) -> str:
    """A file-name-safe, collision-resistant version of a student id or label."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "student"
    if cleaned == text:
        return cleaned
    return f"{cleaned[:60]}-{hashlib.sha1(text.encode()).hexdigest()[:8]}"


def result_path(out: Path, student_id: str, sha256: str, key: str) -> Path:
    return out / "results" / safe_name(student_id) / f"{sha256[:20]}-{key}.json"


def load_result(path: Path) -> Result | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if data.pop("version", None) != RESULT_VERSION:
        return None
    return Result(**data)


def save_result(path: Path, result: Result) -> None:
    """Write atomically: a run killed mid-write leaves no half file behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".tmp{os.getpid()}")
    temporary.write_text(json.dumps({"version": RESULT_VERSION, **dataclasses.asdict(result)},
                                    indent=1))
    os.replace(temporary, path)


def best_per_assignment(results: list[Result]) -> list[Result]:
    """One result per (student, assignment): the best score; ``duplicate`` flags extra files."""
    groups: dict[tuple[str, str], list[Result]] = {}
    for result in results:
        groups.setdefault((result.student_id, result.assignment), []).append(result)
    chosen = []
    for _key, group in sorted(groups.items()):
        best = max(group, key=lambda r: (r.score, -len(r.flags), r.label))
        if len(group) > 1:
            best = dataclasses.replace(best, flags=sorted({*best.flags, flags_module.Flag.DUPLICATE}))
        chosen.append(best)
    return chosen


def write_grades(out: Path, results: list[Result]) -> Path:
    path = out / "grades.csv"
    temporary = path.with_suffix(".tmp")
    with temporary.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(COLUMNS)
        for result in results:
            writer.writerow([result.student_id, result.assignment, _number(result.score),
                             _number(result.max_score), ";".join(sorted(result.flags)),
                             _number(result.manual_pending)])
    os.replace(temporary, path)
    return path


def _number(value: float) -> str:
    return f"{float(value):g}"


class Log:
    """Appends timestamped lines to OUTDIR/grading.log; echoes them on the screen unless
    ``screen=False`` (details an instructor looks up, not reads live)."""

    def __init__(self, path: Path, echo=print):
        self.path = path
        self.echo = echo  # grading swaps in tqdm.write while its progress bar is shown
        path.parent.mkdir(parents=True, exist_ok=True)

    def __call__(self, message: str, screen: bool = True) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with self.path.open("a") as handle:
            handle.write(f"{stamp} {message}\n")
        if self.echo and screen:
            self.echo(message)


# --------------------------------------------------------------------------- feedback

HINTS = {
    "passed": "",
    "failed": "Read the message: it says what was expected and what came back. "
              "Run the cell again after fixing your answer above it.",
    "hidden_failed": "Your answer passes the visible checks but not every case: test it on "
                     "other shapes, sizes and values than the example.",
    "not_attempted": "Replace `raise NotImplementedError()` in that cell with your answer, "
                     "run it, then run the test cell below it.",
    "not_run": "Make sure the notebook runs from top to bottom without stopping "
               "(Kernel → Restart & Run All).",
}
FEEDBACK_STYLE = (
    "body{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
    "pre{background:#f4f4f4;padding:.5rem;white-space:pre-wrap}"
    ".summary li{margin:.3rem 0}.test-id{font-size:.8em;font-weight:normal;color:#555}"
    ".passed{color:#1a7f37}.failed,.hidden_failed,.not_run{color:#b3261e}"
    ".not_attempted{color:#8a5a00}.written.pending,.written.missing{color:#1f4e8c}")


def exercise_name(test: dict) -> str:
    """What the student calls an exercise: its heading in the lesson, else its test id."""
    return test.get("title") or test["name"]


def inline(text: str) -> str:
    """``text`` escaped for HTML, with `backticks` as <code> (for our own sentences)."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def lesson_summary(result: Result) -> str:
    """One line (HTML) about one lesson: points, exercises done, what to revisit."""
    head = (f"<strong>{html.escape(result.assignment)}</strong> — {_number(result.score)} / "
            f"{_number(result.max_score)} points")
    tests = result.tests
    if not tests:
        notes = [flag.student for flag in flags_module.known(result.flags)]
        return f"{head} · not graded: {inline(notes[0]) if notes else 'see below'}"
    counts = {status: sum(test["status"] == status for test in tests) for status in STATUSES}
    attempted = counts["passed"] + counts["failed"] + counts["hidden_failed"]
    parts = [head, f"exercises: {counts['passed']} passed, {attempted} attempted, "
                   f"{len(tests)} in all"]
    revisit = [test for test in tests if test["status"] in ("failed", "hidden_failed")]
    todo = [test for test in tests if test["status"] == "not_attempted"]
    if revisit:
        parts.append("revisit: " + ", ".join(inline(exercise_name(t)) for t in revisit))
    if todo:
        parts.append("not attempted: " + ", ".join(inline(exercise_name(t)) for t in todo))
    if counts["not_run"]:
        parts.append(f"{counts['not_run']} not run (the notebook stopped before them)")
    if counts["passed"] == len(tests):
        parts.append("all passed")
    if result.manual_pending:
        parts.append(f"{_number(result.manual_pending)} more points for written answers, "
                     "graded by your instructor")
    return " · ".join(parts)


def write_feedback(out: Path, student_id: str, results: list[Result]) -> Path:
    path = out / "feedback" / f"{safe_name(student_id)}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    summary = "".join(f"<li>{lesson_summary(result)}</li>" for result in results)
    sections = "\n".join(_assignment_html(result) for result in results)
    path.write_text(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>Feedback for {html.escape(student_id)}</title>"
        f"<style>{FEEDBACK_STYLE}</style></head>"
        f"<body><h1>Feedback for {html.escape(student_id)}</h1>\n"
        f"<ul class=\"summary\">{summary}</ul>\n{sections}\n</body></html>\n")
    return path


def _assignment_html(result: Result) -> str:
    notes = [flag.student for flag in flags_module.known(result.flags)]
    parts = [f"<h2>{html.escape(result.assignment)}: {_number(result.score)} / "
             f"{_number(result.max_score)}</h2>",
             f"<p>File: <code>{html.escape(result.label)}</code></p>"]
    if notes:
        parts.append("<ul>" + "".join(f"<li>{inline(note)}</li>" for note in notes) + "</ul>")
    for test in result.tests:
        status = test["status"]
        title = (f"<span class=\"title\">{inline(test['title'])}</span><br>"
                 f"<span class=\"test-id\">") if test.get("title") else "<span>"
        parts.append(
            f"<h3 class=\"{html.escape(status)}\">{title}{html.escape(test['name'])}: "
            f"{_number(test['points'])} / {_number(test['max_points'])} "
            f"({html.escape(status.replace('_', ' '))})</span></h3>")
        if status != "passed":
            message = inline(test["message"]) if status == "not_attempted" else \
                html.escape(test["message"])
            parts.append(f"<p>{message}</p>")
            if HINTS.get(status):
                parts.append(f"<p><em>Hint:</em> {inline(HINTS[status])}</p>")
            if test.get("visible_source"):
                parts.append("<details><summary>Visible test</summary><pre>"
                             f"{html.escape(test['visible_source'])}</pre></details>")
    for item in result.written:
        parts.append(f"<h3 class=\"written {html.escape(item['status'])}\">"
                     f"{inline(item.get('title') or item['name'])}<br><span class=\"test-id\">"
                     f"{html.escape(item['name'])}: {WRITTEN_STATUS[item['status']]} "
                     f"({_number(item['max_points'])} points)</span></h3>")
    return "\n".join(parts)


WRITTEN_STATUS = {  # what a student reads about a written answer
    "pending": "your instructor grades this answer",
    "not_answered": "not answered: 0 points",
    "missing": "your instructor will look for this answer in your notebook",
}
