"""Training sets: labels as of the cutoffs, joined with point-in-time features from Feast.

The entity rows are the labelled (user_id, as_of) pairs; features come from the task's
feature service, the same one serving reads. Every labelled row reaches the training
set: a row without features keeps nulls and is counted, never dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd

from features import contract as c
from features.asof import AS_OF, FeatureError, _utc, feature_cutoffs, windows_read
from features.labels import LABEL, LabelSpec, compute_labels, label_spec, matured_cutoffs
from features.store import (
    Retrieved,
    StorePaths,
    historical_features,
    open_store,
    store_paths,
    task_service,
)
from lifecycle import champion_inputs, closures, tasks
from lifecycle.sql import literal
from lifecycle.words import POSITIVES, ROWS, counted
from training.errors import TooFewOutcomes
from training.horizon_advice import advised, feature_rows, horizon_advice

if TYPE_CHECKING:
    from lifecycle.settings import Settings


@dataclass
class TrainingSet:
    task: str
    frame: pd.DataFrame  # user_id, as_of, label, features...
    feature_names: list[str]
    service: str
    spec: LabelSpec
    cutoffs: list[pd.Timestamp]
    report: dict[str, Any] = field(default_factory=dict)


def available_cutoffs(settings: Settings, dataset: str | None = None) -> list[pd.Timestamp]:
    """The feature table's cutoffs (its distinct as_of values)."""
    return feature_cutoffs(store_paths(settings, dataset).feature_table)


def thin_cutoffs(cutoffs: list[pd.Timestamp], most: int) -> list[pd.Timestamp]:
    """At most ``most`` cutoffs: every k-th, counted back from the freshest, which is always kept."""
    ordered = sorted(cutoffs)
    step = max(1, -(-len(ordered) // most))  # ceiling division
    return ordered[::-1][::step][::-1]


def within_rows(
    rows_by_cutoff: pd.Series, cutoffs: list[pd.Timestamp], most: int
) -> list[pd.Timestamp]:
    """Every k-th cutoff, counted back from the freshest, for the smallest k whose rows fit in
    ``most`` (at least 3 cutoffs are kept whatever their rows)."""
    newest_first = sorted(cutoffs, reverse=True)
    for step in range(1, len(newest_first) + 1):
        kept = newest_first[::step]
        if len(kept) <= 3 or int(rows_by_cutoff.reindex(kept).fillna(0).sum()) <= most:
            return sorted(kept)
    return sorted(newest_first[:3])


def within_rows_split(
    labels: pd.DataFrame,
    cutoffs: list[pd.Timestamp],
    most: int,
    split: Callable[[list[pd.Timestamp]], Any] | None,
) -> tuple[pd.DataFrame, list[pd.Timestamp], float]:
    """Labelled rows of at most ``most`` (:func:`within_rows`'s cutoffs) that still make a
    time split (``split``: its parts, or None; no ``split``: as thinned) where all of
    ``cutoffs`` do. Where every
    thinning that fits the rows leaves none, the thinning that splits with the largest share
    of its rows in the train part, and a share of its users drawn by a hash of the user id
    (in or out at every cutoff; the same each run). Returns the rows, their cutoffs and the
    share of users kept (1.0: all). A log of 94,000 customers had every cutoff but three
    thinned away, and learned from no outcome at all."""
    counts = labels[AS_OF].value_counts()
    kept, share = rows_plan(counts, cutoffs, most, split)
    chosen = labels[labels[AS_OF].isin(kept)]
    if share == 1.0:
        return chosen, kept, share
    return chosen[user_draws(chosen[c.USER_ID]) < share * DRAWS], kept, share


DRAWS = 1_000_000  # a user's draw (user_draws) is below share * DRAWS: kept


def user_draws(user_ids: pd.Series) -> np.ndarray:
    """Each user id's draw, 0 to DRAWS - 1, from a hash of the id: in or out of a share of
    users at every cutoff, the same each run (:func:`within_rows_split`)."""
    return pd.util.hash_pandas_object(user_ids, index=False).to_numpy() % DRAWS


def rows_plan(
    rows_by_cutoff: pd.Series,
    cutoffs: list[pd.Timestamp],
    most: int,
    split: Callable[[list[pd.Timestamp]], Any] | None,
) -> tuple[list[pd.Timestamp], float]:
    """The cutoffs :func:`within_rows_split` keeps of ``cutoffs`` whose labelled rows are
    ``rows_by_cutoff``, and the share of users (1.0: all): decided from the counts alone,
    so a backtest's offers count what training keeps (``training.max_rows``)."""
    kept = within_rows(rows_by_cutoff, cutoffs, most)
    if split is None or split(kept) is not None or split(cutoffs) is None:
        return kept, 1.0

    def rows(chosen: list[pd.Timestamp]) -> int:
        return int(rows_by_cutoff.reindex(chosen).fillna(0).sum())

    def learns(chosen: list[pd.Timestamp]) -> tuple[float, int]:
        parts = split(chosen)  # the train part's share of the rows, then the fewest rows
        return (-rows(parts.train) / max(rows(chosen), 1) if parts else 1.0, rows(chosen))

    newest_first = sorted(cutoffs, reverse=True)
    kept = min((sorted(newest_first[::k]) for k in range(1, len(newest_first) + 1)), key=learns)
    return kept, min(1.0, most / max(rows(kept), 1))


def population_rows(feature_table: Path, cutoffs: list[pd.Timestamp]) -> pd.DataFrame:
    """The feature table's rows at ``cutoffs``, with the columns that decide who is labelled."""
    import duckdb

    stamps = ", ".join(f"'{t.isoformat()}'::TIMESTAMPTZ" for t in cutoffs)
    frame = duckdb.sql(
        f"""SELECT {c.USER_ID}, {AS_OF}, recency_days, orders_total
            FROM read_parquet({literal(feature_table)}) WHERE {AS_OF} IN ({stamps})"""
    ).df()
    frame[AS_OF] = frame[AS_OF].dt.tz_convert("UTC").astype("datetime64[us, UTC]")
    return frame


def freshest_rows(settings: Settings, training: TrainingSet) -> pd.DataFrame:
    """Every user of the feature table's latest cutoff (the scoring date), with the task's
    features through its service and no label: what a rule with nothing to learn from
    outcomes (quintile edges, BG/NBD parameters) is fitted on to serve the users of now."""
    paths = store_paths(settings, training.report.get("dataset"))
    return _latest(settings, paths, open_store(settings, paths.dataset), training.service).frame


def latest_set(settings: Settings, task: str, dataset: str | None = None) -> TrainingSet:
    """:func:`freshest_rows` as the training set of a model that learns from no outcome
    (``training.label_free``): the task's current service and label definition, no label."""
    source = _task_source(settings, task, dataset)
    retrieved = _latest(settings, source.paths, source.store, source.service)
    latest = retrieved.frame[AS_OF].max()
    report = {
        "dataset": source.paths.dataset,
        "label": source.spec.describe(),
        "rows": len(retrieved.frame),
        "users": int(retrieved.frame[c.USER_ID].nunique()),
        "cutoffs": [f"{latest:%Y-%m-%d}"],
        "rows_without_features": retrieved.missing,
    }
    return TrainingSet(
        task,
        retrieved.frame,
        retrieved.feature_names,
        source.service,
        source.spec,
        [latest],
        report,
    )


def _latest(settings: Settings, paths: StorePaths, store: Any, service_name: str) -> Retrieved:
    latest = available_cutoffs(settings, paths.dataset)[-1]
    entities = population_rows(paths.feature_table, [latest])[[c.USER_ID, AS_OF]]
    return historical_features(store, entities, service_name)


class _TaskSource(NamedTuple):
    """Where a task's training rows come from: the dataset's paths, its events, its Feast
    store, the task's feature service and its label definition."""

    paths: StorePaths
    events: Path
    users: Path | None
    store: Any
    service: str
    spec: LabelSpec


def _task_source(
    settings: Settings, task: str, dataset: str | None, service_name: str | None = None
) -> _TaskSource:
    paths = store_paths(settings, dataset)
    events_path = settings.workspace.events(paths.dataset)
    users_path = settings.workspace.users(paths.dataset)
    if not events_path.is_file():
        raise FeatureError(f"dataset '{paths.dataset}' has no events at {events_path}")
    users = users_path if users_path.is_file() else None
    store = open_store(settings, paths.dataset)
    # The service holding exactly the table's current features (checked before the labels
    # are computed): the model names it and reads exactly its features, here and when served.
    service_name = service_name or task_service(store, paths, task)
    spec = label_spec(task, settings.labels, events=events_path, users=users)
    return _TaskSource(paths, events_path, users, store, service_name, spec)


def build_training_set(
    settings: Settings,
    task: str,
    *,
    dataset: str | None = None,
    cutoffs: list[pd.Timestamp] | None = None,
    service_name: str | None = None,
    check_cutoffs: Callable[[list[pd.Timestamp], int], object] | None = None,
) -> TrainingSet:
    """Labels at the matured cutoffs (or those given; at most ``training.max_cutoffs`` and
    ``training.max_rows``, thinned evenly with the freshest kept) + the task's features
    through Feast. ``check_cutoffs(cutoffs, horizon_days)`` runs before the features are
    retrieved (the slow part), so a set that cannot split is refused without them."""
    paths, events_path, users, store, service_name, spec = _task_source(
        settings, task, dataset, service_name
    )
    last_event = last_event_time(events_path)
    grid = cutoffs or available_cutoffs(settings, paths.dataset)
    ripe = thin_cutoffs(
        matured_cutoffs(last_event, grid, spec.horizon_days), settings.training.max_cutoffs
    )
    if not ripe:
        rows = feature_rows(paths.feature_table)
        least = settings.training.min_rows
        raise none_matured(paths.dataset, task, spec.horizon_days, last_event, grid, rows, least)
    labels = compute_labels(
        events_path,
        ripe,
        spec,
        users=users,
        features=population_rows(paths.feature_table, ripe),
    )
    if labels.empty:
        raise FeatureError(f"no user is eligible for {task} at any of {len(ripe)} matured cutoffs")
    split = split_or_none(check_cutoffs, spec.horizon_days) if check_cutoffs else None
    labels, ripe, user_share = within_rows_split(labels, ripe, settings.training.max_rows, split)
    labels = labels.reset_index(drop=True)
    if check_cutoffs is not None:
        try:
            check_cutoffs(ripe, spec.horizon_days)
        except TooFewOutcomes as few:  # said with what the history needs, in numbers
            rows, least = feature_rows(paths.feature_table), settings.training.min_rows
            raise advised(few, grid, last_event, spec.horizon_days, task, rows, least) from None
    retrieved = historical_features(store, labels, service_name)
    frame = retrieved.frame
    by_cutoff = frame.groupby(AS_OF)[LABEL].agg(["size", "mean"])
    report = {
        "dataset": paths.dataset,
        "label": spec.describe(),
        "rows": len(frame),
        "users": int(frame[c.USER_ID].nunique()),
        "cutoffs": [f"{t:%Y-%m-%d}" for t in ripe],
        "rows_without_features": retrieved.missing,
        "label_mean_by_cutoff": {
            f"{k:%Y-%m-%d}": round(float(v), 4) for k, v in by_cutoff["mean"].items()
        },
        "rows_by_cutoff": {f"{k:%Y-%m-%d}": int(v) for k, v in by_cutoff["size"].items()},
    }
    if user_share < 1.0:  # training.max_rows: a share of users, so that the cutoffs split
        report["user_share"] = round(user_share, 4)
    shut = closures.label_words(events_path, ripe, spec.horizon_days, task)
    if shut:  # a shop-wide closure inside the labels' horizons (lifecycle.closures)
        report["shop_shut"] = shut
    return TrainingSet(task, frame, retrieved.feature_names, service_name, spec, ripe, report)


def sampled_users(report: dict[str, Any]) -> str:
    """What a training's lines say of a training set that kept a share of the users (its
    report's ``user_share``, for ``training.max_rows``); nothing where it kept every user."""
    share = report.get("user_share")
    return f", {share:.0%} of the users (training.max_rows)" if share else ""


def split_or_none(
    check: Callable[[list[pd.Timestamp], int], Any], horizon_days: int
) -> Callable[[list[pd.Timestamp]], Any]:
    """The time split ``check`` makes of these cutoffs, None where it refuses (training's
    and the backtest's offers' :func:`rows_plan` read it so)."""

    def split(cutoffs: list[pd.Timestamp]) -> Any:
        try:
            return check(cutoffs, horizon_days)
        except TooFewOutcomes:
            return None

    return split


def last_event_time(events_path: Path) -> Any:
    """The time of a dataset's last event (what a cutoff's horizon matures against)."""
    import duckdb

    return duckdb.sql(
        f"SELECT max({c.EVENT_TIME}) FROM read_parquet({literal(events_path)})"
    ).fetchall()[0][0]


def none_matured(
    dataset: str,
    task: str,
    horizon_days: int,
    last_event: Any,
    grid: list[pd.Timestamp],
    rows: dict[pd.Timestamp, int] | None = None,
    min_rows: int = 0,
) -> TooFewOutcomes:
    """The refusal of a task none of whose cutoffs has a matured horizon, with what the
    history needs (``training.horizon_advice``: ``rows`` per cutoff, ``min_rows``)."""
    return TooFewOutcomes(
        f"no cutoff of dataset '{dataset}' has a matured {horizon_days}-day {task} horizon: "
        f"the data ends at {_utc(last_event):%Y-%m-%d}, the cutoffs run "
        f"{grid[0]:%Y-%m-%d}..{grid[-1]:%Y-%m-%d}; "
        + horizon_advice(grid, last_event, horizon_days, task, rows, min_rows)
    )


# the data window's record of the features a model did not learn from; drift judges the
# others (lifecycle.champion_inputs.learned_inputs)
LEFT_OUT = champion_inputs.LEFT_OUT


def unlearned(
    training: TrainingSet,
    parts: dict[str, pd.DataFrame],
    settings: Settings,
    window: dict[str, Any],
    keep_all: bool = False,
) -> tuple[list[str], dict[str, Any]]:
    """The features LightGBM does not learn from on these rows (``parts``: train, valid and
    test), and the data window recording them (:data:`LEFT_OUT`): those counted over a window
    no shorter than every row's history (the longest ``tenure_days``), which some user of the
    latest cutoff, the one scored now, has outlived. On each row such a feature equals its
    lifetime total, yet for that user it counts less than the total: a one-time buyer whose
    one order left the 365-day window reads as a buyer of nothing. On CDNOW's cohort, scored
    12 to 15 months after their first orders, every one of them got the churn of the
    customers whose one order was worth 0 (P(active) 0.00002; 3.0% bought)."""
    if keep_all:  # an experiment's choice (training.pipeline.Method.long_windows)
        return [], window
    windows = settings.features.windows_days
    known = [p["tenure_days"].max() for p in parts.values() if "tenure_days" in p.columns]
    history = float(max(known, default=float("nan")))
    now = longest_history_now(settings, training.report.get("dataset"))
    past = [
        n
        for n in training.feature_names
        if any(history <= w < now for w in windows_read(n, windows))
    ]
    if not past:  # also where no row has a history (NaN compares false)
        return [], window
    left_out = {"features": past, "longest_history_days": history, "now_days": now}
    return past, window | {LEFT_OUT: left_out}


def longest_history_now(settings: Settings, dataset: str | None) -> float:
    """The longest ``tenure_days`` at the feature table's latest cutoff (NaN if none)."""
    import duckdb

    table = literal(settings.workspace.feature_table(dataset or settings.dataset))
    ((longest,),) = duckdb.sql(
        f"SELECT max(tenure_days) FROM read_parquet({table}) "
        f"WHERE {AS_OF} = (SELECT max({AS_OF}) FROM read_parquet({table}))"
    ).fetchall()
    return float("nan") if longest is None else float(longest)


def left_out_text(left_out: dict[str, Any]) -> str:
    return (
        f"{', '.join(left_out['features'])}: no user was known longer than their windows at "
        f"the cutoffs learned from ({left_out['longest_history_days']:.0f} days at most), so "
        "there they repeat the lifetime totals; users of the latest cutoff are known up to "
        f"{left_out['now_days']:.0f} days, and for them they would not"
    )


PART_WORDS = {"train": "training", "valid": "validation", "test": "test"}


class Refusal(NamedTuple):
    """The first of :func:`check_trainable`'s rules some counts break: ``kind`` (``rows``: too
    few training rows; ``value``: too few rows with any value; ``single_class``; ``positives``)
    and the part's rows and positive outcomes."""

    kind: str
    part: str
    rows: int
    positives: int


def refusal_of(
    task: str, counts: dict[str, tuple[int, int]], min_rows: int, min_positives: int
) -> Refusal | None:
    """The rule :func:`check_trainable` applies, on counts alone (``counts``: each of train,
    valid and test's rows and positive outcomes, a value task's rows with any value), so that
    a backtest's offers refuse exactly what training refuses; None where it trains."""
    rows, positives = counts["train"]
    if rows < min_rows:
        return Refusal("rows", "train", rows, positives)
    probability = tasks.get(task).is_probability
    for name, (size, positives) in counts.items():
        if not probability and positives < min_positives:
            return Refusal("value", name, size, positives)
        if positives == 0 or positives == size:
            return Refusal("single_class", name, size, positives)
        if positives < min_positives:
            return Refusal("positives", name, size, positives)
    return None


def check_trainable(
    task: str,
    parts: dict[str, pd.DataFrame],
    settings: Settings,
    spec: LabelSpec | None = None,
) -> None:
    """Too few rows, too few positives or a single class of an outcome a model is fitted and
    calibrated on (churn's and conversion's label, LTV's P(any value)): a clear error with
    the counts and, for a single class, why in the task's words (:func:`refusal_of`'s rule).
    ``spec``: the label's (default: the settings', whose conversion target ``auto`` needs the
    events)."""
    probability = tasks.get(task).is_probability
    counts = {
        name: (len(frame), int(frame[LABEL].sum() if probability else (frame[LABEL] > 0).sum()))
        for name, frame in parts.items()
    }
    least = settings.training
    refused = refusal_of(task, counts, least.min_rows, least.min_positives)
    if refused is None:
        return
    kind, name, size, positives = refused
    if kind == "rows":
        rows = {name: len(frame) for name, frame in parts.items()}
        raise TooFewOutcomes(
            f"{task}: only {size} training rows (need {least.min_rows})"
            f"{population_cause(spec)}; counts {rows}"
        )
    if kind == "value":
        raise TooFewOutcomes(
            f"{task}: {name} has {counted(positives)} with any value (need "
            f"{least.min_positives}) among {counted(size, ROWS)}"
        )
    if kind == "single_class":
        spec = spec or label_spec(task, settings.labels)
        why = single_class_cause(spec, name, parts[name], none=positives == 0)
        said = (
            f"{name} rows have a single class ({positives} positive, {size - positives} negative)"
        )
        raise TooFewOutcomes(f"{task}: {said}{why}", said)
    raise TooFewOutcomes(
        f"{task}: {name} has {counted(positives, POSITIVES)} of "
        f"{counted(size, ROWS)} (need {least.min_positives})"
    )


def population_cause(spec: LabelSpec | None) -> str:
    """Why a task of a narrower population than every known user has few rows, in its words
    (trial 115: a subscription's conversion said 'only 27 training rows' and nothing of why)."""
    if spec is None:
        return ""
    if spec.target == "first_purchase":
        return ": its rows are the users who had not bought yet at a training cutoff; every other user had"
    if spec.target == "repeat_purchase":
        return (
            ": its rows are the one-time buyers at a training cutoff; every other user had "
            "bought twice or more by then, or never"
        )
    if spec.lookback_days is not None:
        return f": its rows are the users active in the {spec.lookback_days} days before a cutoff"
    return ""


def single_class_cause(spec: LabelSpec, part: str, frame: pd.DataFrame, none: bool) -> str:
    """Why the ``part`` rows hold one class, in the task's words (``none``: no user had the
    outcome; else every user had it): what a user can act on, not the counts."""
    last = frame[AS_OF].max() if AS_OF in frame.columns and len(frame) else None
    cutoffs = f"{PART_WORDS.get(part, part)} cutoff" + (
        f" up to {_utc(last):%Y-%m-%d}" if last is not None else ""
    )
    days, task = spec.horizon_days, spec.task
    outcome = tasks.get(task).outcome
    if outcome == "no_activity":
        did = f"went {days} days without activity"
    elif outcome == "any_purchase":
        target = f"made a {spec.target.replace('_', ' ')}" if spec.target else "reached the target"
        did = f"{target} within {days} days"
    elif outcome == "net_value":  # the purchase part: P(any value) is what is calibrated
        return (
            f": every user bought within the {days}-day horizon after every {cutoffs}, so "
            f"{task}'s P(buy) cannot be learned"
        )
    else:  # a task declared elsewhere: its counts say it
        return ""
    if none:
        return f": no user {did} after any {cutoffs}, so {task} cannot be learned yet"
    return f": every user {did} after every {cutoffs}, so {task} cannot be learned"
