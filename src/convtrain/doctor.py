"""``convtrain doctor``: is this machine ready for the course? One line per part, a fix for each problem.

>>> from convtrain.doctor import report
>>> [check.name for check in report()][:3]
['Python', 'convtrain', 'torch']

From a shell: ``convtrain doctor`` (add ``--fiftyone`` to also start FiftyOne's
database, which takes several seconds). The exit status is 0 when every required
part works; optional parts (nbgrader, FiftyOne, ipywidgets, Kaggle credentials)
only print a warning and their fix.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import torch

import convtrain
from convtrain import runtime

MIN_PYTHON = (3, 10)
TESTED_TORCH = ((2, 2), (2, 14))          # inclusive range of minor versions
TESTED_TORCHVISION = ((0, 17), (0, 29))
TORCHVISION_MINOR_OFFSET = 15             # torchvision 0.(m + 15) is built for torch 2.m
FIFTYONE_PROBE_TIMEOUT_S = 180

INSTALL_INSTRUCTOR = 'pip install "convtrain[instructor]"'
INSTALL_FIFTYONE = 'pip install "convtrain[fiftyone]"'


@dataclasses.dataclass(frozen=True)
class Check:
    """One line of the report.

    Attributes:
        name: the part checked, e.g. ``"torch"``.
        ok: whether it works as the course needs.
        detail: what was found (versions, device, ...); never a secret.
        fix: one line saying what to do when ``ok`` is False.
        required: False for optional parts: a problem there is a warning, not a failure.
    """

    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True

    @property
    def status(self) -> str:
        """``"ok"``, ``"WARN"`` (optional part not working) or ``"FAIL"``."""
        return "ok" if self.ok else ("FAIL" if self.required else "WARN")


# --------------------------------------------------------------------------- helpers

def installed_version(distribution: str) -> str | None:
    """The installed version of a distribution (``"nbgrader"``), or None; imports nothing."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def major_minor(version: str) -> tuple[int, int]:
    """``"2.14.1+cu121"`` → ``(2, 14)``."""
    match = re.match(r"(\d+)\.(\d+)", str(version))
    if match is None:
        raise ValueError(f"cannot read a version number from {version!r}")
    return int(match.group(1)), int(match.group(2))


def _range_text(bounds: tuple[tuple[int, int], tuple[int, int]]) -> str:
    (a, b), (c, d) = bounds
    return f"{a}.{b}–{c}.{d}"


def _versioned_check(name: str, version: str, tested, fix_older: str, fix_newer: str) -> Check:
    found = major_minor(version)
    detail = f"{version} (tested {_range_text(tested)})"
    if found < tested[0]:
        return Check(name, False, f"{detail}: too old", fix_older)
    if found > tested[1]:
        return Check(name, False, f"{detail}: newer than tested", fix_newer, required=False)
    return Check(name, True, detail)


# --------------------------------------------------------------------------- the checks

def check_python() -> Check:
    version = ".".join(map(str, sys.version_info[:3]))
    if sys.version_info[:2] < MIN_PYTHON:
        return Check("Python", False, f"{version}: too old",
                     f"use Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer (e.g. a current Colab runtime)")
    return Check("Python", True, f"{version} ({sys.executable})")


def check_convtrain() -> Check:
    return Check("convtrain", True, f"{convtrain.__version__} ({Path(convtrain.__file__).parent})")


def check_torch() -> Check:
    return _versioned_check(
        "torch", torch.__version__, TESTED_TORCH,
        fix_older=f'pip install "torch>={TESTED_TORCH[0][0]}.{TESTED_TORCH[0][1]}" '
                  "(or use a current Colab/Kaggle runtime, which has it)",
        fix_newer="likely fine; if a lesson fails, report it with this output, or "
                  f'pip install "torch<={TESTED_TORCH[1][0]}.{TESTED_TORCH[1][1]}.*" and the matching torchvision',
    )


def check_torchvision() -> Check:
    try:
        import torchvision
    except Exception as error:  # noqa: BLE001 - a broken pair raises many kinds of errors
        return Check("torchvision", False, f"cannot be imported ({type(error).__name__}: {error})",
                     _matching_torchvision_fix())
    check = _versioned_check(
        "torchvision", torchvision.__version__, TESTED_TORCHVISION,
        fix_older=_matching_torchvision_fix(), fix_newer=_matching_torchvision_fix(),
    )
    torch_minor = major_minor(torch.__version__)[1]
    if major_minor(torchvision.__version__)[1] != torch_minor + TORCHVISION_MINOR_OFFSET:
        return Check("torchvision", False,
                     f"{torchvision.__version__} does not match torch {torch.__version__}",
                     _matching_torchvision_fix())
    return check


def _matching_torchvision_fix() -> str:
    major, minor = major_minor(torch.__version__)
    return (f'pip install "torchvision==0.{minor + TORCHVISION_MINOR_OFFSET}.*" '
            f"(the version built for torch {major}.{minor})")


def check_device() -> Check:
    chosen = runtime.device()
    detail = str(chosen)
    if chosen.type == "cuda":
        detail += f" ({torch.cuda.get_device_name(chosen)})"
    try:
        is_full = runtime.profile().name == "full"
    except ValueError:
        is_full = False  # reported by check_profile
    if is_full and chosen.type == "cpu":
        return Check("device", False, f"{detail}, but the full profile expects a GPU",
                     "Colab: Runtime → Change runtime type → GPU; Kaggle: Settings → Accelerator; "
                     "or %env CONVTRAIN_PROFILE=fast", required=False)
    return Check("device", True, detail)


def check_profile() -> Check:
    try:
        cfg = runtime.profile()
    except ValueError as error:
        return Check("profile", False, f"{runtime.PROFILE_VARIABLE}={os.environ.get(runtime.PROFILE_VARIABLE)!r}",
                     str(error).split(". ", 1)[-1])
    source = "from " + runtime.PROFILE_VARIABLE if os.environ.get(runtime.PROFILE_VARIABLE) else "default"
    return Check("profile", True, f"{cfg.name} ({source}: {cfg.dataset}, {cfg.backbone}, {cfg.image_size}px)")


def check_environment() -> Check:
    return Check("environment", True, runtime.environment())


def check_nbgrader() -> Check:
    version = installed_version("nbgrader")
    if version is None:
        return Check("nbgrader", False, "not installed (only instructors need it)", INSTALL_INSTRUCTOR,
                     required=False)
    alembic = Path(sys.executable).parent / "alembic"
    if not alembic.exists() and shutil.which("alembic") is None:
        return Check("nbgrader", False, f"{version}, but its `alembic` program is not on PATH",
                     f'export PATH="{Path(sys.executable).parent}:$PATH" (or activate the virtual environment)',
                     required=False)
    return Check("nbgrader", True, version)


def check_ipywidgets() -> Check:
    version = installed_version("ipywidgets")
    if version is None:
        return Check("ipywidgets", False, "not installed: interactive sliders will not show",
                     'pip install "ipywidgets>=8"', required=False)
    if major_minor(version) < (8, 0):
        return Check("ipywidgets", False, f"{version}: too old", 'pip install "ipywidgets>=8"',
                     required=False)
    return Check("ipywidgets", True, version)


def probe_fiftyone_database(timeout: float = FIFTYONE_PROBE_TIMEOUT_S) -> str | None:
    """Start FiftyOne's database in a child process; None if it works, else the error's last line."""
    code = "import fiftyone as fo; fo.list_datasets(); print('database ok')"
    env = {"FIFTYONE_DO_NOT_TRACK": "true", **os.environ}
    try:
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return f"no answer within {timeout:.0f} s"
    if result.returncode == 0 and "database ok" in result.stdout:
        return None
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    return lines[-1] if lines else f"exit status {result.returncode}"


def check_fiftyone(start_database: bool = False) -> Check:
    version = installed_version("fiftyone")
    if version is None:
        return Check("FiftyOne", False, "not installed (only the FiftyOne lesson needs it)",
                     INSTALL_FIFTYONE, required=False)
    if not start_database:
        return Check("FiftyOne", True, f"{version} (database not started: use --fiftyone to try it)")
    error = probe_fiftyone_database()
    if error is None:
        return Check("FiftyOne", True, f"{version}, database starts")
    fix = (f"{INSTALL_FIFTYONE} (it includes the database for Ubuntu 22.04+/Debian 12), "
           "point FIFTYONE_DATABASE_DIR at a writable folder, or set FIFTYONE_DATABASE_URI "
           "to a MongoDB you run")
    return Check("FiftyOne", False, f"{version}, but its database does not start: {error}", fix,
                 required=False)


def check_kaggle() -> Check:
    from convtrain.data import kaggle_fruits  # imports torchvision, not kagglehub
    from convtrain.data.downloads import cache_dir

    folders = [kaggle_fruits.KAGGLE_INPUT, cache_dir() / "fruits"]
    if os.environ.get(kaggle_fruits.FRUITS_DIR_VARIABLE):
        folders.insert(1, Path(os.environ[kaggle_fruits.FRUITS_DIR_VARIABLE]))
    for folder in folders:
        found = kaggle_fruits.find_fruits_root(folder)
        if found is not None:
            return Check("Kaggle data", True, f"fruits dataset found at {found}")
    credentials = kaggle_fruits.kaggle_credentials()
    if credentials is not None:
        return Check("Kaggle data", True,
                     f"credentials for user {credentials[0]!r} present (key hidden); "
                     "the fruits dataset downloads on first use")
    if "KAGGLE_KERNEL_RUN_TYPE" in os.environ:
        return Check("Kaggle data", False, "on Kaggle, but the fruits dataset is not attached",
                     "Add Input → search \"fruits fresh and rotten for classification\" → Add",
                     required=False)
    return Check("Kaggle data", False,
                 "no KAGGLE_USERNAME/KAGGLE_KEY (only the full profile needs them)",
                 "Colab: add the secrets KAGGLE_USERNAME and KAGGLE_KEY (key icon, left sidebar); "
                 "elsewhere: export both variables; or stay with CONVTRAIN_PROFILE=fast",
                 required=False)


def check_grading_sandbox() -> Check:
    """Whether ``convtrain grade`` can run kernels in its bubblewrap sandbox (instructors only)."""
    from convtrain.instructor.grading import sandbox

    why_not = sandbox.choose([]).why_not
    if why_not is None:
        return Check("grading sandbox", True, f"bubblewrap works ({shutil.which('bwrap')})")
    return Check("grading sandbox", False, f"not available: {why_not}",
                 f"{sandbox.INSTALL_HINT}; without it `convtrain grade` isolates with an audit hook "
                 "only (instructors only)", required=False)


def report(*, start_fiftyone_database: bool = False) -> list[Check]:
    """Run every check, in the order they are printed.

    Args:
        start_fiftyone_database: also start FiftyOne's database (takes seconds), instead of
            only checking that FiftyOne is installed.
    """
    return [
        check_python(), check_convtrain(), check_torch(), check_torchvision(), check_device(),
        check_profile(), check_environment(), check_nbgrader(),
        check_fiftyone(start_fiftyone_database), check_ipywidgets(), check_kaggle(),
        check_grading_sandbox(),
    ]


# --------------------------------------------------------------------------- printing

def format_report(checks: list[Check]) -> str:
    """The table ``main`` prints: status, name, detail, and an indented fix line per problem."""
    width = max(len(check.name) for check in checks)
    lines = ["convtrain doctor", ""]
    for check in checks:
        lines.append(f"  {check.status:<4}  {check.name:<{width}}  {check.detail}")
        if not check.ok:
            lines.append(f"  {'':<4}  {'':<{width}}  fix: {check.fix}")
    failures = sum(not c.ok and c.required for c in checks)
    warnings = sum(not c.ok and not c.required for c in checks)
    lines.append("")
    if failures:
        lines.append(f"{failures} required part(s) need fixing (FAIL lines above).")
    else:
        lines.append("Everything required works."
                     + (f" {warnings} optional part(s) have a warning." if warnings else ""))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``convtrain doctor [--fiftyone]``: print the report; return 0 if every required part works."""
    parser = argparse.ArgumentParser(prog="convtrain doctor", description=__doc__.splitlines()[0])
    parser.add_argument("--fiftyone", action="store_true",
                        help="also start FiftyOne's database (takes several seconds)")
    arguments = parser.parse_args(argv)
    checks = report(start_fiftyone_database=arguments.fiftyone)
    print(format_report(checks))
    return 1 if any(not c.ok and c.required for c in checks) else 0


if __name__ == "__main__":
    sys.exit(main())
