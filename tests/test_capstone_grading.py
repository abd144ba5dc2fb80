"""The capstone's held-out bands, against students who want them without a trained model.

The held-out tests run in the student's kernel, after the student's code. Two ways in are
closed: feeding the tests another held-out set (patching the loader of the library), and
switching the profile (or pretending to be the rehearsal) by writing to ``os.environ``.
Each attacker hands in an *untrained* model of the reference architecture: it earns the
interface exercise (2 points) and no band.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from convtrain.instructor import cohort
from convtrain.instructor.course import nbgrader_meta
from convtrain.instructor.grading.command import main

ROOT = Path(__file__).resolve().parents[1]
LESSON = "09_capstone"
INTERFACE = 2.0  # test_model_interface: the architecture alone

pytestmark = pytest.mark.xdist_group("capstone_grading")

UNTRAINED = "model = build_model()\nsave_model(model)  # untrained\n"

# The loader answers with labels that the untrained model predicts: 100 % if it were used.
LOADER_PATCHER = UNTRAINED + """
import torch
import convtrain as ct
import convtrain.data.capstone as capstone_module
from convtrain.data.offline import TensorImageDataset

_real = capstone_module.capstone_heldout

def _easy(cfg):
    data = _real(cfg)
    with torch.no_grad():
        labels = model.eval()(prepare(data.images)).argmax(1)
    return TensorImageDataset(data.images, labels, data.classes)

ct.data.capstone_heldout = capstone_module.capstone_heldout = _easy
"""

PROFILE_SWITCH = UNTRAINED + """
import os
os.environ["CONVTRAIN_PROFILE"] = "full"
os.environ["CONVTRAIN_REHEARSAL"] = "1"
os.environ["CONVTRAIN_PROFILE_OVERRIDES"] = "n_val=1"
"""

ATTACKS = {  # student -> (the train_first cell, score, flags)
    "loader_patcher": (LOADER_PATCHER, INTERFACE, "tamper"),
    "profile_switch": (PROFILE_SWITCH, INTERFACE, ""),
}


def notebook_for(attack: str) -> dict:
    """The workshop with the solution's architecture and ``attack`` as the training cell."""
    workshop = json.loads((ROOT / "workshops" / LESSON / f"{LESSON}.ipynb").read_text())
    solution = json.loads((ROOT / "solutions" / LESSON / f"{LESSON}.ipynb").read_text())
    notebook = cohort.with_answers_from(workshop, solution, {"build_model"})
    for cell in notebook["cells"]:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if grade_id == "train_first":
            cell["source"] = attack
        elif grade_id == "train_second":
            cell["source"] = "pass\n"
    return notebook


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("capstone")
    course = cohort.scratch_course(ROOT, root / "course", [LESSON])
    for student, (attack, _score, _flags) in ATTACKS.items():
        folder = root / "submissions" / student
        folder.mkdir(parents=True)
        (folder / f"{LESSON}.ipynb").write_text(json.dumps(notebook_for(attack)))
    out = root / "out"
    assert main([str(root / "submissions"), "--out", str(out), "--course", str(course),
                 "--jobs", "2"]) == 0
    with (out / "grades.csv").open() as handle:
        return {row["student_id"]: row for row in csv.DictReader(handle)}


@pytest.mark.parametrize("student", sorted(ATTACKS))
def test_an_untrained_model_earns_no_band(graded, student):
    _attack, score, flags = ATTACKS[student]
    row = graded[student]
    assert (float(row["score"]), row["flags"]) == (score, flags), row


def test_the_profile_is_the_one_the_kernel_started_in():
    """What os.environ says later does not change it (read once, at import)."""
    code = ("import os\nfrom convtrain import checks\n"
            "os.environ.update(CONVTRAIN_PROFILE='full', CONVTRAIN_REHEARSAL='1',\n"
            "                  CONVTRAIN_PROFILE_OVERRIDES='n_val=1')\n"
            "cfg = checks.started_profile()\n"
            "print(cfg.name, cfg.n_val, checks.STARTED_IN_REHEARSAL)\n")
    env = {key: value for key, value in os.environ.items()
           if key not in ("CONVTRAIN_REHEARSAL", "CONVTRAIN_PROFILE_OVERRIDES")}
    env["CONVTRAIN_PROFILE"] = "fast"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, check=True, timeout=120)
    from convtrain import runtime

    assert result.stdout.split() == ["fast", str(runtime.profile("fast").n_val), "False"]
