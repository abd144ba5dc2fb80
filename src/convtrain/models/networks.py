"""The small networks lessons train: a plain CNN, plain vs residual deep nets, and blocks.

>>> import torch
>>> from convtrain.models import SimpleCNN, DeepNet
>>> SimpleCNN(in_channels=1, num_classes=10, batchnorm=True)(torch.rand(4, 1, 32, 32)).shape
torch.Size([4, 10])

Each network keeps its final linear layer at ``.fc`` (like torchvision's ResNet).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn


class ConvBlock(nn.Sequential):
    """3×3 convolution → optional BatchNorm → ReLU; keeps the spatial size.

    Shapes: (N, in_channels, H, W) → (N, out_channels, H, W).

    >>> ConvBlock(3, 8, batchnorm=True)(torch.rand(2, 3, 16, 16)).shape
    torch.Size([2, 8, 16, 16])
    """

    def __init__(self, in_channels: int, out_channels: int, *, batchnorm: bool = False):
        layers = OrderedDict(
            conv=nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=not batchnorm))
        if batchnorm:  # BN has its own shift, so the convolution needs no bias
            layers["bn"] = nn.BatchNorm2d(out_channels)
        layers["relu"] = nn.ReLU()
        super().__init__(layers)


class SimpleCNN(nn.Module):
    """A plain CNN: one ConvBlock + 2×2 max-pool per width, global average pool, dropout, linear.

    BatchNorm (after each convolution) and Dropout (before the classifier) are the two
    switches the lessons on regularization and normalization turn on and off.
    Any image size of at least ``2 ** len(widths)`` pixels works.

    Shapes: (N, in_channels, H, W) → logits (N, num_classes).

    >>> SimpleCNN(in_channels=3, widths=(8, 16, 32), dropout=0.5)(torch.rand(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10,
                 widths: Sequence[int] = (16, 32), batchnorm: bool = False, dropout: float = 0.0):
        super().__init__()
        if not widths:
            raise ValueError("SimpleCNN needs at least one width, e.g. widths=(16, 32).")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout is a probability in [0, 1), got {dropout}.")
        stages, channels = [], in_channels
        for width in widths:
            stages += [ConvBlock(channels, width, batchnorm=batchnorm), nn.MaxPool2d(2)]
            channels = width
        self.features = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.features(x)).flatten(1)
        return self.fc(self.dropout(x))


class PreActivationBlock(nn.Sequential):
    """Optional BatchNorm → ReLU → 3×3 convolution (the "pre-activation" order of ResNet v2).

    Shapes: (N, channels, H, W) → (N, channels, H, W).

    >>> PreActivationBlock(8, batchnorm=True)(torch.rand(2, 8, 16, 16)).shape
    torch.Size([2, 8, 16, 16])
    """

    def __init__(self, channels: int, *, batchnorm: bool = False):
        layers = OrderedDict()
        if batchnorm:
            layers["bn"] = nn.BatchNorm2d(channels)
        layers["relu"] = nn.ReLU()
        layers["conv"] = nn.Conv2d(channels, channels, 3, padding=1, bias=not batchnorm)
        super().__init__(layers)


class DeepNet(nn.Module):
    """A stack of ``depth`` equal-width blocks, plain or residual, for the lessons on depth.

    Plain: ``x = block(x)``. Residual: ``x = x + block(x)``, an identity shortcut around
    every block. Both variants have exactly the same layers and parameter count, so a
    comparison isolates the shortcut. Each block is a :class:`PreActivationBlock`
    (``[bn →] relu → conv``): with the identity path left clean, the plain stack's
    signal shrinks layer after layer while the residual stack carries it through.

    Layout: stem 3×3 conv → ``.blocks[i]`` (each with optional ``.bn``, ``.relu``,
    ``.conv``) → optional BN → ReLU → global average pool → ``.fc``. The spatial size
    never changes, so ``depth`` counts the convolutions between stem and head.

    Shapes: (N, in_channels, H, W) → logits (N, num_classes).

    >>> from convtrain.models import count_parameters
    >>> plain, res = DeepNet(10, 16), DeepNet(10, 16, residual=True)
    >>> count_parameters(plain) == count_parameters(res)
    True
    >>> res(torch.rand(2, 1, 8, 8)).shape
    torch.Size([2, 10])
    """

    def __init__(self, depth: int, width: int, *, in_channels: int = 1, num_classes: int = 10,
                 residual: bool = False, batchnorm: bool = False):
        super().__init__()
        if depth < 1 or width < 1:
            raise ValueError(f"DeepNet needs depth >= 1 and width >= 1, got {depth} and {width}.")
        self.residual = residual
        self.stem = nn.Conv2d(in_channels, width, 3, padding=1)
        self.blocks = nn.ModuleList(PreActivationBlock(width, batchnorm=batchnorm)
                                    for _ in range(depth))
        self.head_norm = nn.BatchNorm2d(width) if batchnorm else nn.Identity()
        self.head_relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for block in self.blocks:
            x = x + block(x) if self.residual else block(x)
        x = self.head_relu(self.head_norm(x))
        return self.fc(self.pool(x).flatten(1))


class ResidualBlock(nn.Module):
    """ResNet's basic block: two 3×3 conv-BN layers plus a shortcut, then ReLU.

    The shortcut is the identity when the shape is unchanged, else a projection
    (1×1 convolution with the same stride, then BN) so the two paths can be added.

    Shapes: (N, in_channels, H, W) → (N, out_channels, ceil(H / stride), ceil(W / stride)).

    >>> ResidualBlock(16, 32, stride=2)(torch.rand(2, 16, 8, 8)).shape
    torch.Size([2, 32, 4, 4])
    >>> isinstance(ResidualBlock(16, 16).shortcut, nn.Identity)
    True
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        if stride == 1 and in_channels == out_channels:
            self.shortcut = nn.Identity()
        else:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class DenseBlock(nn.Module):
    """DenseNet's block: each layer (BN → ReLU → 3×3 conv) sees the concatenation of all before it.

    Every layer adds ``growth_rate`` channels, so the output has
    ``out_channels = in_channels + num_layers * growth_rate`` channels.

    Shapes: (N, in_channels, H, W) → (N, out_channels, H, W).

    >>> block = DenseBlock(16, growth_rate=8, num_layers=3)
    >>> block(torch.rand(2, 16, 8, 8)).shape, block.out_channels
    (torch.Size([2, 40, 8, 8]), 40)
    """

    def __init__(self, in_channels: int, growth_rate: int, num_layers: int):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.Sequential(
                nn.BatchNorm2d(in_channels + i * growth_rate),
                nn.ReLU(),
                nn.Conv2d(in_channels + i * growth_rate, growth_rate, 3, padding=1, bias=False),
            )
            for i in range(num_layers)
        )
        self.out_channels = in_channels + num_layers * growth_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.layers:
            features.append(layer(torch.cat(features, dim=1)))
        return torch.cat(features, dim=1)
