"""convtrain.runtime: device choice, seeding, profiles and environment detection."""

from __future__ import annotations

import dataclasses
import random
import sys

import numpy as np
import pytest
import torch

import convtrain as ct
from convtrain import runtime

# ----------------------------------------------------------------- device


def test_device_override_by_argument_and_environment(monkeypatch):
    monkeypatch.setenv("CONVTRAIN_DEVICE", "meta")
    assert ct.device() == torch.device("meta")
    assert ct.device("cpu") == torch.device("cpu")  # an explicit argument wins


def test_device_falls_back_to_cpu_without_accelerators(monkeypatch):
    monkeypatch.delenv("CONVTRAIN_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert ct.device() == torch.device("cpu")


def test_device_prefers_cuda_then_mps(monkeypatch):
    monkeypatch.delenv("CONVTRAIN_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert ct.device() == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert ct.device() == torch.device("cuda")


# ----------------------------------------------------------------- seeding


def draw_everything():
    return random.random(), float(np.random.rand()), torch.rand(3).tolist(), torch.randn(2).tolist()


def test_seed_everything_makes_python_numpy_and_torch_reproducible():
    ct.seed_everything(7)
    first = draw_everything()
    ct.seed_everything(7)
    assert draw_everything() == first
    ct.seed_everything(8)
    assert draw_everything() != first


def test_seed_everything_deterministic_mode_sets_the_flags(monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", False)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", True)
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    try:
        ct.seed_everything(0, deterministic=True)
        assert torch.backends.cudnn.deterministic is True
        assert torch.backends.cudnn.benchmark is False
        assert torch.are_deterministic_algorithms_enabled()
    finally:
        torch.use_deterministic_algorithms(False)


# ----------------------------------------------------------------- profile


def test_profile_defaults_to_fast_on_cpu_and_full_on_cuda(monkeypatch):
    monkeypatch.delenv("CONVTRAIN_PROFILE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert ct.profile().name == "fast"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert ct.profile().name == "full"


def test_profile_is_read_from_the_environment_and_argument(monkeypatch):
    monkeypatch.setenv("CONVTRAIN_PROFILE", " Full ")
    assert ct.profile().name == "full"
    assert ct.profile("fast").name == "fast"


def test_profile_values_follow_the_contract():
    fast, full = ct.profile("fast"), ct.profile("full")
    assert (fast.dataset, fast.backbone, fast.image_size, fast.n_train, fast.n_val) == (
        "digits", "tiny_digits", 32, 512, 256)
    assert (full.dataset, full.backbone, full.image_size, full.n_train, full.n_val) == (
        "fruits", "resnet18", 224, 4096, 1024)
    assert fast.is_fast and not full.is_fast
    for cfg in (fast, full):
        assert cfg.n_val <= cfg.n_train and cfg.batch_size <= cfg.n_val
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.epochs = 100


def test_unknown_profile_is_a_clear_error_listing_the_valid_ones(monkeypatch):
    with pytest.raises(ValueError, match=r"'medium'.*Valid profiles: fast, full"):
        ct.profile("medium")
    monkeypatch.setenv("CONVTRAIN_PROFILE", "quick")
    with pytest.raises(ValueError, match="CONVTRAIN_PROFILE=fast"):
        ct.profile()


# ----------------------------------------------------------------- environment

MARKERS = ("COLAB_RELEASE_TAG", "KAGGLE_KERNEL_RUN_TYPE", "CI")


@pytest.fixture
def plain_machine(monkeypatch):
    for name in MARKERS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setattr(runtime.os.path, "isdir", lambda path: False)  # no /kaggle/input
    return monkeypatch


@pytest.mark.parametrize("variable, value, expected", [
    (None, None, "local"),
    ("CI", "true", "ci"),
    ("KAGGLE_KERNEL_RUN_TYPE", "Interactive", "kaggle"),
    ("COLAB_RELEASE_TAG", "release-colab_20260101", "colab"),
])
def test_environment_detection(plain_machine, variable, value, expected):
    if variable:
        plain_machine.setenv(variable, value)
    assert ct.environment() == expected


def test_colab_wins_over_ci_and_kaggle_input_folder_means_kaggle(plain_machine):
    plain_machine.setenv("CI", "1")
    plain_machine.setattr(runtime.os.path, "isdir", lambda path: path == "/kaggle/input")
    assert ct.environment() == "kaggle"
    plain_machine.setitem(sys.modules, "google.colab", object())
    assert ct.environment() == "colab"

