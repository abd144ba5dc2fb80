"""Turn an executed submission into points, flags and feedback messages.

A test cell earns its points when every region of it (visible, then hidden) ran to
its end: no error output and the region's nonce printed (see ``guard``). Output on
stderr never costs points. Messages for feedback come only from visible regions and
have any text of the hidden tests blanked out; a hidden failure is reported as such,
with the exception's type only.
"""

from __future__ import annotations

import dataclasses

from convtrain.grading import guard
from convtrain.grading.course import Assignment, split_hidden
from convtrain.grading.execute import Execution

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
    printed = guard.passed_nonces(execution.guard_text)
    for run in regions:
        if run.status != "ok" or run.errors or run.nonce not in printed:
            result.status, result.message = _failure(run, _hidden_lines(spec.source))
            return result
    result.status, result.points = "passed", spec.points
    return result


def _failure(run, hidden_lines: list[str]) -> tuple[str, str]:
    """(status, message) for the first region of a test that did not run to its end."""
    if run.status == "not_run":
        return "not_run", "This test did not run (the notebook stopped before it)."
    if run.step.hidden:
        kinds = ", ".join(sorted({ename for ename, _ in run.errors})) or run.status
        return "hidden_failed", f"A hidden test failed ({kinds})."
    return "failed", _message(run, hidden_lines)


def _message(run, hidden_lines: list[str]) -> str:
    if run.status == "timeout":
        return "The test ran out of time and was interrupted."
    if run.status == "killed":
        return "The kernel stopped during this test (time or memory limit, or the code exited)."
    if not run.errors:
        return "The test did not finish."
    ename, evalue = run.errors[0]
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
    reports = guard.read_reports(execution.guard_text)
    if reports["tamper"]:
        flags.add("tamper")
    if reports["forbidden"]:
        flags.add("forbidden_access")
    if reports["network"]:
        flags.add("network_attempt")
    if any(_out_of_memory(ename, evalue) for run in execution.runs for ename, evalue in run.errors):
        flags.add("memory_limit")
    return flags


def _out_of_memory(ename: str, evalue: str) -> bool:
    """Python's MemoryError, or torch's allocator failing under the memory limit."""
    return ename == "MemoryError" or (ename == "RuntimeError" and "can't allocate memory" in evalue)


def tamper_details(execution: Execution) -> list[str]:
    """What the guard found replaced (for the log, not for the student)."""
    return sorted(guard.read_reports(execution.guard_text)["tamper"])
