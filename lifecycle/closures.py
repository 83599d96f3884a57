"""A shop shut: a spell with no event from anyone far longer than the log's own rhythm
(online_retail's Christmas 2010: no event from 2010-12-24 to 2011-01-03).

The one detection (:func:`shut_spells`) and its words: the backtest says a closure near its
cutoff (:func:`cutoff_words`), training one its labels' horizons span (:func:`label_words`),
and a label-free fit one in the horizon before the cutoff it is fitted at (:func:`fit_words`).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from features import contract as c
from lifecycle.sql import literal
from lifecycle.words import CUTOFFS, DAYS, counted

DAY_NS = 86_400 * 10**9
# A shop-wide silence this many times the log's usual gap between days with events is a
# closure, not a weekend or a holiday; fewer gaps than SHUT_MIN_GAPS: no rhythm to tell. A
# closure is of a shop that was trading: the SHUT_MIN_GAPS gaps before the silence at most
# the usual one (a young shop's sparse first weeks are no closure).
SHUT_TIMES = 3
SHUT_MIN_GAPS = 14

# what a closure inside a label's horizon does to the label, by the task's outcome
LABEL_EFFECTS = {
    "no_activity": "its shut days count as every customer's silence, so customers read as "
    "churned while the shop was shut (more churn labels than with the shop open)",
    "any_purchase": "its shut days leave fewer days to buy in, so fewer customers read as "
    "converted",
    "net_value": "its shut days leave fewer days to buy in, so the value labels read low",
}


class Closure(NamedTuple):
    first: pd.Timestamp  # the first day with no event (midnight UTC)
    last: pd.Timestamp  # the last day with no event
    usual: int  # the gap 95% of the log's days with events are at most apart

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def words(self) -> str:
        return (
            f"the shop was shut: no event from anyone from {self.first:%A %Y-%m-%d} to "
            f"{self.last:%A %Y-%m-%d} ({counted(self.days, DAYS)}"
        )

    @property
    def rhythm(self) -> str:
        return f"95% of the log's days with events are at most {counted(self.usual, DAYS)} apart"


def shut_spells(days: np.ndarray) -> list[Closure]:
    """The closures of a log whose days with events are ``days`` (day numbers since the
    epoch, UTC): where two days with events are more than ``SHUT_TIMES`` times the gap 95%
    of the log's gaps are at most apart (2 days where Saturdays are shut, 1 where every day
    trades), after ``SHUT_MIN_GAPS`` gaps at most that usual one (the shop was trading at its
    rhythm: a demo log's first weeks, 1 or 2 users a day with spells of 6 and 10 days between,
    are a shop starting, not shut). Fewer than ``SHUT_MIN_GAPS`` gaps: no rhythm to tell,
    none."""
    days = np.unique(days)
    gaps = np.diff(days)
    if len(gaps) < SHUT_MIN_GAPS:
        return []
    usual = int(np.ceil(np.quantile(gaps, 0.95)))
    # how many of the SHUT_MIN_GAPS gaps before each gap were longer than the usual one
    longer = np.concatenate([[0], np.cumsum(gaps > usual)])
    return [
        Closure(
            pd.Timestamp(int(days[i] + 1) * DAY_NS, tz="UTC"),
            pd.Timestamp(int(days[i] + gaps[i] - 1) * DAY_NS, tz="UTC"),
            usual,
        )
        for i in np.flatnonzero(gaps > SHUT_TIMES * usual).tolist()
        if i >= SHUT_MIN_GAPS and longer[i] == longer[i - SHUT_MIN_GAPS]
    ]


def event_days(events_path: Path) -> np.ndarray:
    """The days (since the epoch, UTC) on which an events table has an event."""
    from features.asof import connect

    rows = connect().execute(
        f"SELECT DISTINCT epoch_ns(date_trunc('day', {c.EVENT_TIME} AT TIME ZONE 'UTC')) "
        f"FROM read_parquet({literal(events_path)})"
    )
    return np.array([row[0] for row in rows.fetchall()], dtype=np.int64) // DAY_NS


def cutoff_words(spells: list[Closure], cutoff: pd.Timestamp, horizon: int) -> list[str]:
    """Each closure in the ``horizon`` days before ``cutoff`` (the customers' latest silence,
    the labels training learned last) or after it (the horizon judged), with what it does to
    the forecast (the backtest's note)."""
    start, end = cutoff - pd.Timedelta(days=horizon), cutoff + pd.Timedelta(days=horizon)
    said = []
    for spell in spells:
        if spell.last < start or spell.first >= end:
            continue
        before = max(0, min((cutoff - spell.first).days, spell.days))
        where, effects = [], []
        if before:
            where.append(f"{counted(before, DAYS)} of them before the cutoff")
            effects.append(
                "a model reads the shut days before the cutoff as every customer's silence, "
                "so its forecasts of activity and purchases run low, a label-free model's "
                "most (it learns no shop-wide pause)"
            )
        if spell.days - before:
            where.append(f"{spell.days - before} in the {horizon}-day horizon")
            effects.append("the horizon's shut days leave fewer days to be active in")
        said.append(f"{spell.words}, {' and '.join(where)}; {spell.rhythm}): " + "; ".join(effects))
    return said


def label_words(
    events_path: Path, cutoffs: list[pd.Timestamp], horizon: int, task: str
) -> list[str]:
    """Each closure some of the training ``cutoffs``' ``horizon``-day label windows (after
    the cutoff, up to ``horizon`` days) hold, with those cutoffs and what it does to
    ``task``'s labels (``lifecycle train``'s note); none where no window holds one."""
    from lifecycle import tasks

    said = []
    for spell in shut_spells(event_days(events_path)):
        spanning = [
            t
            for t in cutoffs
            if t < spell.last + pd.Timedelta(days=1)
            and spell.first < t + pd.Timedelta(days=horizon)
        ]
        if not spanning:
            continue
        said.append(
            f"{spell.words}; {spell.rhythm}): the {horizon}-day {task} labels of "
            f"{len(spanning)} of its {counted(len(cutoffs), CUTOFFS)} "
            f"({spanning[0]:%Y-%m-%d}..{spanning[-1]:%Y-%m-%d}) span it: "
            + LABEL_EFFECTS[tasks.get(task).outcome]
        )
    return said


def fit_words(events_path: Path, cutoff: pd.Timestamp, horizon: int) -> list[str]:
    """Each closure in the ``horizon`` days before ``cutoff``, where a label-free model is
    fitted on every user (no label to span it: the shut days read as every customer's
    silence, its forecasts low), in the backtest's note's words (:func:`cutoff_words`)."""
    return cutoff_words(shut_spells(event_days(events_path)), cutoff, horizon)
