"""How much does `import convtrain` cost on top of `import torch, torchvision`?

Runs each import in 5 fresh Python processes and prints the medians and their
difference. Target (issue 3): at most 0.5 s more than torch + torchvision, which
holds while heavy packages (matplotlib, scikit-learn, scikit-image, FiftyOne,
nbgrader, kagglehub) are imported inside the functions that need them.

    python benchmarks/bench_import.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

TARGET_S = 0.5
BASELINE = "import torch, torchvision"
CONVTRAIN = "import convtrain"
HEAVY = ("matplotlib", "sklearn", "skimage", "fiftyone", "nbgrader", "kagglehub")


def import_seconds(statement: str) -> float:
    """Wall time of ``python -c statement`` in a fresh process (interpreter start-up included)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", statement], check=True)
    return time.perf_counter() - start


def heavy_modules_loaded() -> list[str]:
    """Which heavy packages ``import convtrain`` pulls in (should be none)."""
    code = f"import sys, convtrain; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return result.stdout.split()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    subprocess.run([sys.executable, "-c", CONVTRAIN], check=True)  # warm the file cache
    # alternate the two, so a burst of load on a shared machine hits both alike
    pairs = [(import_seconds(BASELINE), import_seconds(CONVTRAIN)) for _ in range(runs)]
    baseline = statistics.median(b for b, _ in pairs)
    ours = statistics.median(c for _, c in pairs)
    difference = ours - baseline
    print(f"{BASELINE!r:32} median of {runs}: {baseline:.3f} s")
    print(f"{CONVTRAIN!r:32} median of {runs}: {ours:.3f} s")
    print(f"difference: {difference:+.3f} s (target <= {TARGET_S} s): "
          f"{'ok' if difference <= TARGET_S else 'TOO SLOW'}")
    heavy = heavy_modules_loaded()
    print(f"heavy packages imported by `import convtrain`: {', '.join(heavy) or 'none'}")
    return 0 if difference <= TARGET_S and not heavy else 1


if __name__ == "__main__":
    sys.exit(main())
