"""A baseline rule that beats LightGBM, registered as a model version of its own and gated
as any model (:func:`training.promotion.gate_on_test`)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features.labels import LABEL, LabelSpec
from lifecycle import lineage
from lifecycle.bridge import served_label
from lifecycle.bridge import tags_of as bridge_tags
from lifecycle.bundle import ModelBundle
from lifecycle.rules import RuleModel
from lifecycle.settings import Settings
from training.evaluation import metrics_of
from training.models import fit_calibrator
from training.promotion import gate_on_test
from training.tracking import (
    experiment_for,
    log_bundle,
    save_evaluation_tables,
    settings_params,
    start_training_run,
)

if TYPE_CHECKING:
    from training.time_splits import TimeSplit


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "version": self.version,
            "run_id": self.run_id,
            "promoted": self.promoted,
            "gate": self.gate,
            "metrics": self.metrics,
        }


# A served rule fitted on the users of now: what its window's trained_on is (the gate's
# outcomes_learned_until and serving.monitor's reference read it), said in its metadata.
TRAINED_ON_IS = "trained_on_is"
REFIT_JUDGED_BESIDE = (
    "the LightGBM refit's window, beside which the rule was judged (a probability is "
    "calibrated on its test cutoffs' outcomes); the rule was fitted on rule_fitted_on"
)


def _rule_trained_on(window: dict[str, Any]) -> dict[str, Any]:
    """A served rule's ``trained_on_*`` run params (and ``rule_fitted_on``, the cutoff of the
    users it was fitted on, when it was not fitted on the matured cutoffs)."""
    fitted = window.get("rule_fitted_on")
    if fitted:
        return {
            "trained_on_cutoffs": 1,
            "trained_on_rows": fitted["rows"],
            "rule_fitted_on": fitted["cutoff"],
        }
    trained = window["trained_on"]
    return {"trained_on_cutoffs": len(trained["cutoffs"]), "trained_on_rows": trained["rows"]}


def _trained_through(window: dict[str, Any]) -> str | None:
    """The latest cutoff the served rule learned from (its fit's users, or the refit's rows),
    so the gate knows a champion of older data (without it a rule refit on fresher data was
    never weighed as fresher)."""
    cutoffs = list(window.get("trained_on", {}).get("cutoffs", []))
    fitted = (window.get("rule_fitted_on") or {}).get("cutoff")
    ends = [*cutoffs, *([fitted] if fitted else [])]  # days as YYYY-MM-DD
    return max(ends) if ends else None


def serve_baseline(
    settings: Settings,
    mlflow_client: Any,
    name: str,
    task: str,
    evaluated_rule: RuleModel,
    deployed_rule: RuleModel,
    evaluated: ModelBundle,
    parts: dict[str, pd.DataFrame],
    window: dict[str, Any],
    split: TimeSplit,
    accept_definition_change: str | None = None,
    bridge: dict[str, Any] | None = None,
    baselines: dict[str, dict[str, float]] | None = None,
    answered_by: str | None = None,
) -> BaselineVersion:
    """Register the winning baseline rule as a model version and gate it like any model
    (served through ``bridge`` on a longer horizon, as LightGBM's would have been).

    As for LightGBM: measured on the test rows with its calibrator fitted on the
    validation rows; deployed as ``deployed_rule`` (fitted by the pipeline on the freshest
    rows it has), calibrated on the test rows.
    ``window`` is the refit's data window (what it was evaluated and trained on), which the
    deployed rule shares, so a later gate knows it has seen the test cutoffs. ``baselines``:
    every baseline's test metrics, the rule's own among them, so that a champion judged by
    its recorded test is compared by its lead over the baselines, as LightGBM's is.
    ``answered_by``: as for :func:`training.promotion.gate_on_test`.
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
    predicted = measured.predict(test)
    full = metrics_of(task, y, {"lightgbm": predicted})["lightgbm"]
    served = window | {"kind": deployed_rule.kind}
    if "rule_fitted_on" in window:  # trained_on is kept for the gate and the drift reference
        served[TRAINED_ON_IS] = REFIT_JUDGED_BESIDE
    deployed = bundle_of(deployed_rule, test, served)
    deployed.metrics = full
    if bridge is not None:
        deployed.bridge, deployed.label = bridge, served_label(deployed.label, bridge)
    experiment_id = experiment_for(settings, mlflow_client, name)
    through = _trained_through(window)
    with (
        start_training_run(
            experiment_id, task, window["dataset"], kind=f"baseline_{deployed_rule.kind}"
        ) as run,
        tempfile.TemporaryDirectory() as tmp,
    ):
        mlflow.log_params(
            {
                "task": task,
                "dataset": window["dataset"],
                "kind": deployed_rule.kind,
                "feature_service": deployed.service,
                # the label it was judged on, as LightGBM's run says it (no seed: a rule draws
                # nothing at random); rows_*: the rows its measured twin was fitted on (train),
                # calibrated on (valid) and measured on (test), LightGBM's own
                "label": LabelSpec.from_dict(evaluated.label).describe(),
                "calibrated": deployed.calibrator is not None,
                **{f"rows_{k}": len(v) for k, v in parts.items()},
                # named as LightGBM's run names them; what the served rule learned from: the
                # users of now where it is refitted on them, else the refit's matured rows
                **_rule_trained_on(window),
                "calibrated_on_rows": len(test),
                **{
                    k: ",".join(v) if isinstance(v, list) else v for k, v in split.to_dict().items()
                },
                **settings_params(settings, task),
            }
        )
        mlflow.log_metrics({f"test.{k}": float(v) for k, v in full.items() if np.isfinite(v)})
        # the baselines on its test, as LightGBM's run logs them: a later gate compares the
        # leads over them (a rule champion's raw metric was weighed against another period's)
        mlflow.log_metrics(
            {
                f"{rule}.{k}": float(v)
                for rule, values in (baselines or {}).items()
                for k, v in values.items()
                if np.isfinite(v)
            }
        )
        # its calibration table and metrics, as a LightGBM run logs them (no plots)
        tables = Path(tmp) / "evaluation"
        tables.mkdir()
        save_evaluation_tables(tables, task, y, predicted, {"test": full, **(baselines or {})})
        mlflow.log_artifacts(str(tables), artifact_path="evaluation")
        version = log_bundle(
            mlflow_client,
            name,
            deployed,
            test,
            Path(tmp),
            tags={
                "test_cutoff": split.to_dict()["test_cutoff"],
                "kind": deployed_rule.kind,
                **({"trained_through": through} if through else {}),
                **bridge_tags(bridge),
                **lineage.model_tags(settings, window["dataset"], deployed.service, deployed.label),
            },
            metrics=full,
        )
    promoted, verdict = gate_on_test(
        settings,
        mlflow_client,
        name,
        task,
        version,
        test,
        full,
        label=deployed.label,
        accept_definition_change=accept_definition_change,
        baselines=baselines,
        itself=deployed_rule.kind,
        trained_through=through,
        answered_by=answered_by,
    )
    return BaselineVersion(deployed_rule.kind, version, run.info.run_id, full, promoted, verdict)
