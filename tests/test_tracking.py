"""convtrain.tracking: TensorBoard and W&B loggers, read back offline (no test reaches the network)."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
import time
import types

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import convtrain as ct
from convtrain import tracking, train


def problem(seed: int, n: int = 96):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=generator)
    return DataLoader(TensorDataset(x, (x[:, 0] > 0).long()), batch_size=32)


def fit_with(loggers, epochs=3, validate=True):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.2)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    return train.fit(model, problem(0), problem(1) if validate else None, epochs=epochs,
                     optimizer=optimizer, scheduler=scheduler, loggers=loggers, progress=False)


@pytest.fixture
def offline_wandb(tmp_path, monkeypatch):
    """W&B offline, silent, every file it writes under tmp_path, no key anywhere."""
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    for name, value in {"WANDB_MODE": "offline", "WANDB_SILENT": "true",
                        "WANDB_DIR": tmp_path, "WANDB_CONFIG_DIR": tmp_path / "config",
                        "WANDB_CACHE_DIR": tmp_path / "cache", "WANDB_DATA_DIR": tmp_path / "data",
                        "WANDB_DISABLE_GIT": "true", "WANDB_DISABLE_CODE": "true"}.items():
        monkeypatch.setenv(name, str(value))
    return tmp_path


def test_importing_convtrain_loads_neither_tensorboard_nor_wandb():
    code = ("import sys, convtrain, convtrain.tracking, convtrain.train\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorboard', 'wandb')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
    assert ct.tracking is tracking


def test_tensorboard_event_files_hold_what_fit_returned(tmp_path):
    config = {"lr": 0.2, "epochs": 3, "model": "Linear-ReLU-Linear"}
    with tracking.TensorBoardLogger(tmp_path / "run", config=config) as logger:
        history = fit_with([logger])
    assert list((tmp_path / "run").glob("events.out.tfevents.*"))

    events = EventAccumulator(str(tmp_path / "run"))
    events.Reload()
    expected = {"loss/train": history.train_loss, "loss/val": history.val_loss,
                "accuracy/train": history.train_acc, "accuracy/val": history.val_acc,
                "lr": history.lr, "seconds": history.seconds}
    assert sorted(events.Tags()["scalars"]) == sorted(expected)
    for tag, values in expected.items():
        scalars = events.Scalars(tag)
        assert [s.step for s in scalars] == [1, 2, 3], tag
        assert [s.value for s in scalars] == pytest.approx(values, rel=1e-6), tag  # float32
    assert history.lr == [0.2, 0.1, 0.05]
    text = events.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "| lr | 0.2 |" in text and "| model | Linear-ReLU-Linear |" in text

    scalars = tracking.read_scalars(tmp_path / "run")
    assert [step for step, _ in scalars["loss/val"]] == [1, 2, 3]
    assert [value for _, value in scalars["loss/val"]] == pytest.approx(history.val_loss, rel=1e-6)


def test_tensorboard_skips_nan_metrics_without_validation(tmp_path):
    with tracking.TensorBoardLogger(tmp_path) as logger:
        history = fit_with([logger], epochs=2, validate=False)
    assert math.isnan(history.val_loss[0])
    assert sorted(tracking.read_scalars(tmp_path)) == ["accuracy/train", "loss/train", "lr",
                                                       "seconds"]


def test_tensorboard_logs_a_dataclass_config_such_as_the_profile(tmp_path):
    @dataclasses.dataclass
    class Settings:
        name: str = "fast"
        epochs: int = 4

    logger = tracking.TensorBoardLogger(tmp_path, config=Settings())
    logger.close()
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    text = events.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "| name | fast |" in text and "| epochs | 4 |" in text


def test_wandb_offline_keeps_the_run_in_a_folder(offline_wandb, capsys):
    marker = "tracking-test-7f3a"
    logger = tracking.WandbLogger("convtrain-tests", config={"marker": marker, "lr": 0.2},
                                  dir=offline_wandb)
    assert logger.mode == "offline"
    history = fit_with([logger])
    logger.log_config({"best_epoch": history.best_epoch + 1})
    logger.close()
    runs = list((offline_wandb / "wandb").glob("offline-run-*"))
    assert len(runs) == 1, runs
    records = list(runs[0].glob("run-*.wandb"))
    assert len(records) == 1
    # W&B's service process writes the file on its own: finish() may return a moment earlier.
    deadline = time.monotonic() + 30
    while b"best_epoch" not in records[0].read_bytes() and time.monotonic() < deadline:
        time.sleep(0.2)
    data = records[0].read_bytes()  # protobuf records; config values are stored as JSON text
    for expected in (b"convtrain-tests", marker.encode(), b"loss/val", b"accuracy/train",
                     b"best_epoch"):
        assert expected in data, expected
    assert "Traceback" not in capsys.readouterr().err


def test_wandb_missing_package_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # import wandb raises ImportError
    with pytest.raises(ImportError, match=r"pip install wandb.*convtrain\[tracking\]"):
        tracking.WandbLogger("x")


def test_wandb_api_key_from_the_environment_colab_or_kaggle(monkeypatch, capsys):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setitem(sys.modules, "google.colab", None)
    monkeypatch.setitem(sys.modules, "kaggle_secrets", None)
    assert tracking.wandb_api_key() is None

    monkeypatch.setenv("WANDB_API_KEY", "env-key")
    assert tracking.wandb_api_key() == "env-key"
    monkeypatch.delenv("WANDB_API_KEY")

    secrets = {"WANDB_API_KEY": "colab-key"}
    colab = types.ModuleType("google.colab")
    colab.userdata = types.SimpleNamespace(get=secrets.__getitem__)  # missing: raises, like Colab
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    assert tracking.wandb_api_key() == "colab-key"
    secrets.clear()
    assert tracking.wandb_api_key() is None

    kaggle = types.ModuleType("kaggle_secrets")

    class UserSecretsClient:
        def get_secret(self, name):
            return {"WANDB_API_KEY": "kaggle-key"}[name]

    kaggle.UserSecretsClient = UserSecretsClient
    monkeypatch.setitem(sys.modules, "kaggle_secrets", kaggle)
    assert tracking.wandb_api_key() == "kaggle-key"
    printed = capsys.readouterr()
    assert "key" not in printed.out + printed.err


def test_wandb_goes_online_only_with_a_key(monkeypatch):
    calls = []
    fake = types.ModuleType("wandb")
    fake.Settings = lambda **kwargs: kwargs
    fake.init = lambda **kwargs: calls.append(kwargs) or types.SimpleNamespace()
    monkeypatch.setitem(sys.modules, "wandb", fake)
    monkeypatch.setattr(tracking, "wandb_api_key", lambda: None)
    assert tracking.WandbLogger("p").mode == "offline"
    assert calls[-1]["settings"] is None
    monkeypatch.setattr(tracking, "wandb_api_key", lambda: "secret")
    assert tracking.WandbLogger("p", config={"a": 1}).mode == "online"
    assert calls[-1]["settings"] == {"api_key": "secret"} and calls[-1]["config"] == {"a": 1}
    assert tracking.WandbLogger("p", mode="disabled").mode == "disabled"
