"""The cohort report (OUTDIR/report.html), from results made by hand: no kernel runs.

A cohort of six students over two lessons with every test status, informational and
attention flags, an unreadable and an unmatched notebook, a duplicate, and student ids
and file names that try to inject HTML. The browser test opens the page in headless
Chromium and checks that its figures load.
"""

from __future__ import annotations

import base64
import re

import pytest

from browser import chromium_page, needs_chromium
from convtrain.instructor.grading import cohort_report
from convtrain.instructor.grading.gradebook import Assignment, CellSpec
from convtrain.instructor.grading.report import Result

EVIL = "<script>alert('x')</script>&co"
ISOLATION = "bubblewrap sandbox (allow-list files, no network, own PID namespace) + audit hook"


def _spec(name, *, solution=False, grade=False, points=0.0, source="raise NotImplementedError()"):
    return CellSpec(name, "code", source, locked=not solution, solution=solution, grade=grade,
                    points=points)


CONV = Assignment("00_conv", "00_conv", (
    _spec("conv2d", solution=True), _spec("test_conv2d", grade=True, points=3.0),
    _spec("worked", solution=True), _spec("test_worked", grade=True, points=2.0),
    _spec("size", solution=True), _spec("test_size", grade=True, points=1.0),
), None, titles=(("test_conv2d", "Exercise 1: `conv2d`"), ("test_worked", "Exercise 2 — worked example"),
                 ("test_size", "Exercise 3 — output size")))
DROP = Assignment("01_drop", "01_drop", (
    _spec("inverted", solution=True), _spec("test_inverted", grade=True, points=2.0),
    _spec("mc", solution=True), _spec("test_mc", grade=True, points=2.0),
), None)  # no headings: exercises go by test id
ASSIGNMENTS = {"00_conv": CONV, "01_drop": DROP}


def outcome(name, status, points, max_points, title="", message=""):
    return {"name": name, "points": points if status == "passed" else 0.0,
            "max_points": max_points, "status": status, "message": message,
            "visible_source": "check(f(1), 2)", "title": title}


def conv(student, statuses, flags=(), label=None, seconds=10.0):
    titles = dict(CONV.titles)
    points = {"test_conv2d": 3.0, "test_worked": 2.0, "test_size": 1.0}
    tests = [outcome(name, status, points[name], points[name], titles[name])
             for name, status in zip(points, statuses)]
    return Result(student, "00_conv", sum(t["points"] for t in tests), 6.0, list(flags),
                  label or f"{student}/00_conv.ipynb", tests, seconds)


def drop(student, statuses, flags=(), label=None, seconds=5.0):
    tests = [outcome(name, status, 2.0, 2.0) for name, status in zip(("test_inverted", "test_mc"), statuses)]
    return Result(student, "01_drop", sum(t["points"] for t in tests), 4.0, list(flags),
                  label or f"{student}/01_drop.ipynb", tests, seconds)


def cohort() -> list[Result]:
    return [
        conv("ann", ("passed", "passed", "passed"), seconds=31.5),
        drop("ann", ("passed", "passed")),
        conv("bob", ("passed", "not_attempted", "passed"), ["renamed"], "bob/Copy of 00_conv.ipynb"),
        drop("bob", ("hidden_failed", "not_run"), ["kernel_died"], seconds=95.25),
        conv("cyd", ("failed", "not_attempted", "passed"), ["metadata_restored", "renamed"]),
        conv("cyd", ("failed", "not_attempted", "not_attempted"), label="cyd/00_conv (1).ipynb"),
        conv(EVIL, ("passed", "failed", "passed"), ["tamper"], f"{EVIL}/00_conv.ipynb", 12.0),
        drop(EVIL, ("failed", "failed")),
        Result("dee", "01_drop", 0.0, 4.0, ["unreadable"], "dee/01_drop.ipynb"),
        Result("eve", "unknown", 0.0, 0.0, ["unmatched"], "eve/holiday.ipynb"),
        conv("fay", ("not_attempted", "not_attempted", "not_attempted")),
    ]


@pytest.fixture
def page() -> str:
    return cohort_report.render(cohort(), ISOLATION, ASSIGNMENTS)


def section(page: str, anchor: str) -> str:
    match = re.search(rf'<section id="{re.escape(anchor)}".*?</section>', page, flags=re.S)
    assert match, f"no section {anchor}"
    return match.group(0)


def test_per_exercise_counts_and_the_most_failed_exercise():
    from convtrain.instructor.grading.report import best_per_assignment

    stats = {s.lesson: s for s in cohort_report.lesson_stats(best_per_assignment(cohort()), ASSIGNMENTS)}
    assert list(stats) == ["00_conv", "01_drop"]  # "unknown" is no lesson
    conv_stats = stats["00_conv"]
    assert sorted(conv_stats.scores) == [0.0, 1.0, 4.0, 4.0, 6.0]  # cyd's better notebook counts
    worked = {e.test_id: e for e in conv_stats.exercises}["test_worked"]
    assert worked.name == "Exercise 2 — worked example"
    assert worked.counts["not_attempted"] == 3 and worked.counts["failed"] == 1
    assert worked.passed_share == pytest.approx(1 / 5)
    assert conv_stats.reteach == {"test_worked"}
    drop_stats = stats["01_drop"]
    mc = {e.test_id: e for e in drop_stats.exercises}["test_mc"]
    assert (mc.name, mc.students, mc.counts["not_graded"], mc.counts["not_run"]) == ("test_mc", 4, 1, 1)
    assert drop_stats.reteach == {"test_inverted", "test_mc"}  # a tie: 1 of 4 passed each
    assert {e.test_id: e.counts["passed"] for e in drop_stats.exercises} == {
        "test_inverted": 1, "test_mc": 1}


def test_ties_for_most_failed_are_all_marked_and_no_mark_when_all_passed():
    from convtrain.instructor.grading.report import best_per_assignment

    results = [drop("a", ("failed", "failed")), drop("b", ("passed", "passed"))]
    (lesson,) = cohort_report.lesson_stats(best_per_assignment(results), ASSIGNMENTS)
    assert lesson.reteach == {"test_inverted", "test_mc"}
    (lesson,) = cohort_report.lesson_stats([drop("a", ("passed", "passed"))], ASSIGNMENTS)
    assert lesson.reteach == set()


def test_report_has_isolation_totals_and_one_figure_per_lesson(page):
    assert f"<strong>Isolation:</strong> {ISOLATION}" in page
    totals = section(page, "totals")
    for name, value in [("students", 7), ("notebooks handed in", 11),
                        ("notebooks graded (run and scored)", 9), ("rows in grades.csv", 10),
                        ("lessons", 2)]:
        assert re.search(rf"<th>{re.escape(name)}[^<]*</th><td class=\"number\">{value}</td>", totals), name
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 2
    assert all(base64.b64decode(image).startswith(b"\x89PNG\r\n\x1a\n") for image in images)


def test_report_is_self_contained(page):
    for outside in ("http://", "https://", "<script", "<link", "@import", "url("):
        assert outside not in page, f"the page refers to {outside!r}"


def test_exercise_table_puts_the_most_failed_first_and_says_reteach(page):
    conv_section = section(page, "lesson-00_conv")
    rows = re.findall(r'<tr class="(reteach|exercise)"><td>(.*?)<br>', conv_section)
    assert rows[0] == ("reteach", "Exercise 2 — worked example<span class=\"badge\">re-teach this</span>")
    assert [kind for kind, _ in rows] == ["reteach", "exercise", "exercise"]
    assert "<code>conv2d</code>" in conv_section  # the heading's backticks
    assert "20%" in conv_section  # 1 of 5 passed Exercise 2
    overview = section(page, "lessons")
    assert "Exercise 2 — worked example" in overview
    assert re.search(r"01_drop</a>.*?<td>all alike</td>", overview)  # a tie of every exercise


def test_flags_attention_first_with_their_students_informational_apart(page):
    flags = section(page, "flags")
    attention, informational = flags.split("<h3>Informational</h3>")
    assert [re.findall(r'<tr class="flag"><td><code>(\w+)</code>', part) for part in (attention, informational)] \
        == [["unreadable", "unmatched", "tamper", "kernel_died"], ["renamed", "metadata_restored", "duplicate"]]
    kernel_died = re.search(r"<code>kernel_died</code>.*?</tr>", attention, flags=re.S).group(0)
    assert '<a href="feedback/bob.html">bob</a> (01_drop)' in kernel_died
    renamed = re.search(r"<code>renamed</code>.*?</tr>", informational, flags=re.S).group(0)
    assert "bob</a> (00_conv)" in renamed and "cyd</a> (00_conv)" in renamed
    assert "<details open>" in attention and "<details open>" not in informational


def test_slowest_notebooks_come_first(page):
    slowest = section(page, "slowest")
    seconds = [float(s) for s in re.findall(r'<td class="number">([\d.]+)</td><td class="number">[\d.]+ /', slowest)]
    assert seconds[:2] == [95.2, 31.5] or seconds[:2] == [95.3, 31.5]
    assert seconds == sorted(seconds, reverse=True) and len(seconds) == 10


def test_student_strings_are_escaped(page):
    assert "<script>" not in page and "alert('x')" not in page
    assert html_escaped(EVIL) in page
    assert f"{html_escaped(EVIL)}/00_conv.ipynb" in page  # its file name, in the slowest list


def html_escaped(text: str) -> str:
    import html

    return html.escape(text)


def test_one_student_and_no_student():
    one = cohort_report.render([conv("solo", ("passed", "failed", "not_run"))], ISOLATION, ASSIGNMENTS)
    assert one.count("<img ") == 1 and "solo" in one
    empty = cohort_report.render([], "audit hook only (--no-sandbox was given)", ASSIGNMENTS)
    assert "No notebook matched a lesson." in empty and "<img " not in empty


def test_many_students_make_no_more_figures():
    results = [conv(f"s{index:04d}", (("passed", "failed", "not_attempted")[index % 3],
                                      ("passed", "not_attempted")[index % 2], "passed"),
                    ["renamed"] if index % 7 == 0 else [], seconds=index % 97)
               for index in range(3000)]
    page = cohort_report.render(results, ISOLATION, ASSIGNMENTS)
    assert page.count("<img ") == 1
    renamed = re.search(r"<code>renamed</code>.*?</tr>", page, flags=re.S).group(0)
    assert renamed.count("<li>") == len([i for i in range(3000) if i % 7 == 0])
    assert len(page) < 2_000_000


def test_write_report_writes_the_file(tmp_path):
    path = cohort_report.write_report(tmp_path, cohort(), ISOLATION, ASSIGNMENTS)
    assert path == tmp_path / "report.html"
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]  # no temporary file left


@pytest.mark.browser
@needs_chromium
def test_report_renders_in_chromium_with_its_figures_and_tables(tmp_path):
    path = cohort_report.write_report(tmp_path, cohort(), ISOLATION, ASSIGNMENTS)
    with chromium_page() as browser:
        browser.goto(path.as_uri())
        browser.wait_for_load_state("load")
        images = browser.evaluate(
            "() => Array.from(document.images).map(i => ({complete: i.complete,"
            " width: i.naturalWidth, height: i.naturalHeight, alt: i.alt}))")
        assert len(images) == 2, images
        assert all(image["complete"] and image["width"] > 300 and image["height"] > 100
                   for image in images), images
        tables = browser.evaluate(
            "() => Array.from(document.querySelectorAll('table.exercises')).map(t =>"
            " Array.from(t.rows).slice(1).map(r => r.cells[0].innerText.split('\\n')[0]))")
        assert tables[0][0].startswith("Exercise 2 — worked example"), tables
        assert len(tables) == 2 and len(tables[1]) == 2
        reteach = browser.evaluate(
            "() => getComputedStyle(document.querySelector('tr.reteach td')).backgroundColor")
        assert reteach == "rgb(255, 235, 233)"
        assert browser.evaluate("() => document.querySelectorAll('script').length") == 0
        title = browser.evaluate("() => document.querySelector('#slowest').innerText")
        assert EVIL in title  # shown as text, not run
