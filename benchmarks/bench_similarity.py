"""How long does the similarity report take for a large cohort? Seconds, not minutes.

    python benchmarks/bench_similarity.py                       # 300 students x 9 lessons
    python benchmarks/bench_similarity.py --students 100 --copies 20

A synthetic cohort over the course's real exercises: every exercise of every lesson in
``workshops/`` (its answer cell is the handed-out stub, discounted as in grading), and per
student an answer as long as the lesson's solution, written from its stub: random
statements (assignments, loops, conditions over nested calls, attributes, indexing and
arithmetic), a third of them from a pool of twelve idioms the exercise's students share. Then ``--copies`` students copy one
answer of another, renaming every variable and reformatting it (comments, blank lines,
wrapped calls). It prints the time of the comparison (tokenizing, fingerprinting,
discounting, pairing) and of the HTML page, how many planted copies were found and how
many other pairs were reported (independent answers: should be none).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from convtrain.instructor.course import lessons, nbgrader_meta, without_solution_markers  # noqa: E402
from convtrain.instructor.similarity import KEPT_NAMES, Answer, compare, render  # noqa: E402

NAMES = [f"{a}{b}" for a in ("x", "y", "val", "out", "acc", "tmp", "res", "k", "w", "grad", "mask",
                             "batch", "feat", "step", "loss", "norm", "z", "h", "idx", "buf")
         for b in ("", "1", "2", "_a", "_b", "s", "_new", "_old", "_tot", "0", "_i", "_j")]
CALLS = ["torch.zeros", "torch.ones", "torch.randn", "torch.cat", "torch.stack", "torch.where",
         "F.relu", "F.pad", "F.conv2d", "torch.einsum", "torch.clamp", "np.mean", "sum", "len",
         "max", "min", "abs", "range", "enumerate", "zip"]
OPS = ["+", "-", "*", "/", "//", "%", "**", "@"]


ATTRIBUTES = ["sum", "mean", "reshape", "view", "unsqueeze", "shape", "size", "detach", "float",
              "max", "argmax", "softmax", "weight", "bias", "grad", "data", "numel", "t", "abs", "exp"]


def expression(rng: random.Random, depth: int = 0) -> str:
    """A random expression: names, numbers, attributes, calls, operators, indexing."""
    kind = rng.randrange(3 if depth >= 3 else 7)
    if kind == 0:
        return rng.choice(NAMES)
    if kind == 1:
        return str(rng.choice([rng.randint(0, 999), round(rng.random(), 3)]))
    if kind == 2:
        return f"{rng.choice(NAMES)}.{rng.choice(ATTRIBUTES)}"
    if kind == 3:
        arguments = ", ".join(expression(rng, depth + 1) for _ in range(rng.randint(1, 3)))
        return f"{rng.choice(CALLS)}({arguments})"
    if kind == 4:
        return f"({expression(rng, depth + 1)} {rng.choice(OPS)} {expression(rng, depth + 1)})"
    if kind == 5:
        return f"{rng.choice(NAMES)}[{expression(rng, depth + 1)}]"
    return f"{rng.choice(NAMES)}.{rng.choice(ATTRIBUTES)}(dim={rng.randint(-2, 3)})"


def statement(rng: random.Random, depth: int = 0) -> list[str]:
    """A random statement (one or a few lines) of plausible lesson code."""
    name = rng.choice(NAMES)
    kind = rng.randrange(6 if depth == 0 else 4)
    if kind == 0:
        return [f"{name} = {expression(rng)}"]
    if kind == 1:
        return [f"{name} {rng.choice(['+=', '-=', '*='])} {expression(rng)}"]
    if kind == 2:
        return [f"{name}[{rng.randint(0, 9)}:{expression(rng, 2)}] = {expression(rng)}"]
    if kind == 3:
        return [f"{name}, {rng.choice(NAMES)} = {expression(rng, 1)}, {expression(rng, 1)}"]
    if kind == 4:
        body = [line for _ in range(rng.randint(1, 2)) for line in statement(rng, depth + 1)]
        return [f"if {expression(rng, 2)} > {rng.randint(0, 50)}:", *("    " + b for b in body)]
    body = [line for _ in range(rng.randint(1, 3)) for line in statement(rng, depth + 1)]
    return [f"for {name} in range({expression(rng, 2)}):", *("    " + b for b in body)]


def answer(stub: str, lines: int, idioms: list[list[str]], rng: random.Random) -> str:
    """The stub's def line and docstring, then ``lines`` lines of body."""
    head = [line for line in stub.splitlines() if "NotImplementedError" not in line and "YOUR CODE" not in line]
    indent = "    " if head and head[-1].startswith(("def", "    ", "class")) else ""
    body: list[str] = []
    while len(body) < lines:
        body += rng.choice(idioms) if rng.random() < 1 / 3 else statement(rng)
    return "\n".join(head + [indent + line for line in body] + [f"{indent}return {rng.choice(NAMES)}"])


def copied(source: str, rng: random.Random) -> str:
    """``source`` with every variable renamed and the layout changed, as a copier would."""
    renames: dict[str, str] = {}

    def rename(match: re.Match) -> str:
        word = match.group()
        if word in KEPT_NAMES or match.start() > 0 and source[match.start() - 1] == ".":
            return word
        return renames.setdefault(word, f"my_{word}_{rng.randint(0, 9)}")

    text = re.sub(r"(?<![\w.])[A-Za-z_]\w*", rename, source)
    lines = []
    for line in text.splitlines():
        if rng.random() < 0.2:
            lines.append(re.match(r"\s*", line).group() + "# my own idea")
        lines.append(line.replace(", ", ",  ").replace("(", "( ") + ("  # ok" if rng.random() < 0.2 else ""))
        if rng.random() < 0.1:
            lines.append("")
    return "\n".join(lines)


def exercises() -> list[tuple[str, str, str, int]]:
    """(lesson, test id, stub, solution length in lines) for every exercise of the course."""
    found = []
    for lesson in lessons(REPO / "solutions"):
        workshop = json.loads((REPO / "workshops" / lesson / f"{lesson}.ipynb").read_text())
        solution = json.loads((REPO / "solutions" / lesson / f"{lesson}.ipynb").read_text())
        solved = {nbgrader_meta(c).get("grade_id"): "".join(c["source"]) for c in solution["cells"]}
        stub = ""
        for cell in workshop["cells"]:
            meta = nbgrader_meta(cell)
            if meta.get("solution") and not meta.get("grade"):
                stub, answer_id = "".join(cell["source"]), meta["grade_id"]
            elif meta.get("grade") and not meta.get("solution") and stub:
                length = len(without_solution_markers(solved.get(answer_id, stub)).splitlines())
                found.append((lesson, meta["grade_id"], stub, max(4, length)))
                stub = ""
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--copies", type=int, default=30, help="students who copy one answer")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    course = exercises()
    students = [f"s{number:03d}" for number in range(args.students)]
    start = time.perf_counter()
    cohort: dict[tuple[str, str], list[Answer]] = {}
    templates: dict[tuple[str, str], list[str]] = {}
    for lesson, test_id, stub, length in course:
        idioms = [statement(rng) for _ in range(12)]
        cohort[(lesson, test_id)] = [
            Answer(student, lesson, test_id, answer(stub, length, idioms, rng), test_id, f"{student}/{lesson}.ipynb")
            for student in students]
        templates[(lesson, test_id)] = [stub]
    planted = set()
    for copier in rng.sample(students, args.copies):
        exercise = rng.choice(list(cohort))
        group = cohort[exercise]
        source = rng.choice([a for a in group if a.student != copier])
        position = next(i for i, a in enumerate(group) if a.student == copier)
        group[position] = Answer(copier, *exercise, copied(source.source, rng), exercise[1], group[position].label)
        planted.add((exercise, tuple(sorted((copier, source.student)))))
    made = time.perf_counter() - start
    answers = sum(len(group) for group in cohort.values())
    lesson_count = len({lesson for lesson, *_ in course})
    print(f"cohort: {args.students} students x {lesson_count} lessons ({len(course)} exercises, "
          f"{answers} answers, {args.copies} planted copies), made in {made:.1f} s")
    start, cpu = time.perf_counter(), time.process_time()
    findings = compare(cohort, templates)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    start = time.perf_counter()
    page = render(findings)
    html_seconds = time.perf_counter() - start
    found = {(pair.exercise, tuple(sorted((pair.a.student, pair.b.student)))) for pair in findings.pairs}
    print(f"compare: {seconds:.2f} s wall, {cpu:.2f} s CPU ({findings.compared} answers compared, "
          f"{findings.short} too short); "
          f"similarity.html: {html_seconds:.2f} s, {len(page) / 1e6:.2f} MB")
    print(f"planted copies found: {len(found & planted)} of {len(planted)}; other pairs reported: "
          f"{len(found - planted)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
