"""convtrain doctor: a clean report here, and the right fix for each part broken in turn."""

from __future__ import annotations

import os
import sys

import pytest
import torch

from convtrain import doctor
from convtrain.data import kaggle_fruits


@pytest.fixture
def no_kaggle(tmp_path, monkeypatch):
    """No Kaggle credentials, dataset or Colab anywhere."""
    for name in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_KERNEL_RUN_TYPE", "CONVTRAIN_FRUITS_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CONVTRAIN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(kaggle_fruits, "KAGGLE_INPUT", tmp_path / "no-kaggle-input")
    monkeypatch.setitem(sys.modules, "google.colab", None)


def by_name(checks):
    return {check.name: check for check in checks}


def test_report_on_this_machine_has_every_part_and_no_required_failure(monkeypatch, no_kaggle):
    monkeypatch.setenv("CONVTRAIN_PROFILE", "fast")
    checks = by_name(doctor.report())
    assert list(checks) == ["Python", "convtrain", "torch", "torchvision", "device", "profile",
                            "environment", "nbgrader", "FiftyOne", "ipywidgets", "Kaggle data",
                            "grading sandbox"]
    assert all(check.ok for check in checks.values() if check.required), checks
    assert checks["torch"].detail.startswith(torch.__version__)
    assert checks["profile"].detail.startswith("fast")


def test_main_prints_a_table_and_exits_zero_when_required_parts_work(monkeypatch, capsys, no_kaggle):
    monkeypatch.setenv("CONVTRAIN_PROFILE", "fast")
    assert doctor.main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("convtrain doctor\n")
    assert "  ok    torch " in out and "Everything required works." in out
    assert "  WARN  Kaggle data" in out and "fix: Colab: add the secrets KAGGLE_USERNAME and KAGGLE_KEY" in out


def test_unsupported_torch_version_fails_with_the_install_fix(monkeypatch, capsys, no_kaggle):
    monkeypatch.setattr(torch, "__version__", "2.1.2+cu118")
    check = doctor.check_torch()
    assert check.status == "FAIL" and "too old" in check.detail
    assert 'pip install "torch>=2.2"' in check.fix
    assert doctor.main([]) == 1
    out = capsys.readouterr().out
    assert "FAIL  torch" in out and "required part(s) need fixing" in out


def test_newer_than_tested_torch_is_a_warning_not_a_failure(monkeypatch):
    monkeypatch.setattr(torch, "__version__", "2.20.0")
    check = doctor.check_torch()
    assert check.status == "WARN" and "newer than tested" in check.detail and check.fix


def test_torchvision_not_built_for_this_torch_names_the_matching_version(monkeypatch):
    import torchvision

    monkeypatch.setattr(torchvision, "__version__", "0.25.0")
    check = doctor.check_torchvision()
    minor = doctor.major_minor(torch.__version__)[1]
    assert check.status == "FAIL" and "does not match" in check.detail
    assert f'torchvision==0.{minor + 15}.*' in check.fix


def test_missing_kaggle_credentials_name_the_two_secrets(no_kaggle):
    check = doctor.check_kaggle()
    assert check.status == "WARN"
    assert "KAGGLE_USERNAME" in check.fix and "KAGGLE_KEY" in check.fix
    assert "CONVTRAIN_PROFILE=fast" in check.fix


def test_kaggle_credentials_are_reported_without_the_key(monkeypatch, capsys, no_kaggle):
    monkeypatch.setenv("KAGGLE_USERNAME", "student")
    monkeypatch.setenv("KAGGLE_KEY", "0123456789abcdef-secret")
    check = doctor.check_kaggle()
    assert check.ok and "student" in check.detail
    doctor.main([])
    assert "0123456789abcdef-secret" not in capsys.readouterr().out


def test_on_kaggle_without_the_dataset_says_to_attach_it(monkeypatch, no_kaggle):
    monkeypatch.setenv("KAGGLE_KERNEL_RUN_TYPE", "Interactive")
    assert "Add Input" in doctor.check_kaggle().fix


def test_no_fiftyone_database_names_the_fix(monkeypatch):
    monkeypatch.setattr(doctor, "probe_fiftyone_database",
                        lambda: "fiftyone.core.service.ServiceListenTimeout: fiftyone.core.service.DatabaseService failed to bind to port")
    check = doctor.check_fiftyone(start_database=True)
    assert check.status == "WARN" and "does not start" in check.detail
    assert "convtrain[fiftyone]" in check.fix and "FIFTYONE_DATABASE_DIR" in check.fix
    assert doctor.check_fiftyone(start_database=False).ok  # the database is only started on request


def test_missing_optional_packages_name_their_install_command(monkeypatch):
    real = doctor.installed_version
    missing = {"fiftyone", "nbgrader", "ipywidgets"}
    monkeypatch.setattr(doctor, "installed_version", lambda name: None if name in missing else real(name))
    assert "convtrain[fiftyone]" in doctor.check_fiftyone().fix
    assert "convtrain[instructor]" in doctor.check_nbgrader().fix
    assert "ipywidgets>=8" in doctor.check_ipywidgets().fix
    assert all(not c.required for c in (doctor.check_fiftyone(), doctor.check_nbgrader()))


def test_nbgrader_without_alembic_on_path_says_how_to_add_it(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    check = doctor.check_nbgrader()
    assert check.status == "WARN" and "alembic" in check.detail and "PATH" in check.fix


def test_unknown_profile_fails_listing_the_valid_ones(monkeypatch):
    monkeypatch.setenv("CONVTRAIN_PROFILE", "medium")
    check = doctor.check_profile()
    assert check.status == "FAIL" and "fast" in check.fix and "full" in check.fix


def test_full_profile_on_cpu_warns_to_enable_a_gpu(monkeypatch):
    monkeypatch.setenv("CONVTRAIN_PROFILE", "full")
    monkeypatch.setenv("CONVTRAIN_DEVICE", "cpu")
    check = doctor.check_device()
    assert check.status == "WARN" and "GPU" in check.fix


@pytest.mark.fiftyone
@pytest.mark.slow
def test_real_fiftyone_database_starts_and_an_unwritable_one_is_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("FIFTYONE_DO_NOT_TRACK", "true")
    monkeypatch.setenv("FIFTYONE_DATABASE_VALIDATION", "false")
    monkeypatch.setenv("FIFTYONE_DATABASE_DIR", str(tmp_path / "db"))
    assert doctor.probe_fiftyone_database() is None
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("FIFTYONE_DATABASE_DIR", str(blocker / "db"))
    check = doctor.check_fiftyone(start_database=True)
    assert check.status == "WARN" and "cannot be written" in check.detail
    assert os.fspath(blocker) in check.detail


def test_grading_sandbox_is_found_here_or_its_install_command_is_named(monkeypatch):
    from convtrain.instructor.grading import sandbox

    real_which = doctor.shutil.which
    if real_which("bwrap"):
        assert doctor.check_grading_sandbox().ok
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None if name == "bwrap" else real_which(name))
    check = doctor.check_grading_sandbox()
    assert (check.ok, check.required) == (False, False)
    assert "apt-get install bubblewrap" in check.fix
