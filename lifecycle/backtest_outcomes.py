"""What each task's training asks of a backtest's offered cutoff, counted before anything
runs: its rows and, in each of train, validation and test, its positive and negative
outcomes, refused by training's own rule (:func:`training.datasets.refusal_of`).
Conversion's rows are the users known with the target's number of orders kept, its
outcomes orders not refunded in full (:mod:`features.orders`, as features and labels count
them); churn's and LTV's rows are every user known, their outcomes no activity and a
value (purchases less refunds) above 0 in the horizon (:mod:`features.labels`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from features import contract as c
from features.labels import TargetTimes
from lifecycle.closures import DAY_NS
from lifecycle.sql import literal
from lifecycle.words import POSITIVES, ROWS, counted

if TYPE_CHECKING:
    from features.labels import LabelSpec
    from training.datasets import Refusal

NEVER = np.iinfo(np.int64).max
PARTS = {"train": "training", "valid": "validation", "test": "test"}


def known_since_sql(events_path: Path, users: Path | None) -> str:
    """(user_id, first_time): when each user is first known, their first event or their
    sign-up in ``users`` (users.parquet) if earlier; a sign-up with no event is known from it,
    as the feature table's population (training's rows, :func:`features.asof.compute_features`)
    counts every user signed up or seen by a cutoff."""
    from features.asof import connect

    u, t, signup = c.USER_ID, c.EVENT_TIME, c.SIGNUP_TIME
    known = (
        f"SELECT {u}, min({t}) AS first_time FROM read_parquet({literal(events_path)}) GROUP BY {u}"
    )
    if users is not None and users.is_file():
        table = f"read_parquet({literal(users)})"
        columns = {
            row[0] for row in connect().execute(f"DESCRIBE SELECT * FROM {table}").fetchall()
        }
        if signup in columns:
            known += f" UNION ALL SELECT {u}, {signup} FROM {table} WHERE {signup} IS NOT NULL"
    return f"SELECT {u}, min(first_time) AS first_time FROM ({known}) GROUP BY {u}"


@dataclass(frozen=True)
class ConversionCounts:
    """Conversion's rows and outcomes at any cutoff and horizon: each user's first known time
    and each order's user, time and cancellation (a credit note of its value: then neither
    an order kept nor a conversion)."""

    known: np.ndarray  # each user's first known time (ns)
    user: np.ndarray  # each order's user (index into known)
    at: np.ndarray  # each order's time (ns)
    cancelled: np.ndarray  # when it was refunded in full (ns), NEVER where not
    before: int  # the orders a user of its population has (LabelSpec.orders_before_target)
    words: str  # who its rows are (training.datasets.population_cause)
    draws: np.ndarray  # each user's draw (training.datasets.user_draws: training.max_rows)
    min_rows: int = 200  # training.min_rows
    min_positives: int = 20  # training.min_positives
    spec: LabelSpec | None = None  # the label's (its target decided at the cutoff: decided_at())
    targets: TargetTimes | None = None  # labels.conversion_target auto: decided at a cutoff

    @classmethod
    def of(
        cls,
        events_path: Path,
        users: Path | None,
        spec: LabelSpec,
        min_rows: int = 200,
        min_positives: int = 20,
        targets: TargetTimes | None = None,
    ) -> ConversionCounts:
        from features.asof import connect
        from features.orders import cancelled_by, cancelled_sql, orders_sql
        from training.datasets import population_cause, user_draws

        con = connect()
        con.execute(
            f"CREATE TEMP VIEW events AS SELECT * FROM read_parquet({literal(events_path)})"
        )
        has_order_id = c.ORDER_ID in {row[0] for row in con.execute("DESCRIBE events").fetchall()}
        u = c.USER_ID
        known = con.execute(
            f"SELECT {u}, epoch_ns(first_time) FROM ({known_since_sql(events_path, users)}) ORDER BY {u}"
        ).fetchall()
        index = {user: n for n, (user, _) in enumerate(known)}
        orders = con.execute(
            f"""WITH orders AS ({orders_sql(has_order_id)}), {cancelled_sql(has_order_id)}
            SELECT o.{u}, epoch_ns(o.order_time), epoch_ns(x.refund_time) FROM orders o
            {cancelled_by("o", "'infinity'::TIMESTAMPTZ", "x")}"""
        ).fetchall()
        return cls(
            np.array([first for _, first in known], dtype=np.int64),
            np.array([index[user] for user, _, _ in orders], dtype=np.int64),
            np.array([at for _, at, _ in orders], dtype=np.int64),
            np.array([NEVER if gone is None else gone for _, _, gone in orders], dtype=np.int64),
            spec.orders_before_target,
            population_cause(spec).removeprefix(": "),
            user_draws(pd.Series([user for user, _ in known], dtype=object)),
            min_rows,
            min_positives,
            spec,
            targets,
        )

    def decided_at(self, cutoff: pd.Timestamp) -> ConversionCounts:
        """The counts of a backtest at ``cutoff``: its training decides an ``auto`` target
        from its copy of the data, the events and sign-ups up to the cutoff
        (:meth:`features.labels.TargetTimes.at`), never from what came after it."""
        from dataclasses import replace

        from training.datasets import population_cause

        if self.targets is None or self.spec is None:
            return self
        spec = replace(self.spec, target=self.targets.at(cutoff))
        return replace(
            self,
            before=spec.orders_before_target,
            words=population_cause(spec).removeprefix(": "),
            spec=spec,
        )

    def outcomes(self, cutoff: pd.Timestamp, horizon: int, share: float = 1.0) -> tuple[int, int]:
        """Conversion's rows at ``cutoff`` (the users known with ``before`` orders kept, as
        ``orders_total`` counts them; of a ``share`` of users drawn as training draws them)
        and how many of them bought in its ``horizon`` days an order not refunded in full by
        its end (its label's positives)."""
        from training.datasets import DRAWS

        start = pd.Timestamp(cutoff).value
        end = start + horizon * DAY_NS
        users = len(self.known)
        kept = np.bincount(self.user, (self.at <= start) & (self.cancelled > start), users)
        rows = (self.known <= start) & (kept == self.before)
        if share < 1.0:  # training.max_rows: a share of the users
            rows &= self.draws < share * DRAWS
        bought = (self.at > start) & (self.at <= end) & (self.cancelled > end)
        converted = np.bincount(self.user, bought, users) > 0
        return int(rows.sum()), int((rows & converted).sum())

    def refused(
        self, parts: dict[str, list[pd.Timestamp]], horizon: int, share: float = 1.0
    ) -> str:
        """Why training refuses conversion at these cutoffs (``parts``: the time split's train,
        valid and test; ``share``: of the users), as :func:`training.datasets.check_trainable`
        does; '' where it trains."""
        counts = part_counts(lambda t: self.outcomes(t, horizon, share), parts)
        refused = refused_by("conversion", counts, self.min_rows, self.min_positives)
        return refusal_words(refused, self.words, self.min_rows, self.min_positives)


def window(times: np.ndarray, start: int, end: int) -> slice:
    """The moments of ``times`` (in time order) in ``(start, end]``."""
    return slice(*np.searchsorted(times, [start, end], side="right").tolist())


def part_counts(
    outcomes: Callable[[pd.Timestamp], tuple[int, int]], parts: dict[str, list[pd.Timestamp]]
) -> dict[str, tuple[int, int]]:
    """Each part's rows and positive outcomes, summed over its cutoffs."""
    found = {name: [outcomes(t) for t in cutoffs] for name, cutoffs in parts.items()}
    return {
        name: (sum(r for r, _ in each), sum(p for _, p in each)) for name, each in found.items()
    }


def refused_by(
    task: str, counts: dict[str, tuple[int, int]], min_rows: int, min_positives: int
) -> Refusal | None:
    """Training's rule (:func:`training.datasets.refusal_of`) on these counts."""
    from training.datasets import refusal_of

    return refusal_of(task, counts, min_rows, min_positives)


def refusal_words(refused: Refusal | None, words: str, min_rows: int, min_positives: int) -> str:
    """A refusal in an offer's words ('' where training trains); ``words``: who the rows are."""
    if refused is None:
        return ""
    kind, name, size, positives = refused
    if kind == "rows":
        return f"{size:,} training rows, {min_rows:,} needed; {words}"
    every = kind == "single_class" and positives == size and positives >= min_positives
    why = "no negative" if every else f"{min_positives} needed (training.min_positives)"
    return (
        f"its {PARTS[name]} cutoffs have {counted(positives, POSITIVES)} of "
        f"{counted(size, ROWS)}, {why}"
    )


@dataclass(frozen=True)
class KnownOutcomes:
    """Churn's and LTV's outcomes at any cutoff and horizon, of every user known then (their
    rows): each user's first known time, each moment of activity (churn: none in the
    horizon) and each moment's purchases less refunds, exact in millionths (LTV: above 0 in
    the horizon), as :mod:`features.labels` labels them."""

    known: np.ndarray  # each user's first known time (ns)
    draws: np.ndarray  # each user's draw (training.datasets.user_draws: training.max_rows)
    active_user: np.ndarray  # each moment of activity's user (index into known)
    active_at: np.ndarray  # its time (ns), in time order (a window is a slice)
    moved_user: np.ndarray  # each moment of purchases or refunds: its user
    moved_at: np.ndarray  # its time (ns), in time order
    moved_net: np.ndarray  # purchases less refunds then, in millionths
    tasks: tuple[str, ...] = ("churn", "ltv")  # those trained (training.tasks)
    min_rows: int = 200  # training.min_rows
    min_positives: int = 20  # training.min_positives
    lookback: int | None = None  # labels.churn_lookback_days: churn's rows, the recently active
    memo: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(
        cls,
        events_path: Path,
        users: Path | None,
        not_activity_types: tuple[str, ...] = (),
        tasks: tuple[str, ...] = ("churn", "ltv"),
        min_rows: int = 200,
        min_positives: int = 20,
        lookback: int | None = None,
    ) -> KnownOutcomes:
        from features.asof import connect
        from features.event_types import is_activity
        from features.orders import money
        from training.datasets import user_draws

        con = connect()
        con.execute(
            f"CREATE TEMP VIEW events AS SELECT * FROM read_parquet({literal(events_path)})"
        )
        u, t, ty = c.USER_ID, c.EVENT_TIME, c.EVENT_TYPE
        known = con.execute(
            f"SELECT {u}, epoch_ns(first_time) FROM ({known_since_sql(events_path, users)}) ORDER BY {u}"
        ).fetchall()
        index = pd.Index([user for user, _ in known])
        active = con.execute(
            f"SELECT DISTINCT {u} AS user_id, epoch_ns({t}) AS moment FROM events "
            f"WHERE {is_activity(ty, not_activity_types)} ORDER BY moment"
        ).df()
        amount = money(c.AMOUNT)
        moved = con.execute(
            f"""SELECT {u} AS user_id, epoch_ns({t}) AS moment, (coalesce(sum(CASE WHEN
                    {ty} = '{c.PURCHASE}' THEN {amount} ELSE -{amount} END), 0) * 1000000)::BIGINT
                    AS net
                FROM events WHERE {ty} IN ('{c.PURCHASE}', '{c.REFUND}') GROUP BY 1, 2 ORDER BY 2"""
        ).df()

        def users_of(frame: pd.DataFrame) -> np.ndarray:
            return index.get_indexer(frame["user_id"]).astype(np.int64)

        return cls(
            np.array([first for _, first in known], dtype=np.int64),
            user_draws(pd.Series([user for user, _ in known], dtype=object)),
            users_of(active), active["moment"].to_numpy(np.int64),
            users_of(moved), moved["moment"].to_numpy(np.int64), moved["net"].to_numpy(np.int64),
            tasks, min_rows, min_positives, lookback,
        )  # fmt: skip

    def outcomes(
        self, task: str, cutoff: pd.Timestamp, horizon: int, share: float = 1.0
    ) -> tuple[int, int]:
        """``task``'s rows at ``cutoff`` (every user known; churn's with a ``lookback`` those
        active in its days up to the cutoff, as :meth:`features.labels.LabelSpec.eligible`
        reads ``recency_days``; of a ``share`` of users drawn as training draws them) and its
        positive outcomes in ``horizon`` days: churn's users with no activity, LTV's with
        purchases less refunds above 0."""
        from training.datasets import DRAWS

        key = (task, pd.Timestamp(cutoff).value, horizon, share)
        if key in self.memo:
            return self.memo[key]
        start = pd.Timestamp(cutoff).value
        end = start + horizon * DAY_NS
        users = len(self.known)
        rows = self.known <= start
        if share < 1.0:  # training.max_rows: a share of the users
            rows &= self.draws < share * DRAWS
        if task == "churn" and self.lookback is not None:  # active in (start - lookback, start]
            recent = window(self.active_at, start - self.lookback * DAY_NS, start)
            rows &= np.bincount(self.active_user[recent], minlength=users) > 0
        if task == "churn":
            inside = window(self.active_at, start, end)
            positive = np.bincount(self.active_user[inside], minlength=users) == 0
        else:  # ltv: a value above 0 (its P(any value) is what training checks)
            inside = window(self.moved_at, start, end)
            net = np.bincount(self.moved_user[inside], self.moved_net[inside], users)
            positive = net > 0
        found = self.memo[key] = int(rows.sum()), int((rows & positive).sum())
        return found

    def refused(
        self, task: str, parts: dict[str, list[pd.Timestamp]], horizon: int, share: float = 1.0
    ) -> Refusal | None:
        """``task``'s refusal by training's rule at these cutoffs (``parts``: the time split's
        train, valid and test); None where it trains."""
        counts = part_counts(partial(self.outcomes, task, horizon=horizon, share=share), parts)
        return refused_by(task, counts, self.min_rows, self.min_positives)
