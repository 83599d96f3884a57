"""The backtest's second population: the users still active at the cutoff.

The headline judges every known user, as the protocol of the quality page does. Where many
users had stopped long before the cutoff (a subscription log: customers who cancelled months
ago), they are trivially "not active" afterwards and carry the headline. The same methods,
baselines and paired bootstrap are then judged on the users active in the churn label's
window up to the cutoff: ``labels.churn_lookback_days`` where set (the users churn scores),
else the churn horizon (a user idle longer has already churned by the label's own definition).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from features.labels import LabelSpec
from lifecycle.backtest_judge import (
    NO_ACTIVE_FORECAST,
    NO_VALUE_FORECAST,
    Forecasts,
    judge_methods,
    nothing_to_judge,
    save_plots,
    verdict_lines,
)
from lifecycle.settings import LabelSettings
from lifecycle.words import DAYS, counted

STILL_ACTIVE = "still_active"  # its key in the JSON, its MLflow metrics' and plots' prefix


def active_window(labels: LabelSettings) -> tuple[int, str]:
    """The days up to the cutoff within which a user is still active, and where they come from."""
    if labels.churn_lookback_days is not None:
        return labels.churn_lookback_days, "labels.churn_lookback_days"
    return labels.churn_horizon_days, "the churn horizon, as labels.churn_lookback_days is unset"


def still_active(feature_rows: pd.DataFrame, labels: LabelSettings) -> np.ndarray:
    """Which users (feature rows at the cutoff; none: not active) had activity in the
    :func:`active_window` up to the cutoff: the churn label's own eligibility rule."""
    days, _ = active_window(labels)
    spec = LabelSpec("churn", labels.churn_horizon_days, lookback_days=days)
    return spec.eligible(feature_rows)


def judge_still_active(
    truth: pd.DataFrame,
    found: Forecasts,
    feature_rows: pd.DataFrame,
    labels: LabelSettings,
    cutoff: pd.Timestamp,
    *,
    resamples: int,
    seed: int,
) -> tuple[dict[str, Any], np.ndarray]:
    """The verdict on the users still active at ``cutoff`` (their count, the count left out
    and the definition; an ``error`` where nothing can be judged among them), and the mask."""
    keep = still_active(feature_rows, labels)
    days, source = active_window(labels)
    result: dict[str, Any] = {
        "definition": f"active in the {counted(days, DAYS)} up to the cutoff ({source})",
        "window_days": days,
        "users": int(keep.sum()),
        "left_out": int((~keep).sum()),
    }
    if why := nothing_to_judge(truth[keep], cutoff):
        return result | {"error": why}, keep
    part = found.subset(keep)
    verdict = judge_methods(truth[keep], part, resamples=resamples, seed=seed)
    verdict.pop("attribute_baseline", None)  # the headline's lines name it
    verdict.pop(NO_VALUE_FORECAST, None)  # and say why a baseline has no value forecast
    verdict.pop(NO_ACTIVE_FORECAST, None)
    return result | {"blank_churn": part.blank_churn} | verdict, keep


def still_active_lines(verdict: dict[str, Any], resamples: int) -> list[str]:
    """The verdict on the users still active at the cutoff, for a terminal."""
    days = verdict["window_days"]
    lines = [
        f"  still active at the cutoff, {verdict['definition']}: {verdict['users']:,} users; "
        f"{verdict['left_out']:,} left out, no activity in the {counted(days, DAYS)}"
    ]
    if "error" in verdict:
        return [*lines, f"    not judged: {verdict['error']}"]
    return lines + verdict_lines(verdict, verdict["blank_churn"], resamples)


def still_active_plots(
    folder: Any, truth: pd.DataFrame, found: Forecasts, keep: np.ndarray
) -> list[str]:
    """:func:`save_plots` of the users still active at the cutoff."""
    return save_plots(folder, truth[keep], found.subset(keep), prefix=f"{STILL_ACTIVE}_")
