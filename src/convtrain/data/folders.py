"""Image folders: ``root/<class>/<name>.png`` trees, written and read.

>>> import torch, tempfile
>>> root = write_image_folder(torch.rand(4, 3, 8, 8), [0, 1, 0, 1], ["cat", "dog"], tempfile.mkdtemp())
>>> image_folder(root).classes
['cat', 'dog']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch


def write_image_folder(images: torch.Tensor, labels: Sequence[int] | torch.Tensor,
                       class_names: Sequence[str], root: str | Path) -> Path:
    """Save images as PNGs in ``root/<class name>/<i>.png`` and return ``root``.

    Args:
        images: ``(N, C, H, W)`` with C = 1, 3 or 4; uint8, or float in ``[0, 1]``.
        labels: ``N`` class indices into ``class_names``.
        class_names: folder name of each class (one folder is made per class, even if empty).
        root: folder to write into (created if missing).

    >>> import tempfile
    >>> root = write_image_folder(torch.zeros(2, 1, 4, 4), [0, 1], ["a", "b"], tempfile.mkdtemp())
    >>> sorted(p.name for p in root.glob("*/*.png"))
    ['0.png', '1.png']
    """
    from PIL import Image

    if images.dim() != 4 or images.shape[1] not in (1, 3, 4):
        raise ValueError(f"images must be (N, C, H, W) with C in 1, 3, 4; got {tuple(images.shape)}")
    labels = [int(label) for label in labels]
    if len(labels) != len(images):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    root = Path(root)
    for name in class_names:
        (root / name).mkdir(parents=True, exist_ok=True)
    pixels = images if images.dtype == torch.uint8 else (images.clamp(0, 1) * 255).round().to(torch.uint8)
    for i, (image, label) in enumerate(zip(pixels, labels)):
        array = np.ascontiguousarray(image.permute(1, 2, 0).numpy())
        Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array).save(
            root / class_names[label] / f"{i}.png")
    return root


def load_rgb(path: str | Path):
    """Open an image file as an RGB PIL image (RGBA, palette and gray images are converted)."""
    from PIL import Image

    with Image.open(path) as image:
        return image.convert("RGB")


def image_folder(root: str | Path, transform: Callable | None = None):
    """A torchvision ``ImageFolder`` over ``root/<class>/*`` whose images are always RGB.

    Items are ``(transform(PIL image), class index)``; without a transform, the PIL
    image itself. ``.classes`` lists the class folders in sorted order.

    >>> import tempfile
    >>> root = write_image_folder(torch.zeros(1, 4, 4, 4), [0], ["logo"], tempfile.mkdtemp())
    >>> image_folder(root)[0][0].mode
    'RGB'
    """
    from torchvision.datasets import ImageFolder

    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist")
    return ImageFolder(str(root), transform=transform, loader=load_rgb)
