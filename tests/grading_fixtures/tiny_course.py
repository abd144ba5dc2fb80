"""A throwaway nbgrader course with one tiny, fast assignment, for the grading tests.

``00_tiny`` has three exercises (2 + 3 + 1 points) that run in well under a second:

- ``double(x)``: 2 * x, checked with ``check_close`` (visible and hidden tests);
- ``count_positive(values)``: how many values are > 0, checked with ``check_equal``;
- ``noisy_mean(values)``: the mean, whose solution warns on stderr (must not cost points).

``build_course(root, written=True)`` adds two written answers (graded by a person,
``WRITTEN`` points), each right after its question.

``build_course(root)`` writes ``root/course/nbgrader_config.py`` (the same layout as the
real course: ``../solutions`` is the source, ``../workshops`` the release), the
solution notebook, and generates the release and the gradebook with nbgrader.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

LESSON = "00_tiny"
POINTS = {"test_double": 2.0, "test_count": 3.0, "test_mean": 1.0}
WRITTEN = {"written_why_double": 2.0, "written_mean": 1.5}
QUESTIONS = {"written_why_double": "### Written question 1 (2 points)\n\nWhy is doubling linear?",
             "written_mean": "### Written question 2 (1.5 points)\n\nWhen does the mean mislead?"}
MODEL_ANSWERS = {"written_why_double": "Because 2(a + b) = 2a + 2b.",
                 "written_mean": "With outliers: the median is robust."}

CONFIG = '''import os
c = get_config()  # noqa: F821
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = "tiny"
c.CourseDirectory.source_directory = "../solutions"
c.CourseDirectory.release_directory = "../workshops"
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\\nraise NotImplementedError()"}
'''


def _meta(grade_id, *, solution=False, grade=False, locked=False, points=None):
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
            "solution": solution, "task": False}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def _code(source, **meta):
    return nbformat.v4.new_code_cell(source, metadata=_meta(**meta) if meta else {})


def _markdown(source, **meta):
    return nbformat.v4.new_markdown_cell(source, metadata=_meta(**meta) if meta else {})


def _written(grade_id: str) -> list:
    return [_markdown(QUESTIONS[grade_id]),
            _markdown(f"### BEGIN SOLUTION\n{MODEL_ANSWERS[grade_id]}\n\nRubric: full points for "
                      "the reason.\n### END SOLUTION", grade_id=grade_id, solution=True, grade=True,
                      points=WRITTEN[grade_id])]


def solution_notebook(written: bool = False) -> nbformat.NotebookNode:
    cells = [
        _markdown("# Tiny lesson\nThree small exercises.", grade_id="intro", locked=True),
        _code("import torch\nfrom convtrain.checks import check_close, check_equal\n"
              "torch.manual_seed(0)\nVALUES = [3.0, -1.0, 2.0]", grade_id="imports", locked=True),
        _code('def double(x):\n    """Return 2 * x for a tensor x."""\n    ### BEGIN SOLUTION\n'
              '    return 2 * x\n    ### END SOLUTION', grade_id="double", solution=True),
        _code('check_close(double(torch.ones(3)), 2 * torch.ones(3), name="double(ones)")\n'
              '### BEGIN HIDDEN TESTS\nx = torch.randn(4, 5)\n'
              'check_close(double(x), x * 2, name="double(randn)")\n### END HIDDEN TESTS\n'
              'print("ok double")',
              grade_id="test_double", grade=True, locked=True, points=POINTS["test_double"]),
        _markdown("## Exercise 2: counting (3 points)"),  # a heading: feedback names the exercise
        _code('def count_positive(values):\n    """How many of the values are > 0."""\n'
              '    ### BEGIN SOLUTION\n    return int(sum(1 for v in values if v > 0))\n'
              '    ### END SOLUTION', grade_id="count", solution=True),
        _code('check_equal(count_positive(VALUES), 2, name="count_positive(VALUES)")\n'
              '### BEGIN HIDDEN TESTS\n'
              'check_equal(count_positive([0.0, 5.0, -3.0, 7.0, 0.5]), 3, name="count_positive(more)")\n'
              '### END HIDDEN TESTS\nprint("ok count")',
              grade_id="test_count", grade=True, locked=True, points=POINTS["test_count"]),
        _code('import warnings\n\ndef noisy_mean(values):\n    """The mean of the values."""\n'
              '    ### BEGIN SOLUTION\n    warnings.warn("computing a mean", UserWarning)\n'
              '    import sys\n    print("debug output", file=sys.stderr)\n'
              '    return sum(values) / len(values)\n    ### END SOLUTION',
              grade_id="mean", solution=True),
        _code('check_close(noisy_mean([1.0, 2.0, 3.0]), 2.0, name="noisy_mean")\n'
              '### BEGIN HIDDEN TESTS\ncheck_close(noisy_mean([4.0]), 4.0, name="noisy_mean([4])")\n'
              '### END HIDDEN TESTS\nprint("ok mean")',
              grade_id="test_mean", grade=True, locked=True, points=POINTS["test_mean"]),
        _markdown("That's all."),
    ]
    if written:
        cells[4:4] = _written("written_why_double")
        cells[-1:-1] = _written("written_mean")
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    return notebook


def build_course(root: Path, written: bool = False) -> Path:
    """Write the course under ``root`` and generate its release and gradebook; return course/."""
    course = root / "course"
    course.mkdir(parents=True)
    (course / "nbgrader_config.py").write_text(CONFIG)
    source = root / "solutions" / LESSON
    source.mkdir(parents=True)
    nbformat.write(solution_notebook(written), source / f"{LESSON}.ipynb")
    (root / "workshops").mkdir()
    from convtrain.instructor.course import generate_assignments, load_course
    from convtrain.instructor.grading.gradebook import sync_gradebook

    loaded = load_course(course)
    generate_assignments(loaded, [LESSON], loaded.release_dir)
    assert sync_gradebook(loaded, log=lambda message, screen=True: None) == []
    return course
