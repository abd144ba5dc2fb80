"""Is my notebook ready to submit? ``ct.check_my_work()``, the last cell of every workshop.

In Colab and Kaggle there is no nbgrader *Validate* button. This check answers, in the
running kernel, what grading will find:

- per exercise: **done** (its visible tests pass), **failing** (with the first line of the
  message) or **not started**, and the points at stake;
- the cells the grader will not find as they are (a test cell deleted or duplicated, an
  answer or test cell whose grading metadata Colab dropped) and that grading recovers
  them, so nothing is lost;
- how to download the notebook and hand it in from Colab, Kaggle and Jupyter.

What it does, exactly:

1. It reads this notebook: in Colab the open notebook itself (Colab's
   ``get_ipynb`` request); in Jupyter (JupyterLab, Notebook 7, VS Code) the file the kernel
   was started for (``__session__``, ``JPY_SESSION_NAME``, ``__vsc_ipynb_file__``) **as last
   saved**; else the only course notebook in the working folder (Kaggle's
   ``/kaggle/working`` when one was put there); else the path you pass,
   ``ct.check_my_work("my.ipynb")``. Without any, it says so and what to do instead.
2. It finds the exercises by their grading metadata and, where Colab dropped that, by the
   course's layout (an answer cell directly followed by its test cell; see CONTRIBUTING.md).
3. For each exercise it runs the **visible** part of the test cell's text (a workshop holds
   no hidden tests; any ``### BEGIN HIDDEN TESTS`` region is cut out and never shown)
   against **your kernel's current variables**, as running the test cell does, with three
   differences: the names a test assigns go to a copy of your namespace (your own
   variables are not replaced); what it prints is not shown; and the random generators
   (``random``, NumPy, torch) and the figures are put back as they were afterwards. What a
   test changes in place (a model it trains, a list it appends to) stays changed, as when
   you run the test cell yourself. It does not run your answer cells: run them first (or
   *Run all*). It never writes to the notebook file.

``convtrain check NOTEBOOK.ipynb`` (``convtrain.instructor.check``) does the same from a
shell, in a fresh kernel that runs the notebook top to bottom.

>>> from convtrain.submit_check import survey, visible_part
>>> visible_part("check(a)\\n### BEGIN HIDDEN TESTS\\ncheck(b)\\n### END HIDDEN TESTS\\nprint('ok')")
"check(a)\\nprint('ok')"
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import io
import json
import os
import re
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

__all__ = ["check_my_work"]

BEGIN_HIDDEN, END_HIDDEN = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"
EXERCISE_HEADING = re.compile(r"\b(exercise|task|question|problem)\b", re.IGNORECASE)
POINTS_NOTE = re.compile(r"\(\s*(\d+(?:\.\d+)?)\s*points?\s*\)", re.IGNORECASE)
LOOKS_LIKE_A_TEST = re.compile(r"\bcheck_\w+\s*\(|^\s*assert\b", re.MULTILINE)
CHECK_CELL = re.compile(r"\bcheck_my_work\s*\(")
_NAME_ERROR = re.compile(r"name '(\w+)' is not defined")

DONE, FAILING, NOT_STARTED, NO_TEST = "done", "failing", "not started", "no test"
MARKS = {DONE: "✓", FAILING: "✗", NOT_STARTED: "·", NO_TEST: "?"}

SUBMIT = (
    "To hand in: download the notebook and upload the .ipynb where your course collects "
    "work (renaming it, e.g. \"Copy of ...\", is fine).",
    "  Colab:   File → Download → Download .ipynb",
    "  Kaggle:  File → Download notebook",
    "  Jupyter: File → Save Notebook (Ctrl+S / ⌘S), then upload {file}",
)


# --------------------------------------------------------------------------- what the file holds

@dataclasses.dataclass
class Exercise:
    """One graded exercise as found in the notebook.

    ``test_source``: the visible test to run (None: no test cell was found); ``points``:
    None when unknown (the test cell lost its metadata and the heading names no points).
    """

    number: int
    title: str
    test_id: str
    points: float | None
    test_source: str | None
    test_cell: int | None
    answer_cells: list[int]
    answer_ids: list[str]
    answers: list[str]

    @property
    def untouched(self) -> bool:
        """Every answer cell is still as handed out: nothing in it but comments, docstrings,
        imports, ``raise NotImplementedError()`` and ``def``/``class`` lines around only those
        (or the exercise has no answer cell to speak of)."""
        return all(_is_stub(answer) for answer in self.answers)

    def meant_names(self) -> set[str]:
        """Names the answer cells define at the top level, and their grade ids (a stub that
        is only ``raise NotImplementedError()`` defines nothing: its grade id names the
        variable, e.g. ``worked_example``)."""
        names = set(self.answer_ids)
        for answer in self.answers:
            try:
                tree = ast.parse(answer)
            except SyntaxError:
                continue
            for node in tree.body:
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    names.add(node.name)
                elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    names.update(leaf.id for target in targets for leaf in ast.walk(target)
                                 if isinstance(leaf, ast.Name))
        return names


def _is_stub(source: str) -> bool:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return False

    def blank(body) -> bool:
        for node in body:
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and \
                    isinstance(node.value.value, str):
                continue  # a docstring
            if isinstance(node, ast.Raise) and "NotImplementedError" in ast.unparse(node):
                continue
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and blank(node.body):
                continue
            if isinstance(node, (ast.Pass, ast.Import, ast.ImportFrom)):
                continue
            return False
        return True

    return blank(tree.body)


@dataclasses.dataclass
class Survey:
    """The exercises of a notebook and the cells the grader will not find as they are."""

    name: str
    exercises: list[Exercise]
    findings: list[str]
    written: list[tuple[float, bool]] = dataclasses.field(default_factory=list)
    # per written answer (graded by a person): its points, and whether it holds an answer


WRITTEN_STUB = "YOUR ANSWER HERE"  # what a written answer holds as handed out


def cell_source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _nbgrader(cell: dict) -> dict:
    metadata = cell.get("metadata")
    meta = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    return meta if isinstance(meta, dict) else {}


def visible_part(source: str) -> str:
    """A test cell's text without its ``### BEGIN/END HIDDEN TESTS`` regions."""
    kept, hidden = [], False
    for line in source.splitlines():
        if BEGIN_HIDDEN in line:
            hidden = True
        elif END_HIDDEN in line:
            hidden = False
        elif not hidden:
            kept.append(line)
    return "\n".join(kept)


def heading_of(source: str) -> str:
    """The last Markdown heading of a cell that names an exercise, cleaned ("" if none):
    "### ✏️ Exercise 1 (3 points): `conv2d`" -> "Exercise 1 (3 points): `conv2d`"."""
    found = ""
    for line in source.splitlines():
        if line.startswith("#") and EXERCISE_HEADING.search(line):
            text = re.sub(r"^[^\w`*_(\[]+", "", line.lstrip("#").strip())
            found = re.sub(r"\s+", " ", text).strip()
    return found


def _title(heading: str) -> str:
    return re.sub(r"\s+", " ", POINTS_NOTE.sub("", heading)).replace(" :", ":").strip()


def survey(notebook: dict, name: str = "") -> Survey:
    """The exercises of ``notebook`` (a notebook's JSON as a dict) and what is amiss.

    The course's layout (CONTRIBUTING.md): an exercise is one answer cell (nbgrader
    ``solution``) followed by its test cell (``grade``, not ``solution``); cells a student
    inserts in between do not matter. Where a cell lost its metadata (Colab), the layout
    finds it: the code cell directly before a test cell is its answer; the code cell
    directly after an answer, when it calls a ``check_`` function or asserts, is its test.
    An answer followed by another answer or an exercise heading before any test has lost
    its test cell. (``convtrain check`` with a gradebook pairs cells as grading does instead.)
    """
    cells = [cell for cell in notebook.get("cells", []) if isinstance(cell, dict)]
    exercises: list[Exercise] = []
    findings: list[str] = []
    seen: dict[str, str] = {}  # grade id -> the exercise title that holds it
    heading, answers, loose = "", [], []  # loose: code cells without nbgrader metadata

    def add(test: int | None, answer_cells: list[int], lost_test: bool = False) -> Exercise:
        meta = _nbgrader(cells[test]) if test is not None and not lost_test else {}
        number = len(exercises) + 1
        ids = [_nbgrader(cells[i]).get("grade_id", "") for i in answer_cells]
        ids = [grade_id for grade_id in ids if grade_id]
        test_id = meta.get("grade_id", "")
        points = meta.get("points")
        if points is None and POINTS_NOTE.search(heading):
            points = POINTS_NOTE.search(heading).group(1)
        label = test_id or (ids[0] if ids else "")
        title = _title(heading) or (f"Exercise {number} ({label})" if label else f"Exercise {number}")
        exercise = Exercise(number, title, test_id, None if points is None else float(points),
                            visible_part(cell_source(cells[test])) if test is not None else None,
                            test, list(answer_cells), ids, [cell_source(cells[i]) for i in answer_cells])
        exercises.append(exercise)
        for grade_id in (test_id, *ids):
            if grade_id:
                seen[grade_id] = title
        return exercise

    def close_without_test() -> None:
        last = answers[-1]
        after = last + 1
        if after < len(cells) and after in loose and LOOKS_LIKE_A_TEST.search(cell_source(cells[after])):
            exercise = add(after, answers, lost_test=True)
            findings.append(f"{exercise.title}: the test cell has lost its grading metadata "
                            "(Colab can drop it). Grading recognises it by its text and runs the "
                            "course's copy of the test: nothing to do.")
        else:
            exercise = add(None, answers)
            findings.append(f"{exercise.title}: the test cell is missing (deleted?). Grading puts "
                            "the course's copy of the test back after your answer and grades it, "
                            "so nothing is lost; but you cannot check this exercise here. To see "
                            "the test again, copy it from a fresh copy of the workshop.")

    written = []
    for index, cell in enumerate(cells):
        meta = _nbgrader(cell)
        kind = cell.get("cell_type")
        source = cell_source(cell)
        if kind == "markdown" and meta.get("grade") and meta.get("solution"):
            points = meta.get("points")
            written.append((float(points) if isinstance(points, (int, float)) else 0.0,
                            " ".join(source.split()) not in ("", WRITTEN_STUB)))
        elif kind == "markdown":
            found = heading_of(source)
            if found:
                if answers:
                    close_without_test()
                    answers = []
                heading, loose = found, []
        elif kind != "code" or CHECK_CELL.search(source):
            continue
        elif meta.get("solution") and not meta.get("grade"):
            grade_id = meta.get("grade_id", "")
            if answers:  # the previous answer has no test of its own: lost or deleted
                close_without_test()
                heading, answers, loose = "", [], []
            if grade_id and grade_id in seen:
                findings.append(f"{seen[grade_id]}: the answer cell `{grade_id}` appears twice. "
                                "Both run, in order, when graded: the later one's definitions "
                                "count.")
            answers.append(index)
        elif meta.get("grade") and not meta.get("solution"):
            grade_id = meta.get("grade_id", "")
            if grade_id and grade_id in seen:
                findings.append(f"{seen[grade_id]}: the test cell `{grade_id}` appears twice. Grading "
                                "runs the course's copy once; the extra copy runs as ordinary code.")
                continue
            lost_answers = []
            if not answers and index - 1 in loose:
                lost_answers = [index - 1]
            exercise = add(index, answers or lost_answers)
            if lost_answers:
                findings.append(f"{exercise.title}: the answer cell has lost its grading metadata "
                                "(Colab can drop it). Your answer still runs when graded (every "
                                "cell of yours runs, in order): nothing to do.")
            heading, answers, loose = "", [], []
        elif not meta:
            loose.append(index)
    if answers:
        close_without_test()
    return Survey(name, exercises, findings, written)


# --------------------------------------------------------------------------- outcomes

@dataclasses.dataclass
class Outcome:
    """How one exercise fared: ``status`` is done, failing, not started or no test."""

    status: str
    message: str = ""
    note: str = ""


def first_line(text: str) -> str:
    lines = [line for line in str(text).splitlines() if line.strip()]
    return lines[0].strip() if lines else ""


def classify(exercise: Exercise, ename: str | None, evalue: str = "", live: bool = True) -> Outcome:
    """The outcome of an exercise whose visible test raised ``ename: evalue`` (None: passed).

    ``live``: the test ran in the student's own kernel (a name may be missing because a
    cell was not run yet), rather than in a fresh top-to-bottom run.
    """
    if exercise.test_source is None:
        return Outcome(NO_TEST, "its test cell is missing: see below")
    if ename is None:
        return Outcome(DONE)
    message = f"{ename}: {first_line(evalue)}" if first_line(evalue) else ename
    if exercise.untouched:
        return Outcome(NOT_STARTED, "its answer cell is still as handed out")
    if ename == "NotImplementedError":
        return Outcome(FAILING, "NotImplementedError: a part of the answer still raises it" +
                       (" (if you have written it, run its cell again)" if live else ""))
    match = _NAME_ERROR.search(evalue) if ename == "NameError" else None
    if match and match.group(1) in exercise.meant_names():
        if live:
            return Outcome(FAILING, f"{message}: run the cell with your answer, then check again")
    elif match and live:
        return Outcome(FAILING, f"{message}: a cell above has not run in this session "
                                "(run all cells above, then check again)")
    return Outcome(FAILING, message)


def _normalized(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").split("\n")).strip()


def run_visible_tests(found: Survey, namespace: dict, transform: Callable[[str], str] | None = None,
                      executed: list[str] | None = None,
                      on_outcome: Callable[[Exercise, Outcome], None] | None = None) -> list[Outcome]:
    """Run each exercise's visible test in a copy of ``namespace``; return the outcomes.

    ``transform``: IPython's ``transform_cell`` (magics to Python); ``executed``: the cells
    run in this session (IPython's raw input history): a done exercise whose answer cell
    text is not among them gets a note (unsaved, or edited since it ran).
    """
    ran = {_normalized(text) for text in executed} if executed is not None else None
    outcomes = []
    for exercise in found.exercises:
        outcome = _run_one(exercise, namespace, transform)
        if outcome.status == DONE and ran is not None and exercise.answers and \
                any(_normalized(answer) not in ran for answer in exercise.answers):
            outcome.note = ("the answer in the notebook is not the code that ran in this session: "
                            "run its cell again (and save) before you submit")
        outcomes.append(outcome)
        if on_outcome:
            on_outcome(exercise, outcome)
    return outcomes


def _run_one(exercise: Exercise, namespace: dict, transform) -> Outcome:
    if exercise.test_source is None:
        return classify(exercise, None)
    source = transform(exercise.test_source) if transform else exercise.test_source
    scratch = dict(namespace)
    with _restored_state(), warnings.catch_warnings(), \
            contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        try:
            exec(compile(source, f"<visible test of {exercise.title}>", "exec"), scratch)  # noqa: S102
        except KeyboardInterrupt:
            raise
        except BaseException as error:  # noqa: BLE001 - a test may raise anything, even SystemExit
            return classify(exercise, type(error).__name__, str(error))
    return classify(exercise, None)


@contextlib.contextmanager
def _restored_state():
    """Put back the random generators and close new figures after a test."""
    import random

    states = [(random.setstate, random.getstate())]
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        states.append((numpy.random.set_state, numpy.random.get_state()))
    torch = sys.modules.get("torch")
    if torch is not None:
        states.append((torch.set_rng_state, torch.get_rng_state()))
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            states.append((torch.cuda.set_rng_state_all, torch.cuda.get_rng_state_all()))
    pyplot = sys.modules.get("matplotlib.pyplot")
    figures = set(pyplot.get_fignums()) if pyplot is not None else set()
    try:
        yield
    finally:
        for restore, state in states:
            restore(state)
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is not None:
            for number in set(pyplot.get_fignums()) - figures:
                pyplot.close(number)


# --------------------------------------------------------------------------- the report

def _points(points: float | None) -> str:
    if points is None:
        return "? points"
    return f"{points:g} point" + ("" if points == 1 else "s")


def exercise_lines(exercise: Exercise, outcome: Outcome) -> list[str]:
    """The report's lines for one exercise."""
    lines = [f"  {MARKS[outcome.status]} {outcome.status:<12} {_points(exercise.points):<10} "
             f"{exercise.title}"]
    for text in (outcome.message, outcome.note):
        if text:
            lines.append(f"{'':28}{text}")
    return lines


def summary_lines(found: Survey, outcomes: list[Outcome], file: str = "") -> list[str]:
    """What follows the exercises: the total, the cells the grader will not find, hand-in."""
    lines = [""]
    exercises = found.exercises
    if not exercises:
        lines.append("No exercise found: this notebook has no cell with grading metadata and "
                     "no answer cell followed by a test. Is it the workshop notebook?")
    else:
        done = [e for e, o in zip(exercises, outcomes) if o.status == DONE]
        known = [e.points for e in exercises if e.points is not None]
        worth = sum(e.points for e in done if e.points is not None)
        total = f"{sum(worth for worth in known):g}"
        unknown = len(exercises) - len(known)
        points = f"{worth:g} of {total} points" if not unknown else \
            f"{worth:g} of {total} known points; {unknown} exercise's points unknown" if unknown == 1 \
            else f"{worth:g} of {total} known points; {unknown} exercises' points unknown"
        if len(done) == len(exercises):
            lines.append(f"✓ Every exercise passes its visible tests ({points}). Hidden tests run "
                         "when your notebook is graded.")
        else:
            lines.append(f"Visible tests pass for {len(done)} of {len(exercises)} exercises "
                         f"({points}). Hidden tests run when your notebook is graded.")
    if found.written:
        answered = sum(1 for _points, has_answer in found.written if has_answer)
        worth = sum(points for points, _has_answer in found.written)
        lines.append(f"Written questions: {answered} of {len(found.written)} answered "
                     f"({worth:g} points, graded by your instructor: no test checks them).")
    lines.append("")
    if found.findings:
        lines.append("Cells the grader will not find as they are (nothing is lost: grading "
                     "restores them from the course's copy):")
        lines.extend(f"  - {finding}" for finding in found.findings)
    else:
        lines.append("Grading metadata: every answer and test cell is in place.")
    lines.append("")
    lines.extend(line.format(file=file or "the .ipynb file (File → Download)") for line in SUBMIT)
    return lines


def render(found: Survey, outcomes: list[Outcome], header: list[str], file: str = "",
           notes: list[str] | tuple[str, ...] = ()) -> str:
    """The whole report as text: ``header``, the exercises, ``notes``, the summary."""
    lines = list(header) + [""]
    for exercise, outcome in zip(found.exercises, outcomes):
        lines.extend(exercise_lines(exercise, outcome))
    if notes:
        lines += ["", *notes]
    return "\n".join(lines + summary_lines(found, outcomes, file))


def check(notebook: dict, namespace: dict, name: str = "", where: str = "",
          transform: Callable[[str], str] | None = None, executed: list[str] | None = None,
          emit: Callable[[str], None] | None = None, file: str = "") -> tuple[str, list[Outcome]]:
    """Check ``notebook`` against the live ``namespace``; return the report and the outcomes.

    ``emit`` receives the report line by line as it is made (each exercise as soon as its
    test has run).
    """
    found = survey(notebook, name)
    header = [f"Check your work: {name or 'this notebook'}"]
    if where:
        header.append(where)
    header.append("Visible tests only, run in this kernel against what you have run so far; "
                  "the notebook is not changed.")
    lines: list[str] = []

    def say(line: str) -> None:
        lines.append(line)
        if emit:
            emit(line)

    for line in header + [""]:
        say(line)
    outcomes = run_visible_tests(found, namespace, transform, executed,
                                 on_outcome=lambda e, o: [say(line) for line in exercise_lines(e, o)])
    for line in summary_lines(found, outcomes, file):
        say(line)
    return "\n".join(lines), outcomes


# --------------------------------------------------------------------------- finding the notebook

@dataclasses.dataclass
class Located:
    """Where the notebook's JSON came from (``notebook`` is None when it was not found)."""

    notebook: dict | None
    name: str = ""
    where: str = ""  # a line for the report
    path: str = ""  # the file on disk, if any
    why_not: str = ""


def locate(path: str | os.PathLike | None = None, shell=None) -> Located:
    """Find this notebook's JSON: ``path``, Colab's open notebook, the kernel's notebook file,
    or the only course notebook in the working folder."""
    if path is not None:
        return _from_file(Path(path), "the file you named")
    colab = _colab_notebook() if "google.colab" in sys.modules else None
    if colab is not None:
        name = colab.get("metadata", {}).get("colab", {}).get("name", "") or "this notebook"
        return Located(colab, name, "Read from Colab's open notebook (what File → Download gives you).")
    namespace = getattr(shell, "user_ns", {}) or {}
    for candidate in (namespace.get("__session__"), os.environ.get("JPY_SESSION_NAME"),
                      namespace.get("__vsc_ipynb_file__")):
        if isinstance(candidate, str) and candidate.endswith(".ipynb"):
            for option in (Path(candidate), Path.cwd() / Path(candidate).name):
                if option.is_file():
                    return _from_file(option, "the notebook this kernel runs")
    course_notebooks = [p for p in sorted(Path.cwd().glob("*.ipynb")) if _has_exercises(p)]
    if len(course_notebooks) == 1:
        return _from_file(course_notebooks[0], "the only course notebook in this folder")
    return Located(None, why_not=(
        "could not find this notebook's file (Kaggle and some Jupyter versions do not tell the "
        "kernel which notebook it runs)" if not course_notebooks else
        f"found {len(course_notebooks)} course notebooks in {Path.cwd()} and cannot tell which "
        "one this is"))


def _from_file(path: Path, how: str) -> Located:
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        return Located(None, why_not=f"could not read {path}: {error}")
    saved = time.strftime("%H:%M", time.localtime(path.stat().st_mtime))
    return Located(notebook, path.name, f"Read from {path} ({how}), as last saved at {saved}: save "
                   "(Ctrl+S) first so that this checks what you will hand in.", str(path))


def _colab_notebook() -> dict | None:
    try:
        from google.colab import _message  # type: ignore[import-not-found]

        reply = _message.blocking_request("get_ipynb", request="", timeout_sec=30)
    except Exception:  # noqa: BLE001 - any failure means: not available
        return None
    notebook = reply.get("ipynb") if isinstance(reply, dict) else None
    return notebook if isinstance(notebook, dict) else None


def _has_exercises(path: Path) -> bool:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return False
    return '"nbgrader"' in text and '"grade_id"' in text


def not_found_lines(why_not: str) -> list[str]:
    return [
        "Check your work: this notebook",
        f"Not checked: {why_not}.",
        "",
        "Without the file this check cannot see which cells are tests or whether their grading "
        "metadata is intact. Instead:",
        "  - run every cell (Run all) and read the output under each test cell: a ✓ line means "
        "done, an error says what to fix;",
        "  - or pass the file: ct.check_my_work(\"path/to/notebook.ipynb\");",
        "  - or download the notebook and, on a machine with the course installed, run "
        "convtrain check NOTEBOOK.ipynb.",
        "",
        *(line.format(file="the .ipynb file (File → Download)") for line in SUBMIT),
    ]


def check_my_work(path: str | os.PathLike | None = None) -> None:
    """Is this notebook ready to submit? Print, per exercise, whether its visible tests pass
    in this kernel, the points at stake, the cells grading will not find as they are, and
    how to hand the notebook in.

    ``path``: the notebook file, when it cannot be found on its own (Kaggle). Run every cell
    above first: this runs the visible tests, never your answer cells, and never changes
    the notebook (see the module's documentation for exactly what it does).
    """
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:
        shell = None
    located = locate(path, shell)
    if located.notebook is None:
        print("\n".join(not_found_lines(located.why_not)))
        return
    if shell is not None:
        namespace = shell.user_ns
        transform = shell.transform_cell
        history = getattr(getattr(shell, "history_manager", None), "input_hist_raw", None)
        executed = list(history) if history is not None else None
    else:
        import __main__

        namespace, transform, executed = vars(__main__), None, None
    check(located.notebook, namespace, located.name, located.where, transform, executed,
          emit=lambda line: print(line, flush=True), file=located.path)
