"""Baselines on feature rows, and the classic BG/NBD + Gamma-Gamma from an event log.

The rules training gates on (and serves when one wins) are defined once in
``lifecycle.rules``; the functions here apply them to frames for experiments and the
backtest. ``bgnbd_forecast`` fits BG/NBD + Gamma-Gamma on the purchase history up to a
cutoff, as the 2005 papers do (purchase days, repeat-purchase spend): the backtest's yardstick.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from features import contract as c
from features.asof import AS_OF
from features.orders import money
from lifecycle.btyd import BGNBD, BTYDError, expected_value, rfm_summary
from lifecycle.bundle import ModelBundle
from lifecycle.rules import RuleModel, feature_matrix, fit_rule, purchase_value
from lifecycle.sql import literal


def score_models(
    bundle: ModelBundle, rules: dict[str, RuleModel], test: pd.DataFrame
) -> dict[str, np.ndarray]:
    """Predictions of the model and its baseline rules on the test rows."""
    matrix = bundle.matrix(test).to_numpy(dtype="float64")
    return {"lightgbm": bundle.predict(test)} | {
        kind: rule.predict(matrix) for kind, rule in rules.items()
    }


def _score(rule: RuleModel, rows: pd.DataFrame) -> np.ndarray:
    return rule.predict(feature_matrix(rows, rule.feature_names))


def classification_baselines(
    task: str, train: pd.DataFrame, test: pd.DataFrame
) -> dict[str, np.ndarray]:
    """Scores where higher means more likely (churn: silent and low RFM; conversion: the reverse)."""
    names = ["recency_days", "tenure_days", "orders_total", "revenue_total"]
    return {
        kind: _score(fit_rule(kind, task, train, names, horizon_days=0, windows=[1]), test)
        for kind in ("recency_rule", "rfm_score")
    }


def last_period_value(test: pd.DataFrame, horizon_days: int, windows: list[int]) -> np.ndarray:
    """Net revenue of the last period as long as the horizon (scaled from the nearest window)."""
    names = [f"{n}_{w}d" for w in windows for n in ("revenue", "refund_amount")]
    rule = fit_rule(
        "last_period_value", "ltv", test, names, horizon_days=horizon_days, windows=windows
    )
    return _score(rule, test)


# attrs key of a :func:`bgnbd_forecast`: why its ``expected_value`` is NaN (Gamma-Gamma
# cannot be fitted or has no mean order value, ``GammaGamma.fit_for_value``)
NO_VALUE = "no_value"


class NoForecast(BTYDError):
    """BG/NBD cannot be fitted on the log up to the cutoff (``BGNBD.fit_for_forecast``, the
    served rules' check): the message says why, with the count."""


def bgnbd_forecast(events_path: Path, as_of: pd.Timestamp, horizon_days: int) -> pd.DataFrame:
    """BG/NBD + Gamma-Gamma fitted on the purchases up to ``as_of``: per buyer (index user_id)
    ``p_alive``, ``p_purchase`` (of at least one), ``expected_purchases`` and
    ``expected_value`` in the next ``horizon_days``; NaN values where the spend cannot be
    fitted or its fit has no mean order value, and why in ``attrs[NO_VALUE]``. Where BG/NBD
    itself cannot be fitted (too few customers): :class:`NoForecast`, saying why."""
    import duckdb

    as_of = pd.Timestamp(as_of)
    orders = duckdb.sql(
        f"""SELECT {c.USER_ID} AS user_id, {c.EVENT_TIME} AS order_time,
                   sum({money(c.AMOUNT)})::DOUBLE AS value
            FROM read_parquet({literal(events_path)})
            WHERE {c.EVENT_TYPE} = '{c.PURCHASE}' AND {c.EVENT_TIME} <= '{as_of.isoformat()}'::TIMESTAMPTZ
            GROUP BY ALL ORDER BY user_id, order_time"""
    ).df()
    summary, bgnbd, rfm = _fitted(orders, as_of)
    purchases = bgnbd.expected_purchases(horizon_days / 7.0, *rfm)
    # customers whose repeat days kept some value (a day of free items only is 0), as the
    # rule's fit (lifecycle.rules): one such customer would end the fit for everyone
    spent = summary[summary["monetary_value"] > 0]
    # no fit (too few repeat customers) or no mean order value: no value, said why, as the
    # served rule refuses (not the mean order value of everyone, another model); every
    # purchase day worth one value (a count-only log's 1): that value, as the rule serves
    gamma, each, no_value = purchase_value(
        spent["frequency"], spent["monetary_value"], _days_of_buyers(orders), "avg_order_value"
    )
    if no_value or gamma is None:
        value = np.full(len(summary), np.nan)
    elif each is not None:
        value = purchases * each
    else:
        value = expected_value(bgnbd, gamma, summary, horizon_days)
    forecast = pd.DataFrame(
        {
            "p_alive": bgnbd.probability_alive(*rfm),
            "p_purchase": 1.0 - bgnbd.probability_of_no_purchase(horizon_days / 7.0, *rfm),
            "expected_purchases": purchases,
            "expected_value": value,
        },
        index=summary.index,
    )
    if no_value:
        forecast.attrs[NO_VALUE] = no_value
    return forecast


def _days_of_buyers(orders: pd.DataFrame) -> pd.DataFrame:
    """Per buyer of ``orders`` (user_id, order_time, value) their purchases as this baseline
    counts them, calendar days (``rfm_summary``): how many, their mean and largest value, the
    columns :func:`lifecycle.rules.one_order_value` reads."""
    day = orders["order_time"].dt.floor("D").rename("day")
    days = orders.groupby([orders["user_id"], day])["value"].sum().groupby(level=0)
    return pd.DataFrame(
        {"orders_total": days.size(), "avg_order_value": days.mean(), "max_order_value": days.max()}
    )


def bgnbd_activity(
    events_path: Path,
    as_of: pd.Timestamp,
    horizon_days: int,
    not_activity_types: Sequence[str] = (),
) -> pd.Series:
    """BG/NBD of active days (``features.event_types.not_activity``: any event but a refund or one of
    ``not_activity_types``) up to
    ``as_of``: per user (index user_id) P(at least one active day in the next
    ``horizon_days``), the textbook model of a log whose activity is more than its purchases
    (visits, sessions), judged as churn's P(active) is; :class:`NoForecast` where it cannot
    be fitted."""
    import duckdb

    from features.event_types import is_activity

    as_of = pd.Timestamp(as_of)
    days = duckdb.sql(
        f"""SELECT {c.USER_ID} AS user_id, {c.EVENT_TIME} AS order_time, 0.0 AS value
            FROM read_parquet({literal(events_path)})
            WHERE {is_activity(c.EVENT_TYPE, not_activity_types)}
              AND {c.EVENT_TIME} <= '{as_of.isoformat()}'::TIMESTAMPTZ"""
    ).df()
    summary, bgnbd, rfm = _fitted(days, as_of, "active users")  # a day of sessions is one
    none = bgnbd.probability_of_no_purchase(horizon_days / 7.0, *rfm)
    return pd.Series(1.0 - np.asarray(none, dtype=float), index=summary.index)


def _fitted(
    orders: pd.DataFrame, as_of: pd.Timestamp, who: str = "customers"
) -> tuple[pd.DataFrame, BGNBD, tuple[pd.Series, pd.Series, pd.Series]]:
    """BG/NBD fitted on ``orders`` (user_id, order_time, value) up to ``as_of``: the users'
    summary, the model and their (frequency, recency, T); :class:`NoForecast` where it
    cannot be fitted (``who``: what the users are, in its words)."""
    summary = rfm_summary(orders, as_of)
    rfm = (summary["frequency"], summary["recency"], summary["T"])
    bgnbd, why = BGNBD.fit_for_forecast(*rfm, who=who)
    if bgnbd is None:
        raise NoForecast(why)
    return summary, bgnbd, rfm


def bgnbd_value(events_path: Path, test: pd.DataFrame, horizon_days: int) -> np.ndarray:
    """BG/NBD + Gamma-Gamma expected revenue in the horizon, fitted on history up to the cutoff."""
    forecast = bgnbd_forecast(events_path, pd.Timestamp(test[AS_OF].iloc[0]), horizon_days)
    if why := forecast.attrs.get(NO_VALUE):
        raise BTYDError(f"BG/NBD + Gamma-Gamma has no value forecast: {why}")
    # Users without a purchase are not customers in BG/NBD terms: no expected value.
    return test[c.USER_ID].map(forecast["expected_value"]).fillna(0.0).to_numpy(dtype=float)
