"""Train, evaluate, track, register and gate one task's model.

Time-ordered split to measure: test on the latest cutoff whose labels have matured;
validate on the latest cutoff whose labels had matured by the test cutoff; train on the
cutoffs before it. So, as in production, nothing the evaluated model learns from happened
after the test cutoff. The model registered is then refit on every matured cutoff up to
the test cutoff with the evaluated model's number of trees: it learns from the freshest
customers, the ones most like those it will score (a model fit two horizons back scored
a 9-month-old shop's customers 41% low).
"""

from __future__ import annotations

import functools
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import serving
from features.asof import AS_OF
from features.labels import LABEL
from lifecycle import registry
from lifecycle.btyd import fit_purchase_process
from lifecycle.errors import UserError
from lifecycle.rules import RuleModel, fitted_rules
from lifecycle.settings import Settings
from serving.predictor import ModelBundle, score_frame
from training import evaluation, plots
from training.datasets import TrainingSet, build_training_set
from training.models import (
    calibration_transfers,
    fit_bundle,
    fit_calibrator,
    importances,
    refit_bundle,
)


class TrainingError(UserError):
    """Training cannot produce an honest model from this data; the message gives the counts."""


POOL_DAYS = 28  # test and validation pool the cutoffs of this many days (a month of weekly ones)


@dataclass(frozen=True)
class TimeSplit:
    train: list[pd.Timestamp]
    valid: list[pd.Timestamp]
    test: list[pd.Timestamp]

    @property
    def test_cutoff(self) -> pd.Timestamp:
        return self.test[-1]

    def parts(self, frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
        return {
            name: frame[frame[AS_OF].isin(cutoffs)]
            for name, cutoffs in (("train", self.train), ("valid", self.valid), ("test", self.test))
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "train_cutoffs": [f"{t:%Y-%m-%d}" for t in self.train],
            "valid_cutoffs": [f"{t:%Y-%m-%d}" for t in self.valid],
            "test_cutoffs": [f"{t:%Y-%m-%d}" for t in self.test],
            "test_cutoff": f"{self.test_cutoff:%Y-%m-%d}",
        }


def _latest_period(cutoffs: list[pd.Timestamp]) -> list[pd.Timestamp]:
    return [t for t in cutoffs if t > cutoffs[-1] - pd.Timedelta(days=POOL_DAYS)]


def time_split(cutoffs: list[pd.Timestamp], horizon_days: int) -> TimeSplit:
    """Test = the cutoffs of the last POOL_DAYS; valid = those of the last POOL_DAYS matured by
    the first test cutoff; train = the matured ones before valid."""
    ordered = sorted(cutoffs)
    if len(ordered) < 3:
        raise TrainingError(
            f"need at least 3 matured cutoffs for train/valid/test, got {len(ordered)}"
        )
    test = _latest_period(ordered)
    matured_by_test = [t for t in ordered if t + pd.Timedelta(days=horizon_days) <= test[0]]
    valid = _latest_period(matured_by_test) if matured_by_test else []
    train = [t for t in matured_by_test if t < valid[0]] if valid else []
    if not train:
        raise TrainingError(
            f"with a {horizon_days}-day horizon only {len(matured_by_test)} cutoff(s) had matured labels "
            f"by the test cutoff {test[0]:%Y-%m-%d} (cutoffs {ordered[0]:%Y-%m-%d}..{ordered[-1]:%Y-%m-%d}); "
            "need 2 (train and valid): use a shorter horizon or a longer history"
        )
    return TimeSplit(train=train, valid=valid, test=test)


def check_trainable(task: str, parts: dict[str, pd.DataFrame], settings: Settings) -> None:
    """Too few rows, too few positives or a single class: a clear error with the counts."""
    counts = {name: len(frame) for name, frame in parts.items()}
    if counts["train"] < settings.training.min_rows:
        raise TrainingError(
            f"{task}: only {counts['train']} training rows (need {settings.training.min_rows}); counts {counts}"
        )
    if task == "ltv":
        for name, frame in parts.items():
            if (frame[LABEL] > 0).sum() < settings.training.min_positives:
                raise TrainingError(
                    f"ltv: {name} has {(frame[LABEL] > 0).sum()} users with any value (need "
                    f"{settings.training.min_positives}) among {len(frame)} rows"
                )
        return
    for name, frame in parts.items():
        positives = int(frame[LABEL].sum())
        negatives = len(frame) - positives
        if positives == 0 or negatives == 0:
            raise TrainingError(
                f"{task}: {name} rows have a single class ({positives} positive, {negatives} negative)"
            )
        if positives < settings.training.min_positives:
            raise TrainingError(
                f"{task}: {name} has {positives} positives of {len(frame)} rows (need {settings.training.min_positives})"
            )


@dataclass
class TrainResult:
    task: str
    model_name: str
    version: str
    run_id: str
    metrics: dict[str, dict[str, float]]  # model and each baseline -> test metrics
    promoted: bool
    gate: str  # why it was or was not promoted
    split: TimeSplit
    report: dict[str, Any] = field(default_factory=dict)
    # When LightGBM lost to a baseline rule: that rule registered as a version of its own.
    baseline: BaselineVersion | None = None

    def lines(self) -> list[str]:
        primary = "auc" if self.task != "ltv" else "normalized_gini"
        table = ", ".join(
            f"{name} {m.get(primary, float('nan')):.4f}"
            for name, m in self.metrics.items()
            if primary in m
        )
        return [
            f"{self.task}: {self.model_name} v{self.version} (run {self.run_id[:8]}), test {self.split.test_cutoff:%Y-%m-%d}",
            f"  {primary}: {table}",
            f"  {'promoted to champion' if self.promoted else 'kept as challenger'}: {self.gate}",
        ] + (self.baseline.lines() if self.baseline else [])


@dataclass
class BaselineVersion:
    """A baseline rule registered as a model version because LightGBM did not beat it."""

    kind: str
    version: str
    run_id: str
    metrics: dict[str, float]
    promoted: bool
    gate: str

    def lines(self) -> list[str]:
        verdict = "promoted to champion" if self.promoted else "kept as challenger"
        return [f"  baseline {self.kind} registered as v{self.version}: {verdict}: {self.gate}"]


def winning_baseline(
    settings: Settings, task: str, metrics: dict[str, dict[str, float]]
) -> str | None:
    """The baseline at least as good as LightGBM on the gate metric (the best such), if any."""
    metric = settings.training.gate_metric.get(task, "auc")
    ours = metrics["lightgbm"].get(metric, np.nan)
    rivals = {
        k: m[metric]
        for k, m in metrics.items()
        if k != "lightgbm" and np.isfinite(m.get(metric, np.nan))
    }
    if not rivals:
        return None
    best = max(rivals, key=lambda k: rivals[k])
    return best if not ours > rivals[best] else None


def score_models(
    bundle: ModelBundle, rules: dict[str, RuleModel], test: pd.DataFrame
) -> dict[str, np.ndarray]:
    """Predictions of the model and its baseline rules on the test rows."""
    matrix = bundle.matrix(test).to_numpy(dtype="float64")
    return {"lightgbm": bundle.predict(test)} | {
        kind: rule.predict(matrix) for kind, rule in rules.items()
    }


def metrics_of(
    task: str, y: np.ndarray, scores: dict[str, np.ndarray]
) -> dict[str, dict[str, float]]:
    out = {}
    for name, score in scores.items():
        if task == "ltv":
            out[name] = evaluation.ltv_metrics(y, score)
        elif name == "lightgbm":
            out[name] = evaluation.classification_metrics(y, score)
        else:
            # Rule scores are rankings, not probabilities: only ranking metrics apply.
            ranked = pd.Series(score).rank(pct=True).to_numpy()
            full = evaluation.classification_metrics(y, ranked)
            out[name] = {k: v for k, v in full.items() if k not in ("brier", "ece")}
    return out


def train_task(
    settings: Settings,
    task: str,
    *,
    dataset: str | None = None,
    progress: Callable[[str], None] = lambda message: None,
) -> TrainResult:
    """The whole training of one task: data, split, fit, evaluate, track, register, gate."""
    dataset = dataset or settings.dataset
    progress(f"{task}: building the training set through Feast")
    training = build_training_set(settings, task, dataset=dataset)
    split = time_split(training.cutoffs, training.spec.horizon_days)
    frame = training.frame
    parts = split.parts(frame)
    check_trainable(task, parts, settings)
    window = split.to_dict() | {"dataset": dataset, "rows": {k: len(v) for k, v in parts.items()}}
    progress(
        f"{task}: fitting LightGBM on {len(parts['train']):,} rows ({len(split.train)} cutoffs)"
    )
    fit: Callable[..., ModelBundle] = fit_bundle
    if settings.training.engine == "dask":  # lightgbm.dask on the dask.scheduler cluster
        from training.distributed import fit_bundle_dask

        fit = functools.partial(fit_bundle_dask, settings=settings)
    evaluated = fit(
        task,
        parts["train"],
        parts["valid"],
        label=LABEL,
        feature_names=training.feature_names,
        service=training.service,
        label_spec=training.spec.to_dict(),
        data_window=window,
        seed=settings.training.seed,
    )
    progress(f"{task}: evaluating against baselines on {len(parts['test']):,} test rows")
    test = parts["test"]
    y = test[LABEL].to_numpy(dtype=float)
    calibration = calibration_transfers(evaluated, test, LABEL)
    if not calibration["transfers"]:
        evaluated.calibrator = None  # measured, and deployed, with LightGBM's own probabilities
    rule_options = {
        "horizon_days": training.spec.horizon_days,
        "windows": settings.features.windows_days,
    }
    rules = fitted_rules(
        task, parts["train"], training.feature_names, population=test, **rule_options
    )
    scores = score_models(evaluated, rules, test)
    metrics = metrics_of(task, y, scores)
    if task == "ltv":
        interval = evaluated.predict_interval(test)
        metrics["lightgbm"]["p10_p90_coverage"] = evaluation.interval_coverage(
            y, interval["p10"], interval["p90"]
        )
        zero = 1.0 - evaluated.purchase_probability(evaluated.matrix(test))
        shares = evaluation.interval_shares(
            y, interval["p10"], interval["p90"], zero_probability=zero
        )
        metrics["lightgbm"] |= {"below_p10": shares["below"], "above_p90": shares["above"]}

    matured = frame[frame[AS_OF] <= split.test_cutoff]
    progress(
        f"{task}: refitting on every matured cutoff ({len(matured):,} rows, "
        f"{matured[AS_OF].nunique()} cutoffs up to {split.test_cutoff:%Y-%m-%d})"
    )
    bundle = refit_bundle(
        evaluated,
        matured,
        label=LABEL,
        calibration=test,
        data_window=window
        | {
            "calibration": calibration,
            "evaluated_on": split.to_dict(),
            "trained_on": {
                "cutoffs": [f"{t:%Y-%m-%d}" for t in sorted(matured[AS_OF].unique())],
                "rows": len(matured),
            },
        },
        seed=settings.training.seed,
        fit=fit,
    )
    bundle.metrics = metrics["lightgbm"]
    if task != "conversion":  # rows of every known user: the population BG/NBD describes
        bundle.purchase_process = fit_purchase_process(frame[frame[AS_OF] == split.test_cutoff])

    mlflow_client = registry.client(settings)
    name = registry.model_name(dataset, task)
    run_id, version = _log(
        settings, mlflow_client, name, task, bundle, training, parts, scores, metrics, split
    )
    progress(f"{task}: registered {name} version {version}; checking the promotion gate")
    promoted, verdict = _gate(
        settings,
        mlflow_client,
        name,
        task,
        version,
        test,
        metrics["lightgbm"],
        baselines={k: v for k, v in metrics.items() if k != "lightgbm"},
    )
    result = TrainResult(
        task, name, version, run_id, metrics, promoted, verdict, split, training.report
    )
    winner = winning_baseline(settings, task, metrics)
    if not promoted and winner in rules:
        progress(f"{task}: the baseline {winner} won; registering it as a servable model")
        rule = fitted_rules(task, matured, training.feature_names, population=test, **rule_options)[
            winner
        ]
        result.baseline = _serve_baseline(
            settings,
            mlflow_client,
            name,
            task,
            rules[winner],
            rule,
            evaluated,
            parts,
            matured,
            split,
        )
    return result


def _log(
    settings: Settings,
    mlflow_client: Any,
    name: str,
    task: str,
    bundle: ModelBundle,
    training: TrainingSet,
    parts: dict[str, pd.DataFrame],
    scores: dict[str, np.ndarray],
    metrics: dict[str, dict[str, float]],
    split: TimeSplit,
) -> tuple[str, str]:
    """One MLflow run: parameters, metrics of model and baselines, plots, and the model itself."""
    import mlflow

    experiment_id = experiment_for(settings, mlflow_client, name)
    test = parts["test"]
    y = test[LABEL].to_numpy(dtype=float)
    with mlflow.start_run(experiment_id=experiment_id) as run, tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        mlflow.log_params(
            {
                "task": task,
                "feature_service": bundle.service,
                "label": training.spec.describe(),
                "seed": settings.training.seed,
                "best_iteration": bundle.booster.current_iteration(),
                "calibrated": bundle.calibrator is not None,
                "trained_on_cutoffs": len(
                    bundle.data_window.get("trained_on", {}).get("cutoffs", [])
                ),
                "trained_on_rows": bundle.data_window.get("trained_on", {}).get("rows", 0),
                **{f"rows_{k}": len(v) for k, v in parts.items()},
                **{
                    k: ",".join(v) if isinstance(v, list) else v for k, v in split.to_dict().items()
                },
            }
        )
        for model, values in metrics.items():
            mlflow.log_metrics(
                {f"{model}.{k}": float(v) for k, v in values.items() if np.isfinite(v)}
            )
        mlflow.log_metrics(
            {f"test.{k}": float(v) for k, v in metrics["lightgbm"].items() if np.isfinite(v)}
        )
        figures = {
            "importance.png": plots.importance_plot(
                bundle.feature_names, importances(bundle).reindex(bundle.feature_names).to_numpy()
            )
        }
        if task == "ltv":
            figures["deciles.png"] = plots.decile_plot(y, scores)
            figures["gain.png"] = plots.gain_plot(y, scores, value_label="value")
            evaluation.decile_table(y, scores["lightgbm"]).to_csv(out / "deciles.csv", index=False)
        else:
            figures["calibration.png"] = plots.calibration_plot(y, {"lightgbm": scores["lightgbm"]})
            figures["gain.png"] = plots.gain_plot(y, scores)
            evaluation.calibration_table(y, scores["lightgbm"]).to_csv(
                out / "calibration.csv", index=False
            )
        for filename, figure in figures.items():
            plots.save(figure, out / filename)
        (out / "training_set.json").write_text(json.dumps(training.report, indent=2, default=str))
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=float))
        mlflow.log_artifacts(str(out), artifact_path="evaluation")

        version = log_bundle(
            mlflow_client,
            name,
            bundle,
            test,
            out,
            tags={
                "test_cutoff": split.to_dict()["test_cutoff"],
                "trained_through": split.to_dict()["test_cutoff"],
            },
            metrics=metrics["lightgbm"],
        )
    return run.info.run_id, version


def experiment_for(settings: Settings, mlflow_client: Any, name: str) -> str:
    """The id of the model's MLflow experiment, created with artifacts under the workspace."""
    experiment = mlflow_client.get_experiment_by_name(name)
    if experiment:
        return experiment.experiment_id
    if registry.tracking_uri(settings).startswith(("http://", "https://")):
        # A tracking server keeps artifacts in its own store (--artifacts-destination).
        return mlflow_client.create_experiment(name)
    return mlflow_client.create_experiment(
        name, artifact_location=f"{registry.artifact_root(settings)}/{name}"
    )


def log_bundle(
    mlflow_client: Any,
    name: str,
    bundle: ModelBundle,
    rows: pd.DataFrame,
    workdir: Path,
    *,
    tags: dict[str, str],
    metrics: dict[str, float],
) -> str:
    """Log the bundle as one pyfunc model in the active run, register it as ``challenger``.

    ``rows`` give the input example; ``metrics`` become ``test.*`` tags on the version.
    """
    import mlflow
    from mlflow.models import infer_signature

    bundle_dir = bundle.save(workdir / "bundle")
    example = rows[bundle.feature_names].head(5).reset_index(drop=True)
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=str(Path(serving.__file__).with_name("mlflow_model.py")),
        artifacts={"bundle": str(bundle_dir)},
        signature=infer_signature(example, score_frame(bundle, example)),
        input_example=example,
        registered_model_name=name,
        pip_requirements=_requirements(),
        metadata={
            "feature_service": bundle.service,
            "label": bundle.label,
            "data_window": bundle.data_window,
        },
    )
    version = str(info.registered_model_version)
    mlflow_client.set_registered_model_alias(name, registry.CHALLENGER, version)
    for key, value in tags.items():
        mlflow_client.set_model_version_tag(name, version, key, value)
    for key, value in metrics.items():
        if np.isfinite(value):
            mlflow_client.set_model_version_tag(name, version, f"test.{key}", f"{value:.6g}")
    return version


def _requirements() -> list[str]:
    from importlib.metadata import version

    return [
        f"{pkg}=={version(pkg)}"
        for pkg in ("lightgbm", "numpy", "pandas", "scikit-learn", "mlflow")
    ]


@dataclass(frozen=True)
class Unscored:
    """Why the champion has no score on the challenger's evidence, and whether to promote anyway."""

    reason: str
    promote: bool


def gate(
    settings: Settings,
    mlflow_client: Any,
    name: str,
    task: str,
    version: str,
    metrics: dict[str, float],
    champion_score: Callable[[Any, str], float | Unscored],
    *,
    evidence: str = "",
    kind: str = "",
    baselines: dict[str, dict[str, float]] | None = None,
) -> tuple[bool, str]:
    """Make ``version`` champion if it beats the best of ``baselines`` (their metrics on the
    same evidence) and, when there is a champion, the champion's score
    (``champion_score(champion version, metric)``) by ``training.min_improvement``.

    ``kind`` prefixes the metric in reasons (e.g. "CV "); ``evidence`` ends them (e.g.
    " on test 2025-06-01").
    """
    metric = settings.training.gate_metric.get(task, "auc")
    if metric not in metrics:
        raise TrainingError(
            f"training.gate_metric.{task} = {metric!r} is not a {kind or task + ' '}metric: "
            f"{sorted(metrics)}"
        )
    ours = metrics[metric]
    rivals = {
        b: m[metric] for b, m in (baselines or {}).items() if np.isfinite(m.get(metric, np.nan))
    }
    if rivals:
        best = max(rivals, key=lambda b: rivals[b])
        if not ours > rivals[best]:
            return False, (
                f"{kind}{metric} {ours:.4f} loses to the baseline {best} {rivals[best]:.4f} "
                f"by {rivals[best] - ours:.4f}{evidence}: kept as challenger"
            )
    champion = registry.alias_version(mlflow_client, name, registry.CHAMPION)
    if champion is None:
        beaten = f" > best baseline {best} {rivals[best]:.4f}{evidence}" if rivals else ""
        reason = f"first model: {kind}{metric} {ours:.4f}{beaten}"
        registry.set_champion(mlflow_client, name, version, reason)
        return True, reason
    theirs = champion_score(champion, metric)
    if isinstance(theirs, Unscored):
        if theirs.promote:
            reason = f"{theirs.reason}; {kind}{metric} {ours:.4f}"
            registry.set_champion(mlflow_client, name, version, reason)
            return True, reason
        return False, f"{theirs.reason}; promote by hand"
    margin = settings.training.min_improvement
    against = f"champion v{champion.version} {theirs:.4f} (+{margin}){evidence}"
    if ours > theirs + margin:
        reason = f"{kind}{metric} {ours:.4f} > {against}"
        registry.set_champion(mlflow_client, name, version, reason)
        return True, reason
    return False, f"{kind}{metric} {ours:.4f} does not beat {against}"


def _gate(
    settings: Settings,
    mlflow_client: Any,
    name: str,
    task: str,
    version: str,
    test: pd.DataFrame,
    model_metrics: dict[str, float],
    *,
    baselines: dict[str, dict[str, float]] | None = None,
) -> tuple[bool, str]:
    """Promote the challenger only if it beats the best of ``baselines`` and the champion
    on the same test rows; a champion that learned from those rows is judged by its
    recorded out-of-time metric instead."""
    test_cutoff = pd.Timestamp(test[AS_OF].max())

    def champion_score(champion: Any, metric: str) -> float | Unscored:
        try:
            with tempfile.TemporaryDirectory() as tmp:
                current = ModelBundle.load(
                    registry.bundle_path(mlflow_client, name, champion.version, Path(tmp))
                )
        except Exception as error:  # a corrupt or incompatible champion must not block a good model
            return Unscored(f"champion v{champion.version} could not be loaded ({error})", True)
        if set(current.feature_names) - set(test.columns):
            return Unscored(
                f"champion v{champion.version} reads features this test set lacks", False
            )
        trained = current.data_window.get("trained_on", {}).get("cutoffs", [])
        if trained and pd.Timestamp(max(trained), tz="UTC") >= test_cutoff:
            if metric not in current.metrics:
                return Unscored(
                    f"champion v{champion.version} learned from the test cutoff and recorded no {metric}",
                    False,
                )
            return float(current.metrics[metric])
        y = test[LABEL].to_numpy(dtype=float)
        return metrics_of(task, y, {"lightgbm": current.predict(test)})["lightgbm"][metric]

    return gate(
        settings,
        mlflow_client,
        name,
        task,
        version,
        model_metrics,
        champion_score,
        evidence=f" on test {test_cutoff:%Y-%m-%d}",
        baselines=baselines,
    )


def _serve_baseline(
    settings: Settings,
    mlflow_client: Any,
    name: str,
    task: str,
    evaluated_rule: RuleModel,
    deployed_rule: RuleModel,
    evaluated: ModelBundle,
    parts: dict[str, pd.DataFrame],
    matured: pd.DataFrame,
    split: TimeSplit,
) -> BaselineVersion:
    """Register the winning baseline rule as a model version and gate it like any model.

    As for LightGBM: measured on the test rows with its calibrator fitted on the
    validation rows; deployed fitted on every matured cutoff, calibrated on the test rows.
    """
    import mlflow

    test, valid = parts["test"], parts["valid"]
    y = test[LABEL].to_numpy(dtype=float)

    def bundle_of(
        rule: RuleModel, calibrate_on: pd.DataFrame, window: dict[str, Any]
    ) -> ModelBundle:
        bundle = ModelBundle(
            task,
            rule,
            evaluated.feature_names,
            evaluated.categories,
            evaluated.service,
            evaluated.label,
            window,
            purchase_process=evaluated.purchase_process,
        )
        if bundle.is_probability:
            raw = bundle.raw_score(bundle.matrix(calibrate_on))
            bundle.calibrator = fit_calibrator(raw, calibrate_on[LABEL].to_numpy(dtype=float))
        return bundle

    measured = bundle_of(evaluated_rule, valid, {})
    full = metrics_of(task, y, {"lightgbm": measured.predict(test)})["lightgbm"]
    deployed = bundle_of(
        deployed_rule,
        test,
        evaluated.data_window | {"kind": deployed_rule.kind},
    )
    deployed.metrics = full
    experiment_id = experiment_for(settings, mlflow_client, name)
    with (
        mlflow.start_run(
            experiment_id=experiment_id, run_name=f"baseline {deployed_rule.kind}"
        ) as run,
        tempfile.TemporaryDirectory() as tmp,
    ):
        mlflow.log_params(
            {
                "task": task,
                "kind": deployed_rule.kind,
                "feature_service": deployed.service,
                "rows_trained_on": len(matured),
                **{
                    k: ",".join(v) if isinstance(v, list) else v for k, v in split.to_dict().items()
                },
            }
        )
        mlflow.log_metrics({f"test.{k}": float(v) for k, v in full.items() if np.isfinite(v)})
        version = log_bundle(
            mlflow_client,
            name,
            deployed,
            test,
            Path(tmp),
            tags={"test_cutoff": split.to_dict()["test_cutoff"], "kind": deployed_rule.kind},
            metrics=full,
        )
    promoted, verdict = _gate(settings, mlflow_client, name, task, version, test, full)
    return BaselineVersion(deployed_rule.kind, version, run.info.run_id, full, promoted, verdict)


def list_models(settings: Settings, dataset: str | None = None) -> list[dict[str, Any]]:
    """Every registered version of the dataset's models: aliases, test cutoff, headline metrics."""
    mlflow_client = registry.client(settings)
    dataset = dataset or settings.dataset
    rows = []
    from mlflow.exceptions import MlflowException

    for task in registry.TASKS:
        name = registry.model_name(dataset, task)
        try:
            aliases = mlflow_client.get_registered_model(name).aliases  # alias -> version
        except MlflowException:
            continue
        for version in mlflow_client.search_model_versions(f"name = '{name}'"):
            tags = version.tags
            rows.append(
                {
                    "model": name,
                    "task": task,
                    "version": version.version,
                    "aliases": sorted(
                        a for a, v in aliases.items() if str(v) == str(version.version)
                    ),
                    "test_cutoff": tags.get("test_cutoff", ""),
                    "kind": tags.get("kind", "lightgbm"),
                    "metrics": {
                        k.removeprefix("test."): float(v)
                        for k, v in tags.items()
                        if k.startswith("test.")
                    },
                    "promotion": tags.get("promotion", ""),
                }
            )
    return sorted(rows, key=lambda r: (r["task"], -int(r["version"])))
