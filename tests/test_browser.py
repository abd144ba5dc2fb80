"""The course in JupyterLab, in headless Chromium, as a student and an instructor use it.

One JupyterLab serves a scratch copy of the lessons (nothing is ever saved into the
repository); the browser runs all cells through JupyterLab's own command, and the tests
read the outputs from the notebook model. Screenshots go to ``artifacts/browser/``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from browser import (
    cell_outputs,
    chromium_page,
    error_outputs,
    jupyter_lab,
    needs_chromium,
    open_notebook,
    run_all_cells,
    shut_down_kernels,
)
from convtrain.instructor.course import nbgrader_meta

ROOT = Path(__file__).resolve().parents[1]
LESSON = "00_building_blocks"
SLIDER_LESSON = "02_dropout"

pytestmark = [pytest.mark.browser, needs_chromium, pytest.mark.xdist_group(name="browser")]


def lesson_ids() -> list[str]:
    """Lessons in ``solutions/``: folders holding a notebook of the same name."""
    return sorted(p.parent.name for p in (ROOT / "solutions").glob("*/*.ipynb")
                  if p.stem == p.parent.name)


def first_exercise(notebook: Path) -> range:
    """Cell indices of the first exercise: its answer cell through its graded test cell.

    The answer cell only defines the stub; the error appears where the stub is first called,
    which is in the test cell at the latest.
    """
    cells = json.loads(notebook.read_text())["cells"]
    nbgrader = [nbgrader_meta(cell) for cell in cells]
    answer = next(i for i, meta in enumerate(nbgrader) if meta.get("solution") and cells[i]["cell_type"] == "code")
    test = next(i for i, meta in enumerate(nbgrader) if i > answer and meta.get("grade"))
    return range(answer, test + 1)


def slider_notebook(lesson: Path) -> nbformat.NotebookNode:
    """The lesson's set-up, its plotting function and its ``interact`` cell, and nothing else.

    Running the whole lesson in a browser takes minutes on a busy CPU; these cells are
    what the slider needs, taken verbatim from the lesson so the test follows it.
    """
    notebook = nbformat.read(lesson, as_version=4)
    code = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    wanted = [code[0],  # the bootstrap cell
              next(s for s in code if "import ipywidgets as widgets" in s),
              next(s for s in code if "def show_dropout_samples" in s),
              next(s for s in code if "widgets.interact(" in s)]
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in wanted],
                                    metadata=notebook.metadata)  # the kernelspec, so a kernel starts


@pytest.fixture(scope="module")
def course_copy(tmp_path_factory) -> Path:
    """A scratch server root: copies of the notebooks under test and an nbgrader course.

    The course's config is the repository's, with the source folder pointing at the
    repository's ``solutions/`` and the release and exchange folders inside the scratch root.
    """
    root = tmp_path_factory.mktemp("jupyter-root")
    for folder in ("workshops", "solutions"):
        shutil.copytree(ROOT / folder / LESSON, root / folder / LESSON)
    (root / "widgets").mkdir()
    nbformat.write(slider_notebook(ROOT / "solutions" / SLIDER_LESSON / f"{SLIDER_LESSON}.ipynb"),
                   root / "widgets" / "dropout_slider.ipynb")
    course = root / "course"
    course.mkdir()
    config = (ROOT / "course" / "nbgrader_config.py").read_text()
    config += (f"\nc.CourseDirectory.source_directory = {str(ROOT / 'solutions')!r}"
               f"\nc.CourseDirectory.release_directory = {str(root / 'release')!r}"
               f"\nc.Exchange.root = {str(root / 'exchange')!r}\n")
    (root / "exchange").mkdir()
    (course / "nbgrader_config.py").write_text(config)
    return root


@pytest.fixture(scope="module")
def screenshots(artifacts) -> Path:
    folder = artifacts / "browser"
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def lab(course_copy, screenshots):
    with jupyter_lab(course_copy, cwd=course_copy / "course", log_dir=screenshots) as server:
        yield server


@pytest.fixture
def page():
    with chromium_page() as browser_page:
        try:
            yield browser_page
        finally:
            shut_down_kernels(browser_page)


def scroll_to_cell(page, index: int) -> None:
    page.evaluate("""async (i) => {
        const notebook = window.jupyterapp.shell.currentWidget.content;
        notebook.activeCellIndex = i;
        await notebook.scrollToItem(i, 'center');
    }""", index)
    page.wait_for_timeout(500)  # let the scrolled cells paint before a screenshot


def test_workshop_stops_with_not_implemented_error_at_first_exercise(lab, page, screenshots):
    path = f"workshops/{LESSON}/{LESSON}.ipynb"
    exercise = first_exercise(ROOT / path)

    open_notebook(page, lab, path)
    run_all_cells(page, timeout_s=300)
    cells = cell_outputs(page)
    errors = error_outputs(cells)
    if errors:
        scroll_to_cell(page, errors[0][0])
    page.screenshot(path=screenshots / f"{LESSON}-workshop.png")

    assert errors, "running the untouched workshop raised no error; the first exercise should"
    index, error = errors[0]
    assert error["ename"] == "NotImplementedError" and index in exercise, (
        f"first error was {error['ename']}: {error.get('evalue')} in cell {index}; expected "
        f"NotImplementedError in cells {exercise.start}-{exercise.stop - 1}, the first exercise\n"
        + "\n".join(error.get("traceback", [])[-3:]))
    ran = [i for i, cell in enumerate(cells) if cell["execution_count"] is not None]
    code_before = [i for i, cell in enumerate(cells[:index]) if cell["type"] == "code"]
    assert ran == code_before + [index], (
        f"cells {ran} ran; expected every code cell up to the first exercise ({index}) and none after")


def test_solution_runs_to_the_end_without_errors(lab, page, screenshots):
    open_notebook(page, lab, f"solutions/{LESSON}/{LESSON}.ipynb")
    run_all_cells(page, timeout_s=300)
    cells = cell_outputs(page)
    scroll_to_cell(page, len(cells) - 1)
    page.screenshot(path=screenshots / f"{LESSON}-solution.png")

    errors = [f"cell {i}: {out['ename']}: {out.get('evalue')}" for i, out in error_outputs(cells)]
    assert not errors, "the solution notebook raised:\n" + "\n".join(errors)
    not_run = [i for i, cell in enumerate(cells)
               if cell["type"] == "code" and cell["execution_count"] is None]
    assert not not_run, f"code cells {not_run} never ran: the run stopped before the end"


def test_formgrader_lists_every_lesson(lab, page, screenshots):
    page.goto(lab.url("/formgrader"))
    table = page.locator("table").first
    lessons = lesson_ids()
    table.get_by_text(lessons[-1], exact=True).wait_for()
    page.screenshot(path=screenshots / "formgrader.png")

    rows = table.inner_text().splitlines()[1:]  # the header is first
    listed = {row.split("\t")[0].strip() for row in rows}
    missing = set(lessons) - listed
    assert not missing, f"formgrader does not list {sorted(missing)}; it lists {sorted(listed)}"


def test_dropout_slider_redraws_the_plot(lab, page, screenshots):
    open_notebook(page, lab, "widgets/dropout_slider.ipynb")
    run_all_cells(page, timeout_s=300)
    errors = [f"cell {i}: {out['ename']}: {out.get('evalue')}"
              for i, out in error_outputs(cell_outputs(page))]
    assert not errors, "the lesson's slider cells raised:\n" + "\n".join(errors)

    plot = page.locator(".widget-output img").first
    plot.wait_for()
    readout = page.locator(".widget-slider .widget-readout").first
    before = plot.get_attribute("src")
    value_before = readout.inner_text()

    page.locator(".widget-slider .noUi-handle").first.focus()
    page.keyboard.press("ArrowRight")  # one step of 0.1; the slider updates on release
    page.wait_for_function(
        "(old) => { const img = document.querySelector('.widget-output img');"
        " return img && img.src && img.src !== old; }", arg=before, timeout=120_000)
    page.screenshot(path=screenshots / f"{SLIDER_LESSON}-slider.png")

    value_after = readout.inner_text()
    assert float(value_after) == pytest.approx(float(value_before) + 0.1), (
        f"slider read {value_before} before and {value_after} after one step right")
    assert plot.get_attribute("src") != before, "moving the slider did not redraw the plot"
