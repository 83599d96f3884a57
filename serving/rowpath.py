"""A request of a few users scored on Python floats: the per-row form of the one scoring
definition (``serving.scoring.score_matrix``), giving its answers to the last bit.

For one user the array definition's maths after the trees (calibration, the LTV interval
from its quantile models, bands, the purchase outlook) is ~60 numpy calls of 1-2 µs on
arrays of one element, three times the trees themselves. Here each booster still predicts
every row of the request in one call, and the maths runs on floats through the same
formula functions as the arrays, given ``lifecycle.maths.FLOATS`` in place of ``ARRAYS``:
calibration (``Calibrator``), the expected value, conditional and mixture quantiles
(``lifecycle.bundle``), risk bands (``serving.segments.risk_band_rules``), value at risk,
the purchase history in weeks and the log odds of having dropped (``lifecycle.btyd``,
``btyd_features``), a blended BG/NBD + Gamma-Gamma rule's value (its interval stays on
arrays, checking the purchase histories once), the stage (``stage_of_values``). IEEE arithmetic is the same on a
float and on an array element, and FLOATS' functions are numpy's or redo them exactly
(``tests/test_rowpath.py`` compares them, and every field with the array path's). The
populations and reasons keep their array definitions (one call each for the request).

Written per shape, as sharing would cost the float path more than ~5% or make the arrays
loop: stacking and sorting each user's quantile predictions (``np.sort`` of a matrix vs
``list.sort``), the closed-form purchase count's check and its quadrature fallback (a mask
over the rows in ``BGNBD._outlook``), which users have a purchase history and what
``_validate_rfm`` refuses, and the answer's assembly (None for NaN, column order).

A value outside what the float form handles (a NaN prediction, an input the purchase
outlook refuses, a power numpy computes with another function) sends the request back to
the array path, which answers or raises as it always has.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.special import expit

from features import contract as c
from features.labels import LabelSpec
from lifecycle import tasks
from lifecycle.btyd import (
    BGNBD,
    GammaGamma,
    _expected_purchases_if_alive,
    _expected_purchases_if_alive_by_quadrature,
    log_odds_dropped,
    purchase_model,
)
from lifecycle.btyd_features import PURCHASE_HISTORY, rfm_of_values
from lifecycle.bundle import QUANTILES, conditional_quantile, expected_value
from lifecycle.maths import FLOATS
from lifecycle.mixture import mixture_quantiles_of, zero_below
from lifecycle.tasks import CHURN, CONVERSION, LTV
from serving.churn_reasons import champion_reasons
from serving.scoring import value_at_risk
from serving.segments import STAGE_COLUMNS, beyond_signup, risk_band_rules, stage_of_values

if TYPE_CHECKING:
    from lifecycle.bundle import ModelBundle
    from serving.feature_matrix import FeatureMatrix
    from serving.scoring import Champions, KnownReasons

# Requests up to this many users take the float path: measured against the arrays on the
# 5,000-user demo (CPU ms of scoring, loaded box), 1 user 0.51 vs 1.13, 8: 1.15 vs 1.97,
# 32: 2.51 vs 2.55, 64: 3.90 vs 3.73, 100: 6.09 vs 4.79.
MAX_ROWS = 32
# numpy computes ``array ** e`` for these exponents with other functions (square, sqrt,
# reciprocal) than ``pow``: the purchase outlook of such a model stays on arrays.
_NUMPY_SPECIAL_POWERS = (-1.0, 0.0, 0.5, 1.0, 2.0)


class OffThePath(ArithmeticError):
    """A value the float form does not reproduce: the array path scores the request."""


@dataclass(frozen=True)
class RowModel:
    """What the float path reads of a champion bundle besides its boosters: built with the
    model set it belongs to (``serving.scorer.Loaded.row_models``), gone with it."""

    bundle: ModelBundle
    population: LabelSpec
    levels: list[float]  # quantile levels, ascending
    level_positions: list[float]  # 0, 1, ... (mixture quantiles interpolate them)
    process: BGNBD | None  # the purchase process
    horizon_weeks: float
    blend: BlendRule | None = None  # a BG/NBD + Gamma-Gamma rule blended into the value


@dataclass(frozen=True)
class BlendRule:
    """A blended BG/NBD + Gamma-Gamma rule (``lifecycle.rules.RuleModel._bgnbd_value``) as
    the float path reads it: its processes and where its inputs are in the model's matrix."""

    process: BGNBD
    horizon_weeks: float
    spend: GammaGamma
    columns: tuple[int, int, int, int]  # orders, days since the first and last, order value


def row_models(champions: Champions) -> dict[str, RowModel]:
    """Each champion's :class:`RowModel`, by task."""
    return {task: _row_model(bundle) for task, bundle in champions.bundles.items()}


def _row_model(bundle: ModelBundle) -> RowModel:
    levels = sorted(bundle.quantile_boosters)
    process = None
    if bundle.purchase_process is not None:
        process = purchase_model(bundle.purchase_process)
    return RowModel(
        bundle,
        LabelSpec.from_dict(bundle.label),
        levels,
        [float(k) for k in range(len(levels))],
        process,
        float(bundle.label.get("horizon_days") or 0.0) / 7.0,
        _blend_rule(bundle),
    )


def _blend_rule(bundle: ModelBundle) -> BlendRule | None:
    """The bundle's blended BG/NBD + Gamma-Gamma rule; None for another rule or none (the
    arrays blend those), or one whose inputs the matrix lacks (the arrays raise)."""
    rule = bundle.blend
    if rule is None or rule.kind != "bgnbd_gamma_gamma" or "gamma_gamma" not in rule.params:
        return None  # (one order value, rules.ORDER_VALUE: the arrays blend it)
    names = rule.inputs()
    if not set(names) <= set(rule.feature_names):
        return None
    params = rule.params
    return BlendRule(
        purchase_model(params["bgnbd"]),
        float(params["horizon_days"]) / 7.0,  # outlook_of_columns' weeks
        GammaGamma(*(float(params["gamma_gamma"][k]) for k in ("p", "q", "v"))),
        tuple(rule.feature_names.index(name) for name in names),  # type: ignore[arg-type]
    )


def _rule_values(rule: BlendRule, X: np.ndarray) -> list[float]:
    """``RuleModel.predict`` of a BG/NBD + Gamma-Gamma rule (expected purchases x the
    expected order value, 0 without a purchase) on the rows of ``X``, in floats."""
    p, q, v = rule.spend.p, rule.spend.q, rule.spend.v
    values = []
    for orders, first, last, spent in zip(*(X[:, j].tolist() for j in rule.columns), strict=True):
        outlook = _outlook(rule.process, rule.horizon_weeks, orders, first, last)
        # GammaGamma.expected_average_value of the repeat orders and the mean order value
        repeat = max((0.0 if orders != orders else orders) - 1, 0.0)
        spent = 0.0 if spent != spent or spent < 0 else spent
        if not (math.isfinite(repeat) and math.isfinite(spent)):
            raise OffThePath("a non-finite purchase history")  # _as_arrays refuses it
        denominator = p * repeat + q - 1
        if denominator <= 0:
            raise OffThePath("Gamma-Gamma's expected value is undefined")
        spend = p * (v + repeat * (spent if repeat > 0 else 0.0)) / denominator
        value = 0.0 if outlook is None else outlook[1] * spend  # np.nan_to_num's NaN
        if value != value:
            value = 0.0
        elif math.isinf(value):
            raise OffThePath("an infinite rule value")  # nan_to_num: the largest float
        values.append(value)
    return values


def _probabilities(bundle: ModelBundle, booster: Any, X: np.ndarray) -> list[float]:
    """A booster's calibrated outputs (``predict_matrix`` / ``purchase_matrix``)."""
    raw = bundle.predict_trees(booster, X).tolist()
    calibrator = bundle.calibrator
    return raw if calibrator is None else [calibrator(v, FLOATS) for v in raw]


def _value_outlook(model: RowModel, X: np.ndarray) -> list[list[float]]:
    """``ModelBundle.value_outlook_matrix`` as rows of floats (NaN where no such part)."""
    bundle = model.bundle
    if bundle.rule_outlook:
        raise OffThePath("a BG/NBD + Gamma-Gamma rule's interval")  # arrays: no float form
    nan = math.nan
    purchase = (
        None
        if bundle.purchase_booster is None
        else _probabilities(bundle, bundle.purchase_booster, X)
    )
    raw = bundle.raw_score_matrix(X).tolist()
    values = (
        [expected_value(v, None, FLOATS) for v in raw]
        if purchase is None
        else [expected_value(v, p, FLOATS) for v, p in zip(raw, purchase, strict=True)]
    )
    if model.blend is None:
        values = bundle.blended(values, X)
    else:  # ModelBundle.blended (blend_values) in floats
        weight = bundle.blend_weight
        values = [
            weight * own + (1.0 - weight) * rule
            for own, rule in zip(values, _rule_values(model.blend, X), strict=True)
        ]
    quantiles = [
        bundle.predict_trees(bundle.quantile_boosters[q], X).tolist() for q in model.levels
    ]
    scale = bundle.quantile_scale
    picked = [model.levels.index(q) for q in QUANTILES] if purchase is None else []
    # a blended interval: the rule's exact quantiles (arrays, of these rows only), then the
    # weighted mean as ModelBundle.blend_values takes it, in floats
    weight = bundle.blend_weight
    rule_quantiles = (
        bundle.blend.value_outlook(X)[:, :3].tolist() if bundle.blends_interval else None
    )
    rows = []
    for row, value in enumerate(values):
        interval = [nan, nan, nan]
        if quantiles:
            stacked = [conditional_quantile(level[row], scale, FLOATS) for level in quantiles]
            if any(v != v for v in stacked):
                raise OffThePath("a NaN quantile")  # np.sort places NaN last; sorted() does not
            stacked.sort()
            interval = (
                [stacked[k] for k in picked]
                if purchase is None
                else mixture_quantiles_of(
                    purchase[row],
                    model.levels,
                    model.level_positions,
                    stacked.__getitem__,
                    QUANTILES,
                    FLOATS,
                )
            )
            if rule_quantiles is not None:
                interval = [
                    weight * own + (1.0 - weight) * rule
                    for own, rule in zip(interval, rule_quantiles[row], strict=True)
                ]
                if purchase is not None:
                    interval = zero_below(purchase[row], interval, QUANTILES, FLOATS)
        rows.append([value, *interval, nan if purchase is None else purchase[row]])
    return rows


def purchase_outlook(
    model: RowModel, orders: float, first: float, last: float
) -> tuple[float, float] | None:
    """``lifecycle.btyd.outlook_of_columns`` (p_alive, expected purchases) of one user; None
    for a user without a purchase."""
    assert model.process is not None
    return _outlook(model.process, model.horizon_weeks, orders, first, last)


def _outlook(
    process: BGNBD, horizon: float, orders: float, first: float, last: float
) -> tuple[float, float] | None:
    """:func:`purchase_outlook` of a process and a horizon in weeks."""
    if not (orders >= 1 and math.isfinite(first) and math.isfinite(last)):
        return None
    x, t_x, t_obs = rfm_of_values(orders, first, last, 7.0, FLOATS)  # rfm_of_columns's weeks
    # what _validate_rfm refuses: the array path raises its error
    if not (math.isfinite(x) and math.isfinite(t_x) and math.isfinite(t_obs)):
        raise OffThePath("a non-finite purchase history")
    if x != round(x) or t_x > t_obs * (1 + 1e-12) + 1e-12:
        raise OffThePath("a purchase history the outlook refuses")
    r, alpha, a, b = process.params
    if a - 1 in _NUMPY_SPECIAL_POWERS:
        raise OffThePath("a power numpy computes otherwise")
    first_chance = process.FIRST
    log_odds = (
        log_odds_dropped(process.params, x, t_x, t_obs, first_chance, FLOATS)
        if x + first_chance > 0
        else -math.inf
    )
    alive = float(expit(-log_odds))
    posterior = (r, alpha, a, b + first_chance)
    given_alive = float(
        _expected_purchases_if_alive(posterior, horizon, x, t_obs, FLOATS)  # type: ignore[arg-type]
    )
    upper_bound = (r + x) * horizon / (alpha + t_obs)
    if (
        not math.isfinite(given_alive)
        or given_alive < 0
        or given_alive > upper_bound * (1 + 1e-9) + 1e-300
    ):
        given_alive = _expected_purchases_if_alive_by_quadrature(posterior, horizon, x, t_obs)
    return alive, given_alive * alive


def score_rows(
    champions: Champions,
    models: dict[str, RowModel],
    features: FeatureMatrix,
    *,
    reasons: bool = True,
    known_reasons: KnownReasons | None = None,
) -> dict[str, list[Any]]:
    """:func:`serving.scoring.score_matrix` of a few rows, as JSON-ready lists (None for
    NaN), ``models`` the :func:`row_models` of the champions (or of a superset); raises
    :class:`OffThePath` where only the array path answers alike."""
    try:
        return _score_rows(champions, models, features, reasons, known_reasons)
    except (OverflowError, ValueError, ZeroDivisionError) as error:  # numpy: inf or NaN
        raise OffThePath(str(error)) from error


def _score_rows(
    champions: Champions,
    models: dict[str, RowModel],
    features: FeatureMatrix,
    reasons: bool,
    known_reasons: KnownReasons | None,
) -> dict[str, list[Any]]:
    for bundle in champions.bundles.values():  # before any work: the array path answers
        if bundle.bridge is not None:
            raise OffThePath("a model put on a longer horizon than it learned")
    count = len(features)
    out: dict[str, list[Any]] = {c.USER_ID: features.user_ids.tolist()}
    for task in tasks.all_tasks():
        bundle = champions.bundles.get(task.name)
        if bundle is None:
            continue
        model = models[task.name]
        eligible = model.population.eligible_columns(features.column, count)
        chosen = eligible.tolist()
        X = features.model(task.name)
        if bundle.is_probability:
            scores = _probabilities(bundle, bundle.booster, X)
            out[task.score] = [s if e else None for s, e in zip(scores, chosen, strict=True)]
        else:
            width = 5 if bundle.purchase_booster is not None else 4  # no P(any value): no column
            outlook = [
                [None if v != v else v for v in row[:width]] if e else [None] * width
                for row, e in zip(_value_outlook(model, X), chosen, strict=True)
            ]
            out.update(zip(task.outputs, map(list, zip(*outlook, strict=True)), strict=False))
        if task.reasons and reasons and task.name not in champions.partners:
            out["reasons"] = champion_reasons(champions, bundle, features, eligible, known_reasons)
    if champions.one_event:  # a one-time buyer's conversion: no churn (Champions.one_event)
        pairs = zip(out[CHURN.score], out[CONVERSION.score], strict=True)
        out[CONVERSION.score] = [b if a is None or b is None else 1.0 - a for a, b in pairs]
    churn = out.get(CHURN.score)
    if churn is not None:
        high, medium = champions.bands
        bands = [
            None
            if p is None
            else next((band for hit, band in risk_band_rules(p, high, medium) if hit), "low")
            for p in churn
        ]
        names = list(out)
        at = names.index(CHURN.score) + 1
        out = {
            **{name: out[name] for name in names[:at]},
            "risk_band": bands,
            **{name: out[name] for name in names[at:]},
        }
        if LTV.score in out:
            out["value_at_risk"] = [
                None if p is None or v is None else value_at_risk(p, v)
                for p, v in zip(churn, out[LTV.score], strict=True)
            ]
    outlook = champions.outlook_bundle()
    process = models[outlook.task] if outlook is not None else None
    if process is not None and process.process is not None:
        histories = zip(
            *(features.column(name).tolist() for name in PURCHASE_HISTORY),
            strict=True,
        )
        outlooks = [purchase_outlook(process, *history) for history in histories]
        out["p_alive"] = [None if o is None else o[0] for o in outlooks]
        out["expected_purchases"] = [None if o is None else o[1] for o in outlooks]
    stage_inputs = zip(
        *(
            features.column(name).tolist()
            for name in ("tenure_days", "recency_days", *STAGE_COLUMNS)
        ),
        churn or [None] * count,
        zip(*(v.tolist() for v in beyond_signup(features.column, count)), strict=True),
        strict=True,
    )
    out["lifecycle_stage"] = [
        stage_of_values(*inputs, champions.bands[0], beyond) for *inputs, beyond in stage_inputs
    ]
    for name, values in out.items():  # NaN as None, as the answer has it
        if name != "reasons" and any(v != v for v in values):
            out[name] = [None if v != v else v for v in values]
    return out
