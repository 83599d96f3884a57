"""Boosting from the purchase process (``lifecycle.offsets``): the starts are the process's
own probabilities, each cutoff's rows start from the fit of that cutoff alone, and a bundle
boosted from it scores start + trees after a save and load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from btyd_simulation import simulate_bgnbd
from scipy.special import expit

from features.asof import AS_OF
from lifecycle import offsets
from lifecycle.btyd import MBGNBD
from lifecycle.btyd_features import fit_purchase_process, outlook_of_columns
from lifecycle.bundle import ModelBundle

PROCESS = {"r": 0.8, "alpha": 6.0, "a": 0.7, "b": 2.5, "first": 1.0}


def customers(rows: int, seed: int, *, future_days: float = 0.0) -> pd.DataFrame:
    """Feature rows of customers drawn from the MBG/NBD of ``PROCESS`` (weeks), with an
    average order value and, given ``future_days``, their purchases in those next days."""
    rng = np.random.default_rng(seed)
    params = {k: v for k, v in PROCESS.items() if k != "first"}
    ages = rng.uniform(4, 60, rows)
    drawn = simulate_bgnbd(
        rows, **params, T_units=ages, rng=rng, future_units=future_days / 7, first=1
    )
    users = pd.DataFrame(
        {
            "orders_total": drawn["frequency"].to_numpy(dtype=float) + 1,
            "first_purchase_age_days": ages * 7,
            "purchase_recency_days": (ages - drawn["recency"].to_numpy()) * 7,
            "avg_order_value": rng.gamma(2.0, 30.0, rows),
        }
    )
    if future_days:
        users["future_purchases"] = drawn["future_purchases"].to_numpy()
    return users


def test_the_purchase_odds_are_the_process_own_by_simulation() -> None:
    """Customers drawn from the MBG/NBD itself: by decile of the start, the share that buys
    in the horizon is the start's probability (P(alive) x (1 - E[exp(-lambda t)]): alive,
    a customer can drop out only right after a purchase); the other roles follow from it."""
    horizon = 91.0
    users = customers(40_000, seed=1, future_days=horizon)
    column = lambda name: users[name].to_numpy(dtype=float)  # noqa: E731
    starts = offsets.starts_of_columns(PROCESS, column, horizon)
    predicted = expit(starts[offsets.PURCHASE])
    bought = (users["future_purchases"] > 0).to_numpy(dtype=float)
    deciles = pd.qcut(predicted, 10, labels=False, duplicates="drop")
    for rows in [deciles == decile for decile in np.unique(deciles)] + [deciles >= 0]:
        rate = predicted[rows].mean()  # within 4 standard errors of the drawn share
        assert abs(rate - bought[rows].mean()) < 4 * np.sqrt(rate * (1 - rate) / rows.sum())
    np.testing.assert_allclose(starts[offsets.NO_PURCHASE], -starts[offsets.PURCHASE])
    p_alive, expected = outlook_of_columns(PROCESS, column, horizon)
    value = expected / predicted * column("avg_order_value")
    np.testing.assert_allclose(np.exp(starts[offsets.LOG_VALUE]), value, rtol=1e-6)
    np.testing.assert_allclose(starts[offsets.LOG1P_VALUE], np.log1p(value), rtol=1e-6)
    assert np.all(predicted <= p_alive) and np.all(predicted <= expected + 1e-12)


def test_a_user_without_a_purchase_has_no_start() -> None:
    users = customers(2, seed=2)
    users.loc[0, "orders_total"] = 3.0
    users.loc[1, ["orders_total", "first_purchase_age_days", "purchase_recency_days"]] = [
        0.0,
        np.nan,
        np.nan,
    ]
    users.loc[1, "avg_order_value"] = np.nan
    starts = offsets.starts_of_columns(PROCESS, lambda n: users[n].to_numpy(float), 91.0)
    for role in offsets.ROLES:
        assert np.isfinite(starts[role][0]) and np.isnan(starts[role][1]), role
    assert offsets.filled(starts[offsets.PURCHASE], -2.0)[1] == -2.0


def test_each_cutoff_starts_from_the_fit_of_its_own_rows() -> None:
    """No row's start sees a later cutoff: the first cutoff's starts are the same whatever
    the second cutoff holds, and they are those of the process fitted on its rows alone."""
    early, late = customers(300, seed=3), customers(300, seed=4)
    first, second = pd.Timestamp("2024-01-01"), pd.Timestamp("2024-02-01")
    frame = pd.concat([early.assign(**{AS_OF: first}), late.assign(**{AS_OF: second})])
    busier = late.assign(orders_total=late["orders_total"] * 3, **{AS_OF: second})
    changed = pd.concat([early.assign(**{AS_OF: first}), busier])
    started, fits = offsets.with_start_columns(frame, 91.0, MBGNBD)
    started_changed, fits_changed = offsets.with_start_columns(changed, 91.0, MBGNBD)
    column = offsets.start_column(offsets.PURCHASE)
    on_first = (started[AS_OF] == first).to_numpy()
    assert fits[first] == fits_changed[first] == fit_purchase_process(early, kind=MBGNBD)
    assert fits[second] != fits_changed[second]
    np.testing.assert_array_equal(
        started[column].to_numpy()[on_first], started_changed[column].to_numpy()[on_first]
    )
    own = offsets.starts_of_columns(fits[first], lambda n: early[n].to_numpy(float), 91.0)
    np.testing.assert_allclose(started[column].to_numpy()[on_first], own[offsets.PURCHASE])
    assert not np.allclose(
        started[column].to_numpy()[~on_first], started_changed[column].to_numpy()[~on_first]
    )


def test_a_bundle_boosted_from_the_process_scores_start_plus_trees_after_loading(
    tmp_path: Path,
) -> None:
    """A churn booster trained from the starts: the saved bundle predicts
    sigmoid(start + trees), not the trees alone, and the same after a load."""
    import lightgbm as lgb

    from training.models import started, with_init_score

    users = customers(2000, seed=5)
    horizon = 91.0
    starts = offsets.starts_of_columns(PROCESS, lambda n: users[n].to_numpy(float), horizon)
    rng = np.random.default_rng(6)
    label = (rng.uniform(size=len(users)) < expit(starts[offsets.NO_PURCHASE])).astype(float)
    rows = users.assign(label=label, **{offsets.start_column(r): starts[r] for r in offsets.ROLES})
    boost_start = started("churn", rows, "label", {"process": PROCESS, "horizon_days": horizon})
    assert boost_start["roles"] == {"booster": offsets.NO_PURCHASE}
    names = list(customers(1, 0).columns)
    trained = with_init_score(boost_start, "booster", rows)
    booster = lgb.train(
        {"objective": "binary", "verbosity": -1, "num_leaves": 7, "seed": 1},
        lgb.Dataset(rows[names], label, init_score=trained[offsets.INIT_SCORE]),
        num_boost_round=20,
    )
    bundle = ModelBundle(
        "churn", booster, names, {}, "churn_v1", {"horizon_days": 91}, {}, boost_start=boost_start
    )
    X = rows[names].to_numpy(dtype=float)
    expected = expit(booster.predict(X, raw_score=True) + starts[offsets.NO_PURCHASE])
    loaded = ModelBundle.load(bundle.save(tmp_path / "bundle"))
    for model in (bundle, loaded):
        np.testing.assert_allclose(model.raw_score_matrix(X), expected, rtol=1e-12)
    assert not np.allclose(loaded.raw_score_matrix(X), booster.predict(X))
