"""Similar answers: copies are found, independent work is not reported, nothing is graded.

Answers are written out below: one original implementation of a 2-D convolution, a copy
with every variable renamed (and its comments rewritten), a copy reformatted as black
would (other line breaks, trailing commas, quotes, comments and blank lines), and two
implementations written independently. Then a short exercise solved correctly by two
students on their own (and once copied: still too short to be evidence), and an idiom a
whole class writes. The last test grades three notebooks of the tiny course with
``convtrain grade`` and finds the report.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from convtrain.instructor import similarity
from convtrain.instructor.grading import cohort_report
from convtrain.instructor.grading.gradebook import Assignment, CellSpec
from convtrain.instructor.grading.report import Result, result_path, save_result
from convtrain.instructor.similarity import Answer, compare

STUB = '''def conv2d(x, weight, bias=None, stride=1, padding=0):
    """2-D cross-correlation of x (N, C_in, H, W) with weight (C_out, C_in, K, K)."""
    # YOUR CODE HERE
    raise NotImplementedError()'''

ORIGINAL = '''def conv2d(x, weight, bias=None, stride=1, padding=0):
    """2-D cross-correlation of x (N, C_in, H, W) with weight (C_out, C_in, K, K)."""
    if padding > 0:
        x = F.pad(x, (padding, padding, padding, padding))
    n, c_in, h, w = x.shape
    c_out, _, k, _ = weight.shape
    out_h = (h - k) // stride + 1
    out_w = (w - k) // stride + 1
    out = torch.zeros(n, c_out, out_h, out_w, dtype=x.dtype)
    for i in range(out_h):
        for j in range(out_w):
            patch = x[:, :, i * stride:i * stride + k, j * stride:j * stride + k]
            # multiply the patch with every kernel and sum over channels and positions
            out[:, :, i, j] = (patch[:, None] * weight[None]).sum(dim=(2, 3, 4))
    if bias is not None:
        out += bias[None, :, None, None]
    return out'''

RENAMED = '''def conv2d(x, weight, bias=None, stride=1, padding=0):
    """2-D cross-correlation of x (N, C_in, H, W) with weight (C_out, C_in, K, K)."""
    # pad first
    if padding > 0:
        inp = F.pad(x, (padding, padding, padding, padding))
    else:
        inp = x
    batch, chans, height, width = inp.shape
    filters, _, size, _ = weight.shape
    rows = (height - size) // stride + 1
    cols = (width - size) // stride + 1
    result = torch.zeros(batch, filters, rows, cols, dtype=inp.dtype)
    for r in range(rows):
        for c in range(cols):
            window = inp[:, :, r * stride:r * stride + size, c * stride:c * stride + size]
            result[:, :, r, c] = (window[:, None] * weight[None]).sum(dim=(2, 3, 4))  # dot products
    if bias is not None:
        result += bias[None, :, None, None]
    return result'''

REFORMATTED = '''def conv2d(x, weight, bias=None, stride=1, padding=0):
    """2-D cross-correlation of x (N, C_in, H, W) with weight (C_out, C_in, K, K)."""

    if padding > 0:
        x = F.pad(
            x,
            (padding, padding, padding, padding),
        )

    n, c_in, h, w = x.shape
    c_out, _, k, _ = weight.shape

    # output size
    out_h = (h - k) // stride + 1
    out_w = (w - k) // stride + 1
    out = torch.zeros(
        n, c_out, out_h, out_w, dtype=x.dtype,
    )
    for i in range(out_h):
        for j in range(out_w):
            patch = x[
                :, :, i * stride : i * stride + k, j * stride : j * stride + k
            ]
            out[:, :, i, j] = (patch[:, None] * weight[None]).sum(
                dim=(2, 3, 4)
            )
    if bias is not None:
        out += bias[None, :, None, None]

    return out'''

UNFOLD = '''def conv2d(x, weight, bias=None, stride=1, padding=0):
    """2-D cross-correlation of x (N, C_in, H, W) with weight (C_out, C_in, K, K)."""
    batch = x.shape[0]
    kernel = weight.shape[-1]
    columns = F.unfold(x, kernel_size=kernel, stride=stride, padding=padding)
    flat = weight.reshape(weight.shape[0], -1)
    product = torch.einsum("ok,nkl->nol", flat, columns)
    side_h = (x.shape[2] + 2 * padding - kernel) // stride + 1
    side_w = (x.shape[3] + 2 * padding - kernel) // stride + 1
    result = product.reshape(batch, weight.shape[0], side_h, side_w)
    if bias is not None:
        result = result + bias.view(1, -1, 1, 1)
    return result'''

LOOPS = '''def conv2d(x, weight, bias=None, stride=1, padding=0):
    """2-D cross-correlation of x (N, C_in, H, W) with weight (C_out, C_in, K, K)."""
    xp = torch.nn.functional.pad(x, [padding] * 4)
    N, C, H, W = xp.shape
    O, _, K, _ = weight.shape
    Ho, Wo = (H - K) // stride + 1, (W - K) // stride + 1
    y = x.new_zeros((N, O, Ho, Wo))
    for o in range(O):
        for a in range(Ho):
            for b in range(Wo):
                region = xp[:, :, a * stride:a * stride + K, b * stride:b * stride + K]
                y[:, o, a, b] = torch.sum(region * weight[o], dim=[1, 2, 3])
        if bias is not None:
            y[:, o] = y[:, o] + bias[o]
    return y'''

SIZE_STUB = '''def conv_output_size(size, kernel, stride=1, padding=0):
    """Output length along one dimension of a convolution or pooling window."""
    # YOUR CODE HERE
    raise NotImplementedError()'''
SIZE_A = '''def conv_output_size(size, kernel, stride=1, padding=0):
    """Output length along one dimension of a convolution or pooling window."""
    return (size + 2 * padding - kernel) // stride + 1'''
SIZE_B = '''def conv_output_size(size, kernel, stride=1, padding=0):
    """Output length along one dimension of a convolution or pooling window."""
    padded = size + 2 * padding
    return (padded - kernel) // stride + 1'''

CONV = ("00_building_blocks", "test_conv2d")
SIZE = ("00_building_blocks", "test_conv_output_size")


def answers(exercise, sources: dict[str, str]) -> list[Answer]:
    return [Answer(student, *exercise, source, title="Exercise 1 — conv2d", label=f"{student}/00.ipynb")
            for student, source in sources.items()]


def reported(findings) -> set[tuple[str, str]]:
    return {tuple(sorted((pair.a.student, pair.b.student))) for pair in findings.pairs}


def test_normalization_ignores_names_comments_and_layout():
    assert similarity.tokens(ORIGINAL) != similarity.tokens(UNFOLD)
    assert similarity.tokens("f(a, b,)\n") == similarity.tokens("f(\n    a,\n    b\n)  # call")
    assert similarity.tokens("x.shape") == ["V", ".", "shape"]
    assert similarity.tokens("len(s) + 'a' + \"b\"") == ["len", "(", "V", ")", "+", "S", "+", "S"]


def test_a_renamed_and_a_reformatted_copy_are_found_independent_work_is_not():
    cohort = {"ann": ORIGINAL, "bob": RENAMED, "cyd": REFORMATTED, "dee": UNFOLD, "eve": LOOPS}
    findings = compare({CONV: answers(CONV, cohort)}, {CONV: [STUB]})
    assert reported(findings) == {("ann", "bob"), ("ann", "cyd"), ("bob", "cyd")}
    assert findings.groups == [(CONV, ["ann", "bob", "cyd"])]
    assert findings.compared == 5 and findings.short == 0
    by_pair = {tuple(sorted((p.a.student, p.b.student))): p for p in findings.pairs}
    assert by_pair[("ann", "cyd")].score == 1.0  # reformatting changes nothing
    assert by_pair[("ann", "bob")].score >= 0.6
    assert 8 in by_pair[("ann", "bob")].lines[0]  # the shared loop is marked (0-based line)


def test_two_independent_correct_short_solutions_are_not_reported():
    findings = compare({SIZE: answers(SIZE, {"ann": SIZE_A, "bob": SIZE_B, "cyd": SIZE_A})},
                       {SIZE: [SIZE_STUB]})
    assert findings.pairs == []
    assert findings.short == 3  # even cyd's copy of ann's one line is no evidence


def test_an_idiom_the_whole_class_writes_is_discounted():
    """Twelve students write the same canonical loop with their own names: no pair."""
    names = ["r", "field", "rf", "total", "reach", "size", "acc", "value", "res", "out", "n", "w"]
    cohort = {f"s{i:02d}": (f"def receptive_field(layers):\n    {name}, jump = 1, 1\n"
                            f"    for k, s in layers:\n        {name} += (k - 1) * jump\n"
                            f"        jump *= s\n    return {name}\n" * 2)
              for i, name in enumerate(names)}
    findings = compare({("00", "test_rf"): answers(("00", "test_rf"), cohort)})
    assert findings.pairs == []


def test_the_pages_escape_what_students_wrote():
    evil = "<script>alert(1)</script>"
    cohort = {evil: ORIGINAL.replace("# multiply", "# <b>multiply</b>"), "bob": RENAMED}
    findings = compare({CONV: answers(CONV, cohort)}, {CONV: [STUB]})
    page = similarity.render(findings)
    assert "<script>" not in page and "&lt;script&gt;" in page and "<b>multiply" not in page
    assert "never changes a grade" in page and "<mark>" in page
    result = Result("bob", CONV[0], 3.0, 3.0, [], "bob/00.ipynb")
    report = cohort_report.render([result], "audit hook", {}, findings)
    assert "id=\"similar\"" in report and "similarity.html" in report and "<script>" not in report


def test_convtrain_similarity_reads_the_results(tmp_path, capsys):
    out = tmp_path / "graded"
    for student, source in {"ann": ORIGINAL, "bob": RENAMED, "dee": UNFOLD}.items():
        result = Result(student, CONV[0], 0.0, 3.0, [], f"{student}/00.ipynb",
                        answers={CONV[1]: source})
        save_result(result_path(out, student, "0" * 64, "key"), result)
    assert similarity.main([str(out), "--course", str(tmp_path / "nowhere")]) == 0
    said = capsys.readouterr().out
    assert "ann ~ bob: 1 exercise(s): 00_building_blocks/test_conv2d" in said
    assert "Grades are unchanged." in said
    assert (out / "similarity.html").is_file()
    rows = (out / "similarity.csv").read_text().splitlines()
    assert rows[0].startswith("lesson,exercise,student_a,student_b,score") and len(rows) == 2
    assert similarity.main([str(tmp_path / "empty")]) == 2


def test_grading_records_each_exercises_answer_cells():
    from convtrain.instructor.grading.restore import answer_texts

    def spec(name, source, *, solution=False, grade=False):
        return CellSpec(name, "code", source, locked=not solution, solution=solution, grade=grade,
                        points=1.0 if grade else 0.0)

    assignment = Assignment("00", "00", (
        spec("conv2d", STUB, solution=True), spec("test_conv2d", "check(conv2d)", grade=True),
        spec("size", SIZE_STUB, solution=True), spec("test_size", "check(size)", grade=True)), None)
    cells = [{"cell_type": "code", "source": ORIGINAL, "metadata": {}},  # Colab lost its metadata
             {"cell_type": "code", "source": "check(conv2d)",
              "metadata": {"nbgrader": {"grade_id": "test_conv2d"}}},
             {"cell_type": "code", "source": SIZE_A, "metadata": {"nbgrader": {"grade_id": "size"}}},
             {"cell_type": "code", "source": "check(size)", "metadata": {}}]
    assert answer_texts(cells, assignment) == {"test_conv2d": ORIGINAL, "test_size": SIZE_A}


@pytest.mark.slow
def test_convtrain_grade_writes_the_similarity_report(tmp_path):
    """Three students of the tiny course; two hand in the same (renamed) answers."""
    sys.path.insert(0, str(Path(__file__).parent / "grading_fixtures"))
    import tiny_course

    from convtrain.instructor.grading.command import main

    course = tiny_course.build_course(tmp_path)
    release = json.loads((tmp_path / "workshops" / "00_tiny" / "00_tiny.ipynb").read_text())
    long_answer = ("def count_positive(values):\n    total = 0\n    for value in values:\n"
                   "        if value > 0:\n            total = total + 1\n        elif value < 0:\n"
                   "            total = total + 0\n    assert total >= 0, 'negative count'\n"
                   "    checked = [v for v in values if v > 0]\n    assert len(checked) == total\n"
                   "    return int(total)\n")
    copied = long_answer.replace("total", "n").replace("value", "item").replace("checked", "ok")
    for student, answer in {"ann": long_answer, "bob": copied, "cyd": None}.items():
        notebook = json.loads(json.dumps(release))
        for cell in notebook["cells"]:
            if answer and cell["metadata"].get("nbgrader", {}).get("grade_id") == "count":
                cell["source"] = answer
        path = tmp_path / "submissions" / student / "00_tiny.ipynb"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(notebook))
    out = tmp_path / "graded"
    assert main([str(tmp_path / "submissions"), "--out", str(out), "--course", str(course),
                 "--timeout-cell", "60"]) == 0
    assert (out / "grades.csv").read_text().splitlines()[1:] == [
        "ann,00_tiny,3,6,,0", "bob,00_tiny,3,6,,0", "cyd,00_tiny,0,6,,0"]  # grades unchanged by it
    rows = (out / "similarity.csv").read_text().splitlines()
    assert [row.split(",")[:4] for row in rows[1:]] == [["00_tiny", "test_count", "ann", "bob"]]
    assert "id=\"similar\"" in (out / "report.html").read_text()


def test_the_fast_tokens_are_the_tokens_whose_lines_are_marked():
    sources = [ORIGINAL, RENAMED, REFORMATTED, UNFOLD, LOOPS, SIZE_A,
               'x = r"\\d" + f\'{a}\' + """a\n b"""\\\n + 1_000 + .5e3j  # c\n(a, b,)\n%timeit x\n']
    for source in sources:
        assert similarity.tokens(source) == [token for token, _line in similarity.lexed(source)]
