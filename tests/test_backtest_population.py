"""The backtest's population still active at the cutoff and its attribute baseline, on frames
of a few rows (the end-to-end run is tests/test_backtest.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.asof import AS_OF
from lifecycle.backtest_attribute import ATTRIBUTE, choose_attribute
from lifecycle.backtest_judge import MODEL, Forecasts, judge_methods
from lifecycle.backtest_population import judge_still_active, still_active
from lifecycle.settings import LabelSettings

CUTOFF = pd.Timestamp("2024-03-01", tz="UTC")


def test_still_active_is_the_churn_lookback_else_the_churn_horizon() -> None:
    rows = pd.DataFrame({"recency_days": [5.0, 34.9, 40.0, 89.0, 120.0, np.nan]})
    assert still_active(rows, LabelSettings()).tolist() == [1, 1, 1, 1, 0, 0]
    lookback = LabelSettings(churn_lookback_days=35)
    assert still_active(rows, lookback).tolist() == [1, 1, 0, 0, 0, 0]


def subscription(users: int = 400, seed: int = 1) -> tuple[pd.DataFrame, Forecasts, pd.DataFrame]:
    """Half the users lapsed long before the cutoff (never active after it, scored P(active)
    0); the other half still paying, of whom a random tenth leave, scored at random."""
    rng = np.random.default_rng(seed)
    lapsed = np.arange(users) < users // 2
    active = ~lapsed & (rng.random(users) > 0.1)
    truth = pd.DataFrame({"active": active, "value": np.where(active, 50.0, 0.0)})
    p_active = np.where(lapsed, 0.0, rng.random(users))
    found = Forecasts(
        active={MODEL: p_active, "recency": p_active.copy()},
        value={MODEL: 50 * p_active, "recency": p_active.copy()},
        probabilities={MODEL},
        amounts={MODEL},
        unscored=lapsed & (np.arange(users) % 2 == 0),
    )
    rows = pd.DataFrame({"recency_days": np.where(lapsed, 200.0, 20.0)})
    return truth, found, rows


def test_the_still_active_verdict_judges_only_them_and_counts_those_left_out() -> None:
    truth, found, rows = subscription()
    headline = judge_methods(truth, found, resamples=50, seed=0)
    verdict, keep = judge_still_active(
        truth, found, rows, LabelSettings(), CUTOFF, resamples=50, seed=0
    )
    assert (verdict["users"], verdict["left_out"]) == (200, 200)
    assert verdict["definition"].startswith("active in the 90 days up to the cutoff")
    assert verdict["blank_churn"] == 0  # the unscored users were all lapsed
    # the lapsed users made the headline: among the rest the scores are noise
    assert headline["methods"][MODEL]["auc"] > 0.9
    assert verdict["methods"][MODEL]["auc"] == pytest.approx(0.5, abs=0.15)
    alone = judge_methods(truth[keep], found.subset(keep), resamples=50, seed=0)
    assert verdict["methods"] == alone["methods"] and verdict["bootstrap"] == alone["bootstrap"]


def test_nobody_still_active_to_judge_says_why() -> None:
    truth, found, rows = subscription()
    rows["recency_days"] = 200.0
    verdict, _ = judge_still_active(
        truth, found, rows, LabelSettings(), CUTOFF, resamples=50, seed=0
    )
    assert verdict["users"] == 0 and "nothing to judge by" in verdict["error"]


def training_rows() -> pd.DataFrame:
    """Three training cutoffs: 'plan' tells churners apart at every one; 'region' did at the
    first two and is noise at the latest (in sample it would still look good)."""
    rng = np.random.default_rng(0)
    frames = []
    for k, stamp in enumerate(pd.date_range("2023-01-01", periods=3, freq="30D", tz="UTC")):
        plan = rng.choice(["monthly", "yearly"], 600)
        churn = (rng.random(600) < np.where(plan == "monthly", 0.4, 0.05)).astype(float)
        region = (
            np.where(churn == 1, "north", "south") if k < 2 else rng.choice(["north", "south"], 600)
        )
        frames.append(
            pd.DataFrame(
                {
                    AS_OF: stamp,
                    "plan": plan,
                    "region": region,
                    "churn": churn,
                    "value": np.where(churn == 1, 0.0, np.where(plan == "yearly", 120.0, 30.0)),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def test_the_attribute_is_chosen_on_the_latest_training_cutoff_out_of_time() -> None:
    rows = training_rows()
    rule = choose_attribute(rows, ["region", "plan"])
    assert rule is not None and rule.attribute == "plan"
    assert rule.fitted_on == ["2023-01-01", "2023-01-31", "2023-03-02"]
    assert 0.6 < rule.chosen_auc < 0.8
    p_active = rule.p_active(pd.Series(["monthly", "yearly", "weekly", None]))
    overall = 1 - rows["churn"].mean()
    assert p_active[0] < p_active[1] and p_active[2] == pytest.approx(overall)
    assert rule.value(pd.Series(["yearly"]))[0] > rule.value(pd.Series(["monthly"]))[0]
    # a category seen once is shrunk toward the overall rate, never 0 or 1
    once = rows.iloc[:1].assign(plan="trial")
    shrunk = choose_attribute(pd.concat([rows, once]), ["plan"])
    assert 0 < shrunk.churn_rate["trial"] < 1


def test_no_attribute_or_one_class_is_no_baseline() -> None:
    rows = training_rows()
    assert choose_attribute(rows, []) is None
    assert choose_attribute(rows.assign(churn=0.0), ["plan"]) is None
    assert ATTRIBUTE == "best_attribute"
