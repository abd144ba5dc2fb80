"""The bootstrap cell in a simulated Colab installs convtrain without touching torch.

See benchmarks/bench_colab_install.py for the simulation (a cached venv holding what
Colab preinstalls, Colab's environment marker, the package installed from this tree).
"""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("bench_colab_install",
                                              ROOT / "benchmarks" / "bench_colab_install.py")
colab = importlib.util.module_from_spec(spec)
spec.loader.exec_module(colab)


@pytest.mark.slow
@pytest.mark.xdist_group(name="colab")
def test_bootstrap_cell_installs_convtrain_and_nothing_heavy():
    venv = colab.colab_venv()
    result = colab.simulate("00_building_blocks", venv)
    assert result["cell"].returncode == 0, result["cell"].stdout + result["cell"].stderr
    assert "convtrain" in result["added"], result["added"]
    heavy = [n for n in result["added"] + result["changed"] if n.startswith(colab.HEAVY)]
    assert not heavy, f"the bootstrap cell downloaded or replaced {heavy}"
    assert result["imports"].returncode == 0, result["imports"].stderr[-3000:]
    assert "imports ok (1797, 1, 8, 8)" in result["imports"].stdout


@pytest.mark.xdist_group(name="colab")
def test_bootstrap_cell_does_nothing_outside_colab_and_kaggle(tmp_path):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items()
           if k not in {"COLAB_RELEASE_TAG", "KAGGLE_KERNEL_RUN_TYPE"}}
    env["CONVTRAIN_PIP_SPEC"] = str(tmp_path / "does-not-exist")  # would fail if pip ran
    result = subprocess.run([sys.executable, "-m", "IPython", "--no-banner", "-c",
                             colab.bootstrap_cell("00_building_blocks") + "\nprint('skipped')"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0 and "skipped" in result.stdout, result.stderr
    assert "does-not-exist" not in result.stdout + result.stderr
