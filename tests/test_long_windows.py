"""Features of windows no user had outlived at the cutoffs learned from (``training.datasets
.unlearned``): on those rows they repeat the lifetime totals, and for a user known longer
they do not, so LightGBM learns nothing from them (``fit_bundle(unlearned=...)``) while the
bundle, the rules and the service still read the same features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.asof import AS_OF, feature_names, trend_windows, windows_read
from features.contract import USER_ID
from features.labels import LABEL
from lifecycle.settings import load_settings
from training.datasets import LEFT_OUT, TrainingSet, left_out_text, unlearned
from training.models import fit_bundle, refit_recipe

WINDOWS = [7, 30, 90, 365]


def test_each_feature_names_the_windows_it_counts_over() -> None:
    assert windows_read("orders_365d", WINDOWS) == (365,)
    assert windows_read("trend_orders_90_365", WINDOWS) == (90, 365)
    assert windows_read("trend_active_days_30_90", WINDOWS) == (30, 90)
    assert windows_read("orders_total", WINDOWS) == windows_read("tenure_days", WINDOWS) == ()
    # other windows: the trends compare the nearest ones, as the feature table computes them
    assert trend_windows([14, 60, 180]) == {
        "trend_active_days_30_90": (14, 60),
        "trend_orders_90_365": (60, 180),
    }


def _latest_cutoff(home: Path, longest_days: float) -> None:
    """The feature table of dataset shop: its latest cutoff's users known up to that long."""
    table = home / "features" / "shop" / "user_features.parquet"
    table.parent.mkdir(parents=True)
    pd.DataFrame(
        {
            USER_ID: ["a", "b", "a"],
            AS_OF: pd.to_datetime(["2024-01-01", "2024-06-01", "2024-06-01"], utc=True),
            "tenure_days": [longest_days - 200, 20.0, longest_days],
        }
    ).to_parquet(table)


@pytest.mark.parametrize(("now", "left_out"), [(400.0, True), (300.0, False)])
def test_windows_no_user_had_outlived_are_left_out_once_a_user_of_now_has(
    tmp_path: Path, now: float, left_out: bool
) -> None:
    """Learned from users known at most 250 days: the 365-day window repeats the totals there.
    A user of the latest cutoff known 400 days reads it otherwise: left out, recorded in the
    data window; known 300 days, it still means what it meant: kept."""
    _latest_cutoff(tmp_path, now)
    settings = load_settings(home=tmp_path, environ={})
    names = [*feature_names(WINDOWS), "channel"]
    rows = pd.DataFrame({"tenure_days": [10.0, 250.0], "orders_total": [1.0, 2.0]})
    training = TrainingSet("churn", rows, names, "churn_v1", None, [], {"dataset": "shop"})  # type: ignore[arg-type]
    parts = {"train": rows.iloc[:1], "valid": rows.iloc[1:], "test": rows.iloc[:0]}
    past, window = unlearned(training, parts, settings, {"dataset": "shop"})
    expected = [n for n in names if n.endswith("_365d")] + ["trend_orders_90_365"]
    assert past == (expected if left_out else [])
    if left_out:
        assert window[LEFT_OUT] == {
            "features": expected,
            "longest_history_days": 250.0,
            "now_days": 400.0,
        }
        assert "(250 days at most)" in left_out_text(window[LEFT_OUT])
    else:
        assert window == {"dataset": "shop"}
    # an experiment keeps them all (training.pipeline.Method.long_windows)
    assert unlearned(training, parts, settings, {}, keep_all=True) == ([], {})


@pytest.mark.parametrize("task", ["churn", "ltv"])
def test_a_feature_not_learned_from_moves_no_score_of_the_model_or_its_refit(task: str) -> None:
    """The label follows orders_365d in every row learned from; left out, no tree of any
    booster (the LTV's purchase part, value and quantiles too) splits on it, the bundle still
    reads it, and the refit of the recipe leaves it out too."""
    rng = np.random.default_rng(3)
    n = 1500
    orders = rng.poisson(2.0, n).astype(float)
    recency = rng.uniform(0, 200, n)
    bought = rng.random(n) < 1 / (1 + np.exp(-(orders - 2) + recency / 100))
    value = np.where(bought, orders * rng.gamma(2.0, 10.0, n) + 1, 0.0)
    rows = pd.DataFrame(
        {
            "orders_365d": orders,
            "recency_days": recency,
            LABEL: (~bought).astype(int) if task == "churn" else value,
        }
    )
    window = {LEFT_OUT: {"features": ["orders_365d"], "longest_history_days": 1.0, "now_days": 2}}
    train, valid = rows.iloc[:1000], rows.iloc[1000:]  # early stopping on the valid rows
    bundle = fit_bundle(
        task,
        train,
        valid,
        label=LABEL,
        feature_names=["orders_365d", "recency_days"],
        service=f"{task}_v1",
        label_spec={"task": task},
        data_window=window,
        unlearned=["orders_365d"],
    )
    refit = refit_recipe(bundle, rows, label=LABEL, data_window={}, seed=7, fit=fit_bundle)
    for model in (bundle, refit):
        assert model.feature_names == ["orders_365d", "recency_days"]
        boosters = [model.booster, model.purchase_booster, *model.quantile_boosters.values()]
        for booster in filter(None, boosters):
            assert booster.feature_importance("split")[0] == 0
        moved = rows.assign(orders_365d=rows["orders_365d"] * 10 + 5)
        assert np.array_equal(model.predict(rows), model.predict(moved))
    # learned from, it moves the scores
    free = fit_bundle(
        task, train, valid, label=LABEL, feature_names=["orders_365d", "recency_days"],
        service=f"{task}_v1", label_spec={"task": task}, data_window={}, probability_only=True,
    )  # fmt: skip
    assert (free.purchase_booster or free.booster).feature_importance("split")[0] > 0
