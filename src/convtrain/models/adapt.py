"""Adapting a network to a new task: replace its head, freeze its body, tune the head faster.

>>> from convtrain.models import backbone, replace_head, freeze, count_parameters
>>> model = freeze(replace_head(backbone("tiny_digits"), num_classes=5), except_=("fc",))
>>> count_parameters(model, trainable_only=True)       # only the new head learns
325

The head is the final linear layer: ``.fc`` (ResNet, the convtrain networks) or
``.classifier[-1]`` (VGG).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from torch import nn


def _head_name(model: nn.Module) -> str:
    """Dotted name of the final linear layer: ``fc`` (ResNet, ours) or ``classifier.6`` (VGG)."""
    if isinstance(getattr(model, "fc", None), nn.Linear):
        return "fc"
    classifier = getattr(model, "classifier", None)
    if isinstance(classifier, nn.Sequential) and isinstance(classifier[-1], nn.Linear):
        return f"classifier.{len(classifier) - 1}"
    raise ValueError(
        f"Cannot find the classification head of {type(model).__name__}: expected a Linear "
        "layer at .fc (ResNet, convtrain models) or at .classifier[-1] (VGG)."
    )


def replace_head(model: nn.Module, num_classes: int) -> nn.Module:
    """Replace the final linear layer by a fresh one with ``num_classes`` outputs (in place).

    >>> from convtrain.models import backbone
    >>> replace_head(backbone("resnet18", pretrained=False), 6).fc.out_features
    6
    """
    name = _head_name(model)
    old = model.get_submodule(name)
    new = nn.Linear(old.in_features, num_classes, bias=old.bias is not None)
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name), child, new.to(old.weight.device))
    return model


def _matches(name: str, prefixes: Iterable[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def freeze(model: nn.Module, except_: Sequence[str] = ("fc",)) -> nn.Module:
    """Stop training every parameter except those under the named submodules (in place).

    Frozen parameters get ``requires_grad=False``. Frozen BatchNorm layers also stay in
    eval mode, even after ``model.train()``: otherwise they would keep updating their
    running statistics and normalize with batch statistics, changing the "frozen"
    features under the head. (A forward pre-hook switches them back to eval.)

    ``except_`` holds module names as in ``model.named_modules()``, e.g. ``("fc",)`` or
    ``("layer4", "fc")``. Calling it again replaces the earlier choice.

    >>> from convtrain.models import backbone
    >>> model = freeze(backbone("tiny_digits"), except_=("fc",))
    >>> [name for name, p in model.named_parameters() if p.requires_grad]
    ['fc.weight', 'fc.bias']
    """
    except_ = (except_,) if isinstance(except_, str) else tuple(except_)
    names = [name for name, _ in model.named_parameters()]
    for prefix in except_:
        if not any(_matches(name, [prefix]) for name in names):
            raise ValueError(
                f"freeze: no parameter lies under {prefix!r}. Parameter names look like: "
                f"{', '.join(names[:3])}, ..., {', '.join(names[-2:])}."
            )
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(_matches(name, except_))
    _release_batchnorms(model)  # the latest call decides, also after an earlier freeze
    for name, module in model.named_modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and not _matches(name, except_):
            _keep_in_eval(module)
    return model


def unfreeze(model: nn.Module) -> nn.Module:
    """Undo :func:`freeze`: every parameter trainable, every BatchNorm follows ``model.train()``.

    >>> from convtrain.models import backbone
    >>> model = unfreeze(freeze(backbone("tiny_digits")))     # e.g. fine-tune everything next
    >>> all(p.requires_grad for p in model.parameters())
    True
    """
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    _release_batchnorms(model)
    return model


def _stay_in_eval(module: nn.Module, inputs) -> None:
    module.train(False)


def _keep_in_eval(module: nn.Module) -> None:
    module.__dict__["_convtrain_eval_hook"] = module.register_forward_pre_hook(_stay_in_eval)
    module.eval()


def _release_batchnorms(model: nn.Module) -> None:
    """Remove the hooks :func:`_keep_in_eval` added, so BatchNorm follows the model's mode again."""
    for module in model.modules():
        handle = module.__dict__.pop("_convtrain_eval_hook", None)
        if handle is not None:
            handle.remove()


def head_param_groups(model: nn.Module, lr: float, head_lr_mult: float = 10.0) -> list[dict]:
    """Optimizer parameter groups: the body at ``lr``, the head at ``lr * head_lr_mult``.

    Only trainable parameters are included, and an empty group is left out.

    >>> import torch
    >>> from convtrain.models import backbone
    >>> model = replace_head(backbone("tiny_digits"), 5)
    >>> groups = head_param_groups(model, lr=1e-3)
    >>> [g["lr"] for g in groups]
    [0.001, 0.01]
    >>> optimizer = torch.optim.SGD(groups, momentum=0.9)
    """
    head = _head_name(model)
    body_params, head_params = [], []
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            (head_params if _matches(name, [head]) else body_params).append(parameter)
    groups = [{"params": body_params, "lr": lr}, {"params": head_params, "lr": lr * head_lr_mult}]
    return [group for group in groups if group["params"]]


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of scalar parameters (only those with ``requires_grad`` if ``trainable_only``).

    >>> count_parameters(nn.Linear(10, 3))
    33
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
