"""Let a workshop run top to bottom before its exercises are done.

An experiment that uses an exercise's function wraps it with :func:`with_fallback`:
while the student's version raises ``NotImplementedError`` (the released stub does), the
experiment runs with a stand-in (usually torch's own version) and says so once.

>>> def my_relu(x):
...     raise NotImplementedError()
>>> relu = with_fallback(my_relu, lambda x: max(x, 0.0), name="my_relu")
>>> relu(-2.0)
ℹ my_relu is not written yet (its exercise still raises NotImplementedError): this experiment uses a stand-in. Solve the exercise and run this cell again to see yours.
0.0
>>> relu(3.0)   # the note is printed once
3.0
"""

from __future__ import annotations

import functools
from collections.abc import Callable

__all__ = ["with_fallback"]


def with_fallback(yours: Callable, fallback: Callable, name: str | None = None) -> Callable:
    """A function that calls ``yours``, or ``fallback`` while ``yours`` is not written yet.

    Only ``NotImplementedError`` switches to ``fallback`` (any other error is a bug in
    ``yours`` and is raised as usual); the switch is printed the first time.
    """
    label = name or getattr(yours, "__name__", "this function")
    state = {"noted": False}

    @functools.wraps(yours)
    def call(*args, **kwargs):
        try:
            return yours(*args, **kwargs)
        except NotImplementedError:
            if not state["noted"]:
                state["noted"] = True
                print(f"ℹ {label} is not written yet (its exercise still raises "
                      "NotImplementedError): this experiment uses a stand-in. Solve the exercise "
                      "and run this cell again to see yours.")
            return fallback(*args, **kwargs)

    call.uses_fallback = lambda: state["noted"]
    return call
