"""Figures the lessons show: learning curves, image grids, per-layer statistics, confusion matrix.

Every function returns the matplotlib ``Figure`` (titled, axes labelled, a legend
where there is more than one series), so a test can inspect it and a notebook shows
it. Assign the result (``fig = learning_curves(history)``) to see it once in Jupyter.

>>> from convtrain import plots
>>> fig = plots.line_plot({"SGD": [2.3, 1.1, 0.7], "Adam": [2.3, 0.6, 0.4]},
...                       xlabel="step", ylabel="loss", title="Training loss")
>>> fig.axes[0].get_title()
'Training loss'

matplotlib is imported inside the functions, so ``import convtrain.plots`` is cheap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

__all__ = ["learning_curves", "image_grid", "layer_histograms", "stats_by_depth",
           "line_plot", "confusion_matrix"]


def _pyplot():
    import matplotlib.pyplot as plt

    return plt


def _finish(ax, *, title: str, xlabel: str, ylabel: str) -> None:
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if len(ax.get_legend_handles_labels()[1]) > 1:
        ax.legend()
    ax.grid(True, alpha=0.3)


def _has_values(values: Sequence[float]) -> bool:
    return any(not math.isnan(v) for v in values)


def learning_curves(history, title: str = "Learning curves"):
    """Loss (left) and accuracy (right) per epoch, train vs validation, from a ``fit`` History.

    >>> from convtrain.train import History
    >>> history = History(train_loss=[0.9, 0.5], train_acc=[0.6, 0.8], val_loss=[1.0, 0.7],
    ...                   val_acc=[0.5, 0.7], lr=[0.1, 0.1], seconds=[1.0, 1.0])
    >>> fig = learning_curves(history)
    >>> [ax.get_ylabel() for ax in fig.axes]
    ['loss', 'accuracy']
    """
    plt = _pyplot()
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    epochs = range(1, len(history.train_loss) + 1)
    for ax, metric, name in ((loss_ax, "loss", "Loss"), (acc_ax, "acc", "Accuracy")):
        ax.plot(epochs, getattr(history, f"train_{metric}"), marker="o", label="train")
        if _has_values(getattr(history, f"val_{metric}")):
            ax.plot(epochs, getattr(history, f"val_{metric}"), marker="o", label="validation")
        _finish(ax, title=name, xlabel="epoch", ylabel="loss" if metric == "loss" else "accuracy")
    fig.suptitle(title)
    return fig


def _displayable(image: torch.Tensor):
    """(C, H, W) tensor of any range → (H, W, 3) or (H, W) numpy array in [0, 1] for imshow."""
    image = torch.as_tensor(image).detach().cpu()
    if image.dim() != 3:
        raise ValueError(f"Each image must be (C, H, W), got shape {tuple(image.shape)}.")
    image = image.to(torch.float32) / 255 if image.dtype == torch.uint8 else image.to(torch.float32)
    low, high = float(image.min()), float(image.max())
    if low < 0 or high > 1:  # normalized images: stretch to [0, 1] so they are visible
        image = (image - low) / max(high - low, 1e-12)
    image = image.permute(1, 2, 0).numpy()
    return image[:, :, 0] if image.shape[2] == 1 else image


def image_grid(images, labels=None, predictions=None, class_names: Sequence[str] | None = None,
               ncols: int = 8, title: str = ""):
    """Show images in a grid, each captioned with its label (and prediction, red when wrong).

    Args:
        images: tensor (N, C, H, W) (uint8, or float: [0, 1] or normalized, which is
            rescaled per image for display) or a sequence of (C, H, W) tensors.
        labels, predictions: optional sequences of N class indices.
        class_names: names for the indices (``dataset.classes``).
        ncols: images per row. title: the figure title (default "N images").

    >>> fig = image_grid(torch.rand(16, 3, 32, 32), labels=[0] * 16, class_names=["cat"])
    """
    images = list(images)
    if not images:
        raise ValueError("image_grid needs at least one image.")

    def name(index) -> str:
        index = int(index)
        return class_names[index] if class_names is not None else str(index)

    plt = _pyplot()
    ncols = max(1, min(ncols, len(images)))
    nrows = math.ceil(len(images) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.6 * ncols, 1.8 * nrows + 0.5),
                             squeeze=False, layout="constrained")
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= len(images):
            continue
        ax.imshow(_displayable(images[i]), cmap="gray", vmin=0, vmax=1)
        caption, color = "", "black"
        if labels is not None:
            caption = name(labels[i])
        if predictions is not None:
            caption = f"{caption} → {name(predictions[i])}" if caption else name(predictions[i])
            if labels is not None and int(labels[i]) != int(predictions[i]):
                color = "red"
        ax.set_title(caption, fontsize=9, color=color)
    legend = " (label → prediction, red: wrong)" if labels is not None and predictions is not None else ""
    fig.suptitle((title or f"{len(images)} images") + legend)
    return fig


def layer_histograms(tensors: dict[str, torch.Tensor], title: str = "", bins: int = 50):
    """One histogram per layer (activations or gradients), captioned with its mean and std.

    Args:
        tensors: ``{layer name: tensor of any shape}`` in depth order, e.g. from
            ``convtrain.models.record_activations`` or ``record_gradients``.
        title: the figure title (default "Values per layer").

    >>> fig = layer_histograms({"layer1": torch.randn(1000), "layer2": torch.randn(1000) * 0.1})
    """
    if not tensors:
        raise ValueError("layer_histograms needs at least one tensor, e.g. {'layer1': t}.")
    plt = _pyplot()
    ncols = min(4, len(tensors))
    nrows = math.ceil(len(tensors) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.6 * nrows + 0.5),
                             squeeze=False, layout="constrained")
    for ax, (name, tensor) in zip(axes.flat, tensors.items()):
        values = torch.as_tensor(tensor).detach().cpu().to(torch.float64).flatten()
        ax.hist(values.numpy(), bins=bins, color="tab:blue")
        _finish(ax, title=f"{name}\nmean {values.mean():.2g}, std {values.std():.2g}",
                xlabel="value", ylabel="count")
    for ax in list(axes.flat)[len(tensors):]:
        ax.axis("off")
    fig.suptitle(title or "Values per layer")
    return fig


def stats_by_depth(series: dict[str, list[float]], *, ylabel: str, title: str, log: bool = False):
    """A statistic (e.g. activation std, gradient norm) against layer depth, one line per network.

    >>> fig = stats_by_depth({"plain": [1.0, 0.1, 0.01], "residual": [1.0, 1.1, 1.2]},
    ...                      ylabel="activation std", title="Signal through depth", log=True)
    """
    return line_plot(series, xlabel="layer (depth)", ylabel=ylabel, title=title, logy=log,
                     start=1, marker="o")


def line_plot(series: dict[str, list[float]], *, xlabel: str, ylabel: str, title: str,
              logy: bool = False, start: int = 0, marker: str | None = None):
    """One line per named series of numbers (x = position from ``start``), e.g. losses per step.

    >>> fig = line_plot({"lr=0.1": [2.3, 1.0], "lr=0.01": [2.3, 2.0]},
    ...                 xlabel="step", ylabel="loss", title="Loss", logy=True)
    """
    if not series:
        raise ValueError("Nothing to plot: pass a dict like {'name': [values, ...]}.")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4), layout="constrained")
    for name, values in series.items():
        values = [float(v) for v in values]
        ax.plot(range(start, start + len(values)), values, label=name, marker=marker)
    if logy:
        ax.set_yscale("log")
    _finish(ax, title=title, xlabel=xlabel, ylabel=ylabel)
    return fig


def confusion_matrix(y_true, y_pred, class_names: Sequence[str], title: str = ""):
    """Counts of (true class, predicted class) pairs as an annotated heat map.

    Args:
        y_true, y_pred: N class indices each (tensors, arrays or lists).
        class_names: K names; indices must lie in ``0..K-1``.

    >>> fig = confusion_matrix([0, 1, 1], [0, 1, 0], class_names=["cat", "dog"])
    """
    y_true = torch.as_tensor(y_true).long().flatten().cpu()
    y_pred = torch.as_tensor(y_pred).long().flatten().cpu()
    k = len(class_names)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred differ in length: {len(y_true)} vs {len(y_pred)}.")
    for values in (y_true, y_pred):
        if len(values) and (values.min() < 0 or values.max() >= k):
            raise ValueError(f"Class indices must lie in 0..{k - 1} for {k} class names.")
    counts = torch.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)
    accuracy = float(counts.diag().sum()) / max(len(y_true), 1)

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * k, 0.8 + 0.6 * k), layout="constrained")
    image = ax.imshow(counts.numpy(), cmap="Blues")
    fig.colorbar(image, ax=ax, label="count")
    for i in range(k):
        for j in range(k):
            count = int(counts[i, j])
            ax.text(j, i, str(count), ha="center", va="center", fontsize=8,
                    color="white" if count > counts.max() / 2 else "black")
    ax.set_xticks(range(k), class_names, rotation=45, ha="right")
    ax.set_yticks(range(k), class_names)
    ax.set_title(title or f"Confusion matrix (accuracy {accuracy:.3f})")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    return fig
