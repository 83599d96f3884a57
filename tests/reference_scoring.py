"""The scoring of a frame as it was before the hot path (issue 17), frozen as the reference.

Every function here is the pre-change DataFrame implementation (``ModelBundle.matrix`` /
``predict`` / ``value_outlook`` / ``contributions`` and ``serving.scoring.score_frame``),
written against the bundle's boosters directly so that no later change to the library can
move it. Tests compare the one scoring definition (online rows and batch frames) with it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from features import contract as c
from features.labels import LabelSpec
from lifecycle import tasks
from lifecycle.btyd import purchase_model
from lifecycle.bundle import QUANTILES
from lifecycle.mixture import mixture_quantiles
from lifecycle.tasks import CHURN, LTV
from serving.churn_reasons import worded_reasons
from serving.segments import HIGH_RISK, MEDIUM_RISK, first_day_only_columns

SINGLE_THREAD_ROWS = 512


def _threads(rows: int) -> int:
    return 1 if rows < SINGLE_THREAD_ROWS else 0


def matrix(bundle: Any, features: pd.DataFrame) -> np.ndarray:
    out = np.empty((len(features), len(bundle.feature_names)), dtype="float64")
    numeric = [j for j, n in enumerate(bundle.feature_names) if n not in bundle.categories]
    try:
        out[:, numeric] = features[[bundle.feature_names[j] for j in numeric]].to_numpy(
            dtype="float64"
        )
    except (TypeError, ValueError):
        for j in numeric:
            values = features[bundle.feature_names[j]]
            out[:, j] = pd.to_numeric(values, errors="coerce").astype("float64").to_numpy()
    for j, name in enumerate(bundle.feature_names):
        if name in bundle.categories:
            codes = pd.Index(bundle.categories[name]).get_indexer(features[name].astype("string"))
            out[:, j] = np.where(codes < 0, np.nan, codes)
    return out


def _predict(booster: Any, values: np.ndarray) -> np.ndarray:
    return booster.predict(values, num_threads=_threads(len(values)))


def _calibrated(bundle: Any, raw: np.ndarray) -> np.ndarray:
    return bundle.calibrator(raw) if bundle.calibrator is not None else raw


def _purchase(bundle: Any, values: np.ndarray) -> np.ndarray | None:
    if bundle.purchase_booster is None:
        return None
    return _calibrated(bundle, _predict(bundle.purchase_booster, values))


def _value(bundle: Any, values: np.ndarray, purchase: np.ndarray | None) -> np.ndarray:
    value = np.maximum(_predict(bundle.booster, values), 0.0)
    value = value if purchase is None else purchase * value
    if bundle.blend is None:
        return value
    # a value blended with a rule's (training.combination, after the hot path): its weight
    # of LightGBM's, the rest the rule's
    weight = bundle.blend_weight
    return weight * value + (1.0 - weight) * bundle.blend.predict(values)


def _interval(bundle: Any, values: np.ndarray, purchase: np.ndarray | None) -> np.ndarray:
    levels = sorted(bundle.quantile_boosters)
    stacked = np.column_stack([_predict(bundle.quantile_boosters[q], values) for q in levels])
    if bundle.quantile_scale == "log1p":
        stacked = np.expm1(stacked)
    stacked = np.sort(np.maximum(stacked, 0.0), axis=1)
    if purchase is None:
        interval = stacked[:, [levels.index(q) for q in QUANTILES]]
    else:
        interval = mixture_quantiles(purchase, np.asarray(levels), stacked, QUANTILES)
    if bundle.blend is None or not bundle.blend.has_outlook:
        return interval
    # an interval blended as the value is (after the hot path): each quantile the same
    # weights of LightGBM's and the rule's exact one
    weight = bundle.blend_weight
    blended = weight * interval + (1.0 - weight) * bundle.blend.value_outlook(values)[:, :3]
    if purchase is None:
        return blended
    # since trial 115 the q-quantile is 0 wherever q <= 1 - the served P(any value)
    return np.where(np.array(QUANTILES)[None, :] <= 1.0 - purchase[:, None], 0.0, blended)


def predict(bundle: Any, features: pd.DataFrame) -> np.ndarray:
    values = matrix(bundle, features)
    if not bundle.is_probability:
        return _value(bundle, values, _purchase(bundle, values))
    return _calibrated(bundle, _predict(bundle.booster, values))


def value_outlook(bundle: Any, features: pd.DataFrame) -> pd.DataFrame:
    values = matrix(bundle, features)
    purchase = _purchase(bundle, values)
    nan = np.full(len(values), np.nan)
    interval = (
        _interval(bundle, values, purchase)
        if bundle.quantile_boosters
        else np.column_stack([nan, nan, nan])
    )
    columns = [_value(bundle, values, purchase), *interval.T, nan if purchase is None else purchase]
    names = ("value", "p10", "p50", "p90", "purchase_probability")
    return pd.DataFrame(dict(zip(names, columns, strict=True)), index=features.index)


def _plain(raw: Any) -> Any:
    return raw.item() if hasattr(raw, "item") else raw


def top_reasons(bundle: Any, features: pd.DataFrame, eligible: np.ndarray) -> list[list[dict]]:
    eligible = np.asarray(eligible, dtype=bool)
    result: list[list[dict[str, Any]]] = [[] for _ in range(len(features))]
    rows = np.flatnonzero(eligible)
    if len(rows) == 0:
        return result
    subset = features.iloc[rows]
    values = bundle.booster.predict(
        matrix(bundle, subset), pred_contrib=True, num_threads=_threads(len(subset))
    )[:, :-1]
    names = bundle.feature_names
    columns = {name: subset[name].to_numpy() for name in names}
    order = np.argsort(-values, axis=1)
    # the days idle of a user never active past their first day read as the stage counts them
    first_day = first_day_only_columns(lambda name: subset[name].astype(float).to_numpy())
    for position, (row, ranked) in enumerate(zip(rows, order, strict=True)):
        picked = worded_reasons(
            names,
            values[position],
            ranked,
            lambda name, p=position: _plain(columns[name][p]),
            first_day_only=bool(first_day[position]),
        )
        result[row] = picked
    return result


def _outlook(params: dict[str, float], features: pd.DataFrame, horizon: float) -> np.ndarray:
    model = purchase_model(params)
    orders = features["orders_total"].astype(float).to_numpy()
    first = features["first_purchase_age_days"].astype(float).to_numpy()
    last = features["purchase_recency_days"].astype(float).to_numpy()
    customer = (orders >= 1) & np.isfinite(first) & np.isfinite(last)
    out = np.full((len(features), 2), np.nan)
    if customer.any():
        x = orders[customer] - 1
        t_x = np.maximum(first - last, 0.0)[customer] / 7.0
        t_obs = np.maximum(first, 0.0)[customer] / 7.0
        out[customer, 0] = model.probability_alive(x, t_x, t_obs)
        out[customer, 1] = model.expected_purchases(horizon / 7.0, x, t_x, t_obs)
    return out


def _stage(features: pd.DataFrame, churn: pd.Series | None) -> np.ndarray:
    """The stages (their definition moved on: stages_v3's never active, users with no
    activity or only a sign-up, comes first, written here on its own; stages_v4 counts the
    days as the windows do, a day exactly 30 or 90 days back outside them)."""
    tenure = features["tenure_days"].astype(float).fillna(0).to_numpy()
    recency = features["recency_days"].astype(float).fillna(np.inf).to_numpy()
    nothing_beyond_signup = (
        (tenure >= 30)
        & (recency >= tenure - 1)
        & np.all(
            [
                features[n].astype(float).to_numpy() == 0
                for n in ("activated", "sessions_total", "orders_total")
            ],
            axis=0,
        )
    )
    never = features["recency_days"].isna().to_numpy() | nothing_beyond_signup
    recent = features["active_days_30d"].astype(float).fillna(0).to_numpy()
    quarter = features["active_days_90d"].astype(float).fillna(0).to_numpy()
    risk = (
        np.zeros(len(features), dtype=bool)
        if churn is None
        else pd.Series(churn).astype(float).fillna(0).to_numpy() >= HIGH_RISK
    )
    returned = (recent > 0) & (quarter == recent) & (tenure >= 90)
    return np.select(
        [never, tenure < 30, recency >= 90, recency >= 30, risk, returned],
        ["never_active", "new", "churned", "silent", "at_risk", "reactivated"],
        default="active",
    )


def _eligible(label: dict[str, Any], features: pd.DataFrame) -> np.ndarray:
    spec = LabelSpec.from_dict(label)
    population = tasks.get(spec.task).population
    if population == "recently_active" and spec.lookback_days is not None:
        recency = features["recency_days"].astype(float).fillna(np.inf).to_numpy()
        return recency < spec.lookback_days
    if population == "before_target":
        orders = features["orders_total"].astype(float).fillna(0).to_numpy()
        return orders == spec.orders_before_target
    return np.ones(len(features), dtype=bool)


def score_frame(champions: Any, features: pd.DataFrame, *, reasons: bool = True) -> pd.DataFrame:
    """``serving.scoring.score_frame`` before issue 17."""
    out = pd.DataFrame({c.USER_ID: features[c.USER_ID].to_numpy()}, index=features.index)
    for task in tasks.all_tasks():
        bundle = champions.bundles.get(task.name)
        if bundle is None:
            continue
        eligible = _eligible(bundle.label, features)
        if bundle.is_probability:
            out[task.score] = np.where(eligible, predict(bundle, features), np.nan)
        else:
            outlook = value_outlook(bundle, features)
            if bundle.purchase_booster is None:
                outlook = outlook.drop(columns="purchase_probability")
            outlook.columns = list(task.outputs[: len(outlook.columns)])
            outlook.loc[~eligible, :] = np.nan
            out[outlook.columns] = outlook.to_numpy()
        if task.reasons and reasons:
            out["reasons"] = top_reasons(bundle, features, eligible)
    if CHURN.score in out:
        p = out[CHURN.score].to_numpy(dtype=float)
        bands = np.select(
            [np.isnan(p), p >= HIGH_RISK, p >= MEDIUM_RISK], [None, "high", "medium"], "low"
        )
        out.insert(out.columns.get_loc(CHURN.score) + 1, "risk_band", bands)
        if LTV.score in out:
            out["value_at_risk"] = out[CHURN.score] * out[LTV.score]
    process = next(
        (
            b
            for b in (champions.bundles.get(LTV.name), champions.bundles.get(CHURN.name))
            if b is not None and b.purchase_process is not None
        ),
        None,
    )
    if process is not None:
        outlook = _outlook(process.purchase_process, features, float(process.label["horizon_days"]))
        out[["p_alive", "expected_purchases"]] = outlook
    out["lifecycle_stage"] = _stage(features, out.get(CHURN.score))
    return out
