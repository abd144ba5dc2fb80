"""The learning-rate range test ("LR finder"; Smith, 2017; fastai's ``lr_find``).

Train for a few hundred mini-batches while the learning rate grows log-linearly from
``lr_min`` to ``lr_max``; record the loss at every step and stop once it runs away. Plotted against the learning rate on a log axis, the loss first hardly moves (the
learning rate is too small to matter), then falls, reaches a minimum and shoots up (too
large: the steps diverge). A good learning rate lies on the falling part, below the
minimum. The model is trained in place and then put back exactly as it was.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable

import torch
from torch import nn

__all__ = ["lr_range_test"]


def lr_range_test(model: nn.Module, loader: Iterable, loss_fn: Callable | None = None, *,
                  lr_min: float = 1e-5, lr_max: float = 10.0, steps: int = 100,
                  optimizer: Callable | None = None, diverge: float = 4.0) -> tuple[list[float], list[float]]:
    """Train ``model`` with a learning rate growing from ``lr_min`` to ``lr_max``; return (lrs, losses).

    Step ``k`` (0-based) of ``steps`` uses ``lr_min · (lr_max / lr_min) ** (k / (steps − 1))``,
    the same for every parameter group. ``loader`` yields ``(images, labels)`` batches and
    is iterated again when it runs out. ``losses[k]`` is the loss of step ``k``'s batch,
    before its update: raw and noisy (smooth it before reading the curve). The test stops
    early, after recording the step, once a loss is not finite or exceeds ``diverge`` times
    the first step's loss (the loss has run away from where it started). Afterwards the model's parameters and buffers are restored to their values
    before the test and its train/eval mode too (the optimizer is thrown away).

    Args:
        model: the network; trained in train mode, on its own device.
        loader: an iterable of ``(images, labels)``: images (B, C, H, W), labels (B,) int64.
        loss_fn: ``loss_fn(logits, labels)``, default cross-entropy.
        optimizer: ``optimizer(parameters)`` builds the optimizer (its ``lr`` is overwritten
            at every step); default ``torch.optim.SGD(parameters, lr=lr_min, momentum=0.9)``.

    Returns:
        two lists of Python floats of equal length (``steps``, or fewer when it stopped
        early): the learning rate and the batch loss of each step.

    >>> _ = torch.manual_seed(0)
    >>> x, y = torch.randn(256, 1, 8, 8), torch.randint(0, 10, (256,))
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    >>> before = [p.clone() for p in model.parameters()]
    >>> loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=32)
    >>> lrs, losses = lr_range_test(model, loader, lr_min=1e-4, lr_max=100.0, steps=60)
    >>> lrs[0], len(lrs) == len(losses), len(lrs) < 60     # stopped once the loss ran away
    (0.0001, True, True)
    >>> all(torch.equal(a, b) for a, b in zip(before, model.parameters()))   # restored
    True
    """
    if not 0 < lr_min < lr_max:
        raise ValueError(f"need 0 < lr_min < lr_max, got lr_min={lr_min}, lr_max={lr_max}.")
    if steps < 2:
        raise ValueError(f"steps must be at least 2, got {steps}.")
    if diverge <= 1:
        raise ValueError(f"diverge must be above 1, got {diverge}.")
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    make_optimizer = optimizer or (lambda parameters: torch.optim.SGD(parameters, lr=lr_min, momentum=0.9))
    saved_state = copy.deepcopy(model.state_dict())
    saved_modes = [(module, module.training) for module in model.modules()]
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    trainer = make_optimizer(model.parameters())
    lrs: list[float] = []
    losses: list[float] = []
    try:
        model.train()
        batches = iter(loader)
        for step in range(steps):
            try:
                images, labels = next(batches)
            except StopIteration:
                batches = iter(loader)
                images, labels = next(batches)
            lr = lr_min * (lr_max / lr_min) ** (step / (steps - 1))
            for group in trainer.param_groups:
                group["lr"] = lr
            loss = loss_fn(model(images.to(device)), labels.to(device))
            trainer.zero_grad(set_to_none=True)
            loss.backward()
            trainer.step()
            value = float(loss.item())
            lrs.append(float(lr))
            losses.append(value)
            if not math.isfinite(value) or value > diverge * losses[0]:
                break
    finally:
        model.load_state_dict(saved_state)
        for module, mode in saved_modes:
            module.training = mode
        for parameter in model.parameters():
            parameter.grad = None
    return lrs, losses
