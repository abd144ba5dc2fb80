"""ImageNet preprocessing: what a torchvision weights object prescribes, and the same written out.

>>> tf = explicit_transform(resize=256, crop=224, mean=IMAGENET_MEAN, std=IMAGENET_STD)
>>> [type(step).__name__ for step in tf.transforms]
['Resize', 'CenterCrop', 'ToImage', 'ToDtype', 'Normalize']
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def imagenet_transform(weights):
    """The preprocessing a torchvision weights object prescribes: ``weights.transforms()``.

    For ``ResNet18_Weights.IMAGENET1K_V1`` it resizes to 256, center-crops 224, scales
    to ``[0, 1]`` and normalizes with :data:`IMAGENET_MEAN` / :data:`IMAGENET_STD`:
    :func:`explicit_transform` writes the same steps out.

    >>> from torchvision.models import ResNet18_Weights
    >>> imagenet_transform(ResNet18_Weights.IMAGENET1K_V1).crop_size
    [224]
    """
    if not callable(getattr(weights, "transforms", None)):
        raise TypeError(
            f"expected a torchvision weights object such as ResNet18_Weights.DEFAULT, got "
            f"{type(weights).__name__}; see convtrain.models.backbone_weights(name)"
        )
    return weights.transforms()


def explicit_transform(resize: int | Sequence[int], crop: int | Sequence[int],
                       mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD):
    """Resize → CenterCrop → ToImage → ToDtype(float32, scale) → Normalize, step by step.

    Takes a PIL image or a uint8 tensor ``(C, H, W)`` and returns float32
    ``(C, crop, crop)``, normalized per channel: ``(x / 255 - mean) / std``.
    Same steps in the same order as ``weights.transforms()``: identical output for
    PIL images; for uint8 tensors, resized pixels may differ by one level (1/255)
    because the two torchvision resize implementations round differently.

    Args:
        resize: an int sets the shorter side (keeping the aspect ratio), ``(H, W)`` both.
        crop: side (or ``(H, W)``) of the centre crop.
        mean, std: per-channel statistics (``IMAGENET_*`` for ImageNet-pretrained networks,
            :func:`~convtrain.data.mean_std` of your own data otherwise).

    >>> from convtrain.data import sample_image
    >>> explicit_transform(256, 224)(sample_image("coffee")).shape
    torch.Size([3, 224, 224])
    """
    from torchvision.transforms import v2

    return v2.Compose([
        v2.Resize(resize, interpolation=v2.InterpolationMode.BILINEAR, antialias=True),
        v2.CenterCrop(crop),
        v2.ToImage(),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(mean=list(mean), std=list(std)),
    ])
