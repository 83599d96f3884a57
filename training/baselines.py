"""Baselines every model is compared with, on the same test rows.

Churn and conversion: a recency rule and an RFM score (quintiles fitted on the training
rows). LTV: last period's value, and BG/NBD + Gamma-Gamma fitted on the purchase history
up to the test cutoff.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from features import contract as c
from features.asof import AS_OF
from lifecycle.sql import literal
from training.btyd import BGNBD, BTYDError, GammaGamma, expected_value, rfm_summary


def _quintile_score(train: pd.Series, test: pd.Series) -> np.ndarray:
    """1..5 by the training quintile edges (more is higher); ties and zeros share a score."""
    edges = np.unique(np.nanquantile(train.to_numpy(dtype=float), [0.2, 0.4, 0.6, 0.8]))
    return 1 + np.searchsorted(
        edges, test.fillna(train.median()).to_numpy(dtype=float), side="right"
    )


def rfm_score(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    """Classic RFM: recent, frequent, big spenders score high (3..15)."""
    recency = _quintile_score(-train["recency_days"], -test["recency_days"])
    frequency = _quintile_score(train["orders_total"], test["orders_total"])
    monetary = _quintile_score(train["revenue_total"], test["revenue_total"])
    return (recency + frequency + monetary).astype(float)


def classification_baselines(
    task: str, train: pd.DataFrame, test: pd.DataFrame
) -> dict[str, np.ndarray]:
    """Scores where higher means more likely (churn: silent and low RFM; conversion: the reverse)."""
    recency = test["recency_days"].fillna(test["tenure_days"]).to_numpy(dtype=float)
    rfm = rfm_score(train, test)
    if task == "churn":
        return {"recency_rule": recency, "rfm_score": -rfm}
    return {"recency_rule": -recency, "rfm_score": rfm}


def last_period_value(test: pd.DataFrame, horizon_days: int, windows: list[int]) -> np.ndarray:
    """Net revenue of the last period as long as the horizon (scaled from the nearest window)."""
    window = min((w for w in windows if w >= horizon_days), default=max(windows))
    net = test[f"revenue_{window}d"] - test[f"refund_amount_{window}d"]
    return np.maximum(net.to_numpy(dtype=float), 0.0) * horizon_days / window


def bgnbd_value(events_path: Path, test: pd.DataFrame, horizon_days: int) -> np.ndarray:
    """BG/NBD + Gamma-Gamma expected revenue in the horizon, fitted on history up to the cutoff."""
    import duckdb

    as_of = pd.Timestamp(test[AS_OF].iloc[0])
    orders = duckdb.sql(
        f"""SELECT {c.USER_ID} AS user_id, {c.EVENT_TIME} AS order_time, sum({c.AMOUNT}) AS value
            FROM read_parquet({literal(events_path)})
            WHERE {c.EVENT_TYPE} = '{c.PURCHASE}' AND {c.EVENT_TIME} <= '{as_of.isoformat()}'::TIMESTAMPTZ
            GROUP BY ALL"""
    ).df()
    summary = rfm_summary(orders, as_of)
    bgnbd = BGNBD.fit(summary["frequency"], summary["recency"], summary["T"])
    try:
        gamma = GammaGamma.fit(summary["frequency"], summary["monetary_value"])
        value = pd.Series(expected_value(bgnbd, gamma, summary, horizon_days), index=summary.index)
    except BTYDError:
        # No repeat buyers to fit spend on: fall back to the mean order value of everyone.
        purchases = bgnbd.expected_purchases(
            horizon_days / 7.0, summary["frequency"], summary["recency"], summary["T"]
        )
        value = pd.Series(purchases * orders["value"].mean(), index=summary.index)
    # Users without a purchase are not customers in BG/NBD terms: no expected value.
    return test[c.USER_ID].map(value).fillna(0.0).to_numpy(dtype=float)
