"""Print the wall time of each solution notebook, run alone in the fast profile.

Each notebook runs in a fresh kernel, one at a time, kernel start included: what a
student on a 2-core CPU or CI experiences. The issue budget is 60 s per lesson.
Kernels run with one torch thread (OMP_NUM_THREADS=1, as the test suite does; override
by setting it): the lessons' models are tiny, and on this 2-core machine two threads
were slower. Notebooks run through `convtrain.instructor.headless.execute_notebook`, whose client is no
Output-widget frontend (`convtrain.instructor.headless`): nbclient's frontend mimic stalled the
interact cell of 02_dropout for up to the cell timeout.

    python benchmarks/time_notebooks.py [LESSON ...]
"""

import os
import sys
import tempfile
from pathlib import Path

from convtrain.instructor import course
from convtrain.instructor.headless import execute_notebook

BUDGET_SECONDS = 60


def main(argv: list[str]) -> None:
    os.environ["CONVTRAIN_PROFILE"] = "fast"
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    root = course.repo_root()
    lessons = argv or course.lessons(root / "solutions")
    print(f"| lesson | wall time (s), fast profile, {os.cpu_count()} cores, "
          f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']} | within {BUDGET_SECONDS} s |")
    print("|---|---:|---|")
    with tempfile.TemporaryDirectory() as scratch:
        for lesson in lessons:
            seconds = execute_notebook(root / "solutions" / lesson / f"{lesson}.ipynb",
                              Path(scratch) / f"{lesson}.ipynb")
            print(f"| {lesson} | {seconds:.1f} | {'yes' if seconds <= BUDGET_SECONDS else 'NO'} |",
                  flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
