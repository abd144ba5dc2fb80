"""`convtrain build`: generate the student notebooks in `workshops/` from `solutions/`.

nbgrader's `generate_assignment` does the work (solutions replaced by stubs, hidden
tests removed, outputs cleared, cell checksums recorded). It runs in a throw-away
course root so that building never touches the instructor's gradebook, then the
result is copied into `workshops/` (or, with ``--check``, compared with it).

    convtrain build                 # regenerate every lesson
    convtrain build 02_dropout      # one lesson
    convtrain build --check         # exit 1 when workshops/ differs from what solutions/ gives
"""

from __future__ import annotations

import argparse
import difflib
import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

from convtrain.instructor import course as course_module
from convtrain.instructor.course import CourseError, find_course, load_course


def build(root: Path, lesson_ids: list[str] | None = None, check: bool = False,
          gradebook: Path | None = None) -> list[str]:
    """Generate workshops for ``lesson_ids`` (all by default); copy them, or compare with ``check``.

    The graded cells are recorded in ``gradebook`` when given (``make demo`` grades right
    after building, so one nbgrader pass does both), else in a throw-away one.
    Returns the list of problems found (always empty when not checking).
    """
    course = load_course(find_course(start=root))
    known = course.lessons()
    every_lesson = not lesson_ids
    lesson_ids = lesson_ids or known
    unknown = sorted(set(lesson_ids) - set(known))
    if unknown:
        misnamed = course_module.misnamed_lessons(course.source_dir)
        hint = (f" ({', '.join(misnamed)} in solutions/ are not lessons: a lesson is a folder "
                "NN_topic holding NN_topic.ipynb)") if misnamed else ""
        raise ValueError(f"No such lesson: {', '.join(unknown)}. Lessons in solutions/: "
                         f"{', '.join(known)}{hint}")
    problems = []
    with tempfile.TemporaryDirectory(prefix="convtrain-build-") as scratch:
        generated = course_module.generate_assignments(
            course, lesson_ids, Path(scratch) / "release",
            gradebook=gradebook or Path(scratch) / "gradebook.db")
        for lesson, folder in generated.items():
            target = course.workshops_dir / lesson
            if check:
                problems += differences(folder, target)
            else:
                shutil.rmtree(target, ignore_errors=True)
                shutil.copytree(folder, target)
        if check and every_lesson:
            for extra in sorted(set(_workshop_ids(course.workshops_dir)) - set(lesson_ids)):
                problems.append(f"workshops/{extra} has no source in solutions/: delete it")
    return problems


def differences(expected: Path, actual: Path) -> list[str]:
    """Human-readable differences between a generated lesson folder and the committed one."""
    if not actual.is_dir():
        return [f"{actual} is missing"]
    problems = []
    comparison = filecmp.dircmp(expected, actual, ignore=[".ipynb_checkpoints", "__pycache__"])
    problems += [f"{actual / name} is missing" for name in comparison.left_only]
    problems += [f"{actual / name} is not generated from solutions/" for name in comparison.right_only]
    for name in comparison.diff_files:
        diff = difflib.unified_diff(
            (actual / name).read_text().splitlines(),
            (expected / name).read_text().splitlines(),
            f"committed {name}", f"generated {name}", n=1, lineterm="",
        )
        first_lines = "\n".join(list(diff)[:12])
        problems.append(f"{actual / name} differs from what solutions/ generates:\n{first_lines}")
    for sub in comparison.common_dirs:
        problems += differences(expected / sub, actual / sub)
    return problems


def _workshop_ids(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.is_dir()] if folder.is_dir() else []


def notebook_links(lesson: str) -> tuple[str, str]:
    """The "Open in Colab" and "Open in Kaggle" URLs of a workshop notebook on main."""
    from convtrain.bootstrap import BRANCH, REPOSITORY

    path = f"workshops/{lesson}/{lesson}.ipynb"
    colab = f"https://colab.research.google.com/github/{REPOSITORY}/blob/{BRANCH}/{path}"
    kaggle = ("https://kaggle.com/kernels/welcome?src="
              f"https://github.com/{REPOSITORY}/blob/{BRANCH}/{path}")
    return colab, kaggle


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("lessons", nargs="*", help="lesson ids (default: all in solutions/)")
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 when workshops/ is out of date")
    parser.add_argument("--links", action="store_true",
                        help="print the README's Colab/Kaggle links for each lesson")


def run(args: argparse.Namespace) -> int:
    try:
        course = load_course(find_course())
    except CourseError as error:
        print(f"convtrain build: {error}", file=sys.stderr)
        return 2
    root = course.source_dir.parent
    if args.links:
        for lesson in args.lessons or course.lessons():
            colab, kaggle = notebook_links(lesson)
            print(f"| {lesson} | [Open in Colab]({colab}) | [Open in Kaggle]({kaggle}) |")
        return 0
    try:
        problems = build(root, args.lessons, check=args.check)
    except (ValueError, CourseError) as error:
        print(f"convtrain build: {error}", file=sys.stderr)
        return 2
    if args.check:
        if problems:
            print("workshops/ is out of date with solutions/:\n", file=sys.stderr)
            print("\n\n".join(f"- {p}" for p in problems), file=sys.stderr)
            print("\nFix: run `convtrain build` (or `make build`) and commit workshops/.",
                  file=sys.stderr)
            return 1
        print(f"workshops/ is up to date ({len(args.lessons or course.lessons())} lessons).")
        return 0
    print(f"Generated workshops/ for {', '.join(args.lessons or course.lessons())}.")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="convtrain build", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return run(parser.parse_args(argv))
