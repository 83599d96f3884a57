"""What a history too short for a task's time split needs, in numbers: how much more history
the asked horizon takes, and the longest horizon the history splits at as it is, or that
none does. A three-month shop was told `shorten the horizon (labels.churn_horizon_days) or
use a longer history` at 90 days; 30, pasted, was refused again (its cutoffs span 84 days, a
30-day horizon needs 79 of matured ones), and 90 needs 21 more weeks of history."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd

from features.asof import AS_OF, _utc, connect
from features.labels import matured_cutoffs
from lifecycle.sql import literal
from lifecycle.words import CUTOFFS, counted
from training.errors import TooFewOutcomes

WEEK = 7
MOST_WEEKS = 520  # ten years of weekly cutoffs: past that, the advice says "more" unnumbered


def feature_rows(feature_table: Path) -> dict[pd.Timestamp, int]:
    """The feature table's rows per cutoff: at most the rows a cutoff gives training."""
    with connect() as con:
        rows = con.execute(
            f"SELECT {AS_OF}, count(*) FROM read_parquet({literal(feature_table)}) GROUP BY ALL"
        ).fetchall()
    return {_utc(pd.Timestamp(t)): int(n) for t, n in rows}


class _Rows(NamedTuple):
    at: Mapping[pd.Timestamp, int]  # feature rows per cutoff (a later one: the latest's)
    least: int  # training.min_rows

    def enough(self, train: list[pd.Timestamp]) -> bool:
        latest = self.at[max(self.at)] if self.at else 0
        return sum(self.at.get(t, latest) for t in train) >= self.least


def _split(cutoffs: list[pd.Timestamp], last_event: pd.Timestamp, days: int, rows: _Rows) -> Any:
    """The time split of the cutoffs matured by ``last_event`` at ``days`` whose train
    cutoffs hold ``rows.least`` feature rows, None where none."""
    from training.datasets import split_or_none
    from training.time_splits import time_split

    split = split_or_none(time_split, days)(matured_cutoffs(last_event, cutoffs, days))
    return split if split is not None and rows.enough(split.train) else None


def advised(
    few: TooFewOutcomes,
    grid: Sequence[pd.Timestamp],
    last_event: pd.Timestamp,
    horizon_days: int,
    task: str,
    rows: Mapping[pd.Timestamp, int] | None = None,
    min_rows: int = 0,
) -> TooFewOutcomes:
    """``few`` (a time split's refusal, ``training.time_splits.SHORTER`` ending it) ending
    instead with :func:`horizon_advice`; any other refusal as it is."""
    from training.time_splits import SHORTER

    text = str(few)
    general = SHORTER.format(task=task)
    if not text.endswith(general) or not grid:
        return few
    return TooFewOutcomes(
        text.removesuffix(general)
        + horizon_advice(grid, last_event, horizon_days, task, rows, min_rows)
    )


def horizon_advice(
    grid: Sequence[pd.Timestamp],
    last_event: pd.Timestamp,
    horizon_days: int,
    task: str,
    rows: Mapping[pd.Timestamp, int] | None = None,
    min_rows: int = 0,
) -> str:
    """How the cutoffs ``grid`` of data ending at ``last_event`` come to split at
    ``horizon_days`` (``training.time_splits.time_split`` of the matured ones): the date the
    data must reach, the grid growing a step a week, and the longest whole-week horizon that
    splits them now, as the setting to paste, or that none of a week or more does. With
    ``rows`` (feature rows per cutoff, :func:`feature_rows`), a split counts where its train
    cutoffs hold ``min_rows`` of them (training.min_rows), a cutoff to come as the latest."""
    enough = _Rows(rows or {}, min_rows)
    cutoffs = sorted(_utc(t) for t in grid)
    end = _utc(last_event)
    step = cutoffs[1] - cutoffs[0] if len(cutoffs) > 1 else pd.Timedelta(days=WEEK)
    more = next(
        (
            k
            for k in range(MOST_WEEKS + 1)
            if _split(
                cutoffs + [cutoffs[-1] + step * i for i in range(1, k + 1)],
                end + step * k,
                horizon_days,
                enough,
            )
            is not None
        ),
        None,
    )
    steps = f"{step.days}-day steps" if step.days != WEEK else "weeks"
    needs = (
        f"a {horizon_days}-day horizon needs data up to about "
        f"{end + step * more:%Y-%m-%d} ({more} more {steps[:-1] if more == 1 else steps} of history)"
        if more is not None
        else f"a {horizon_days}-day horizon needs over {MOST_WEEKS} more {steps} of history"
    )
    longest = next(
        (
            (d, split)
            for d in range((horizon_days - 1) // WEEK * WEEK, WEEK - 1, -WEEK)
            if (split := _split(cutoffs, end, d, enough)) is not None
        ),
        None,
    )
    if longest is None:
        return f"{needs}; no shorter horizon of a week or more splits this history" + (
            f" with {min_rows:,} training rows (training.min_rows)" if min_rows else ""
        )
    days, split = longest
    return (
        f"{needs}; the longest horizon this history splits at is {days} days, learning from "
        f"{counted(len(split.train), CUTOFFS)}: "
        f"`LIFECYCLE_LABELS__{task.upper()}_HORIZON_DAYS={days}` before the command (or "
        f"labels.{task}_horizon_days = {days} in the settings file)"
    )
