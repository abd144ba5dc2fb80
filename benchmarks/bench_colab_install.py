"""Run a workshop's bootstrap cell in a simulated Colab and print what it installed and how long it took.

Colab ships torch, torchvision, numpy, matplotlib and ipywidgets. The simulation is a
fresh virtual environment holding those (cached under ~/.cache/convtrain/, keyed by
the torch pair), with Colab's environment marker set and CONVTRAIN_PIP_SPEC pointing
at this working tree instead of the network. The bootstrap cell must add convtrain and
what is missing, and never download or replace torch, torchvision or a CUDA wheel.

    python benchmarks/bench_colab_install.py [--lesson 00_building_blocks]

tests/test_colab_bootstrap.py runs the same functions and asserts on the result.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TORCH_PAIR = ("2.14.1", "0.29.1")
# What Colab already has, besides Python's own packages.
COLAB_PREINSTALLED = [f"torch=={TORCH_PAIR[0]}", f"torchvision=={TORCH_PAIR[1]}",
                      "numpy", "matplotlib", "ipywidgets", "ipykernel"]
HEAVY = ("torch", "torchvision", "nvidia-", "triton", "cuda-")


def colab_venv(cache: Path | None = None) -> Path:
    """A cached venv that holds what Colab preinstalls (created on first use, about a minute)."""
    cache = cache or Path(os.environ.get("CONVTRAIN_CACHE", Path.home() / ".cache" / "convtrain"))
    venv = cache / f"colab-sim-torch{TORCH_PAIR[0]}-tv{TORCH_PAIR[1]}"
    if not (venv / ".complete").is_file():
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", *COLAB_PREINSTALLED],
                       check=True)
        (venv / ".complete").touch()
    return venv


def frozen(venv: Path) -> dict[str, str]:
    """name -> version of everything installed in ``venv``."""
    listing = subprocess.run([str(venv / "bin" / "pip"), "list", "--format", "json"],
                             capture_output=True, text=True, check=True).stdout
    return {p["name"].lower(): p["version"] for p in json.loads(listing)}


def bootstrap_cell(lesson: str) -> str:
    notebook = json.loads((ROOT / "workshops" / lesson / f"{lesson}.ipynb").read_text())
    first = next(c for c in notebook["cells"] if c["cell_type"] == "code")
    return first["source"] if isinstance(first["source"], str) else "".join(first["source"])


def run_in_colab(venv: Path, code: str, *, install_from: Path) -> subprocess.CompletedProcess:
    """Run IPython code (magics allowed) in ``venv`` as if in Colab, installing from a folder."""
    env = dict(os.environ, COLAB_RELEASE_TAG="release-colab-simulated",
               CONVTRAIN_PIP_SPEC=str(install_from), PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("VIRTUAL_ENV", None)
    return subprocess.run([str(venv / "bin" / "python"), "-m", "IPython", "--no-banner",
                           "--colors=NoColor", "-c", code],
                          capture_output=True, text=True, env=env, timeout=900)


def simulate(lesson: str, venv: Path) -> dict:
    """Run the lesson's bootstrap cell; return the seconds, packages added and changed."""
    # A throw-away copy, so the cached venv stays as Colab is: without convtrain.
    scratch = venv.parent / f"{venv.name}-run-{os.getpid()}"
    shutil.rmtree(scratch, ignore_errors=True)
    subprocess.run(["cp", "-a", str(venv), str(scratch)], check=True)
    _rewrite_venv_paths(venv, scratch)
    try:
        before = frozen(scratch)
        start = time.perf_counter()
        cell = run_in_colab(scratch, bootstrap_cell(lesson), install_from=ROOT)
        seconds = time.perf_counter() - start
        after = frozen(scratch)
        imports = run_in_colab(scratch, "import convtrain as ct; x, y = ct.data.load_digits(); "
                               "m = ct.models.SimpleCNN(); print('imports ok', tuple(x.shape), "
                               "sum(p.numel() for p in m.parameters()))", install_from=ROOT)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return {
        "seconds": seconds,
        "cell": cell,
        "imports": imports,
        "added": sorted(set(after) - set(before)),
        "changed": sorted(n for n in before if n in after and before[n] != after[n]),
    }


def _rewrite_venv_paths(old: Path, new: Path) -> None:
    # A copied venv's scripts and pyvenv.cfg still name the old folder.
    for path in [new / "pyvenv.cfg", *(new / "bin").iterdir()]:
        if path.is_file() and not path.is_symlink():
            try:
                text = path.read_text()
            except UnicodeDecodeError:
                continue
            if str(old) in text:
                path.write_text(text.replace(str(old), str(new)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lesson", default="00_building_blocks")
    args = parser.parse_args()
    start = time.perf_counter()
    venv = colab_venv()
    print(f"simulated Colab venv ready in {time.perf_counter() - start:.1f} s: {venv}")
    result = simulate(args.lesson, venv)
    print(f"bootstrap cell of {args.lesson}: {result['seconds']:.1f} s, exit {result['cell'].returncode}")
    print(f"added ({len(result['added'])}): {', '.join(result['added'])}")
    print(f"changed: {', '.join(result['changed']) or 'nothing'}")
    heavy = [n for n in result["added"] + result["changed"] if n.startswith(HEAVY)]
    print(f"heavy packages downloaded or replaced: {', '.join(heavy) or 'none'}")
    print(result["imports"].stdout.strip() or result["imports"].stderr[-2000:])


if __name__ == "__main__":
    main()
