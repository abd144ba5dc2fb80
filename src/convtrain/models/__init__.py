"""The networks lessons train, pretrained backbones, and tools to adapt and inspect them.

One module per job, everything importable from ``convtrain.models``:

* :mod:`~convtrain.models.networks`: ``SimpleCNN``, ``DeepNet`` (plain or residual),
  ``ResidualBlock``, ``DenseBlock`` and the small blocks they are made of;
* :mod:`~convtrain.models.backbones`: ``backbone(name)`` and ``backbone_weights(name)``
  for ``"tiny_digits"`` (offline), ``"resnet18"`` and ``"vgg19"`` (ImageNet);
* :mod:`~convtrain.models.adapt`: ``replace_head``, ``freeze`` / ``unfreeze``,
  ``head_param_groups``, ``count_parameters``;
* :mod:`~convtrain.models.inspection`: ``record_activations``, ``record_gradients``.

>>> import torch, convtrain as ct
>>> model = ct.models.replace_head(ct.models.backbone("tiny_digits"), num_classes=5)
>>> model = ct.models.freeze(model, except_=("fc",))
>>> optimizer = torch.optim.Adam(ct.models.head_param_groups(model, lr=1e-3))
"""

from convtrain.models.adapt import (
    count_parameters,
    freeze,
    head_param_groups,
    replace_head,
    unfreeze,
)
from convtrain.models.backbones import (
    TINY_DIGITS_MEAN,
    TINY_DIGITS_STD,
    TinyDigitsNet,
    backbone,
    backbone_weights,
)
from convtrain.models.inspection import record_activations, record_gradients
from convtrain.models.networks import (
    ConvBlock,
    DeepNet,
    DenseBlock,
    ResidualBlock,
    SimpleCNN,
)

__all__ = [
    "TINY_DIGITS_MEAN", "TINY_DIGITS_STD", "ConvBlock", "DeepNet", "DenseBlock",
    "ResidualBlock", "SimpleCNN", "TinyDigitsNet",
    "backbone", "backbone_weights", "count_parameters", "freeze", "head_param_groups",
    "record_activations", "record_gradients", "replace_head", "unfreeze",
]
