"""Rebuild the notebook that is graded from a student's notebook and the gradebook.

Whatever happened to the file on its way back (Colab dropped the nbgrader metadata,
the student edited, emptied, moved or deleted a test cell), the run is made of:

- the student's own cells (answers and anything they added), in their order;
- every given cell (locked code, tests) from the gradebook, never the student's copy;
- each test cell placed right after the cell that precedes it in the release, so
  a moved test still runs after its answer;
- each test split into its visible and hidden parts, run one after the other.

>>> steps, flags = restore(notebook_cells, assignment)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import difflib

from convtrain.instructor.course import nbgrader_meta, split_hidden
from convtrain.instructor.grading.discover import fingerprint, normalize
from convtrain.instructor.grading.flags import Flag
from convtrain.instructor.grading.gradebook import Assignment, CellSpec

ANSWER_SIMILARITY = 0.3  # an edited answer still shares its def line and docstring with the stub
TEST_SIMILARITY = 0.6  # an edited test is mostly the test


@dataclasses.dataclass(frozen=True)
class Step:
    """One piece of code run in the kernel.

    kind: ``"student"`` (the student's text), ``"given"`` (a locked cell from the
    gradebook) or ``"test"`` (one region of a test cell, ``hidden`` or not).
    """

    kind: str
    source: str
    cell: str | None = None
    hidden: bool = False


def restore(cells: list, assignment: Assignment) -> tuple[list[Step], set[Flag]]:
    """The steps to run for a student's notebook cells, and flags saying what was repaired.

    Flags: ``metadata_restored`` (nbgrader metadata missing or altered on a given cell),
    ``test_edited`` (a test cell's text was changed; the gradebook's ran),
    ``test_deleted`` (a test or locked cell was missing; the gradebook's ran).
    """
    partners = _partner(cells, assignment)
    flags = _repairs(cells, partners, assignment)
    specs = {spec.name: spec for spec in assignment.cells}
    sequence: list[tuple[str | None, int | None]] = []  # (spec name, student cell index)
    for index in range(len(cells)):
        name = partners.get(index)
        if name is None or not specs[name].is_test:
            sequence.append((name, index))
    placed = {name for name, _ in sequence if name}
    for spec in assignment.cells:
        if spec.cell_type == "code" and (spec.is_test or (spec.locked and not spec.solution)) \
                and (spec.is_test or spec.name not in placed):
            _insert_after_predecessor(sequence, spec, assignment)
    return [step for name, index in sequence
            for step in _steps_for(name and specs[name], cells[index] if index is not None else None)], flags


def untouched_answers(cells: list, assignment: Assignment) -> set[str]:
    """The answer cells (by grade id) whose student copy still holds the released stub,
    whitespace ignored: the student has not started them."""
    specs = {spec.name: spec for spec in assignment.cells}
    untouched = set()
    for index, name in _partner(cells, assignment).items():
        spec = specs[name]
        if spec.solution and not spec.grade and \
                _without_whitespace(cells[index].get("source", "")) == _without_whitespace(spec.source):
            untouched.add(name)
    return untouched


def answer_texts(cells: list, assignment: Assignment, limit: int = 20_000) -> dict[str, str]:
    """Per exercise (test id), the student's code in its answer cells (the cells paired with
    them, in notebook order, joined; at most ``limit`` characters): what
    ``convtrain.instructor.similarity`` compares across the cohort."""
    paired: dict[str, list[int]] = {}
    for index, name in _partner(cells, assignment).items():
        paired.setdefault(name, []).append(index)
    texts = {}
    for test, answers in assignment.exercises:
        indices = sorted(index for answer in answers for index in paired.get(answer.name, []))
        sources = [_text(cells[index].get("source", "")) for index in indices
                   if cells[index].get("cell_type") == "code"]
        if sources:
            texts[test.name] = "\n\n".join(sources)[:limit]
    return texts


def _text(source) -> str:
    return "".join(source) if isinstance(source, list) else str(source)


def _without_whitespace(source) -> str:
    text = "".join(source) if isinstance(source, list) else str(source)
    return " ".join(text.split())


def partners(cells: list, assignment: Assignment) -> dict[int, str]:
    """Which gradebook cell each student cell is (index -> grade id), as grading pairs them:
    by grade id, then exact text, then similarity (``convtrain check`` reports from it)."""
    return _partner(cells, assignment)


def _partner(cells: list, assignment: Assignment) -> dict[int, str]:
    """student cell index -> gradebook cell name, by grade_id, then exact text, then similarity."""
    partners: dict[int, str] = {}
    taken: set[str] = set()

    def pair(index: int, spec: CellSpec) -> None:
        partners[index] = spec.name
        taken.add(spec.name)

    specs = {spec.name: spec for spec in assignment.cells}
    for index, cell in enumerate(cells):
        grade_id = nbgrader_meta(cell).get("grade_id")
        spec = specs.get(grade_id)
        if spec and spec.name not in taken and spec.cell_type == cell.get("cell_type"):
            pair(index, spec)
    released = {}
    for spec in assignment.cells:  # written answers all start as the same stub: see below
        if spec.name not in taken and not spec.is_written and normalize(spec.release_source):
            released.setdefault(fingerprint(spec.release_source), spec)
    for index, cell in enumerate(cells):
        spec = released.get(fingerprint(cell.get("source", "")))
        if index not in partners and spec and spec.name not in taken:
            pair(index, spec)
    for spec in assignment.cells:
        if spec.name in taken or spec.cell_type != "code" or not (spec.is_test or spec.solution):
            continue
        index = _most_similar(cells, partners, spec)
        if index is not None:
            pair(index, spec)
    for spec in assignment.cells:  # an answer rewritten past resemblance to its stub
        if spec.name not in taken and spec.cell_type == "code" and spec.solution and not spec.grade:
            index = _last_between_neighbours(cells, partners, assignment, spec)
            if index is not None:
                pair(index, spec)
    for spec in assignment.written:
        if spec.name not in taken:
            index = _after_question(cells, partners, assignment.question(spec.name),
                                    assignment.given_texts)
            if index is not None:
                pair(index, spec)
    return partners


def _last_between_neighbours(cells: list, partners: dict[int, str], assignment: Assignment,
                             spec: CellSpec) -> int | None:
    """The last unpaired code cell between the student cells paired with ``spec``'s neighbours
    in the release (usually: after the previous exercise's test, before this one's), or None.

    A long answer that lost its metadata can share too little text with its stub to be
    found by similarity; taking the last cell of the gap keeps its test after all of it.
    """
    order = [cell.name for cell in assignment.cells]
    found = {name: index for index, name in partners.items()}
    position = order.index(spec.name)
    before = [found[name] for name in order[:position] if name in found]
    after = [found[name] for name in order[position + 1:] if name in found]
    low = max(before, default=-1)
    high = min((index for index in after if index > low), default=len(cells))
    gap = [index for index in range(low + 1, high)
           if index not in partners and cells[index].get("cell_type") == "code"]
    return gap[-1] if gap else None


def _after_question(cells: list, partners: dict[int, str], question: str,
                    given: frozenset[str]) -> int | None:
    """The Markdown cell right after the cell that holds ``question``, or None: when there is
    none, or it is paired already, belongs to another cell (its grade id) or is a cell of the
    lesson itself (``given``: the answer was deleted)."""
    wanted = normalize(question)
    if not wanted:
        return None
    for index, cell in enumerate(cells[:-1]):
        if cell.get("cell_type") == "markdown" and normalize(_text(cell.get("source", ""))) == wanted:
            following = cells[index + 1]
            if following.get("cell_type") == "markdown" and index + 1 not in partners \
                    and not nbgrader_meta(following).get("grade_id") \
                    and normalize(_text(following.get("source", ""))) not in given:
                return index + 1
    return None


def written_answers(cells: list, assignment: Assignment) -> dict[str, str | None]:
    """Per written answer (grade id), the student's Markdown text, or None when no cell of
    the notebook could be taken for it (found by grade id, else as the cell right after its
    question)."""
    found = {name: index for index, name in _partner(cells, assignment).items()}
    return {spec.name: _text(cells[found[spec.name]].get("source", "")) if spec.name in found
            else None for spec in assignment.written}


def unanswered(text: str | None, spec: CellSpec) -> bool:
    """Whether a written answer is still the stub it was handed out as (or empty)."""
    return text is not None and _without_whitespace(text) in ("", _without_whitespace(spec.source))


def _most_similar(cells: list, partners: dict[int, str], spec: CellSpec) -> int | None:
    threshold = TEST_SIMILARITY if spec.is_test else ANSWER_SIMILARITY
    target = normalize(spec.release_source)[:4000]
    best, best_ratio = None, threshold
    for index, cell in enumerate(cells):
        if index in partners or cell.get("cell_type") != "code":
            continue
        ratio = difflib.SequenceMatcher(None, target, normalize(cell.get("source", ""))[:4000]).ratio()
        if ratio >= best_ratio:
            best, best_ratio = index, ratio
    return best


def _repairs(cells: list, partners: dict[int, str], assignment: Assignment) -> set[Flag]:
    flags = set()
    found = {name: index for index, name in partners.items()}
    for spec in assignment.cells:
        index = found.get(spec.name)
        if index is None:
            if spec.is_test or (spec.locked and spec.cell_type == "code" and not spec.solution):
                flags.add(Flag.TEST_DELETED)
            continue
        meta = nbgrader_meta(cells[index])
        expected = spec.metadata()
        if any(meta.get(key) != expected[key] for key in ("grade_id", "grade", "solution", "locked")) \
                or (spec.grade and float(meta.get("points", -1)) != spec.points):
            flags.add(Flag.METADATA_RESTORED)
        if spec.is_test and normalize(cells[index].get("source", "")) not in (
                normalize(spec.release_source), normalize(spec.source)):
            flags.add(Flag.TEST_EDITED)
    return flags


def _insert_after_predecessor(sequence: list, spec: CellSpec, assignment: Assignment) -> None:
    """Put ``spec`` after the nearest cell before it (in the release) that is in the run."""
    order = [cell.name for cell in assignment.cells]
    before = order[: order.index(spec.name)]
    position = 0
    for name in reversed(before):
        spots = [i for i, (placed, _) in enumerate(sequence) if placed == name]
        if spots:
            position = spots[-1] + 1
            break
    sequence.insert(position, (spec.name, None))


def _steps_for(spec: CellSpec | None, cell) -> list[Step]:
    if spec is not None and spec.cell_type == "code" and spec.is_test:
        return [Step("test", text, spec.name, hidden) for hidden, text in split_hidden(spec.source)]
    if spec is not None and spec.cell_type == "code" and spec.locked and not spec.solution:
        return [Step("given", spec.source, spec.name)]
    if cell is None or cell.get("cell_type") != "code":
        return []
    return [Step("student", cell.get("source", ""), spec.name if spec else None)]

