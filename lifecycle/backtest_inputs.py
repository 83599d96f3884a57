"""The inputs of a backtest: its cutoffs, its horizon and the data span they must fit in.

Every input is checked before any pipeline runs; each refusal is one line naming the cutoff,
the horizon or the data's first and last day.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features import contract as c
from lifecycle import tasks
from lifecycle.errors import UserError
from lifecycle.setting_types import MAX_DAYS
from lifecycle.settings import LabelSettings
from lifecycle.sql import literal
from lifecycle.words import DAYS, counted


class BacktestError(UserError):
    """A backtest cannot run as asked; the message names the cutoff, dataset or horizon."""


def parse_cutoff(value: str | pd.Timestamp) -> pd.Timestamp:
    """A cutoff date as midnight UTC (features see events at or before it)."""
    from features.asof import cutoff_date

    return cutoff_date(value, "--cutoff")  # the commands' one date reader ('', 'NaT' refused)


def parse_cutoffs(values: Sequence[str | pd.Timestamp]) -> list[pd.Timestamp]:
    """The cutoffs in time order; one given twice is refused (it was silently run once)."""
    stamps = [parse_cutoff(v) for v in values]
    for stamp in stamps:
        if stamps.count(stamp) > 1:
            raise BacktestError(
                f"--cutoff {stamp:%Y-%m-%d} is given {stamps.count(stamp)} times: give each "
                "cutoff once"
            )
    return sorted(stamps)


def backtest_labels(labels: LabelSettings, horizon_days: int | None) -> LabelSettings:
    """The label settings of the backtest: every horizon set to ``horizon_days`` when given."""
    if horizon_days is None:
        return labels
    if not 1 <= horizon_days <= MAX_DAYS:
        raise BacktestError(f"--horizon {horizon_days}: expected 1 to {MAX_DAYS:,} days")
    return LabelSettings(
        **labels.model_dump() | {field: horizon_days for field in horizon_fields()}
    )


def data_span(events_path: Path) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The first and last event time of an events table (UTC)."""
    from features.asof import connect

    first, last = (
        connect()
        .execute(
            f"SELECT min({c.EVENT_TIME}), max({c.EVENT_TIME}) FROM read_parquet({literal(events_path)})"
        )
        .fetchone()
    )
    if first is None:
        raise BacktestError(f"{events_path}: the events table is empty")
    return pd.Timestamp(first).tz_convert("UTC"), pd.Timestamp(last).tz_convert("UTC")


def check_before_end(cutoff: pd.Timestamp, last_event: pd.Timestamp) -> None:
    """Refuse a cutoff after the data: nothing happened after it to judge by."""
    if cutoff > last_event:
        raise BacktestError(
            f"--cutoff {cutoff:%Y-%m-%d} is after the last event ({last_event:%Y-%m-%d %H:%M}): "
            "nothing happened after it to judge the scores by"
        )


@dataclass(frozen=True)
class TrainingCutoffs:
    """The cutoffs a backtest's training has at a cutoff: the feature table's grid
    (``features.cutoff_frequency``, :func:`features.asof.cutoff_grid`) of the events up to it,
    of which those whose horizon ends by its last event are labelled. A 60-day horizon fits
    after 61 days of data, yet the weekly grid of a cutoff 61 days in has none labelled: at
    the earliest cutoff the refusal offered, training learned from no outcome, unsaid."""

    first_event: pd.Timestamp
    ends: np.ndarray  # each day's last event time, and each midnight an event is at (sorted)
    frequency: str = "7D"
    label_free: bool = True  # training.label_free_fallback

    @classmethod
    def of(
        cls, events_path: Path, frequency: str = "7D", *, label_free: bool = True
    ) -> TrainingCutoffs:
        from features.asof import connect

        t = c.EVENT_TIME
        days = (
            connect()
            .execute(
                f"SELECT min({t}), max({t}), bool_or({t} = date_trunc('day', {t})) "
                f"FROM read_parquet({literal(events_path)}) GROUP BY date_trunc('day', {t})"
            )
            .fetchall()
        )
        if not days:
            raise BacktestError(f"{events_path}: the events table is empty")
        stamps = [pd.Timestamp(last).tz_convert("UTC") for _, last, _ in days]
        stamps += [pd.Timestamp(first).tz_convert("UTC").normalize() for first, _, at in days if at]
        first = min(pd.Timestamp(first).tz_convert("UTC") for first, _, _ in days)
        ends = np.array(sorted({s.value for s in stamps}), dtype=np.int64)
        return cls(first, ends, frequency, label_free)

    def last_event(self, cutoff: pd.Timestamp) -> pd.Timestamp | None:
        """The last event at or before ``cutoff`` (what the backtest's copy of the data ends at)."""
        at = int(np.searchsorted(self.ends, pd.Timestamp(cutoff).value, side="right"))
        return pd.Timestamp(int(self.ends[at - 1]), tz="UTC") if at else None

    def labelled(self, cutoff: pd.Timestamp, horizon: int) -> list[pd.Timestamp]:
        """The training cutoffs at ``cutoff`` whose ``horizon`` ends within its data."""
        from features.asof import cutoff_grid
        from features.labels import matured_cutoffs

        last = self.last_event(cutoff)
        if last is None:
            return []
        return matured_cutoffs(last, cutoff_grid(self.first_event, last, self.frequency), horizon)

    def splits(self, cutoff: pd.Timestamp, horizon: int) -> bool:
        """Whether the labelled cutoffs at ``cutoff`` split into train, validation and test
        (:func:`training.pipeline.time_split`): else its training fits label-free models."""
        from training.errors import TooFewOutcomes
        from training.pipeline import time_split

        try:
            time_split(self.labelled(cutoff, horizon), horizon)
        except TooFewOutcomes:
            return False
        return True

    def earliest(
        self, fits: Callable[[pd.Timestamp], bool], start: pd.Timestamp, end: pd.Timestamp
    ) -> pd.Timestamp | None:
        """The first midnight from ``start`` to ``end`` at which ``fits`` holds."""
        days = pd.date_range(start.normalize(), end, freq="D")
        return next((day for day in days if fits(day)), None)

    def said(self, cutoff: pd.Timestamp, horizon: int, last_event: pd.Timestamp) -> str:
        """What training does at a ``cutoff`` a refusal offers, where its cutoffs do not split
        into train, validation and test at ``horizon`` days: naming the first cutoff with a
        labelled one and the first whose split; '' where they split."""
        if self.splits(cutoff, horizon):
            return ""
        latest = last_event - pd.Timedelta(days=horizon)
        labelled = self.earliest(lambda day: bool(self.labelled(day, horizon)), cutoff, latest)
        split = self.earliest(lambda day: self.splits(day, horizon), labelled or cutoff, latest)
        fits = (
            "fits label-free models"
            if self.label_free
            else "trains nothing (training.label_free_fallback is off)"
        )
        grid = f"training's cutoffs (every {self.frequency}, features.cutoff_frequency)"
        splits = (
            f"they split into train, validation and test from {split:%Y-%m-%d} on"
            if split is not None
            else "they split into train, validation and test at no cutoff of this data"
        )
        if labelled == cutoff:
            return (
                f"{grid}: {splits}; before, training learns a shorter horizon where one splits "
                f"(training.bridge_horizon), else {fits}"
            )
        where = f"where none of {grid} has its {horizon} days within the data, training {fits}"
        if labelled is None:
            return f"{where}, as at every later cutoff of this data"
        return f"{where}; the first cutoff with one is {labelled:%Y-%m-%d}, and {splits}"


def check_history(
    cutoff: pd.Timestamp,
    span: tuple[pd.Timestamp, pd.Timestamp],
    labels: LabelSettings,
    grid: TrainingCutoffs,
) -> None:
    """Refuse a cutoff too early for one label horizon to have matured before it (nothing to
    learn from), naming the earliest cutoff that works, or, where no cutoff of the data has
    a horizon before it and one after it, the longest horizon that fits; with what training
    does at the cutoff offered where its cutoffs (``grid``) have none labelled or do not split
    (:meth:`TrainingCutoffs.said`). Finer limits are the training's own errors."""
    first_event, last_event = span

    def earliest(days: int) -> pd.Timestamp:
        return (first_event + pd.Timedelta(days=days)).normalize() + pd.Timedelta(days=1)

    def offered(days: int, before: str, after: str = "") -> str:
        """The earliest cutoff of a ``days`` horizon, with what training does there."""
        first = earliest(days)
        said = grid.said(first, days, last_event)
        return f"{first:%Y-%m-%d}{before}{said}{after}" if said else f"{first:%Y-%m-%d}"

    fields = horizon_fields()
    history = max(getattr(labels, field) for field in fields)
    if cutoff >= earliest(history):
        return
    # the settings' horizons (no --horizon): the one that asks for this history, named
    longest = next(f for f in fields if getattr(labels, f) == history)
    whose = (
        ""
        if all(getattr(labels, f) == history for f in fields)
        else f" (labels.{longest}, the longest; --horizon DAYS sets every task's)"
    )
    why = (
        f"--cutoff {cutoff:%Y-%m-%d} is too early: the data starts at {first_event:%Y-%m-%d} "
        f"and training needs at least one {history}-day label horizon{whose} of history "
        "before the cutoff"
    )
    # the longest horizon with one before this cutoff and one after it, as the too-late
    # refusal offers one (a user asking for this cutoff was told only of another)
    here = min((cutoff - first_event.normalize()).days - 1, (last_event - cutoff).days)
    at_this = f", or --horizon {here} at this one" if here >= 1 else ""
    if earliest(history) + pd.Timedelta(days=history) <= last_event:
        raise BacktestError(
            f"{why}; the earliest cutoff a {history}-day horizon fits is "
            f"{offered(history, ' (', ')')}{at_this}"
        )
    days = (last_event - first_event).days
    # the longest horizon with a cutoff that has one before it and one after it: the cutoff
    # earliest(h), the first day's midnight + h + 1 day, plus h within the data
    fits = (last_event - first_event.normalize() - pd.Timedelta(days=1)) // pd.Timedelta(days=2)
    if fits < 1:  # not even --horizon 1 (a day's log): no cutoff of this data can be judged
        shortest = first_event.normalize() + pd.Timedelta(days=3)
        raise BacktestError(
            f"--cutoff {cutoff:%Y-%m-%d}: the data runs from {first_event:%Y-%m-%d %H:%M} to "
            f"{last_event:%Y-%m-%d %H:%M}, too short to backtest: the shortest backtest, "
            "--horizon 1, needs a day of events before its cutoff and a whole day after it, "
            f"events up to {shortest:%Y-%m-%d} at least"
        )
    raise BacktestError(
        f"{why}, and no cutoff of this data ({counted(days, DAYS)}, to {last_event:%Y-%m-%d}) "
        f"has that and a {history}-day horizon after it to judge by: give --horizon {fits} or "
        f"shorter (the earliest cutoff is then {offered(fits, ': ')}){at_this}"
    )


def horizon_fields() -> list[str]:
    """The label settings that set a task's horizon (``<task>_horizon_days``)."""
    return [
        f"{t}_horizon_days"
        for t in tasks.names()
        if f"{t}_horizon_days" in LabelSettings.model_fields
    ]


def horizons(labels: LabelSettings) -> dict[str, int]:
    return {
        t.name: getattr(labels, f"{t.name}_horizon_days", None) or t.horizon_days
        for t in tasks.all_tasks()
    }
