"""LightGBM model specs and fitting: early stopping, calibration, quantile intervals.

Churn and conversion: binary objective, then isotonic calibration (ties broken by
Platt scaling) fitted on the validation cutoff. LTV: a Tweedie objective for the zero-inflated, heavy-tailed value,
plus quantile models for P10/P50/P90. Seeded and single-threaded-deterministic, so the
same data and seed give the same model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from serving.predictor import QUANTILES, Calibrator, ModelBundle, logit


@dataclass(frozen=True)
class ModelSpec:
    """LightGBM parameters of one task; every value can be overridden from settings."""

    objective: str
    params: dict[str, Any] = field(default_factory=dict)
    num_boost_round: int = 1000
    early_stopping_rounds: int = 30

    def lgb_params(self, seed: int, rows: int | None = None) -> dict[str, Any]:
        """``rows``: the training size; below 50k rows one thread is faster (OpenMP start-up and
        spinning cost more than the work: 97 s vs 0.2 s for 1,349 rows on a busy machine)."""
        base = {
            "objective": self.objective,
            "learning_rate": 0.1,
            "num_leaves": 31,
            "min_data_in_leaf": 40,
            "feature_fraction": 0.8,
            "bagging_fraction": 0.8,
            "bagging_freq": 1,
            "lambda_l2": 1.0,
            "seed": seed,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": 1 if rows is not None and rows < 50_000 else 2,
            "verbosity": -1,
        }
        return base | self.params


SPECS: dict[str, ModelSpec] = {
    "churn": ModelSpec("binary", {"metric": "binary_logloss"}),
    # Few positives (about 5% of never-buyers convert per quarter): smaller, steadier trees.
    "conversion": ModelSpec(
        "binary",
        {
            "metric": "binary_logloss",
            "num_leaves": 7,
            "min_data_in_leaf": 200,
            "learning_rate": 0.05,
        },
    ),
    "ltv": ModelSpec("tweedie", {"metric": "tweedie", "tweedie_variance_power": 1.3}),
}


def categories_of(frame: pd.DataFrame, feature_names: list[str]) -> dict[str, list[str]]:
    """Categorical features (text columns) and their categories, sorted for stable codes."""
    out = {}
    for name in feature_names:
        column = frame[name]
        if not pd.api.types.is_numeric_dtype(column):
            out[name] = sorted(column.dropna().astype(str).unique().tolist())
    return out


Booster = Callable[[dict[str, Any]], Any]  # objective overrides -> a fitted LightGBM booster
# (draft bundle, train, valid, label column, categorical feature indices, spec, seed) -> Booster
Trainer = Callable[
    [ModelBundle, pd.DataFrame, pd.DataFrame, str, list[int], "ModelSpec", int], Booster
]


def fit_bundle(
    task: str,
    train: pd.DataFrame,
    valid: pd.DataFrame,
    *,
    label: str,
    feature_names: list[str],
    service: str,
    label_spec: dict[str, Any],
    data_window: dict[str, Any],
    seed: int = 7,
    spec: ModelSpec | None = None,
    trainer: Trainer | None = None,
) -> ModelBundle:
    """Fit the task's model on ``train`` with early stopping on ``valid``; calibrate on ``valid``.

    ``trainer`` does the boosting (default: LightGBM in this process; ``training.distributed``
    passes one on a Dask cluster); categories, calibration and quantiles are the same either way.
    """
    spec = spec or SPECS[task]
    categories = categories_of(
        pd.concat([train[feature_names], valid[feature_names]]), feature_names
    )
    draft = ModelBundle(task, None, feature_names, categories, service, label_spec, data_window)
    categorical = [i for i, name in enumerate(feature_names) if name in categories]
    booster_for = (trainer or local_trainer)(draft, train, valid, label, categorical, spec, seed)
    draft.booster = booster_for({})
    if task in ("churn", "conversion"):
        raw = draft.raw_score(draft.matrix(valid))
        draft.calibrator = fit_calibrator(raw, valid[label].to_numpy(dtype="float64"))
    else:
        draft.quantile_boosters = {
            q: booster_for({"objective": "quantile", "alpha": q, "metric": "quantile"})
            for q in QUANTILES
        }
    return draft


def local_trainer(
    draft: ModelBundle,
    train: pd.DataFrame,
    valid: pd.DataFrame,
    label: str,
    categorical: list[int],
    spec: ModelSpec,
    seed: int,
) -> Booster:
    """Boosting in this process, with LightGBM's early stopping on ``valid``."""
    import lightgbm as lgb

    x_train, x_valid = draft.matrix(train), draft.matrix(valid)
    params = spec.lgb_params(seed, rows=len(train))

    def booster_for(objective_params: dict[str, Any]) -> Any:
        data = lgb.Dataset(
            x_train, train[label], categorical_feature=categorical, free_raw_data=False
        )
        check = lgb.Dataset(x_valid, valid[label], categorical_feature=categorical, reference=data)
        return lgb.train(
            params | objective_params,
            data,
            num_boost_round=spec.num_boost_round,
            valid_sets=[check],
            callbacks=[lgb.early_stopping(spec.early_stopping_rounds, verbose=False)],
        )

    return booster_for


def fit_calibrator(raw: np.ndarray, y: np.ndarray) -> Calibrator:
    """Isotonic regression of the outcome on the raw score, with Platt scaling to break ties."""
    from sklearn.isotonic import IsotonicRegression
    from sklearn.linear_model import LogisticRegression

    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, y)
    platt = LogisticRegression(C=1e6, max_iter=1000).fit(logit(raw).reshape(-1, 1), y)
    return Calibrator(
        x=[float(v) for v in iso.X_thresholds_],
        y=[float(v) for v in iso.y_thresholds_],
        slope=float(platt.coef_[0][0]),
        intercept=float(platt.intercept_[0]),
    )


def importances(bundle: ModelBundle) -> pd.Series:
    gain = bundle.booster.feature_importance(importance_type="gain")
    return pd.Series(gain, index=bundle.feature_names).sort_values(ascending=False)
