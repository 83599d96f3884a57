"""Models that learn from no outcome, for data with too few outcomes to learn from.

A young shop's log can hold too few matured cutoffs for the split (a horizon and two
28-day pools: about 7.8 months of history for 91 days), and a small shop's split too few
rows or positives (``training.errors.TooFewOutcomes``). Rather than refuse, training then
serves what needs no outcome, fitted on every user at the latest cutoff (the users it
scores): churn as MBG/NBD's P(no purchase in the horizon) on a log whose activity is its
purchases, and on one with other activity (sessions) as the same process of active days
while every user's history lies within the longest activity window; conversion of
one-time buyers to repeat buyers as its P(a purchase); LTV as BG/NBD expected purchases x
Gamma-Gamma order value. A first purchase (sign-up data) and churn of a lookback
population are refused as before, and so is everything with
``training.label_free_fallback`` false.

The version is registered like any other, its kind and ``label_free`` (why, and what it
was fitted on) in its data window. With no outcome to test on, it becomes champion only
where there is none or the champion learned from no outcome either (not from the same
data: a refit ties it); the first model
judged on outcomes that beats its baselines replaces it (``training.promotion``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features import contract as c
from features.asof import AS_OF
from features.labels import ACTIVITY, BEYOND_PURCHASES, PURCHASES
from lifecycle import closures, lineage, registry
from lifecycle.btyd import MBGNBD
from lifecycle.btyd_features import FLAT_P_ALIVE, fit_purchase_process, flat_p_alive
from lifecycle.bundle import ModelBundle
from lifecycle.rules import ORDER_VALUE, RuleError, fit_rule
from lifecycle.settings import Settings
from lifecycle.words import counted
from training.datasets import latest_set
from training.errors import TooFewOutcomes, TrainingError
from training.models import categories_of
from training.promotion import definition_refusal
from training.tracking import experiment_for, log_bundle, settings_params, start_training_run

if TYPE_CHECKING:
    from training.pipeline import TrainResult

KINDS = {"churn": "purchase_process", "conversion": "purchase_process", "ltv": "bgnbd_gamma_gamma"}
WHAT = {
    "churn": "MBG/NBD P(no purchase in the horizon)",
    "conversion": "MBG/NBD P(a purchase in the horizon) of one-time buyers",
    "ltv": "BG/NBD expected purchases x Gamma-Gamma order value",
    "activity_process": "MBG/NBD of active days, P(none in the horizon)",
}
TAG = registry.LABEL_FREE_TAG  # the version's tag and its data window's key
PARAM_CHARS = 6000  # the longest value MLflow keeps for a run parameter
# Users with sessions, or customers active after their last purchase, beyond this share:
# the log's activity is more than its purchases.
OTHER_ACTIVITY_SHARE = 0.01


def activity_beyond_purchases(frame: pd.DataFrame) -> str | None:
    """Why a user's activity is more than their purchases in these feature rows (then churn,
    no activity, is not the absence of purchases a purchase process models); None if not."""
    customers = frame["orders_total"].fillna(0).to_numpy() >= 1
    sessions = float((frame["sessions_total"].fillna(0).to_numpy() > 0).mean())
    recency = frame["recency_days"].to_numpy(dtype=float)
    purchase_recency = frame["purchase_recency_days"].to_numpy(dtype=float)
    later = customers & ~np.isclose(recency, purchase_recency, rtol=0.0, atol=1e-6)
    after = float(later.sum() / max(customers.sum(), 1))
    # users without a purchase who came back after their first day (a clickstream's own types)
    back = float(
        (~customers & c.came_back(frame["tenure_days"].to_numpy(dtype=float), recency)).mean()
    )
    if max(sessions, after, back) <= OTHER_ACTIVITY_SHARE:
        return None
    return (
        f"{sessions:.0%} of users have sessions, {after:.0%} of customers were active after "
        f"their last purchase and {back:.0%} of users came back without one, so no purchase is "
        "not no activity"
    )


def activity_of(frame: pd.DataFrame) -> str:
    """What the users' activity is in these feature rows, kept in a model's data window
    (``features.labels.ACTIVITY``)."""
    return PURCHASES if activity_beyond_purchases(frame) is None else BEYOND_PURCHASES


def train_label_free(
    settings: Settings,
    task: str,
    dataset: str,
    few: TooFewOutcomes,
    *,
    progress: Callable[[str], None],
    accept_definition_change: str | None,
    cause_said: bool = False,
) -> TrainResult:
    """Register and gate the task's label-free model; refused with ``few``'s reason and
    why no label-free model serves either. ``cause_said``: the progress said ``few``
    already (the bridge's shorter horizons were tried), so its line does not again."""
    from training.pipeline import TrainResult

    why = str(few).removeprefix(f"{task}: ")
    kind = KINDS.get(task)
    if not settings.training.label_free_fallback or kind is None:
        raise TrainingError(f"{task}: {why}") from None
    training = latest_set(settings, task, dataset)
    # The process is fitted on every customer and scores the task's users: churn's of a
    # lookback would differ, and the first purchase of a never-buyer it does not model.
    if training.spec.lookback_days is not None or training.spec.target == "first_purchase":
        raise TrainingError(f"{task}: {why}") from None
    rows = training.frame
    cutoff = pd.Timestamp(rows[AS_OF].max())
    other = activity_beyond_purchases(rows) if task == "churn" else None
    if other:  # churn is no activity: the process of active days, if it has all of them
        kind = "activity_process"
    progress(
        f"{task}: {'' if cause_said else f'{why}; '}fitting the label-free {kind} on "
        f"{counted(len(rows))} at {cutoff:%Y-%m-%d}"
    )
    events = settings.workspace.events(dataset)
    shut = closures.fit_words(events, cutoff, training.spec.horizon_days)
    for words in shut:  # a closure before the cutoff: every customer's silence (lifecycle.closures)
        progress(f"{task}: note: {words}")
    try:
        rule = fit_rule(
            kind,
            task,
            rows,
            training.feature_names,
            horizon_days=training.spec.horizon_days,
            windows=settings.features.windows_days,
            population=rows,
        )
    except RuleError as error:
        because = f"{other}, and {error}" if other else str(error)
        raise TrainingError(f"{task}: {why}; and no label-free model: {because}") from None
    fitted_on = {"cutoffs": [f"{cutoff:%Y-%m-%d}"], "rows": len(rows)}
    window = {
        "dataset": dataset,
        "kind": kind,
        TAG: {"why": why, "model": what_is_served(rule, WHAT[kind if other else task])},
        "trained_on": fitted_on,
        "rule_fitted_on": {"cutoff": fitted_on["cutoffs"][0], "rows": len(rows)},
        ACTIVITY: activity_of(rows),
    }
    bundle = ModelBundle(
        task,
        rule,
        training.feature_names,
        categories_of(rows, training.feature_names),
        training.service,
        training.spec.to_dict(),
        window,
        purchase_process=fit_purchase_process(rows, MBGNBD),
    )
    # p_alive near 1 for everyone (a grocery export): said as train says a learned model's,
    # of a task whose process serves p_alive (its rows every known user: not conversion's)
    process = bundle.purchase_process if training.spec.everyone else None
    if process is not None and (flat := flat_p_alive(process, rows)):
        bundle.data_window[FLAT_P_ALIVE] = flat
    mlflow_client = registry.client(settings)
    name = registry.model_name(dataset, task)
    report = training.report | ({"shop_shut": shut} if shut else {})
    run_id, version = _log(settings, mlflow_client, name, bundle, rows, report)
    promoted, verdict = gate_label_free(
        mlflow_client, name, task, version, bundle, accept_definition_change
    )
    registry.record_gate(mlflow_client, name, version, verdict)
    report |= {TAG: why, FLAT_P_ALIVE: bundle.data_window.get(FLAT_P_ALIVE)}
    return TrainResult(task, name, version, run_id, {}, promoted, verdict, None, report)


def what_is_served(rule: Any, what: str) -> str:
    """What a label-free model serves, in words: ``what`` (:data:`WHAT`), or, for an LTV
    of orders all worth one value (:data:`lifecycle.rules.ORDER_VALUE`), no spend model."""
    if ORDER_VALUE not in rule.params:
        return what
    each = float(rule.params[ORDER_VALUE])
    return f"BG/NBD expected purchases x {each:g}, every order's value (no spend to model)"


def gate_label_free(
    mlflow_client: Any,
    name: str,
    task: str,
    version: str,
    bundle: ModelBundle,
    accept_definition_change: str | None,
) -> tuple[bool, str]:
    """Champion where there is none, or where the champion learned from no outcome either
    and from other data (:func:`same_data`); else challenger (nothing to weigh it against a
    model judged on outcomes, or the champion's refit of the same data)."""
    refused = definition_refusal(
        mlflow_client, name, task, version, bundle.label, accept_definition_change
    )
    if refused:
        return False, refused
    fitted = bundle.data_window["trained_on"]
    what = (
        f"label-free {bundle.kind} ({bundle.data_window[TAG]['model']}) fitted on "
        f"{counted(fitted['rows'])} at {fitted['cutoffs'][0]}"
    )
    champion = registry.alias_version(mlflow_client, name, registry.CHAMPION)
    ours = mlflow_client.get_model_version(name, version).tags or {}
    if champion is not None and registry.is_label_free(champion) and same_data(champion, ours):
        # a refit of the same data ties itself, as a rule does (training.promotion): moving
        # the champion would only make the batch scores stale
        return False, (
            f"{what}: learned from the same data as label-free champion v{champion.version} "
            f"(dataset version {ours.get(DATASET_VERSION)}, the same settings), which stays; "
            "a refit on fresher data replaces it"
        )
    if champion is None or registry.is_label_free(champion):
        before = "first model" if champion is None else f"replaces label-free v{champion.version}"
        reason = f"{before}: {what}, judged on no outcome"
        registry.set_champion(mlflow_client, name, version, reason)
        return True, reason
    return False, (
        f"{what}: no outcome to weigh it against champion v{champion.version}, which was "
        "judged on outcomes"
    )


DATASET_VERSION = f"{lineage.TAG_PREFIX}dataset_version"
# What a label-free fit learned from, in its version's tags (``_log``): its process, the
# latest cutoff, the dataset version and the settings (windows, horizon).
SAME_DATA_TAGS = ("kind", "trained_through", DATASET_VERSION, f"{lineage.TAG_PREFIX}settings_hash")


def same_data(champion: Any, ours: dict[str, str]) -> bool:
    """Whether a label-free fit (its version's tags ``ours``) learned from what the
    label-free ``champion`` did: the same process, cutoff, dataset version and settings."""
    theirs = champion.tags or {}
    return all(theirs.get(tag) and theirs.get(tag) == ours.get(tag) for tag in SAME_DATA_TAGS)


def _log(
    settings: Settings,
    mlflow_client: Any,
    name: str,
    bundle: ModelBundle,
    rows: pd.DataFrame,
    report: dict[str, Any],
) -> tuple[str, str]:
    """One MLflow run: why, what it was fitted on and the fitted parameters; no metrics; the
    training set's ``report`` as a learned model's run keeps it (``evaluation/training_set.json``:
    a closure's ``shop_shut`` too)."""
    import mlflow

    task = bundle.task
    window = bundle.data_window
    dataset = window["dataset"]
    experiment_id = experiment_for(settings, mlflow_client, name)
    fitted = bundle.booster.params
    process = fitted.get("process") or fitted.get("bgnbd") or {}
    with (
        start_training_run(experiment_id, task, dataset, kind=f"label_free_{bundle.kind}") as run,
        tempfile.TemporaryDirectory() as tmp,
    ):
        mlflow.log_params(
            {
                "task": task,
                "dataset": dataset,
                "kind": bundle.kind,
                "label_free": window[TAG]["why"][:PARAM_CHARS],
                "feature_service": bundle.service,
                "rows_trained_on": window["trained_on"]["rows"],
                "fitted_at": window["trained_on"]["cutoffs"][0],
                **{f"process.{k}": v for k, v in process.items()},
                **{f"gamma_gamma.{k}": v for k, v in fitted.get("gamma_gamma", {}).items()},
                **({ORDER_VALUE: fitted[ORDER_VALUE]} if ORDER_VALUE in fitted else {}),
                **settings_params(settings, task),
            }
        )
        mlflow.log_dict(report, "evaluation/training_set.json")
        version = log_bundle(
            mlflow_client,
            name,
            bundle,
            rows,
            Path(tmp),
            tags={
                "kind": bundle.kind,
                TAG: "true",
                "trained_through": window["trained_on"]["cutoffs"][0],
                **lineage.model_tags(settings, dataset, bundle.service, bundle.label),
            },
            metrics={},
        )
    return run.info.run_id, version
