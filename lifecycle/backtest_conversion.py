"""What conversion's training asks of a backtest's offered cutoff, counted before anything
runs: its rows (the users known with the target's number of orders kept) and, in each of
train, validation and test, its positive and negative outcomes
(:func:`training.datasets.check_trainable`), from the orders and their cancellations as
features and labels count them (:mod:`features.orders`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from features import contract as c
from lifecycle.closures import DAY_NS
from lifecycle.sql import literal
from lifecycle.words import POSITIVES, ROWS, counted

if TYPE_CHECKING:
    from features.labels import LabelSpec

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

    @classmethod
    def of(
        cls,
        events_path: Path,
        users: Path | None,
        spec: LabelSpec,
        min_rows: int = 200,
        min_positives: int = 20,
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
        counted_parts = {
            name: np.array([self.outcomes(t, horizon, share) for t in cutoffs])
            .reshape(-1, 2)
            .sum(0)
            for name, cutoffs in parts.items()
        }
        rows = int(counted_parts["train"][0])
        if rows < self.min_rows:
            return f"{rows:,} training rows, {self.min_rows:,} needed; {self.words}"
        for name, (size, positives) in counted_parts.items():
            size, positives = int(size), int(positives)
            if positives < self.min_positives or positives == size:
                why = (
                    "no negative"
                    if positives == size and positives >= self.min_positives
                    else f"{self.min_positives} needed (training.min_positives)"
                )
                return (
                    f"its {PARTS[name]} cutoffs have {counted(positives, POSITIVES)} of "
                    f"{counted(size, ROWS)}, {why}"
                )
        return ""
