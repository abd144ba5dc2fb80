"""Experiment tracking: what :func:`convtrain.train.fit` measures, kept in TensorBoard or W&B.

A *logger* is any object with three methods (the :class:`Logger` protocol):
``log_config(config)`` once, ``log_epoch(epoch, metrics)`` after every epoch, ``close()``
at the end. ``fit(..., loggers=[...])`` calls ``log_epoch`` with

    {"loss/train": ..., "loss/val": ..., "accuracy/train": ..., "accuracy/val": ...,
     "lr": ..., "seconds": ...}

(``epoch`` counts the epochs done: 1 after the first; no ``/val`` entries without a
validation loader). Two loggers come with the library:

* :class:`TensorBoardLogger` writes TensorBoard event files into a folder, offline;
  :func:`read_scalars` reads them back (for a plot, or a test).
* :class:`WandbLogger` sends the run to Weights & Biases when an API key is configured
  (:func:`wandb_api_key`), and otherwise keeps it in an offline run folder
  (``wandb sync`` uploads it later). ``wandb`` is an optional extra:
  ``pip install "convtrain[tracking]"``.

>>> import tempfile, convtrain as ct
>>> folder = tempfile.mkdtemp()
>>> with ct.tracking.TensorBoardLogger(folder, config={"lr": 0.1}) as logger:
...     logger.log_epoch(1, {"loss/train": 0.9, "lr": 0.1})
...     logger.log_epoch(2, {"loss/train": 0.5, "lr": 0.1})
>>> [(epoch, round(value, 6)) for epoch, value in ct.tracking.read_scalars(folder)["loss/train"]]
[(1, 0.9), (2, 0.5)]

Heavy imports (tensorboard, wandb) happen inside the classes, on first use.
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path
from typing import Any, Protocol

__all__ = ["Logger", "TensorBoardLogger", "WandbLogger", "read_scalars", "wandb_api_key"]


class Logger(Protocol):
    """What ``fit(..., loggers=[...])`` needs from a logger."""

    def log_config(self, config: dict[str, Any]) -> None:
        """Record the run's settings once (hyperparameters, the profile, ...)."""

    def log_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        """Record the metrics of epoch ``epoch`` (1 for the first); NaN values are skipped."""

    def close(self) -> None:
        """Write everything out and release the files (or the W&B run)."""


def _plain(config: Any) -> dict[str, Any]:
    """A dataclass (e.g. ``ct.profile()``) or mapping as a plain dict."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return dataclasses.asdict(config)
    return dict(config)


class TensorBoardLogger:
    """Log to TensorBoard event files in ``log_dir`` (created if needed; nothing leaves the machine).

    Each metric becomes a scalar chart (x axis: the epoch); the config becomes a text
    table under the tag ``"config"``. Look at them with ``tensorboard --logdir <parent>``,
    ``%tensorboard --logdir <parent>`` in Colab, or :func:`read_scalars`.
    """

    def __init__(self, log_dir: str | os.PathLike, config: dict | None = None):
        from torch.utils.tensorboard import SummaryWriter

        self.log_dir = Path(log_dir)
        self.writer = SummaryWriter(log_dir=str(self.log_dir))
        if config is not None:
            self.log_config(config)

    def log_config(self, config: dict[str, Any]) -> None:
        rows = "\n".join(f"| {key} | {value} |" for key, value in _plain(config).items())
        self.writer.add_text("config", "| setting | value |\n|---|---|\n" + rows, global_step=0)

    def log_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        for name, value in metrics.items():
            if not math.isnan(value):
                self.writer.add_scalar(name, value, global_step=epoch)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()

    def __enter__(self) -> TensorBoardLogger:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def read_scalars(log_dir: str | os.PathLike) -> dict[str, list[tuple[int, float]]]:
    """Every scalar in the TensorBoard event files of ``log_dir``: ``{tag: [(step, value), ...]}``.

    Steps in the order they were written (a resumed run appends its epochs). TensorBoard
    stores float32: ``0.9`` comes back as ``0.8999999761581421``.
    """
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})  # 0: keep all
    events.Reload()
    return {tag: [(event.step, event.value) for event in events.Scalars(tag)]
            for tag in events.Tags()["scalars"]}


def wandb_api_key() -> str | None:
    """The W&B API key, from ``$WANDB_API_KEY``, Colab's Secrets or Kaggle's Secrets; else None.

    * Colab: the key icon (Secrets) in the left sidebar → add ``WANDB_API_KEY`` → switch on
      *Notebook access*.
    * Kaggle: *Add-ons* → *Secrets* → add ``WANDB_API_KEY`` and tick it for this notebook.

    The key is never printed.
    """
    key = os.environ.get("WANDB_API_KEY")
    if key:
        return key
    try:
        from google.colab import userdata

        return userdata.get("WANDB_API_KEY") or None
    except Exception:  # noqa: BLE001 - not Colab, SecretNotFoundError, NotebookAccessError
        pass
    try:
        from kaggle_secrets import UserSecretsClient

        return UserSecretsClient().get_secret("WANDB_API_KEY") or None
    except Exception:  # noqa: BLE001 - not Kaggle, or no such secret attached
        return None


def _import_wandb():
    try:
        import wandb
    except ImportError:
        raise ImportError(
            "WandbLogger needs the wandb package: pip install wandb "
            '(or the course extra: pip install "convtrain[tracking]").') from None
    return wandb


class WandbLogger:
    """Log to a Weights & Biases run: online with an API key, else in an offline run folder.

    Args:
        project: the W&B project name.
        config: the run's settings (a dict or a dataclass such as ``ct.profile()``).
        name: the run's name (W&B picks one if None).
        mode: ``"online"``, ``"offline"`` or ``"disabled"``; default: ``"online"`` when
            :func:`wandb_api_key` finds a key, else ``"offline"`` (no network; upload the
            folder later with ``wandb sync <dir>/wandb/offline-run-*``).
        dir: where the ``wandb/`` run folder goes (default ``$WANDB_DIR`` or the working dir).
        **init_kwargs: passed to ``wandb.init`` (``tags=``, ``group=``, ...).

    Starting a run starts W&B's service process: a few seconds.
    """

    def __init__(self, project: str, config: dict | None = None, *, name: str | None = None,
                 mode: str | None = None, dir: str | os.PathLike | None = None, **init_kwargs):
        wandb = _import_wandb()
        key = wandb_api_key()
        self.mode = mode or ("online" if key else "offline")
        settings = wandb.Settings(api_key=key) if key and self.mode == "online" else None
        self.run = wandb.init(project=project, name=name, mode=self.mode,
                              dir=str(dir) if dir is not None else None,
                              config=_plain(config) if config is not None else None,
                              settings=settings, **init_kwargs)

    def log_config(self, config: dict[str, Any]) -> None:
        self.run.config.update(_plain(config), allow_val_change=True)

    def log_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        values = {name: value for name, value in metrics.items() if not math.isnan(value)}
        self.run.log({**values, "epoch": epoch}, step=epoch)

    def close(self) -> None:
        self.run.finish()

    def __enter__(self) -> WandbLogger:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
