"""A horizon too long for the time split, learned at a shorter one (``lifecycle.bridge``).

A young log cannot split at the asked horizon (a horizon and two 28-day pools of matured
cutoffs) but often can at a shorter one: churn and LTV are then learned, evaluated and
gated there like any model, and served on the asked horizon through the purchase process
fitted on the users of the latest cutoff. Measured against the models that learn from no
outcome, which serve otherwise: docs/decisions.md ("a horizon too long for the time split,
bridged"). Where no horizon of at least a third of the asked one (and MIN_DAYS) splits
either, or the task is not of every known user on a log whose activity is its purchases,
the label-free models serve as before (``training.label_free``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pandas as pd

from features.asof import AS_OF
from features.labels import PURCHASES, of_everyone
from lifecycle import bridge, tasks
from lifecycle.btyd import MBGNBD
from lifecycle.btyd_features import PURCHASE_HISTORY, fit_purchase_process
from training.datasets import TrainingSet, available_cutoffs, freshest_rows
from training.errors import TooFewOutcomes

if TYPE_CHECKING:
    from lifecycle.settings import Settings
    from training.pipeline import TrainResult

MIN_DAYS = 14
MOST_STRETCH = 3  # the asked horizon at most this many times the learned one (2.6 measured)
WEEK = 7
TRIES = 2  # horizons tried, a week apart


def learnable_horizons(cutoffs: list[pd.Timestamp], asked_days: int) -> list[int]:
    """Horizons in whole weeks, longest first, shorter than ``asked_days``, at least MIN_DAYS
    and a 1/MOST_STRETCH of the asked, at which the cutoffs matured by the last one split
    (``training.time_splits.time_split``) with no fewer train cutoffs than test ones: the
    longest that splits at all learns from the shop's first week or two, and lost every gate
    to the rules on the young shop. The data may end a little before the last cutoff, so
    the training set can mature a cutoff fewer: the next shorter one is tried then."""
    from training.time_splits import time_split

    ordered = sorted(cutoffs)
    floor = max(MIN_DAYS, -(-asked_days // MOST_STRETCH))
    splitting = []
    for learned in range((asked_days - 1) // WEEK * WEEK, floor - 1, -WEEK):
        matured = [t for t in ordered if t + pd.Timedelta(days=learned) <= ordered[-1]]
        try:
            split = time_split(matured, learned)
        except TooFewOutcomes:
            continue
        if len(split.train) >= len(split.test):  # learns from no fewer cutoffs than it is tested on
            splitting.append(learned)
    return splitting


def train_bridged(
    settings: Settings,
    task: str,
    dataset: str | None,
    few: TooFewOutcomes,
    *,
    progress: Callable[[str], None],
    accept_definition_change: str | None,
    answered_by: str | None = None,
) -> TrainResult:
    """Train ``task`` at the longest horizon that splits, to be served on the asked one;
    raises ``few`` where there is none (the caller then serves a label-free model), a
    :class:`BridgeTried` once a shorter horizon was tried: its progress said ``few``'s cause,
    once (trial 115 read a subscription's single class four times, once a horizon)."""
    from training.pipeline import train_task

    asked = int(getattr(settings.labels, f"{task}_horizon_days", 0) or 0)
    everyone = of_everyone(task, getattr(settings.labels, f"{task}_lookback_days", None))
    if not settings.training.bridge_horizon or not asked or not everyone:
        raise few
    tried: list[str] = []  # each shorter horizon's refusal, in a few words
    for learned in learnable_horizons(available_cutoffs(settings, dataset), asked)[:TRIES]:
        labels = settings.labels.model_copy(update={f"{task}_horizon_days": learned})
        said = tried[-1] if tried else str(few).removeprefix(f"{task}: ")
        progress(
            f"{task}: {said}; learning at {learned} days instead, served on {asked} days "
            "through the purchase process"
        )
        try:
            return train_task(
                settings.model_copy(update={"labels": labels}),
                task,
                dataset=dataset,
                progress=progress,
                accept_definition_change=accept_definition_change,
                served_days=asked,
                answered_by=answered_by,
            )
        except TooFewOutcomes as shorter:
            why = str(shorter).removeprefix(f"{task}: ")
            tried.append(f"at {learned} days: {shorter.counts or why}")  # a cause said above
            few = BridgeTried(f"at {learned} days: {why}")
            if isinstance(shorter, NotBridgeable):  # no shorter horizon helps either
                break
    if tried:  # the last shorter horizon tried: why it did not serve
        progress(f"{task}: {tried[-1]}; no shorter horizon tried serves")
    raise few


class NotBridgeable(TooFewOutcomes):
    """A task or log the purchase process cannot carry to another horizon."""


class BridgeTried(TooFewOutcomes):
    """No shorter horizon tried served; the progress said why the asked one could not."""


def learned(report: dict[str, Any]) -> str:
    """What a training's lines say of a model learned at a shorter horizon than it serves
    (the training report's ``bridge``); nothing for one learned at its own."""
    found = report.get("bridge")
    if not found:
        return ""
    return f", learned at {found['learned_days']} days, served on {found['served_days']}"


def check_bridgeable(task: str, training: TrainingSet, activity: str) -> None:
    """Refuse a bridge the purchase process cannot carry: a task of a narrower population
    than every known user, churn of a log whose activity is more than its purchases, or a
    model without the purchase history among its features."""
    if not training.spec.everyone:
        raise NotBridgeable(f"{task}: its users are not every known user: no bridge")
    if tasks.get(task).outcome == "no_activity" and activity != PURCHASES:
        raise NotBridgeable(f"{task}: activity beyond purchases: no bridge")
    if set(PURCHASE_HISTORY) - set(training.feature_names):
        raise NotBridgeable(f"{task}: no purchase history among the features: no bridge")


def bridge_for(settings: Settings, training: TrainingSet, served_days: int) -> dict[str, Any]:
    """The bundle's ``bridge``: MBG/NBD fitted on the users of the latest cutoff (``at``)."""
    fresh = freshest_rows(settings, training)
    process = fit_purchase_process(fresh, MBGNBD)
    if process is None:
        raise TooFewOutcomes(f"{training.task}: too few customers to fit the purchase process")
    fitted = bridge.bridge_of(
        int(training.spec.horizon_days),
        served_days,
        process,
        lambda name: fresh[name].astype(float).to_numpy(),
    )
    return fitted | {"at": f"{fresh[AS_OF].max():%Y-%m-%d}"}
