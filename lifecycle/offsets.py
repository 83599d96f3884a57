"""Boosting from the purchase process: a booster's starting raw score (LightGBM's
``init_score``) per user, from a fitted BG/NBD or MBG/NBD, so that the trees learn what
the purchase process misses instead of the level it already knows.

Each booster starts on its own scale: the log-odds of buying in the horizon (LTV's
purchase part, conversion) or of not buying (churn), the log of the value given a
purchase (LTV's Gamma booster: expected purchases given at least one, times the user's
average order value), and log(1 + that value) for the value quantiles (``log1p`` scale).
A user the process says nothing about (no purchase yet) starts from a constant learned
on the training rows (``fallback``). The raw score is then start + trees.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from features.asof import AS_OF
from lifecycle.btyd import BGNBD, purchase_model
from lifecycle.btyd_features import fit_purchase_process, outlook_of_columns, rfm_of_columns

PURCHASE = "purchase"  # log-odds of any purchase in the horizon
NO_PURCHASE = "no_purchase"  # log-odds of none (churn: no activity)
LOG_VALUE = "log_value"  # log E[value | a purchase]
LOG1P_VALUE = "log1p_value"  # log(1 + E[value | a purchase])
ROLES = (PURCHASE, NO_PURCHASE, LOG_VALUE, LOG1P_VALUE)
INIT_SCORE = "_init_score"  # a booster's rows: their start, filled (what LightGBM gets)
COLUMN = "_start_{role}"  # a training row's start, from the process fitted at its own cutoff


def start_column(role: str) -> str:
    return COLUMN.format(role=role)


def starts_of_columns(
    params: Mapping[str, float], column: Callable[[str], np.ndarray], horizon_days: float
) -> dict[str, np.ndarray]:
    """Every role's start per user (NaN where the user has no purchase yet)."""
    model = purchase_model(params)
    p_alive, expected = outlook_of_columns(dict(params), column, horizon_days)
    frequency, _, age = rfm_of_columns(column)
    # Given alive, BG/NBD (and MBG/NBD) drop out only right after a purchase, so no purchase
    # in the horizon is exp(-lambda t) with lambda ~ Gamma(r + x, alpha + T).
    with np.errstate(invalid="ignore"):
        silent = ((model.alpha + age) / (model.alpha + age + horizon_days / 7.0)) ** (
            model.r + frequency
        )
    bought = np.clip(p_alive * (1.0 - silent), 1e-7, 1 - 1e-7)
    value = expected / bought * column("avg_order_value")
    with np.errstate(divide="ignore", invalid="ignore"):
        log_value = np.where(value > 0, np.log(value), np.nan)
    return {
        PURCHASE: np.log(bought / (1.0 - bought)),
        NO_PURCHASE: np.log((1.0 - bought) / bought),
        LOG_VALUE: log_value,
        LOG1P_VALUE: np.log1p(np.where(value > 0, value, np.nan)),
    }


def with_start_columns(
    frame: pd.DataFrame, horizon_days: float, kind: type[BGNBD]
) -> tuple[pd.DataFrame, dict[pd.Timestamp, dict[str, float] | None]]:
    """``frame`` with each role's start column, every cutoff's rows from the process fitted
    on that cutoff's rows alone (no row sees a later cutoff), and those fits by cutoff."""
    fits = {t: fit_purchase_process(rows, kind=kind) for t, rows in frame.groupby(AS_OF)}
    columns = {role: np.full(len(frame), np.nan) for role in ROLES}
    position = np.arange(len(frame))
    for cutoff, params in fits.items():
        if params is None:
            continue
        rows = (frame[AS_OF] == cutoff).to_numpy()
        part = frame.loc[rows]
        starts = starts_of_columns(
            params, lambda name, part=part: part[name].astype(float).to_numpy(), horizon_days
        )
        for role, values in starts.items():
            columns[role][position[rows]] = values
    return frame.assign(**{start_column(role): columns[role] for role in ROLES}), fits


def fallback(role: str, label: np.ndarray, start: np.ndarray) -> float:
    """The start of rows without one: the training rows' own level there (all rows' when
    every row has one)."""
    missing = ~np.isfinite(start)
    outcome = label[missing] if missing.any() else label
    if role in (PURCHASE, NO_PURCHASE):
        rate = float(np.clip(np.mean(outcome), 1e-6, 1 - 1e-6))
        return float(np.log(rate / (1.0 - rate)))
    positive = outcome[outcome > 0]
    mean = float(np.mean(positive)) if len(positive) else 1.0
    return float(np.log(mean)) if role == LOG_VALUE else float(np.mean(np.log1p(positive)))


def filled(start: np.ndarray, constant: float) -> np.ndarray:
    return np.where(np.isfinite(start), start, constant)


def bundle_start(
    boost_start: Mapping[str, Any], part: str, column: Callable[[str], np.ndarray]
) -> tuple[str, np.ndarray] | None:
    """A bundle's booster ``part`` (``booster``, ``purchase_booster``, ``quantile_boosters``):
    its role and its start per row of the model's input; None when it has no start."""
    role = boost_start["roles"].get(part)
    if role is None:
        return None
    starts = starts_of_columns(boost_start["process"], column, boost_start["horizon_days"])
    return role, filled(starts[role], boost_start["fallback"][role])


def finished(role: str, raw: np.ndarray) -> np.ndarray:
    """A booster's prediction from its raw score (start + trees), as LightGBM's own: a
    probability, a Gamma mean or a quantile of log(1 + value)."""
    if role in (PURCHASE, NO_PURCHASE):
        return 1.0 / (1.0 + np.exp(-raw))
    return np.exp(raw) if role == LOG_VALUE else raw
