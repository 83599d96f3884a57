"""Baseline rules as servable models: one definition for the baselines training compares
with and for the ones registered and served when they beat LightGBM.

A :class:`RuleModel` stands where a LightGBM booster stands in a model bundle: it reads the
bundle's feature matrix (columns in ``feature_names`` order) and ``predict`` returns a
score, higher meaning more of the task's outcome (churn, conversion, value). Probability
tasks put a calibrator fitted out of time on top, as for LightGBM. ``pred_contrib``
returns each input's term of the score (centred on its training mean), so reasons work;
for a rule of one term of several inputs (BG/NBD, MBG/NBD), their Shapley values.

Kinds:
- ``recency_rule``: days since the last activity (churn: more is likelier; conversion: less).
- ``rfm_score``: recency, frequency and monetary quintiles (3..15) with edges fitted on
  the training rows.
- ``last_period_value``: net revenue of the feature window nearest the horizon, scaled to
  the horizon.
- ``bgnbd_gamma_gamma``: BG/NBD expected purchases in the horizon x Gamma-Gamma expected
  order value, from the feature row (orders, first-purchase age, purchase recency, average
  order value) with parameters fitted on the training rows' customers.
- ``purchase_process``: MBG/NBD's P(no purchase in the horizon) for churn, P(a purchase)
  for one-time buyers' conversion to repeat buyers, a probability by itself (no outcome to
  calibrate on): the label-free model of data with too few outcomes to learn from
  (``training.label_free``); no task gates on it. A user without a purchase is read as a
  one-time buyer from their first event.
- ``activity_process``: churn as the same process fitted on active days instead of
  purchases, P(no active day in the horizon), where every user's history lies within the
  longest activity window (``active_days_<window>d`` counts all of it): the label-free
  churn model of a young log with sessions.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from math import factorial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lifecycle import tasks
from lifecycle.storage import read_json

RULE_FILE = "rule.json"
RULE_KINDS = (
    "recency_rule",
    "rfm_score",
    "last_period_value",
    "bgnbd_gamma_gamma",
    "purchase_process",
    "activity_process",
)
# Scores say "more of the outcome". These signs are for an outcome that is silence (churn: a
# long silence, a low RFM score); a task whose outcome is activity flips them
# (``Task.silence_sign`` -1). Value rules keep their sign.
SILENCE_SIGNS = {"recency_rule": 1.0, "rfm_score": -1.0}
NET_VALUES = {"revenue_total": "net_revenue_total", "avg_order_value": "net_order_value"}


# A bgnbd_gamma_gamma rule's one order value, where every buyer's orders are worth it (a
# count-only log's 1 purchase): served in place of a Gamma-Gamma fit of no spread
ORDER_VALUE = "order_value"


def one_order_value(rows: Any, spent: str) -> float | None:
    """The value every buyer's orders have, where all have one and the same (their mean
    ``spent`` and ``max_order_value`` alike, where the features have it); else None."""
    buyers = rows[rows["orders_total"].fillna(0) >= 1]
    columns = [spent] + (["max_order_value"] if "max_order_value" in rows else [])
    values = buyers[columns].to_numpy(dtype=float).ravel()
    if not len(values) or not np.isfinite(values).all() or values[0] <= 0:
        return None
    return float(values[0]) if (values == values[0]).all() else None


def purchase_value(
    frequency: Any, monetary_value: Any, buyers: Any, spent: str
) -> tuple[Any, float | None, str | None]:
    """What the BG/NBD + Gamma-Gamma rule multiplies expected purchases by: the Gamma-Gamma
    fit of the repeat customers' ``frequency`` and ``monetary_value``
    (``GammaGamma.fit_for_value``), and the one value every buyer's purchases have, where
    they have one (:func:`one_order_value` of ``buyers``' orders_total, ``spent`` and
    max_order_value), which replaces it: (fit, value or None, None); or (None, None, why
    no order value is forecast). The one rule of the served rule and the backtest's
    BG/NBD + Gamma-Gamma baseline."""
    from lifecycle.btyd import GammaGamma

    gg, why = GammaGamma.fit_for_value(frequency, monetary_value)
    if why:  # no fit, or a one-time buyer's p v / (q - 1) is undefined
        return None, None, why
    return gg, one_order_value(buyers, spent), None


class RuleError(ValueError):
    """A rule cannot be built or applied on these features."""


@dataclass
class RuleModel:
    kind: str
    feature_names: list[str]  # the bundle's matrix columns, in order
    params: dict[str, Any] = field(default_factory=dict)

    def inputs(self) -> list[str]:
        """The features the rule reads."""
        if self.kind == "recency_rule":
            return ["recency_days", "tenure_days"]
        if self.kind == "rfm_score":
            return ["recency_days", "orders_total", self._net("revenue_total")]
        if self.kind == "last_period_value":
            window = self.params["window"]
            return [f"revenue_{window}d", f"refund_amount_{window}d"]
        if self.kind == "bgnbd_gamma_gamma":
            return [
                "orders_total",
                "first_purchase_age_days",
                "purchase_recency_days",
                self._net("avg_order_value"),
            ]
        if self.kind == "purchase_process":
            return [
                "orders_total",
                "first_purchase_age_days",
                "purchase_recency_days",
                "tenure_days",
            ]
        if self.kind == "activity_process":  # active days, all within the window
            return [f"active_days_{self.params['window']}d", "tenure_days", "recency_days"]
        raise RuleError(f"unknown rule kind {self.kind!r}; expected one of {', '.join(RULE_KINDS)}")

    def _net(self, name: str) -> str:
        """The money feature after refunds (``revenue_total`` -> ``net_revenue_total``,
        ``avg_order_value`` -> ``net_order_value``), the value LTV forecasts; the gross one
        for a rule saved before feature tables had it."""
        net = NET_VALUES[name]
        return net if net in self.feature_names else name

    # -- the booster interface a bundle uses -------------------------------------------------

    def predict(
        self, matrix: np.ndarray, *, num_threads: int = 0, pred_contrib: bool = False, **_: Any
    ) -> np.ndarray:
        matrix = np.asarray(matrix, dtype="float64")
        terms = self._terms(matrix)
        score = terms.sum(axis=1)
        if not pred_contrib:
            return score
        out = np.zeros((len(score), len(self.feature_names) + 1))
        reference = self.params.get("input_reference")
        if reference is not None:  # one term of several inputs: their Shapley values
            centred = self._shapley(matrix, np.asarray(reference, dtype="float64"))
        else:
            centred = terms - np.asarray(self.params.get("term_means", np.zeros(terms.shape[1])))
        for j, name in enumerate(self.inputs()[: centred.shape[1]]):
            out[:, self.feature_names.index(name)] = centred[:, j]
        out[:, -1] = score - centred.sum(axis=1)  # the bias column, as LightGBM's
        return out

    def _shapley(self, matrix: np.ndarray, reference: np.ndarray) -> np.ndarray:
        """Exact Shapley values (rows x inputs) of a one-term rule's inputs: each input's
        change of the score from the reference row (the training rows' medians) to the
        row's value, averaged over the orders the inputs change in; they add up to the score
        minus the reference's. 2^inputs evaluations of the rule (16 for 4 inputs)."""
        names = self.inputs()
        count = len(names)
        values = np.column_stack([self._column(matrix, name) for name in names])
        alone = RuleModel(self.kind, names, self.params)
        scores = [
            alone._terms(np.where([bool(mask >> j & 1) for j in range(count)], values, reference))[
                :, 0
            ]
            for mask in range(1 << count)
        ]
        shares = np.zeros((len(values), count))
        for i in range(count):
            for mask in range(1 << count):
                if mask >> i & 1:
                    continue
                size = bin(mask).count("1")
                weight = factorial(size) * factorial(count - size - 1) / factorial(count)
                shares[:, i] += weight * (scores[mask | 1 << i] - scores[mask])
        return shares

    @property
    def has_outlook(self) -> bool:
        """Whether :meth:`value_outlook` gives an interval (BG/NBD + Gamma-Gamma)."""
        return self.kind == "bgnbd_gamma_gamma"

    def value_outlook(self, matrix: np.ndarray, none_ratio: np.ndarray | None = None) -> np.ndarray:
        """Rows x (P10, P50, P90, P(any purchase)) of the value in the horizon, exactly under
        BG/NBD + Gamma-Gamma (``lifecycle.btyd_interval``; with ``none_ratio`` a bridge's,
        the levels are of the longer horizon's P(any purchase) and this one's value given
        a purchase)."""
        from lifecycle.btyd_interval import count_quantiles, value_quantiles

        if not self.has_outlook:
            raise RuleError(f"the {self.kind} rule has no value interval")
        matrix = np.asarray(matrix, dtype="float64")
        orders, first, last, mean_value = (self._column(matrix, name) for name in self.inputs())
        if ORDER_VALUE in self.params:  # every order worth the same: N x it, exactly
            quantiles, buys = count_quantiles(
                self.params["bgnbd"],
                float(self.params[ORDER_VALUE]),
                np.nan_to_num(orders),
                first,
                last,
                float(self.params["horizon_days"]),
                none_ratio=none_ratio,
            )
            return np.column_stack([quantiles, buys])
        quantiles, buys = value_quantiles(
            self.params["bgnbd"],
            self.params["gamma_gamma"],
            np.nan_to_num(orders),
            first,
            last,
            mean_value,
            float(self.params["horizon_days"]),
            none_ratio=none_ratio,
        )
        return np.column_stack([quantiles, buys])

    def current_iteration(self) -> int:
        return 0

    best_iteration = 0

    def _column(self, matrix: np.ndarray, name: str) -> np.ndarray:
        try:
            return matrix[:, self.feature_names.index(name)]
        except ValueError:
            raise RuleError(f"the {self.kind} rule reads {name}, which the features lack") from None

    def _terms(self, matrix: np.ndarray) -> np.ndarray:
        """Per row, the score's additive terms (one column per term)."""
        col = lambda name: self._column(matrix, name)  # noqa: E731
        sign = float(self.params.get("sign", 1.0))
        if self.kind == "recency_rule":
            recency = np.where(
                np.isnan(col("recency_days")), col("tenure_days"), col("recency_days")
            )
            return (sign * np.nan_to_num(recency, nan=0.0)).reshape(-1, 1)
        if self.kind == "rfm_score":
            edges, fill = self.params["edges"], self.params["fill"]
            terms = [
                _quintile(-col("recency_days"), edges["recency"], -fill["recency"]),
                _quintile(col("orders_total"), edges["frequency"], fill["frequency"]),
                _quintile(col(self._net("revenue_total")), edges["monetary"], fill["monetary"]),
            ]
            return sign * np.column_stack(terms)
        if self.kind == "last_period_value":
            window, horizon = self.params["window"], self.params["horizon_days"]
            net = np.nan_to_num(col(f"revenue_{window}d") - col(f"refund_amount_{window}d"))
            return (np.maximum(net, 0.0) * horizon / window).reshape(-1, 1)
        if self.kind == "purchase_process":  # P(no purchase), or P(a purchase) (sign -1)
            orders, first, last, tenure = (col(name) for name in self.inputs())
            silent = self._silence(orders, first, last, tenure)
            return (silent if sign > 0 else 1.0 - silent).reshape(-1, 1)
        if self.kind == "activity_process":  # P(no active day): since the first, the last
            days, tenure, recency = (col(name) for name in self.inputs())
            return self._silence(days, tenure, recency, tenure).reshape(-1, 1)
        return self._bgnbd_value(matrix).reshape(-1, 1)

    def _silence(
        self, events: np.ndarray, first: np.ndarray, last: np.ndarray, tenure: np.ndarray
    ) -> np.ndarray:
        """The process's P(none of its events in the horizon) of users with ``events`` so far,
        the first and the last ``first`` and ``last`` days ago; a user without one is read as
        having had one at their first sight (``tenure`` days ago)."""
        from lifecycle.btyd import purchase_model
        from lifecycle.btyd_features import rfm_of_values

        seen = (events >= 1) & np.isfinite(first) & np.isfinite(last)
        since_first = np.nan_to_num(np.where(seen, first, tenure), nan=0.0)
        frequency, recency, age = rfm_of_values(
            np.where(seen, events, 1.0),
            since_first,
            np.where(seen, last, since_first),
            7.0,
        )
        model = purchase_model(self.params["process"])
        return model.probability_of_no_purchase(
            float(self.params["horizon_days"]) / 7.0, frequency, recency, age
        )

    def _bgnbd_value(self, matrix: np.ndarray) -> np.ndarray:
        """Expected purchases x Gamma-Gamma's expected order value, on the matrix's columns
        (a served request's few rows pay no DataFrame)."""
        from lifecycle.btyd import GammaGamma
        from lifecycle.btyd_features import outlook_of_columns

        horizon = float(self.params["horizon_days"])
        column = lambda name: self._column(matrix, name)  # noqa: E731
        purchases = outlook_of_columns(self.params["bgnbd"], column, horizon)[1]
        if ORDER_VALUE in self.params:  # every order worth the same: no spend modelled
            return np.nan_to_num(purchases * float(self.params[ORDER_VALUE]), nan=0.0)
        gg = GammaGamma(*(float(self.params["gamma_gamma"][k]) for k in ("p", "q", "v")))
        orders, spent = column("orders_total"), column(self._net("avg_order_value"))
        repeat = np.maximum(np.where(np.isnan(orders), 0.0, orders) - 1, 0)
        spent = np.where(np.isnan(spent), 0.0, spent)
        spend = gg.expected_average_value(repeat, np.where(spent < 0, 0.0, spent))
        return np.nan_to_num(purchases * spend, nan=0.0)

    # -- persistence ------------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        (directory / RULE_FILE).write_text(json.dumps(asdict(self), indent=2, default=float))

    @classmethod
    def load(cls, directory: Path) -> RuleModel:
        values = read_json(directory / RULE_FILE)
        return cls(values["kind"], values["feature_names"], values["params"])


def _quintile(values: np.ndarray, edges: list[float], fill: float) -> np.ndarray:
    """1..5 by the training quintile edges (more is higher); missing values take ``fill``."""
    return 1.0 + np.searchsorted(
        np.asarray(edges), np.where(np.isnan(values), fill, values), side="right"
    )


def fit_rule(
    kind: str,
    task: str,
    train: pd.DataFrame,
    feature_names: list[str],
    *,
    horizon_days: int,
    windows: list[int],
    population: pd.DataFrame | None = None,
) -> RuleModel:
    """The rule ``kind`` for ``task`` with what it learns fitted on feature rows only: RFM
    quintile edges on ``train``; BG/NBD and Gamma-Gamma parameters on the customers of
    ``population`` (features only, no label: default the latest cutoff of ``train``)."""
    if kind not in RULE_KINDS:
        raise RuleError(f"unknown rule kind {kind!r}; expected one of {', '.join(RULE_KINDS)}")
    sign = SILENCE_SIGNS[kind] * tasks.get(task).silence_sign if kind in SILENCE_SIGNS else 1.0
    params: dict[str, Any] = {"sign": sign, "horizon_days": horizon_days}
    if kind == "last_period_value":
        # the window nearest the horizon (90 days for 91): a longer one reaches back past a
        # young shop's history and a short one is noise
        params["window"] = min(windows, key=lambda w: (abs(w - horizon_days), -w))
    if kind == "activity_process":  # the window that can hold a young log's every active day
        params["window"] = max(windows)
    rule = RuleModel(kind, list(feature_names), params)
    # the users the processes are fitted on (features only, no label)
    latest = population if population is not None else train[train["as_of"] == train["as_of"].max()]
    missing = [name for name in rule.inputs() if name not in feature_names]
    if missing:
        raise RuleError(f"the {kind} rule reads {', '.join(missing)}, which the features lack")
    if kind == "rfm_score":
        monetary = rule._net("revenue_total")
        columns = {
            "recency": -train["recency_days"],
            "frequency": train["orders_total"],
            "monetary": train[monetary],
        }
        params["edges"] = {
            name: np.unique(
                np.nanquantile(values.to_numpy(dtype=float), [0.2, 0.4, 0.6, 0.8])
            ).tolist()
            for name, values in columns.items()
        }
        params["fill"] = {
            "recency": float(train["recency_days"].median()),
            "frequency": float(train["orders_total"].median()),
            "monetary": float(train[monetary].median()),
        }
    elif kind == "bgnbd_gamma_gamma":
        from lifecycle.btyd import BGNBD
        from lifecycle.btyd_features import purchase_process

        process, why = purchase_process(latest, BGNBD)  # the classical baseline
        if process is None:
            raise RuleError(why)
        spent = rule._net("avg_order_value")
        # customers whose repeat purchases kept some value after refunds
        repeat = latest[(latest["orders_total"].fillna(0) >= 2) & (latest[spent] > 0)]
        gg, each, why = purchase_value(repeat["orders_total"] - 1, repeat[spent], latest, spent)
        if why:
            raise RuleError(why)
        if each is not None:
            # nothing for Gamma-Gamma to model (its p and q ran to their bounds): N x each
            params |= {"bgnbd": process, ORDER_VALUE: each}
        else:
            params |= {"bgnbd": process, "gamma_gamma": {"p": gg.p, "q": gg.q, "v": gg.v}}
    elif kind == "purchase_process":
        from lifecycle.btyd import MBGNBD, MIN_CUSTOMERS
        from lifecycle.btyd_features import purchase_process

        params["sign"] = tasks.get(task).silence_sign  # churn: silence; conversion: a purchase
        # Without repeat purchases the purchase rate's fit runs to 0: churn 1 for everyone.
        repeat = int((latest["orders_total"].fillna(0) >= 2).sum())
        if repeat < MIN_CUSTOMERS:
            raise RuleError(
                f"MBG/NBD needs at least {MIN_CUSTOMERS} customers with a repeat purchase, "
                f"got {repeat}"
            )
        params["process"], why = purchase_process(latest, MBGNBD)
        if params["process"] is None:
            raise RuleError(why)
    elif kind == "activity_process":
        from lifecycle.btyd import MBGNBD, MIN_CUSTOMERS
        from lifecycle.btyd_features import PURCHASE_HISTORY, purchase_process

        window = params["window"]
        # the window is (as_of - w, as_of] and a cutoff is midnight: a user first seen w days
        # back (a date-only log's) has that first day outside active_days_{w}d
        if older := int((latest["tenure_days"].fillna(0) >= window).sum()):
            raise RuleError(
                f"users were seen before the longest activity window ({window} days): "
                f"{older:,} first seen {window} days or more before the cutoff, whose active "
                "days it does not all count"
            )
        days, tenure, recency = (latest[name] for name in rule.inputs())
        again = int((days.fillna(0) >= 2).sum())
        if again < MIN_CUSTOMERS:
            raise RuleError(
                f"MBG/NBD needs at least {MIN_CUSTOMERS} users active on two days, got {again}"
            )
        # active days as the process's events: their count, days since the first and the last
        as_events = pd.DataFrame(dict(zip(PURCHASE_HISTORY, (days, tenure, recency), strict=True)))
        params["process"], why = purchase_process(as_events, MBGNBD, "active users")
        if params["process"] is None:
            raise RuleError(why)
    if kind in ("bgnbd_gamma_gamma", "purchase_process", "activity_process"):  # one term
        inputs = train[rule.inputs()].apply(pd.to_numeric, errors="coerce")
        params["input_reference"] = [float(inputs[name].median()) for name in inputs]
    rule.params["term_means"] = (
        rule._terms(feature_matrix(train, feature_names)).mean(axis=0).tolist()
    )
    return rule


def refit_to_serve(
    fitted: RuleModel,
    task: str,
    frame: pd.DataFrame,
    feature_names: list[str],
    progress: Any,
    **options: Any,
) -> tuple[RuleModel, str | None]:
    """The rule ``fitted`` (the one measured on the test rows) fitted again on ``frame`` (the
    users of now, or the matured cutoffs) to serve (``options``: :func:`fit_rule`'s); where
    those rows cannot support it (Gamma-Gamma's order values too heavy-tailed for a mean,
    too few customers), ``fitted`` itself, as measured, and why, said through ``progress``."""
    try:
        return fit_rule(fitted.kind, task, frame, feature_names, **options), None
    except RuleError as error:
        why = (
            f"the {fitted.kind} rule cannot be fitted on the users of "
            f"{pd.Timestamp(frame['as_of'].max()):%Y-%m-%d} ({error}); it serves as "
            "fitted for its test, as measured"
        )
        progress(f"{task}: {why}")
        return fitted, why


RULES_LEFT_OUT = "baselines_left_out"  # a training's report and result: kind -> why


def left_out_lines(left_out: dict[str, str] | None, indent: str = "  ") -> list[str]:
    """Each baseline rule left out of the gate's comparison, and why, one line a rule."""
    return [
        f"{indent}baseline {kind} left out of the gate (not fitted): {why}"
        for kind, why in (left_out or {}).items()
    ]


class FittedRules(dict[str, RuleModel]):
    """The task's baseline rules fitted, by kind; ``left_out``: each rule the data could
    not support, by kind, with why in words (said by training, logged with its run)."""

    left_out: dict[str, str]


def fitted_rules(
    task: str,
    train: pd.DataFrame,
    feature_names: list[str],
    *,
    horizon_days: int,
    windows: list[int],
    population: pd.DataFrame | None = None,
    progress: Callable[[str], None] | None = None,
) -> FittedRules:
    """The task's baseline rules (``Task.rules``) fitted on ``train``; a rule the data
    cannot support (e.g. no repeat buyers for Gamma-Gamma) is left out, and why is kept in
    ``left_out`` and said to ``progress``: the gate compares LightGBM with the others only."""
    out = FittedRules()
    out.left_out = {}
    for kind in tasks.get(task).rules:
        try:
            out[kind] = fit_rule(
                kind,
                task,
                train,
                feature_names,
                horizon_days=horizon_days,
                windows=windows,
                population=population,
            )
        except RuleError as error:
            out.left_out[kind] = str(error)
            if progress is not None:
                progress(*left_out_lines({kind: out.left_out[kind]}, f"{task}: "))
    return out


def feature_matrix(frame: pd.DataFrame, feature_names: list[str]) -> np.ndarray:
    """The numeric feature matrix (a rule reads numeric features only)."""
    return np.column_stack(
        [
            pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype="float64")
            if name in frame
            else np.full(len(frame), np.nan)
            for name in feature_names
        ]
    )
