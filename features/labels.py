"""Labels for the three predictions, as of the same cutoffs as the features.

Each label reads only events in ``(as_of, as_of + horizon]``; eligibility reads only
events at or before ``as_of``. A cutoff whose horizon ends after the last event is
refused: it would be labelled from partial data.

- churn: every user known at ``as_of`` (or, with a lookback, those active in
  ``(as_of - lookback, as_of]``); 1 when they have no activity in the horizon. Lapsed users
  are scored by default: on real purchase logs ~40% of them buy again within a quarter.
- conversion: users who have not reached the target by ``as_of``; 1 when they reach it
  in the horizon. Target ``first_purchase`` (sign-up data) or ``repeat_purchase``
  (one-time buyers becoming repeat buyers, for purchase-only logs).
- ltv: every user known at ``as_of``; purchases minus refunds in the horizon, at least 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import duckdb
import numpy as np
import pandas as pd

from features import contract as c
from features.asof import AS_OF, NOT_ACTIVITY, FeatureError, _relation, _users_view, _utc, connect

LABEL = "label"
Task = Literal["churn", "conversion", "ltv"]
TASKS: tuple[Task, ...] = ("churn", "conversion", "ltv")


@dataclass(frozen=True)
class LabelSpec:
    """What a label means; saved with every model trained on it."""

    task: Task
    horizon_days: int
    lookback_days: int | None = None  # churn: the activity window that makes a user eligible
    target: str | None = None  # conversion: first_purchase | repeat_purchase

    def describe(self) -> str:
        if self.task == "churn":
            who = (
                "every user known at as_of"
                if self.lookback_days is None
                else f"active in the {self.lookback_days} days up to as_of"
            )
            return f"churn: {who}, no activity in the next {self.horizon_days} days"

        if self.task == "conversion":
            return f"conversion: not yet {self.target} at as_of, reaches it within {self.horizon_days} days"
        return (
            f"ltv: purchases minus refunds in the {self.horizon_days} days after as_of (at least 0)"
        )

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def eligible(self, features: pd.DataFrame) -> np.ndarray:
        """Which feature rows (users known at their as_of) the label is defined for: the same
        rule as the label SQL, read from the features (``recency_days``, ``orders_total``)."""
        if self.task == "churn":
            if self.lookback_days is None:
                return np.ones(len(features), dtype=bool)
            recency = features["recency_days"].astype(float).fillna(np.inf).to_numpy()
            return recency <= self.lookback_days
        if self.task == "conversion":
            orders = features["orders_total"].astype(float).fillna(0).to_numpy()
            return orders == self.orders_before_target
        return np.ones(len(features), dtype=bool)

    @property
    def orders_before_target(self) -> int:
        """Conversion: the orders a user has before reaching the target (0 or 1)."""
        return 0 if self.target == "first_purchase" else 1

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> LabelSpec:
        return cls(
            **{k: values.get(k) for k in ("task", "horizon_days", "lookback_days", "target")}
        )


def label_spec(
    task: str,
    labels_settings: object,
    events: pd.DataFrame | Path | None = None,
    users: pd.DataFrame | Path | None = None,
) -> LabelSpec:
    """The spec for a task from the ``labels`` settings section; a conversion target of
    ``auto`` is decided from ``events`` and ``users`` (:func:`conversion_target_of`)."""
    s = labels_settings
    if task == "churn":
        return LabelSpec("churn", s.churn_horizon_days, lookback_days=s.churn_lookback_days)  # type: ignore[attr-defined]
    if task == "conversion":
        target = s.conversion_target  # type: ignore[attr-defined]
        if target == "auto":
            if events is None:
                raise FeatureError("labels.conversion_target = auto needs the events to decide")
            target = conversion_target_of(events, users)
        return LabelSpec("conversion", s.conversion_horizon_days, target=target)  # type: ignore[attr-defined]
    if task == "ltv":
        return LabelSpec("ltv", s.ltv_horizon_days)  # type: ignore[attr-defined]
    raise FeatureError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")


def conversion_target_of(
    events: pd.DataFrame | Path, users: pd.DataFrame | Path | None = None
) -> str:
    """``first_purchase`` for sign-up data (sign-up events, or users with a sign-up time: some
    are known before they buy); ``repeat_purchase`` for a purchase-only log, where every
    known user has bought and only a second purchase is left to convert to."""
    con = connect()
    _relation(con, "events", events)
    signups = con.execute(
        f"SELECT count(*) FROM events WHERE {c.EVENT_TYPE} = '{c.SIGNUP}'"
    ).fetchall()[0][0]
    if not signups and users is not None:
        _relation(con, "users_raw", users)
        columns = {row[0] for row in con.execute("DESCRIBE users_raw").fetchall()}
        if c.SIGNUP_TIME in columns:
            signups = con.execute(f"SELECT count({c.SIGNUP_TIME}) FROM users_raw").fetchone()[0]
    return "first_purchase" if signups else "repeat_purchase"


def matured_cutoffs(
    last_event: pd.Timestamp, cutoffs: Sequence[pd.Timestamp], horizon_days: int
) -> list[pd.Timestamp]:
    """The cutoffs whose whole horizon lies within the data."""
    return [t for t in cutoffs if _utc(t) + pd.Timedelta(days=horizon_days) <= _utc(last_event)]


def compute_labels(
    events: pd.DataFrame | Path,
    cutoffs: Sequence[pd.Timestamp | str],
    spec: LabelSpec,
    *,
    users: pd.DataFrame | Path | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> pd.DataFrame:
    """(user_id, as_of, label) for the eligible users at each cutoff."""
    con = con or connect()
    _relation(con, "events", events)
    _users_view(con, users)
    last_event = con.execute(f"SELECT max({c.EVENT_TIME}) FROM events").fetchone()[0]
    if last_event is None:
        raise FeatureError("the events table is empty: nothing to label")
    stamps = sorted({_utc(t) for t in cutoffs})
    if not stamps:
        raise FeatureError("no cutoff dates given")
    unripe = [t for t in stamps if t not in matured_cutoffs(last_event, [t], spec.horizon_days)]
    if unripe:
        raise FeatureError(
            f"{spec.task} labels with a {spec.horizon_days}-day horizon need events up to "
            f"{unripe[-1] + pd.Timedelta(days=spec.horizon_days):%Y-%m-%d}, but the data ends at "
            f"{_utc(last_event):%Y-%m-%d %H:%M}; cutoffs without a matured horizon: "
            f"{', '.join(f'{t:%Y-%m-%d}' for t in unripe)}"
        )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE cutoffs AS SELECT UNNEST($1::TIMESTAMPTZ[]) AS as_of",
        [[t.to_pydatetime() for t in stamps]],
    )
    frame = con.execute(_label_sql(spec)).df()
    frame[AS_OF] = frame[AS_OF].dt.tz_convert("UTC").astype("datetime64[us, UTC]")
    if spec.task in ("churn", "conversion"):
        frame[LABEL] = frame[LABEL].astype("int8")
    return frame


def _label_sql(spec: LabelSpec) -> str:
    u, t, ty, amt = c.USER_ID, c.EVENT_TIME, c.EVENT_TYPE, c.AMOUNT
    h = f"INTERVAL {spec.horizon_days} DAY"
    in_horizon = f"e.{t} > a.as_of AND e.{t} <= a.as_of + {h}"
    active = f"e.{ty} NOT IN ({', '.join(repr(x) for x in NOT_ACTIVITY)})"
    known = f"""
        SELECT usr.{u}, a.as_of FROM users usr CROSS JOIN cutoffs a WHERE usr.{c.SIGNUP_TIME} <= a.as_of
        UNION
        SELECT DISTINCT e.{u}, a.as_of FROM events e JOIN cutoffs a ON e.{t} <= a.as_of"""
    if spec.task == "churn":
        eligible = (
            known
            if spec.lookback_days is None
            else f"""SELECT DISTINCT e.{u}, a.as_of FROM events e JOIN cutoffs a
              ON e.{t} > a.as_of - INTERVAL {spec.lookback_days} DAY AND e.{t} <= a.as_of AND {active}"""
        )
        return f"""
        WITH eligible AS ({eligible}),
        returned AS (
            SELECT DISTINCT e.{u}, a.as_of FROM events e JOIN cutoffs a ON {in_horizon} AND {active}
        )
        SELECT g.{u}, g.as_of, (r.{u} IS NULL)::INTEGER AS {LABEL}
        FROM eligible g LEFT JOIN returned r USING ({u}, as_of)
        ORDER BY g.as_of, g.{u}"""
    if spec.task == "conversion":
        needed = spec.orders_before_target + 1
        return f"""
        WITH orders AS ({_orders_sql()}),
        known AS ({known}),
        before AS (
            SELECT k.{u}, k.as_of, count(o.order_time) AS n
            FROM known k LEFT JOIN orders o ON o.{u} = k.{u} AND o.order_time <= k.as_of
            GROUP BY ALL
        ),
        eligible AS (SELECT * FROM before WHERE n = {needed - 1}),
        reached AS (
            SELECT DISTINCT g.{u}, g.as_of FROM eligible g JOIN orders o
              ON o.{u} = g.{u} AND o.order_time > g.as_of AND o.order_time <= g.as_of + {h}
        )
        SELECT g.{u}, g.as_of, (r.{u} IS NOT NULL)::INTEGER AS {LABEL}
        FROM eligible g LEFT JOIN reached r USING ({u}, as_of)
        ORDER BY g.as_of, g.{u}"""
    return f"""
        WITH known AS ({known}),
        value AS (
            SELECT k.{u}, k.as_of,
                   coalesce(sum(CASE WHEN e.{ty} = '{c.PURCHASE}' THEN e.{amt}
                                     WHEN e.{ty} = '{c.REFUND}' THEN -e.{amt} END), 0) AS net
            FROM known k LEFT JOIN events e ON e.{u} = k.{u} AND {in_horizon.replace("a.as_of", "k.as_of")}
            GROUP BY ALL
        )
        SELECT {u}, as_of, greatest(net, 0)::DOUBLE AS {LABEL} FROM value ORDER BY as_of, {u}"""


def _orders_sql() -> str:
    """Orders as in the features: the purchase lines of one user at one moment."""
    return f"SELECT DISTINCT {c.USER_ID}, {c.EVENT_TIME} AS order_time FROM events WHERE {c.EVENT_TYPE} = '{c.PURCHASE}'"
