"""Buy-till-you-die inputs and outputs of as-of feature rows (``lifecycle.btyd``'s models):
frequency / recency / T from a user's purchase features, the purchase process fitted on a
cutoff's users, and P(alive) and expected purchases per row, for training, batch scoring
and (as floats, ``serving.rowpath``) a request of a few users.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from lifecycle.btyd import (
    BGNBD,
    MBGNBD,
    _validate_rfm,
    purchase_model,
)
from lifecycle.maths import ARRAYS, Maths

# A user's purchase history as the BTYD models read it: orders, days since the first and
# since the last purchase (``rfm_of_values``).
PURCHASE_HISTORY = ("orders_total", "first_purchase_age_days", "purchase_recency_days")


def rfm_from_features(features: pd.DataFrame, unit_days: float = 7.0) -> pd.DataFrame:
    """frequency / recency / T from as-of feature rows (NaN for users without a purchase).

    Repeat purchases are ``orders_total - 1`` (orders, not calendar days as in
    :func:`rfm_summary`), so a model fitted and applied on feature rows agrees with itself.
    """
    frequency, recency, age = rfm_of_columns(
        lambda name: features[name].astype(float).to_numpy(), unit_days
    )
    return pd.DataFrame(
        {"frequency": frequency, "recency": recency, "T": age}, index=features.index
    )


def rfm_of_columns(
    column: Callable[[str], np.ndarray], unit_days: float = 7.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`rfm_from_features` (frequency, recency, T) from float feature columns."""
    orders, first, last = (column(name) for name in PURCHASE_HISTORY)
    customer = (orders >= 1) & np.isfinite(first) & np.isfinite(last)
    nan = np.full(len(orders), np.nan)
    return tuple(  # type: ignore[return-value]
        np.where(customer, v, nan) for v in rfm_of_values(orders, first, last, unit_days)
    )


def rfm_of_values(orders: Any, first: Any, last: Any, unit_days: float, xp: Maths = ARRAYS) -> Any:
    """(frequency, recency, T) of customers' orders and days since their first and last
    purchase: arrays, or with ``FLOATS`` one customer's floats."""
    return (
        orders - 1,
        xp.at_least_zero(first - last) / unit_days,
        xp.at_least_zero(first) / unit_days,
    )


def purchase_outlook(
    params: dict[str, float], features: pd.DataFrame, horizon_days: float
) -> pd.DataFrame:
    """``p_alive`` and ``expected_purchases`` in the horizon per feature row, from fitted
    BG/NBD parameters; NaN for users without a purchase (not customers in BG/NBD terms)."""
    p_alive, expected = outlook_of_columns(
        params, lambda name: features[name].astype(float).to_numpy(), horizon_days
    )
    return pd.DataFrame(
        {"p_alive": p_alive, "expected_purchases": expected}, index=features.index, dtype=float
    )


def outlook_of_columns(
    params: dict[str, float], column: Callable[[str], np.ndarray], horizon_days: float
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`purchase_outlook` (p_alive, expected purchases) from float feature columns."""
    model = purchase_model(params)
    frequency, recency, age = rfm_of_columns(column)
    customer = ~np.isnan(frequency)
    p_alive, expected = np.full(len(frequency), np.nan), np.full(len(frequency), np.nan)
    if customer.any():
        x, t_x, t_obs = _validate_rfm(frequency[customer], recency[customer], age[customer])
        horizon = np.full(x.shape, horizon_days / 7.0)
        p_alive[customer], expected[customer] = model._outlook(horizon, x, t_x, t_obs)
    return p_alive, expected


def fit_purchase_process(
    features: pd.DataFrame, kind: type[BGNBD] = MBGNBD
) -> dict[str, float] | None:
    """``kind``'s parameters (MBG/NBD unless told) fitted on the customers of feature rows
    (one cutoff), with ``first`` naming the model (:func:`purchase_model`); None when they
    cannot be fitted (:func:`purchase_process` says why)."""
    return purchase_process(features, kind)[0]


def purchase_process(
    features: pd.DataFrame, kind: type[BGNBD] = MBGNBD, who: str = "customers"
) -> tuple[dict[str, float] | None, str | None]:
    """:func:`fit_purchase_process` and None; or None and why it cannot be fitted, in words
    with the count (``who``: what its rows are, the customers or users active on a day;
    ``BGNBD.fit_for_forecast``, the backtest baseline's rule too)."""
    rfm = rfm_from_features(features).dropna()
    model, why = kind.fit_for_forecast(rfm["frequency"], rfm["recency"], rfm["T"], who)
    if model is None:
        return None, why
    return dict(zip(("r", "alpha", "a", "b"), model.params, strict=True)) | {
        "first": float(kind.FIRST)
    }, None


# p_alive tells who has left only where the fitted process judges some customer more likely
# gone than alive: a log of one row a customer and day (a grocery export, online_retail
# counted so) fits a dropout on its bound (MBG/NBD's mean a/(a+b) 3.8e-11), so every
# customer is alive to within 1e-9, and p_alive carries nothing to rank by (trial P).
GONE = 0.5
FLAT_P_ALIVE = "p_alive_flat"  # a bundle's data_window key and a TrainResult report's


def flat_p_alive(params: dict[str, float], features: pd.DataFrame) -> dict[str, Any] | None:
    """When no customer of ``features`` (the rows the process was fitted on) has a p_alive
    under ``GONE``: the least of them, how many, and the fitted dropout (``a``, ``b``; a
    customer's chance of leaving after a purchase has mean a / (a + b)); None otherwise."""
    p_alive = purchase_outlook(params, features, 7.0)["p_alive"].dropna()
    if p_alive.empty or p_alive.min() < GONE:
        return None
    return {
        "least": round(float(p_alive.min()), 6),
        "median": round(float(p_alive.median()), 6),
        "customers": len(p_alive),
        "dropout_mean": float(params["a"] / (params["a"] + params["b"])),
    }


def flat_p_alive_line(flat: dict[str, Any]) -> str:
    """train's one line for :func:`flat_p_alive`."""
    return (
        "p_alive carries little here: the purchase process's dropout is negligible (a "
        f"customer leaves after a purchase with a chance of {flat['dropout_mean']:.2g} on "
        f"average), so no customer of {flat['customers']:,} is more likely gone than alive "
        f"(lowest p_alive {flat['least']:.6g}, median {flat['median']:.6g}); rank by churn "
        "probability or expected_purchases"
    )
