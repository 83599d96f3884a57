"""Labels of every task (``lifecycle.tasks``), as of the same cutoffs as the features.

Each label reads only events in ``(as_of, as_of + horizon]``; who is labelled (the task's
population) reads only events at or before ``as_of``. A cutoff whose horizon ends after the
last event is refused: it would be labelled from partial data.

- churn: every user known at ``as_of`` (or, with a lookback, those active in
  ``(as_of - lookback, as_of]``); 1 when they have no activity in the horizon. Lapsed users
  are scored by default: on real purchase logs ~40% of them buy again within a quarter.
- conversion: users who have not reached the target by ``as_of``; 1 when they reach it
  in the horizon by an order not wholly refunded within it (as features count orders).
  Target ``first_purchase`` (sign-up data) or ``repeat_purchase`` (one-time buyers
  becoming repeat buyers, for purchase-only logs).
- ltv: every user known at ``as_of``; purchases minus refunds in the horizon, at least 0.

The population is defined once, on feature rows (:meth:`LabelSpec.eligible`): labels are
computed for every known user and kept where the features say the user is eligible, so
training and scoring cannot disagree on who is in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features import contract as c
from features.asof import (
    AS_OF,
    FeatureError,
    _relation,
    _users_view,
    _utc,
    compute_features,
    connect,
)
from features.event_types import is_activity
from features.orders import cancelled_by, cancelled_sql, money, orders_sql
from lifecycle import tasks

if TYPE_CHECKING:  # the caller's connection; serving imports this module for its names only
    import duckdb

LABEL = "label"
# A model's data window says what its users' activity was: on a log of purchases only, the
# churn of a one-time buyer (no activity in the horizon) is the complement of conversion to
# a repeat buyer (a purchase in it), and serving gives the two one probability.
ACTIVITY = "activity"
PURCHASES, BEYOND_PURCHASES = "purchases", "beyond_purchases"
# Users active without a purchase, as a share of all, above which a log has prospects to
# convert to a first purchase (a few session rows of a purchase log are not that).
PROSPECT_SHARE = 0.01


@dataclass(frozen=True)
class LabelSpec:
    """What a label means; saved with every model trained on it."""

    task: str
    horizon_days: int
    lookback_days: int | None = None  # churn: the activity window that makes a user eligible
    target: str | None = None  # conversion: first_purchase | repeat_purchase
    # churn: event types kept but no activity besides refunds (labels.not_activity_types)
    not_activity_types: tuple[str, ...] = ()

    def describe(self) -> str:
        population = tasks.get(self.task).population
        outcome = tasks.get(self.task).outcome
        if population == "before_target":
            return f"{self.task}: not yet {self.target} at as_of, reaches it within {self.horizon_days} days"
        if outcome == "net_value":
            who = "" if population == "known" else f" ({self.who()})"
            return f"{self.task}: purchases minus refunds in the {self.horizon_days} days after as_of (at least 0){who}"
        what = {"no_activity": "no activity", "any_purchase": "a purchase"}[outcome]
        if self.not_activity_types:
            what += f" ({', '.join(self.not_activity_types)} not counted)"
        return f"{self.task}: {self.who()}, {what} in the next {self.horizon_days} days"

    def who(self) -> str:
        """The users the label is defined for, in words (the population of a recent-activity task)."""
        if self.lookback_days is None:
            return "every user known at as_of"
        return f"active in the {self.lookback_days} days up to as_of"

    def to_dict(self) -> dict[str, object]:
        found = asdict(self)
        if not self.not_activity_types:  # only when set: a champion's definition before it holds
            del found["not_activity_types"]
        return found

    def eligible(self, features: pd.DataFrame) -> np.ndarray:
        """Which feature rows (users known at their as_of) the label is defined for: the one
        definition of the task's population, for training and scoring alike."""
        return self.eligible_columns(
            lambda name: features[name].astype(float).to_numpy(), len(features)
        )

    def eligible_columns(self, column: Callable[[str], np.ndarray], rows: int) -> np.ndarray:
        """:meth:`eligible` of ``rows`` users whose float feature columns ``column(name)``
        returns (NaN for missing): the online scoring path has no frame."""
        population = tasks.get(self.task).population
        if population == "recently_active" and self.lookback_days is not None:
            # active in (as_of - lookback, as_of]: the last activity is less than lookback ago
            recency = column("recency_days")
            return np.where(np.isnan(recency), np.inf, recency) < self.lookback_days
        if population == "before_target":
            orders = column("orders_total")
            return np.where(np.isnan(orders), 0.0, orders) == self.orders_before_target
        return np.ones(rows, dtype=bool)

    @property
    def everyone(self) -> bool:
        """Whether every user known at as_of is in the population."""
        return of_everyone(self.task, self.lookback_days)

    @property
    def orders_before_target(self) -> int:
        """Conversion: the orders a user has before reaching the target (0 or 1)."""
        return 0 if self.target == "first_purchase" else 1

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> LabelSpec:
        return cls(
            **{k: values.get(k) for k in ("task", "horizon_days", "lookback_days", "target")},
            not_activity_types=tuple(values.get("not_activity_types") or ()),
        )


def of_everyone(task: str, lookback_days: int | None) -> bool:
    """Whether the task's population is every user known at as_of (with this lookback)."""
    population = tasks.get(task).population
    return population == "known" or (population == "recently_active" and lookback_days is None)


def label_spec(
    task: str,
    labels_settings: object,
    events: pd.DataFrame | Path | None = None,
    users: pd.DataFrame | Path | None = None,
    until: pd.Timestamp | None = None,
) -> LabelSpec:
    """The spec for a task from the ``labels`` settings section (``<task>_horizon_days``,
    ``<task>_lookback_days``, ``<task>_target``, else the task's defaults, and for an outcome
    or population of activity ``not_activity_types``); a target of ``auto`` is decided from
    ``events`` and ``users`` (:func:`conversion_target_of`; ``until``: those at or before it)."""
    declared = tasks.get(task)
    s = labels_settings
    horizon = getattr(s, f"{task}_horizon_days", None) or declared.horizon_days
    lookback = (
        getattr(s, f"{task}_lookback_days", None)
        if declared.population == "recently_active"
        else None
    )
    quiet = tuple(getattr(s, "not_activity_types", None) or ())
    target = None
    if declared.population == "before_target":
        target = getattr(s, f"{task}_target", "auto")
        if target == "auto":
            if events is None:
                raise FeatureError(f"labels.{task}_target = auto needs the events to decide")
            target = conversion_target_of(events, users, quiet, until)
    of_activity = declared.outcome == "no_activity" or declared.population == "recently_active"
    return LabelSpec(
        task,
        horizon,
        lookback_days=lookback,
        target=target,
        not_activity_types=quiet if of_activity else (),
    )


def conversion_target_of(
    events: pd.DataFrame | Path,
    users: pd.DataFrame | Path | None = None,
    not_activity_types: Sequence[str] = (),
    until: pd.Timestamp | None = None,
) -> str:
    """``first_purchase`` for sign-up data (sign-up events, or users with a sign-up time: some
    are known before they buy) and for a log whose users are active without buying (more
    than ``PROSPECT_SHARE`` of them: a clickstream's browsers); ``repeat_purchase`` for a
    purchase-only log, where every known user has bought and only a second purchase is left
    to convert to. ``until``: decided from the events and sign-ups at or before it, as of a
    backtest's cutoff (:class:`TargetTimes`)."""
    return TargetTimes.of(events, users, not_activity_types).at(until)


@dataclass(frozen=True)
class TargetTimes:
    """When what decides conversion's ``auto`` target happened: the first sign-up, and each
    user's first event, first activity other than a purchase and first purchase; so that the
    target is decided as of any cutoff from what was known by then (:meth:`at`)."""

    signed_up: int | None  # the first sign-up (event or users' sign-up time), ns
    seen: np.ndarray  # each user's first event, sorted (ns)
    browsing: np.ndarray  # each user's first activity other than a purchase, sorted
    browsed_then_bought: np.ndarray  # the later of the two, of users with both, sorted

    @classmethod
    def of(
        cls,
        events: pd.DataFrame | Path,
        users: pd.DataFrame | Path | None = None,
        not_activity_types: Sequence[str] = (),
    ) -> TargetTimes:
        con = connect()
        _relation(con, "events", events)
        t, ty = c.EVENT_TIME, c.EVENT_TYPE
        firsts = [
            f"(SELECT min({t}) FROM events WHERE {ty} = '{c.SIGNUP}')",
        ]
        if users is not None:
            _relation(con, "users_raw", users)
            columns = {row[0] for row in con.execute("DESCRIBE users_raw").fetchall()}
            if c.SIGNUP_TIME in columns:
                firsts.append(f"(SELECT min({c.SIGNUP_TIME}) FROM users_raw)")
        (signed_up,) = con.execute(
            f"SELECT epoch_ns(least({', '.join(firsts)})::TIMESTAMPTZ)"
        ).fetchone()
        browse = f"{is_activity(ty, not_activity_types)} AND {ty} <> '{c.PURCHASE}'"
        never = np.iinfo(np.int64).max  # no such event
        per_user = con.execute(
            f"""SELECT epoch_ns(min({t})) AS seen,
                       coalesce(epoch_ns(min(CASE WHEN {browse} THEN {t} END)), {never}) AS browsed,
                       coalesce(epoch_ns(min(CASE WHEN {ty} = '{c.PURCHASE}' THEN {t} END)),
                                {never}) AS bought
                FROM events GROUP BY {c.USER_ID}"""
        ).fetchnumpy()
        seen, browsed, bought = (
            np.asarray(per_user[k], dtype=np.int64) for k in ("seen", "browsed", "bought")
        )
        return cls(
            None if signed_up is None else int(signed_up),
            np.sort(seen),
            np.sort(browsed[browsed < never]),
            np.sort(np.maximum(browsed, bought)[(browsed < never) & (bought < never)]),
        )

    def at(self, until: pd.Timestamp | None = None) -> str:
        """The target decided from what happened at or before ``until`` (None: everything)."""
        last = np.iinfo(np.int64).max if until is None else pd.Timestamp(until).value
        if self.signed_up is not None and self.signed_up <= last:
            return "first_purchase"
        known = int(np.searchsorted(self.seen, last, side="right"))
        prospects = int(np.searchsorted(self.browsing, last, side="right")) - int(
            np.searchsorted(self.browsed_then_bought, last, side="right")
        )
        return (
            "first_purchase" if known and prospects / known > PROSPECT_SHARE else "repeat_purchase"
        )


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
    features: pd.DataFrame | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
    every_known_user: bool = False,
    floored: bool = True,
) -> pd.DataFrame:
    """(user_id, as_of, label) for the users in the task's population at each cutoff.

    ``every_known_user``: label every user known at the cutoff whatever the task's population
    (a campaign measures the outcome of whoever it targeted). ``floored``: a value outcome at
    least 0, as the LTV label is; False: purchases minus refunds as they are (a campaign's
    revenue, where a member's refund of an earlier order is revenue lost).

    ``features``: the feature rows at these cutoffs (at least ``user_id``, ``as_of`` and what
    :meth:`LabelSpec.eligible` reads), e.g. from the feature table; computed from ``events``
    when not given.
    """
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
    has_order_id = c.ORDER_ID in {row[0] for row in con.execute("DESCRIBE events").fetchall()}
    frame = con.execute(_label_sql(spec, has_order_id, floored)).df()
    frame[AS_OF] = frame[AS_OF].dt.tz_convert("UTC").astype("datetime64[us, UTC]")
    if tasks.get(spec.task).is_probability:
        frame[LABEL] = frame[LABEL].astype("int8")
    if every_known_user:
        return frame
    return _in_population(frame, spec, events, users, features, stamps)


def _in_population(
    labels: pd.DataFrame,
    spec: LabelSpec,
    events: pd.DataFrame | Path,
    users: pd.DataFrame | Path | None,
    features: pd.DataFrame | None,
    stamps: list[pd.Timestamp],
) -> pd.DataFrame:
    """The labelled rows whose feature row says the user is eligible (every known user has one)."""
    if spec.everyone:
        return labels
    if features is None:  # the population reads totals only: one short window is enough
        features = compute_features(
            events, stamps, users=users, windows=(1,), not_activity_types=spec.not_activity_types
        )
    rows = features[features[AS_OF].isin(stamps)]
    eligible = rows.loc[spec.eligible(rows), [c.USER_ID, AS_OF]]
    eligible = eligible.astype({AS_OF: labels[AS_OF].dtype})
    kept = labels.merge(eligible, on=[c.USER_ID, AS_OF], how="inner")
    return kept.sort_values([AS_OF, c.USER_ID], kind="stable").reset_index(drop=True)


def _label_sql(spec: LabelSpec, has_order_id: bool, floored: bool = True) -> str:
    """The task's outcome in the horizon for every user known at each cutoff."""
    u, t, ty, amt = c.USER_ID, c.EVENT_TIME, c.EVENT_TYPE, c.AMOUNT
    h = f"INTERVAL {spec.horizon_days} DAY"
    in_horizon = f"e.{t} > k.as_of AND e.{t} <= k.as_of + {h}"
    known = f"""
        SELECT usr.{u}, a.as_of FROM users usr CROSS JOIN cutoffs a WHERE usr.{c.SIGNUP_TIME} <= a.as_of
        UNION
        SELECT DISTINCT e.{u}, a.as_of FROM events e JOIN cutoffs a ON e.{t} <= a.as_of"""
    outcome = tasks.get(spec.task).outcome
    if outcome == "net_value":
        exact = money(f"e.{amt}")
        measure = f"""coalesce(sum(CASE WHEN e.{ty} = '{c.PURCHASE}' THEN {exact}
                                  WHEN e.{ty} = '{c.REFUND}' THEN -{exact} END), 0)"""
        return f"""
        WITH known AS ({known}),
        value AS (
            SELECT k.{u}, k.as_of, {measure} AS net
            FROM known k LEFT JOIN events e ON e.{u} = k.{u} AND {in_horizon}
            GROUP BY ALL
        )
        SELECT {u}, as_of, {"greatest(net, 0)" if floored else "net"}::DOUBLE AS {LABEL}
        FROM value ORDER BY as_of, {u}"""
    orders = ""
    if outcome == "no_activity":
        happened = f"""SELECT DISTINCT k.{u}, k.as_of FROM known k JOIN events e
              ON e.{u} = k.{u} AND {in_horizon}
              AND {is_activity(f"e.{ty}", spec.not_activity_types)}"""
        flag = f"(h.{u} IS NULL)"
    else:  # any_purchase: an order in the horizon not cancelled in it (as features count orders)
        happened = f"""SELECT DISTINCT k.{u}, k.as_of FROM known k JOIN orders o
              ON o.{u} = k.{u} AND o.order_time > k.as_of AND o.order_time <= k.as_of + {h}
              {cancelled_by("o", f"k.as_of + {h}", "x")}
              WHERE x.{u} IS NULL"""
        flag = f"(h.{u} IS NOT NULL)"
        orders = f"orders AS ({orders_sql(has_order_id)}), {cancelled_sql(has_order_id)},"
    return f"""
        WITH known AS ({known}), {orders} happened AS ({happened})
        SELECT k.{u}, k.as_of, {flag}::INTEGER AS {LABEL}
        FROM known k LEFT JOIN happened h USING ({u}, as_of)
        ORDER BY k.as_of, k.{u}"""
