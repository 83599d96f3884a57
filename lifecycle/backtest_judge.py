"""A backtest's verdict: what happened after the cutoff, what the model and each baseline
forecast from the data up to it, and the metrics, bootstrap intervals and plots that compare
them. Outcomes use the label definitions of ``features.labels`` on the full dataset.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features import contract as c
from lifecycle.backtest_attribute import ATTRIBUTE, AttributeRule
from lifecycle.settings import LabelSettings
from lifecycle.sql import literal

MODEL = "lifecycle"  # what the product serves: LightGBM, or the baseline rule that beat it
BASELINES = ("recency", "last_period_value", "rfm_score", "bgnbd_gamma_gamma")  # always judged
NO_VALUE_FORECAST = "no_value_forecast"  # a verdict's baselines without a value forecast: why
NO_ACTIVE_FORECAST = "no_active_forecast"  # ... without a P(active): why (BG/NBD not fitted)


# -- what happened, and what each method forecast ----------------------------------------


def nothing_to_judge(truth: pd.DataFrame, cutoff: pd.Timestamp) -> str | None:
    """Why no score can be judged by what followed ``cutoff`` (:func:`outcomes` of its users):
    nobody or everybody active, or no value (a 1-day horizon on a day the shop was shut)."""
    active, value = int(truth["active"].eq(True).sum()), float(truth["value"].fillna(0).sum())
    if active in (0, len(truth)) or value <= 0:
        return (
            f"backtest at {cutoff:%Y-%m-%d}: of {len(truth):,} users {active:,} were active "
            f"and their value sums to {value:,.2f} after the cutoff: nothing to judge by"
        )
    return None


def outcomes(
    events_path: Path, users_path: Path | None, cutoff: pd.Timestamp, labels: LabelSettings
) -> pd.DataFrame:
    """What happened after ``cutoff`` per user known at it (index user_id), from the full data.

    ``active``: any activity within the churn horizon; ``bought``: any purchase and ``value``:
    purchases minus refunds (the ltv label), within the ltv horizon; ``converted``: the
    conversion label (NaN for users not eligible). An unmatured horizon is refused
    (``features.asof.FeatureError``).
    """
    from features.asof import connect
    from features.event_types import is_activity
    from features.labels import LABEL, compute_labels, label_spec

    users = users_path if users_path is not None and users_path.is_file() else None
    value = compute_labels(events_path, [cutoff], label_spec("ltv", labels), users=users)
    # an auto target is decided as the cutoff's training decided it: from the events and
    # sign-ups up to the cutoff, never from what came after it
    conversion = label_spec("conversion", labels, events=events_path, users=users, until=cutoff)
    converted = compute_labels(events_path, [cutoff], conversion, users=users)
    at = f"'{cutoff.isoformat()}'::TIMESTAMPTZ"
    active_days, value_days = labels.churn_horizon_days, labels.ltv_horizon_days
    happened = (
        connect()
        .execute(
            f"""SELECT {c.USER_ID},
               bool_or({is_activity(c.EVENT_TYPE, labels.not_activity_types)}
                       AND {c.EVENT_TIME} <= {at} + INTERVAL {active_days} DAY) AS active,
               bool_or({c.EVENT_TYPE} = '{c.PURCHASE}'
                       AND {c.EVENT_TIME} <= {at} + INTERVAL {value_days} DAY) AS bought
            FROM read_parquet({literal(events_path)})
            WHERE {c.EVENT_TIME} > {at}
              AND {c.EVENT_TIME} <= {at} + INTERVAL {max(active_days, value_days)} DAY
            GROUP BY 1"""
        )
        .df()
    )
    frame = value.set_index(c.USER_ID)[[LABEL]].rename(columns={LABEL: "value"})
    frame = frame.join(happened.set_index(c.USER_ID)[["active", "bought"]])
    frame[["active", "bought"]] = frame[["active", "bought"]].eq(True)  # no event: False
    frame["converted"] = converted.set_index(c.USER_ID)[LABEL].reindex(frame.index).astype(float)
    return frame


def spend_before(
    events_path: Path, user_ids: pd.Series, cutoff: pd.Timestamp, days: int
) -> np.ndarray:
    """Each user's value in ``(cutoff - days, cutoff]``: the ltv label of the period that ends
    at the cutoff (every user is made known at its start, so each gets a row; only events in
    the period are read)."""
    from features.labels import LABEL, LabelSpec, compute_labels

    start = cutoff - pd.Timedelta(days=days)
    everyone = pd.DataFrame(
        {c.USER_ID: user_ids.to_numpy(), c.SIGNUP_TIME: pd.Series(start, index=user_ids.index)}
    )
    spent = compute_labels(events_path, [start], LabelSpec("ltv", days), users=everyone)
    return user_ids.map(spent.set_index(c.USER_ID)[LABEL]).fillna(0.0).to_numpy(dtype=float)


@dataclass
class Forecasts:
    """Per method, aligned with the users: a P(active) or activity ranking, and a value
    forecast or value ranking. ``probabilities`` and ``amounts`` say which are which."""

    active: dict[str, np.ndarray] = field(default_factory=dict)
    value: dict[str, np.ndarray] = field(default_factory=dict)
    probabilities: set[str] = field(default_factory=set)
    amounts: set[str] = field(default_factory=set)
    interval: tuple[np.ndarray, np.ndarray] | None = None  # the model's ltv P10, P90
    zero_probability: np.ndarray | None = None  # the model's P(ltv = 0), for ties at 0
    unscored: np.ndarray | None = None  # users without a churn score (P(active) 0)
    attribute: dict[str, Any] | None = None  # the attribute baseline's choice, where it has one
    no_value: dict[str, str] = field(default_factory=dict)  # a baseline without a value: why
    no_active: dict[str, str] = field(default_factory=dict)  # ... without a P(active): why

    @property
    def blank_churn(self) -> int:
        return 0 if self.unscored is None else int(self.unscored.sum())

    @property
    def baselines(self) -> list[str]:
        """The baselines these forecasts hold (or say why they have none): every one of
        BASELINES, and the attribute's where the data has a users file."""
        held = (self.active, self.value, self.no_active, self.no_value)
        return [b for b in (*BASELINES, ATTRIBUTE) if any(b in h for h in held)]

    def subset(self, keep: np.ndarray) -> Forecasts:
        """The same forecasts of the users where ``keep`` is True."""
        return Forecasts(
            {m: v[keep] for m, v in self.active.items()},
            {m: v[keep] for m, v in self.value.items()},
            set(self.probabilities),
            set(self.amounts),
            None if self.interval is None else (self.interval[0][keep], self.interval[1][keep]),
            None if self.zero_probability is None else self.zero_probability[keep],
            None if self.unscored is None else self.unscored[keep],
            self.attribute,
            self.no_value,
            self.no_active,
        )


def forecasts(
    scores: pd.DataFrame,
    feature_rows: pd.DataFrame,
    scratch_events: Path,
    full_events: Path,
    cutoff: pd.Timestamp,
    labels: LabelSettings,
    attribute: AttributeRule | None = None,
) -> Forecasts:
    """The model's scores and the baselines', from data at or before the cutoff only
    (``attribute``: the attribute baseline fitted on the training cutoffs, if any)."""
    from training.baselines import (
        NO_VALUE,
        NoForecast,
        bgnbd_activity,
        bgnbd_forecast,
        classification_baselines,
    )
    from training.label_free import activity_beyond_purchases

    found = Forecasts()
    if "churn_probability" in scores:
        churn = scores["churn_probability"].to_numpy(dtype=float)
        # An unscored user counts as not active: P(active) 0 (churn probability 1).
        found.unscored = np.isnan(churn)
        found.active[MODEL] = np.where(np.isnan(churn), 0.0, 1.0 - churn)
        found.probabilities.add(MODEL)
    if "ltv" in scores:
        found.value[MODEL] = scores["ltv"].to_numpy(dtype=float)
        found.amounts.add(MODEL)
        low, high = (scores[k].to_numpy(dtype=float) for k in ("ltv_p10", "ltv_p90"))
        if np.isfinite(low).all() and np.isfinite(high).all():  # most served rules have none
            found.interval = (low, high)
            if "purchase_probability" in scores:
                found.zero_probability = 1.0 - scores["purchase_probability"].to_numpy(dtype=float)
    rules = classification_baselines("churn", feature_rows, feature_rows)  # higher: churn
    found.active["recency"] = found.value["recency"] = -rules["recency_rule"]
    found.active["rfm_score"] = found.value["rfm_score"] = -rules["rfm_score"]
    spent = spend_before(full_events, scores[c.USER_ID], cutoff, labels.ltv_horizon_days)
    found.active["last_period_value"] = found.value["last_period_value"] = spent
    found.amounts.add("last_period_value")
    # P(at least one purchase in the horizon), exactly (``BGNBD.probability_of_no_purchase``);
    # non-buyers: 0. Where activity is more than purchases, churn is no activity: BG/NBD
    # of active days, as a log of visits is modelled.
    purchases_only = activity_beyond_purchases(feature_rows) is None
    horizons = {labels.ltv_horizon_days} | (
        {labels.churn_horizon_days} if purchases_only else set()
    )
    # too few customers to fit (a young log): no forecast, said why, as the served rules do
    fitted: dict[int, pd.DataFrame] = {}
    no_fit = ""
    try:
        fitted = {  # one fit per distinct horizon
            horizon: bgnbd_forecast(scratch_events, cutoff, horizon) for horizon in horizons
        }
    except NoForecast as error:
        no_fit = str(error)
    active, no_active = None, no_fit
    if not purchases_only:
        try:
            active = bgnbd_activity(
                scratch_events, cutoff, labels.churn_horizon_days, labels.not_activity_types
            )
        except NoForecast as error:
            no_active = str(error)
    elif fitted:
        active = fitted[labels.churn_horizon_days]["p_purchase"]
    if active is None:
        found.no_active["bgnbd_gamma_gamma"] = no_active
    else:
        found.active["bgnbd_gamma_gamma"] = active.reindex(scores[c.USER_ID]).fillna(0.0).to_numpy()
        found.probabilities.add("bgnbd_gamma_gamma")
    spend = fitted.get(labels.ltv_horizon_days)
    if why := no_fit if spend is None else spend.attrs.get(NO_VALUE):  # none judged, said why
        found.no_value["bgnbd_gamma_gamma"] = why
    else:
        value = spend["expected_value"].reindex(scores[c.USER_ID]).fillna(0.0)
        found.value["bgnbd_gamma_gamma"] = value.to_numpy()
        found.amounts.add("bgnbd_gamma_gamma")
    if attribute is not None:
        found.active[ATTRIBUTE] = attribute.p_active(feature_rows[attribute.attribute])
        found.value[ATTRIBUTE] = attribute.value(feature_rows[attribute.attribute])
        found.probabilities.add(ATTRIBUTE)
        found.amounts.add(ATTRIBUTE)
        found.attribute = attribute.describe()
    return found


# -- metrics ------------------------------------------------------------------------------


def judge(
    truth: pd.DataFrame,
    found: Forecasts,
    scores: pd.DataFrame,
    *,
    resamples: int,
    seed: int,
) -> dict[str, Any]:
    """Every method's metrics against what happened, the conversion model's, and the paired
    bootstrap of model minus each baseline."""
    verdict = judge_methods(truth, found, resamples=resamples, seed=seed)
    return verdict | {"conversion": _conversion(truth, scores)}


def judge_methods(
    truth: pd.DataFrame, found: Forecasts, *, resamples: int, seed: int
) -> dict[str, Any]:
    """:func:`judge` but the conversion model: every method's metrics and the paired bootstrap
    of model minus each baseline (the population still active at the cutoff is judged so)."""
    from training import evaluation

    active = truth["active"].to_numpy(dtype=float)
    value = truth["value"].to_numpy(dtype=float)
    methods: dict[str, dict[str, float]] = {}
    for method in (MODEL, *found.baselines):
        metrics: dict[str, float] = {}
        if method in found.active:
            score = found.active[method]
            if method in found.probabilities:
                full = evaluation.classification_metrics(active, score)
                metrics |= {k: full[k] for k in ("auc", "pr_auc", "brier", "ece")}
                metrics |= {"mean_p_active": float(score.mean()), "active_rate": full["base_rate"]}
            else:  # a ranking, not a probability: ranking metrics only
                ranked = pd.Series(score).rank(pct=True).to_numpy()
                full = evaluation.classification_metrics(active, ranked)
                metrics |= {k: full[k] for k in ("auc", "pr_auc")}
            metrics["lift_top_decile"] = full["lift_top_decile"]
        if method in found.value:
            full = evaluation.ltv_metrics(value, found.value[method])
            metrics |= {k: full[k] for k in ("spearman", "normalized_gini")}
            if method in found.amounts:
                metrics |= {
                    "total_error": full["total_error_pct"],  # sum(forecast) / sum(value) - 1
                    "mae": full["mae"],
                    "mean_value_predicted": full["mean_predicted"],
                    "mean_value": full["mean_actual"],
                }
        if method == MODEL and found.interval is not None:
            shares = evaluation.interval_shares(
                value, *found.interval, zero_probability=found.zero_probability
            )
            metrics |= {
                "below_p10": shares["below"],
                "inside_p10_p90": shares["inside"],
                "above_p90": shares["above"],
            }
        methods[method] = metrics
    verdict = {"methods": methods, "bootstrap": _bootstrap(active, value, found, resamples, seed)}
    verdict |= {NO_VALUE_FORECAST: found.no_value} if found.no_value else {}
    verdict |= {NO_ACTIVE_FORECAST: found.no_active} if found.no_active else {}
    return verdict | ({"attribute_baseline": found.attribute} if found.attribute else {})


def _conversion(truth: pd.DataFrame, scores: pd.DataFrame) -> dict[str, Any]:
    """The conversion model on the users it scored and the conversion label covers."""
    from training import evaluation

    if "conversion_probability" not in scores:
        return {"error": "no conversion model"}
    p = scores["conversion_probability"].to_numpy(dtype=float)
    label = truth["converted"].to_numpy(dtype=float)
    both = ~np.isnan(p) & ~np.isnan(label)
    counts = {
        "scored": int((~np.isnan(p)).sum()),
        "labelled": int((~np.isnan(label)).sum()),
        "users": int(both.sum()),
    }
    try:
        full = evaluation.classification_metrics(label[both], p[both])
    except ValueError as error:
        return counts | {"error": str(error)}
    keep = ("auc", "pr_auc", "brier", "ece", "base_rate", "positives")
    return counts | {k: full[k] for k in keep} | {"mean_p": float(p[both].mean())}


def _bootstrap(
    active: np.ndarray, value: np.ndarray, found: Forecasts, resamples: int, seed: int
) -> dict[str, dict[str, dict[str, float]]]:
    """Per baseline: model minus baseline for AUC (P(active)), Spearman and Gini (value)."""
    from training import evaluation

    comparisons = []
    if MODEL in found.active:
        comparisons.append(("auc", evaluation.roc_auc, active, found.active))
    if MODEL in found.value:
        comparisons.append(("spearman", evaluation.spearman, value, found.value))
        comparisons.append(("normalized_gini", evaluation.normalized_gini, value, found.value))
    out: dict[str, dict[str, dict[str, float]]] = {b: {} for b in found.baselines}
    for name, metric, target, by_method in comparisons:
        others = {b: by_method[b] for b in found.baselines if b in by_method}
        differences = evaluation.paired_bootstrap(
            metric, target, by_method[MODEL], others, resamples=resamples, seed=seed
        )
        for baseline, interval in differences.items():
            out[baseline][name] = interval
    return out


def save_plots(folder: Path, truth: pd.DataFrame, found: Forecasts, prefix: str = "") -> list[str]:
    """Gain curves (activity, value), LTV deciles and P(active) calibration, as PNG files
    (their names after ``prefix``)."""
    from training import plots

    active = truth["active"].to_numpy(dtype=float)
    value = truth["value"].to_numpy(dtype=float)
    figures = {
        "gain_active.png": plots.gain_plot(
            active, found.active, value_label="active users", title="Activity after the cutoff"
        ),
        "gain_value.png": plots.gain_plot(
            value, found.value, value_label="value", title="Value after the cutoff"
        ),
        "deciles_value.png": plots.decile_plot(
            value, {m: found.value[m] for m in found.value if m in found.amounts}
        ),
        "calibration_active.png": plots.calibration_plot(
            active,
            {m: found.active[m] for m in found.active if m in found.probabilities},
            title="P(active)",
        ),
    }
    return [str(plots.save(figure, folder / f"{prefix}{name}")) for name, figure in figures.items()]


# -- the verdict in words -----------------------------------------------------------------

METRIC_NAMES = {"auc": "AUC", "spearman": "Spearman", "normalized_gini": "Gini"}


def verdict_lines(verdict: dict[str, Any], blank_churn: int, resamples: int) -> list[str]:
    """The methods table (Spearman, Gini, AUC of P(active), total error, ECE, coverage), the
    conversion model's line and the bootstrap intervals, as lines for a terminal."""
    lines = method_rows(verdict["methods"]) + no_forecast_lines(verdict)
    model = verdict["methods"].get(MODEL, {})
    if "mean_p_active" in model:
        lines.append(
            f"  {MODEL} P(active): mean predicted {model['mean_p_active']:.1%} vs actual "
            f"{model['active_rate']:.1%}; {blank_churn:,} users without a churn score, "
            "counted as P(active) 0"
        )
    if chosen := verdict.get("attribute_baseline"):
        lines.append(
            f"  {ATTRIBUTE}: '{chosen['attribute']}' ({chosen['categories']} categories; AUC "
            f"{chosen['chosen_auc']:.3f} on {chosen['fitted_on'][-1]}, the latest of "
            f"{len(chosen['fitted_on'])} training cutoffs, with rates of the earlier ones)"
        )
    conversion = verdict.get("conversion", {})
    if "auc" in conversion:
        lines.append(
            f"  conversion on {conversion['users']:,} eligible users: AUC {conversion['auc']:.3f}, "
            f"PR-AUC {conversion['pr_auc']:.3f}, ECE {conversion['ece']:.3f}, mean predicted "
            f"{conversion['mean_p']:.1%} vs actual {conversion['base_rate']:.1%}"
        )
    elif "users" in conversion:
        lines.append(f"  conversion: not judged: {conversion['error']}")
    if any(verdict["bootstrap"].values()):
        lines.append(
            f"  {MODEL} minus baseline, 95% bootstrap interval ({resamples:,} resamples of users):"
        )
        lines += baseline_rows(
            verdict["bootstrap"],
            lambda d: f"{d['difference']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]",
        )
    return lines


def no_forecast_lines(verdict: dict[str, Any]) -> list[str]:
    """One line per baseline without a value forecast or a P(active), and why (one line
    where both have one reason: BG/NBD not fitted)."""
    values, active = verdict.get(NO_VALUE_FORECAST, {}), verdict.get(NO_ACTIVE_FORECAST, {})
    lines = []
    for baseline in dict.fromkeys([*active, *values]):
        whys = {"P(active)": active.get(baseline), "value": values.get(baseline)}
        if whys["P(active)"] == whys["value"]:
            lines.append(f"  {baseline} has no forecast: {whys['value']}")
            continue
        lines += [
            f"  {baseline} has no {what} forecast: {why}" for what, why in whys.items() if why
        ]
    return lines


def baseline_rows(by_baseline: dict[str, dict[str, Any]], cell: Callable[[Any], str]) -> list[str]:
    """One terminal line per baseline with something to say: each metric's name and
    ``cell`` of what it holds."""
    return [
        f"    {baseline:<20}"
        + "   ".join(f"{METRIC_NAMES[name]} {cell(held)}" for name, held in by_metric.items())
        for baseline, by_metric in by_baseline.items()
        if by_metric
    ]


def method_rows(methods: dict[str, dict[str, float]]) -> list[str]:
    """The methods table: Spearman, Gini, AUC of P(active), total error, ECE, coverage."""
    lines = [
        f"  {'method':<20}{'Spearman':>9}{'Gini':>8}{'AUC P(active)':>15}{'total error':>13}"
        f"{'ECE':>8}   coverage <P10 / in / >P90"
    ]
    for method, m in methods.items():
        coverage = (
            f"{m['below_p10']:.0%} / {m['inside_p10_p90']:.0%} / {m['above_p90']:.0%}"
            if "inside_p10_p90" in m
            else "-"
        )
        lines.append(
            f"  {method:<20}{_cell(m, 'spearman', '.3f', 9)}{_cell(m, 'normalized_gini', '.3f', 8)}"
            f"{_cell(m, 'auc', '.3f', 15)}{_cell(m, 'total_error', '+.1%', 13)}"
            f"{_cell(m, 'ece', '.3f', 8)}   {coverage}"
        )
    return lines


def across_cutoffs(verdicts: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Rolling origins summed up: each method's metrics averaged over the cutoffs that have
    them, and per baseline and metric at how many cutoffs the model's paired interval lies
    above zero (``ahead``), below it (``behind``) or across it (``level``). None for one
    cutoff."""
    if len(verdicts) < 2:
        return None
    methods: dict[str, dict[str, float]] = {}
    for method in dict.fromkeys(m for v in verdicts for m in v["methods"]):
        found = [v["methods"].get(method, {}) for v in verdicts]
        names = dict.fromkeys(k for metrics in found for k in metrics)
        methods[method] = {
            k: float(np.mean(values))
            for k in names
            if (values := [m[k] for m in found if k in m and np.isfinite(m[k])])
        }
    versus: dict[str, dict[str, dict[str, int]]] = {}
    for verdict in verdicts:
        for baseline, by_metric in verdict["bootstrap"].items():
            for name, d in by_metric.items():
                side = "ahead" if d["low"] > 0 else "behind" if d["high"] < 0 else "level"
                counts = versus.setdefault(baseline, {}).setdefault(
                    name, {"ahead": 0, "level": 0, "behind": 0}
                )
                counts[side] += 1
    return {"cutoffs": len(verdicts), "methods": methods, "versus": versus}


def across_lines(summary: dict[str, Any] | None) -> list[str]:
    """:func:`across_cutoffs` as lines for a terminal (none for one cutoff)."""
    if summary is None:
        return []
    lines = [f"over the {summary['cutoffs']} cutoffs: the mean of each metric"]
    lines += method_rows(summary["methods"])
    if summary["versus"]:
        lines.append(
            f"  {MODEL} against each baseline: cutoffs where the 95% interval of the difference "
            "is above zero / across it / below it"
        )
        lines += baseline_rows(
            summary["versus"], lambda n: f"{n['ahead']} / {n['level']} / {n['behind']}"
        )
    return lines


def flat_metrics(verdict: dict[str, Any]) -> dict[str, float]:
    """A verdict's (or :func:`across_cutoffs`') finite numbers as MLflow metric names:
    ``<method>.<metric>``, ``conversion.<metric>``, ``lifecycle_minus_<baseline>.<metric>.
    <difference|low|high>``, and any plain number at the top as it is."""
    values = {k: v for k, v in verdict.items() if isinstance(v, numbers.Real)}
    for method, by_metric in verdict.get("methods", {}).items():
        values |= {f"{method}.{k}": v for k, v in by_metric.items()}
    conversion = verdict.get("conversion", {})
    values |= {f"conversion.{k}": v for k, v in conversion.items() if k != "error"}
    for baseline, by_metric in verdict.get("bootstrap", {}).items():
        for name, interval in by_metric.items():
            values |= {f"{MODEL}_minus_{baseline}.{name}.{k}": v for k, v in interval.items()}
    return {k: float(v) for k, v in values.items() if np.isfinite(float(v))}


def _cell(metrics: dict[str, float], key: str, fmt: str, width: int) -> str:
    value = metrics.get(key)
    text = "-" if value is None or not np.isfinite(value) else format(value, fmt)
    if text.lstrip("+-") == format(0.0, fmt).lstrip("+-"):  # -1e-17 read "-0.000"
        text = format(0.0, fmt)
    return f"{text:>{width}}"
