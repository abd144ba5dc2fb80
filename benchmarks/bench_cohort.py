"""Does grading a large cohort stay flat? Wall time, live kernels and memory of `convtrain grade`.

    python benchmarks/bench_cohort.py                      # >= 150 notebooks, every lesson, --jobs 2
    python benchmarks/bench_cohort.py --copies 1 --lessons 00_building_blocks   # a quick look

Writes the round-trip cohort of ``convtrain.instructor.cohort`` (per lesson: perfect, untouched,
one exercise solved, the Colab copy) ``--copies`` times under different student ids into
a scratch folder, grades it with the real command against a scratch copy of the course,
and samples the machine every half second while it runs. It prints

- wall time of the grading run and per notebook;
- the peak number of live kernels (processes running ``ipykernel_launcher`` for this
  run's scratch folders): at most ``--jobs``;
- the peak memory in use on the machine above what was in use before the run
  (``MemTotal - MemAvailable``), and the grader's own peak resident memory;
- whether every notebook got its expected score and flags, and whether any process of
  the run was left behind afterwards.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from convtrain.instructor import cohort, course  # noqa: E402


def memory_in_use_mb() -> float:
    fields = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        name, value = line.split(":", 1)
        fields[name] = int(value.split()[0])
    return (fields["MemTotal"] - fields["MemAvailable"]) / 1024


def run_processes(marker: str) -> tuple[int, list[int]]:
    """(live kernels, every pid) among processes whose command line mentions ``marker``.
    A process forked by a kernel (a DataLoader worker) keeps the kernel's command line:
    it counts as a process, not as another kernel."""
    kernels, pids, parents = set(), [], {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace")
            parents[int(entry)] = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if marker in text:
            pids.append(int(entry))
            if "ipykernel_launcher" in text and not text.startswith("bwrap"):
                kernels.add(int(entry))
    return len([pid for pid in kernels if parents.get(pid) not in kernels]), pids


class Sampler(threading.Thread):
    def __init__(self, marker: str):
        super().__init__(daemon=True)
        self.marker, self.stop, self.baseline = marker, threading.Event(), memory_in_use_mb()
        self.peak_kernels, self.peak_memory = 0, 0.0

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak_kernels = max(self.peak_kernels, run_processes(self.marker)[0])
            self.peak_memory = max(self.peak_memory, memory_in_use_mb() - self.baseline)
            time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--copies", type=int, default=5, help="cohort copies (5 x 9 lessons x 4 = 180)")
    parser.add_argument("--lessons", nargs="*", default=None)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    lessons = args.lessons or course.lessons(REPO / "solutions")
    scratch = Path(tempfile.mkdtemp(prefix="bench-cohort-"))
    # TMPDIR marks every scratch folder (and so every kernel's command line) of this run.
    tmp = scratch / "tmp"
    tmp.mkdir()
    course_dir = cohort.scratch_course(REPO, scratch / "course-copy", lessons)
    expected = {}
    flat = scratch / "cohort"  # student ids differ between copies: copy<N>-<student>
    flat.mkdir()
    for copy in range(args.copies):
        folder = scratch / "submissions" / f"copy{copy}"
        for (_student, lesson), submission in cohort.write_cohort(REPO, lessons, folder).items():
            expected[(f"copy{copy}-{submission.student}", lesson)] = submission
        for item in folder.iterdir():
            shutil.move(str(item), str(flat / f"copy{copy}-{item.name}"))
    notebooks = sum(1 for _ in flat.rglob("*.ipynb"))
    out = scratch / "out"
    env = dict(os.environ, TMPDIR=str(tmp), OMP_NUM_THREADS="1")
    command = [str(Path(sys.executable).parent / "convtrain"), "grade", str(flat), "--out", str(out),
               "--course", str(course_dir), "--jobs", str(args.jobs)]
    sampler = Sampler(str(tmp))
    sampler.start()
    started = time.monotonic()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.monotonic() - started
    sampler.stop.set()
    sampler.join()
    time.sleep(2)
    left = run_processes(str(tmp))[1]
    # The largest resident set of any waited-for descendant: the grader itself.
    grader_peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    with (out / "grades.csv").open() as handle:
        rows = {(r["student_id"], r["assignment"]): r for r in csv.DictReader(handle)}
    wrong = []
    for (student, lesson), submission in expected.items():
        row = rows.get((student, lesson))
        if row is None or float(row["score"]) != submission.expected_total \
                or row["flags"] != ";".join(submission.flags):
            wrong.append(f"{student} {lesson}: {dict(row) if row else 'missing'}")
    print(f"notebooks graded:        {notebooks} ({len(lessons)} lessons, --jobs {args.jobs})")
    print(f"wall time:               {wall:.0f} s ({wall / max(notebooks, 1):.1f} s per notebook)")
    print(f"peak live kernels:       {sampler.peak_kernels} (limit {args.jobs})")
    print(f"peak memory in use:      +{sampler.peak_memory:.0f} MiB over the {sampler.baseline:.0f} MiB before")
    print(f"largest process RSS:     {grader_peak_mb:.0f} MiB (the grader or a kernel it waited for)")
    print(f"scores as expected:      {len(expected) - len(wrong)}/{len(expected)}")
    for line in wrong[:20]:
        print(f"  unexpected: {line}")
    print(f"processes left behind:   {len(left)}")
    print(f"exit status:             {result.returncode}")
    shutil.rmtree(scratch, ignore_errors=True)
    sys.exit(0 if not wrong and not left and result.returncode == 0 else 1)


if __name__ == "__main__":
    main()
