"""What `lifecycle train` would refuse, told from the feature table before any training: a
command that finds no champion says why none can be trained instead of advising a `train`
that refuses (a dataset of one user, a history too short), from its first answer on.

Only a certain refusal is told: the time split training makes of the matured cutoffs
(``training.time_splits.time_split``) fails, or leaves fewer feature rows to train on than
``training.min_rows``, and no model that learns from no outcome can serve instead (the
bridge and the label-free models each fit a purchase process on the users of the latest
cutoff, which takes ``lifecycle.btyd.MIN_CUSTOMERS``). Anything less certain is left to
`train`, which says its own why (``lifecycle.train_refusals``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from features.labels import label_spec, matured_cutoffs
from features.store import store_paths
from lifecycle.btyd import MIN_CUSTOMERS
from lifecycle.words import counted
from training.datasets import available_cutoffs, last_event_time, none_matured, thin_cutoffs
from training.errors import TooFewOutcomes
from training.horizon_advice import advised, feature_rows

if TYPE_CHECKING:
    from lifecycle.settings import Settings


def foreseen_refusal(settings: Settings, task: str, dataset: str) -> str | None:
    """Why `lifecycle train TASK` would refuse on the dataset's feature table as it is, when
    that is certain without training; None otherwise."""
    from training.time_splits import time_split

    paths = store_paths(settings, dataset)
    events, users = settings.workspace.events(dataset), settings.workspace.users(dataset)
    if not paths.feature_table.is_file() or not events.is_file():
        return None
    spec = label_spec(
        task, settings.labels, events=events, users=users if users.is_file() else None
    )
    grid = available_cutoffs(settings, dataset)
    if not grid:
        return None
    last_event = last_event_time(events)
    ripe = thin_cutoffs(
        matured_cutoffs(last_event, grid, spec.horizon_days), settings.training.max_cutoffs
    )
    at = feature_rows(paths.feature_table)  # feature rows per cutoff
    if sum(at.get(t, 0) for t in ripe) > settings.training.max_rows:
        return None  # training thins its cutoffs further by their rows: its split may differ
    try:
        if not ripe:
            raise none_matured(
                dataset, task, spec.horizon_days, last_event, grid, at, settings.training.min_rows
            )
        try:
            split = time_split(ripe, spec.horizon_days, task)
        except TooFewOutcomes as few:
            raise advised(
                few, grid, last_event, spec.horizon_days, task, at, settings.training.min_rows
            ) from None
        most = sum(at.get(t, 0) for t in split.train)
        if most >= settings.training.min_rows:
            return None  # it may train
        raise TooFewOutcomes(
            f"at most {most:,} training rows (need {settings.training.min_rows:,}): the "
            f"feature table's rows at its "
            f"{counted(len(split.train), ('train cutoff', 'train cutoffs'))}"
        )
    except TooFewOutcomes as few:
        why = str(few).removeprefix(f"{task}: ")
    if not (settings.training.label_free_fallback or settings.training.bridge_horizon):
        return why  # nothing serves in its place
    latest = grid[-1]
    known = at.get(latest, 0)
    if known >= MIN_CUSTOMERS:
        return None  # a shorter horizon or a model that learns from no outcome may serve
    return (
        f"{why}; and no model that learns from no outcome: the purchase process they fit "
        f"needs at least {MIN_CUSTOMERS} customers, the latest cutoff {latest:%Y-%m-%d} has "
        f"{known:,} user{'s' * (known != 1)}"
    )
