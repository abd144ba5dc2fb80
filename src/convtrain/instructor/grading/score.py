"""Turn an executed submission into points, flags and feedback messages.

A test cell earns its points when every region of it (visible, then hidden) passed:
its cell ran to its end and the kernel agent signed exactly one record for it that
says ``pass`` (see ``guard``). Output on stderr never costs points. Messages for
feedback come only from visible regions and have any text of the hidden tests blanked
out; a hidden failure is reported as such, with the exception's type only.
"""

from __future__ import annotations

import dataclasses

from convtrain.instructor.course import split_hidden
from convtrain.instructor.grading.execute import Execution
from convtrain.instructor.grading.gradebook import Assignment

MESSAGE_LIMIT = 600


@dataclasses.dataclass
class TestResult:
    """One test cell's outcome, safe to show the student."""

    name: str
    points: float
    max_points: float
    status: str  # passed, failed, hidden_failed, not_run
    message: str = ""
    visible_source: str = ""


def score(assignment: Assignment, execution: Execution) -> tuple[list[TestResult], set[str]]:
    """Per-test results and the flags the run raised."""
    results = [_score_test(spec, execution) for spec in assignment.tests]
    return results, _run_flags(execution)


def _score_test(spec, execution: Execution) -> TestResult:
    regions = [run for run in execution.runs if run.step.kind == "test" and run.step.cell == spec.name]
    visible = "\n\n".join(text for hidden, text in split_hidden(spec.source) if not hidden).strip()
    result = TestResult(spec.name, 0.0, spec.points, "not_run", visible_source=visible)
    if not regions:
        return result
    for run in regions:
        verdict = run.verdict
        if run.status != "ok" or run.errors or verdict is None or verdict.get("status") != "pass":
            result.status, result.message = _failure(run, _hidden_lines(spec.source))
            return result
    result.status, result.points = "passed", spec.points
    return result


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


def _run_flags(execution: Execution) -> set[str]:
    flags = set(execution.events)
    reports = execution.reports
    if _silenced(execution):
        reports["tamper"].add("a test region did not report back")
    if reports["tamper"]:
        flags.add("tamper")
    if reports["forbidden"]:
        flags.add("forbidden_access")
    if reports["network"]:
        flags.add("network_attempt")
    if any(_out_of_memory(ename, evalue) for run in execution.runs for ename, evalue in _errors(run)):
        flags.add("memory_limit")
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
