"""The three descriptions of the environment agree: pyproject.toml, environment.yml, the lock.

environment.yml is for conda users, requirements-lock.txt is what `make setup` installs,
pyproject.toml is what `pip install convtrain[...]` asks for. A package named in one and
missing from another, or pinned to two versions, breaks someone's set-up silently.
"""

import re
import subprocess
import sys
from pathlib import Path

import tomllib
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
# PyPI name -> conda-forge name, where they differ
CONDA_NAMES = {"torch": "pytorch"}


def pyproject_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        specs += extra
    return [Requirement(s) for s in specs]


def lock_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements-lock.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"requirements-lock.txt: {line!r} is not pinned with =="
            pins[canonicalize_name(name)] = version
    return pins


def environment_entries() -> dict[str, tuple[str, str]]:
    """canonical PyPI name -> (version, 'conda' | 'pip') from environment.yml."""
    spec = yaml.safe_load((ROOT / "environment.yml").read_text())
    pypi_name = {v: k for k, v in CONDA_NAMES.items()}
    entries = {}
    for item in spec["dependencies"]:
        if isinstance(item, dict):
            for line in item["pip"]:
                if not line.startswith("-e"):
                    requirement = Requirement(line)
                    version = str(requirement.specifier).removeprefix("==")
                    entries[canonicalize_name(requirement.name)] = (version, "pip")
            continue
        name, _, version = item.partition("=")
        entries[canonicalize_name(pypi_name.get(name, name))] = (version, "conda")
    return entries


def test_environment_yml_names_every_package_of_pyproject():
    entries = environment_entries()
    missing = [str(r) for r in pyproject_requirements() if canonicalize_name(r.name) not in entries]
    assert not missing, f"environment.yml lacks: {missing}"


def test_environment_yml_pins_the_lock_versions():
    pins, entries = lock_pins(), environment_entries()
    for name, (version, where) in entries.items():
        if name in {"python", "pip"}:
            continue
        assert name in pins, f"environment.yml has {name}, requirements-lock.txt does not"
        assert version == pins[name], (
            f"{name}: environment.yml ({where}) says {version}, requirements-lock.txt {pins[name]}")


def test_lock_satisfies_pyproject():
    pins = lock_pins()
    for requirement in pyproject_requirements():
        if requirement.marker and not requirement.marker.evaluate():
            continue
        name = canonicalize_name(requirement.name)
        assert name in pins, f"requirements-lock.txt does not pin {requirement.name}"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{requirement.name}=={pins[name]} in the lock violates pyproject's {requirement}")


def test_lock_pins_the_torch_pair_that_installs_here():
    pins = lock_pins()
    assert (pins["torch"], pins["torchvision"]) == ("2.14.1", "0.29.1")


def test_core_dependencies_never_pin_torch():
    # Colab and Kaggle ship their own torch; an == or an upper bound would replace it.
    core = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for spec in core:
        requirement = Requirement(spec)
        if requirement.name in {"torch", "torchvision"}:
            assert all(s.operator == ">=" for s in requirement.specifier), spec


def test_make_setup_installs_from_the_lock():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"pip\"? install .*-r \$\(LOCK\)", makefile)
    assert "LOCK := requirements-lock.txt" in makefile


def test_doctor_runs_clean_here():
    result = subprocess.run([sys.executable, "-m", "convtrain.cli", "doctor"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "torch" in result.stdout
