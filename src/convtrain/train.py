"""Training loops you can read top to bottom: ``fit``, ``evaluate``, ``predict``, ``train_steps``;
checkpoints: ``save_checkpoint``, ``load_checkpoint``.

>>> import torch, convtrain as ct
>>> from convtrain.train import fit, evaluate
>>> _ = torch.manual_seed(0)
>>> images, labels = torch.randn(64, 1, 8, 8), torch.randint(0, 10, (64,))
>>> train_loader = torch.utils.data.DataLoader(
...     torch.utils.data.TensorDataset(images, labels), batch_size=16, shuffle=True)
>>> val_loader = torch.utils.data.DataLoader(
...     torch.utils.data.TensorDataset(images, labels), batch_size=32)
>>> model = ct.models.SimpleCNN(in_channels=1)
>>> optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
>>> history = fit(model, train_loader, val_loader, epochs=3, optimizer=optimizer, progress=False)
>>> history.epochs, history.train_loss[-1] < history.train_loss[0]
(3, True)
>>> sorted(evaluate(model, val_loader))
['accuracy', 'loss']

Nothing is hidden: the model stays on the device you put it on (pass ``device=`` to
move it), the optimizer and scheduler are yours, and the only things ``fit`` changes
are the model's weights, its train/eval mode and the optimizer/scheduler state.
On CUDA, ``fit`` uses mixed precision (AMP) and the channels_last memory format,
the two cheapest speed-ups there; on CPU and MPS it runs plain float32.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import time
from collections.abc import Iterable
from pathlib import Path

import torch
from torch import nn

__all__ = ["History", "fit", "evaluate", "predict", "train_steps", "save_checkpoint",
           "load_checkpoint"]


@dataclasses.dataclass
class History:
    """What happened in each epoch of :func:`fit` (one list entry per epoch).

    ``val_loss`` / ``val_acc`` hold NaN when there was no validation loader;
    ``lr`` is the learning rate of the first parameter group during the epoch;
    ``seconds`` is the wall time of the epoch, validation included.

    >>> h = History(train_loss=[1.0, 0.5], val_loss=[0.9, 0.7])
    >>> h.best_epoch, h.epochs
    (1, 2)
    """

    train_loss: list[float] = dataclasses.field(default_factory=list)
    train_acc: list[float] = dataclasses.field(default_factory=list)
    val_loss: list[float] = dataclasses.field(default_factory=list)
    val_acc: list[float] = dataclasses.field(default_factory=list)
    lr: list[float] = dataclasses.field(default_factory=list)
    seconds: list[float] = dataclasses.field(default_factory=list)
    stopped_early: bool = False

    @property
    def epochs(self) -> int:
        return len(self.train_loss)

    @property
    def best_epoch(self) -> int:
        """Index (from 0) of the epoch with the lowest val loss (train loss without validation)."""
        losses = self.val_loss if self.val_loss and not math.isnan(self.val_loss[0]) else self.train_loss
        if not losses:
            raise ValueError("The history is empty: no epoch has been trained.")
        return min(range(len(losses)), key=losses.__getitem__)

    def as_table(self) -> str:
        """The history as a fixed-width text table, one row per epoch, best epoch marked with *."""
        header = f"{'epoch':>5}  {'train_loss':>10}  {'train_acc':>9}  {'val_loss':>8}  {'val_acc':>7}  {'lr':>9}  {'sec':>6}"
        rows = [header]
        for i in range(self.epochs):
            mark = "*" if i == self.best_epoch else " "
            rows.append(
                f"{i + 1:>4}{mark}  {self.train_loss[i]:>10.4f}  {self.train_acc[i]:>9.3f}  "
                f"{self.val_loss[i]:>8.4f}  {self.val_acc[i]:>7.3f}  {self.lr[i]:>9.2e}  "
                f"{self.seconds[i]:>6.1f}"
            )
        return "\n".join(rows)

    def as_dict(self) -> dict[str, list[float]]:
        """The per-epoch lists as a plain dict (e.g. for ``pandas.DataFrame(history.as_dict())``)."""
        return {f.name: list(getattr(self, f.name)) for f in dataclasses.fields(self)
                if f.name != "stopped_early"}


def _model_device(model: nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def _images_and_labels(batch) -> tuple[torch.Tensor, torch.Tensor]:
    if not (isinstance(batch, (list, tuple)) and len(batch) >= 2):
        raise TypeError(
            "Expected the loader to yield (images, labels) batches, got "
            f"{type(batch).__name__}. Build it from a Dataset whose items are (image, label)."
        )
    return batch[0], batch[1]


def _to_device(images: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    images = images.to(device, non_blocking=True)
    if channels_last and images.dim() == 4:
        images = images.contiguous(memory_format=torch.channels_last)
    return images


def fit(model: nn.Module, train_loader: Iterable, val_loader: Iterable | None = None, *,
        epochs: int, optimizer: torch.optim.Optimizer, scheduler=None,
        loss_fn: nn.Module | None = None, device: torch.device | str | None = None,
        progress: bool = True, early_stopping: int | None = None,
        scheduler_interval: str = "epoch", loggers: Iterable = (),
        keep_best: str | None = None, checkpoint: str | os.PathLike | None = None,
        resume: str | os.PathLike | None = None) -> History:
    """Train ``model`` for ``epochs`` epochs and return the per-epoch :class:`History`.

    Args:
        model: the network; ``fit`` calls ``model.train()`` for training and
            ``model.eval()`` for validation.
        train_loader, val_loader: iterables of ``(images (N, C, H, W), labels (N,) int64)``.
        epochs: number of passes over ``train_loader``.
        optimizer: built on ``model``'s parameters.
        scheduler: optional learning-rate scheduler, stepped once per epoch (or per batch
            with ``scheduler_interval="batch"``, e.g. for ``OneCycleLR``);
            ``ReduceLROnPlateau`` is stepped with the validation loss.
        loss_fn: defaults to ``nn.CrossEntropyLoss()`` (on logits).
        device: where to train; defaults to where the model's parameters already are.
            Create the optimizer after moving the model.
        progress: show a ``tqdm.auto`` progress bar (it writes to stderr).
        early_stopping: patience in epochs: stop when the validation loss has not improved
            for that many epochs. Either way the model ends with the weights of the epoch
            with the lowest validation loss (``history.best_epoch``).
        loggers: objects with ``log_epoch(epoch, metrics)`` (``convtrain.tracking``), called
            after every epoch with ``epoch`` counted from 1 and ``metrics`` =
            ``{"loss/train", "accuracy/train", "loss/val", "accuracy/val", "lr", "seconds"}``.
            ``fit`` neither configures nor closes them: that is the caller's.
        keep_best: ``"val_loss"`` (lowest) or ``"val_acc"`` (highest): the model ends with
            the weights of the best epoch by that measure (it wins over ``early_stopping``'s).
        checkpoint: a file: after every epoch that is the best so far by ``keep_best`` (after
            every epoch without ``keep_best``), save the model, optimizer, scheduler, epoch
            and history there with :func:`save_checkpoint`.
        resume: a file written through ``checkpoint``: load its weights and optimizer (and
            scheduler) state and continue from its epoch up to ``epochs`` in all; the
            returned history then starts with the checkpoint's epochs.

    Returns:
        the :class:`History`, one entry per epoch (those of ``resume`` included).

    >>> history = fit(model, train_loader, val_loader, epochs=5,  # doctest: +SKIP
    ...               optimizer=opt, early_stopping=2)
    >>> history.best_epoch, history.val_acc[history.best_epoch]  # doctest: +SKIP
    (3, 0.91)
    """
    if early_stopping is not None and val_loader is None:
        raise ValueError("early_stopping needs a val_loader: it watches the validation loss.")
    if scheduler_interval not in ("epoch", "batch"):
        raise ValueError(f"scheduler_interval must be 'epoch' or 'batch', got {scheduler_interval!r}.")
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    device = torch.device(device) if device is not None else _model_device(model)
    model.to(device)
    on_cuda = device.type == "cuda"
    if on_cuda:
        model.to(memory_format=torch.channels_last)
    scaler = torch.amp.GradScaler("cuda", enabled=on_cuda)

    if keep_best is not None and val_loader is None:
        raise ValueError("keep_best needs a val_loader: it compares validation results.")

    history, start_epoch = History(), 0
    if resume is not None:
        state = load_checkpoint(resume, model, optimizer)
        history, start_epoch = History(**state.get("history", {})), state["epoch"]
        if scheduler is not None and state.get("scheduler") is not None:
            scheduler.load_state_dict(state["scheduler"])
    stopper = _EarlyStopping(early_stopping) if early_stopping is not None else None
    best = _BestWeights(keep_best) if keep_best is not None else None
    if best is not None and history.epochs:  # resumed weights: those of the checkpoint's epoch
        best.update({"loss": history.val_loss[-1], "accuracy": history.val_acc[-1]}, model)
    batches = _length(train_loader)
    remaining = max(epochs - start_epoch, 0)
    bar = _progress_bar(remaining * batches if batches is not None else None, enabled=progress)
    for epoch in range(start_epoch, epochs):
        start = time.perf_counter()
        history.lr.append(float(optimizer.param_groups[0]["lr"]))
        bar.set_description(f"epoch {epoch + 1}/{epochs}")
        train_loss, train_acc = _train_one_epoch(
            model, train_loader, optimizer, loss_fn, device, scaler,
            batch_scheduler=scheduler if scheduler_interval == "batch" else None, bar=bar)
        if val_loader is not None:
            val = evaluate(model, val_loader, loss_fn=loss_fn, device=device)
        else:
            val = {"loss": math.nan, "accuracy": math.nan}
        if scheduler is not None and scheduler_interval == "epoch":
            _step_epoch_scheduler(scheduler, val["loss"])
        history.train_loss.append(train_loss)
        history.train_acc.append(train_acc)
        history.val_loss.append(val["loss"])
        history.val_acc.append(val["accuracy"])
        history.seconds.append(time.perf_counter() - start)
        shown = {"train_loss": train_loss, "val_loss": val["loss"], "val_acc": val["accuracy"]}
        bar.set_postfix({k: f"{v:.3f}" for k, v in shown.items() if not math.isnan(v)})
        metrics = {"loss/train": train_loss, "accuracy/train": train_acc, "loss/val": val["loss"],
                   "accuracy/val": val["accuracy"], "lr": history.lr[-1],
                   "seconds": history.seconds[-1]}
        for logger in loggers:
            logger.log_epoch(epoch + 1, metrics)

        improved = best.update(val, model) if best is not None else True
        if checkpoint is not None and improved:
            save_checkpoint(checkpoint, model, optimizer, epoch=epoch + 1,
                            history=history.as_dict(),
                            scheduler=scheduler.state_dict() if scheduler is not None else None)
        if stopper is not None and stopper.should_stop(val["loss"], model):
            history.stopped_early = epoch < epochs - 1
            break
    bar.close()
    if stopper is not None:
        stopper.restore_best(model)
    if best is not None:
        best.restore_best(model)
    return history


class _BestWeights:
    """Remembers the weights of the best epoch so far by ``"val_loss"`` or ``"val_acc"``."""

    def __init__(self, monitor: str):
        if monitor not in ("val_loss", "val_acc"):
            raise ValueError(f"keep_best must be 'val_loss' or 'val_acc', got {monitor!r}.")
        self.key, self.sign = ("loss", 1.0) if monitor == "val_loss" else ("accuracy", -1.0)
        self.best, self.best_state = math.inf, None

    def update(self, val: dict[str, float], model: nn.Module) -> bool:
        """True when this epoch is the best so far (ties: the earlier epoch stays best)."""
        score = self.sign * val[self.key]
        if not score < self.best:  # NaN never improves
            return False
        self.best, self.best_state = score, copy.deepcopy(model.state_dict())
        return True

    def restore_best(self, model: nn.Module) -> None:
        if self.best_state is not None:
            model.load_state_dict(self.best_state)


def save_checkpoint(path: str | os.PathLike, model: nn.Module,
                    optimizer: torch.optim.Optimizer | None = None, *, epoch: int,
                    **extra) -> Path:
    """Save ``{"model": model.state_dict(), "optimizer": ..., "epoch": epoch, **extra}`` to ``path``.

    Only ``state_dict`` tensors and plain values (numbers, strings, lists, dicts) go in,
    so :func:`load_checkpoint` can read it with ``torch.load(weights_only=True)``, which
    runs no code from the file. ``epoch`` is the number of epochs done; ``extra`` holds
    anything else plain (``history=history.as_dict()``, ``scheduler=sched.state_dict()``).
    The file is written next to ``path`` and then renamed, so a crash never leaves half a
    checkpoint. Returns ``path``.

    >>> import tempfile
    >>> model = torch.nn.Linear(3, 2)
    >>> path = save_checkpoint(Path(tempfile.mkdtemp()) / "best.pt", model, epoch=4, val_acc=0.9)
    >>> state = load_checkpoint(path, torch.nn.Linear(3, 2))
    >>> state["epoch"], state["val_acc"], sorted(state["model"])
    (4, 0.9, ['bias', 'weight'])
    """
    state = {"model": model.state_dict(), "epoch": int(epoch), **extra}
    if optimizer is not None:
        state["optimizer"] = optimizer.state_dict()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    torch.save(state, partial)
    os.replace(partial, path)
    return path


def load_checkpoint(path: str | os.PathLike, model: nn.Module,
                    optimizer: torch.optim.Optimizer | None = None) -> dict:
    """Load a :func:`save_checkpoint` file into ``model`` (and ``optimizer``); return the whole dict.

    Tensors are loaded onto the model's device; the architecture must match (same
    parameter names and shapes) or ``load_state_dict`` says which keys differ. The
    returned dict has ``"model"``, ``"epoch"``, ``"optimizer"`` when one was saved, and
    the ``extra`` entries.
    """
    state = torch.load(path, map_location=_model_device(model), weights_only=True)
    model.load_state_dict(state["model"])
    if optimizer is not None:
        if state.get("optimizer") is None:
            raise ValueError(f"{path} holds no optimizer state (it was saved without an optimizer).")
        optimizer.load_state_dict(state["optimizer"])
    return state


class _EarlyStopping:
    """Remembers the weights of the epoch with the lowest validation loss so far."""

    def __init__(self, patience: int):
        if patience < 1:
            raise ValueError(f"early_stopping is a patience in epochs (>= 1), got {patience}.")
        self.patience, self.best_loss, self.best_state, self.bad_epochs = patience, math.inf, None, 0

    def should_stop(self, val_loss: float, model: nn.Module) -> bool:
        if val_loss < self.best_loss:  # NaN never improves
            self.best_loss, self.bad_epochs = val_loss, 0
            self.best_state = copy.deepcopy(model.state_dict())
        else:
            self.bad_epochs += 1
        return self.bad_epochs >= self.patience

    def restore_best(self, model: nn.Module) -> None:
        if self.best_state is not None:
            model.load_state_dict(self.best_state)


def _train_one_epoch(model, loader, optimizer, loss_fn, device, scaler, batch_scheduler, bar):
    """One pass over ``loader`` in train mode; returns (mean loss, accuracy) over its samples."""
    model.train()
    on_cuda = device.type == "cuda"
    total_loss, correct, seen = 0.0, 0, 0
    for batch in loader:
        images, labels = _images_and_labels(batch)
        images, labels = _to_device(images, device, on_cuda), labels.to(device, non_blocking=True)
        with torch.autocast(device_type=device.type, enabled=on_cuda):
            logits = model(images)
            loss = loss_fn(logits, labels)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        if batch_scheduler is not None:
            batch_scheduler.step()
        total_loss += loss.item() * len(labels)
        correct += int((logits.argmax(dim=1) == labels).sum())
        seen += len(labels)
        bar.update(1)
    if seen == 0:
        raise ValueError("The training loader yielded no batches.")
    return total_loss / seen, correct / seen


def _step_epoch_scheduler(scheduler, val_loss: float) -> None:
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        if math.isnan(val_loss):
            raise ValueError("ReduceLROnPlateau needs a val_loader to watch the validation loss.")
        scheduler.step(val_loss)
    else:
        scheduler.step()


def _length(loader) -> int | None:
    try:
        return len(loader)
    except TypeError:
        return None


class _NoBar:
    def update(self, n=1): ...
    def set_description(self, text): ...
    def set_postfix(self, values): ...
    def close(self): ...


def _progress_bar(total: int | None, enabled: bool):
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="batch", dynamic_ncols=True)


@torch.no_grad()
def evaluate(model: nn.Module, loader: Iterable, loss_fn: nn.Module | None = None,
             device: torch.device | str | None = None) -> dict[str, float]:
    """Mean loss and accuracy of ``model`` over ``loader``, in eval mode, without gradients.

    The model's train/eval mode is restored afterwards. ``loader`` yields
    ``(images (N, C, H, W), labels (N,))``; ``loss_fn`` defaults to cross-entropy.

    >>> evaluate(model, val_loader)  # doctest: +SKIP
    {'loss': 0.31, 'accuracy': 0.91}
    """
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    device = torch.device(device) if device is not None else _model_device(model)
    was_training = model.training
    model.eval()
    total_loss, correct, seen = 0.0, 0, 0
    try:
        for batch in loader:
            images, labels = _images_and_labels(batch)
            images, labels = _to_device(images, device, False), labels.to(device)
            with torch.autocast(device_type=device.type, enabled=device.type == "cuda"):
                logits = model(images)
            total_loss += float(loss_fn(logits.float(), labels)) * len(labels)
            correct += int((logits.argmax(dim=1) == labels).sum())
            seen += len(labels)
    finally:
        model.train(was_training)
    if seen == 0:
        raise ValueError("The loader yielded no batches.")
    return {"loss": total_loss / seen, "accuracy": correct / seen}


@torch.no_grad()
def predict(model: nn.Module, loader: Iterable, device: torch.device | str | None = None) -> torch.Tensor:
    """Class probabilities (softmax of the logits) for every sample, in loader order.

    ``loader`` yields ``(images, labels)`` or just images (N, C, H, W). Runs in eval
    mode (restored afterwards). Returns a float32 CPU tensor (N, K) whose rows sum to 1.

    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    >>> loader = [(torch.randn(5, 1, 2, 2), torch.zeros(5, dtype=torch.int64))]
    >>> probabilities = predict(model, loader)
    >>> probabilities.shape, bool(torch.allclose(probabilities.sum(dim=1), torch.ones(5)))
    (torch.Size([5, 3]), True)
    """
    device = torch.device(device) if device is not None else _model_device(model)
    was_training = model.training
    model.eval()
    chunks = []
    try:
        for batch in loader:
            images = batch[0] if isinstance(batch, (list, tuple)) else batch
            logits = model(_to_device(images, device, False))
            chunks.append(torch.softmax(logits.float(), dim=1).cpu())
    finally:
        model.train(was_training)
    if not chunks:
        raise ValueError("The loader yielded no batches.")
    return torch.cat(chunks)


def train_steps(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                optimizer: torch.optim.Optimizer, *, steps: int, batch_size: int, seed: int = 0,
                loss_fn: nn.Module | None = None) -> list[float]:
    """Take exactly ``steps`` optimizer steps on mini-batches drawn from in-memory tensors.

    Batches come from seeded random permutations of the samples (a new one each pass,
    the last incomplete batch of a pass dropped), so two set-ups trained with the same
    ``seed`` see the same batches in the same order: "the same steps". Runs in train
    mode on the model's device; no progress bar, nothing printed.

    Shapes: images (N, C, H, W), labels (N,) int64; returns ``steps`` floats (the
    loss of each step's batch, before that step's update).

    >>> _ = torch.manual_seed(0)
    >>> x, y = torch.randn(128, 1, 8, 8), torch.randint(0, 10, (128,))
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    >>> losses = train_steps(model, x, y, torch.optim.SGD(model.parameters(), lr=0.1),
    ...                      steps=60, batch_size=64)
    >>> len(losses), losses[-1] < losses[0]
    (60, True)
    """
    if len(images) != len(labels):
        raise ValueError(f"images and labels differ in length: {len(images)} vs {len(labels)}.")
    if not 0 < batch_size <= len(images):
        raise ValueError(f"batch_size must be in 1..{len(images)} (the number of samples), got {batch_size}.")
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    device = _model_device(model)
    generator = torch.Generator().manual_seed(seed)
    batches_per_pass = len(images) // batch_size
    model.train()
    losses = []
    for step in range(steps):
        if step % batches_per_pass == 0:
            order = torch.randperm(len(images), generator=generator)
        index = order[(step % batches_per_pass) * batch_size:][:batch_size]
        loss = loss_fn(model(images[index].to(device)), labels[index].to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
