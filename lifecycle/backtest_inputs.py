"""The inputs of a backtest: its cutoffs, its horizon and the data span they must fit in.

Every input is checked before any pipeline runs; each refusal is one line naming the cutoff,
the horizon or the data's first and last day.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import pandas as pd

from features import contract as c
from lifecycle import tasks
from lifecycle.backtest_outcomes import ConversionCounts, KnownOutcomes, known_since_sql
from lifecycle.closures import DAY_NS, Closure, cutoff_words, shut_spells
from lifecycle.errors import UserError
from lifecycle.setting_types import MAX_DAYS
from lifecycle.settings import LabelSettings
from lifecycle.sql import literal
from lifecycle.words import DAYS, counted

if TYPE_CHECKING:
    from features.labels import LabelSpec, TargetTimes
    from lifecycle.settings import Settings
    from training.pipeline import TimeSplit

T = TypeVar("T")


class BacktestError(UserError):
    """A backtest cannot run as asked; the message names the cutoff, dataset or horizon."""


def parse_cutoff(value: str | pd.Timestamp) -> pd.Timestamp:
    """A cutoff date as midnight UTC (features see events at or before it)."""
    from features.dates import cutoff_date

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
    firsts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # users' first
    min_rows: int = 200  # training.min_rows
    max_cutoffs: int = 10_000  # training.max_cutoffs
    min_positives: int = 20  # training.min_positives
    max_rows: int = 120_000  # training.max_rows
    draws: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # of firsts' users
    # conversion's rows and outcomes (None: not trained, not counted)
    conversion: ConversionCounts | None = None
    # churn's and LTV's outcomes (None: not counted, their rows only)
    everyone: KnownOutcomes | None = None
    memo: dict = field(default_factory=dict, compare=False, repr=False)  # time splits made

    @classmethod
    def of(
        cls,
        events_path: Path,
        frequency: str = "7D",
        *,
        label_free: bool = True,
        min_rows: int = 200,
        max_cutoffs: int = 10_000,
        conversion: LabelSpec | None = None,
        users: Path | None = None,
        min_positives: int = 20,
        max_rows: int = 120_000,
        tasks: tuple[str, ...] = ("churn", "ltv"),
        not_activity_types: tuple[str, ...] = (),
        targets: TargetTimes | None = None,
        churn_lookback: int | None = None,
    ) -> TrainingCutoffs:
        """``conversion``: its label (``targets``: where its target is ``auto``, decided at
        each cutoff); ``tasks``: those of churn and LTV trained (their outcomes counted);
        ``churn_lookback``: labels.churn_lookback_days (churn's rows)."""
        from features.asof import connect
        from training.datasets import user_draws

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
        seen = connect().execute(  # each user's first known time: the users a cutoff knows
            f"SELECT {c.USER_ID}, epoch_ns(first_time) AS known_at FROM "
            f"({known_since_sql(events_path, users)}) ORDER BY known_at"
        )
        ids, firsts = zip(*seen.fetchall(), strict=True)
        counts = None
        if conversion is not None and conversion.target is not None:
            counts = ConversionCounts.of(
                events_path, users, conversion, min_rows, min_positives, targets
            )
        everyone = KnownOutcomes.of(
            events_path, users, not_activity_types, tasks, min_rows, min_positives, churn_lookback
        )
        return cls(
            first, ends, frequency, label_free, np.array(firsts, dtype=np.int64), min_rows,
            max_cutoffs, min_positives, max_rows, user_draws(pd.Series(ids, dtype=object)),
            counts, everyone,
        )  # fmt: skip

    def last_event(self, cutoff: pd.Timestamp) -> pd.Timestamp | None:
        """The last event at or before ``cutoff`` (what the backtest's copy of the data ends at)."""
        at = int(np.searchsorted(self.ends, pd.Timestamp(cutoff).value, side="right"))
        return pd.Timestamp(int(self.ends[at - 1]), tz="UTC") if at else None

    def labelled(self, cutoff: pd.Timestamp, horizon: int) -> list[pd.Timestamp]:
        """The training cutoffs at ``cutoff`` whose ``horizon`` ends within its data (at most
        ``training.max_cutoffs``, thinned as training thins them)."""
        from features.asof import cutoff_grid
        from features.labels import matured_cutoffs
        from training.datasets import thin_cutoffs

        last = self.last_event(cutoff)
        if last is None:
            return []
        grid = cutoff_grid(self.first_event, last, self.frequency)
        return thin_cutoffs(matured_cutoffs(last, grid, horizon), self.max_cutoffs)

    def splits(self, cutoff: pd.Timestamp, horizon: int, every: bool = False) -> bool:
        """Whether training at ``cutoff`` can learn ``horizon`` days from labels: its labelled
        cutoffs split into train, validation and test (:func:`training.time_splits.time_split`)
        and the users known at its train cutoffs are ``training.min_rows`` at least (the
        feature rows it trains on, at most: ``training.foresight`` counts them so); else it
        learns a shorter horizon (``training.bridge_horizon``) or fits label-free models.
        Churn's and LTV's outcomes in each part too, as training refuses them
        (:meth:`known_refused`); ``every``: conversion's too (its rows, the narrower
        population, and its outcomes in each part: :meth:`conversion_refused`)."""
        rows = self.train_rows(cutoff, horizon)
        if rows is None or rows < self.min_rows or self.known_refused(cutoff, horizon):
            return False
        return not every or not self.conversion_refused(cutoff, horizon)

    def known_refused(self, cutoff: pd.Timestamp, horizon: int) -> bool:
        """Whether training refuses churn or LTV at ``cutoff`` for their rows (churn's of a
        lookback) or outcomes (too few positives, or one class, in a part), each on the
        cutoffs and users it keeps of its own rows (:meth:`KnownOutcomes.refused`)."""
        counts = self.everyone
        if counts is None:
            return False
        for task in counts.tasks:
            kept = self.kept_split(cutoff, horizon, partial(rows_of, counts, task, horizon))
            if kept is None:
                return True
            split, share = kept
            parts = {"train": split.train, "valid": split.valid, "test": split.test}
            if counts.refused(task, parts, horizon, share) is not None:
                return True
        return False

    def kept_split(
        self, cutoff: pd.Timestamp, horizon: int, rows: Callable[[pd.Timestamp], int]
    ) -> tuple[TimeSplit, float] | None:
        """The time split of ``cutoff``'s training of ``horizon`` days, of the cutoffs it keeps
        where its labelled ``rows`` at each are past ``training.max_rows``, and the share of
        users it keeps (:func:`training.datasets.rows_plan`, training's own); None where its
        cutoffs do not split."""
        from training.datasets import rows_plan

        split = partial(self.split, horizon=horizon)
        ripe = self.labelled(cutoff, horizon)
        if split(ripe) is None:
            return None
        kept, share = rows_plan(pd.Series({t: rows(t) for t in ripe}), ripe, self.max_rows, split)
        parts = split(kept)
        return (parts, share) if parts is not None else None

    def split(self, cutoffs: list[pd.Timestamp], horizon: int) -> TimeSplit | None:
        """Training's time split of these cutoffs, None where it refuses
        (:func:`training.datasets.split_or_none`); each made once (the offers ask for the
        same cutoffs' split per task and per horizon tried)."""
        from training.datasets import split_or_none
        from training.time_splits import time_split

        key = (tuple(cutoffs), horizon)
        if key not in self.memo:
            self.memo[key] = split_or_none(time_split, horizon)(cutoffs)
        return self.memo[key]

    def known(self, cutoff: pd.Timestamp, share: float = 1.0) -> int:
        """The users known at ``cutoff`` (of a ``share`` of users drawn as training draws them)."""
        from training.datasets import DRAWS

        at = int(np.searchsorted(self.firsts, pd.Timestamp(cutoff).value, "right"))
        return at if share == 1.0 else int(np.count_nonzero(self.draws[:at] < share * DRAWS))

    def train_rows(self, cutoff: pd.Timestamp, horizon: int) -> int | None:
        """The users known at the train cutoffs of ``cutoff``'s training of ``horizon`` days
        (those ``training.max_rows`` keeps); None where the cutoffs do not split."""
        kept = self.kept_split(cutoff, horizon, self.known)
        if kept is None:
            return None
        split, share = kept
        return sum(self.known(t, share) for t in split.train)

    def conversion_refused(self, cutoff: pd.Timestamp, horizon: int) -> str:
        """Why training refuses conversion at ``cutoff`` (too few rows, too few positive
        outcomes or one class in a part: :meth:`ConversionCounts.refused`); '' where it
        trains it, is not asked to, or nothing splits."""
        if self.conversion is None:
            return ""
        counts = self.conversion.decided_at(cutoff)  # its target as decided there
        kept = self.kept_split(cutoff, horizon, lambda t: counts.outcomes(t, horizon)[0])
        if kept is None:
            return ""
        split, share = kept
        parts = {"train": split.train, "valid": split.valid, "test": split.test}
        return counts.refused(parts, horizon, share)

    @property
    def thins(self) -> bool:
        """Whether ``training.max_cutoffs`` can thin some cutoff's labelled cutoffs (the whole
        data's grid has more): thinned every k-th, a shorter horizon's more cutoffs may keep
        fewer train cutoffs (the demo at 2023-09-01 with 12: 76 days split, 70 not)."""
        from features.asof import cutoff_grid

        last = pd.Timestamp(int(self.ends[-1]), tz="UTC")
        return len(cutoff_grid(self.first_event, last, self.frequency)) > self.max_cutoffs

    @property
    def bisects(self) -> bool:
        """Whether a shorter horizon provably splits wherever a longer one does: not where
        cutoffs are thinned (:attr:`thins`) or outcomes are counted (churn's users with no
        activity fall as the horizon grows)."""
        return not self.thins and self.everyone is None

    def skipped(self, cutoff: pd.Timestamp, horizon: int) -> str:
        """Where the offered ``cutoff`` trains churn and LTV from labels but conversion is
        refused (:meth:`conversion_refused`), those words in parentheses; '' otherwise."""
        why = self.conversion_refused(cutoff, horizon)
        return f" (conversion is skipped there: {why})" if why else ""

    def either(self, find: Callable[[bool], T]) -> T:
        """What ``find`` finds where every task learns from labels, else where churn and LTV
        do (conversion then said skipped: :meth:`skipped`)."""
        return find(True) or find(False)

    def happens(self, cutoff: pd.Timestamp, horizon: int) -> bool:
        """Whether an event lies in the ``horizon`` days after ``cutoff`` (a day-aligned
        window holds an event exactly where it holds one of a day's last): a 1-day horizon
        on a day the shop was shut has nothing to judge by."""
        start, end = pd.Timestamp(cutoff).value, (cutoff + pd.Timedelta(days=horizon)).value
        at = int(np.searchsorted(self.ends, start, side="right"))
        return at < len(self.ends) and int(self.ends[at]) <= end

    def quiet_after(self, cutoff: pd.Timestamp, horizon: int) -> str:
        """Where no event lies in the ``horizon`` days after ``cutoff`` (a weekend, a holiday
        gap), those words and the day of the next event, in parentheses; '' otherwise."""
        if self.happens(cutoff, horizon):
            return ""
        at = int(np.searchsorted(self.ends, pd.Timestamp(cutoff).value, side="right"))
        after = f"the {counted(horizon, DAYS)} after the cutoff"
        if at == len(self.ends):
            return f" (the data has no event in {after})"
        day = pd.Timestamp(int(self.ends[at]), tz="UTC")
        return f" (the data has no event in {after}; the next is on {day:%A %Y-%m-%d})"

    def shut_spells(self) -> list[Closure]:
        """The log's closures (:func:`lifecycle.closures.shut_spells`)."""
        return shut_spells(self.ends // DAY_NS)

    def shut_words(self, cutoff: pd.Timestamp, horizon: int) -> list[str]:
        """Each closure in the ``horizon`` days before or after ``cutoff``, with what it does
        to the forecast (:func:`lifecycle.closures.cutoff_words`)."""
        return cutoff_words(self.shut_spells(), cutoff, horizon)

    def earliest(
        self, fits: Callable[[pd.Timestamp], bool], start: pd.Timestamp, end: pd.Timestamp
    ) -> pd.Timestamp | None:
        """The first midnight from ``start`` to ``end`` at which ``fits`` holds."""
        days = pd.date_range(start.normalize(), end, freq="D")
        return next((day for day in days if fits(day)), None)

    def longest(self, cutoff: pd.Timestamp, most: int) -> int | None:
        """The longest horizon up to ``most`` days at which the cutoffs at ``cutoff`` split
        (a shorter one labels a superset of them, so its train cutoffs are a superset too:
        bisected where that decides it, :attr:`bisects`; else each tried from the longest
        down); None."""
        days = self.either(
            lambda every: longest_that(
                lambda days: self.splits(cutoff, days, every), most, monotone=self.bisects
            )
        )
        # a longer window holds more events: where the longest holds none, no shorter does
        return days if days and self.happens(cutoff, days) else None

    def first_labelled(
        self, horizon: int, span: tuple[pd.Timestamp, pd.Timestamp]
    ) -> pd.Timestamp | None:
        """The earliest cutoff a backtest of ``horizon`` days accepts (:func:`check_history`)
        whose training learns from labels (its cutoffs split); None where none does."""
        first_event, last_event = span
        latest = last_event - pd.Timedelta(days=horizon)
        return self.either(
            lambda every: self.earliest(
                lambda day: self.happens(day, horizon) and self.splits(day, horizon, every),
                first_cutoff(first_event, horizon),
                latest,
            )
        )

    def last_labelled(
        self, horizon: int, span: tuple[pd.Timestamp, pd.Timestamp]
    ) -> pd.Timestamp | None:
        """The latest cutoff a backtest of ``horizon`` days accepts whose training learns from
        labels and whose horizon holds an event; None where none does."""
        first_event, last_event = span
        days = pd.date_range(
            first_cutoff(first_event, horizon), last_event - pd.Timedelta(days=horizon), freq="D"
        )
        fits = [day for day in days[::-1] if self.happens(day, horizon)]
        return self.either(
            lambda every: next((day for day in fits if self.splits(day, horizon, every)), None)
        )

    def offer(self, span: tuple[pd.Timestamp, pd.Timestamp], most: int) -> str:
        """The longest ``--horizon`` up to ``most`` with which some cutoff of the data trains
        on labels, and the earliest such cutoff, as a refusal offers them; or, where none
        does, what training does at every cutoff."""
        first_event, last_event = span
        # the latest cutoff each horizon fits has the most data: where it does not split, none does
        latest = lambda days: (last_event - pd.Timedelta(days=days)).normalize()  # noqa: E731
        # a shorter horizon's cutoff is a day later: its train cutoffs each a day later or
        # more of them, each knowing as many users; not as many yet to convert (they buy)
        low = self.either(
            lambda every: longest_that(
                lambda days: (
                    self.happens(latest(days), days) and self.splits(latest(days), days, every)
                ),
                most,
                monotone=self.bisects and not (every and self.conversion),
            )
        )
        if low:
            first = self.first_labelled(low, span) or latest(low)
            return (
                f"give --horizon {low} or shorter (the earliest cutoff training then learns "
                f"from labels at is {first:%Y-%m-%d}{self.skipped(first, low)})"
            )
        fits = (
            "fits label-free models"
            if self.label_free
            else "trains nothing (training.label_free_fallback is off)"
        )
        return (
            f"give --horizon {most} or shorter (the earliest cutoff is then "
            f"{first_cutoff(first_event, most):%Y-%m-%d}): with no horizon do {self.split_words} "
            f"at any cutoff of this data, so training {fits}"
        )

    @property
    def split_words(self) -> str:
        """What :meth:`splits` asks of training's cutoffs, in words."""
        return (
            f"training's cutoffs (every {self.frequency}, features.cutoff_frequency) split into "
            f"train, validation and test with {self.min_rows} training rows (training.min_rows) "
            f"and {self.min_positives} positive outcomes of each task in each (training.min_positives)"
        )


def rows_of(counts: KnownOutcomes, task: str, horizon: int, cutoff: pd.Timestamp) -> int:
    """``task``'s rows at ``cutoff`` (:meth:`KnownOutcomes.outcomes`)."""
    return counts.outcomes(task, cutoff, horizon)[0]


def conversion_spec(
    settings: Settings, source: Path, labels: LabelSettings
) -> tuple[LabelSpec | None, TargetTimes | None]:
    """Conversion's label of the backtest, where training trains it (``training.tasks``;
    else None), and where its target is ``auto`` what decides it at each cutoff (the events
    and sign-ups up to it, as the cutoff's copy of the data has them)."""
    from features.labels import TargetTimes, label_spec
    from lifecycle.workspace import EVENTS_FILE, USERS_FILE

    if "conversion" not in tasks.names() or (
        settings.training.tasks is not None and "conversion" not in settings.training.tasks
    ):
        return None, None
    users = source / USERS_FILE if (source / USERS_FILE).is_file() else None
    events = source / EVENTS_FILE
    targets = None
    if labels.conversion_target == "auto":
        targets = TargetTimes.of(events, users, labels.not_activity_types or ())
    return label_spec("conversion", labels, events, users), targets


def trained_of_everyone(settings: Settings) -> tuple[str, ...]:
    """Churn and LTV where training trains them (``training.tasks``): their outcomes are
    counted for the offers (:class:`KnownOutcomes`)."""
    chosen = settings.training.tasks
    return tuple(t for t in ("churn", "ltv") if t in tasks.names() and (not chosen or t in chosen))


def longest_that(holds: Callable[[int], bool], most: int, *, monotone: bool = True) -> int:
    """The longest horizon from 1 to ``most`` days that ``holds``, 0 where none does:
    bisected where it holds for every shorter one too (``monotone``), else each tried from
    the longest down (a check takes about 3 ms)."""
    if not monotone:
        return next((days for days in range(most, 0, -1) if holds(days)), 0)
    low, high = 0, most  # holds at low (0: none yet), not above high
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if holds(middle) else (low, middle - 1)
    return low


def first_cutoff(first_event: pd.Timestamp, days: int) -> pd.Timestamp:
    """The earliest cutoff with a ``days`` horizon of history before it: the first day's
    midnight + ``days`` + 1 day."""
    return (first_event + pd.Timedelta(days=days)).normalize() + pd.Timedelta(days=1)


def at_this(grid: TrainingCutoffs, cutoff: pd.Timestamp, most: int) -> str:
    """', or --horizon N at this one': the longest horizon up to ``most`` days (the history
    before ``cutoff`` and the data after it allow) at which its training learns from labels;
    '' where none does."""
    days = grid.longest(cutoff, most) if most >= 1 else None
    return f", or --horizon {days} at this one{grid.skipped(cutoff, days)}" if days else ""


def check_history(
    cutoff: pd.Timestamp,
    span: tuple[pd.Timestamp, pd.Timestamp],
    labels: LabelSettings,
    grid: TrainingCutoffs,
) -> None:
    """Refuse a cutoff too early for one label horizon to have matured before it (nothing to
    learn from). The refusal offers what the backtest then accepts and trains on labels
    (``grid``: its cutoffs split into train, validation and test): the earliest such cutoff
    of the horizon, or, where none is, the longest horizon some cutoff does; and the longest
    horizon at this cutoff. Finer limits are the training's own errors."""
    first_event, last_event = span
    fields = horizon_fields()
    history = max(getattr(labels, field) for field in fields)
    start = first_cutoff(first_event, history)
    if cutoff >= start:
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
    here = at_this(
        grid, cutoff, min((cutoff - first_event.normalize()).days - 1, (last_event - cutoff).days)
    )
    days = (last_event - first_event).days
    # the longest horizon with a cutoff that has one before it and one after it: the cutoff
    # first_cutoff(h), the first day's midnight + h + 1 day, plus h within the data
    fits = (last_event - first_event.normalize() - pd.Timedelta(days=1)) // pd.Timedelta(days=2)
    if fits < 1:  # not even --horizon 1 (a day's log): no cutoff of this data can be judged
        shortest = first_event.normalize() + pd.Timedelta(days=3)
        raise BacktestError(
            f"--cutoff {cutoff:%Y-%m-%d}: the data runs from {first_event:%Y-%m-%d %H:%M} to "
            f"{last_event:%Y-%m-%d %H:%M}, too short to backtest: the shortest backtest, "
            "--horizon 1, needs a day of events before its cutoff and a whole day after it, "
            f"events up to {shortest:%Y-%m-%d} at least"
        )
    if start + pd.Timedelta(days=history) <= last_event:
        labelled = grid.first_labelled(history, span)
        if labelled is not None:
            before = (
                f"; from {start:%Y-%m-%d} a backtest runs, its training fitting label-free models"
                if labelled > start and grid.label_free
                else ""
            )
            raise BacktestError(
                f"{why}; the earliest cutoff at which training learns a {history}-day horizon "
                f"from labels is {labelled:%Y-%m-%d} (where {grid.split_words} first"
                f"{before}){grid.skipped(labelled, history)}{here}"
            )
        raise BacktestError(
            f"{why}; at no cutoff of this data do {grid.split_words} with a {history}-day "
            f"horizon: {grid.offer(span, fits)}{here}"
        )
    raise BacktestError(
        f"{why}, and no cutoff of this data ({counted(days, DAYS)}, to {last_event:%Y-%m-%d}) "
        f"has that and a {history}-day horizon after it to judge by: "
        f"{grid.offer(span, fits)}{here}"
    )


def too_late(
    cutoff: pd.Timestamp,
    span: tuple[pd.Timestamp, pd.Timestamp],
    horizon_days: int | None,
    grid: TrainingCutoffs,
) -> str:
    """What a refusal of ``cutoff``, whose horizon ends after the data, offers: the latest
    cutoff of ``horizon_days`` (--horizon) that trains on labels, or the longest horizon
    that does at this one (the settings' horizons)."""
    first_event, last_event = span
    room = min((last_event - cutoff).days, (cutoff - first_event.normalize()).days - 1)
    here = grid.longest(cutoff, room) if room >= 1 else None
    if horizon_days is None:
        return (
            f"; --horizon DAYS sets every label horizon (at most {here} here), or cut earlier"
            if here
            else ""
        )
    latest = grid.last_labelled(horizon_days, span)
    if latest is not None:
        hint = (
            f"; the latest cutoff a {horizon_days}-day horizon fits is {latest:%Y-%m-%d}"
            f"{grid.skipped(latest, horizon_days)}"
        )
    else:
        fits = (last_event - first_event.normalize() - pd.Timedelta(days=1)) // pd.Timedelta(days=2)
        hint = (
            f"; at no cutoff of this data do {grid.split_words} with a {horizon_days}-day "
            f"horizon: {grid.offer(span, fits)}"
        )
    return hint + (f", or --horizon {here} at this one{grid.skipped(cutoff, here)}" if here else "")


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
