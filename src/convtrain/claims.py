"""Measured claims: the number a lesson measured, printed beside what the lesson says, and asserted.

Every sentence of a lesson that states a measured result goes through :func:`claim`:

>>> import convtrain as ct
>>> ratio = ct.claim("bn_loss_ratio", 0.41, expect="< 0.6",
...                  why="the BN net reaches this fraction of its initial loss in 60 steps")
✓ the BN net reaches this fraction of its initial loss in 60 steps: 0.41 (claim: < 0.6)

A claim that does not hold raises :class:`ClaimError` (an ``AssertionError``) that says
what was measured, what the lesson claims and what to do. Two kinds:

- ``kind="measurement"`` (the default): an experiment's outcome, which *could* come out
  otherwise if the technique did not work;
- ``kind="check"``: an identity (two formulations of one thing agree, Jensen's
  inequality, a shape): it guards the code, it measures nothing, and is labelled so.

``needs="pretrained weights"`` or ``needs="real data"`` marks a claim that only means
something with the real thing: in a full-profile rehearsal on stand-ins
(``CONVTRAIN_REHEARSAL=1``) it is recorded as *not checkable in a rehearsal* and not
asserted, never counted as held.

Each claim is kept in :data:`recorded` and, when ``CONVTRAIN_CLAIMS_FILE`` names a file,
appended to it as one JSON line (``convtrain claims`` prints the course's table from it).
"""

from __future__ import annotations

import json
import math
import os
import re

__all__ = ["ClaimError", "claim", "recorded"]

CLAIMS_FILE_VARIABLE = "CONVTRAIN_CLAIMS_FILE"
REHEARSAL_VARIABLE = "CONVTRAIN_REHEARSAL"
KINDS = ("measurement", "check")
_COMPARISON = re.compile(r"^\s*(<=|>=|==|<|>)\s*(\S+)\s*$")
_BETWEEN = re.compile(r"^\s*between\s+(\S+)\s+and\s+(\S+)\s*$")

recorded: list[dict] = []  # every claim made in this process, in order


class ClaimError(AssertionError):
    """A lesson's claim did not hold on this run."""


def claim(id: str, value, *, expect: str, why: str, kind: str = "measurement",
          needs: str | None = None, lesson: str | None = None):
    """Print ``value`` beside the lesson's claim ``expect`` about it, assert it, record it.

    Args:
        id: short name, unique within the lesson (``"bn_loss_ratio"``).
        value: what the experiment measured: a number or a bool.
        expect: the claim about it: ``"< 0.6"``, ``">= 0.9"``, ``"== 0"``,
            ``"between 0.2 and 0.5"`` (inclusive), or ``"true"`` / ``"false"``.
        why: the lesson's sentence, as the student reads it, saying what was measured.
        kind: ``"measurement"`` or ``"check"`` (an identity; see the module docstring).
        needs: ``"pretrained weights"`` or ``"real data"`` when the claim means nothing on
            stand-ins; in a rehearsal it is reported as not checkable.
        lesson: the lesson id; default: the notebook's folder when it is named ``NN_topic``.

    Returns:
        ``value``, so that a cell can go on using it.

    Raises:
        ClaimError: when the claim does not hold (not in a rehearsal for a ``needs`` claim).
        ValueError: when ``expect`` or ``kind`` cannot be read.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    number = _plain(value)
    holds = _holds(number, expect)
    rehearsal = os.environ.get(REHEARSAL_VARIABLE, "") not in ("", "0")
    checkable = not (rehearsal and needs)
    entry = {"lesson": lesson or _lesson(), "id": id, "value": number, "expect": expect,
             "why": why, "kind": kind, "needs": needs, "profile": _profile_name(),
             "rehearsal": rehearsal, "held": holds if checkable else None}
    recorded.append(entry)
    _append(entry)
    label = "" if kind == "measurement" else "check: "
    shown = f"{why}: {_format(number)} (claim: {expect.strip()})"
    if not checkable:
        print(f"- {label}{shown}: not checkable in a rehearsal (needs {needs})")
    elif holds:
        print(f"✓ {label}{shown}")
    else:
        raise ClaimError(
            f"✗ {label}{why}: measured {_format(number)}, but the lesson claims {expect.strip()} "
            f"[claim {id!r}].\nhint: the cells above produce this number; if you changed one, "
            "run the notebook again from the top (Kernel → Restart & Run All). If it fails on "
            "an unchanged notebook, the lesson is wrong: please report it.")
    return value


def _plain(value) -> float | bool:
    """A plain Python bool or float (a tensor or NumPy scalar is converted; anything else refused)."""
    if isinstance(value, bool):
        return value
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", 0) == 0:
        value = item()
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return bool(value)
    if isinstance(value, (int, float)):
        return float(value)
    raise ValueError(f"a claim's value must be a number or a bool, got {type(value).__name__}")


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"cannot read {text!r} as a number in a claim's expect") from None


def _holds(value: float | bool, expect: str) -> bool:
    """Whether ``value`` meets ``expect``.

    >>> _holds(0.4, "< 0.6"), _holds(3.0, "between 1 and 3"), _holds(True, "true")
    (True, True, True)
    """
    text = expect.strip().lower()
    if text in ("true", "false"):
        return bool(value) is (text == "true")
    if isinstance(value, bool):
        raise ValueError(f"a bool value takes expect='true' or 'false', got {expect!r}")
    if math.isnan(value):
        return False
    between = _BETWEEN.match(text)
    if between:
        low, high = (_number(part) for part in between.groups())
        return low <= value <= high
    comparison = _COMPARISON.match(text)
    if not comparison:
        raise ValueError(f"expect must read like '< 0.6', '>= 2', '== 0', 'between 0.2 and 0.5' "
                         f"or 'true', got {expect!r}")
    operator, bound = comparison.group(1), _number(comparison.group(2))
    return {"<": value < bound, "<=": value <= bound, ">": value > bound,
            ">=": value >= bound, "==": value == bound}[operator]


def _format(value: float | bool) -> str:
    if isinstance(value, bool):
        return str(value)
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
        return f"{value:.3g}"
    return f"{value:.4g}"


def _lesson() -> str | None:
    folder = os.path.basename(os.getcwd())
    return folder if re.match(r"^\d\d_[a-z0-9_]+$", folder) else None


def _profile_name() -> str:
    from convtrain.runtime import profile

    try:
        return profile().name
    except ValueError:
        return os.environ.get("CONVTRAIN_PROFILE", "?")


def _append(entry: dict) -> None:
    path = os.environ.get(CLAIMS_FILE_VARIABLE)
    if not path:
        return
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    line = json.dumps(entry, ensure_ascii=False) + "\n"
    # One write of one line with O_APPEND: kernels of parallel test workers share the file.
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(descriptor, line.encode())
    finally:
        os.close(descriptor)
