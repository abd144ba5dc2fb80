"""Similar answers across a cohort: pairs of students whose answer cells look copied.

    convtrain similarity graded/                 # after `convtrain grade` (which runs it too)
    convtrain similarity graded/ --threshold 0.5 --min-fingerprints 6

It **never changes a grade** and accuses nobody: it points an instructor at pairs of
answers to read side by side. Per exercise it compares every student's answer cells (their
code as grading recorded it in ``results/``) after normalizing what copying changes:

1. **Tokens**: comments, blank lines, indentation and line breaks are dropped; every
   identifier becomes ``V`` except keywords, builtins and attribute names (``x.shape``
   keeps ``shape``); every string becomes ``S``; a trailing comma before a closing bracket
   is dropped. Renaming variables, reformatting (black, another indentation, wrapped
   lines) and rewriting comments change nothing.
2. **Fingerprints**: hashes of every run of ``K`` = 5 tokens, of which winnowing (Schleimer,
   Wilkerson, Aiken, "Winnowing: local algorithms for document fingerprinting", SIGMOD
   2003, the method behind MOSS) keeps the smallest in each window of ``W`` = 4: any shared
   run of at least ``K + W - 1`` = 8 tokens is found.
3. **What is not evidence is discounted**: every run of ``K`` tokens that occurs in the
   handed-out notebook (the answer stubs, the given cells, the code in the lesson's text)
   is removed; so is a fingerprint found in more of the exercise's answers than
   ``--common`` = 10 (MOSS's default) or 10% of them, whichever is smaller, but 3 at least:
   the idiom many students write independently. An answer left with fewer than
   ``--min-fingerprints`` = 10 fingerprints is too short to tell copying from the one
   obvious solution and is not compared.
4. A pair is **reported** when the fingerprints the two answers share are at least
   ``--threshold`` = 60% of the smaller answer's and at least ``--min-fingerprints`` in
   number.
   Pairs are listed per exercise, joined into groups (three or more students linked by
   reported pairs), and per pair of students with the number of exercises they share.

Output: ``OUTDIR/similarity.html`` (the pairs, their two cells side by side with the shared
lines marked, everything escaped; linked from ``report.html``) and
``OUTDIR/similarity.csv``. Grading records each exercise's answer cells in the result
files (``report.Result.answers``), so this needs neither the submissions nor a kernel; the
course (``--course``, default the repository's) gives the handed-out code to discount.

>>> tokens("total = 0  # running sum\\nfor v in values:\\n    total += v")
['V', '=', '0', 'for', 'V', 'in', 'V', ':', 'V', '+=', 'V']
>>> tokens("s = 0\\nfor item in xs: s += item") == tokens("total = 0\\nfor v in values:\\n    total += v")
True
"""

from __future__ import annotations

import argparse
import builtins
import csv
import dataclasses
import html
import keyword
import re
import sys
import time
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path

K, W = 5, 4
THRESHOLD = 0.6
MIN_FINGERPRINTS = 10
COMMON = 10  # MOSS's default -m: passages in more than 10 programs are ignored
COMMON_SHARE, COMMON_FLOOR = 0.1, 3
MAX_ANSWER_CHARS = 20_000
KEPT_NAMES = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist) | frozenset(dir(builtins))

_TOKEN = re.compile(r"""
    (?P<comment>\#[^\n]*)
  | (?P<string>[rRbBuUfF]{0,2}(?:\"\"\"(?:\\.|[^\\])*?\"\"\"|'''(?:\\.|[^\\])*?'''
                               |"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'))
  | (?P<number>(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d+)?[jJ]?)
  | (?P<name>[^\W\d]\w*)
  | (?P<op>\*\*=|//=|>>=|<<=|\.\.\.|->|:=|[-+*/%&|^@<>=!]=|\*\*|//|<<|>>|[^\s\w])
""", re.VERBOSE)  # whitespace matches nothing: finditer skips it
_CLOSING = {")", "]", "}"}


# --------------------------------------------------------------------------- fingerprints

def lexed(source: str) -> list[tuple[str, int]]:
    """The normalized tokens of ``source`` with the line (from 0) each starts on."""
    found: list[tuple[str, int]] = []
    line, position = 0, 0
    previous = ""
    for match in _TOKEN.finditer(source):
        start = match.start()
        line += source.count("\n", position, start)
        position = start
        kind = match.lastgroup
        if kind == "name":
            text = match.group()
            token = text if text in KEPT_NAMES or previous == "." else "V"
        elif kind == "op":
            token = match.group()
            if token == "\\":
                continue
            if token in _CLOSING and previous == ",":
                found.pop()  # a trailing comma (black adds them)
        elif kind == "string":
            token = "S"
        elif kind == "number":
            token = match.group().replace("_", "")
        else:
            continue  # a comment
        found.append((token, line))
        previous = token
    return found


def tokens(source: str) -> list[str]:
    """The normalized tokens of ``source`` (see the module's documentation): what
    :func:`lexed` gives without the lines, faster (the comparison's inner loop)."""
    found: list[str] = []
    previous = ""
    for _comment, string, number, name, op in _TOKEN.findall(source):
        if name:
            token = name if name in KEPT_NAMES or previous == "." else "V"
        elif op:
            if op == "\\":
                continue
            if op in _CLOSING and previous == ",":
                found.pop()
            token = op
        elif string:
            token = "S"
        elif number:
            token = number.replace("_", "")
        else:
            continue
        found.append(token)
        previous = token
    return found


class _TokenIds(dict):
    """token -> a stable 32-bit number (CRC-32 of its text), computed once per token."""

    def __missing__(self, token: str) -> int:
        number = self[token] = zlib.crc32(token.encode())
        return number


_IDS = _TokenIds()


def kgram_hashes(sequence: list[str], k: int = K) -> list[int]:
    """The hash of every run of ``k`` tokens (deterministic: the same on every run)."""
    ids = list(map(_IDS.__getitem__, sequence))
    return list(map(hash, zip(*(ids[i:] for i in range(k)))))


def winnow(hashes: list[int], w: int = W) -> dict[int, list[int]]:
    """Winnowing: the smallest hash of every window of ``w`` (the rightmost on ties), each with
    the positions where it was chosen. A text shorter than one window keeps its smallest.

    >>> winnow([5, 3, 8, 3, 9, 1], w=3)
    {3: [1, 3], 1: [5]}
    """
    import numpy as np

    chosen: dict[int, list[int]] = {}
    count = len(hashes)
    if not count:
        return chosen
    values = np.fromiter(hashes, dtype=np.int64, count=count)
    if count < w:
        position = count - 1 - int(np.argmin(values[::-1]))
        return {int(values[position]): [position]}
    windows = count - w + 1
    shifted = [values[i:i + windows] for i in range(w)]  # shifted[i][s]: the i-th of window s
    smallest = shifted[0]
    for part in shifted[1:]:
        smallest = np.minimum(smallest, part)
    offset = np.zeros(windows, dtype=np.int64)
    for i in range(1, w):
        offset[shifted[i] == smallest] = i  # the rightmost wins
    positions = np.arange(windows) + offset
    keep = np.ones(windows, dtype=bool)
    keep[1:] = positions[1:] != positions[:-1]
    positions = positions[keep]
    for position, value in zip(positions.tolist(), values[positions].tolist()):
        chosen.setdefault(value, []).append(position)
    return chosen


# --------------------------------------------------------------------------- comparing

@dataclasses.dataclass(frozen=True)
class Answer:
    """One student's answer to one exercise."""

    student: str
    lesson: str
    test_id: str
    source: str
    title: str = ""
    label: str = ""  # the notebook, as grading listed it


@dataclasses.dataclass
class Pair:
    """Two answers to the same exercise that share many fingerprints."""

    a: Answer
    b: Answer
    shared: int
    sizes: tuple[int, int]
    lines: tuple[tuple[int, ...], tuple[int, ...]]  # the lines (from 0) of each that are shared

    @property
    def score(self) -> float:
        """Shared fingerprints over the smaller answer's."""
        return self.shared / min(self.sizes)

    @property
    def exercise(self) -> tuple[str, str]:
        return self.a.lesson, self.a.test_id


@dataclasses.dataclass
class Findings:
    """What the comparison found, and how."""

    pairs: list[Pair]
    groups: list[tuple[tuple[str, str], list[str]]]  # ((lesson, test id), students), 3 or more
    compared: int  # answers compared
    short: int  # answers too short (after discounting) to compare
    exercises: int
    seconds: float
    settings: dict[str, float]

    def student_pairs(self) -> list[tuple[tuple[str, str], list[Pair]]]:
        """Per pair of students, their similar answers: most exercises first."""
        together: dict[tuple[str, str], list[Pair]] = defaultdict(list)
        for pair in self.pairs:
            together[tuple(sorted((pair.a.student, pair.b.student)))].append(pair)
        return sorted(together.items(), key=lambda item: (-len(item[1]), -max(p.score for p in item[1]),
                                                          item[0]))


def template_hashes(sources: Iterable[str]) -> set[int]:
    """Every run of ``K`` tokens in the handed-out code (not winnowed: all of it is discounted)."""
    found: set[int] = set()
    for source in sources:
        found.update(kgram_hashes(tokens(source)))
    return found


def compare(answers: Mapping[tuple[str, str], list[Answer]],
            templates: Mapping[tuple[str, str], Iterable[str]] | None = None,
            threshold: float = THRESHOLD, min_fingerprints: int = MIN_FINGERPRINTS,
            common: int = COMMON) -> Findings:
    """Compare the answers of each exercise ((lesson, test id) -> answers) with each other."""
    start = time.perf_counter()
    templates = templates or {}
    pairs: list[Pair] = []
    groups = []
    compared = short = 0
    for exercise, group in sorted(answers.items()):
        discount = template_hashes(templates.get(exercise, ()))
        prints = []
        for answer in group:
            chosen = winnow(kgram_hashes(tokens(answer.source[:MAX_ANSWER_CHARS])))
            prints.append({h: spots for h, spots in chosen.items() if h not in discount})
        frequency = Counter(h for found in prints for h in found)
        too_common = common_limit(len(group), common)
        prints = [{h: spans for h, spans in found.items() if frequency[h] <= too_common}
                  for found in prints]
        usable = [i for i, found in enumerate(prints) if len(found) >= min_fingerprints]
        compared += len(usable)
        short += len(group) - len(usable)
        index: dict[int, list[int]] = defaultdict(list)
        for i in usable:
            for h in prints[i]:
                index[h].append(i)
        shared: Counter = Counter()
        for holders in index.values():
            for x in range(len(holders)):
                for y in range(x + 1, len(holders)):
                    shared[(holders[x], holders[y])] += 1
        found_here = []
        for (i, j), count in shared.items():
            sizes = (len(prints[i]), len(prints[j]))
            if count >= min_fingerprints and count / min(sizes) >= threshold:
                both = prints[i].keys() & prints[j].keys()
                found_here.append(Pair(group[i], group[j], count, sizes,
                                       (_lines(group[i], prints[i], both), _lines(group[j], prints[j], both))))
        found_here.sort(key=lambda p: (-p.score, p.a.student, p.b.student))
        pairs.extend(found_here)
        groups.extend((exercise, members) for members in _groups(found_here) if len(members) >= 3)
    settings = {"k": K, "w": W, "threshold": threshold, "min_fingerprints": min_fingerprints,
                "common": common}
    return Findings(pairs, groups, compared, short, len(answers), time.perf_counter() - start, settings)


def common_limit(answers: int, common: int = COMMON) -> float:
    """The most answers a fingerprint may be found in and still count as evidence."""
    return max(COMMON_FLOOR, min(common, COMMON_SHARE * answers))


def _lines(answer: Answer, found: dict[int, list[int]], shared: Iterable[int]) -> tuple[int, ...]:
    """The lines of ``answer`` that the ``shared`` fingerprints cover (its tokens' lines)."""
    lines_of = [line for _token, line in lexed(answer.source[:MAX_ANSWER_CHARS])]
    lines = set()
    for h in shared:
        for position in found[h]:
            lines.update(range(lines_of[position], lines_of[min(position + K, len(lines_of)) - 1] + 1))
    return tuple(sorted(lines))


def _groups(pairs: list[Pair]) -> list[list[str]]:
    """Connected students (union-find over the reported pairs), each group sorted."""
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for pair in pairs:
        parent[root(pair.a.student)] = root(pair.b.student)
    members: dict[str, list[str]] = defaultdict(list)
    for student in list(parent):
        members[root(student)].append(student)
    return sorted(sorted(group) for group in members.values())


# --------------------------------------------------------------------------- from grading

def answers_of(results, assignments: Mapping | None = None) -> dict[tuple[str, str], list[Answer]]:
    """(lesson, test id) -> the answers recorded in ``results`` (one per student and lesson:
    the notebook whose grade counts)."""
    from convtrain.instructor.grading.report import best_per_assignment

    assignments = assignments or {}
    found: dict[tuple[str, str], list[Answer]] = defaultdict(list)
    for result in best_per_assignment(list(results)):
        assignment = assignments.get(result.assignment)
        for test_id, source in sorted(getattr(result, "answers", {}).items()):
            title = assignment.title(test_id) if assignment is not None else ""
            found[(result.assignment, test_id)].append(
                Answer(result.student_id, result.assignment, test_id, source, title or test_id,
                       result.label))
    return dict(found)


def handed_out(assignments: Mapping) -> dict[tuple[str, str], list[str]]:
    """(lesson, test id) -> the code every student received for that lesson: the gradebook's
    cells (answer stubs, given cells, visible tests) and the release notebook's cells, with
    the code in its Markdown (fenced blocks and `inline code`)."""
    import json

    found: dict[tuple[str, str], list[str]] = {}
    for name, assignment in assignments.items():
        sources = [cell.release_source if cell.is_test else cell.source for cell in assignment.cells]
        release = assignment.files_dir / f"{assignment.notebook}.ipynb" if assignment.files_dir else None
        if release is not None and release.is_file():
            for cell in json.loads(release.read_text(encoding="utf-8")).get("cells", []):
                text = "".join(cell.get("source", "")) if isinstance(cell.get("source"), list) \
                    else str(cell.get("source", ""))
                sources.extend(_markdown_code(text) if cell.get("cell_type") == "markdown" else [text])
        for test, _answers in assignment.exercises:
            found[(name, test.name)] = sources
    return found


def _markdown_code(text: str) -> list[str]:
    blocks = re.findall(r"```[^\n]*\n(.*?)```", text, flags=re.DOTALL)
    inline = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.DOTALL))
    return blocks + inline


def analyze(results, assignments: Mapping | None = None, **settings) -> Findings:
    """Compare the answers recorded in ``results``, discounting what ``assignments`` handed out."""
    return compare(answers_of(results, assignments), handed_out(assignments or {}), **settings)


# --------------------------------------------------------------------------- output

STYLE = """
body{font-family:sans-serif;max-width:90rem;margin:2rem auto;padding:0 1rem;color:#1f2328}
table{border-collapse:collapse;margin:.5rem 0 1rem}th,td{border:1px solid #d0d7de;padding:.25rem .5rem;
text-align:left;vertical-align:top}th{background:#f6f8fa}td.number{text-align:right}
.side{display:grid;grid-template-columns:1fr 1fr;gap:1rem}.side pre{background:#f6f8fa;padding:.5rem;
overflow-x:auto;font-size:.85em;margin:0}.side mark{background:#fff1a8;display:block}
.muted{color:#59636e}section.pair{border-top:1px solid #d0d7de;padding-top:.5rem;margin-bottom:1.5rem}
"""


def _code(source: str, marked: tuple[int, ...]) -> str:
    lines = source[:MAX_ANSWER_CHARS].split("\n")
    marks = set(marked)
    return "\n".join(f"<mark>{html.escape(line) or ' '}</mark>" if number in marks else html.escape(line)
                     for number, line in enumerate(lines))


def render(findings: Findings) -> str:
    """similarity.html as text."""
    e = html.escape
    settings = findings.settings
    body = [
        "<h1>Similar answers</h1>",
        "<p><strong>This never changes a grade and is not a verdict.</strong> It lists pairs of "
        "answers that share much of their code once comments, layout and variable names are "
        "ignored, so that you can read them side by side. Students legitimately share the "
        "handed-out code (discounted), the lesson's idioms (fingerprints common to many answers "
        "are discounted) and short obvious solutions (answers with too little of their own are "
        "not compared). Talk to students before concluding anything.</p>",
        f"<p class=\"muted\">{findings.compared} answers compared over {findings.exercises} "
        f"exercise(s); {findings.short} too short to compare. Reported: shared fingerprints "
        f"≥ {settings['threshold']:.0%} of the smaller answer's and ≥ "
        f"{settings['min_fingerprints']:g}; runs of {settings['k']:g} tokens, windows of "
        f"{settings['w']:g}; fingerprints found in more than {settings['common']:g} (or 10%) of an "
        f"exercise's answers ignored. {findings.seconds:.2f} s.</p>",
    ]
    student_pairs = findings.student_pairs()
    if not student_pairs:
        body.append("<p>No pair of answers is similar enough to report.</p>")
    else:
        rows = "".join(
            f"<tr><td>{e(a)}</td><td>{e(b)}</td><td class=\"number\">{len(pairs)}</td>"
            f"<td>{', '.join(_link(p) for p in pairs)}</td></tr>" for (a, b), pairs in student_pairs)
        body.append("<h2>Pairs of students</h2><table><tr><th>student</th><th>student</th>"
                    f"<th>similar exercises</th><th>where (shared share)</th></tr>{rows}</table>")
    if findings.groups:
        rows = "".join(f"<tr><td>{e(lesson)}</td><td>{e(test_id)}</td><td>{e(', '.join(members))}</td></tr>"
                       for (lesson, test_id), members in findings.groups)
        body.append("<h2>Groups (three or more students linked)</h2><table><tr><th>lesson</th>"
                    f"<th>exercise</th><th>students</th></tr>{rows}</table>")
    for pair in findings.pairs:
        body.append(
            f"<section class=\"pair\" id=\"{_anchor(pair)}\"><h3>{e(pair.a.lesson)} · {e(pair.a.title)}: "
            f"{e(pair.a.student)} and {e(pair.b.student)} — {pair.score:.0%} "
            f"<span class=\"muted\">({pair.shared} shared fingerprints of {pair.sizes[0]} and "
            f"{pair.sizes[1]})</span></h3><div class=\"side\">"
            + "".join(f"<div><p><strong>{e(answer.student)}</strong> <span class=\"muted\">"
                      f"{e(answer.label)}</span></p><pre>{_code(answer.source, lines)}</pre></div>"
                      for answer, lines in ((pair.a, pair.lines[0]), (pair.b, pair.lines[1])))
            + "</div></section>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Similar answers"
            f"</title><style>{STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def _link(pair: Pair) -> str:
    return (f"<a href=\"#{_anchor(pair)}\">{html.escape(pair.a.lesson)}: {html.escape(pair.a.title)}"
            f"</a> ({pair.score:.0%})")


def _anchor(pair: Pair) -> str:
    text = f"{pair.a.lesson}-{pair.a.test_id}-{pair.a.student}-{pair.b.student}"
    return "pair-" + f"{zlib.crc32(text.encode()):08x}"


CSV_COLUMNS = ("lesson", "exercise", "student_a", "student_b", "score", "shared", "fingerprints_a",
               "fingerprints_b", "file_a", "file_b")


def write(out: Path, findings: Findings) -> tuple[Path, Path]:
    """Write OUTDIR/similarity.html and OUTDIR/similarity.csv; return their paths."""
    out = Path(out)
    page = out / "similarity.html"
    page.write_text(render(findings), encoding="utf-8")
    table = out / "similarity.csv"
    with table.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for p in findings.pairs:
            writer.writerow([p.a.lesson, p.a.test_id, p.a.student, p.b.student, f"{p.score:.2f}",
                             p.shared, p.sizes[0], p.sizes[1], p.a.label, p.b.label])
    return page, table


# --------------------------------------------------------------------------- command

def load_results(graded: Path) -> list:
    """Every result file in ``graded/results`` this grader can read (of any cache key)."""
    from convtrain.instructor.grading.report import load_result

    found = []
    for path in sorted((Path(graded) / "results").rglob("*.json")):
        result = load_result(path)
        if result is not None:
            found.append(result)
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="convtrain similarity", description="Find pairs of students whose answer cells look "
        "copied (never changes a grade): writes similarity.html and similarity.csv in GRADED_DIR.")
    parser.add_argument("graded", type=Path, help="the OUTDIR of `convtrain grade`")
    parser.add_argument("--course", type=Path, default=None,
                        help="course folder (its gradebook gives the handed-out code to discount; "
                             "default: the repository's course/)")
    parser.add_argument("--threshold", type=float, default=THRESHOLD,
                        help=f"share of the smaller answer's fingerprints that must be shared (default {THRESHOLD})")
    parser.add_argument("--min-fingerprints", type=int, default=MIN_FINGERPRINTS,
                        help=f"answers with fewer are too short to compare (default {MIN_FINGERPRINTS})")
    parser.add_argument("--common", type=int, default=COMMON,
                        help=f"ignore fingerprints found in more answers than this or 10%% of them "
                             f"(default {COMMON}, as MOSS)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    results = load_results(args.graded)
    if not results:
        print(f"convtrain similarity: no graded results in {args.graded / 'results'}: run "
              "`convtrain grade SUBMISSIONS --out GRADED_DIR` first.", file=sys.stderr)
        return 2
    if not any(getattr(result, "answers", None) for result in results):
        print("convtrain similarity: the results hold no answer cells (graded by an older "
              "convtrain?): grade again with --regrade.", file=sys.stderr)
        return 2
    assignments = _assignments(args.course)
    if not assignments:
        print("convtrain similarity: no gradebook: the handed-out code is discounted only through "
              "what most answers share.")
    findings = analyze(results, assignments, threshold=args.threshold,
                       min_fingerprints=args.min_fingerprints, common=args.common)
    page, table = write(args.graded, findings)
    for (a, b), pairs in findings.student_pairs():
        print(f"{a} ~ {b}: {len(pairs)} exercise(s): " +
              ", ".join(f"{p.a.lesson}/{p.a.test_id} {p.score:.0%}" for p in pairs))
    print(f"{len(findings.pairs)} similar pair(s) of answers among {findings.compared} compared "
          f"({findings.short} too short) in {findings.seconds:.2f} s; wrote {page} and {table}. "
          "Grades are unchanged.")
    return 0


def _assignments(course_dir: Path | None) -> dict:
    try:
        from convtrain.instructor.course import find_course, load_course
        from convtrain.instructor.grading.gradebook import load_assignments

        return load_assignments(load_course(find_course(course_dir)))
    except Exception:  # noqa: BLE001 - no course or gradebook: compare without the handed-out code
        return {}
