"""Quantiles of a zero-inflated value: 0 with probability 1 - P(any value), else a value whose
conditional quantiles the LTV's quantile models give (``lifecycle.bundle``), on arrays or,
with ``FLOATS``, on one row (``serving.rowpath``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from lifecycle.maths import ARRAYS, Maths


def mixture_quantiles(
    purchase: np.ndarray, levels: np.ndarray, conditional: np.ndarray, wanted: tuple[float, ...]
) -> np.ndarray:
    """Quantiles ``wanted`` of a value that is 0 with probability ``1 - purchase`` and else
    has the quantiles ``conditional`` (rows x ``levels``, sorted), rows x ``wanted``
    (:func:`mixture_quantiles_of` the rows)."""
    rows = np.arange(len(conditional))
    return np.column_stack(
        mixture_quantiles_of(
            purchase, levels, np.arange(len(levels)), lambda k: conditional[rows, k], wanted
        )
    )


def mixture_quantiles_of(
    purchase: Any,
    levels: Any,
    positions: Any,
    conditional_at: Any,
    wanted: tuple[float, ...],
    xp: Maths = ARRAYS,
) -> list[Any]:
    """The mixture's quantiles ``wanted`` of rows (or with ``FLOATS``, of one row), never
    crossing: level q maps to the conditional level (q - (1 - p)) / p, interpolated between
    the fitted ``levels`` (at ``positions`` 0, 1, ...; ``conditional_at(k)`` the k-th
    quantile) and held at the end ones beyond them; 0 when q <= 1 - p."""
    p = xp.clip(purchase, 1e-9, 1.0)
    last = len(levels) - 1
    out: list[Any] = []
    for level in wanted:
        inner = (level - (1.0 - p)) / p
        position = xp.interp(inner, levels, positions)  # fractional column
        low = xp.floor(position)
        weight = position - low
        high = xp.minimum(low + 1, last)
        value = (1 - weight) * conditional_at(low) + weight * conditional_at(high)
        value = xp.where(inner > 0, value, 0.0)
        out.append(value if not out else xp.maximum(out[-1], value))
    return out


def zero_below(
    purchase: Any, quantiles: list[Any], wanted: tuple[float, ...], xp: Maths = ARRAYS
) -> list[Any]:
    """``quantiles`` (one per level ``wanted``) of a value that is 0 with probability
    ``1 - purchase``: 0 wherever q <= 1 - p. A blend's quantiles, each the weighted mean of
    two parts' (``ModelBundle.blends_interval``), are 0 only where both parts' are, which is
    the zero mass of the likelier buyer, not of the P(any value) served beside them."""
    return [
        xp.where(level <= 1.0 - purchase, 0.0, value)
        for level, value in zip(wanted, quantiles, strict=True)
    ]
