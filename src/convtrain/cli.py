"""The `convtrain` command.

    convtrain doctor            is this machine ready for the course? (one fix per problem)
    convtrain build [--check]   generate workshops/ from solutions/ (or check they agree)
    convtrain grade SUBMISSIONS --out OUTDIR    grade a cohort (see course/GRADING.md)
    convtrain claims [--run] [--check]          every measured claim of the lessons, as a table
    convtrain check NOTEBOOK.ipynb              is this notebook ready to submit? (visible tests)
    convtrain export GRADED --to canvas|moodle|wide --out FILE   grades as an LMS import file
    convtrain similarity GRADED                 pairs of similar answers to read (no grade changes)

Each subcommand lives in its own module; this file only dispatches, importing the
module on demand so `convtrain doctor` does not pay for nbgrader.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# subcommand -> (module, one-line help)
COMMANDS = {
    "doctor": ("convtrain.doctor", "check Python, torch, the device and the optional parts"),
    "build": ("convtrain.instructor.build", "generate the student notebooks in workshops/ from solutions/"),
    "grade": ("convtrain.instructor.grading.command", "autograde a folder or zip of submissions"),
    "claims": ("convtrain.instructor.claims_table", "the table of every measured claim of the course"),
    "check": ("convtrain.instructor.check", "run a notebook's visible tests in a fresh kernel: ready to submit?"),
    "export": ("convtrain.instructor.export", "grades.csv as Canvas's or Moodle's import file, or a wide CSV"),
    "similarity": ("convtrain.instructor.similarity", "pairs of students whose answers look copied (never changes a grade)"),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help"} or argv[0] not in COMMANDS:
        parser = argparse.ArgumentParser(prog="convtrain", description=__doc__,
                                         formatter_class=argparse.RawDescriptionHelpFormatter)
        parser.add_argument("command", choices=sorted(COMMANDS))
        if argv and argv[0] not in {"-h", "--help"}:
            parser.error(f"unknown command {argv[0]!r}; choose one of {', '.join(COMMANDS)}")
        parser.print_help()
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    module = importlib.import_module(COMMANDS[name][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
