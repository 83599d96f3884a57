"""Segments as of a date, from the as-of features (and the churn score where there is one).

Definitions are versioned: a list or report names the version it used.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

STAGES_VERSION = "stages_v1"
STAGES = ("new", "active", "at_risk", "silent", "churned", "reactivated")
NEW_DAYS = 30  # tenure up to this is "new"
SILENT_DAYS = 30  # no activity for longer than this is "silent"
CHURNED_DAYS = 90  # ... and longer than this "churned"
AT_RISK_PROBABILITY = 0.5


def lifecycle_stage(
    features: pd.DataFrame, churn_probability: pd.Series | None = None
) -> np.ndarray:
    """One stage per user; the first rule that matches wins, in the order of the checks below."""
    tenure = features["tenure_days"].astype(float).fillna(0).to_numpy()
    recency = features["recency_days"].astype(float).fillna(np.inf).to_numpy()
    recent = features["active_days_30d"].astype(float).fillna(0).to_numpy()
    quarter = features["active_days_90d"].astype(float).fillna(0).to_numpy()
    risk = (
        np.zeros(len(features), dtype=bool)
        if churn_probability is None
        else pd.Series(churn_probability).astype(float).fillna(0).to_numpy() >= AT_RISK_PROBABILITY
    )
    # Back after a gap: active now, nothing in the 60 days before the last 30, and not new.
    returned = (recent > 0) & (quarter == recent) & (tenure > 90)
    return np.select(
        [tenure <= NEW_DAYS, recency > CHURNED_DAYS, recency > SILENT_DAYS, risk, returned],
        ["new", "churned", "silent", "at_risk", "reactivated"],
        default="active",
    )
