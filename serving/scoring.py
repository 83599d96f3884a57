"""Scoring: champion models + features -> per-user scores, reasons, bands and stages.

One code path for the HTTP service and for batch scoring, over every declared task. Models come from the MLflow
registry (the ``champion`` alias of each task); serving never imports ``training``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features import contract as c
from features.asof import new_user_value
from features.labels import LabelSpec
from lifecycle import registry, tasks
from lifecycle.btyd_features import outlook_of_columns
from lifecycle.bundle import ModelBundle
from lifecycle.tasks import CHURN, LTV
from serving.feature_matrix import FeatureMatrix, layout_of
from serving.segments import HIGH_RISK, MEDIUM_RISK, risk_band_rules, stage_of_columns

if TYPE_CHECKING:
    import threading

    from lifecycle.settings import Settings

TOP_REASONS = 3

# Words an operator understands for the features that push churn up. ``{s}`` is the
# plural ending, empty when the value rounds to 1 ("1 session", "2 sessions").
REASON_TEXT = {
    "recency_days": "no activity for {value:.0f} day{s}",
    "purchase_recency_days": "no purchase for {value:.0f} day{s}",
    "overdue_ratio": "next purchase overdue ({value:.1f}x their usual gap)",
    "sessions_30d": "only {value:.0f} session{s} in the last 30 days",
    "sessions_90d": "only {value:.0f} session{s} in the last 90 days",
    "active_days_30d": "active on only {value:.0f} day{s} in the last 30",
    "active_days_90d": "active on only {value:.0f} day{s} in the last 90",
    "trend_active_days_30_90": "activity falling (last 30 days at {value:.1f}x the 90-day pace)",
    "trend_orders_90_365": "orders falling (last 90 days at {value:.1f}x the yearly pace)",
    "orders_total": "{value:.0f} order{s} so far",
    "orders_90d": "{value:.0f} order{s} in the last 90 days",
    "revenue_90d": "spent {value:.0f} in the last 90 days",
    "refund_rate": "{value:.0%} of spend refunded",
    "refunds_90d": "{value:.0f} refund{s} in the last 90 days",
    "tenure_days": "customer for {value:.0f} day{s}",
    "channel": "acquired through {value}",
}
# What a count of none reads as ("only 0 sessions" is not English).
NONE_TEXT = {
    "sessions_30d": "no sessions in the last 30 days",
    "sessions_90d": "no sessions in the last 90 days",
    "active_days_30d": "not active in the last 30 days",
    "active_days_90d": "not active in the last 90 days",
    "orders_total": "no orders so far",
    "orders_90d": "no orders in the last 90 days",
    "refunds_90d": "no refunds in the last 90 days",
}


# Window counts without a template: plural noun -> singular noun.
WINDOW_NOUNS = {
    "sessions": ("sessions", "session"),
    "orders": ("orders", "order"),
    "active_days": ("active days", "active day"),
    "refunds": ("refunds", "refund"),
    "revenue": ("spend", "spend"),
    "refund_amount": ("refunded", "refunded"),
}
TOTAL_PHRASES = {
    "revenue_total": "spent {value:,.0f} in all",
    "refund_amount_total": "refunded {value:,.0f} in all",
    "avg_order_value": "average order {value:,.0f}",
    "max_order_value": "largest order {value:,.0f}",
    "first_purchase_age_days": "first purchase {value:.0f} day{s} ago",
    "ipt_mean_days": "buys every {value:.0f} day{s} on average",
    "ipt_std_days": "irregular buyer (gaps vary by {value:.0f} day{s})",
    "days_to_activation": "took {value:.0f} day{s} to activate",
    "sessions_total": "{value:.0f} session{s} in all",
}


# The money features' words for a log without amounts (``serving.units.Units.purchase_counts``
# set): the value, divided by what each purchase counts, is a number of purchases.
COUNTED_TEXT = {
    "revenue_90d": "{value:.0f} purchase{s} in the last 90 days",
    "revenue_total": "{value:,.0f} purchase{s} in all",
    "refund_amount_total": "{value:,.0f} purchase{s} refunded in all",
    "avg_order_value": "{value:,.0f} purchase{s} per order on average",
    "max_order_value": "largest order {value:,.0f} purchase{s}",
}
COUNTED_WINDOWS = {
    "revenue": "{value:,.0f} purchase{s} in the last {window} days",
    "refund_amount": "{value:,.0f} purchase{s} refunded in the last {window} days",
}
COUNTED_RATIOS = {"refund_rate": "{value:.0%} of purchases refunded"}


def _plural(value: Any) -> str:
    """The plural ending for a count as printed with no decimals."""
    return "" if isinstance(value, int | float) and f"{value:.0f}" == "1" else "s"


def _is_none(value: Any) -> bool:
    return isinstance(value, int | float) and f"{value:.0f}" in ("0", "-0")


def _generic_reason(feature: str, value: Any) -> str:
    """Readable text for window counts (``sessions_7d``) and totals without a template."""
    if feature in TOTAL_PHRASES and isinstance(value, int | float):
        return TOTAL_PHRASES[feature].format(value=value, s=_plural(value))
    name, _, days = feature.rpartition("_")
    if (
        days.endswith("d")
        and days[:-1].isdigit()
        and name in WINDOW_NOUNS
        and isinstance(value, int | float)
    ):
        (nouns, noun), window = WINDOW_NOUNS[name], days[:-1]
        if value == 0:
            return f"no {nouns} in the last {window} days"
        amount = f"{value:,.0f}"
        return (
            f"{amount} {noun if amount == '1' else nouns} in the last {window} days"
            if name not in ("revenue", "refund_amount")
            else f"{noun} {amount} in the last {window} days"
        )
    if isinstance(value, int | float):
        return f"{feature.replace('_', ' ')}: {value:.3g}"
    return f"{feature.replace('_', ' ')}: {value}"


def _counted_reason(feature: str, value: float, purchase_counts: float) -> str | None:
    """A money feature's words as purchases; None for a feature that is no amount."""
    if feature in COUNTED_RATIOS:
        return COUNTED_RATIOS[feature].format(value=value)
    purchases = value / purchase_counts
    name, _, days = feature.rpartition("_")
    if feature in COUNTED_TEXT:
        template = COUNTED_TEXT[feature]
    elif name in COUNTED_WINDOWS and days.endswith("d") and days[:-1].isdigit():
        template = COUNTED_WINDOWS[name].replace("{window}", days[:-1])
    else:
        return None
    text = template.format(value=purchases, s=_plural(purchases))
    return "no" + text.removeprefix("0") if text.startswith("0 purchases") else text


def reason_text(feature: str, value: Any, purchase_counts: float | None = None) -> str:
    """An operator's words for a feature's value; ``purchase_counts`` (what each purchase
    counts in a log without amounts, ``serving.units``) words amounts as purchases."""
    if feature == "activated":
        return "never activated" if not value else "activated"
    template = REASON_TEXT.get(feature)
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return f"{feature.replace('_', ' ')} unknown"
    if purchase_counts and isinstance(value, int | float):
        counted = _counted_reason(feature, float(value), purchase_counts)
        if counted is not None:
            return counted
    if template is None:
        return _generic_reason(feature, value)
    if feature in NONE_TEXT and _is_none(value):
        return NONE_TEXT[feature]
    try:
        return template.format(value=value, s=_plural(value))
    except (ValueError, TypeError):
        return f"{feature} = {value}"


@dataclass
class Champions:
    """The champion bundle of each task, or why a task is unavailable."""

    bundles: dict[str, ModelBundle] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    bands: tuple[float, float] = (HIGH_RISK, MEDIUM_RISK)  # risk bands: high from, medium from
    purchase_counts: float | None = None  # a log without amounts: serving.units.purchase_counts
    # The bundle whose purchase process gives p_alive and expected_purchases, kept when a
    # request asks for some tasks only: the same horizon (the LTV's) whatever is asked.
    outlook: ModelBundle | None = None

    def outlook_bundle(self) -> ModelBundle | None:
        """The LTV champion's purchase process, else the churn champion's (one without LTV)."""
        if self.outlook is not None:
            return self.outlook
        return next(
            (
                b
                for b in (self.bundles.get(LTV.name), self.bundles.get(CHURN.name))
                if b is not None and b.purchase_process is not None
            ),
            None,
        )

    @property
    def kinds(self) -> dict[str, str]:
        """Task -> what serves it: ``lightgbm`` or the baseline rule that beat it."""
        return {task: bundle.kind for task, bundle in self.bundles.items()}

    @property
    def services(self) -> set[str]:
        outlook = self.outlook_bundle()
        return {b.service for b in self.bundles.values()} | (
            {outlook.service} if outlook else set()
        )


def load_champions(
    settings: Settings,
    dataset: str | None = None,
    cache: Path | None = None,
    *,
    mirrored: bool = False,
) -> Champions:
    """Download each task's champion from the registry (``mirrored``: its aliases mirror, see
    ``lifecycle.registry``); a task without one is reported, not fatal."""
    from serving.units import purchase_counts

    dataset = dataset or settings.dataset
    client = registry.reader(settings, mirrored=mirrored)
    champions = Champions(
        bands=(settings.serving.high_risk, settings.serving.medium_risk),
        purchase_counts=purchase_counts(settings.workspace.dataset_dir(dataset)),
    )
    cache = cache or Path(tempfile.mkdtemp(prefix="lifecycle-models-"))
    for task in tasks.names():
        name = registry.model_name(dataset, task)
        version = registry.alias_version(client, name, registry.CHAMPION)
        if version is None:
            champions.unavailable[task] = (
                f"no champion for model {name}: run `lifecycle train {task}`"
            )
            continue
        try:
            bundle_dir = registry.bundle_path(
                client, name, version.version, cache / f"{name}-v{version.version}"
            )
            champions.bundles[task] = ModelBundle.load(bundle_dir)
            champions.versions[task] = str(version.version)
        except Exception as error:  # a corrupt or missing artifact: this task cannot serve
            champions.unavailable[task] = (
                f"champion {name} v{version.version} could not be loaded: {error}"
            )
    refuse_unserviced(settings, dataset, champions)
    return champions


def compile_champions(
    settings: Settings,
    champions: Champions,
    dataset: str | None = None,
    *,
    background: bool = False,
    cached_only: bool = False,
) -> threading.Thread | None:
    """Compiled trees for the champions (``lifecycle.compiled``) when ``serving.compile_trees``
    is on: before returning, or ``background`` while they predict through LightGBM (the
    compiling thread is returned); ``cached_only``: only versions already compiled (when
    compiling would cost more than it saves)."""
    if not settings.serving.compile_trees:
        return None
    from lifecycle.compiled import compile_bundles

    dataset = dataset or settings.dataset
    named = {
        f"{registry.model_name(dataset, task)}-v{champions.versions[task]}": bundle
        for task, bundle in champions.bundles.items()
    }
    return compile_bundles(
        named, settings.workspace.compiled_dir, background=background, cached_only=cached_only
    )


def refuse_unserviced(settings: Settings, dataset: str, champions: Champions) -> None:
    """Make unavailable each champion whose feature service is gone from the dataset's Feast
    registry or holds other features than it was trained on: it would score on features it
    never saw. Without an applied store nothing can be checked (nor served) and all stay."""
    from features.served_store import served_registry
    from features.store import FeatureStoreError

    if not champions.bundles:
        return
    try:
        feature_registry, registry_file = served_registry(settings, dataset)
    except FeatureStoreError:
        return
    for task, bundle in list(champions.bundles.items()):
        problem = feature_registry.service_problem(
            bundle.service, bundle.feature_names, registry_file
        )
        if problem is None:
            continue
        version = champions.versions.pop(task)
        del champions.bundles[task]
        champions.unavailable[task] = (
            f"champion {registry.model_name(dataset, task)} v{version} reads feature service "
            f"'{bundle.service}', which {problem}: train a model on the current service with "
            f"`lifecycle train {task}`, and if the gate keeps v{version}, serve the new one with "
            f'`lifecycle promote {task} challenger --reason "{bundle.service} unavailable"`'
        )


def cold_start_features(feature_names: list[str]) -> pd.DataFrame:
    """A brand-new user's feature row (``features.asof.new_user_value``)."""
    return pd.DataFrame([{name: new_user_value(name) for name in feature_names}])


def score_frame(
    champions: Champions, features: pd.DataFrame, *, reasons: bool = True
) -> pd.DataFrame:
    """Score users whose features are rows of ``features`` (user_id + every model's features):
    each task's outputs (``lifecycle.tasks``) where its champion can score, blank for users
    outside the task's population. The frame shape of :func:`score_matrix`."""
    matrix = FeatureMatrix.from_frame(layout_of(champions.bundles), features)
    return pd.DataFrame(score_matrix(champions, matrix, reasons=reasons), index=features.index)


# Reasons a caller already has for some rows: row positions -> reasons (serving.known_reasons).
KnownReasons = Callable[[FeatureMatrix, np.ndarray], dict[int, list[dict[str, Any]]]]


def score_matrix(
    champions: Champions,
    features: FeatureMatrix,
    *,
    reasons: bool = True,
    known_reasons: KnownReasons | None = None,
) -> dict[str, Any]:
    """The one scoring definition: column name -> one value per row of ``features``, in the
    order of the scores table (user_id, each task's outputs, reasons, risk band, value at
    risk, purchase outlook, stage). Every model reads its columns of the one matrix.

    ``known_reasons`` gives the reasons of rows it has (precomputed and still fresh); the
    other eligible rows get theirs computed."""
    rows = len(features)
    out: dict[str, Any] = {c.USER_ID: features.user_ids}
    for task in tasks.all_tasks():
        bundle = champions.bundles.get(task.name)
        if bundle is None:
            continue
        eligible = LabelSpec.from_dict(bundle.label).eligible_columns(features.column, rows)
        inputs = features.model(task.name)
        if bundle.is_probability:
            out[task.score] = np.where(eligible, bundle.predict_matrix(inputs), np.nan)
        else:
            outlook = bundle.value_outlook_matrix(inputs)
            if not bundle.gives_purchase_probability:  # a one-part value, most rules
                outlook = outlook[:, :-1]
            outlook[~eligible, :] = np.nan
            out.update(zip(task.outputs, outlook.T, strict=False))  # VALUE_OUTLOOK order
        if task.reasons and reasons:
            known = {} if known_reasons is None else known_reasons(features, eligible)
            out["reasons"] = top_reasons_matrix(
                bundle, features, eligible, known, purchase_counts=champions.purchase_counts
            )
    if CHURN.score in out:
        p = out[CHURN.score]
        high, medium = champions.bands
        # as np.select over the rules, NaN first, 5x cheaper: the first matching rule last
        bands = np.full(len(p), "low", dtype=object)
        for matched, band in reversed(risk_band_rules(p, high, medium)):
            bands[matched] = band
        bands[np.isnan(p)] = None
        names = list(out)
        at = names.index(CHURN.score) + 1
        out = {
            **{name: out[name] for name in names[:at]},
            "risk_band": bands,
            **{name: out[name] for name in names[at:]},
        }
        if LTV.score in out:
            out["value_at_risk"] = value_at_risk(out[CHURN.score], out[LTV.score])
    process = champions.outlook_bundle()
    if process is not None and process.purchase_process is not None:
        out["p_alive"], out["expected_purchases"] = outlook_of_columns(
            process.purchase_process, features.column, float(process.label["horizon_days"])
        )
    out["lifecycle_stage"] = stage_of_columns(
        features.column, out.get(CHURN.score), champions.bands[0]
    )
    return out


def value_at_risk(churn_probability: Any, ltv: Any) -> Any:
    """What a user's churn would cost: arrays, or one user's floats (``serving.rowpath``)."""
    return churn_probability * ltv


def top_reasons(
    bundle: ModelBundle,
    features: pd.DataFrame,
    eligible: np.ndarray,
    purchase_counts: float | None = None,
) -> list[list[dict[str, Any]]]:
    """The features that pushed each user's churn score up most, in words (a frame's rows)."""
    matrix = FeatureMatrix.from_frame(layout_of({bundle.task: bundle}), features)
    return top_reasons_matrix(bundle, matrix, eligible, purchase_counts=purchase_counts)


def top_reasons_matrix(
    bundle: ModelBundle,
    features: FeatureMatrix,
    eligible: np.ndarray,
    known: dict[int, list[dict[str, Any]]] | None = None,
    *,
    purchase_counts: float | None = None,
) -> list[list[dict[str, Any]]]:
    """The features that pushed each user's churn score up most, in words (amounts as
    purchases when ``purchase_counts``, see :func:`reason_text`); ``known`` rows keep the
    reasons given.

    Contributions (TreeSHAP, ~200x the cost of a prediction) are computed for eligible rows only.
    """
    known = known or {}
    result: list[list[dict[str, Any]]] = [[] for _ in range(len(features))]
    for row, reasons in known.items():
        result[row] = reasons
    wanted = np.asarray(eligible, dtype=bool)
    if known:
        wanted = wanted.copy()
        wanted[list(known)] = False
    rows = np.flatnonzero(wanted)
    if len(rows) == 0:
        return result
    values = bundle.contributions_matrix(features.model(bundle.task, rows))
    names = bundle.feature_names
    order = np.argsort(-values, axis=1)[:, :TOP_REASONS]
    for position, (row, top) in enumerate(zip(rows, order, strict=True)):
        picked = []
        for j in top:
            if values[position, j] <= 0:
                break
            name = names[j]
            value = features.raw_value(name, row)
            picked.append(
                {
                    "feature": name,
                    "value": value,
                    "contribution": float(values[position, j]),
                    "text": reason_text(name, value, purchase_counts),
                }
            )
        result[row] = picked
    return result
