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


@pytest.fixture(autouse=True)
def no_profile_overrides(monkeypatch):
    """The profiles as defined, whatever the calling shell exports."""
    monkeypatch.delenv("CONVTRAIN_PROFILE_OVERRIDES", raising=False)


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


def test_profile_overrides_from_the_environment_change_only_the_sizes_named(monkeypatch):
    monkeypatch.setenv("CONVTRAIN_PROFILE", "full")
    monkeypatch.setenv("CONVTRAIN_PROFILE_OVERRIDES",
                       " n_train=48, n_val=24,batch_size=8 ,epochs=1,steps=6,seeds=3,num_workers=0")
    cfg = ct.profile()
    full = runtime.PROFILES["full"]
    assert (cfg.n_train, cfg.n_val, cfg.batch_size, cfg.epochs, cfg.steps, cfg.seeds,
            cfg.num_workers) == (48, 24, 8, 1, 6, 3, 0)
    assert (cfg.name, cfg.dataset, cfg.backbone, cfg.image_size) == (
        "full", "fruits", "resnet18", 224)
    assert not cfg.is_fast and type(cfg) is runtime.Profile
    assert full.n_train == 4096  # the definition itself is untouched
    assert ct.profile("fast").steps == 6  # overrides apply to a profile chosen by name too


def test_profile_overrides_argument_wins_and_empty_means_none(monkeypatch):
    monkeypatch.setenv("CONVTRAIN_PROFILE_OVERRIDES", "steps=7")
    assert ct.profile("fast", overrides="steps=9").steps == 9
    assert ct.profile("fast", overrides="") == runtime.PROFILES["fast"]
    monkeypatch.setenv("CONVTRAIN_PROFILE_OVERRIDES", " , ")
    assert ct.profile("full") == runtime.PROFILES["full"]
    monkeypatch.delenv("CONVTRAIN_PROFILE_OVERRIDES")
    assert ct.profile("full") is runtime.PROFILES["full"]


@pytest.mark.parametrize("text, message", [
    ("epochs", r"cannot read 'epochs'.*write field=value"),
    ("=3", r"cannot read '=3'"),
    ("n_tran=48", r"unknown profile field 'n_tran'.*Fields that can be overridden: image_size, "
                  r"n_train, n_val, batch_size, epochs, steps, seeds, num_workers"),
    ("dataset=digits", r"'dataset' cannot be overridden.*CONVTRAIN_PROFILE=fast\|full"),
    ("name=fast", r"'name' cannot be overridden"),
    ("steps=5,steps=6", r"'steps' is given twice"),
    ("steps=five", r"steps='five'.*not a whole number"),
    ("steps=2.5", r"steps='2.5'.*not a whole number"),
    ("steps=", r"steps=''.*not a whole number"),
    ("epochs=0", r"epochs=0.*at least 1"),
    ("num_workers=-1", r"num_workers=-1.*at least 0"),
])
def test_profile_overrides_that_cannot_be_read_are_clear_errors(monkeypatch, text, message):
    monkeypatch.setenv("CONVTRAIN_PROFILE_OVERRIDES", text)
    with pytest.raises(ValueError, match=message) as caught:
        ct.profile("full")
    assert "CONVTRAIN_PROFILE_OVERRIDES" in str(caught.value)


def test_profile_overrides_keep_the_contract_between_sizes():
    assert ct.profile("fast", overrides="num_workers=0").num_workers == 0
    with pytest.raises(ValueError, match=r"batch_size=64 > n_val=24.*override batch_size or n_val"):
        ct.profile("full", overrides="n_train=48,n_val=24")
    with pytest.raises(ValueError, match=r"n_val=1024 > n_train=100"):
        ct.profile("full", overrides="n_train=100")
    cfg = ct.profile("full", overrides="n_train=48,n_val=24,batch_size=8")
    assert cfg.batch_size <= cfg.n_val <= cfg.n_train


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

