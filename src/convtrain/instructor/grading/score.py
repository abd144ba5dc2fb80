"""Turn an executed submission into points, flags and feedback messages.

A test cell earns its points when every region of it (visible, then hidden) passed:
its cell ran to its end and the kernel agent signed exactly one record for it that
says ``pass`` (see ``guard``). Output on stderr never costs points. Messages for
feedback come only from visible regions and have any text of the hidden tests blanked
out; a hidden failure is reported as such, with the exception's type only.

An exercise the student has not started is ``not_attempted`` rather than ``failed``:
every answer cell still holds the released stub, or the visible test stopped on
``NotImplementedError`` or on a ``NameError`` for a name the answer cell was meant to
define. Its message says so in words instead of quoting the error.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from collections.abc import Collection

from convtrain.instructor.course import split_hidden
from convtrain.instructor.grading.execute import Execution
from convtrain.instructor.grading.flags import Flag
from convtrain.instructor.grading.gradebook import Assignment, CellSpec

MESSAGE_LIMIT = 600
_NAME_ERROR = re.compile(r"name '(\w+)' is not defined")


@dataclasses.dataclass
class TestResult:
    """One test cell's outcome, safe to show the student.

    ``status``: passed, failed, hidden_failed, not_attempted or not_run (``report.STATUSES``);
    ``title``: the exercise's heading in the lesson ("Exercise 2: `streaming_mean_std`"), or
    "" when it has none.
    """

    name: str
    points: float
    max_points: float
    status: str
    message: str = ""
    visible_source: str = ""
    title: str = ""


def score(assignment: Assignment, execution: Execution,
          untouched: Collection[str] = ()) -> tuple[list[TestResult], set[Flag]]:
    """Per-test results and the flags the run raised.

    ``untouched``: the answer cells (grade ids) that still hold the released stub
    (:func:`convtrain.instructor.grading.restore.untouched_answers`).
    """
    results = [_score_test(spec, execution, assignment, set(untouched)) for spec in assignment.tests]
    return results, _run_flags(execution)


def _score_test(spec, execution: Execution, assignment: Assignment, untouched: set[str]) -> TestResult:
    regions = [run for run in execution.runs if run.step.kind == "test" and run.step.cell == spec.name]
    visible = "\n\n".join(text for hidden, text in split_hidden(spec.source) if not hidden).strip()
    result = TestResult(spec.name, 0.0, spec.points, "not_run", visible_source=visible,
                        title=assignment.title(spec.name))
    if not regions:
        return result
    for run in regions:
        verdict = run.verdict
        if run.status != "ok" or run.errors or verdict is None or verdict.get("status") != "pass":
            result.status, result.message = _failure(run, _hidden_lines(spec.source))
            if result.status in ("failed", "hidden_failed"):
                reason = not_attempted(result.title, spec.name, assignment.answers(spec.name),
                                       untouched, None if run.step.hidden else _errors(run))
                if reason:
                    result.status, result.message = "not_attempted", reason
            return result
    result.status, result.points = "passed", spec.points
    return result


def not_attempted(title: str, test_id: str, answers: tuple[CellSpec, ...], untouched: set[str],
                  errors: list[tuple[str, str]] | None) -> str | None:
    """Why the exercise counts as not attempted (a sentence for the student), or None.

    ``errors``: the failing visible region's errors (None for a hidden region: a hidden
    failure says nothing about whether the answer was started).
    """
    where = f"the cell under “{title}”" if title else f"the answer cell before the test {test_id}"
    stubs_raise = any("NotImplementedError" in answer.source for answer in answers)
    if answers and all(answer.name in untouched for answer in answers):
        if stubs_raise:
            return f"Not attempted: {where} still raises NotImplementedError."
        return f"Not attempted: {where} is still as it was handed out."
    if not errors:
        return None
    ename, evalue = errors[0]
    if ename == "NotImplementedError":
        return f"Not attempted: {where} still raises NotImplementedError."
    match = _NAME_ERROR.search(evalue) if ename == "NameError" else None
    if match and match.group(1) in _meant_names(answers):
        return f"Not attempted: {where} does not define `{match.group(1)}` yet."
    return None


def _meant_names(answers: tuple[CellSpec, ...]) -> set[str]:
    """Names the answer cells are meant to define: what their stubs define at the top level,
    and their grade ids (a stub that is only ``raise NotImplementedError()`` defines nothing:
    its grade id names the variable, e.g. ``worked_example``)."""
    names = {answer.name for answer in answers}
    for answer in answers:
        try:
            tree = ast.parse(answer.source)
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


def _failure(run, hidden_lines: list[str]) -> tuple[str, str]:
    """(status, message) for the first region of a test that did not run to its end."""
    if run.status == "not_run":
        return "not_run", "This test did not run (the notebook stopped before it)."
    if run.step.hidden:
        kinds = ", ".join(sorted({ename for ename, _ in _errors(run)})) or run.status
        return "hidden_failed", f"A hidden test failed ({kinds})."
    return "failed", _message(run, hidden_lines)


def _errors(run) -> list[tuple[str, str]]:
    """The region's error: the agent's signed one first, else what the cell showed."""
    verdict = run.verdict
    if verdict is not None and verdict.get("error"):
        ename, evalue = (list(verdict["error"]) + ["", ""])[:2]
        return [(str(ename), str(evalue))]
    return run.errors


def _message(run, hidden_lines: list[str]) -> str:
    if run.status == "timeout":
        return "The test ran out of time and was interrupted."
    if run.status == "killed":
        return "The kernel stopped during this test (time or memory limit, or the code exited)."
    errors = _errors(run)
    if not errors:
        if not run.records:
            return ("The test did not report back: code in the notebook stopped it from running "
                    "or from printing its result.")
        return "The test did not finish."
    ename, evalue = errors[0]
    text = f"{ename}: {evalue}" if evalue else ename
    for line in hidden_lines:  # never echo the hidden tests back, even if student code tried
        text = text.replace(line, "[hidden]")
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 3] + "..."


def _hidden_lines(source: str) -> list[str]:
    lines = {line.strip() for hidden, text in split_hidden(source) if hidden
             for line in text.splitlines()}
    return sorted((line for line in lines if len(line) >= 8), key=len, reverse=True)


def _run_flags(execution: Execution) -> set[Flag]:
    flags = {Flag(event) for event in execution.events}  # execute's events are flag values
    reports = execution.reports
    if _silenced(execution):
        reports["tamper"].add("a test region did not report back")
    if reports["tamper"]:
        flags.add(Flag.TAMPER)
    if reports["forbidden"]:
        flags.add(Flag.FORBIDDEN_ACCESS)
    if reports["network"]:
        flags.add(Flag.NETWORK_ATTEMPT)
    if any(_out_of_memory(ename, evalue) for run in execution.runs for ename, evalue in _errors(run)):
        flags.add(Flag.MEMORY_LIMIT)
    return flags


def _out_of_memory(ename: str, evalue: str) -> bool:
    """Python's MemoryError, or torch's allocator failing under the memory limit."""
    return ename == "MemoryError" or (ename == "RuntimeError" and "can't allocate memory" in evalue)


def _silenced(execution: Execution) -> bool:
    """A trusted step whose cell ran to its end yet has no single valid record: only code in
    the kernel can do that (a timeout or a dead kernel leaves the cell unfinished)."""
    return any(run.sealed is not None and run.status in ("ok", "error") and run.verdict is None
               for run in execution.runs)


def tamper_details(execution: Execution) -> list[str]:
    """What the agent found changed (for the log and the instructor, not for the student)."""
    details = set(execution.reports["tamper"])
    if _silenced(execution):
        details.add("a test region did not report back")
    return sorted(details)
