"""The functions exercise test cells call.

Each check converts what it compares to plain values first (float64 tensors,
Python ints, bools and strings), so an object a student returns cannot decide
its own comparison, and on failure raises an ``AssertionError`` that says what
was expected, what came back and a hint:

>>> import torch
>>> from convtrain.checks import check_close
>>> check_close(torch.ones(2, 3), torch.ones(2, 3))          # passes silently
>>> check_close(torch.zeros(2, 3), torch.ones(2, 3), name="standardize(x)")
Traceback (most recent call last):
...
AssertionError: ✗ standardize(x): values differ from the reference
  expected shape (2, 3) float32, got shape (2, 3) float32
  6 of 6 values differ by more than atol + rtol * |expected| (atol=1e-06, rtol=1e-05)
  largest difference 1 at index (0, 0) (expected 1, got 0)
  first values: expected [1, 1, 1, 1, ...], got [0, 0, 0, 0, ...]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch
from torch import nn

__all__ = [
    "as_float64",
    "check_close",
    "check_equal",
    "check_module_matches",
    "check_shape",
    "check_true",
    "check_type",
]

# Types whose instances must match exactly (``type(x) is T``): a subclass of these
# is the classic way to smuggle in a custom ``__eq__`` or ``__float__``.
_EXACT_TYPES = (bool, int, float, complex, str, bytes, tuple, list, dict, set, type(None),
                torch.Tensor, np.ndarray)


# --------------------------------------------------------------------------- conversion

def as_float64(x) -> torch.Tensor:
    """A plain float64 CPU tensor holding the values of ``x``; never calls methods ``x`` overrides.

    Accepts tensors (also subclasses, on any device, with ``requires_grad``), NumPy
    arrays and scalars, Python ``bool``/``int``/``float`` (also subclasses) and
    nested lists/tuples of those. The result is a fresh copy with shape ``x.shape``
    (``()`` for a number).

    Raises:
        TypeError: for anything else (strings, ``None``, arbitrary objects), complex
            numbers, or ragged lists, with a message that says what to return instead.

    >>> as_float64([[1, 2], [3, 4]]).dtype
    torch.float64
    >>> as_float64(np.float32(0.5)).shape
    torch.Size([])
    """
    if isinstance(x, torch.Tensor):
        return _tensor_as_float64(x)
    if isinstance(x, (np.ndarray, np.generic)):
        return _array_as_float64(x)
    if isinstance(x, bool):
        return torch.tensor(float(bool.__bool__(x)), dtype=torch.float64)
    if isinstance(x, int):
        return torch.tensor(float(int.__int__(x)), dtype=torch.float64)
    if isinstance(x, float):
        return torch.tensor(float.__float__(x), dtype=torch.float64)
    if isinstance(x, (list, tuple)):
        return _sequence_as_float64(x)
    raise TypeError(
        f"expected a number, a tensor, a NumPy array or a list of numbers, got {_type_name(x)}"
        + (f" ({_safe_repr(x)})" if x is not None else "")
    )


def _tensor_as_float64(x: torch.Tensor) -> torch.Tensor:
    # ``as_subclass`` drops any tensor subclass and its __torch_function__ before we
    # touch the values; everything after it runs on a plain torch.Tensor.
    with torch._C.DisableTorchFunctionSubclass():
        plain = torch.Tensor.as_subclass(x, torch.Tensor)
    if plain.is_complex():
        raise TypeError(f"expected real numbers, got a complex tensor ({plain.dtype})")
    if plain.layout != torch.strided:
        plain = plain.to_dense()
    return plain.detach().to(device="cpu", dtype=torch.float64, copy=True)


def _array_as_float64(x) -> torch.Tensor:
    array = np.asarray(x)  # drops ndarray subclasses (e.g. np.matrix, masked arrays' masks)
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"expected an array of real numbers, got a NumPy array of dtype {array.dtype}"
        )
    return torch.from_numpy(np.array(array, dtype=np.float64, copy=True))


def _sequence_as_float64(x: Sequence) -> torch.Tensor:
    if len(x) == 0:
        return torch.zeros(0, dtype=torch.float64)
    parts = [as_float64(item) for item in x]
    shapes = {tuple(part.shape) for part in parts}
    if len(shapes) != 1:
        raise TypeError(
            f"expected a rectangular list (all items the same shape), got items of shapes "
            f"{sorted(shapes)}"
        )
    return torch.stack(parts)


# --------------------------------------------------------------------------- messages

def _type_name_of(kind: type) -> str:
    """``int`` for builtins, ``torch.nn.modules.conv.Conv2d`` for everything else."""
    return kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def _type_name(x) -> str:
    return _type_name_of(type(x))


def _safe_repr(x, limit: int = 80) -> str:
    """``repr(x)`` shortened to ``limit`` characters; a broken ``__repr__`` cannot crash a check."""
    try:
        text = object.__repr__(x) if isinstance(x, torch.Tensor) and type(x) is not torch.Tensor else repr(x)
    except Exception:  # noqa: BLE001 - any student object may raise here
        text = object.__repr__(x)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe(x) -> str:
    """``shape (4, 3) float32`` for arrays and tensors, the type name for anything else."""
    if isinstance(x, torch.Tensor):
        with torch._C.DisableTorchFunctionSubclass():
            plain = torch.Tensor.as_subclass(x, torch.Tensor)
        text = f"shape {tuple(plain.shape)} {str(plain.dtype).removeprefix('torch.')}"
        return text if type(x) is torch.Tensor else f"{text} ({_type_name(x)})"
    if isinstance(x, (np.ndarray, np.generic)):
        array = np.asarray(x)
        return f"shape {array.shape} {array.dtype} (NumPy)"
    if isinstance(x, (list, tuple)):
        return f"{_type_name(x)} of length {len(x)}"
    return _type_name(x)


def _number(value: float) -> str:
    return f"{value:.6g}"


def _preview(values: torch.Tensor, count: int = 4) -> str:
    flat = values.reshape(-1)
    shown = ", ".join(_number(float(v)) for v in flat[:count])
    return f"[{shown}{', ...' if flat.numel() > count else ''}]"


def _fail(name: str, problem: str, details: Iterable[str] = (), hint: str = ""):
    lines = [f"✗ {name}: {problem}"]
    lines += [f"  {line}" for line in details if line]
    if hint:
        lines.append(f"  hint: {hint}")
    raise AssertionError("\n".join(lines)) from None


def _convert_or_fail(x, name: str, role: str, hint: str) -> torch.Tensor:
    try:
        return as_float64(x)
    except TypeError as error:
        _fail(name, f"the {role} value is not numeric: {error}", hint=hint
              or "return a tensor or a number (e.g. `torch.tensor(...)` or `float(...)`)")


# --------------------------------------------------------------------------- checks

def check_close(actual, expected, *, atol: float = 1e-6, rtol: float = 1e-5,
                name: str = "result", hint: str = "") -> None:
    """Assert ``actual`` equals ``expected`` elementwise within ``atol + rtol * |expected|``.

    Both are converted with :func:`as_float64` first; shapes must match exactly
    (no broadcasting). NaN matches NaN, ``inf`` matches ``inf`` of the same sign.

    Args:
        actual: what the student's code returned: tensor, array, number or list, any shape.
        expected: the reference, same shape as ``actual``.

    >>> check_close(torch.tensor([1.0, 2.0]), [1.0, 2.0 + 1e-9])
    """
    got = _convert_or_fail(actual, name, "returned", hint)
    want = _convert_or_fail(expected, name, "expected", "")
    shapes = f"expected {_describe(expected)}, got {_describe(actual)}"
    if got.shape != want.shape:
        _fail(name, "wrong shape", [shapes], hint or _shape_hint(tuple(got.shape), tuple(want.shape)))
    close = torch.isclose(got, want, atol=atol, rtol=rtol, equal_nan=True)
    if bool(close.all()):
        return
    _fail(name, "values differ from the reference",
          [shapes, *_difference_report(got, want, close, atol, rtol)], hint)


def _difference_report(got, want, close, atol, rtol) -> list[str]:
    excess = (got - want).abs() - (atol + rtol * want.abs())
    excess = torch.where(close, torch.full_like(excess, -torch.inf), excess.nan_to_num(torch.inf))
    flat_index = int(excess.reshape(-1).argmax())
    index = tuple(int(i) for i in np.unravel_index(flat_index, tuple(got.shape)))
    where = f" at index {index}" if index else ""
    g, w = float(got.reshape(-1)[flat_index]), float(want.reshape(-1)[flat_index])
    lines = [
        f"{int((~close).sum())} of {close.numel()} values differ by more than "
        f"atol + rtol * |expected| (atol={atol:g}, rtol={rtol:g})",
        f"largest difference {_number(abs(g - w))}{where} (expected {_number(w)}, got {_number(g)})",
    ]
    if got.numel() > 1:
        lines.append(f"first values: expected {_preview(want)}, got {_preview(got)}")
    return lines


def _shape_hint(got: tuple, want: tuple) -> str:
    if sorted(got) == sorted(want):
        return "same sizes in a different order: check the order of your dimensions (permute/transpose)"
    if tuple(s for s in got if s != 1) == tuple(s for s in want if s != 1):
        return "the sizes differ only by dimensions of size 1: check keepdim=... or squeeze/unsqueeze"
    return "check which dimension you reduce over (dim=...) and any reshape"


def check_shape(actual, expected_shape: Sequence[int | None], *, name: str = "result",
                hint: str = "") -> None:
    """Assert ``actual`` (tensor, array, number or list) has shape ``expected_shape``.

    ``None`` in ``expected_shape`` accepts any size in that dimension.

    >>> check_shape(torch.zeros(4, 3, 8, 8), (4, 3, None, None))
    """
    wanted = tuple(expected_shape)
    if not all(size is None or type(size) is int for size in wanted):
        raise TypeError(f"expected_shape must hold ints or None, got {wanted!r}")
    got = tuple(_convert_or_fail(actual, name, "returned", hint).shape)
    fits = len(got) == len(wanted) and all(w is None or g == w for g, w in zip(got, wanted))
    if not fits:
        shown = "(" + ", ".join("any" if w is None else str(w) for w in wanted) + (",)" if len(wanted) == 1 else ")")
        comparable = tuple(g if w is None else w for g, w in zip(got, wanted)) if len(got) == len(wanted) \
            else tuple(w or 0 for w in wanted)
        _fail(name, "wrong shape", [f"expected shape {shown}, got {_describe(actual)}"],
              hint or _shape_hint(got, comparable))


def check_equal(actual, expected, *, name: str = "result", hint: str = "") -> None:
    """Assert ``actual == expected`` for plain values: ints, bools, strings, None and tuples/lists/dicts of them.

    ``actual`` is converted to the type of ``expected`` first (a 0-d integer tensor
    counts as an int, a ``torch.Size`` as a tuple), so a subclass with its own
    ``__eq__`` cannot pass. For floats and tensors use :func:`check_close`.

    >>> check_equal(torch.tensor(3), 3)
    >>> check_equal(torch.Size([2, 3]), (2, 3))
    """
    try:
        got = _plain_like(actual, expected)
    except TypeError as error:
        _fail(name, "wrong type", [str(error)], hint)
    if got != expected:
        _fail(name, "wrong value", [f"expected {_safe_repr(expected)}, got {_safe_repr(got)}"], hint)


def _plain_like(actual, expected):
    """``actual`` as a plain value of the same kind as ``expected``; TypeError if it is not one."""
    if expected is None:
        return _plain_none(actual)
    if type(expected) is bool:
        return _plain_bool(actual)
    if type(expected) is int:
        return _plain_int(actual)
    if type(expected) is float:
        return _plain_float(actual)
    if type(expected) is str:
        return str.__str__(actual) if isinstance(actual, str) else _wrong(actual, "a string")
    if type(expected) in (tuple, list):
        if not isinstance(actual, (tuple, list)):
            _wrong(actual, f"a {type(expected).__name__}")
        items = tuple.__iter__(actual) if isinstance(actual, tuple) else list.__iter__(actual)
        items = list(items)
        if len(items) != len(expected):
            raise TypeError(f"expected {len(expected)} items {_safe_repr(expected)}, "
                            f"got {len(items)} items {_safe_repr(actual)}")
        return type(expected)(_plain_like(a, e) for a, e in zip(items, expected))
    if type(expected) is dict:
        if not isinstance(actual, dict):
            _wrong(actual, "a dict")
        return {key: _plain_like(value, expected.get(key)) if key in expected else value
                for key, value in dict.items(actual)}
    if type(actual) is not type(expected):
        _wrong(actual, f"a {_type_name(expected)}")
    return actual


def _plain_float(x) -> float:
    try:
        values = as_float64(x)
    except TypeError:
        _wrong(x, "a number")
    return float(values.item()) if values.numel() == 1 else _wrong(x, "a single number")


def _single_element(x, kinds: str, what: str):
    tensor = None
    if isinstance(x, torch.Tensor):
        with torch._C.DisableTorchFunctionSubclass():
            tensor = torch.Tensor.as_subclass(x, torch.Tensor).detach().cpu()
        if tensor.numel() == 1 and _torch_kind(tensor.dtype) in kinds:
            return tensor.reshape(()).item()
    elif isinstance(x, (np.ndarray, np.generic)):
        array = np.asarray(x)
        if array.size == 1 and array.dtype.kind in kinds:
            return array.reshape(()).item()
    _wrong(x, what)


def _torch_kind(dtype: torch.dtype) -> str:
    if dtype == torch.bool:
        return "b"
    return "f" if dtype.is_floating_point or dtype.is_complex else "i"


def _plain_bool(x) -> bool:
    if isinstance(x, bool):
        return bool.__bool__(x)
    return bool(_single_element(x, "b", "True or False"))


def _plain_int(x) -> int:
    if isinstance(x, int) and not isinstance(x, bool):
        return int.__int__(x)
    return int(_single_element(x, "iu", "an int (use int(...) if you computed it as a float)"))


def _plain_none(x):
    return None if x is None else _wrong(x, "None")


def _wrong(x, what: str):
    raise TypeError(f"expected {what}, got {_describe(x)} {_safe_repr(x)}")


def check_true(condition, message: str, *, hint: str = "") -> None:
    """Assert ``condition`` is ``True``; ``message`` says what should have held.

    ``condition`` must be a real boolean (``bool``, NumPy bool, or a one-element
    bool tensor): an object whose ``__bool__`` always answers ``True`` is rejected.

    >>> check_true(torch.tensor(2.0) > 1, "the loss should decrease")
    """
    try:
        value = _plain_bool(condition)
    except TypeError as error:
        _fail("check", message, [f"the condition is not a boolean: {error}"],
              hint or "compare plain numbers, e.g. float(x) < 1.0")
    if not value:
        _fail("check", message, [], hint)


def check_type(obj, expected_type: type | tuple[type, ...], *, name: str = "result",
               hint: str = "") -> None:
    """Assert ``obj`` is of ``expected_type``.

    Plain types (``int``, ``float``, ``str``, ``tuple``, ``torch.Tensor``,
    ``np.ndarray``, ...) must match exactly, ``type(obj) is T``: ``True`` is not an
    ``int`` here and a tensor subclass is not a tensor. Other classes (``nn.Module``,
    ``Dataset``, your own) accept subclasses, as ``isinstance`` does.

    >>> check_type(3, int)
    >>> check_type(nn.Linear(2, 2), nn.Module)
    """
    kinds = expected_type if isinstance(expected_type, tuple) else (expected_type,)
    if any(_type_matches(obj, kind) for kind in kinds):
        return
    wanted = " or ".join(_type_name_of(kind) for kind in kinds)
    _fail(name, "wrong type", [f"expected {wanted}, got {_type_name(obj)} {_safe_repr(obj)}"],
          hint or _type_hint(obj, kinds))


def _type_matches(obj, kind: type) -> bool:
    return type(obj) is kind if kind in _EXACT_TYPES else isinstance(obj, kind)


def _type_hint(obj, kinds: tuple[type, ...]) -> str:
    if int in kinds and isinstance(obj, torch.Tensor):
        return "convert a one-element tensor with .item() or int(...)"
    if float in kinds and isinstance(obj, (torch.Tensor, np.generic)):
        return "convert a one-element tensor with .item() or float(...)"
    if torch.Tensor in kinds and isinstance(obj, np.ndarray):
        return "convert with torch.from_numpy(...)"
    return ""


# --------------------------------------------------------------------------- modules

def check_module_matches(reference: Callable, candidate: Callable, inputs, *,
                         modes: Sequence[str] = ("train", "eval"), atol: float = 1e-5,
                         rtol: float = 1e-4, name: str = "your module", hint: str = "") -> None:
    """Assert ``candidate`` computes the same outputs as ``reference`` in each mode, on each input.

    For every mode (``"train"``/``"eval"``) and every input, both modules are put in
    that mode, the torch random generator is seeded identically before each call
    (so dropout masks agree when both draw the same random numbers), and the
    outputs are compared with :func:`check_close`. Calls run under ``torch.no_grad()``
    inside a forked random state, so the notebook's own random stream is untouched.
    Afterwards every submodule is back in the train/eval mode it was in. Train-mode
    calls do update state such as BatchNorm running statistics, in both modules
    alike; that is what makes the following eval-mode comparison meaningful.

    Args:
        reference: the trusted module (or function), e.g. ``nn.BatchNorm2d(3)``.
        candidate: the student's module, with the same parameters as ``reference``.
        inputs: a tensor, or a list of inputs; each input is a tensor (called as
            ``module(x)``) or a tuple of tensors (called as ``module(*x)``).

    >>> check_module_matches(nn.Dropout(0.5), nn.Dropout(0.5), [torch.randn(4, 3)])
    """
    if isinstance(inputs, torch.Tensor):
        inputs = [inputs]
    for mode in modes:
        if mode not in ("train", "eval"):
            raise ValueError(f"modes must be 'train' and/or 'eval', got {mode!r}")
    saved = _training_flags(reference) + _training_flags(candidate)
    try:
        for mode in modes:
            for position, example in enumerate(inputs):
                arguments = example if isinstance(example, tuple) else (example,)
                seed = 1000 * modes.index(mode) + position
                expected = _seeded_call(reference, arguments, mode, seed)
                actual = _seeded_call(candidate, arguments, mode, seed)
                shapes = ", ".join(str(tuple(a.shape)) for a in arguments if isinstance(a, torch.Tensor))
                where = f"{name} in {mode} mode, input {position + 1} of {len(inputs)} (shape {shapes})"
                _compare_outputs(actual, expected, where, atol, rtol, hint)
    finally:
        for module, flag in saved:
            module.training = flag


def _training_flags(module) -> list[tuple[nn.Module, bool]]:
    return [(m, m.training) for m in module.modules()] if isinstance(module, nn.Module) else []


def _seeded_call(module: Callable, arguments: tuple, mode: str, seed: int):
    if isinstance(module, nn.Module):
        module.train(mode == "train")
    devices = sorted({a.device.index or 0 for a in arguments
                      if isinstance(a, torch.Tensor) and a.device.type == "cuda"})
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        torch.manual_seed(seed)
        return module(*arguments)


def _compare_outputs(actual, expected, where: str, atol: float, rtol: float, hint: str) -> None:
    if isinstance(expected, (tuple, list)):
        if not isinstance(actual, (tuple, list)) or len(actual) != len(expected):
            _fail(where, "wrong kind of output",
                  [f"expected {_describe(expected)}, got {_describe(actual)}"], hint)
        for index, (a, e) in enumerate(zip(actual, expected)):
            _compare_outputs(a, e, f"{where}, output {index}", atol, rtol, hint)
        return
    check_close(actual, expected, atol=atol, rtol=rtol, name=where, hint=hint)

