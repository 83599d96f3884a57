"""The hindsight fit of a backtest: what the project's features can tell about the horizon.

At the backtest's cutoff, a model is fitted on the very outcome being judged (what each
user did in the horizon after the cutoff) and scored cross-fitted: each user by a model
that saw the outcomes of the other users only, ``FOLDS`` folds, averaged over ``SEEDS`` fold
assignments. It knows the horizon's season and level, which no forecast can, but it learns
from one cutoff's users where the backtest's model learns from every matured cutoff. So it
is a reference, not a bound: where the forecast is level with it, learning the season
would not help and a better score needs new information; where the forecast beats it
(Gini on online_retail), more rows of history taught more than hindsight did. On a small
sample it can fall below a fixed rule such as the RFM score.

Two model families are fitted, so it is not one learner's limit: LightGBM and a regularized
linear model on sign-log features; per metric the better family counts. Features are the
project's own (``features.asof``, events at or before the cutoff only); outcomes are the
backtest's (``lifecycle.backtest_judge.outcomes``); metrics are ``training.evaluation``'s.
P(active): a binary LightGBM model, or logistic regression, of any activity in the churn
horizon. Value: a Tweedie LightGBM model of the horizon's value (the usual one-model choice
for a zero-inflated amount), or ridge regression of log(1 + value).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

FOLDS = 5
FAMILIES = ("lightgbm", "linear")
METRICS = ("auc", "spearman", "normalized_gini")
SEEDS = 3
HOLDOUT = 0.2  # of each fit's rows, for early stopping
PARAMS = {
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_data_in_leaf": 40,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "num_threads": 1,
    "deterministic": True,
    "verbosity": -1,
}


def _fit_predict(
    x: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray, objective: str, seed: int
) -> np.ndarray:
    """Fit on ``train`` rows (early stopping on a random part of them), predict ``test``."""
    import lightgbm as lgb

    rng = np.random.default_rng(seed)
    stop = rng.random(len(train)) < HOLDOUT
    fit, held = train[~stop], train[stop]
    params = PARAMS | {"objective": objective, "seed": seed}
    booster = lgb.train(
        params,
        lgb.Dataset(x[fit], y[fit]),
        num_boost_round=2000,
        valid_sets=[lgb.Dataset(x[held], y[held])],
        callbacks=[lgb.early_stopping(50, verbose=False)],
    )
    return booster.predict(x[test], num_iteration=booster.best_iteration)


def _fit_predict_linear(
    x: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray, objective: str
) -> np.ndarray:
    """Logistic regression (binary) or ridge regression of log(1 + y), standardized inputs."""
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if objective == "binary":
        model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=5000))
        return model.fit(x[train], y[train]).predict_proba(x[test])[:, 1]
    model = make_pipeline(StandardScaler(), Ridge(alpha=10.0))
    return model.fit(x[train], np.log1p(y[train])).predict(x[test])


def signed_log(x: np.ndarray) -> np.ndarray:
    """The linear family's inputs: sign(x) log(1 + |x|), unknown values as 0 plus a flag each."""
    unknown = np.isnan(x)
    known = np.nan_to_num(x, nan=0.0)
    logged = np.sign(known) * np.log1p(np.abs(known))
    flags = unknown[:, unknown.any(axis=0)].astype(float)
    return np.hstack([logged, flags])


def cross_fitted(
    x: np.ndarray,
    y: np.ndarray,
    objective: str,
    *,
    family: str = "lightgbm",
    folds: int = FOLDS,
    seed: int = 0,
) -> np.ndarray:
    """Every row's prediction from a model fitted on the other folds."""
    rng = np.random.default_rng(seed)
    fold = rng.permutation(len(y)) % folds
    out = np.empty(len(y))
    for k in range(folds):
        test = np.flatnonzero(fold == k)
        train = np.flatnonzero(fold != k)
        if family == "lightgbm":
            out[test] = _fit_predict(x, y, train, test, objective, seed * folds + k)
        else:
            out[test] = _fit_predict_linear(signed_log(x), y, train, test, objective)
    return out


def hindsight_ceiling(
    events: Path,
    users: Path | None,
    cutoff: pd.Timestamp,
    labels: Any,
    windows: list[int],
    *,
    seeds: int = SEEDS,
) -> dict[str, Any]:
    """AUC of P(active), Spearman and normalized Gini of value for the users known at
    ``cutoff``: per family the mean over ``seeds`` fold assignments (with the smallest and
    largest), and the ceiling, the better family's mean per metric."""
    from features import contract as c
    from features.asof import compute_features, feature_names, words_only
    from lifecycle.backtest_judge import outcomes
    from training import evaluation

    rows = compute_features(events, [cutoff], users=users, windows=windows)
    truth = outcomes(events, users, cutoff, labels).reindex(rows[c.USER_ID])
    active = truth["active"].eq(True).to_numpy(dtype=float)
    value = truth["value"].fillna(0.0).to_numpy(dtype=float)
    learned = [n for n in feature_names(windows) if not words_only(n)]  # as the models'
    x = rows[learned].to_numpy(dtype=float)
    families = {}
    for family in FAMILIES:
        found: dict[str, list[float]] = {key: [] for key in METRICS}
        for seed in range(seeds):
            p_active = cross_fitted(x, active, "binary", family=family, seed=seed)
            predicted = cross_fitted(
                x, np.clip(value, 0.0, None), "tweedie", family=family, seed=seed
            )
            found["auc"].append(evaluation.roc_auc(active, p_active))
            found["spearman"].append(evaluation.spearman(value, predicted))
            found["normalized_gini"].append(evaluation.normalized_gini(value, predicted))
        families[family] = {key: float(np.mean(v)) for key, v in found.items()} | {
            "range": {key: [float(min(v)), float(max(v))] for key, v in found.items()}
        }
    ceiling = {key: max(families[f][key] for f in FAMILIES) for key in METRICS}
    return {"users": len(rows), "folds": FOLDS, "seeds": seeds, **ceiling, "families": families}
