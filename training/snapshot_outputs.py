"""What a snapshot training leaves besides the model: its MLflow run's parameters, metrics
and evaluation files, and the ranked list of the customers still with you."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features import contract as c
from lifecycle import lineage
from lifecycle.tasks import CHURN
from training import evaluation
from training.snapshot_baselines import BEST_SINGLE

if TYPE_CHECKING:
    from lifecycle.bundle import ModelBundle
    from lifecycle.settings import Settings
    from training.snapshot import CrossValidation


def log_run(
    settings: Settings,
    mlflow_client: Any,
    name: str,
    bundle: ModelBundle,
    frame: pd.DataFrame,
    cv: CrossValidation,
    window: dict[str, Any],
) -> tuple[str, str]:
    import mlflow

    from training.models import importances
    from training.snapshot import LIGHTGBM, snapshot_spec
    from training.tracking import (
        EXCLUDED_TAG,
        experiment_for,
        hyperparameters,
        log_bundle,
        start_training_run,
    )

    summary = cv.summary()
    y = frame[bundle.label["label_column"]].to_numpy(dtype=float)
    with (
        start_training_run(
            experiment_for(settings, mlflow_client, name), "churn", window["dataset"]
        ) as run,
        tempfile.TemporaryDirectory() as tmp,
    ):
        out = Path(tmp)
        mlflow.log_params(
            {
                "task": "churn",
                "source": "snapshot",
                "dataset": window["dataset"],
                "feature_service": bundle.service,
                "label": bundle.label["definition"],
                "seed": cv.seed,
                "folds": cv.folds,
                "rows": cv.rows,
                "num_boost_round": bundle.booster.current_iteration(),
                "fold_best_iterations": ",".join(map(str, cv.best_iterations)),
                "fingerprint": window["fingerprint"],
                "features": len(bundle.feature_names),
                "excluded": json.dumps(window["excluded"]),  # [] when none: a column may be "none"
                **hyperparameters(bundle, {bundle.task: snapshot_spec(settings)}),
            }
        )
        for model, values in summary.items():
            mlflow.log_metrics(
                {f"{model}.cv_{k}": float(v) for k, v in values.items() if np.isfinite(v)}
            )
        scores = {LIGHTGBM: cv.oof_probability}
        if settings.training.plots:
            from training import plots  # matplotlib: imported only to draw

            figures = {
                "importance.png": plots.importance_plot(
                    bundle.feature_names,
                    importances(bundle).reindex(bundle.feature_names).to_numpy(),
                ),
                "calibration_oof.png": plots.calibration_plot(y, scores),
                "gain_oof.png": plots.gain_plot(y, scores),
            }
            for filename, figure in figures.items():
                plots.save(figure, out / filename)
        evaluation.calibration_table(y, cv.oof_probability).to_csv(
            out / "calibration_oof.csv", index=False
        )
        (out / "cv_metrics.json").write_text(
            json.dumps(
                {"summary": summary, "folds": cv.fold_metrics, BEST_SINGLE: cv.best_single},
                indent=2,
                default=float,
            )
        )
        mlflow.log_artifacts(str(out), artifact_path="evaluation")
        version = log_bundle(
            mlflow_client,
            name,
            bundle,
            frame,
            out,
            tags={
                "evaluation": f"{cv.folds}-fold CV",
                "fingerprint": window["fingerprint"],
                **({EXCLUDED_TAG: ", ".join(window["excluded"])} if window["excluded"] else {}),
                **snapshot_lineage(settings, window["dataset"], bundle.service),
            },
            metrics=bundle.metrics,
        )
    return run.info.run_id, version


def snapshot_lineage(settings: Settings, dataset: str, service: str) -> dict[str, str]:
    """A snapshot model version's lineage tags, as an events model's (docs/refresh.md): the
    dataset version and generation it learned from, its tuning and the code."""
    learned = lineage.dataset_lineage(settings.workspace.dataset_dir(dataset))
    return {
        f"{lineage.TAG_PREFIX}{key}": value for key, value in learned.items()
    } | lineage.made_with(settings, service, CHURN.name)


def write_at_risk(
    settings: Settings,
    name: str,
    version: str,
    frame: pd.DataFrame,
    label: str,
    cv: CrossValidation,
) -> Path:
    """The customers whose label is 0 (still with you), the most likely to leave first, by
    their out-of-fold probability: each scored by the fold model that never saw them, not
    by the final model, which learned every row's label; with :func:`reasons` from the same
    fold model, the probability as ``churn_probability`` as in an events list. Each version's
    is ``scores/<model>-at-risk-vN.csv``; the champion's is the one
    of the version its alias names (``serving.snapshot_list.champion_list``), so a promotion
    by hand serves its list too."""
    from lifecycle.storage import atomic_file

    scored = pd.DataFrame(
        {
            c.USER_ID: frame[c.USER_ID].to_numpy(),
            CHURN.score: cv.oof_probability,
            "reasons": reasons(frame, cv.feature_names, cv.oof_contributions),
        }
    )[frame[label].to_numpy() == 0]
    ranked = scored.sort_values([CHURN.score, c.USER_ID], ascending=[False, True])
    path = settings.workspace.snapshot_at_risk(name, version)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as staging:
        ranked.assign(rank=range(1, len(ranked) + 1)).to_csv(staging, index=False)
    return path


REASONS_TOP = 3


def reasons(frame: pd.DataFrame, feature_names: list[str], contributions: np.ndarray) -> list[str]:
    """Per row, the (at most ``REASONS_TOP``) columns that raised its churn score the most,
    strongest first, each with the row's own value (``Contract: Month-to-month; tenure: 2``):
    TreeSHAP contributions, so a column that lowered the score is never a reason."""
    order = np.argsort(-contributions, axis=1, kind="stable")[:, :REASONS_TOP]
    values = frame[feature_names]
    return [
        "; ".join(
            f"{feature_names[j]}: {_value_text(values.iat[i, j])}"
            for j in top
            if contributions[i, j] > 0
        )
        for i, top in enumerate(order)
    ]


def _value_text(value: object) -> str:
    """A table's value as an operator reads it: ``no value`` for a null, whole numbers
    without a decimal point, others as the table holds them (103.95 read 104 to 4 digits)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "no value"
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        number = float(value)
        return f"{number:,.0f}" if number.is_integer() else f"{number:,.10g}"
    return str(value)
