"""What `make demo` costs: its wall time and the CPU time spent meanwhile. Budget: 180 s wall.

    python benchmarks/bench_demo.py            # runs `make demo` in this checkout
    python benchmarks/bench_demo.py --repeat 2

The CPU time is the machine's (user + system of every process, from /proc/stat), not
only the demo's own process: the kernels it grades in run in sandboxes whose processes
are never reaped by it, so its rusage would miss them. Run it on an otherwise idle
machine. The venv must exist (`make setup`); its creation is not counted.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUDGET_S = 180


def machine_cpu_seconds() -> float:
    """User + system (+ nice) CPU seconds of the whole machine since boot."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system = (int(value) for value in fields[:3])
    return (user + nice + system) / os.sysconf("SC_CLK_TCK")


def run_demo() -> tuple[float, float, int, str]:
    cpu, start = machine_cpu_seconds(), time.perf_counter()
    result = subprocess.run(["make", "--no-print-directory", "demo"], cwd=ROOT, text=True,
                            capture_output=True)
    wall, cpu = time.perf_counter() - start, machine_cpu_seconds() - cpu
    return wall, cpu, result.returncode, result.stdout + result.stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    subprocess.run(["make", "--no-print-directory", "setup"], cwd=ROOT, check=True,
                   capture_output=True)
    failed = False
    for attempt in range(1, args.repeat + 1):
        wall, cpu, status, output = run_demo()
        lines = output.splitlines()
        warnings = [line for line in lines if "Warning" in line or "WARNING" in line]
        print(f"run {attempt}: make demo {wall:.0f} s wall, {cpu:.0f} s CPU "
              f"({os.cpu_count()} cores), {len(lines)} lines of output, "
              f"{len(warnings)} warning lines, exit {status}; "
              f"{'within' if wall <= BUDGET_S else 'OVER'} the {BUDGET_S} s budget", flush=True)
        failed |= status != 0
        if status != 0:
            print("\n".join(lines[-30:]), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
