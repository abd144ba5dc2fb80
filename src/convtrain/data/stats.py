"""Per-channel dataset statistics in one streaming pass.

>>> import torch
>>> mean, std = mean_std(torch.rand(100, 3, 8, 8))
>>> mean.shape, std.shape
(torch.Size([3]), torch.Size([3]))
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch.utils.data import DataLoader, Dataset


def mean_std(data: Dataset | DataLoader | torch.Tensor | Iterable,
             batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation of images, streaming batch by batch.

    Each batch's count, mean and sum of squared deviations are merged into the
    running totals with Chan et al.'s parallel update, all in float64; this stays
    exact where the naive ``E[x^2] - E[x]^2`` loses digits. The standard deviation
    is the population one (divide by the number of pixels), what ``Normalize`` expects.

    Args:
        data: a tensor ``(N, C, H, W)``, a Dataset of ``image`` or ``(image, label)``
            items with images ``(C, H, W)``, or a DataLoader (any iterable of such batches).
        batch_size: batch size used when ``data`` is a Dataset or tensor.

    Returns:
        ``(mean, std)``, each float64 ``(C,)``.

    >>> x = torch.rand(64, 3, 4, 4)
    >>> mean, std = mean_std(x, batch_size=10)
    >>> bool(torch.allclose(mean, x.double().mean(dim=(0, 2, 3))))
    True
    """
    count, mean, squares = 0, None, None
    for batch in _batches(data, batch_size):
        images = _images_of(batch)
        pixels = images.transpose(0, 1).reshape(images.shape[1], -1).to(torch.float64)  # (C, B*H*W)
        n = pixels.shape[1]
        if n == 0:
            continue
        batch_mean = pixels.mean(dim=1)
        batch_squares = ((pixels - batch_mean[:, None]) ** 2).sum(dim=1)
        if mean is None:
            count, mean, squares = n, batch_mean, batch_squares
            continue
        if batch_mean.shape != mean.shape:
            raise ValueError(f"batches have {mean.shape[0]} and {batch_mean.shape[0]} channels")
        delta = batch_mean - mean
        total = count + n
        mean = mean + delta * (n / total)
        squares = squares + batch_squares + delta**2 * (count * n / total)
        count = total
    if mean is None:
        raise ValueError("mean_std got no images: the dataset or loader is empty")
    return mean, (squares / count).sqrt()


def _batches(data, batch_size: int):
    if isinstance(data, torch.Tensor):
        if data.dim() != 4:
            raise ValueError(f"expected a tensor of images (N, C, H, W), got shape {tuple(data.shape)}")
        return data.split(batch_size)
    if isinstance(data, Dataset) and not isinstance(data, torch.utils.data.IterableDataset):
        if len(data) > 0:  # check one item first: the DataLoader's own error is cryptic
            _require_tensor(_first_of(data[0]), "items of image tensors (C, H, W)", 3)
        return DataLoader(data, batch_size=batch_size, shuffle=False)
    return data


def _first_of(item):
    return item[0] if isinstance(item, (tuple, list)) else item


def _images_of(batch) -> torch.Tensor:
    return _require_tensor(_first_of(batch), "batches of image tensors (B, C, H, W)", 4)


def _require_tensor(images, what: str, dims: int) -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or images.dim() != dims:
        found = tuple(images.shape) if isinstance(images, torch.Tensor) else ""
        raise TypeError(
            f"mean_std needs {what}; got {type(images).__name__}{found}. Give the dataset a "
            "transform that makes float tensors of one size, e.g. v2.Compose([v2.Resize((64, 64)), "
            "v2.ToImage(), v2.ToDtype(torch.float32, scale=True)]) (no Normalize: that needs these statistics)"
        )
    return images
