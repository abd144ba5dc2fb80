"""Splitting a dataset so each split owns its transform.

The classic bug: ``train, val = random_split(dataset, ...)`` returns two ``Subset``s of
the *same* dataset, so ``val.dataset.transform = eval_tf`` also switches off the training
augmentation. Here each split is its own object with its own ``transform``.

>>> from convtrain.data import digits
>>> train, val = split_dataset(digits("train"), [0.8, 0.2], transforms=[None, None])
>>> len(train) + len(val)
1078
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch.utils.data import Dataset


class TransformedSubset(Dataset):
    """The items ``indices`` of a source dataset, with this split's own ``transform``.

    The source is kept private (``_source``) and must itself have no transform:
    a transform set on it would reach every split, which is the bug this class prevents.
    """

    def __init__(self, source: Dataset, indices: Sequence[int], transform: Callable | None = None):
        _require_untransformed(source)
        self._source = source
        self.indices = list(indices)
        self.transform = transform
        self.classes = getattr(source, "classes", None)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int):
        _require_untransformed(self._source)
        image, label = self._source[self.indices[index]]
        if self.transform is not None:
            image = self.transform(image)
        return image, label

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} items, transform={self.transform!r})"


def _require_untransformed(source: Dataset) -> None:
    if getattr(source, "transform", None) is not None:
        raise ValueError(
            "split_dataset needs a source dataset without a transform (it has "
            f"transform={source.transform!r}); a transform on the source would apply to every "
            "split. Create it with transform=None and pass one transform per split: "
            "split_dataset(data, [0.8, 0.2], transforms=[train_tf, val_tf])."
        )


def split_dataset(dataset: Dataset, lengths: Sequence[int | float], *,
                  transforms: Sequence[Callable | None], seed: int = 0) -> list[TransformedSubset]:
    """Split ``dataset`` at random into non-overlapping parts, each with its own transform.

    Args:
        dataset: a map-style dataset of ``(image, label)`` items, created with ``transform=None``.
        lengths: sizes of the parts, as counts summing to ``len(dataset)`` or fractions
            summing to 1 (rounding remainders go to the first parts, as in ``random_split``).
        transforms: one transform (or ``None``) per part, e.g. ``[augment, evaluate]``.
        seed: the same seed gives the same split.

    Returns:
        One :class:`TransformedSubset` per length; setting ``parts[1].transform`` never
        changes what ``parts[0]`` returns.

    >>> from convtrain.data import digits
    >>> a, b = split_dataset(digits("val"), [100, 259], transforms=[None, lambda x: 1 - x])
    >>> len(a), len(b)
    (100, 259)
    """
    if len(transforms) != len(lengths):
        raise ValueError(f"give one transform per split: {len(lengths)} lengths but "
                         f"{len(transforms)} transforms (use None for no transform)")
    sizes = _sizes(lengths, len(dataset))
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed)).tolist()
    parts, start = [], 0
    for size, transform in zip(sizes, transforms):
        parts.append(TransformedSubset(dataset, order[start:start + size], transform))
        start += size
    return parts


def _sizes(lengths: Sequence[int | float], total: int) -> list[int]:
    if all(isinstance(n, int) for n in lengths):
        if sum(lengths) != total:
            raise ValueError(f"lengths {list(lengths)} sum to {sum(lengths)}, the dataset has {total} items")
        return list(lengths)
    if not math.isclose(sum(lengths), 1.0, abs_tol=1e-6) or min(lengths) < 0:
        raise ValueError(f"fractions must be >= 0 and sum to 1, got {list(lengths)}")
    sizes = [math.floor(total * f) for f in lengths]
    for i in range(total - sum(sizes)):
        sizes[i % len(sizes)] += 1
    return sizes
