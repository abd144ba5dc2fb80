"""Data that ships inside installed packages: scikit-learn's digits and scikit-image's photos.

Nothing here touches the network, so the fast profile (and CI) can always run it.

>>> images, labels = load_digits(image_size=32, channels=3)
>>> images.shape, labels.shape
(torch.Size([1797, 3, 32, 32]), torch.Size([1797]))
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

SPLITS = ("train", "val", "test")
SPLIT_FRACTIONS = (0.6, 0.2, 0.2)
SPLIT_SEED = 0

# scikit-image photos stored inside the installed package (others are downloaded on demand).
SAMPLE_IMAGES = ("astronaut", "brick", "camera", "cat", "chelsea", "clock", "coffee", "coins",
                 "colorwheel", "grass", "gravel", "hubble_deep_field", "immunohistochemistry",
                 "logo", "moon", "page", "rocket", "text")


@functools.cache
def _raw_digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits as sklearn_digits  # slow import: only when needed

    bunch = sklearn_digits()
    return bunch.images.astype(np.float32) / 16.0, bunch.target.astype(np.int64)


def load_digits(image_size: int = 8, channels: int = 1,
                classes: Sequence[int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """All 1,797 of scikit-learn's real handwritten digits as tensors.

    Args:
        image_size: side length; the 8x8 originals are upsampled bilinearly when it is not 8.
        channels: 1 (gray) or 3 (the gray image repeated, for networks that expect RGB).
        classes: keep only these digits, relabelled ``0..len(classes)-1`` in the given
            order (``classes=(3, 8)``: 3 becomes label 0, 8 becomes label 1).

    Returns:
        images: float32 ``(N, channels, image_size, image_size)`` in ``[0, 1]``.
        labels: int64 ``(N,)``.

    >>> images, labels = load_digits(classes=(3, 8))
    >>> images.shape[1:], sorted(set(labels.tolist()))
    (torch.Size([1, 8, 8]), [0, 1])
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (gray) or 3 (RGB), got {channels!r}")
    if not isinstance(image_size, int) or image_size < 1:
        raise ValueError(f"image_size must be a positive int, got {image_size!r}")
    raw_images, raw_labels = _raw_digits()
    images = torch.from_numpy(raw_images.copy()).unsqueeze(1)  # (N, 1, 8, 8)
    labels = torch.from_numpy(raw_labels.copy())
    if classes is not None:
        images, labels = _keep_classes(images, labels, classes)
    if image_size != 8:
        images = F.interpolate(images, size=(image_size, image_size), mode="bilinear",
                               align_corners=False).clamp_(0.0, 1.0)
    return images.expand(-1, channels, -1, -1).contiguous(), labels


def _keep_classes(images, labels, classes):
    wanted = [int(c) for c in classes]
    if len(set(wanted)) != len(wanted) or not all(0 <= c <= 9 for c in wanted) or not wanted:
        raise ValueError(f"classes must be distinct digits 0-9, got {tuple(classes)!r}")
    keep = torch.isin(labels, torch.tensor(wanted))
    relabel = torch.full((10,), -1, dtype=torch.int64)
    relabel[wanted] = torch.arange(len(wanted))
    return images[keep], relabel[labels[keep]]


def _split_indices(labels: torch.Tensor, split: str) -> torch.Tensor:
    """Indices of a fixed, stratified 60/20/20 split, shuffled so any prefix is roughly balanced."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    rng = np.random.default_rng(SPLIT_SEED)
    chosen = []
    for label in np.unique(labels.numpy()):
        members = rng.permutation(np.flatnonzero(labels.numpy() == label))
        n_train = round(SPLIT_FRACTIONS[0] * len(members))
        n_val = round(SPLIT_FRACTIONS[1] * len(members))
        bounds = {"train": (0, n_train), "val": (n_train, n_train + n_val),
                  "test": (n_train + n_val, len(members))}[split]
        chosen.append(members[bounds[0]:bounds[1]])
    return torch.from_numpy(rng.permutation(np.concatenate(chosen)))


class TensorImageDataset(Dataset):
    """Images and labels held in memory, with an optional transform applied per item.

    Attributes:
        images: float32 ``(N, C, H, W)``; labels: int64 ``(N,)``;
        classes: the class names, ``classes[label]``; transform: applied to each image.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, classes: Sequence[str],
                 transform: Callable | None = None):
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.images, self.labels = images, labels
        self.classes = list(classes)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = self.images[index]
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.labels[index])

    def head(self, n: int) -> TensorImageDataset:
        """The first ``n`` items (all of them if there are fewer), same classes and transform."""
        return TensorImageDataset(self.images[:n], self.labels[:n], self.classes, self.transform)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({len(self)} images of shape {tuple(self.images.shape[1:])}, "
                f"classes={self.classes})")


def digits(split: str = "train", image_size: int = 8, channels: int = 1,
           classes: Sequence[int] | None = None,
           transform: Callable | None = None) -> TensorImageDataset:
    """One split of the digits as a Dataset of ``(image float32 (C, H, W), label int)``.

    The split is fixed (stratified 60/20/20, seed 0): the same images land in the
    same split on every machine. Items come in shuffled order.

    >>> train = digits("train", image_size=32, channels=3)
    >>> image, label = train[0]
    >>> image.shape, type(label), train.classes[:3]
    (torch.Size([3, 32, 32]), <class 'int'>, ['0', '1', '2'])
    """
    images, labels = load_digits(image_size=image_size, channels=channels, classes=classes)
    chosen = _split_indices(labels, split)
    names = [str(c) for c in (classes if classes is not None else range(10))]
    return TensorImageDataset(images[chosen], labels[chosen], names, transform)


def sample_image(name: str = "chelsea", size: int | tuple[int, int] | None = None) -> torch.Tensor:
    """A photo that ships with scikit-image as a uint8 tensor ``(3, H, W)``.

    Gray photos are repeated to three channels; the alpha channel of ``logo`` is dropped.

    Args:
        name: one of :data:`SAMPLE_IMAGES` (``"chelsea"`` the cat, ``"coffee"``, ``"astronaut"``, ...).
        size: resize (antialiased): an int sets the shorter side, ``(H, W)`` both.

    >>> sample_image("coffee", size=64).shape
    torch.Size([3, 64, 96])
    """
    if name not in SAMPLE_IMAGES:
        raise ValueError(f"unknown sample image {name!r}; choose one of {', '.join(SAMPLE_IMAGES)}")
    import skimage.data  # slow import: only when needed

    array = np.asarray(getattr(skimage.data, name)())
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    image = torch.from_numpy(np.ascontiguousarray(array[:, :, :3])).permute(2, 0, 1).contiguous()
    if size is not None:
        from torchvision.transforms.v2 import functional as TF

        image = TF.resize(image, list(size) if isinstance(size, tuple) else size, antialias=True)
    return image
