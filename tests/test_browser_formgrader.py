"""An instructor grades a written answer in nbgrader's formgrader, in headless Chromium.

The tiny course with two written answers (``grading_fixtures/tiny_course.py``); one
student's notebook graded by ``convtrain grade``; then the formgrader's page of that
submission, as an instructor opens it: each question, the student's answer and a score
box beside it. A score typed there reaches the gradebook, and the export adds it.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
import pytest

from browser import chromium_page, jupyter_lab, needs_chromium
from convtrain.instructor.course import load_course
from convtrain.instructor.grading.command import main

sys.path.insert(0, str(Path(__file__).parent / "grading_fixtures"))
import tiny_course  # noqa: E402

from test_grading_written import BOTH, MEAN, WHY, solved  # noqa: E402

pytestmark = [pytest.mark.browser, needs_chromium, pytest.mark.xdist_group(name="browser")]
LESSON = tiny_course.LESSON


@pytest.fixture(scope="module")
def graded_course(tmp_path_factory):
    root = tmp_path_factory.mktemp("formgrader")
    course = tiny_course.build_course(root, written=True)
    folder = root / "submissions" / "ann"
    folder.mkdir(parents=True)
    nbformat.write(solved(root, BOTH), folder / f"{LESSON}.ipynb")
    assert main([str(root / "submissions"), "--out", str(root / "out"), "--course", str(course),
                 "--timeout-cell", "60"]) == 0
    return root, course


def _submission_id(course: Path) -> str:
    from nbgrader.api import Gradebook

    with Gradebook(load_course(course).db_url) as gradebook:
        return gradebook.find_submission_notebook(LESSON, LESSON, "ann").id


def _grade(course: Path, cell: str):
    from nbgrader.api import Gradebook

    with Gradebook(load_course(course).db_url) as gradebook:
        grade = gradebook.find_grade(cell, LESSON, LESSON, "ann")
        return grade.manual_score, grade.needs_manual_grade


def test_the_instructor_scores_a_written_answer_in_the_formgrader(graded_course, artifacts):
    root, course = graded_course
    assert _grade(course, WHY) == (None, True)
    shots = artifacts / "browser"
    shots.mkdir(parents=True, exist_ok=True)
    with jupyter_lab(root, cwd=course, log_dir=shots) as lab, chromium_page() as page:
        page.goto(lab.url("/formgrader"))  # logs in: the page's own API calls carry the cookie
        page.get_by_text(LESSON, exact=True).first.wait_for()
        page.goto(lab.url(f"/formgrader/submissions/{_submission_id(course)}/"))
        box = page.locator(f"input#{WHY}")
        box.wait_for()
        page.wait_for_load_state("networkidle")  # the grades are fetched and the boxes bound
        text = page.inner_text("body")
        assert "Why is doubling linear?" in text and BOTH[WHY] in text
        assert "When does the mean mislead?" in text and BOTH[MEAN] in text
        assert "/ 2.0" in text and "/ 1.5" in text  # each answer's points beside its box
        with page.expect_response(lambda response: "/api/grade/" in response.url
                                  and response.request.method == "PUT") as saved:
            box.fill("1.5")
            box.press("Tab")  # the formgrader saves a score when the box loses focus
        assert saved.value.ok, f"the formgrader could not save the score: {saved.value.status}"
        deadline = time.monotonic() + 30
        while _grade(course, WHY)[0] is None and time.monotonic() < deadline:
            page.wait_for_timeout(250)
        page.screenshot(path=shots / "formgrader-written-answer.png", full_page=True)
    assert _grade(course, WHY) == (1.5, False)
    assert _grade(course, MEAN) == (None, True)  # the other answer still waits

    from convtrain.instructor.export import export

    data, _files = export(root / "out", "wide", root / "wide.csv", course_dir=course,
                          with_manual=True)
    assert data.cells[("ann", LESSON)].total == sum(tiny_course.POINTS.values()) + 1.5
