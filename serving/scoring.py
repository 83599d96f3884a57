"""Scoring: champion models + features -> per-user scores, reasons, bands and stages.

One code path for the HTTP service and for batch scoring, over every declared task. Models come from the MLflow
registry (the ``champion`` alias of each task); serving never imports ``training``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features import contract as c
from features.asof import new_user_value, trend_windows
from features.labels import ACTIVITY, PURCHASES, LabelSpec
from lifecycle import registry, tasks, train_refusals
from lifecycle.btyd_features import outlook_of_columns
from lifecycle.bundle import ModelBundle
from lifecycle.tasks import CHURN, CONVERSION, LTV
from serving.churn_reasons import champion_reasons
from serving.feature_matrix import FeatureMatrix, layout_of
from serving.reason_words import Trends
from serving.segments import (
    HIGH_RISK,
    MEDIUM_RISK,
    risk_band_rules,
    stage_of_columns,
)

if TYPE_CHECKING:
    import threading

    from lifecycle.settings import Settings
    from serving.units import Counted

CHURN_COMPLEMENT = "churn_complement"  # a one-time buyer's conversion: 1 - their churn
# ... where churn scores them; its own model's elsewhere (a churn lookback): + its own kind
CHURN_COMPLEMENT_ELSE = f"{CHURN_COMPLEMENT}_else_"


@dataclass
class Champions:
    """The champion bundle of each task, or why a task is unavailable."""

    bundles: dict[str, ModelBundle] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    # Task -> what is wrong with the feature service its champion reads (it lost a feature,
    # changed or is gone: "feature service 'churn_v1', which is gone ..."); of unavailable
    unserviced: dict[str, str] = field(default_factory=dict)
    bands: tuple[float, float] = (HIGH_RISK, MEDIUM_RISK)  # risk bands: high from, medium from
    purchase_counts: Counted | None = None  # a log without amounts: serving.units.purchase_counts
    trends: Trends | None = None  # the windows each trend compares, as the reasons say them
    # The bundle whose purchase process gives p_alive and expected_purchases, kept when a
    # request asks for some tasks only: the same horizon (the LTV's) whatever is asked.
    outlook: ModelBundle | None = None
    # Tasks scored only because an asked task's answer comes from theirs (one_event): their
    # outputs and reasons are not answered; their versions are, as they made it.
    partners: frozenset[str] = frozenset()

    @property
    def labels(self) -> dict[str, Any]:
        """Task -> its champion's label definition (what a scores table records)."""
        return {task: bundle.label for task, bundle in self.bundles.items()}

    def withdraw(self, task: str, service: str, why: Callable[[str], str]) -> None:
        """Take ``task``'s champion out of scoring as unable to read its features: ``service``
        says what is wrong with its feature service, ``why(version)`` is the reason its task
        is unavailable."""
        version = self.versions.pop(task)
        del self.bundles[task]
        self.unserviced[task] = service
        self.unavailable[task] = why(version)

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

    def outlook_days(self) -> float | None:
        """The days the served ``expected_purchases`` are for: the outlook process's horizon."""
        process = self.outlook_bundle()
        return None if process is None else float(process.label["horizon_days"])

    @property
    def one_event(self) -> bool:
        """Whether churn and conversion forecast one event for their common users: on a log
        of purchases only (the churn champion's data window), a one-time buyer's churn is no
        purchase in the horizon and conversion to a repeat buyer a purchase in the same one.
        Then their conversion is served as 1 - their churn probability: the churn model,
        which learns from every customer, forecast that event better in the backtests
        (docs/decisions.md), and the two answers agree."""
        churn, conversion = self.bundles.get(CHURN.name), self.bundles.get(CONVERSION.name)
        return (
            churn is not None
            and conversion is not None
            and churn.data_window.get(ACTIVITY) == PURCHASES
            and conversion.label.get("target") == "repeat_purchase"
            and churn.label.get("horizon_days") == conversion.label.get("horizon_days")
        )

    @property
    def churn_answers_all(self) -> bool:
        """Whether 1 - churn answers every conversion user (``one_event``, churn scoring every
        known user): with ``labels.churn_lookback_days`` churn leaves the lapsed one-time
        buyers out and conversion's own champion answers them (``kinds``)."""
        churn = self.bundles.get(CHURN.name)
        return self.one_event and churn is not None and LabelSpec.from_dict(churn.label).everyone

    def subset(self, asked: list[str], *, staged: bool = False) -> Champions:
        """The champions of the asked tasks, with their partners: where churn and conversion
        forecast one event (``one_event``), asking for conversion scores churn too; so does
        any answer with a lifecycle stage (``staged``), which is of the user's churn risk:
        without it a request for LTV alone called users "active" whom one with churn called
        "at_risk"."""
        needs_churn = self.one_event and CONVERSION.name in asked
        needs_churn = (needs_churn or staged) and CHURN.name in self.bundles
        partners = {CHURN.name} if needs_churn and CHURN.name not in asked else set()
        scored = set(asked) | partners
        return Champions(
            bundles={t: b for t, b in self.bundles.items() if t in scored},
            versions={t: v for t, v in self.versions.items() if t in scored},
            unavailable={t: r for t, r in self.unavailable.items() if t in asked},
            bands=self.bands,
            purchase_counts=self.purchase_counts,
            trends=self.trends,
            outlook=self.outlook_bundle(),  # expected_purchases: one horizon for any tasks
            partners=frozenset(partners),
        )

    @property
    def answered(self) -> list[str]:
        """The tasks whose outputs are answered: every one scored but the partners."""
        return [t for t in self.bundles if t not in self.partners]

    @property
    def kinds(self) -> dict[str, str]:
        """Task -> what serves it: ``lightgbm`` or the baseline rule that beat it; conversion
        of one event with churn (``one_event``): ``CHURN_COMPLEMENT``, or where churn leaves
        users out (``churn_answers_all``) ``churn_complement_else_<its own kind>``."""
        kinds = {t: self.bundles[t].kind for t in self.answered}
        if self.one_event and CONVERSION.name in kinds:
            own = kinds[CONVERSION.name]
            kinds[CONVERSION.name] = (
                CHURN_COMPLEMENT if self.churn_answers_all else CHURN_COMPLEMENT_ELSE + own
            )
        return kinds

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
    only: Collection[str] | None = None,
    pinned: Mapping[str, str] | None = None,
    boosters: bool = True,
) -> Champions:
    """Download each task's champion from the registry (``mirrored``: its aliases mirror, see
    ``lifecycle.registry``); a task without one is reported, not fatal. The downloads stay in
    ``cache`` (a bundle's ``source``); without one they go to a temporary folder that is
    removed once loaded, as the bundles hold all they serve. ``only``: those tasks' alone;
    ``pinned``: task -> the version loaded instead of its champion (one that made a table);
    ``boosters`` False: bundles of their metadata alone, which score nothing (what serves
    each task, and its label: `lifecycle models`)."""
    from serving.units import purchase_counts

    if cache is None:
        with tempfile.TemporaryDirectory(prefix="lifecycle-models-") as scratch:
            champions = load_champions(
                settings,
                dataset,
                Path(scratch),
                mirrored=mirrored,
                only=only,
                pinned=pinned,
                boosters=boosters,
            )
        for bundle in champions.bundles.values():
            bundle.source = None  # its files are gone: compiling writes out the model text
        return champions

    dataset = dataset or settings.dataset
    client = registry.reader(settings, mirrored=mirrored)
    champions = Champions(
        bands=(settings.serving.high_risk, settings.serving.medium_risk),
        purchase_counts=purchase_counts(settings.workspace.dataset_dir(dataset)),
        trends=trend_windows(settings.features.windows_days),
    )
    for task in tasks.names():
        if only is not None and task not in only:
            continue
        name = registry.model_name(dataset, task)
        number = (pinned or {}).get(task)
        version = None if number else registry.alias_version(client, name, registry.CHAMPION)
        if version is None and number is None:
            why = train_refusals.refused(settings, dataset, task)
            champions.unavailable[task] = f"no champion for model {name}: " + (
                f"not trained, {why}"
                if why == train_refusals.LEFT_OUT
                else f"`lifecycle train {task}` cannot train one on this data yet ({why})"
                if why
                else f"run `lifecycle train {task}`"
            )
            continue
        number = number or str(version.version)
        copy = cache / f"{name}-v{number}"
        try:
            bundle_dir = registry.bundle_path(client, name, number, copy)
            champions.bundles[task] = ModelBundle.load(bundle_dir, boosters)
            champions.versions[task] = number
        except Exception as error:  # a corrupt or missing artifact: this task cannot serve
            why = registry.unloadable(client, name, number, error, copy)
            champions.unavailable[task] = f"{'' if pinned else 'champion '}{why}"
    refuse_unserviced(settings, dataset, champions)
    return champions


def compile_champions(
    settings: Settings,
    champions: Champions,
    dataset: str | None = None,
    *,
    background: bool = False,
    cached_only: bool = False,
    trees: bool = True,
) -> threading.Thread | None:
    """Compiled trees for the champions (``lifecycle.compiled``) and their reasons' TreeSHAP
    precomputed (``lifecycle.treeshap``) when ``serving.compile_trees`` is on: before
    returning, or ``background`` while they predict through LightGBM (the compiling thread
    is returned); ``cached_only``: only versions already compiled (when compiling would cost
    more than it saves); ``trees`` False: the TreeSHAP alone (a list explains, predicts
    nothing), so that every path explains a user alike."""
    if not settings.serving.compile_trees:
        return None
    from lifecycle.compiled import champion_names, compile_bundles

    names = champion_names(dataset or settings.dataset, champions.versions)
    named = {names[task]: bundle for task, bundle in champions.bundles.items()}
    return compile_bundles(
        named,
        settings.workspace.compiled_dir,
        background=background,
        cached_only=cached_only,
        trees=trees,
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
        service = f"feature service '{bundle.service}', which {problem}"
        champions.withdraw(
            task,
            service,
            lambda version, task=task, name=bundle.service, service=service: (
                f"champion {registry.model_name(dataset, task)} v{version} reads {service}: "
                f"train a model on the current service with `lifecycle train {task}`, and if the "
                f"gate keeps v{version}, serve the new one with `lifecycle promote {task} "
                f'challenger --reason "{name} unavailable" --force`'
            ),
        )


def answered_by(versions: dict[str, str], kinds: dict[str, str]) -> dict[str, str]:
    """Task -> ``1 - churn vN`` for each task the churn champion answers for every user
    (``CHURN_COMPLEMENT``: conversion on a log of purchases), whatever the task's own
    champion, which answers nothing. Not where churn leaves users to it (``in_part``)."""
    churn = versions.get(CHURN.name)
    return {t: f"1 - churn v{churn}" for t, k in kinds.items() if k == CHURN_COMPLEMENT and churn}


def in_part(kind: str | None) -> bool:
    """Whether a kind is 1 - churn where churn scores, the task's own champion elsewhere."""
    return bool(kind) and str(kind).startswith(CHURN_COMPLEMENT_ELSE)


def answered_in_part(
    versions: dict[str, str], kinds: dict[str, str], own: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Task -> ``1 - churn vN where churn scores, else vM`` for each task 1 - churn answers
    where churn scores and its own champion (vM, or as ``own`` names it) elsewhere."""
    churn = versions.get(CHURN.name)
    return {
        t: f"1 - churn v{churn} where churn scores, else {(own or {}).get(t, f'v{versions[t]}')}"
        for t, k in kinds.items()
        if in_part(k) and churn and t in versions
    }


def answering_texts(
    versions: dict[str, str], kinds: dict[str, str], own: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Task -> what answers it where that is not its champion alone: :func:`answered_by` and
    :func:`answered_in_part` (``own``: as that function names the task's own champion)."""
    return answered_by(versions, kinds) | answered_in_part(versions, kinds, own)


def churn_answers(
    settings: Settings, dataset: str | None, asked: Collection[str]
) -> dict[str, str]:
    """:func:`answered_by` of the registry's champions, for the ``asked`` tasks: only
    conversion can be answered by churn (``Champions.one_event``), so nothing is loaded
    unless it is asked, and then only the churn and conversion champions."""
    champions = conversion_champions(settings, dataset, asked)
    return {} if champions is None else answered_by(champions.versions, champions.kinds)


def conversion_champions(
    settings: Settings, dataset: str | None, asked: Collection[str], boosters: bool = True
) -> Champions | None:
    """The churn and conversion champions, what :func:`churn_answers` reads; None, with
    nothing loaded, unless conversion is ``asked``. ``boosters``: :func:`load_champions`'."""
    if CONVERSION.name not in asked:
        return None
    only = (CHURN.name, CONVERSION.name)
    return load_champions(settings, dataset, only=only, boosters=boosters)


def answering_versions(versions: dict[str, str], kinds: dict[str, str]) -> dict[str, str]:
    """Task -> what made its numbers: its champion's version, or ``1 - churn vN`` where the
    churn champion answers it (``answered_by``): what ``model_versions`` of an answer says,
    and what staleness compares (promoting such a task's model changes no number); both
    where each answers some users (``answered_in_part``)."""
    answered = answering_texts(versions, kinds)
    return {t: answered.get(t, v) for t, v in versions.items()}


def served_versions(champions: Champions) -> dict[str, str]:
    """The champions' :func:`answering_versions`: what /score, /promote's reload and
    /monitor say made each task's numbers."""
    return answering_versions(champions.versions, champions.kinds)


def versions_text(versions: dict[str, str], kinds: dict[str, str]) -> str:
    """``churn v1, conversion 1 - churn v1, ltv v1``: what scored each task, conversion
    where the churn champion answers it (a log of one event)."""
    answered = answering_texts(versions, kinds)
    return ", ".join(f"{t} {answered.get(t, f'v{v}')}" for t, v in versions.items())


def refuse_unread(champions: Champions, dataset: str, feature_table: Path) -> None:
    """Make unavailable each champion reading a feature the feature table does not have
    (built with `--drop-champion-inputs`): score-all failed in DuckDB's traceback."""
    import pyarrow.parquet as pq

    from lifecycle.champion_inputs import few

    columns = set(pq.read_schema(feature_table).names)
    for task, bundle in list(champions.bundles.items()):
        missing = [name for name in bundle.feature_names if name not in columns]
        if not missing:
            continue
        champions.withdraw(
            task,
            f"{few(missing)}, which the feature table no longer has",
            lambda version, task=task, missing=missing: (
                f"champion {registry.model_name(dataset, task)} v{version} reads "
                f"{few(missing)}, which the feature table no longer has (built with "
                "--drop-champion-inputs): train one on it (`lifecycle features apply "
                f"--drop-champion-inputs`, `lifecycle train {task}`) and, if the gate keeps "
                f"v{version}, serve it with `lifecycle promote {task} challenger --reason "
                '"inputs dropped" --force`'
            ),
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


def _probabilities(
    champions: Champions,
    task: str,
    bundle: ModelBundle,
    features: FeatureMatrix,
    eligible: np.ndarray,
    scored: dict[str, Any],
) -> np.ndarray:
    """A probability task's column: NaN where the user is not eligible. Where churn and
    conversion forecast one event (``Champions.one_event``), a one-time buyer's conversion
    is 1 - their churn, so the conversion model runs only on users without a churn score
    (those a churn lookback leaves out: ``Champions.churn_answers_all``)."""
    churn = scored.get(CHURN.score) if task == CONVERSION.name and champions.one_event else None
    if churn is None:
        return np.where(eligible, bundle.predict_matrix(features.model(task)), np.nan)
    column = np.where(eligible, 1.0 - churn, np.nan)
    rows = np.flatnonzero(eligible & np.isnan(churn))
    if rows.size:
        column[rows] = bundle.predict_matrix(features.model(task, rows))
    return column


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
        if bundle.is_probability:
            out[task.score] = _probabilities(champions, task.name, bundle, features, eligible, out)
        else:
            outlook = bundle.value_outlook_matrix(features.model(task.name))
            if not bundle.gives_purchase_probability:  # a one-part value, most rules
                outlook = outlook[:, :-1]
            outlook[~eligible, :] = np.nan
            out.update(zip(task.outputs, outlook.T, strict=False))  # VALUE_OUTLOOK order
        if task.reasons and reasons and task.name not in champions.partners:
            out["reasons"] = champion_reasons(champions, bundle, features, eligible, known_reasons)
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
    process, days = champions.outlook_bundle(), champions.outlook_days()
    if process is not None and process.purchase_process is not None and days is not None:
        out["p_alive"], out["expected_purchases"] = outlook_of_columns(
            process.purchase_process, features.column, days
        )
    out["lifecycle_stage"] = stage_of_columns(
        features.column, out.get(CHURN.score), champions.bands[0]
    )
    return out


def value_at_risk(churn_probability: Any, ltv: Any) -> Any:
    """What a user's churn would cost: arrays, or one user's floats (``serving.rowpath``)."""
    return churn_probability * ltv
