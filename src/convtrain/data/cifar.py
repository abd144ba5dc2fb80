"""CIFAR-10 through torchvision, for the full profile (downloaded once, then cached)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from convtrain.data.downloads import cache_dir


def cifar10(split: str = "train", transform: Callable | None = None, root: str | Path | None = None):
    """CIFAR-10 (50,000 train / 10,000 test 32x32 RGB images, 10 classes) as a torchvision Dataset.

    Items are ``(transform(PIL image), label)``. The archive (170 MB) is downloaded
    to ``root`` (default: the convtrain cache) on first use and checked by its MD5;
    later calls reuse it without touching the network.

    Args:
        split: ``"train"``, or ``"test"`` (``"val"`` is accepted as the test set).

    Raises:
        ConnectionError: when the data is not cached and cannot be downloaded.

    >>> train = cifar10("train")  # doctest: +SKIP
    >>> train.classes[:3]         # doctest: +SKIP
    ['airplane', 'automobile', 'bird']
    """
    from torchvision.datasets import CIFAR10

    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")
    root = Path(root) if root is not None else cache_dir() / "cifar10"
    try:
        return CIFAR10(str(root), train=split == "train", transform=transform, download=True)
    except OSError as error:  # URLError and socket errors when offline
        raise ConnectionError(
            f"CIFAR-10 is not in {root} and could not be downloaded ({error}). "
            "Connect to the internet once (in Colab/Kaggle: enable internet for the session), "
            "or use the offline fast profile: %env CONVTRAIN_PROFILE=fast, then restart the kernel."
        ) from error
