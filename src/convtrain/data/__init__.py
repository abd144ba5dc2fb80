"""Datasets for the lessons, their transforms and statistics.

Offline, for the fast profile: :func:`digits` / :func:`load_digits` (scikit-learn's
handwritten digits) and :func:`sample_image` (scikit-image's photos). For the full
profile: :func:`fruits` (Kaggle). The capstone (lesson 09) reads :func:`capstone_split`.
Around them:
:func:`mean_std`, :func:`split_dataset` (one transform per split), image folders,
ImageNet transforms, and :func:`profile_dataset`, which picks the right one.

>>> import convtrain as ct
>>> train = ct.data.profile_dataset(ct.profile("fast"), "train")
>>> len(train), train[0][0].shape
(512, torch.Size([3, 32, 32]))
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils.data import Dataset, Subset

from convtrain.data.capstone import capstone_heldout, capstone_split
from convtrain.data.downloads import download, extract_zip, sha256_of
from convtrain.data.folders import image_folder, load_rgb, write_image_folder
from convtrain.data.kaggle_fruits import (
    FRUIT_CLASSES,
    FruitsUnavailableError,
    fruits,
    kaggle_credentials,
    locate_fruits,
)
from convtrain.data.offline import digits, load_digits, sample_image
from convtrain.data.splits import split_dataset
from convtrain.data.stats import mean_std
from convtrain.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    explicit_transform,
    imagenet_transform,
)

__all__ = [
    "FRUIT_CLASSES", "IMAGENET_MEAN", "IMAGENET_STD", "FruitsUnavailableError", "capstone_heldout",
    "capstone_split", "digits", "download", "explicit_transform", "extract_zip", "fruits", "image_folder",
    "imagenet_transform", "kaggle_credentials", "load_digits", "load_rgb", "locate_fruits",
    "mean_std", "profile_dataset", "sample_image", "sha256_of", "split_dataset",
    "write_image_folder",
]

SUBSET_SEED = 0


def profile_dataset(cfg, split: str, transform: Callable | None = None) -> Dataset:
    """The dataset a lesson trains on in profile ``cfg``, limited to ``cfg.n_train`` / ``cfg.n_val`` items.

    fast: :func:`digits` with 3 channels at ``cfg.image_size`` (tensors ``(3, H, W)`` in
    ``[0, 1]``, ``transform`` applied to them; its fixed train/val/test split).
    full: :func:`fruits` (RGB PIL images). Kaggle's fruits come as train and test only,
    so ``"train"`` and ``"val"`` are two disjoint parts of one fixed random order of its
    train split (validation never touches the test split, which a lesson uses once, at the
    end), and ``"test"`` is a fixed random subset of its test split.

    Args:
        cfg: a :class:`convtrain.runtime.Profile`, e.g. ``convtrain.profile()``.
        split: ``"train"``, ``"val"`` or ``"test"``.

    >>> import convtrain as ct
    >>> val = profile_dataset(ct.profile("fast"), "val")
    >>> len(val), val.classes[:2]
    (256, ['0', '1'])
    """
    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")
    limit = cfg.n_train if split == "train" else cfg.n_val
    if cfg.dataset == "digits":
        return digits(split, image_size=cfg.image_size, channels=3, transform=transform).head(limit)
    if cfg.dataset == "fruits":
        if split == "test":
            return _random_subset(fruits("test", transform=transform), limit)
        full = fruits("train", transform=transform)
        order = _fixed_order(len(full))
        # Validation first, so it is the same whatever n_train a lesson asks for; at most
        # half of the split, so a small copy of the dataset still leaves images to train on.
        n_val = min(cfg.n_val, len(full) // 2)
        chosen = order[:n_val] if split == "val" else order[n_val:n_val + cfg.n_train]
        subset = Subset(full, chosen.tolist())
        subset.classes = full.classes
        return subset
    raise ValueError(f"profile {cfg.name!r} names an unknown dataset {cfg.dataset!r}")


def _fixed_order(size: int) -> torch.Tensor:
    return torch.randperm(size, generator=torch.Generator().manual_seed(SUBSET_SEED))


def _random_subset(dataset: Dataset, limit: int) -> Dataset:
    if len(dataset) <= limit:
        return dataset
    subset = Subset(dataset, _fixed_order(len(dataset))[:limit].tolist())
    subset.classes = dataset.classes
    return subset
