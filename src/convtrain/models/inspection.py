"""Looking inside a network: the activations and gradients of its layers on one batch.

>>> import torch
>>> from convtrain.models import DeepNet, record_activations
>>> stds = [a.std() for a in record_activations(DeepNet(10, 16), torch.rand(8, 1, 8, 8)).values()]
"""

from __future__ import annotations

import torch
from torch import nn


def record_activations(model: nn.Module, x: torch.Tensor,
                       layer_types: tuple[type[nn.Module], ...] = (nn.ReLU,)) -> dict[str, torch.Tensor]:
    """Run ``model(x)`` once and return the output of every layer of the given types.

    Keys are module names in forward order (``"blocks.0.relu"``); a module called
    twice in one forward (ResNet reuses its ReLU) gets ``"name#2"`` for the second call.
    Values are detached CPU copies. The model's train/eval mode is left as it is;
    no gradients are computed.

    Shapes: x (N, C, H, W) → {name: that layer's output, e.g. (N, C', H', W')}.

    >>> from convtrain.models import DeepNet
    >>> acts = record_activations(DeepNet(3, 8), torch.rand(2, 1, 8, 8))
    >>> list(acts)
    ['blocks.0.relu', 'blocks.1.relu', 'blocks.2.relu', 'head_relu']
    """
    layer_types = tuple(layer_types)
    activations: dict[str, torch.Tensor] = {}

    def hook_for(name: str):
        def hook(module, inputs, output):
            key, calls = name, 1
            while key in activations:
                calls += 1
                key = f"{name}#{calls}"
            activations[key] = output.detach().to("cpu", copy=True)
        return hook

    handles = [module.register_forward_hook(hook_for(name))
               for name, module in model.named_modules() if isinstance(module, layer_types)]
    if not handles:
        names = ", ".join(t.__name__ for t in layer_types)
        raise ValueError(f"record_activations: the model has no layer of type {names}.")
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return activations


def record_gradients(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                     loss_fn: nn.Module | None = None) -> dict[str, torch.Tensor]:
    """Gradient of the loss on one batch for every weight of a Conv2d or Linear layer.

    Returns ``{"blocks.0.conv": grad of its weight, ...}`` in forward order (detached
    CPU copies); the model's own ``.grad`` fields are cleared afterwards, so an
    optimizer is not affected. Shapes: images (N, C, H, W), labels (N,) int64.

    >>> from convtrain.models import DeepNet
    >>> grads = record_gradients(DeepNet(2, 8), torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 2, 3]))
    >>> list(grads)
    ['stem', 'blocks.0.conv', 'blocks.1.conv', 'fc']
    """
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    layers = {name: module for name, module in model.named_modules()
              if isinstance(module, (nn.Conv2d, nn.Linear))}
    model.zero_grad(set_to_none=True)
    loss_fn(model(images), labels).backward()
    gradients = {name: layer.weight.grad.detach().to("cpu", copy=True)
                 for name, layer in layers.items() if layer.weight.grad is not None}
    model.zero_grad(set_to_none=True)
    return gradients
