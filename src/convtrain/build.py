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
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

LESSON_PATTERN = re.compile(r"^\d\d_[a-z0-9_]+$")


def repo_root(start: Path | None = None) -> Path:
    """The repository root: the nearest folder above ``start`` holding ``course/nbgrader_config.py``.

    Falls back to the checkout the package was installed from (editable installs).
    """
    candidates = [Path(start or Path.cwd()).resolve()]
    candidates += list(candidates[0].parents)
    candidates.append(Path(__file__).resolve().parents[2])
    for folder in candidates:
        if (folder / "course" / "nbgrader_config.py").is_file() and (folder / "solutions").is_dir():
            return folder
    raise FileNotFoundError(
        "Could not find the course: no folder above the current directory has "
        "course/nbgrader_config.py and solutions/. Run this command inside a clone of the "
        "convtrain repository."
    )


def lessons(root: Path) -> list[str]:
    """Lesson ids (``NN_topic``) that have a notebook in ``solutions/``, in order."""
    found = []
    for folder in sorted((root / "solutions").iterdir()):
        if LESSON_PATTERN.match(folder.name) and (folder / f"{folder.name}.ipynb").is_file():
            found.append(folder.name)
    return found


def course_config(root: Path, course_root: Path):
    """The course's nbgrader config, re-rooted at ``course_root`` (a scratch folder)."""
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(root / "course")).load_config()
    config.CourseDirectory.root = str(course_root)
    config.CourseDirectory.source_directory = str(root / "solutions")
    config.CourseDirectory.release_directory = "release"
    config.CourseDirectory.db_url = f"sqlite:///{course_root / 'gradebook.db'}"
    return config


def generate(root: Path, lesson_ids: list[str], out_dir: Path) -> dict[str, Path]:
    """Run nbgrader's generate_assignment for each lesson; return lesson id → generated folder."""
    from nbgrader.apps import NbGraderAPI

    put_venv_on_path()
    api = NbGraderAPI(config=course_config(root, out_dir))
    generated = {}
    for lesson in lesson_ids:
        result = api.generate_assignment(lesson, force=True, create=True)
        if not result["success"]:
            raise RuntimeError(
                f"nbgrader could not generate {lesson}:\n{result.get('error') or result.get('log')}"
            )
        generated[lesson] = out_dir / "release" / lesson
    return generated


def put_venv_on_path() -> None:
    # nbgrader runs the `alembic` executable that lives next to this Python.
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


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


def build(root: Path, lesson_ids: list[str] | None = None, check: bool = False) -> list[str]:
    """Generate workshops for ``lesson_ids`` (all by default); copy them, or compare with ``check``.

    Returns the list of problems found (always empty when not checking).
    """
    every_lesson = not lesson_ids
    lesson_ids = lesson_ids or lessons(root)
    unknown = sorted(set(lesson_ids) - set(lessons(root)))
    if unknown:
        raise ValueError(
            f"No such lesson: {', '.join(unknown)}. Lessons in solutions/: {', '.join(lessons(root))}"
        )
    problems = []
    with tempfile.TemporaryDirectory(prefix="convtrain-build-") as scratch:
        generated = generate(root, lesson_ids, Path(scratch))
        for lesson, folder in generated.items():
            target = root / "workshops" / lesson
            if check:
                problems += differences(folder, target)
            else:
                shutil.rmtree(target, ignore_errors=True)
                shutil.copytree(folder, target)
        if check and every_lesson:
            for extra in sorted(set(_workshop_ids(root)) - set(lesson_ids)):
                problems.append(f"workshops/{extra} has no source in solutions/: delete it")
    return problems


def _workshop_ids(root: Path) -> list[str]:
    folder = root / "workshops"
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
    root = repo_root()
    if args.links:
        for lesson in args.lessons or lessons(root):
            colab, kaggle = notebook_links(lesson)
            print(f"| {lesson} | [Open in Colab]({colab}) | [Open in Kaggle]({kaggle}) |")
        return 0
    try:
        problems = build(root, args.lessons, check=args.check)
    except (ValueError, RuntimeError) as error:
        print(f"convtrain build: {error}", file=sys.stderr)
        return 2
    if args.check:
        if problems:
            print("workshops/ is out of date with solutions/:\n", file=sys.stderr)
            print("\n\n".join(f"- {p}" for p in problems), file=sys.stderr)
            print("\nFix: run `convtrain build` (or `make build`) and commit workshops/.",
                  file=sys.stderr)
            return 1
        print(f"workshops/ is up to date ({len(args.lessons or lessons(root))} lessons).")
        return 0
    print(f"Generated workshops/ for {', '.join(args.lessons or lessons(root))}.")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="convtrain build", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return run(parser.parse_args(argv))
