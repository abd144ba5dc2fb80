"""`convtrain build`: workshops are generated from solutions, and drift is caught."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from convtrain.instructor import build, course

ROOT = Path(__file__).resolve().parents[1]
LESSON = "00_building_blocks"


@pytest.fixture
def course_copy(tmp_path):
    """A minimal copy of the repository: the course config, one lesson, its workshop."""
    for folder in ["course", f"solutions/{LESSON}", f"workshops/{LESSON}"]:
        shutil.copytree(ROOT / folder, tmp_path / folder,
                        ignore=shutil.ignore_patterns("gradebook.db", "submitted", "autograded"))
    return tmp_path


def run_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "convtrain.cli", "build", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_check_passes_on_a_fresh_build(course_copy):
    assert build.build(course_copy, [LESSON], check=True) == []


def test_check_reports_an_edited_workshop(course_copy):
    path = course_copy / "workshops" / LESSON / f"{LESSON}.ipynb"
    notebook = json.loads(path.read_text())
    notebook["cells"][0]["source"] = "# edited by hand"
    path.write_text(json.dumps(notebook, indent=1))
    result = run_cli(course_copy, "--check")
    assert result.returncode == 1
    assert f"workshops/{LESSON}/{LESSON}.ipynb differs" in result.stderr
    assert "edited by hand" in result.stderr  # the diff shows what changed
    assert "run `convtrain build`" in result.stderr


def test_check_reports_a_missing_and_an_orphan_workshop(course_copy):
    shutil.move(course_copy / "workshops" / LESSON, course_copy / "workshops" / "99_orphan")
    problems = build.build(course_copy, check=True)
    assert any("missing" in p for p in problems), problems
    assert any("99_orphan has no source" in p for p in problems), problems


def test_build_regenerates_and_strips_solutions(course_copy):
    shutil.rmtree(course_copy / "workshops" / LESSON)
    assert run_cli(course_copy, LESSON).returncode == 0
    text = (course_copy / "workshops" / LESSON / f"{LESSON}.ipynb").read_text()
    assert "raise NotImplementedError()" in text
    assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text
    assert build.build(course_copy, [LESSON], check=True) == []


def test_unknown_lesson_is_a_clear_error(course_copy):
    result = run_cli(course_copy, "42_nope")
    assert result.returncode == 2
    assert "No such lesson: 42_nope" in result.stderr and LESSON in result.stderr


def test_outside_a_checkout_the_error_says_where_to_run(tmp_path, monkeypatch):
    monkeypatch.setattr(course, "__file__", str(tmp_path / "src" / "convtrain" / "instructor"
                                                / "course.py"))
    with pytest.raises(course.CourseError, match="inside a clone"):
        course.repo_root(tmp_path)


def test_links_point_at_the_workshop_on_main():
    colab, kaggle = build.notebook_links(LESSON)
    assert colab.endswith(f"/blob/main/workshops/{LESSON}/{LESSON}.ipynb")
    assert colab.startswith("https://colab.research.google.com/github/")
    assert f"workshops/{LESSON}/{LESSON}.ipynb" in kaggle
    readme = (ROOT / "README.md").read_text()
    for lesson in course.lessons(ROOT / "solutions"):
        assert build.notebook_links(lesson)[0] in readme, f"README lacks the Colab link of {lesson}"
