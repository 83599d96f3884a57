"""Train, evaluate, track, register and gate one task's model.

Time-ordered split: test on the latest cutoff whose labels have matured; validate on the
latest cutoff whose labels had matured by the test cutoff; train on the cutoffs before
it. So, as in production, nothing the model learns from happened after the test cutoff.
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
from lifecycle.errors import UserError
from lifecycle.settings import Settings
from serving.predictor import ModelBundle, score_frame
from training import baselines, evaluation, plots
from training.datasets import TrainingSet, build_training_set
from training.models import fit_bundle, importances


class TrainingError(UserError):
    """Training cannot produce an honest model from this data; the message gives the counts."""


@dataclass(frozen=True)
class TimeSplit:
    train: list[pd.Timestamp]
    valid: pd.Timestamp
    test: pd.Timestamp

    def to_dict(self) -> dict[str, Any]:
        return {
            "train_cutoffs": [f"{t:%Y-%m-%d}" for t in self.train],
            "valid_cutoff": f"{self.valid:%Y-%m-%d}",
            "test_cutoff": f"{self.test:%Y-%m-%d}",
        }


def time_split(cutoffs: list[pd.Timestamp], horizon_days: int) -> TimeSplit:
    """Test = last cutoff; valid = last cutoff matured by test; train = the ones before valid."""
    ordered = sorted(cutoffs)
    if len(ordered) < 3:
        raise TrainingError(
            f"need at least 3 matured cutoffs for train/valid/test, got {len(ordered)}"
        )
    test = ordered[-1]
    matured_by_test = [t for t in ordered if t + pd.Timedelta(days=horizon_days) <= test]
    if len(matured_by_test) < 2:
        raise TrainingError(
            f"with a {horizon_days}-day horizon only {len(matured_by_test)} cutoff(s) had matured labels "
            f"by the test cutoff {test:%Y-%m-%d} (cutoffs {ordered[0]:%Y-%m-%d}..{test:%Y-%m-%d}); "
            "need 2 (train and valid): use a shorter horizon or a longer history"
        )
    return TimeSplit(train=matured_by_test[:-1], valid=matured_by_test[-1], test=test)


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

    def lines(self) -> list[str]:
        primary = "auc" if self.task != "ltv" else "normalized_gini"
        table = ", ".join(
            f"{name} {m.get(primary, float('nan')):.4f}" for name, m in self.metrics.items()
        )
        return [
            f"{self.task}: {self.model_name} v{self.version} (run {self.run_id[:8]}), test {self.split.test:%Y-%m-%d}",
            f"  {primary}: {table}",
            f"  {'promoted to champion' if self.promoted else 'kept as challenger'}: {self.gate}",
        ]


def score_models(
    task: str,
    bundle: ModelBundle,
    training: TrainingSet,
    train: pd.DataFrame,
    test: pd.DataFrame,
    events_path: Path,
    windows: list[int],
) -> dict[str, np.ndarray]:
    """Predictions of the model and its baselines on the test rows."""
    scores = {"lightgbm": bundle.predict(test)}
    if task == "ltv":
        scores["last_period_value"] = baselines.last_period_value(
            test, training.spec.horizon_days, windows
        )
        scores["bgnbd_gamma_gamma"] = baselines.bgnbd_value(
            events_path, test, training.spec.horizon_days
        )
    else:
        scores |= baselines.classification_baselines(task, train, test)
    return scores


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
    parts = {
        "train": frame[frame[AS_OF].isin(split.train)],
        "valid": frame[frame[AS_OF] == split.valid],
        "test": frame[frame[AS_OF] == split.test],
    }
    check_trainable(task, parts, settings)
    window = split.to_dict() | {"dataset": dataset, "rows": {k: len(v) for k, v in parts.items()}}
    progress(
        f"{task}: fitting LightGBM on {len(parts['train']):,} rows ({len(split.train)} cutoffs)"
    )
    fit: Callable[..., ModelBundle] = fit_bundle
    if settings.training.engine == "dask":  # lightgbm.dask on the dask.scheduler cluster
        from training.distributed import fit_bundle_dask

        fit = functools.partial(fit_bundle_dask, settings=settings)
    bundle = fit(
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
    events_path = settings.workspace.dataset_dir(dataset) / "events.parquet"
    test = parts["test"]
    y = test[LABEL].to_numpy(dtype=float)
    scores = score_models(
        task, bundle, training, parts["train"], test, events_path, settings.features.windows_days
    )
    metrics = metrics_of(task, y, scores)
    if task == "ltv":
        interval = bundle.predict_interval(test)
        metrics["lightgbm"]["p10_p90_coverage"] = evaluation.interval_coverage(
            y, interval["p10"], interval["p90"]
        )
    bundle.metrics = metrics["lightgbm"]

    mlflow_client = registry.client(settings)
    name = registry.model_name(dataset, task)
    run_id, version = _log(
        settings, mlflow_client, name, task, bundle, training, parts, scores, metrics, split
    )
    progress(f"{task}: registered {name} version {version}; checking the promotion gate")
    promoted, verdict = _gate(
        settings, mlflow_client, name, task, version, test, metrics["lightgbm"]
    )
    return TrainResult(
        task, name, version, run_id, metrics, promoted, verdict, split, training.report
    )


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
                "best_iteration": bundle.booster.best_iteration,
                **{f"rows_{k}": len(v) for k, v in parts.items()},
                **split.to_dict() | {"train_cutoffs": ",".join(split.to_dict()["train_cutoffs"])},
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
            tags={"test_cutoff": split.to_dict()["test_cutoff"]},
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
) -> tuple[bool, str]:
    """Make ``version`` champion if there is none, or if it beats the champion's score
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
    champion = registry.alias_version(mlflow_client, name, registry.CHAMPION)
    if champion is None:
        reason = f"first model: {kind}{metric} {ours:.4f}"
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
    challenger_metrics: dict[str, float],
) -> tuple[bool, str]:
    """Promote the challenger only if it beats the champion on the same test rows."""

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
        y = test[LABEL].to_numpy(dtype=float)
        return metrics_of(task, y, {"lightgbm": current.predict(test)})["lightgbm"][metric]

    cutoff = f" on test {test[AS_OF].iloc[0]:%Y-%m-%d}"
    return gate(
        settings,
        mlflow_client,
        name,
        task,
        version,
        challenger_metrics,
        champion_score,
        evidence=cutoff,
    )


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
                    "metrics": {
                        k.removeprefix("test."): float(v)
                        for k, v in tags.items()
                        if k.startswith("test.")
                    },
                    "promotion": tags.get("promotion", ""),
                }
            )
    return sorted(rows, key=lambda r: (r["task"], -int(r["version"])))
