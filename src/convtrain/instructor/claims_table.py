"""``convtrain claims``: the table of every measured claim of the course.

Lessons make their claims through ``convtrain.claim`` (see ``convtrain/claims.py``);
with ``CONVTRAIN_CLAIMS_FILE`` set, each is appended to that file as a JSON line.
``make test`` sets it for the notebook run, so after it::

    convtrain claims                          # the table from artifacts/claims/*.jsonl
    convtrain claims --run                    # execute every solution notebook first (fast)
    convtrain claims --check --min-per-lesson 5 --markdown artifacts/claims/claims.md

Exit status 1 with ``--check`` when a claim did not hold or a lesson has fewer claims
than ``--min-per-lesson``; claims not checkable in a rehearsal count as neither.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from convtrain.instructor import course

DEFAULT_FOLDER = Path("artifacts") / "claims"


def read(paths: list[Path]) -> list[dict]:
    """The claims in ``paths`` (JSON lines); the last record of each lesson, id, profile and
    rehearsal wins (a notebook run twice leaves two)."""
    latest: dict[tuple, dict] = {}
    for path in paths:
        for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except ValueError as error:
                raise ValueError(f"{path}:{number} is not a JSON claim record ({error})") from None
            latest[(entry.get("lesson"), entry["id"], entry.get("profile"),
                    entry.get("rehearsal"))] = entry
    return sorted(latest.values(), key=lambda e: (str(e.get("lesson")), bool(e.get("rehearsal")),
                                                  str(e.get("profile"))))


def status(entry: dict) -> str:
    if entry.get("held") is None:
        return "not checkable in a rehearsal"
    return "held" if entry["held"] else "FAILED"


def markdown(entries: list[dict]) -> str:
    """The claims as a Markdown table, one row per claim."""
    rows = ["| lesson | claim | measured | expected | kind | status | profile |",
            "|---|---|---:|---|---|---|---|"]
    for entry in entries:
        value = entry["value"]
        shown = str(value) if isinstance(value, bool) else f"{value:.4g}"
        profile = entry.get("profile", "?") + (" (rehearsal)" if entry.get("rehearsal") else "")
        why = str(entry.get("why", "")).replace("|", "\\|")
        rows.append(f"| {entry.get('lesson') or '?'} | `{entry['id']}`: {why} | {shown} | "
                    f"{entry['expect']} | {entry.get('kind', 'measurement')} | {status(entry)} | "
                    f"{profile} |")
    return "\n".join(rows)


def problems(entries: list[dict], lessons: list[str], min_per_lesson: int) -> list[str]:
    """Why the table fails ``--check``: claims that failed, lessons with too few claims."""
    found = [f"{e.get('lesson')}: claim {e['id']!r} did not hold ({e['value']} vs {e['expect']})"
             for e in entries if e.get("held") is False]
    measured = {}
    for entry in entries:
        if not entry.get("rehearsal"):
            measured[entry.get("lesson")] = measured.get(entry.get("lesson"), 0) + 1
    for lesson in lessons:
        if measured.get(lesson, 0) < min_per_lesson:
            found.append(f"{lesson}: {measured.get(lesson, 0)} claim(s), at least "
                         f"{min_per_lesson} wanted")
    return found


def run_lessons(root: Path, lessons: list[str], claims_file: Path) -> None:
    """Execute each solution notebook (fast profile) with its claims recorded in ``claims_file``."""
    from convtrain.instructor.headless import execute_notebook

    os.environ.update({"CONVTRAIN_PROFILE": "fast", "CONVTRAIN_CLAIMS_FILE": str(claims_file)})
    for lesson in lessons:
        seconds = execute_notebook(root / "solutions" / lesson / f"{lesson}.ipynb")
        print(f"ran {lesson} ({seconds:.0f} s)", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="convtrain claims", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*", type=Path,
                        help=f"claim records (default: {DEFAULT_FOLDER}/*.jsonl)")
    parser.add_argument("--run", nargs="*", metavar="LESSON",
                        help="execute these solution notebooks first (none named: all)")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when a claim failed or a lesson has too few")
    parser.add_argument("--min-per-lesson", type=int, default=5)
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args(argv)
    root = course.repo_root()
    lessons = course.lessons(root / "solutions")
    files = list(args.files)
    if args.run is not None:
        unknown = sorted(set(args.run) - set(lessons))
        if unknown:
            print(f"convtrain claims: no such lesson: {', '.join(unknown)}", file=sys.stderr)
            return 2
        target = Path(tempfile.mkdtemp(prefix="convtrain-claims-")) / "claims.jsonl"
        run_lessons(root, args.run or lessons, target)
        files, lessons = [target], args.run or lessons
    if not files:
        files = sorted((root / DEFAULT_FOLDER).glob("*.jsonl"))
    if not files:
        print(f"convtrain claims: no claim records in {root / DEFAULT_FOLDER}. Run `make test` "
              "(it records them) or `convtrain claims --run`.", file=sys.stderr)
        return 2
    missing = [str(path) for path in files if not Path(path).is_file()]
    if missing:
        print(f"convtrain claims: no such file: {', '.join(missing)}. The notebooks record their "
              "claims there when CONVTRAIN_CLAIMS_FILE names it (`make test` does).",
              file=sys.stderr)
        return 2
    entries = read(files)
    table = markdown(entries)
    print(table)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(table + "\n", encoding="utf-8")
    held = sum(1 for e in entries if e.get("held"))
    open_ = sum(1 for e in entries if e.get("held") is None)
    print(f"\n{len(entries)} claims: {held} held, {len(entries) - held - open_} failed, "
          f"{open_} not checkable in a rehearsal")
    if args.check:
        found = problems(entries, lessons, args.min_per_lesson)
        if found:
            print("\n".join(["", "convtrain claims --check:", *found]), file=sys.stderr)
            return 1
    return 0
