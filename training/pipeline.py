"""Train, evaluate, track, register and gate one task's model (the gate in
``training.promotion``, the MLflow logging in ``training.tracking``).

Time-ordered split to measure: test on the matured cutoffs of the last 28 days; validate on those of
the 28 days before that matured by the first test cutoff; train on the cutoffs before. So, as in
production, nothing the evaluated model learns from happened after the test cutoff. The model
registered is then refit on every matured cutoff up to the test cutoff with the evaluated model's
number of trees: it learns from the freshest customers, the ones most like those it will score
(measured against registering the evaluated model: ``experiments/ablations.py``, docs/decisions.md).
"""

from __future__ import annotations

import functools
import json
import tempfile
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from features.asof import AS_OF
from features.labels import ACTIVITY, LABEL
from lifecycle import lineage, registry, tasks
from lifecycle.blas import one_blas_thread
from lifecycle.bridge import served_label
from lifecycle.bridge import tags_of as bridge_tags
from lifecycle.btyd import BGNBD, MBGNBD
from lifecycle.btyd_features import FLAT_P_ALIVE, fit_purchase_process, flat_p_alive
from lifecycle.bundle import ModelBundle, blend_values
from lifecycle.compiled import compile_registered
from lifecycle.offsets import with_start_columns
from lifecycle.rules import RULES_LEFT_OUT, fitted_rules, left_out_lines, refit_to_serve
from lifecycle.settings import Settings
from lifecycle.tracking_http import training_writes
from lifecycle.words import CUTOFFS, counted
from training import datasets, evaluation
from training.baseline_versions import BaselineVersion, serve_baseline
from training.baselines import score_models
from training.bridge import BridgeTried, bridge_for, check_bridgeable, learned, train_bridged
from training.combination import BLEND_RULE, Blend, choose_blend, shares_tried
from training.constant import constant_lines, constant_model
from training.datasets import TrainingSet, build_training_set, check_trainable, freshest_rows
from training.errors import TooFewOutcomes, TrainingError
from training.evaluation import metrics_of
from training.label_free import activity_of, train_label_free
from training.models import (
    CalibrationKind,
    ModelSpec,
    calibration_transfers,
    fit_bundle,
    model_specs,
    refit_bundle,
)
from training.promotion import gate_metric_of, gate_on_test, tested_on, winning_baseline
from training.time_splits import TimeSplit, time_split
from training.tracking import (
    experiment_for,
    hyperparameters,
    log_bundle,
    save_evaluation_tables,
    settings_params,
    start_training_run,
)


@dataclass(frozen=True)
class Method:
    """Choices of the method no setting undoes (nobody should want them undone), switchable in
    code so that ``experiments/ablations.py`` measures each against its alternative."""

    refit: bool = True  # register the refit on every matured cutoff, not the evaluated model
    # LightGBM's own probabilities where the validation calibration does not transfer to test:
    # for the value tasks ("values": calibrating the LTV's purchase part re-ranks the values
    # and moves the total), for every task ("all"), or for none ("none"). Churn's and
    # conversion's calibration only moves their level: they stay calibrated.
    calibration_check: Literal["all", "values", "none"] = "values"
    purchase_process: type[BGNBD] = MBGNBD  # the served p_alive and expected purchases
    # Boost from the purchase process (LightGBM init_score, lifecycle.offsets): a trial
    boost_from_process: bool = False
    # A baseline rule that won the gate is served fitted on the users of the latest cutoff
    # (quintile edges, BG/NBD parameters need no outcome), not on the matured cutoffs
    fresh_rules: bool = True
    # A value task's LightGBM value blended with BG/NBD + Gamma-Gamma's where the test
    # cutoffs prefer a blend (training.combination)
    blend: bool = True
    # The deployed refit calibrated on its own recipe's out-of-fold scores (training.models
    # .cross_fitted_scores), not on the evaluated model's test scores
    deployed_calibration: CalibrationKind = "cross_fitted"
    # LightGBM also learns from features of windows no shorter than every training row's
    # history (training.datasets.past_history), which there repeat the lifetime totals
    long_windows: bool = False


def calibration_checked(method: Method, task: str) -> bool:
    """Whether the task's model goes uncalibrated where calibration does not transfer."""
    if method.calibration_check == "values":
        return not tasks.get(task).is_probability
    return method.calibration_check == "all"


# The method of the trainings in this context; only experiments set another (``METHOD.set``).
METHOD: ContextVar[Method] = ContextVar("method", default=Method())  # noqa: B039 (frozen)


@dataclass
class TrainResult:
    task: str
    model_name: str
    version: str
    run_id: str
    metrics: dict[str, dict[str, float]]  # model and each baseline -> test metrics
    promoted: bool
    gate: str  # why it was or was not promoted
    split: TimeSplit | None  # None: a label-free model (``training.label_free``), no test
    report: dict[str, Any] = field(default_factory=dict)
    # When LightGBM lost to a baseline rule: that rule registered as a version of its own.
    baseline: BaselineVersion | None = None
    gate_metric: str | None = None  # what the gate compared (settings may override the task's)
    blend: Blend | None = None  # a value task's shares of LightGBM tried (training.combination)

    @property
    def champion(self) -> str | None:
        """The version this training made champion: the model's, or the baseline's registered
        in its place; None when the champion stayed as it was."""
        if self.promoted:
            return self.version
        return self.baseline.version if self.baseline and self.baseline.promoted else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "model": self.model_name,
            "version": self.version,
            "run_id": self.run_id,
            "promoted": self.promoted,
            "gate": self.gate,
            "metrics": self.metrics,
            "split": self.split.to_dict() if self.split else None,
            "label_free": self.report.get("label_free"),
            FLAT_P_ALIVE: self.report.get(FLAT_P_ALIVE),  # p_alive near 1 for every customer
            "baseline": self.baseline.to_dict() if self.baseline else None,
            "champion": self.champion,
            "blend": self.blend.to_dict() if self.blend else None,
            RULES_LEFT_OUT: self.report.get(RULES_LEFT_OUT) or {},  # the gate compared the rest
        }

    def lines(self, served: list[str] | None = None) -> list[str]:
        """What training said; ``served``: said in place of the gate's verdict and the
        baseline lines, of a task another model answers (``lifecycle.steps.Trainings``)."""
        primary = self.gate_metric or tasks.get(self.task).gate_metric
        table = ", ".join(
            f"{name} {m.get(primary, float('nan')):.4f}"
            for name, m in self.metrics.items()
            if primary in m
        )
        kept = "promoted to champion" if self.promoted else "kept as challenger"
        if self.baseline and not self.baseline.promoted:  # the rule took the alias
            kept = f"kept back (challenger is v{self.baseline.version}, the baseline below)"
        verdicts = served or [f"  {kept}: {self.gate}"]
        head = f"{self.task}: {self.model_name} v{self.version} (run {self.run_id[:8]})"
        head += learned(self.report)  # a horizon bridged: learned at a shorter one
        if self.split is None:
            why = self.report.get("label_free", "")
            return [f"{head}, label-free: too few outcomes to learn from ({why})", *verdicts]
        test = self.split.test  # every model and baseline on its rows: which window, how many
        rows = self.metrics.get("lightgbm", {}).get("n")
        window = tested_on(test)  # as the gate's verdict names it
        size = counted(len(test), CUTOFFS) + (f", {rows:,.0f} rows" if rows else "")
        size += datasets.sampled_users(self.report)  # training.max_rows kept a share
        blend = self.blend.lines() if self.blend else []
        left_out = left_out_lines(self.report.get(RULES_LEFT_OUT))  # not in the table: why
        said = [f"{head}, test {window} ({size})", f"  {primary}: {table}", *left_out, *blend]
        said += verdicts
        return (
            said
            + constant_lines(self.task, self.report)
            + (self.baseline.lines() if self.baseline and not served else [])
        )


def with_starts(
    training: TrainingSet, split: TimeSplit, method: Method
) -> tuple[pd.DataFrame, dict[str, dict[str, Any]]]:
    """The training frame, with each row's start from the purchase process fitted at its own
    cutoff when the method boosts from it, and what the evaluated model (the last validation
    cutoff's fit: nothing later than what it is calibrated on) and the deployed one (the
    test cutoff's) score with. Only a model of every known user boosts from it: the process
    is fitted on the rows' customers, and a task of a narrower population (conversion: users
    before their target) has too few, and too alike, to fit it."""
    if not method.boost_from_process or not training.spec.everyone:
        return training.frame, {"evaluated": {}, "deployed": {}}
    horizon = training.spec.horizon_days
    frame, fits = with_start_columns(training.frame, horizon, method.purchase_process)
    starts = {}
    for model, cutoff in (("evaluated", split.valid[-1]), ("deployed", split.test_cutoff)):
        if fits.get(cutoff) is None:
            raise TrainingError(
                f"{training.task}: too few customers at {cutoff:%Y-%m-%d} to fit the purchase "
                "process the model boosts from"
            )
        starts[model] = {"boost_start": {"process": fits[cutoff], "horizon_days": horizon}}
    return frame, starts


@training_writes  # a tracking server's short outage carried through
@one_blas_thread
def train_task(
    settings: Settings,
    task: str,
    *,
    dataset: str | None = None,
    progress: Callable[[str], None] = lambda message: None,
    accept_definition_change: str | None = None,
    served_days: int | None = None,
    answered_by: str | None = None,
) -> TrainResult:
    """The whole training of one task: data, split, fit, evaluate, track, register, gate.

    ``accept_definition_change``: the reason a changed label definition may replace the
    champion's (without it such a challenger is not promoted). ``served_days``: learned at
    the settings' (shorter) horizon, served on this one (``training.bridge``). ``answered_by``:
    what serves the task in its champion's place (``1 - churn vN``, from the caller: training
    reads no served champions); that champion is then no rival at the gate."""
    dataset = dataset or settings.dataset
    specs = model_specs(settings)  # before the slow part: a wrong model name fails at once
    # A feature table older than the dataset would train (and gate) on stale rows.
    lineage.require_current_features(settings, dataset, f"train {task}")
    progress(f"{task}: building the training set through Feast")
    method = METHOD.get()
    try:
        check = functools.partial(time_split, task=task)  # refused before Feast's retrieval
        training = build_training_set(settings, task, dataset=dataset, check_cutoffs=check)
        split = check(training.cutoffs, training.spec.horizon_days)
        frame, starts = with_starts(training, split, method)
        parts = split.parts(frame)
        check_trainable(task, parts, settings, training.spec)
        if served_days is not None:
            check_bridgeable(task, training, activity_of(frame))
            bridged = bridge_for(settings, training, served_days)
    except TooFewOutcomes as few:  # too young or too small to learn from outcomes
        if served_days is not None:
            raise
        fallback = (settings, task, dataset, few)
        options = {"progress": progress, "accept_definition_change": accept_definition_change}
        try:  # a shorter horizon that splits
            return train_bridged(*fallback, **options, answered_by=answered_by)
        except BridgeTried:  # its progress said why: the label-free line need not again
            return train_label_free(*fallback, **options, cause_said=True)
        except TooFewOutcomes:
            return train_label_free(*fallback, **options)
    for shut in training.report.get("shop_shut", []):
        progress(f"{task}: note: {shut}")
    window = split.to_dict() | {
        "dataset": dataset,
        "rows": {k: len(v) for k, v in parts.items()},
        ACTIVITY: activity_of(frame),
    }
    unlearned, window = datasets.unlearned(training, parts, settings, window, method.long_windows)
    if unlearned:
        progress(f"{task}: not learning from {datasets.left_out_text(window[datasets.LEFT_OUT])}")
    progress(
        f"{task}: fitting LightGBM on {len(parts['train']):,} rows "
        f"({counted(len(split.train), CUTOFFS)})"
    )
    fit: Callable[..., ModelBundle] = fit_bundle
    if settings.training.engine == "dask":  # lightgbm.dask on the dask.scheduler cluster
        from training.distributed import fit_bundle_dask

        fit = functools.partial(fit_bundle_dask, settings=settings)
    fit = functools.partial(fit, specs=specs)  # the evaluated model and its refit alike
    evaluated = fit(
        task,
        parts["train"],
        parts["valid"],
        label=LABEL,
        feature_names=training.feature_names,
        unlearned=unlearned,
        service=training.service,
        label_spec=training.spec.to_dict(),
        data_window=window,
        seed=settings.training.seed,
        **starts["evaluated"],
    )
    progress(f"{task}: evaluating against baselines on {len(parts['test']):,} test rows")
    test = parts["test"]
    y = test[LABEL].to_numpy(dtype=float)
    calibration = calibration_transfers(evaluated, test, LABEL)
    if not calibration["transfers"] and calibration_checked(method, task):
        evaluated.calibrator = None  # measured, and deployed, with LightGBM's own probabilities
    rule_options = {
        "horizon_days": training.spec.horizon_days,
        "windows": settings.features.windows_days,
    }
    rules = fitted_rules(task, parts["train"], training.feature_names, population=test,
                         progress=progress, **rule_options)  # fmt: skip
    training.report[RULES_LEFT_OUT] = rules.left_out  # said, logged with the run, in --json
    scores = score_models(evaluated, rules, test)
    blend = None
    if method.blend and not tasks.get(task).is_probability:
        blend = choose_blend(task, y, scores, gate_metric_of(settings, task))
    if blend is not None and blend.weight < 1.0:  # what is measured is what will serve
        evaluated.blend, evaluated.blend_weight = rules[BLEND_RULE], blend.weight
        scores["lightgbm"] = blend_values(blend.weight, scores["lightgbm"], scores[BLEND_RULE])
    metrics = metrics_of(task, y, scores)
    constant = constant_model(scores["lightgbm"], len(parts["train"]))
    if not tasks.get(task).is_probability:
        outlook = evaluated.value_outlook(test)
        low, high = outlook["p10"], outlook["p90"]
        zero = 1.0 - outlook["purchase_probability"]  # a 0 on a P10 of 0 by its PIT
        shares = evaluation.interval_shares(y, low, high, zero_probability=zero)
        metrics["lightgbm"] |= {  # one count, as the backtest's (the three sum to 1)
            "below_p10": shares["below"],
            "p10_p90_coverage": shares["inside"],
            "above_p90": shares["above"],
        }

    matured = frame[frame[AS_OF] <= split.test_cutoff]
    learned = matured if method.refit else parts["train"]
    if evaluated.calibrator is None:
        calibration["deployed"] = "none"
    else:
        calibration["deployed"] = method.deployed_calibration if method.refit else "validation"
    history = window | {
        "calibration": calibration,
        "evaluated_on": split.to_dict(),
        "trained_on": {
            "cutoffs": [f"{t:%Y-%m-%d}" for t in sorted(learned[AS_OF].unique())],
            "rows": len(learned),
        },
    }
    if method.refit:
        progress(
            f"{task}: refitting on every matured cutoff ({len(matured):,} rows, "
            f"{counted(matured[AS_OF].nunique(), CUTOFFS)} up to {split.test_cutoff:%Y-%m-%d})"
        )
        bundle = refit_bundle(
            evaluated,
            matured,
            label=LABEL,
            calibration=test,
            data_window=history,
            seed=settings.training.seed,
            fit=fit,
            calibration_kind=method.deployed_calibration,
            **starts["deployed"],
        )
    else:  # an experiment's switch: the evaluated model, with what it learned from
        bundle = evaluated
        bundle.data_window = history
    bundle.metrics = metrics["lightgbm"]
    if blend is not None:
        bundle.data_window["blend"] = blend.to_dict()
    if blend is not None and blend.weight < 1.0:
        # the rule of the blend as a winning rule is served: fitted on the users of now
        fresh = freshest_rows(settings, training)
        bundle.blend, unfit = refit_to_serve(
            rules[BLEND_RULE], task, fresh, training.feature_names, progress,
            population=fresh, **rule_options,
        )  # fmt: skip
        bundle.blend_weight = blend.weight
        fitted_on = test if unfit else fresh  # its fit for the test: on the test's users
        bundle.data_window["rule_fitted_on"] = {
            "cutoff": f"{fitted_on[AS_OF].max():%Y-%m-%d}",
            "rows": len(fitted_on),
        } | ({"not_refit": unfit} if unfit else {})
    if training.spec.everyone:  # rows of every known user
        fitted_on = frame[frame[AS_OF] == split.test_cutoff]
        process = fit_purchase_process(fitted_on, kind=method.purchase_process)
        bundle.purchase_process = evaluated.purchase_process = process
        if process is not None and (flat := flat_p_alive(process, fitted_on)):
            bundle.data_window[FLAT_P_ALIVE] = flat  # p_alive near 1 for everyone: said

    if served_days is not None:  # measured at the learned horizon, served on the asked one
        bundle.bridge, bundle.label = bridged, served_label(bundle.label, bridged)
        bundle.data_window["bridge"] = {k: bridged[k] for k in ("learned_days", "served_days")}
    mlflow_client = registry.client(settings)
    name = registry.model_name(dataset, task)
    run_id, version = _log(
        settings, mlflow_client, name, task, bundle, training, parts, scores, metrics, split, specs
    )
    progress(f"{task}: registered {name} version {version}; checking the promotion gate")
    rivals = {k: v for k, v in metrics.items() if k != "lightgbm"}
    promoted, verdict = gate_on_test(
        *(settings, mlflow_client, name, task, version, test, metrics["lightgbm"]),
        baselines=rivals,
        label=bundle.label,
        accept_definition_change=accept_definition_change,
        scores=scores,
        trained_through=max(bundle.data_window["trained_on"]["cutoffs"]),
        answered_by=answered_by,
    )
    if promoted and settings.serving.compile_trees:  # said: seconds to a minute of its own
        progress(f"{task}: compiling v{version}'s trees for serving (serving.compile_trees)")
    compile_registered(settings, dataset, task, version)  # a new champion: served compiled
    result = TrainResult(
        task,
        name,
        version,
        run_id,
        metrics,
        promoted,
        verdict,
        split,
        # said in its lines: a horizon bridged, a model that learned nothing
        training.report
        | {"bridge": bundle.data_window.get("bridge")}
        | {FLAT_P_ALIVE: bundle.data_window.get(FLAT_P_ALIVE)}
        | constant,
        gate_metric=gate_metric_of(settings, task),
        blend=blend,
    )
    winner = winning_baseline(settings, task, metrics)
    if not promoted and winner in rules:
        progress(f"{task}: the baseline {winner} won; registering it as a servable model")
        # the LightGBM version's own: its calibration, and the blend it would have served
        own = ("calibration", "blend", "rule_fitted_on", datasets.LEFT_OUT)
        window = {k: v for k, v in bundle.data_window.items() if k not in own}
        # Conversion's users of now are unknown without its eligibility at the latest cutoff.
        if method.fresh_rules and training.spec.everyone:
            fresh = freshest_rows(settings, training)
            window["rule_fitted_on"] = {
                "cutoff": f"{fresh[AS_OF].max():%Y-%m-%d}",
                "rows": len(fresh),
            }
            learned_from, population = fresh, fresh
        else:
            learned_from, population = matured, test
        deployed_rule, unfit = refit_to_serve(
            rules[winner], task, learned_from, training.feature_names, progress,
            population=population, **rule_options,
        )  # fmt: skip
        if unfit and "rule_fitted_on" in window:  # its fit for the test: on the test's users
            window["rule_fitted_on"] = {
                "cutoff": f"{test[AS_OF].max():%Y-%m-%d}",
                "rows": len(test),
                "not_refit": unfit,
            }
        result.baseline = serve_baseline(
            settings,
            mlflow_client,
            name,
            task,
            rules[winner],
            deployed_rule,
            evaluated,
            parts,
            window,
            split,
            accept_definition_change,
            bridge=bundle.bridge,
            baselines=rivals,
            answered_by=answered_by,
        )
        if result.baseline.promoted:  # the challenger is what the gate kept back, not the champion
            registry.set_challenger(mlflow_client, name, version)
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
    specs: dict[str, ModelSpec],
) -> tuple[str, str]:
    """One MLflow run: parameters (each booster's hyperparameters too), metrics of model and
    baselines, plots, and the model itself; named for task, dataset and time, with the commit."""
    import mlflow

    experiment_id = experiment_for(settings, mlflow_client, name)
    test = parts["test"]
    y = test[LABEL].to_numpy(dtype=float)
    dataset = bundle.data_window["dataset"]
    with (
        start_training_run(experiment_id, task, dataset) as run,
        tempfile.TemporaryDirectory() as tmp,
    ):
        out = Path(tmp)
        mlflow.log_params(
            {
                "task": task,
                "dataset": dataset,
                "feature_service": bundle.service,
                "label": training.spec.describe(),
                "seed": settings.training.seed,
                "best_iteration": bundle.booster.current_iteration(),
                "calibrated": bundle.calibrator is not None,
                "blend_weight": bundle.blend_weight,
                "trained_on_cutoffs": len(
                    bundle.data_window.get("trained_on", {}).get("cutoffs", [])
                ),
                "trained_on_rows": bundle.data_window.get("trained_on", {}).get("rows", 0),
                **{f"rows_{k}": len(v) for k, v in parts.items()},
                **{
                    k: ",".join(v) if isinstance(v, list) else v for k, v in split.to_dict().items()
                },
                **hyperparameters(bundle, specs),
                **settings_params(settings, task),
            }
        )
        left_out = training.report.get(RULES_LEFT_OUT, {}).items()  # the gate compared the rest
        mlflow.set_tags({f"baseline_left_out.{kind}": why[:4000] for kind, why in left_out})
        for model, values in (metrics | shares_tried(bundle.data_window)).items():
            mlflow.log_metrics(
                {f"{model}.{k}": float(v) for k, v in values.items() if np.isfinite(v)}
            )
        mlflow.log_metrics(
            {f"test.{k}": float(v) for k, v in metrics["lightgbm"].items() if np.isfinite(v)}
        )
        save_evaluation_tables(out, task, y, scores["lightgbm"], metrics)
        if settings.training.plots:
            from training.plots import save_run_plots  # matplotlib: only for a run that draws

            save_run_plots(out, task, bundle, y, scores)
        (out / "training_set.json").write_text(json.dumps(training.report, indent=2, default=str))
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
                **lineage.model_tags(settings, dataset, bundle.service, bundle.label),
                **({"kind": bundle.kind} if bundle.blend is not None else {}),
                **bridge_tags(bundle.bridge),
            },
            metrics=metrics["lightgbm"],
        )
    return run.info.run_id, version
