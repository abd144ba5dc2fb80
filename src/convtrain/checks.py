"""The functions exercise test cells call.

Each check converts what it compares to plain values first (float64 tensors,
Python ints, bools and strings), so an object a student returns cannot decide
its own comparison, and on failure raises an ``AssertionError`` that says what
was expected, what came back and a hint. The checks look at a value through its
real type (``type(x)``, never ``x.__class__``) and read it with the base type's
own methods (``int.__int__``, ``tuple.__iter__``, ``torch.Tensor.as_subclass``):
no method a student's class overrides (``__eq__``, ``__bool__``, ``__len__``,
``__iter__``, ``__float__``, ``__repr__``, ``__getattr__``, ``__torch_function__``,
``__torch_dispatch__``, ...) is ever called. :func:`plain_tensor` gives a test the
same protection for the tensors it works with itself:

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

import os
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
    "plain_tensor",
    "started_profile",
]

# Read once, when this module is imported. The grader's kernel imports it before any student
# code runs and puts it back before every test, so tests that need the profile (the
# capstone's held-out split) use the one the kernel was started in, whatever a notebook
# later writes into os.environ.
STARTED_PROFILE = os.environ.get("CONVTRAIN_PROFILE", "").strip().lower()
STARTED_OVERRIDES = os.environ.get("CONVTRAIN_PROFILE_OVERRIDES", "")
STARTED_IN_REHEARSAL = os.environ.get("CONVTRAIN_REHEARSAL", "") == "1"


def started_profile():
    """The profile this kernel was started in (``$CONVTRAIN_PROFILE`` at import, else full on
    CUDA and fast elsewhere), with the overrides it was started with.

    >>> started_profile().name in ("fast", "full")
    True
    """
    from convtrain import runtime

    name = STARTED_PROFILE or ("full" if torch.cuda.is_available() else "fast")
    return runtime.profile(name, overrides=STARTED_OVERRIDES)

# Types whose instances must match exactly (``type(x) is T``): a subclass of these
# is the classic way to smuggle in a custom ``__eq__`` or ``__float__``.
_EXACT_TYPES = (bool, int, float, complex, str, bytes, tuple, list, dict, set, type(None),
                torch.Tensor, np.ndarray)

# NumPy's own scalar types (np.float32, np.int64, np.bool_, ...). A Python subclass of one
# is refused: NumPy reads such a scalar through its (overridable) __int__ / __float__.
_NUMPY_SCALARS = frozenset(np.dtype(code).type for code in "?bhilqBHILQefdg")


def _is(x, kinds) -> bool:
    """``isinstance(x, kinds)`` asked of ``x``'s real type: a ``__class__`` property cannot fake it."""
    return issubclass(type(x), kinds)


def _items(x) -> list:
    """The items a list or tuple (or a subclass of one) really holds; its own ``__iter__``/``__len__`` are not called."""
    return list(tuple.__iter__(x)) if _is(x, tuple) else list(list.__iter__(x))


def _dispatches_to_python(x: torch.Tensor) -> bool:
    """True for tensors whose every operation runs Python code (``__torch_dispatch__`` subclasses)."""
    return torch._C._dispatch_keys(x).has(torch._C.DispatchKey.Python)


def _plain_view(x: torch.Tensor) -> torch.Tensor:
    """A plain ``torch.Tensor`` sharing the data of ``x`` (a tensor or tensor subclass).

    ``as_subclass`` with torch functions disabled drops the subclass and its
    ``__torch_function__``; the result is a fresh object, so attributes set on ``x``
    (``x.tolist = ...``) are gone too. TypeError for ``__torch_dispatch__`` tensors,
    whose data only their own Python code can read.
    """
    if _dispatches_to_python(x):
        raise TypeError(f"expected a plain tensor, got {_type_name(x)}, a tensor subclass that runs its "
                        "own Python code on every operation (__torch_dispatch__)")
    with torch._C.DisableTorchFunctionSubclass():
        plain = torch.Tensor.as_subclass(x, torch.Tensor)
    if plain.device.type == "meta":
        raise TypeError("expected a tensor with values, got a tensor on the 'meta' device (it has no data)")
    return plain


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
    if _is(x, torch.Tensor):
        return _tensor_as_float64(x)
    if _is(x, (np.ndarray, np.generic)):
        return _array_as_float64(x)
    if type(x) is bool:
        return torch.tensor(float(bool.__bool__(x)), dtype=torch.float64)
    if _is(x, int):
        return torch.tensor(float(int.__int__(x)), dtype=torch.float64)
    if _is(x, float):
        return torch.tensor(float.__float__(x), dtype=torch.float64)
    if _is(x, (list, tuple)):
        return _sequence_as_float64(_items(x))
    shown = _safe_repr(x) if x is not None else None
    raise TypeError(
        f"expected a number, a tensor, a NumPy array or a list of numbers, got {_type_name(x)}"
        + (f" ({shown})" if shown else "")
    )


def _tensor_as_float64(x: torch.Tensor) -> torch.Tensor:
    # ``_plain_view`` drops any tensor subclass and its __torch_function__ before we
    # touch the values; everything after it runs on a plain torch.Tensor.
    plain = _plain_view(x)
    if plain.is_complex():
        raise TypeError(f"expected real numbers, got a complex tensor ({plain.dtype})")
    if plain.layout != torch.strided:
        plain = plain.to_dense()
    return plain.detach().to(device="cpu", dtype=torch.float64, copy=True)


def _plain_array(x) -> np.ndarray:
    """A NumPy array or NumPy scalar as a base-class ``np.ndarray`` (subclasses dropped unasked)."""
    if _is(x, np.ndarray):
        return np.ndarray.view(x, np.ndarray)  # e.g. np.matrix, or a masked array's data
    if type(x) in _NUMPY_SCALARS:
        return np.asarray(x)
    raise TypeError(f"expected a plain number, got {_type_name(x)} (a subclass of a NumPy number): "
                    "return float(...) or int(...)")


def _array_as_float64(x) -> torch.Tensor:
    array = _plain_array(x)
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

_MODULE_OF = type.__dict__["__module__"].__get__      # read from the class itself, never
_QUALNAME_OF = type.__dict__["__qualname__"].__get__  # through a metaclass's __getattribute__


def _type_name_of(kind: type) -> str:
    """``int`` for builtins, ``torch.nn.modules.conv.Conv2d`` for everything else."""
    try:
        module, qualname = str(_MODULE_OF(kind)), str(_QUALNAME_OF(kind))
    except Exception:  # noqa: BLE001 - a class with a broken __module__
        return "an unknown type"
    return qualname if module == "builtins" else f"{module}.{qualname}"


def _type_name(x) -> str:
    return _type_name_of(type(x))


class _Shown:
    """Stands in a message for a value that is not shown (its own ``__repr__`` is never called)."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


_REPR_SAFE = (bool, int, float, complex, str, bytes, type(None), torch.Size, torch.dtype, torch.device,
              torch.Tensor, np.ndarray, _Shown)


def _plain_repr(x, depth: int = 0) -> str | None:
    """``repr`` of plain values (also inside lists, tuples and dicts); None for anything else."""
    kind = type(x)
    if kind is torch.Tensor:
        return repr(_plain_view(x))  # a fresh object: attributes set on x are not consulted
    if kind in _REPR_SAFE or kind in _NUMPY_SCALARS:
        return repr(x)
    if kind in (list, tuple) and depth < 3:
        parts = [_plain_repr(item, depth + 1) or f"<{_type_name(item)}>" for item in _items(x)[:20]]
        if len(_items(x)) > 20:
            parts.append("...")
        inner = ", ".join(parts) + ("," if kind is tuple and len(parts) == 1 else "")
        return f"({inner})" if kind is tuple else f"[{inner}]"
    if kind is dict and depth < 3:
        pairs = [f"{_plain_repr(key, depth + 1) or f'<{_type_name(key)}>'}: "
                 f"{_plain_repr(value, depth + 1) or f'<{_type_name(value)}>'}"
                 for key, value in list(dict.items(x))[:20]]
        return "{" + ", ".join(pairs) + "}"
    return None


def _safe_repr(x, limit: int = 80) -> str:
    """``repr`` of a plain value shortened to ``limit`` characters; ``""`` for other objects,
    whose own ``__repr__`` is never called (it is student code, and may lie or raise)."""
    try:
        text = _plain_repr(x)
    except Exception:  # noqa: BLE001 - e.g. an int too large to print
        text = None
    if text is None:
        return ""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe(x) -> str:
    """``shape (4, 3) float32`` for arrays and tensors, the type name for anything else."""
    if _is(x, torch.Tensor):
        if _dispatches_to_python(x):
            return f"{_type_name(x)} (a tensor subclass with __torch_dispatch__)"
        try:
            plain = _plain_view(x)
        except TypeError:
            return f"{_type_name(x)} (a tensor without readable values)"
        text = f"shape {tuple(plain.shape)} {str(plain.dtype).removeprefix('torch.')}"
        return text if type(x) is torch.Tensor else f"{text} ({_type_name(x)})"
    if _is(x, np.ndarray) or type(x) in _NUMPY_SCALARS:
        array = _plain_array(x)
        return f"shape {array.shape} {array.dtype} (NumPy)"
    if _is(x, (list, tuple)):
        return f"{_type_name(x)} of length {len(_items(x))}"
    return _type_name(x)


def _got(x) -> str:
    """``shape (2, 3) float32`` or ``int 3``: what came back, for a message."""
    shown = _safe_repr(x)
    return f"{_describe(x)} {shown}" if shown else _describe(x)


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
        return str.__str__(actual) if _is(actual, str) else _wrong(actual, "a string")
    if type(expected) in (tuple, list):
        if not _is(actual, (tuple, list)):
            _wrong(actual, f"a {type(expected).__name__}")
        items = _items(actual)
        if len(items) != len(expected):
            raise TypeError(f"expected {len(expected)} items {_safe_repr(expected)}, "
                            f"got {len(items)} items {_safe_repr(actual)}")
        return type(expected)(_plain_like(a, e) for a, e in zip(items, expected))
    if type(expected) is dict:
        if not _is(actual, dict):
            _wrong(actual, "a dict")
        plain = {}
        for key, value in list(dict.items(actual)):
            key = _plain_key(key)
            plain[key] = _plain_like(value, expected[key]) if key in expected else _Shown(_got(value))
        return plain
    if type(actual) is not type(expected):
        _wrong(actual, f"a {_type_name(expected)}")
    return actual


def _plain_key(key):
    """A dict key as a plain value: its ``__hash__`` and ``__eq__`` decide dictionary lookups."""
    if type(key) in (str, int, bool, float, type(None)):
        return key
    if type(key) is tuple:
        return tuple(_plain_key(part) for part in _items(key))
    raise TypeError(f"expected dictionary keys that are strings or numbers, got a key of type "
                    f"{_type_name(key)}")


def _plain_float(x) -> float:
    try:
        values = as_float64(x)
    except TypeError:
        _wrong(x, "a number")
    return float(values.item()) if values.numel() == 1 else _wrong(x, "a single number")


def _single_element(x, kinds: str, what: str):
    if _is(x, torch.Tensor):
        tensor = _plain_view(x).detach().cpu()
        if tensor.numel() == 1 and _torch_kind(tensor.dtype) in kinds:
            return tensor.reshape(()).item()
    elif _is(x, (np.ndarray, np.generic)):
        array = _plain_array(x)
        if array.size == 1 and array.dtype.kind in kinds:
            return array.reshape(()).item()
    _wrong(x, what)


def _torch_kind(dtype: torch.dtype) -> str:
    if dtype == torch.bool:
        return "b"
    return "f" if dtype.is_floating_point or dtype.is_complex else "i"


def _plain_bool(x) -> bool:
    if type(x) is bool:
        return x
    return bool(_single_element(x, "b", "True or False"))


def _plain_int(x) -> int:
    if _is(x, int) and type(x) is not bool:
        return int.__int__(x)
    return int(_single_element(x, "iu", "an int (use int(...) if you computed it as a float)"))


def _plain_none(x):
    return None if x is None else _wrong(x, "None")


def _wrong(x, what: str):
    raise TypeError(f"expected {what}, got {_got(x)}")


def check_true(condition, message: str, *, hint: str = "") -> None:
    """Assert ``condition`` is ``True``; ``message`` says what should have held.

    ``condition`` must be a real boolean (``bool``, NumPy bool, or a one-element
    bool tensor): an object whose ``__bool__`` always answers ``True`` is rejected,
    and so is the result of comparing a student's object (``answer == 3`` is decided
    by the answer's ``__eq__``): compare plain values, ``float(answer) == 3``.

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
    shown = _safe_repr(obj)
    _fail(name, "wrong type", [f"expected {wanted}, got {_type_name(obj)}" + (f" {shown}" if shown else "")],
          hint or _type_hint(obj, kinds))


def _type_matches(obj, kind: type) -> bool:
    # issubclass(type(obj), ...) rather than isinstance: an object's __class__ may claim anything
    return type(obj) is kind if kind in _EXACT_TYPES else issubclass(type(obj), kind)


def _type_hint(obj, kinds: tuple[type, ...]) -> str:
    if int in kinds and _is(obj, torch.Tensor):
        return "convert a one-element tensor with .item() or int(...)"
    if float in kinds and _is(obj, (torch.Tensor, np.generic)):
        return "convert a one-element tensor with .item() or float(...)"
    if torch.Tensor in kinds and _is(obj, np.ndarray):
        return "convert with torch.from_numpy(...)"
    if torch.Tensor in kinds and _is(obj, torch.Tensor):
        return "return a plain torch.Tensor, not a subclass of it: e.g. x.as_subclass(torch.Tensor)"
    return ""


def plain_tensor(x, *, name: str = "result", hint: str = "") -> torch.Tensor:
    """``x`` as a plain ``torch.Tensor``, for a test to work with: same values, shape, dtype,
    device and autograd graph (``requires_grad``, ``.backward()``), shared memory.

    Use it on a tensor a student's code returned before reading anything from it
    (``.dtype``, ``==``, ``[mask]``, ``.tolist()``, ``.backward()``): a tensor subclass
    (``nn.Parameter``, torchvision's ``tv_tensors.Image``, or one with its own
    ``__torch_function__`` or ``__eq__``) is seen as the plain tensor it holds, and even an
    exact ``torch.Tensor`` comes back as a fresh object, without attributes code set on it.
    Fails with an ``AssertionError`` (``name``, ``hint``) for anything that is not a tensor.

    >>> type(plain_tensor(torch.nn.Parameter(torch.ones(2)))) is torch.Tensor
    True
    """
    if not _is(x, torch.Tensor):
        _fail(name, "wrong type", [f"expected a tensor (torch.Tensor), got {_got(x)}"],
              hint or _type_hint(x, (torch.Tensor,)) or "return a tensor, e.g. built with torch operations")
    try:
        return _plain_view(x)
    except TypeError as error:
        _fail(name, "wrong type", [str(error)], hint or "return a plain tensor, built with torch operations")


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
    if _is(inputs, torch.Tensor):
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
                # copies: the candidate cannot change the reference's output or the inputs
                expected = _copied(_seeded_call(reference, _copied(arguments), mode, seed))
                actual = _seeded_call(candidate, _copied(arguments), mode, seed)
                shapes = ", ".join(str(tuple(a.shape)) for a in arguments if _is(a, torch.Tensor))
                where = f"{name} in {mode} mode, input {position + 1} of {len(inputs)} (shape {shapes})"
                _compare_outputs(actual, expected, where, atol, rtol, hint)
    finally:
        for module, flag in saved:
            module.training = flag


def _training_flags(module) -> list[tuple[nn.Module, bool]]:
    return [(m, m.training) for m in nn.Module.modules(module)] if _is(module, nn.Module) else []


def _copied(value):
    """Tensors (also inside tuples and lists) copied as plain tensors; anything else as it is."""
    if _is(value, torch.Tensor):
        return _plain_view(value).detach().clone()
    if type(value) in (tuple, list):
        return type(value)(_copied(item) for item in value)
    return value


def _seeded_call(module: Callable, arguments: tuple, mode: str, seed: int):
    if _is(module, nn.Module):
        module.train(mode == "train")
    devices = sorted({a.device.index or 0 for a in arguments
                      if _is(a, torch.Tensor) and a.device.type == "cuda"})
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        torch.manual_seed(seed)
        return module(*arguments)


def _compare_outputs(actual, expected, where: str, atol: float, rtol: float, hint: str) -> None:
    if _is(expected, (tuple, list)):
        if not _is(actual, (tuple, list)) or len(_items(actual)) != len(_items(expected)):
            _fail(where, "wrong kind of output",
                  [f"expected {_describe(expected)}, got {_describe(actual)}"], hint)
        for index, (a, e) in enumerate(zip(_items(actual), _items(expected))):
            _compare_outputs(a, e, f"{where}, output {index}", atol, rtol, hint)
        return
    check_close(actual, expected, atol=atol, rtol=rtol, name=where, hint=hint)

