"""convtrain.checks: each check passes on a right answer, fails with a useful message on a
wrong one, and cannot be fooled by an object that lies about itself."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from convtrain.checks import (
    as_float64,
    check_close,
    check_equal,
    check_module_matches,
    check_shape,
    check_true,
    check_type,
    plain_tensor,
)

# ----------------------------------------------------------------- objects that lie

class AlwaysEqualTensor(torch.Tensor):
    """A tensor subclass that claims to be close to, and equal to, anything."""

    def __eq__(self, other):
        return True

    __hash__ = torch.Tensor.__hash__

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        result = super().__torch_function__(func, types, args, kwargs or {})
        if func in (torch.isclose, torch.allclose, torch.equal):
            return True if func is not torch.isclose else torch.ones_like(result, dtype=torch.bool)
        if func in (torch.Tensor.__sub__, torch.Tensor.abs, torch.Tensor.to, torch.Tensor.double):
            return torch.zeros_like(torch.Tensor.as_subclass(result, torch.Tensor))
        return result


def test_the_lying_tensor_fools_naive_comparisons():
    """Guards the tests below: they are only meaningful if the liar fools plain torch calls."""
    liar = torch.zeros(3).as_subclass(AlwaysEqualTensor)
    assert torch.allclose(liar, torch.ones(3)) and bool(torch.isclose(liar, torch.ones(3)).all())
    assert (liar - torch.ones(3)).abs().max() == 0


class LyingFloat(float):
    def __float__(self):
        return 2.0

    def __eq__(self, other):
        return True

    __hash__ = float.__hash__


class LyingInt(int):
    def __int__(self):
        return 7

    def __index__(self):
        return 7

    def __eq__(self, other):
        return True

    __hash__ = int.__hash__


class LyingStr(str):
    def __eq__(self, other):
        return True

    __hash__ = str.__hash__


class AlwaysTrue:
    def __bool__(self):
        return True


class FloatLike:
    def __float__(self):
        return 1.0


def message_of(check, *args, **kwargs) -> str:
    with pytest.raises(AssertionError) as caught:
        check(*args, **kwargs)
    return str(caught.value)


# ----------------------------------------------------------------- as_float64

@pytest.mark.parametrize("value, shape", [
    (3, ()), (2.5, ()), (True, ()), (np.float32(1.5), ()), (np.arange(6).reshape(2, 3), (2, 3)),
    ([[1, 2], [3, 4]], (2, 2)), ((1.0, 2.0, 3.0), (3,)), ([], (0,)),
    (torch.arange(4, dtype=torch.int32), (4,)), (torch.ones(2, 2, requires_grad=True), (2, 2)),
])
def test_as_float64_gives_plain_float64_copies(value, shape):
    result = as_float64(value)
    assert type(result) is torch.Tensor
    assert result.dtype == torch.float64 and result.device.type == "cpu"
    assert tuple(result.shape) == shape
    assert not result.requires_grad


def test_as_float64_copies_instead_of_sharing_memory():
    source = torch.zeros(3, dtype=torch.float64)
    result = as_float64(source)
    source += 1
    assert result.tolist() == [0.0, 0.0, 0.0]


def test_as_float64_reads_the_true_values_of_lying_objects():
    assert float(as_float64(LyingFloat(1.5))) == 1.5
    assert float(as_float64(LyingInt(3))) == 3.0
    liar = torch.tensor([1.0, 2.0]).as_subclass(AlwaysEqualTensor)
    assert type(as_float64(liar)) is torch.Tensor
    assert as_float64(liar).tolist() == [1.0, 2.0]


@pytest.mark.parametrize("value", ["1.0", None, FloatLike(), {"a": 1}, [[1, 2], [3]],
                                   torch.ones(2, dtype=torch.complex64), np.array(["a"])])
def test_as_float64_rejects_non_numeric_values_with_a_clear_message(value):
    with pytest.raises(TypeError, match="expected"):
        as_float64(value)


# ----------------------------------------------------------------- check_close

def test_check_close_passes_within_tolerance_and_across_input_types():
    x = torch.randn(4, 3, 8, 8)
    check_close(x, x.double() + 1e-9)
    check_close(x.numpy(), x)
    check_close(x.tolist(), x)
    check_close(0.1 + 0.2, 0.3)
    check_close(torch.tensor([float("nan"), float("inf")]), [float("nan"), float("inf")])


def test_check_close_reports_shape_dtype_location_and_hint():
    expected = torch.zeros(4, 3, 8, 8, dtype=torch.float64)
    actual = expected.clone()
    actual[0, 1, 2, 3] = 0.52
    text = message_of(check_close, actual, expected, name="standardize(x)", hint="divide by std")
    assert text.startswith("✗ standardize(x): values differ from the reference")
    assert "expected shape (4, 3, 8, 8) float64, got shape (4, 3, 8, 8) float64" in text
    assert "1 of 768 values differ" in text
    assert "largest difference 0.52 at index (0, 1, 2, 3) (expected 0, got 0.52)" in text
    assert text.rstrip().endswith("hint: divide by std")


def test_check_close_fails_on_nan_where_a_number_was_expected():
    text = message_of(check_close, torch.tensor([1.0, float("nan")]), torch.tensor([1.0, 2.0]))
    assert "at index (1,)" in text and "got nan" in text


def test_check_close_does_not_broadcast_and_explains_shapes():
    text = message_of(check_close, torch.zeros(3, 4), torch.zeros(4, 3))
    assert "wrong shape" in text and "expected shape (4, 3)" in text and "got shape (3, 4)" in text
    assert "permute/transpose" in text
    text = message_of(check_close, torch.zeros(4, 1), torch.zeros(4))
    assert "keepdim" in text


def test_check_close_cannot_be_fooled_by_a_lying_tensor_or_float():
    liar = torch.zeros(3).as_subclass(AlwaysEqualTensor)
    text = message_of(check_close, liar, torch.ones(3))
    assert "AlwaysEqualTensor" in text and "3 of 3 values differ" in text
    assert "(expected 2.5, got 1.5)" in message_of(check_close, LyingFloat(1.5), 2.5)
    assert "(expected 2, got 1.5)" in message_of(check_close, LyingFloat(1.5), 2.0)


def test_check_close_rejects_non_numeric_answers_with_a_hint():
    text = message_of(check_close, "0.5", 0.5, name="accuracy")
    assert "✗ accuracy: the returned value is not numeric" in text and "hint:" in text
    assert "not numeric" in message_of(check_close, FloatLike(), 1.0)


def test_check_close_uses_the_tolerances_it_is_given():
    check_close(1.001, 1.0, atol=1e-2)
    with pytest.raises(AssertionError, match="atol=1e-06"):
        check_close(1.001, 1.0)


# ----------------------------------------------------------------- check_shape

def test_check_shape_passes_and_accepts_wildcards():
    check_shape(torch.zeros(2, 3), (2, 3))
    check_shape(np.zeros((5, 3, 7)), (None, 3, None))
    check_shape(1.0, ())


def test_check_shape_fails_with_both_shapes_in_the_message():
    text = message_of(check_shape, torch.zeros(2, 3), (2, None, 3), name="features")
    assert "✗ features: wrong shape" in text
    assert "expected shape (2, any, 3), got shape (2, 3) float32" in text
    assert "keepdim" in message_of(check_shape, torch.zeros(2, 3), (2, 1, 3))


def test_check_shape_rejects_a_malformed_expected_shape():
    with pytest.raises(TypeError, match="ints or None"):
        check_shape(torch.zeros(2), (2.0,))


# ----------------------------------------------------------------- check_equal

def test_check_equal_passes_on_plain_values_and_one_element_tensors():
    check_equal(3, 3)
    check_equal(torch.tensor(3), 3)
    check_equal(np.int64(3), 3)
    check_equal(torch.tensor(True), True)
    check_equal("relu", "relu")
    check_equal(torch.Size([2, 3]), (2, 3))
    check_equal([1, (2, "a")], [1, (2, "a")])
    check_equal({"a": 1}, {"a": 1})
    check_equal(None, None)


def test_check_equal_fails_on_wrong_values_and_wrong_types():
    assert "expected 4, got 3" in message_of(check_equal, 3, 4, name="count")
    assert "wrong type" in message_of(check_equal, 3.0, 3)
    assert "wrong type" in message_of(check_equal, True, 1)
    assert "wrong type" in message_of(check_equal, 1, True)
    assert "expected 2 items" in message_of(check_equal, (1, 2, 3), (1, 2))
    assert "wrong type" in message_of(check_equal, torch.tensor([1, 2]), 1)
    assert "wrong value" in message_of(check_equal, {"a": 2}, {"a": 1})


def test_check_equal_cannot_be_fooled_by_subclasses_with_their_own_eq():
    assert "expected 4, got 3" in message_of(check_equal, LyingInt(3), 4)
    assert "wrong value" in message_of(check_equal, LyingStr("sigmoid"), "relu")
    assert "wrong value" in message_of(check_equal, (LyingInt(1),), (2,))


# ----------------------------------------------------------------- check_true

def test_check_true_passes_on_true_values():
    check_true(True, "ok")
    check_true(np.bool_(True), "ok")
    check_true(torch.tensor(2.0) > 1, "ok")


def test_check_true_fails_with_message_and_hint():
    text = message_of(check_true, False, "the loss should decrease", hint="lower the lr")
    assert text == "✗ check: the loss should decrease\n  hint: lower the lr"


def test_check_true_rejects_objects_that_are_not_booleans():
    assert "not a boolean" in message_of(check_true, AlwaysTrue(), "x")
    assert "not a boolean" in message_of(check_true, 1, "x")
    assert "not a boolean" in message_of(check_true, torch.tensor([True, True]), "x")


# ----------------------------------------------------------------- check_type

def test_check_type_passes_on_the_right_type():
    check_type(3, int)
    check_type(torch.zeros(1), torch.Tensor)
    check_type(nn.Sequential(nn.Linear(2, 2)), nn.Module)
    check_type(3.0, (int, float))


def test_check_type_is_exact_for_plain_types():
    assert "expected int, got bool" in message_of(check_type, True, int)
    liar = torch.zeros(1).as_subclass(AlwaysEqualTensor)
    assert "wrong type" in message_of(check_type, liar, torch.Tensor)
    assert "wrong type" in message_of(check_type, LyingFloat(1.0), float)
    assert ".item()" in message_of(check_type, torch.tensor(1), int)


def test_check_type_names_the_expected_class():
    text = message_of(check_type, nn.Linear(2, 2), nn.Conv2d, name="layer")
    assert "✗ layer: wrong type" in text and "torch.nn.modules.conv.Conv2d" in text


# ----------------------------------------------------------------- check_module_matches

class HandDropout(nn.Module):
    """Dropout written out: draws the same random numbers as nn.Dropout (bernoulli_ on a tensor)."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x):
        if not self.training:
            return x
        keep = torch.empty_like(x).bernoulli_(1 - self.p)
        return x * keep / (1 - self.p)


class DropoutAlwaysOn(HandDropout):
    def forward(self, x):
        keep = torch.empty_like(x).bernoulli_(1 - self.p)
        return x * keep / (1 - self.p)


def test_check_module_matches_passes_for_equal_implementations_in_both_modes():
    inputs = [torch.randn(8, 5), torch.randn(3, 2, 4)]
    check_module_matches(nn.Dropout(0.5), HandDropout(0.5), inputs)
    reference = nn.BatchNorm1d(5)
    candidate = nn.BatchNorm1d(5)
    check_module_matches(reference, candidate, [torch.randn(16, 5) for _ in range(3)])


def test_check_module_matches_fails_naming_the_mode_and_input():
    text = message_of(check_module_matches, nn.Dropout(0.5), DropoutAlwaysOn(0.5),
                      [torch.randn(8, 5)], name="MyDropout", hint="do nothing in eval mode")
    assert text.startswith("✗ MyDropout in eval mode, input 1 of 1 (shape (8, 5)): values differ")
    assert "hint: do nothing in eval mode" in text


def test_check_module_matches_compares_eval_after_train_updates_running_statistics():
    class NoRunningStats(nn.BatchNorm1d):
        def forward(self, x):
            return nn.functional.batch_norm(x, None, None, self.weight, self.bias, True)

    text = message_of(check_module_matches, nn.BatchNorm1d(4), NoRunningStats(4),
                      [torch.randn(32, 4) * 3 + 1])
    assert "in eval mode" in text


def test_check_module_matches_restores_every_submodule_mode():
    reference = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.1))
    candidate = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.1))
    candidate.load_state_dict(reference.state_dict())
    reference.eval()
    candidate.train()
    candidate[1].eval()  # a mixed state must come back exactly as it was
    check_module_matches(reference, candidate, torch.randn(4, 3))
    assert [m.training for m in reference.modules()] == [False, False, False]
    assert [m.training for m in candidate.modules()] == [True, True, False]


def test_check_module_matches_restores_modes_even_when_it_fails():
    candidate = DropoutAlwaysOn(0.5)
    candidate.train()
    with pytest.raises(AssertionError):
        check_module_matches(nn.Dropout(0.5), candidate, torch.randn(8, 5), modes=("eval",))
    assert candidate.training is True


def test_check_module_matches_leaves_the_global_random_stream_alone():
    torch.manual_seed(123)
    x = torch.randn(4, 4)
    check_module_matches(nn.Dropout(0.5), HandDropout(0.5), x)
    after_check = torch.rand(3)
    torch.manual_seed(123)
    torch.randn(4, 4)
    assert torch.equal(after_check, torch.rand(3))


def test_check_module_matches_handles_multiple_arguments_and_tuple_outputs():
    class Pair(nn.Module):
        def forward(self, a, b):
            return a + b, a * b

    class WrongPair(Pair):
        def forward(self, a, b):
            return a + b, a - b

    inputs = [(torch.randn(2, 3), torch.randn(2, 3))]
    check_module_matches(Pair(), Pair(), inputs)
    assert "output 1" in message_of(check_module_matches, Pair(), WrongPair(), inputs)


def test_check_module_matches_rejects_unknown_modes():
    with pytest.raises(ValueError, match="train"):
        check_module_matches(nn.Identity(), nn.Identity(), torch.zeros(1), modes=("training",))


# ----------------------------------------------------------------- no lie is ever consulted
# Each lie kind is a class whose methods record that they were called. A check must fail on
# such an object (it holds no honest value) without calling any of them.

CONSULTED: list[str] = []


def _lie(name, answer):
    def method(self, *args, **kwargs):
        CONSULTED.append(name)
        return answer(self, *args) if callable(answer) else answer
    return method


def _claims(kind):
    return property(lambda self: (CONSULTED.append("__class__"), kind)[1])


LIE_KINDS = {
    "__eq__": {"__eq__": _lie("__eq__", True), "__ne__": _lie("__ne__", False),
               "__hash__": _lie("__hash__", 0)},
    "__bool__": {"__bool__": _lie("__bool__", True)},
    "__len__": {"__len__": _lie("__len__", 2)},
    "__iter__": {"__iter__": _lie("__iter__", lambda self: iter([1.0, 1.0])),
                 "__getitem__": _lie("__getitem__", 1.0)},
    "__index__": {"__index__": _lie("__index__", 1), "__int__": _lie("__int__", 1)},
    "__float__": {"__float__": _lie("__float__", 1.0)},
    "__repr__": {"__repr__": _lie("__repr__", "tensor([1., 1.])"), "__str__": _lie("__str__", "relu"),
                 "__format__": _lie("__format__", "1")},
    "__getattr__": {"__getattr__": _lie("__getattr__", lambda self, name: self)},
    "__class__ claims torch.Tensor": {"__class__": _claims(torch.Tensor)},
    "__class__ claims tuple": {"__class__": _claims(tuple), "__len__": _lie("__len__", 2),
                               "__iter__": _lie("__iter__", lambda self: iter([1, 1]))},
    "__class__ claims int": {"__class__": _claims(int), "__int__": _lie("__int__", 1)},
    "__class__ claims nn.Module": {"__class__": _claims(nn.Module)},
    "__class__ claims np.ndarray": {"__class__": _claims(np.ndarray),
                                    "__array__": _lie("__array__", lambda self, *a: np.ones(2))},
    "__torch_function__": {"__torch_function__": classmethod(
        lambda cls, func, types, args=(), kwargs=None: (CONSULTED.append("__torch_function__"), True)[1])},
    "__array_ufunc__": {"__array_ufunc__": _lie("__array_ufunc__", True),
                        "__array_function__": _lie("__array_function__", True)},
}


def _every_check(value):
    """Each check (and a module whose output is ``value``) applied to ``value``."""
    yield "check_close", lambda: check_close(value, 1.0)
    yield "check_close (tensor)", lambda: check_close(value, torch.ones(2))
    for expected in (1, True, "relu", (1, 1), [1.0, 1.0], {"a": 1}, None):
        yield f"check_equal {expected!r}", lambda expected=expected: check_equal(value, expected)
    yield "check_true", lambda: check_true(value, "should hold")
    yield "check_shape", lambda: check_shape(value, (2,))
    for kind in (int, float, str, torch.Tensor, tuple, nn.Module, np.ndarray):
        yield f"check_type {kind.__name__}", lambda kind=kind: check_type(value, kind)
    yield "plain_tensor", lambda: plain_tensor(value)
    yield "check_module_matches", lambda: check_module_matches(nn.Identity(), lambda x: value, torch.ones(2))
    yield "check_module_matches (tuple)", lambda: check_module_matches(
        lambda x: (x, x), lambda x: value, torch.ones(2))


@pytest.mark.parametrize("kind", list(LIE_KINDS))
def test_no_check_believes_or_even_asks_a_lying_object(kind):
    liar = type("Liar", (), dict(LIE_KINDS[kind]))()
    for what, check in _every_check(liar):
        CONSULTED.clear()
        with pytest.raises(AssertionError) as caught:
            check()
        assert CONSULTED == [], f"{what} called {CONSULTED} of a liar ({kind})"
        assert "✗" in str(caught.value), what
    CONSULTED.clear()
    with pytest.raises(TypeError):
        as_float64(liar)
    assert CONSULTED == []


@pytest.mark.parametrize("base, stored, expected", [
    (int, 3, 4), (float, 0.5, 0.25), (str, "sigmoid", "relu"), (tuple, (1, 2), (2, 1)), (list, [1, 2], [2, 1]),
])
def test_subclasses_of_plain_types_are_read_through_their_base_type(base, stored, expected):
    lies = {name: method for kind in ("__eq__", "__bool__", "__len__", "__iter__", "__index__", "__float__",
                                      "__repr__", "__getattr__") for name, method in LIE_KINDS[kind].items()}
    if base in (int, float, str, tuple):
        lies["__hash__"] = base.__hash__
    liar = type("Liar" + base.__name__, (base,), lies)(stored)
    CONSULTED.clear()
    with pytest.raises(AssertionError, match="wrong value|values differ|wrong type"):
        if base is float:
            check_close(liar, expected)
        else:
            check_equal(liar, expected)
    check_equal(liar, stored) if base is not float else check_close(liar, stored)  # the stored value counts
    assert CONSULTED == []


class SpyTensor(torch.Tensor):
    """A tensor subclass whose __torch_function__ records every call and answers True."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        CONSULTED.append("__torch_function__")
        return True


def test_tensor_subclasses_are_read_without_their_torch_function():
    liar = torch.Tensor._make_subclass(SpyTensor, torch.zeros(2))
    CONSULTED.clear()
    assert "2 of 2 values differ" in message_of(check_close, liar, torch.ones(2))
    check_shape(liar, (2,))
    assert "wrong type" in message_of(check_type, liar, torch.Tensor)
    plain = plain_tensor(liar)
    assert type(plain) is torch.Tensor and plain.dtype == torch.float32 and plain.tolist() == [0.0, 0.0]
    assert CONSULTED == []


class DispatchTensor(torch.Tensor):
    """A wrapper tensor whose every operation runs its own Python code (__torch_dispatch__)."""

    @staticmethod
    def __new__(cls, values):
        return torch.Tensor._make_wrapper_subclass(cls, values.shape, dtype=values.dtype)

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        CONSULTED.append(str(func))
        return torch.ones(2, dtype=torch.bool)

    __torch_function__ = torch._C._disabled_torch_function_impl


def test_torch_dispatch_tensors_are_refused_without_running_their_code():
    liar = DispatchTensor(torch.zeros(2))
    CONSULTED.clear()
    assert "__torch_dispatch__" in message_of(check_close, liar, torch.ones(2))
    assert "__torch_dispatch__" in message_of(plain_tensor, liar)
    for check in (lambda: check_shape(liar, (2,)), lambda: check_true(liar, "x"),
                  lambda: check_equal(liar, 1)):
        with pytest.raises(AssertionError):
            check()
    assert CONSULTED == []


def test_numpy_scalar_subclasses_are_refused():
    class LyingInt64(np.int64):
        def __int__(self):
            CONSULTED.append("__int__")
            return 4

    CONSULTED.clear()
    assert "wrong type" in message_of(check_equal, LyingInt64(3), 4)
    assert "not numeric" in message_of(check_close, LyingInt64(3), 4.0)
    assert CONSULTED == []
    check_equal(np.int64(4), 4)  # NumPy's own scalars are fine
    check_close(np.float32(0.5), 0.5)


def test_dictionary_keys_that_lie_are_refused():
    key = type("Key", (), dict(LIE_KINDS["__eq__"]))()
    answer = {key: 1}  # building the dict asks the key's __hash__; the check must not ask again
    CONSULTED.clear()
    assert "keys that are strings or numbers" in message_of(check_equal, answer, {"a": 1})
    assert CONSULTED == []
    assert "wrong value" in message_of(check_equal, {"a": 1, "b": 2}, {"a": 1})


def test_messages_never_show_a_students_repr():
    liar = type("Liar", (), dict(LIE_KINDS["__repr__"]))()
    CONSULTED.clear()
    text = message_of(check_type, liar, int, name="answer")
    assert "expected int, got test_checks.Liar" in text and "tensor(" not in text
    assert CONSULTED == []


def test_check_module_matches_gives_the_candidate_copies():
    """A candidate that overwrites its input in place cannot change the reference's output."""
    class ZeroesItsInput(nn.Module):
        def forward(self, x):
            return x.zero_()

    x = torch.ones(3, 4)
    assert "values differ" in message_of(check_module_matches, lambda t: t, ZeroesItsInput(), [x], modes=("eval",))
    assert x.tolist() == torch.ones(3, 4).tolist()


# ----------------------------------------------------------------- plain_tensor

def test_plain_tensor_keeps_values_dtype_and_autograd():
    weight = nn.Parameter(torch.tensor([1.0, 2.0], dtype=torch.float64))
    plain = plain_tensor(weight * 3)
    assert type(plain) is torch.Tensor and plain.dtype == torch.float64 and plain.requires_grad
    plain.sum().backward()
    assert weight.grad.tolist() == [3.0, 3.0]
    assert type(plain_tensor(weight)) is torch.Tensor


def test_plain_tensor_drops_attributes_set_on_the_tensor():
    answer = torch.tensor([1, 2])
    answer.tolist = lambda: [7, 7]  # an instance attribute shadows the method on `answer` itself
    assert plain_tensor(answer).tolist() == [1, 2]


def test_plain_tensor_fails_on_anything_else_with_a_hint():
    text = message_of(plain_tensor, [1.0, 2.0], name="dropout(x)")
    assert text.startswith("✗ dropout(x): wrong type") and "list of length 2" in text and "hint:" in text
    assert "torch.from_numpy" in message_of(plain_tensor, np.zeros(2))
