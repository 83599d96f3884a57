"""Element-wise maths written once for two shapes of the same numbers: numpy arrays (batch
scoring, large requests) and one user's Python floats (``serving.rowpath``: a numpy call on
an array of one element costs more than the arithmetic around it).

A formula takes its operators from Python (``+ - * / < >=`` work on both shapes) and every
function from ``xp``, :data:`ARRAYS` or :data:`FLOATS`; both give the same bits.
:data:`FLOATS` computes exp, expm1, log and powers with numpy's own functions on the float
(numpy's SIMD loops are not libm's: with AVX-512, ``math.exp``, ``math.expm1`` and ``**``
differ from numpy's in the last bit for 4-7% of inputs) and redoes numpy's interp, clip and
maximum on floats exactly (``tests/test_rowpath.py`` compares them).
"""

from __future__ import annotations

import bisect
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Maths:
    """The functions a formula calls, for one shape."""

    interp: Callable[[Any, Any, Any], Any]  # np.interp(x, xp, fp), xp ascending
    clip: Callable[[Any, float, float], Any]  # NaN stays NaN
    maximum: Callable[[Any, Any], Any]  # NaN wins
    at_least_zero: Callable[[Any], Any]  # np.maximum(x, 0.0): NaN stays, -0.0 becomes 0.0
    floor: Callable[[Any], Any]  # as whole numbers (array indices)
    minimum: Callable[[Any, Any], Any]  # of whole numbers
    where: Callable[[Any, Any, Any], Any]
    exp: Callable[[Any], Any]
    expm1: Callable[[Any], Any]
    log: Callable[[Any], Any]
    power: Callable[[Any, float], Any]  # ``**``: numpy's on arrays (other loops at 2, 0.5 ...)


def interp(x: float, xp: list[float], fp: list[float]) -> float:
    """``np.interp(x, xp, fp)`` of one value, as numpy's C loop computes it (``xp`` sorted)."""
    last = len(xp) - 1
    if last == 0:  # numpy's case of one point: its value everywhere, NaN included
        return fp[0]
    if x != x:
        return x
    j = bisect.bisect_right(xp, x) - 1
    if j < 0:
        return fp[0]
    if j >= last:
        return fp[last]
    if xp[j] == x:
        return fp[j]
    slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j])
    value = slope * (x - xp[j]) + fp[j]
    if value != value:  # numpy then tries from the other end
        value = slope * (x - xp[j + 1]) + fp[j + 1]
        if value != value and fp[j] == fp[j + 1]:
            value = fp[j]
    return value


def _clip(x: float, low: float, high: float) -> float:
    return x if x != x else min(max(x, low), high)


def _maximum(a: float, b: float) -> float:
    return a if (a >= b or a != a) else b


def _at_least_zero(x: float) -> float:
    return 0.0 if x <= 0.0 else x


def _numpys(function: np.ufunc) -> Callable[[float], float]:
    """``function`` of one float, by numpy's loop (a Python float in, a Python float out)."""
    return lambda x: float(function(x))


ARRAYS = Maths(
    interp=np.interp,
    clip=lambda x, low, high: np.clip(np.asarray(x, dtype=float), low, high),
    maximum=np.maximum,
    at_least_zero=lambda x: np.maximum(x, 0.0),
    floor=lambda x: np.floor(x).astype(int),
    minimum=np.minimum,
    where=np.where,
    exp=np.exp,
    expm1=np.expm1,
    log=np.log,
    power=operator.pow,
)
FLOATS = Maths(
    interp=interp,
    clip=_clip,
    maximum=_maximum,
    at_least_zero=_at_least_zero,
    floor=math.floor,
    minimum=min,
    where=lambda chosen, value, otherwise: value if chosen else otherwise,
    exp=_numpys(np.exp),
    expm1=_numpys(np.expm1),
    log=_numpys(np.log),
    power=lambda base, exponent: float(np.power(base, exponent)),  # ``**`` is libm's pow
)
