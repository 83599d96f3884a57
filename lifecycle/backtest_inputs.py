"""The inputs of a backtest: its cutoffs, its horizon and the data span they must fit in.

Every input is checked before any pipeline runs; each refusal is one line naming the cutoff,
the horizon or the data's first and last day.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

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


def check_history(
    cutoff: pd.Timestamp, span: tuple[pd.Timestamp, pd.Timestamp], labels: LabelSettings
) -> None:
    """Refuse a cutoff too early for one label horizon to have matured before it (nothing to
    learn from), naming the earliest cutoff that works, or, where no cutoff of the data has
    a horizon before it and one after it, the longest horizon that fits; finer limits are
    the training's own errors."""
    first_event, last_event = span

    def earliest(days: int) -> pd.Timestamp:
        return (first_event + pd.Timedelta(days=days)).normalize() + pd.Timedelta(days=1)

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
            f"{earliest(history):%Y-%m-%d}{at_this}"
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
        f"shorter (the earliest cutoff is then {earliest(fits):%Y-%m-%d}){at_this}"
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
