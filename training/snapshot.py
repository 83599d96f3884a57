"""Churn (any binary label) from a snapshot table: one row per user, its own label, no events.

Such tables (e.g. ``telco_churn``) have no cutoffs to split on, so quality is measured by
stratified k-fold cross-validation: in every fold LightGBM is fitted with early stopping
and calibrated (``training.models.fit_calibrator``) on an inner validation split of the
fold's training rows, and scored on the held-out fold, next to baselines fitted on the
same rows: a logistic regression (one-hot + scaled numeric) and simple rules. The served
model is then fitted on all rows (the folds' median number of trees), calibrated on the
out-of-fold scores, logged in MLflow and registered as ``<dataset>-churn`` like the event
pipeline's models (another label column: ``<dataset>-<label>``). Its gate asks it to beat
the best baseline on the same folds, the first model too, and compares CV metrics only with
a champion cross-validated on the same rows, label, folds and seed (the same held-out rows).
A column that alone ranks the label almost perfectly (``LEAK_AUC``) is named and the model
is not promoted: such a column is written after the outcome.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features import contract as c
from features.identifiers import left_out_line, not_features
from features.labels import LABEL
from lifecycle import registry
from lifecycle.blas import one_blas_thread
from lifecycle.bundle import ModelBundle
from lifecycle.settings import Settings
from lifecycle.tracking_http import training_writes
from lifecycle.words import ROWS, counted
from lifecycle.workspace import EVENTS_FILE
from training import evaluation
from training.errors import TrainingError
from training.evaluation import metrics_of
from training.models import ModelSpec, categories_of, fit_bundle, fit_calibrator
from training.promotion import Unscored, gate
from training.snapshot_baselines import (
    BEST_SINGLE,
    logistic_regression,
    missing_rules,
    rule_scores,
)
from training.snapshot_outputs import log_run, write_at_risk

SNAPSHOT_FILE = "snapshot.parquet"
LIGHTGBM = "lightgbm"
LOGISTIC = "logistic_regression"
PROBABILITY_MODELS = (LIGHTGBM, LOGISTIC)
# A few thousand rows with a handful of strong features: small, slow-learning trees
# generalise better than the event models' defaults (31 leaves, rate 0.1).
SNAPSHOT_SPEC = ModelSpec(
    "binary",
    {
        "metric": "binary_logloss",
        "learning_rate": 0.02,
        "num_leaves": 7,
        "min_data_in_leaf": 30,
        "min_data_per_group": 30,
        "cat_smooth": 20,
        "feature_fraction": 0.7,
        "num_threads": 1,  # small data: one thread is as fast and leaves the cores to others
    },
    num_boost_round=3000,
    early_stopping_rounds=100,
    # a leaky column's validation log loss falls every round (0.1 at round 100, 6e-5 at
    # 3,000): stopped where its answers are all but certain; telco's stays above 0.4
    certain_loss=0.01,
)
INNER_VALID_SHARE = 0.2
# One column that alone ranks the label this well is almost always written after the outcome
# (a churn reason, a closing date): the model would learn the answer, not the risk.
LEAK_AUC = 0.99


def snapshot_spec(settings: Settings) -> ModelSpec:
    """The snapshot model's spec with ``training.models.churn`` over it: the churn model of a
    snapshot is tuned by the same setting as an events log's."""
    values = settings.training.models.get("churn")
    return SNAPSHOT_SPEC.overridden(values.values()) if values else SNAPSHOT_SPEC


class SnapshotError(TrainingError):
    """A snapshot table that cannot give an honest cross-validated model; says what was found."""


# --- data ---------------------------------------------------------------------------------


def load_snapshot(settings: Settings, dataset: str) -> pd.DataFrame:
    """The dataset's snapshot table, as written by ``lifecycle import telco-churn``."""
    from lifecycle.dataset_kind import require_kind

    require_kind(settings, dataset, "snapshot", "train-snapshot")
    path = settings.workspace.dataset_dir(dataset) / SNAPSHOT_FILE
    if not path.is_file():
        events = path.with_name(EVENTS_FILE).is_file()
        hint = (
            "it holds events: train it with `lifecycle train`"
            if events
            else "import one first, e.g. `lifecycle import telco-churn`"
        )
        raise SnapshotError(f"dataset '{dataset}' has no snapshot table at {path}; {hint}")
    frame = pd.read_parquet(path)
    frame.attrs["source"] = str(path)
    return frame


def snapshot_features(
    frame: pd.DataFrame,
    label: str = LABEL,
    exclude: Sequence[str] = (),
    attributes: tuple[Sequence[str], Sequence[str]] = ((), ()),
) -> list[str]:
    """Every column but the user id, the label (and the table's own label, an outcome, when
    another column is learned), ``exclude`` and people's attributes (a name, an email:
    :mod:`features.identifiers`, with ``attributes``, the settings allowing and excluding
    some), in order."""
    source = frame.attrs.get("source", "the snapshot table")
    unknown = [name for name in exclude if name not in frame.columns]
    if unknown:
        raise SnapshotError(
            f"{source} has no column {', '.join(map(repr, unknown))} to exclude; columns: "
            + ", ".join(map(str, frame.columns))
        )
    names = [n for n in frame.columns if n not in (c.USER_ID, label, LABEL, *exclude)]
    return [name for name in names if name not in not_features(frame, names, *attributes)]


def check_snapshot(
    frame: pd.DataFrame,
    *,
    label: str,
    feature_names: list[str],
    folds: int,
    min_rows: int,
    min_positives: int,
) -> np.ndarray:
    """The label as 0/1, or a clear error: missing or non-binary label, one class, too few rows."""
    source = frame.attrs.get("source", "the snapshot table")
    if label not in frame.columns:
        raise SnapshotError(
            f"{source} has no label column '{label}'; columns: {', '.join(map(str, frame.columns))}"
        )
    if not feature_names:
        raise SnapshotError(f"{source} has no feature columns besides '{label}'")
    if folds < 2:
        raise SnapshotError(f"cross-validation needs at least 2 folds, got {folds}")
    values = pd.to_numeric(frame[label], errors="coerce")
    bad = values.isna() | ~values.isin([0, 1])
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        found = frame[label].iloc[row]
        found = found.item() if isinstance(found, np.generic) else found  # 34.0, not np.float64
        raise SnapshotError(  # rows counted from 1, as ingest's
            f"{source}: label '{label}' must be 0/1; {int(bad.sum())} of {len(frame)} rows are not "
            f"(first at row {row + 1}: {found!r})"
        )
    y = values.to_numpy(dtype=float)
    positives, rows = int(y.sum()), len(y)
    negatives = rows - positives
    if positives == 0 or negatives == 0:
        raise SnapshotError(
            f"{source}: label '{label}' has a single class ({positives} positive, {negatives} negative)"
        )
    if rows < min_rows:
        raise SnapshotError(
            f"{source}: only {counted(rows, ROWS)} ({positives} positive); need {min_rows} "
            "(training.min_rows)"
        )
    needed = max(min_positives, folds)
    if min(positives, negatives) < needed:
        raise SnapshotError(
            f"{source}: {positives} positive and {negatives} negative rows; {folds}-fold "
            f"cross-validation needs at least {needed} of each (training.min_positives)"
        )
    return y


def _fingerprint(frame: pd.DataFrame, label: str, folds: int, seed: int) -> str:
    """Same rows, label, folds and seed = same folds, so CV metrics are comparable."""
    rows = pd.util.hash_pandas_object(frame.reset_index(drop=True), index=False).to_numpy()
    digest = hashlib.sha256(rows.tobytes() + f"{label}|{folds}|{seed}".encode()).hexdigest()
    return digest[:16]


# --- cross-validation ---------------------------------------------------------------------


@dataclass
class CrossValidation:
    """Per-fold test metrics of the model and every baseline, on the same held-out folds."""

    folds: int
    seed: int
    rows: int
    positives: int
    fold_metrics: dict[str, list[dict[str, float]]]  # model -> one metrics dict per fold
    oof_raw: np.ndarray  # LightGBM raw score of every row from the fold that held it out
    oof_probability: np.ndarray  # calibrated fold probabilities, same rows
    oof_contributions: np.ndarray  # rows x features: that fold model's SHAP values (raw score)
    feature_names: list[str]
    best_iterations: list[int]
    fold_of_row: np.ndarray = field(repr=False)
    best_single: list[str] = field(default_factory=list)  # the column it was, fold by fold
    missing_rules: dict[str, str] = field(default_factory=dict)  # rule -> the column it lacks

    def leak(self) -> tuple[str, float] | None:
        """The column that alone ranks the label at ``LEAK_AUC`` or better, with its mean
        CV AUC; None when no column does."""
        auc = self.summary().get(BEST_SINGLE, {}).get("auc", 0.0)
        if auc < LEAK_AUC or not self.best_single:
            return None
        return max(set(self.best_single), key=self.best_single.count), auc

    def summary(self) -> dict[str, dict[str, float]]:
        """Mean and standard deviation (``<metric>_sd``) over folds, per model."""
        out = {}
        for model, per_fold in self.fold_metrics.items():
            table = pd.DataFrame(per_fold)
            means = table.mean().to_dict()
            sds = table.std(ddof=1).fillna(0.0).to_dict()
            out[model] = {**means, **{f"{k}_sd": v for k, v in sds.items()}}
        return out

    def beats_every_baseline(self, metric: str = "auc") -> dict[str, bool]:
        means = {m: v[metric] for m, v in self.summary().items()}
        return {m: means[LIGHTGBM] > v for m, v in means.items() if m != LIGHTGBM}


def cross_validate(
    frame: pd.DataFrame,
    *,
    label: str = LABEL,
    feature_names: list[str] | None = None,
    folds: int = 5,
    seed: int = 7,
    spec: ModelSpec = SNAPSHOT_SPEC,
    min_rows: int = 200,
    min_positives: int = 20,
    progress: Callable[[str], None] = lambda message: None,
) -> CrossValidation:
    """Stratified k-fold CV of LightGBM and the baselines; seeded, so it repeats exactly."""
    from sklearn.model_selection import StratifiedKFold, train_test_split

    feature_names = feature_names or snapshot_features(frame, label)
    y = check_snapshot(
        frame,
        label=label,
        feature_names=feature_names,
        folds=folds,
        min_rows=min_rows,
        min_positives=min_positives,
    )
    rows = frame.reset_index(drop=True).assign(**{label: y})
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    fold_metrics: dict[str, list[dict[str, float]]] = {}
    oof_raw = np.zeros(len(rows))
    oof_probability = np.zeros(len(rows))
    oof_contributions = np.zeros((len(rows), len(feature_names)))
    fold_of_row = np.zeros(len(rows), dtype=int)
    best_iterations, best_single = [], []
    for k, (train_index, test_index) in enumerate(splitter.split(np.zeros(len(y)), y)):
        progress(f"fold {k + 1}/{folds}: {len(train_index):,} training rows")
        train, test = rows.iloc[train_index], rows.iloc[test_index]
        # Early stopping and calibration read an inner split: the held-out fold stays unseen.
        inner_train, inner_valid = train_test_split(
            train, test_size=INNER_VALID_SHARE, stratify=train[label], random_state=seed + k
        )
        bundle = fit_bundle(
            "churn",
            inner_train,
            inner_valid,
            label=label,
            feature_names=feature_names,
            service="snapshot",
            label_spec={},
            data_window={},
            seed=seed,
            spec=spec,
        )
        best_iterations.append(int(bundle.booster.best_iteration))
        y_test = y[test_index]
        encoded = bundle.encode(test)
        oof_raw[test_index] = bundle.raw_score_matrix(encoded)
        oof_contributions[test_index] = bundle.contributions_matrix(encoded)
        oof_probability[test_index] = bundle.predict(test)
        fold_of_row[test_index] = k
        y_train = y[train_index]
        rules = rule_scores(train, y_train, test, feature_names)
        best_single += [rules.best_single] if rules.best_single else []
        scores = {LIGHTGBM: oof_probability[test_index], **rules.scores}
        metrics = metrics_of("churn", y_test, scores)
        metrics[LOGISTIC] = evaluation.classification_metrics(
            y_test, logistic_regression(train, y_train, test, feature_names, seed)
        )
        for model, values in metrics.items():
            fold_metrics.setdefault(model, []).append(values)
    ordered = {LIGHTGBM: fold_metrics.pop(LIGHTGBM), LOGISTIC: fold_metrics.pop(LOGISTIC)}
    return CrossValidation(
        folds=folds,
        seed=seed,
        rows=len(rows),
        positives=int(y.sum()),
        fold_metrics=ordered | fold_metrics,
        oof_raw=oof_raw,
        oof_probability=oof_probability,
        oof_contributions=oof_contributions,
        feature_names=feature_names,
        best_iterations=best_iterations,
        fold_of_row=fold_of_row,
        best_single=best_single,
        missing_rules=missing_rules(feature_names),
    )


def fit_final(
    frame: pd.DataFrame,
    cv: CrossValidation,
    *,
    label: str,
    feature_names: list[str],
    service: str,
    label_spec: dict[str, Any],
    data_window: dict[str, Any],
    spec: ModelSpec = SNAPSHOT_SPEC,
) -> ModelBundle:
    """LightGBM on all rows with the folds' median tree count, calibrated on out-of-fold scores.

    As sklearn's ``CalibratedClassifierCV(ensemble=False)``: the calibrator never sees a
    score of a row the scoring model was trained on.
    """
    import lightgbm as lgb

    categories = categories_of(frame, feature_names)
    bundle = ModelBundle("churn", None, feature_names, categories, service, label_spec, data_window)
    data = lgb.Dataset(
        bundle.matrix(frame),
        frame[label].to_numpy(dtype=float),
        categorical_feature=[i for i, n in enumerate(feature_names) if n in categories],
    )
    rounds = max(1, int(np.median(cv.best_iterations)))
    bundle.booster = lgb.train(spec.lgb_params(cv.seed), data, num_boost_round=rounds)
    bundle.calibrator = fit_calibrator(cv.oof_raw, frame[label].to_numpy(dtype=float))
    return bundle


# --- the whole job ------------------------------------------------------------------------


@dataclass
class SnapshotResult:
    dataset: str
    model_name: str
    version: str
    run_id: str
    cv: CrossValidation
    promoted: bool
    gate: str
    left_out: dict[str, str] = field(default_factory=dict)  # people's attribute -> why no feature
    label: str = LABEL
    at_risk: Path | None = None  # the customers still with you, most likely to leave first

    def _single_columns(self) -> str:
        chosen = pd.Series(self.cv.best_single).value_counts(sort=False)
        return "; the column: " + ", ".join(
            name if count == self.cv.folds else f"{name} ({count} fold{'s' * (count != 1)})"
            for name, count in chosen.items()
        )

    def lines(self) -> list[str]:
        summary = self.cv.summary()
        learned = "churn" if self.label == LABEL else f"'{self.label}'"
        out = [
            f"{self.dataset} {learned} (snapshot, {self.cv.rows:,} rows, {self.cv.positives:,} "
            f"positive): {self.model_name} v{self.version} (run {self.run_id[:8]})",
            f"  {self.cv.folds}-fold CV, mean ± sd over folds:",
        ]
        for model, m in summary.items():
            probability = (
                f", Brier {m['brier']:.4f}, ECE {m['ece']:.4f}"
                if model in PROBABILITY_MODELS
                else ""
            )
            out.append(
                f"    {model:<22} AUC {m['auc']:.4f} ± {m['auc_sd']:.4f}, PR-AUC {m['pr_auc']:.4f}"
                f"{probability}, lift@10% {m['lift_top_decile']:.2f}, capture@10% {m['capture_top_decile']:.3f}"
                + (self._single_columns() if model == BEST_SINGLE else "")
            )
        beaten = self.cv.beats_every_baseline()
        losers = [m for m, won in beaten.items() if not won]
        out.append(
            "  LightGBM beats every baseline on mean CV AUC"
            if not losers
            else f"  LightGBM does NOT beat {', '.join(losers)} on mean CV AUC"
        )
        out.append(
            f"  {'promoted to champion' if self.promoted else 'kept as challenger'}: {self.gate}"
        )
        out += [
            f"  no {rule}: the table has no '{column}' column"
            for rule, column in self.cv.missing_rules.items()
        ]
        if self.at_risk is not None:
            whose = "the champion's" if self.promoted else "this challenger's"
            out.append(
                f"  at risk ({whose}): the {self.cv.rows - self.cv.positives:,} customers with "
                f"label 0, most likely first (out-of-fold probabilities): {self.at_risk}"
                + (
                    f"; `lifecycle at-risk --dataset {self.dataset}` lists it"
                    if self.promoted and self.label == LABEL
                    else ""
                )
            )
        return out + ([left_out_line(self.left_out)] if self.left_out else [])


@training_writes  # a tracking server's short outage carried through
@one_blas_thread  # its calibrators and baselines: small fits (training.models)
def train_snapshot(
    settings: Settings,
    dataset: str = "telco_churn",
    *,
    folds: int = 5,
    label: str = LABEL,
    exclude: Sequence[str] = (),
    progress: Callable[[str], None] = lambda message: None,
) -> SnapshotResult:
    """Cross-validate, fit the final calibrated model, log it in MLflow, register and gate it:
    ``<dataset>-churn`` for the table's own label, ``<dataset>-<label>`` for another column."""
    from training.tracking import reserved_run

    frame = load_snapshot(settings, dataset)
    attributes = (settings.features.allow_attributes, settings.features.exclude_attributes)
    feature_names = snapshot_features(frame, label, exclude, attributes)
    learned = "churn" if label == LABEL else re.sub(r"[^0-9A-Za-z_.]+", "_", label)  # no '-'
    name = registry.model_name(dataset, learned)
    with reserved_run(settings, "churn", dataset, name):  # a refused write refused before the fit
        mlflow_client = registry.client(settings)
        seed = settings.training.seed
        spec = snapshot_spec(settings)
        progress(f"{dataset}: {folds}-fold cross-validation of LightGBM and baselines")
        cv = cross_validate(
            frame,
            label=label,
            feature_names=feature_names,
            folds=folds,
            seed=seed,
            spec=spec,
            min_rows=settings.training.min_rows,
            min_positives=settings.training.min_positives,
            progress=progress,
        )
        frame = frame.reset_index(drop=True).assign(
            **{label: pd.to_numeric(frame[label]).astype(float)}
        )
        fingerprint = _fingerprint(frame, label, folds, seed)
        label_spec = {
            "task": "churn",
            "source": "snapshot",
            "label_column": label,
            "definition": f"the snapshot table's '{label}' column"
            + (" (1 = churned)" if label == LABEL else ""),
        }
        window = {
            "dataset": dataset,
            "rows": cv.rows,
            "positives": cv.positives,
            "folds": folds,
            "seed": seed,
            "fingerprint": fingerprint,
            "excluded": list(exclude),  # --exclude: versions of one table differ in their columns
        }
        progress(f"{dataset}: fitting the final model on all {cv.rows:,} rows")
        bundle = fit_final(
            frame,
            cv,
            label=label,
            feature_names=feature_names,
            service=f"snapshot:{dataset}",
            label_spec=label_spec,
            data_window=window,
            spec=spec,
        )
        summary = cv.summary()
        bundle.metrics = {k: v for k, v in summary[LIGHTGBM].items() if not k.endswith("_sd")}
        run_id, version = log_run(settings, mlflow_client, name, bundle, frame, cv, window)
        at_risk = write_at_risk(settings, name, version, frame, label, cv)  # before it can serve
        progress(f"{dataset}: registered {name} version {version}; checking the promotion gate")
        leak = cv.leak()
        if leak is not None:  # the gate would compare answers learned from the outcome itself
            column, auc = leak
            promoted, verdict = (
                False,
                (
                    f"'{column}' alone ranks the label at CV AUC {auc:.4f}: a column written after the "
                    f"outcome leaks it; train without it (`--exclude {column}`)"
                ),
            )
        else:
            baselines = {m: v for m, v in summary.items() if m != LIGHTGBM}
            promoted, verdict = _gate(
                settings, mlflow_client, name, version, bundle.metrics, fingerprint, baselines
            )
        registry.record_gate(mlflow_client, name, version, verdict)
    left_out = not_features(frame, [n for n in frame if n not in (c.USER_ID, label)], *attributes)
    return SnapshotResult(
        dataset, name, version, run_id, cv, promoted, verdict, left_out, label, at_risk
    )


def _gate(
    settings: Settings,
    mlflow_client: Any,
    name: str,
    version: str,
    metrics: dict[str, float],
    fingerprint: str,
    baselines: dict[str, dict[str, float]],
) -> tuple[bool, str]:
    """Promote only past the best baseline on the same folds (the first model too), and over
    a champion cross-validated on the same rows, label, folds and seed."""

    def champion_score(champion: Any, metric: str) -> float | Unscored:
        tags = champion.tags
        if tags.get("fingerprint") != fingerprint or f"test.{metric}" not in tags:
            return Unscored(
                f"champion v{champion.version} was not cross-validated on the same rows, label "
                "and folds",
                False,
            )
        # the run's own value: a version tagged before its tags kept it whole has it rounded
        # to 6 digits (the same model, trained again, beat its twin by that rounding)
        from mlflow.exceptions import MlflowException

        try:
            logged = mlflow_client.get_run(champion.run_id).data.metrics
        except MlflowException:  # a run gone from the tracking store: the tag is what is left
            logged = {}
        return float(logged.get(f"{LIGHTGBM}.cv_{metric}", tags[f"test.{metric}"]))

    return gate(
        settings,
        mlflow_client,
        name,
        "churn",
        version,
        metrics,
        champion_score,
        kind="CV ",
        baselines=baselines,
    )
