"""A horizon too long for the time split, learned at a shorter one and served on the asked
one through the purchase process (``training.bridge``, ``lifecycle.bridge``): which
horizons are learnable, the bundle's outputs on the served horizon (batch, reload, the
row path's fallback), and a young log's churn trained, registered and scored that way
through the real CLI, Feast and MLflow registry (``test_label_free``'s young shop)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.asof import AS_OF
from features.contract import USER_ID
from features.labels import LABEL
from lifecycle import bundle as bundle_module
from lifecycle.bridge import bridge_of, factors
from lifecycle.btyd_features import PURCHASE_HISTORY, fit_purchase_process
from lifecycle.bundle import ModelBundle
from training.bridge import MIN_DAYS, learnable_horizons
from training.models import fit_bundle
from training.time_splits import time_split

WEEKLY = list(pd.date_range("2011-03-04", "2011-09-09", freq="7D", tz="UTC"))


def _zero_only_where_nothing_is_that_likely(
    bundle: ModelBundle, X: np.ndarray, learned: np.ndarray, bridged: np.ndarray
) -> None:
    """A bridged interval's level is 0 exactly where the served chance of nothing reaches it,
    some users the learned interval put at 0 are above it now, the levels do not cross, and
    the row path's interval is the arrays'."""
    nothing = 1 - bridged[:, 4]
    for k, level in enumerate((0.1, 0.5, 0.9), start=1):
        assert ((bridged[:, k] == 0) == (level <= nothing)).all(), level
    gained = (1 - learned[:, 4] >= 0.1) & (nothing < 0.1)
    assert gained.any() and (bridged[gained, 1] > 0).all()
    assert (np.diff(bridged[:, 1:4], axis=1) >= 0).all()
    assert np.allclose(bundle.interval_matrix(X), bridged[:, 1:4])


def test_the_longest_horizon_that_splits_with_as_many_train_cutoffs_as_test_ones() -> None:
    horizons = learnable_horizons(WEEKLY, 91)
    assert horizons and horizons == sorted(horizons, reverse=True)
    for learned in horizons:
        assert learned % 7 == 0 and max(MIN_DAYS, 31) <= learned < 91
        matured = [t for t in WEEKLY if t + pd.Timedelta(days=learned) <= WEEKLY[-1]]
        split = time_split(matured, learned)
        assert len(split.train) >= len(split.test)
    longer = horizons[0] + 7  # a week longer: no split, or fewer train cutoffs than test ones
    matured = [t for t in WEEKLY if t + pd.Timedelta(days=longer) <= WEEKLY[-1]]
    try:
        split = time_split(matured, longer)
    except Exception:
        split = None
    assert split is None or len(split.train) < len(split.test)
    # a year asked of six months: nothing of a third of it or more splits
    assert learnable_horizons(WEEKLY, 365) == []


def _customers(users: int = 600, seed: int = 0) -> pd.DataFrame:
    """Feature rows of customers at one cutoff: orders, days since the first and the last."""
    rng = np.random.default_rng(seed)
    first = rng.uniform(10, 180, users)
    orders = 1 + rng.poisson(2.0, users)
    last = np.where(orders > 1, rng.uniform(0, 1, users) * first, first)
    value = rng.gamma(2.0, 20.0, users) * (rng.random(users) < 0.5)
    return pd.DataFrame(
        {
            USER_ID: [f"u{i}" for i in range(users)],
            AS_OF: pd.Timestamp("2024-06-01", tz="UTC"),
            "orders_total": orders.astype(float),
            "first_purchase_age_days": first,
            "purchase_recency_days": last,
            LABEL: value,
        }
    )


def _bundle(task: str, rows: pd.DataFrame) -> ModelBundle:
    label = (rows[LABEL] > 0).astype(int) if task == "churn" else rows[LABEL]
    frame = rows.assign(**{LABEL: label})
    return fit_bundle(
        task,
        frame,
        frame,
        label=LABEL,
        feature_names=list(PURCHASE_HISTORY),
        service=f"{task}_v1",
        label_spec={"task": task, "horizon_days": 35},
        data_window={},
    )


@pytest.mark.parametrize("task", ["churn", "ltv"])
def test_a_bridged_bundle_serves_on_the_longer_horizon(task: str, tmp_path) -> None:
    rows = _customers()
    bundle = _bundle(task, rows)
    process = fit_purchase_process(rows)
    assert process is not None
    column = lambda name: rows[name].to_numpy(dtype=float)  # noqa: E731
    X = rows[list(PURCHASE_HISTORY)].to_numpy(dtype=float)
    learned = bundle.predict_matrix(X)
    outlook = bundle.value_outlook_matrix(X) if task == "ltv" else None
    bundle.bridge = bridge_of(35, 91, process, column)
    none_ratio, value_ratio = factors(bundle.bridge, column)
    assert (none_ratio > 0).all() and (none_ratio <= 1).all()
    assert (value_ratio >= 1 - 1e-12).all() and (value_ratio <= 91 / 35 + 1e-9).all()
    served = bundle.predict_matrix(X)
    if task == "churn":  # P(no activity in 91 days) = P(none in 35) x P(none in 91 | none in 35)
        assert np.allclose(served, learned * none_ratio) and (served <= learned + 1e-12).all()
    else:
        assert np.allclose(served, learned * value_ratio)
        bridged = bundle.value_outlook_matrix(X)
        assert np.allclose(bridged[:, 0], outlook[:, 0] * value_ratio)
        assert np.allclose(bridged[:, 4], 1 - (1 - outlook[:, 4]) * none_ratio)
        assert (np.diff(bridged[:, 1:4], axis=1) >= 0).all()  # P10 <= P50 <= P90
        # The interval's zero mass is 1 - the served P(any value), not the learned one's
        # (scaled, a P10 of 0 stayed 0 beside a served P(any value) over 0.9).
        nothing = 1 - bridged[:, 4]
        for k, level in enumerate((0.1, 0.5, 0.9), start=1):
            zero = bridged[:, k] == 0
            assert (zero == (level <= nothing)).all(), level
        gained = (1 - outlook[:, 4] >= 0.1) & (nothing < 0.1)
        assert gained.any() and (bridged[gained, 1] > 0).all()
        assert np.allclose(bundle.interval_matrix(X), bridged[:, 1:4])
    # A user the process knows nothing of (no purchase yet) takes the fallback factors.
    newcomer = X[:1].copy()
    newcomer[0, 0] = 0.0
    assert np.allclose(
        factors(bundle.bridge, lambda name: newcomer[:, PURCHASE_HISTORY.index(name)])[0],
        bundle.bridge["fallback"]["none_ratio"],
    )
    # Saved and loaded (the registry's way), it serves the same.
    loaded = ModelBundle.load(bundle.save(tmp_path / "bundle"))
    assert loaded.bridge == bundle.bridge
    assert np.allclose(loaded.predict_matrix(X), served, rtol=0, atol=1e-12)


def test_what_the_purchase_process_cannot_carry_is_not_bridged() -> None:
    from features.labels import BEYOND_PURCHASES, PURCHASES, label_spec
    from lifecycle.settings import LabelSettings
    from training.bridge import NotBridgeable, check_bridgeable
    from training.datasets import TrainingSet

    def training(task: str, names: tuple[str, ...] = PURCHASE_HISTORY, **labels: object):
        spec = label_spec(task, LabelSettings(**labels))
        return TrainingSet(task, pd.DataFrame(), list(names), f"{task}_v1", spec, [])

    check_bridgeable("churn", training("churn"), PURCHASES)  # every known user
    check_bridgeable("ltv", training("ltv"), BEYOND_PURCHASES)  # value: purchases
    with pytest.raises(NotBridgeable, match="activity beyond purchases"):  # sessions
        check_bridgeable("churn", training("churn"), BEYOND_PURCHASES)
    with pytest.raises(NotBridgeable, match="not every known user"):
        check_bridgeable("churn", training("churn", churn_lookback_days=90), PURCHASES)
    with pytest.raises(NotBridgeable, match="not every known user"):
        conversion = training("conversion", conversion_target="repeat_purchase")
        check_bridgeable("conversion", conversion, PURCHASES)
    with pytest.raises(NotBridgeable, match="no purchase history"):
        check_bridgeable("ltv", training("ltv", names=("orders_total",)), PURCHASES)


def test_a_bridged_blended_ltvs_interval_is_zero_only_where_nothing_is_that_likely() -> None:
    """The young shop's LTV is LightGBM blended with BG/NBD + Gamma-Gamma: bridged, its
    blended P10 is 0 only where the served chance of no value reaches 10%, as unblended."""
    from lifecycle.rules import fit_rule
    from training.combination import BLEND_RULE

    rows = _customers(seed=1)
    rows["avg_order_value"] = np.random.default_rng(1).gamma(2.0, 15.0, len(rows))
    names = [*PURCHASE_HISTORY, "avg_order_value"]
    bundle = fit_bundle(
        "ltv",
        rows,
        rows,
        label=LABEL,
        feature_names=names,
        service="ltv_v1",
        label_spec={"task": "ltv", "horizon_days": 35},
        data_window={},
    )
    rule = fit_rule(BLEND_RULE, "ltv", rows, names, horizon_days=35, windows=[7, 30, 90])
    bundle.blend, bundle.blend_weight = rule, 0.75
    assert bundle.blends_interval
    X = rows[names].to_numpy(dtype=float)
    learned = bundle.value_outlook_matrix(X)
    process = fit_purchase_process(rows)
    assert process is not None
    bundle.bridge = bridge_of(35, 91, process, lambda name: rows[name].to_numpy(dtype=float))
    bridged = bundle.value_outlook_matrix(X)
    _zero_only_where_nothing_is_that_likely(bundle, X, learned, bridged)


def test_a_bridged_value_given_one_keeps_the_mixtures_mean_scaled_as_the_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The value given a purchase is put on H times the value's factor over P(any value)'s,
    so P(any in H) x the value given one is the learned P(any) x value given one times the
    value's factor: the interval's mean scales as the served value does. The ratio is below
    1 where P(any value) grows more than the value (26% of these rows, down to 0.023); a
    floor at 1 moved no coverage and put the mean up to 55x the served value (not kept)."""
    from lifecycle.bridge import any_longer, given_any_ratio

    rows = _customers()
    bundle = _bundle("ltv", rows)
    process = fit_purchase_process(rows)
    assert process is not None
    X = rows[list(PURCHASE_HISTORY)].to_numpy(dtype=float)
    learned = bundle.value_outlook_matrix(X)
    bundle.bridge = bridge_of(35, 91, process, lambda name: rows[name].to_numpy(dtype=float))
    both = factors(bundle.bridge, lambda name: rows[name].to_numpy(dtype=float))
    purchase = learned[:, 4]
    ratio = given_any_ratio(purchase, both)
    served = any_longer(purchase, both[0])
    np.testing.assert_allclose(served * ratio, both[1] * purchase, rtol=1e-9)
    assert 0.2 < (ratio < 1).mean() < 0.3 and ratio.min() < 0.05
    bridged = bundle.value_outlook_matrix(X)
    assert (np.diff(bridged[:, 1:4], axis=1) >= 0).all()
    # the mixture's mean over 200 levels, relative to its value, as the learned one's is
    # (the quantile models' mean is not the mean model's): median 1.000, mean 1.007
    monkeypatch.setattr(bundle_module, "QUANTILES", tuple((np.arange(200) + 0.5) / 200))
    means = [bundle.interval_matrix(X).mean(axis=1)]
    bundle.bridge = None
    means.insert(0, bundle.interval_matrix(X).mean(axis=1))
    kept = means[0] > 0
    scaled = (means[1] / bridged[:, 0])[kept] / (means[0] / learned[:, 0])[kept]
    assert abs(np.median(scaled) - 1) < 0.01 and scaled.mean() < 1.05, scaled.mean()


def test_a_bridged_rules_interval_is_the_served_p_any_values_mixture() -> None:
    """A served BG/NBD + Gamma-Gamma bridged from 35 to 91 days kept its 35-day interval
    scaled, so its zero mass was the learned horizon's: P10 0 beside a served P(any value)
    over 0.9. Its levels are now the mixture of the served P(any value) and its value given
    a purchase put on 91 days as LightGBM's are: 0 only where the served chance of none
    reaches the level, and exact under the processes (the given-one factor unfloored)."""
    from lifecycle.btyd_interval import value_quantiles
    from lifecycle.rules import fit_rule
    from training.combination import BLEND_RULE

    rows = _customers(seed=1)
    rng = np.random.default_rng(2)
    busy = rng.random(len(rows)) < 0.5  # half buy often and lately: likely buyers in 91 days
    rows.loc[busy, "orders_total"] = 1.0 + rng.poisson(10.0, busy.sum())
    rows.loc[busy, "purchase_recency_days"] = (
        rng.uniform(0, 0.1, busy.sum()) * rows.loc[busy, "first_purchase_age_days"]
    )
    rows["avg_order_value"] = np.random.default_rng(1).gamma(2.0, 15.0, len(rows))
    names = [*PURCHASE_HISTORY, "avg_order_value"]
    rule = fit_rule(BLEND_RULE, "ltv", rows, names, horizon_days=35, windows=[7, 30, 90])
    bundle = ModelBundle("ltv", rule, names, {}, "ltv_v1", {"task": "ltv", "horizon_days": 35}, {})
    assert bundle.rule_outlook
    X = rows[names].to_numpy(dtype=float)
    learned = bundle.value_outlook_matrix(X)
    process = fit_purchase_process(rows)
    assert process is not None
    column = lambda name: rows[name].to_numpy(dtype=float)  # noqa: E731
    bundle.bridge = bridge_of(35, 91, process, column)
    none_ratio, value_ratio = factors(bundle.bridge, column)
    bridged = bundle.value_outlook_matrix(X)
    np.testing.assert_allclose(bridged[:, 0], learned[:, 0] * value_ratio)
    np.testing.assert_allclose(bridged[:, 4], 1 - (1 - learned[:, 4]) * none_ratio)
    _zero_only_where_nothing_is_that_likely(bundle, X, learned, bridged)
    # level q on 91 days: the given-one ratio times the 35-day mixture's level 1 - p + p c,
    # c = (q - (1 - P)) / P the level given a purchase (p the 35-day P(any value), P served)
    ratio = value_ratio * learned[:, 4] / bridged[:, 4]
    orders, first, last, mean = (X[:, names.index(n)] for n in rule.inputs())
    gained = (1 - learned[:, 4] >= 0.1) & (bridged[:, 4] > 0.9)  # P10 above 0 now
    for i in np.flatnonzero(gained)[:5]:
        p, served = learned[i, 4], bridged[i, 4]
        at = tuple(1 - p + p * (q - (1 - served)) / served for q in (0.1, 0.5, 0.9))
        alone, _ = value_quantiles(
            rule.params["bgnbd"],
            rule.params["gamma_gamma"],
            orders[i : i + 1],
            first[i : i + 1],
            last[i : i + 1],
            mean[i : i + 1],
            35.0,
            levels=at,
        )
        np.testing.assert_allclose(bridged[i, 1:4], alone[0] * ratio[i], rtol=1e-7)
