"""LightGBM model specs and fitting: early stopping, calibration, quantile intervals.

Probability tasks (churn, conversion): binary objective, then isotonic calibration (ties
broken by Platt scaling) fitted on the validation cutoffs. Value tasks (LTV), a
zero-inflated heavy-tailed value:
two parts, a calibrated P(any value in the horizon) and a Gamma model of the value given
some value, plus quantile models of that value for the mixture's P10/P50/P90 (it ranked
and summed better out of time than one Tweedie model: docs/decisions.md). Seeded and single-threaded-deterministic, so the same
data and seed give the same model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from features.asof import words_only
from features.contract import USER_ID
from lifecycle import offsets, tasks
from lifecycle.bundle import VALUE_LEVELS, Calibrator, ModelBundle, logit
from lifecycle.offsets import INIT_SCORE, start_column
from training.model_specs import LTV_PURCHASE, LTV_QUANTILE, SPECS, ModelSpec, spec_of
from training.model_specs import model_specs as model_specs  # where it was imported from

BOUGHT = "_bought"  # LTV's purchase part's label column: any value in the horizon
LOG_VALUE = "_log_value"  # the quantiles' label: log(1 + value)


def boosters_of(bundle: ModelBundle) -> dict[str, tuple[str, Any]]:
    """The bundle's LightGBM boosters by name, each with the name of the spec it grew from:
    the task's own, and LTV's purchase part and value quantiles (``ltv_quantile_p10``, ...)."""
    found = {bundle.task: (bundle.task, bundle.booster)}
    if bundle.purchase_booster is not None:
        found[LTV_PURCHASE] = (LTV_PURCHASE, bundle.purchase_booster)
    for level, booster in bundle.quantile_boosters.items():
        found[f"{LTV_QUANTILE}_p{round(level * 100):02d}"] = (LTV_QUANTILE, booster)
    # a baseline rule in a bundle is no booster
    return {name: pair for name, pair in found.items() if hasattr(pair[1], "current_iteration")}


def categories_of(frame: pd.DataFrame, feature_names: list[str]) -> dict[str, list[str]]:
    """Categorical features (text columns) and their categories, sorted for stable codes."""
    out = {}
    for name in feature_names:
        column = frame[name]
        if not pd.api.types.is_numeric_dtype(column):
            out[name] = sorted(column.dropna().astype(str).unique().tolist())
    return out


CalibrationKind = Literal["cross_fitted", "transferred", "none"]
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
    specs: Mapping[str, ModelSpec] | None = None,
    trainer: Trainer | None = None,
    rounds_of: ModelBundle | None = None,
    boost_start: Mapping[str, Any] | None = None,
    probability_only: bool = False,
    unlearned: Sequence[str] = (),
    calibrate: bool = True,
) -> ModelBundle:
    """Fit the task's model on ``train`` with early stopping on ``valid``; calibrate on ``valid``.

    ``trainer`` does the boosting (default: LightGBM in this process; ``training.distributed``
    passes one on a Dask cluster); categories, calibration and quantiles are the same either way.
    ``rounds_of``: a refit: each booster grows as many trees as the same booster of that
    (evaluated) bundle, and ``valid`` decides nothing. ``specs``: every model's spec (default
    ``SPECS``; :func:`model_specs` gives them with the settings' hyperparameters);
    ``spec`` replaces the task's own. ``boost_start``: boost from the purchase process
    (``process``, ``horizon_days``: what the bundle scores with; the rows' own starts are in
    their ``lifecycle.offsets`` columns). ``probability_only``: a value task's purchase part
    alone (what a calibrator is fitted on). ``unlearned``: features the trees may not split
    on (``training.datasets.unlearned``), and never those of words only
    (``features.asof.WORDS_ONLY``): empty in every row they learn from, so that the
    bundle reads the same features as the rules and the service. ``calibrate``: False leaves
    the calibrator to the caller (a refit's, whose ``valid`` is its training rows: fitted on
    them it would be thrown away; :func:`refit_bundle` fits the deployed one).
    """
    specs = SPECS if specs is None else specs
    spec = spec or specs.get(task) or spec_of(task)
    categories = categories_of(
        pd.concat([train[feature_names], valid[feature_names]]), feature_names
    )
    draft = ModelBundle(task, None, feature_names, categories, service, label_spec, data_window)
    categorical = [i for i, name in enumerate(feature_names) if name in categories]
    if boost_start is not None:
        draft.boost_start = started(task, train, label, boost_start)

    def grow(
        rows: pd.DataFrame,
        check: pd.DataFrame,
        column: str,
        booster_spec: ModelSpec,
        objective: dict[str, Any],
        evaluated: Any,
        part: str = "booster",
    ) -> Any:
        if blank := [*unlearned, *filter(words_only, feature_names)]:
            rows, check = (r.assign(**dict.fromkeys(blank, np.nan)) for r in (rows, check))
        if draft.boost_start is not None:
            rows, check = (with_init_score(draft.boost_start, part, r) for r in (rows, check))
        if rounds_of is not None:  # the training rows as "validation": the loss only falls
            trees = max(1, int(evaluated.best_iteration or evaluated.current_iteration()))
            booster_spec = replace(
                booster_spec, num_boost_round=trees, early_stopping_rounds=trees + 1
            )
            check = rows
        grower = trainer or local_trainer
        return grower(draft, rows, check, column, categorical, booster_spec, seed)(objective)

    if tasks.get(task).is_probability:
        draft.booster = grow(train, valid, label, spec, {}, rounds_of and rounds_of.booster)
        if calibrate:
            raw = draft.raw_score(draft.matrix(valid))
            draft.calibrator = fit_calibrator(raw, valid[label].to_numpy(dtype="float64"))
        return draft
    bought_train, bought_valid = (
        rows.assign(**{BOUGHT: (rows[label] > 0).astype("float64")}) for rows in (train, valid)
    )
    draft.purchase_booster = grow(
        bought_train,
        bought_valid,
        BOUGHT,
        specs[LTV_PURCHASE],
        {},
        rounds_of and rounds_of.purchase_booster,
        "purchase_booster",
    )
    if calibrate:
        draft.calibrator = fit_calibrator(
            draft.purchase_matrix_uncalibrated(draft.encode(valid)),
            bought_valid[BOUGHT].to_numpy(),
        )
    if probability_only:
        return draft
    buyers, buyers_valid = train[train[label] > 0], valid[valid[label] > 0]
    draft.booster = grow(buyers, buyers_valid, label, spec, {}, rounds_of and rounds_of.booster)
    # Quantiles of log(1 + value) are log(1 + quantiles of value): the same intervals, learned
    # without chasing a heavy tail (on the demo: under half the trees of the raw value's).
    logged, logged_valid = (
        rows.assign(**{LOG_VALUE: np.log1p(rows[label].to_numpy(dtype="float64"))})
        for rows in (buyers, buyers_valid)
    )
    draft.quantile_scale = "log1p"
    draft.quantile_boosters = {
        q: grow(
            logged,
            logged_valid,
            LOG_VALUE,
            specs[LTV_QUANTILE],
            {"objective": "quantile", "alpha": q, "metric": "quantile"},
            rounds_of and rounds_of.quantile_boosters[q],
            "quantile_boosters",
        )
        for q in VALUE_LEVELS
    }
    return draft


def started(
    task: str, train: pd.DataFrame, label: str, boost_start: Mapping[str, Any]
) -> dict[str, Any]:
    """A bundle's ``boost_start``: the process it scores with, each booster part's role and
    the start of rows the process says nothing about (learned on ``train``)."""
    declared = tasks.get(task)
    if declared.is_probability:
        event = offsets.NO_PURCHASE if declared.outcome == "no_activity" else offsets.PURCHASE
        roles = {"booster": event}
    else:
        roles = {"purchase_booster": offsets.PURCHASE, "booster": offsets.LOG_VALUE}
        roles["quantile_boosters"] = offsets.LOG1P_VALUE
    y = train[label].to_numpy(dtype="float64")
    fallbacks = {
        role: offsets.fallback(
            role,
            (y > 0).astype(float)
            if role == offsets.PURCHASE and not declared.is_probability
            else y,
            train[start_column(role)].to_numpy(dtype="float64"),
        )
        for role in roles.values()
    }
    return dict(boost_start) | {"roles": roles, "fallback": fallbacks}


def with_init_score(boost_start: Mapping[str, Any], part: str, rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with the booster part's start, filled, where LightGBM's trainer reads it."""
    role = boost_start["roles"][part]
    start = rows[start_column(role)].to_numpy(dtype="float64")
    return rows.assign(**{INIT_SCORE: offsets.filled(start, boost_start["fallback"][role])})


def refit_bundle(
    evaluated: ModelBundle,
    frame: pd.DataFrame,
    *,
    label: str,
    calibration: pd.DataFrame,
    data_window: dict[str, Any],
    seed: int = 7,
    fit: Callable[..., ModelBundle] | None = None,
    calibration_kind: CalibrationKind = "cross_fitted",
    **boost_start: Any,
) -> ModelBundle:
    """The model to deploy: the evaluated model's recipe refit on ``frame`` (every matured
    cutoff up to the freshest) with the evaluated boosters' numbers of trees.

    Calibrated where the evaluated model's calibration was kept (it transferred out of
    time), on ``calibration_kind``: "cross_fitted", the recipe's out-of-fold scores of
    ``frame`` (:func:`cross_fitted_scores`); "transferred", the evaluated model's scores of
    ``calibration`` (its test rows), which the ablations keep to measure against; "none".
    ``fit`` is :func:`fit_bundle` or its Dask twin; ``boost_start`` as for it.
    """
    fit = fit or fit_bundle
    deployed = refit_recipe(
        evaluated, frame, label=label, data_window=data_window, seed=seed, fit=fit, **boost_start
    )
    if not evaluated.calibrator or calibration_kind == "none":
        deployed.calibrator = None
    elif calibration_kind == "cross_fitted":
        raw, outcome = cross_fitted_scores(
            evaluated, frame, label=label, seed=seed, fit=fit, **boost_start
        )
        deployed.calibrator = fit_calibrator(raw, outcome)
    else:  # "transferred": the evaluated model's calibration of its test rows
        raw, outcome = uncalibrated(evaluated, calibration, label)
        deployed.calibrator = fit_calibrator(raw, outcome)
    return deployed


def refit_recipe(
    evaluated: ModelBundle,
    rows: pd.DataFrame,
    *,
    label: str,
    data_window: dict[str, Any],
    seed: int,
    fit: Callable[..., ModelBundle],
    **options: Any,
) -> ModelBundle:
    """The evaluated model's recipe fitted on ``rows`` with its boosters' numbers of trees,
    uncalibrated."""
    from training.datasets import LEFT_OUT

    return fit(
        evaluated.task,
        rows,
        rows,
        label=label,
        feature_names=evaluated.feature_names,
        service=evaluated.service,
        label_spec=evaluated.label,
        data_window=data_window,
        seed=seed,
        rounds_of=evaluated,
        unlearned=evaluated.data_window.get(LEFT_OUT, {}).get("features", ()),
        calibrate=False,  # refit_bundle's calibrator, on out-of-fold scores or none
        **options,
    )


CALIBRATION_FOLDS = 2  # the refit's recipe fitted twice more, each on half of the users


def user_folds(users: pd.Series, folds: int, seed: int) -> np.ndarray:
    """Each row's fold: every row of a user (all their cutoffs) in the same one."""
    codes, names = pd.factorize(users.astype(str), sort=True)
    return np.random.default_rng(seed).permutation(len(names))[codes] % folds


def cross_fitted_scores(
    evaluated: ModelBundle,
    frame: pd.DataFrame,
    *,
    label: str,
    seed: int,
    fit: Callable[..., ModelBundle],
    **boost_start: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """What the refit's calibrator is fitted on: its recipe's probability (uncalibrated) of
    each row of ``frame``, scored by the recipe refit on the other folds' users, and the
    outcome. No row is scored by a model that learned from its user, and the scores are on
    the refit's own scale and level (the evaluated model's test scores are neither: it
    learned from older cutoffs, and calibrating the refit with them undoes a drift that
    the refit has already learned)."""
    fold = user_folds(frame[USER_ID], CALIBRATION_FOLDS, seed)
    raw, outcome = np.empty(len(frame)), np.empty(len(frame))
    for k in range(CALIBRATION_FOLDS):
        held = fold == k
        part = refit_recipe(
            evaluated,
            frame[~held],
            label=label,
            data_window={},
            seed=seed,
            fit=fit,
            probability_only=True,
            **boost_start,
        )
        raw[held], outcome[held] = uncalibrated(part, frame[held], label)
    return raw, outcome


def uncalibrated(
    bundle: ModelBundle, rows: pd.DataFrame, label: str
) -> tuple[np.ndarray, np.ndarray]:
    """The probability the bundle calibrates (churn, conversion: the booster's; LTV: its
    purchase part's) on ``rows``, before calibration, and the outcome it predicts."""
    matrix = bundle.matrix(rows).to_numpy(dtype="float64")
    outcome = rows[label].to_numpy(dtype="float64")
    if bundle.purchase_booster is not None:
        return bundle.purchase_matrix_uncalibrated(matrix), (outcome > 0).astype(float)
    return bundle.raw_score_matrix(matrix), outcome


def calibration_transfers(evaluated: ModelBundle, rows: pd.DataFrame, label: str) -> dict[str, Any]:
    """Did calibrating on an earlier period (the validation cutoffs) make the evaluated
    model's probabilities better on a later one (``rows``, its test cutoffs), by ECE?

    Where it did not (a seasonal swing that the earlier period cannot know), the deployed
    model keeps LightGBM's own probabilities, which average over every training cutoff.
    """
    from training.evaluation import expected_calibration_error

    raw, outcome = uncalibrated(evaluated, rows, label)
    raw_ece = expected_calibration_error(outcome, raw)
    calibrated_ece = expected_calibration_error(outcome, evaluated.calibrator(raw))
    return {
        "transfers": bool(calibrated_ece <= raw_ece),
        "ece_calibrated": float(calibrated_ece),
        "ece_raw": float(raw_ece),
    }


def local_trainer(
    draft: ModelBundle,
    train: pd.DataFrame,
    valid: pd.DataFrame,
    label: str,
    categorical: list[int],
    spec: ModelSpec,
    seed: int,
) -> Booster:
    """Boosting in this process, with LightGBM's early stopping on ``valid``; a refit (``valid``
    is ``train``) grows its fixed number of trees without scoring them."""
    import lightgbm as lgb

    refit = valid is train
    x_train = draft.matrix(train)
    x_valid = x_train if refit else draft.matrix(valid)
    params = spec.lgb_params(seed, rows=len(train))

    def dataset(matrix: pd.DataFrame, rows: pd.DataFrame, **options: Any) -> Any:
        """LightGBM's data of ``rows``, from their start where boosting from one."""
        start = rows[INIT_SCORE].to_numpy() if INIT_SCORE in rows.columns else None
        return lgb.Dataset(
            matrix, rows[label], init_score=start, categorical_feature=categorical, **options
        )

    def booster_for(objective_params: dict[str, Any]) -> Any:
        data = dataset(x_train, train, free_raw_data=False)
        if refit:
            return lgb.train(params | objective_params, data, num_boost_round=spec.num_boost_round)
        check = dataset(x_valid, valid, reference=data)
        stops = [lgb.early_stopping(spec.early_stopping_rounds, verbose=False)]
        if spec.certain_loss is not None:
            stops.append(stop_when_certain(spec.certain_loss))
        return lgb.train(
            params | objective_params,
            data,
            num_boost_round=spec.num_boost_round,
            valid_sets=[check],
            callbacks=stops,
        )

    return booster_for


def stop_when_certain(loss: float) -> Callable[[Any], None]:
    """A LightGBM callback ending the boosting at the round whose validation log loss is
    below ``loss`` (that round the best: ``ModelSpec.certain_loss``)."""
    import lightgbm as lgb

    def stop(env: Any) -> None:
        for _, metric, value, _ in env.evaluation_result_list:
            if metric == "binary_logloss" and value < loss:
                raise lgb.callback.EarlyStopException(env.iteration, env.evaluation_result_list)

    stop.order = 40  # type: ignore[attr-defined]  # after early stopping's own (30)
    return stop


# What one isotonic step's rate is pulled toward the overall rate by, in rows: a step of
# few rows, all churned or none, is no evidence of a certainty (0 or 1).
STEP_PRIOR_ROWS = 1.0


def _shrunk_steps(raw: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Isotonic regression's steps (both ends of each, as sklearn keeps them), each step's
    rate the posterior mean under a prior of ``STEP_PRIOR_ROWS`` rows at the overall rate,
    then made monotone again (pooled, weighted by rows). Plain isotonic regression puts the
    end steps at exactly 0 or 1 wherever a few rows at the extreme agree: telco's fold
    calibrators gave 26 customers 0.996 (89% churned) and 328 customers 0.00003 (0.6%)."""
    from sklearn.isotonic import IsotonicRegression, isotonic_regression

    order = np.argsort(raw, kind="stable")
    xs, ys = raw[order], y[order]
    fitted = IsotonicRegression(out_of_bounds="clip").fit(xs, ys).predict(xs)
    starts = np.flatnonzero(np.r_[True, np.diff(fitted) != 0])
    rows = np.diff(np.r_[starts, len(xs)])
    hits = np.add.reduceat(ys, starts)
    shrunk = (hits + STEP_PRIOR_ROWS * ys.mean()) / (rows + STEP_PRIOR_ROWS)
    shrunk = isotonic_regression(shrunk, sample_weight=rows)
    lows, highs = xs[starts], xs[np.r_[starts[1:], len(xs)] - 1]
    x = np.column_stack([lows, highs]).ravel()
    steps = np.repeat(shrunk, 2)
    keep = np.r_[True, np.diff(x) > 0]  # a step of one raw value is one point
    return x[keep], steps[keep]


def fit_calibrator(raw: np.ndarray, y: np.ndarray) -> Calibrator:
    """Isotonic regression of the outcome on the raw score (its steps shrunk toward the
    overall rate by ``STEP_PRIOR_ROWS``), with Platt scaling to break ties."""
    from sklearn.linear_model import LogisticRegression

    raw = np.asarray(raw, dtype="float64")
    x, steps = _shrunk_steps(raw, np.asarray(y, dtype="float64"))
    probability = bool(raw.min(initial=0.0) >= 0.0 and raw.max(initial=0.0) <= 1.0)
    linked = logit(raw) if probability else raw
    # on a standard scale, so that the fit does not depend on the score's units
    center, spread = float(linked.mean()), float(linked.std()) or 1.0
    platt = LogisticRegression(C=1e6, max_iter=1000).fit(
        ((linked - center) / spread).reshape(-1, 1), y
    )
    slope = float(platt.coef_[0][0]) / spread
    intercept = float(platt.intercept_[0]) - slope * center
    if not slope > 0:  # the score ranks the other way here: ties still follow its order
        slope, intercept = 1.0 / spread, -center / spread
    return Calibrator(
        x=[float(v) for v in x],
        y=[float(v) for v in steps],
        slope=slope,
        intercept=intercept,
        link="logit" if probability else "identity",
    )


def importances(bundle: ModelBundle) -> pd.Series:
    gain = bundle.booster.feature_importance(importance_type="gain")
    return pd.Series(gain, index=bundle.feature_names).sort_values(ascending=False)
