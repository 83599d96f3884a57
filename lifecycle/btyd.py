"""BG/NBD purchase-count and Gamma-Gamma spend models: the classical LTV baseline, and
the per-user P(alive) and expected purchases that training fits and serving reports.

BG/NBD: Fader, Hardie & Lee (2005), "Counting your customers the easy way: an alternative
to the Pareto/NBD model", Marketing Science 24(2). MBG/NBD: Batislam, Denizel & Filiztekin
(2007), "Empirical validation and comparison of models for customer base analysis", IJRM
24(3): the same model, except that a customer may also drop out right after the first
purchase. Under BG/NBD every one-time buyer is alive with probability 1, which ranks them
above every repeat buyer who is a little overdue; on online_retail (cutoff 2011-09-09) that
P(alive) had an AUC of 0.41 for buying again in 91 days, worse than chance. Serving reports
the MBG/NBD's; the backtest's classical baseline stays BG/NBD. Gamma-Gamma: Fader, Hardie & Lee (2005),
"RFM and CLV: using iso-value curves for customer base analysis", JMR 42(4), and Fader &
Hardie (2013), "The Gamma-Gamma model of monetary value".

Conventions follow the papers (and the `lifetimes` package): per customer, ``frequency`` is
the number of *repeat* purchases x, ``recency`` is t_x, the time from the first purchase to
the last one, and ``T`` the time from the first purchase to the end of observation, all in the
same time unit (weeks by default). ``monetary_value`` is the mean value of the repeat
purchases.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy  # its integrate loads when used, not with every server start
from numpy.typing import ArrayLike, NDArray
from scipy.special import betaln, expit, hyp2f1

from lifecycle.blas import one_blas_thread
from lifecycle.btyd_fit import (
    BGNBD_BOUNDS,
    GAMMA_GAMMA_BOUNDS,
    best_minimum,
    bgnbd_loglik,
    bgnbd_objective,
    dropout_coordinates,
    dropout_params,
    gamma_gamma_loglik,
    gamma_gamma_objective,
    spend_coordinates,
    spend_params,
)
from lifecycle.maths import ARRAYS, Maths
from lifecycle.words import counted, word_for

MIN_CUSTOMERS = 20
COLUMNS, CUSTOMERS = ("column", "columns"), ("customer", "customers")
NOT_NUMBERS = ("missing/non-numeric value", "missing/non-numeric values")
REPEAT_CUSTOMERS = ("repeat customer has", "repeat customers have")  # a count and its verb

FloatArray = NDArray[np.float64]


class BTYDError(ValueError):
    """Invalid input to, or an impossible fit of, a buy-till-you-die model."""


# --------------------------------------------------------------------------- summary


def rfm_summary(
    orders: pd.DataFrame,
    as_of: pd.Timestamp,
    *,
    user_col: str = "user_id",
    time_col: str = "order_time",
    value_col: str = "value",
    unit_days: float = 7.0,
) -> pd.DataFrame:
    """Per-user frequency / recency / T / monetary_value from an order log, as of ``as_of``.

    Purchase periods are calendar days: orders on the same day count as one purchase whose
    value is their sum. ``recency`` and ``T`` are measured between days (``as_of`` is floored
    to its day) and expressed in units of ``unit_days``. Orders after ``as_of`` are ignored.
    """
    missing = [c for c in (user_col, time_col, value_col) if c not in orders.columns]
    if missing:
        raise BTYDError(
            f"rfm_summary: orders is missing {word_for(len(missing), COLUMNS)} {missing}; it has "
            f"{list(orders.columns)}"
        )
    if unit_days <= 0:
        raise BTYDError(f"rfm_summary: unit_days must be positive, got {unit_days}")
    times = pd.to_datetime(orders[time_col])
    values = pd.to_numeric(orders[value_col], errors="coerce")
    for name, column in ((user_col, orders[user_col]), (time_col, times), (value_col, values)):
        bad = column.isna().to_numpy()
        if bad.any():
            rows = list(orders.index[bad][:5])
            raise BTYDError(
                f"rfm_summary: column {name!r} has {counted(int(bad.sum()), NOT_NUMBERS)}, "
                f"first rows {rows}"
            )
    as_of = pd.Timestamp(as_of)
    keep = (times <= as_of).to_numpy()
    columns = ["frequency", "recency", "T", "monetary_value"]
    if not keep.any():
        empty = pd.DataFrame(columns=columns, dtype=float)
        empty.index.name = user_col
        return empty

    daily = (
        pd.DataFrame(
            {
                user_col: orders[user_col].to_numpy()[keep],
                "day": times[keep].dt.floor("D").to_numpy(),
                "value": values.to_numpy()[keep],
            }
        )
        .groupby([user_col, "day"], sort=True)["value"]
        .sum()
        .reset_index()
    )
    grouped = daily.groupby(user_col, sort=True)
    first_day = grouped["day"].transform("min")
    is_repeat = daily["day"] > first_day
    day = pd.Timedelta(days=1)
    summary = pd.DataFrame(
        {
            "frequency": grouped["day"].size() - 1,
            "recency": (grouped["day"].max() - grouped["day"].min()) / day / unit_days,
            "T": (as_of.floor("D") - grouped["day"].min()) / day / unit_days,
            "monetary_value": daily.loc[is_repeat].groupby(user_col)["value"].mean(),
        }
    )
    summary["monetary_value"] = summary["monetary_value"].fillna(0.0)
    summary["frequency"] = summary["frequency"].astype(np.int64)
    return summary[columns]


# --------------------------------------------------------------------------- validation


def _as_arrays(**named: ArrayLike) -> dict[str, FloatArray]:
    """Broadcast inputs to float arrays; reject NaN/inf and negative values with the name."""
    arrays = {name: np.array(value, dtype=float) for name, value in named.items()}
    if len({a.shape for a in arrays.values()}) > 1:  # else (scoring's inputs) none to broadcast
        try:
            broadcast = np.broadcast_arrays(*arrays.values())
        except ValueError as err:
            shapes = {name: a.shape for name, a in arrays.items()}
            raise BTYDError(f"inputs have incompatible shapes {shapes}") from err
        arrays = dict(zip(arrays, (np.array(b, dtype=float) for b in broadcast), strict=True))
    for name, values in arrays.items():
        if not np.all(np.isfinite(values)):
            not_finite = int((~np.isfinite(values)).sum())
            raise BTYDError(
                f"{name} has {counted(not_finite, ('NaN/inf value', 'NaN/inf values'))}"
            )
        if np.any(values < 0):
            negative = int((values < 0).sum())
            raise BTYDError(
                f"{name} has {counted(negative, ('negative value', 'negative values'))}"
            )
    return arrays


def _validate_rfm(
    frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    arrays = _as_arrays(frequency=frequency, recency=recency, T=T)
    x, t_x, t_obs = arrays["frequency"], arrays["recency"], arrays["T"]
    if np.any(x != np.round(x)):
        raise BTYDError("frequency must be whole numbers of repeat purchases")
    # Small tolerance: recency and T are often computed from the same timestamps in floats.
    too_recent = t_x > t_obs * (1 + 1e-12) + 1e-12
    if np.any(too_recent):
        first = int(np.flatnonzero(too_recent.ravel())[0])
        raise BTYDError(
            f"recency > T for {counted(int(too_recent.sum()), CUSTOMERS)}, first at position "
            f"{first} "
            f"(recency={t_x.ravel()[first]}, T={t_obs.ravel()[first]}); both must be "
            "measured from the first purchase, with T up to the end of observation"
        )
    return x, t_x, t_obs


def _check_count(n: int, what: str) -> None:
    if n < MIN_CUSTOMERS:
        raise BTYDError(f"{what}: need at least {MIN_CUSTOMERS} customers to fit, got {n}")


# --------------------------------------------------------------------------- BG/NBD


# ``first``: the chances to drop out a customer had besides one after each repeat purchase:
# 0 in BG/NBD, 1 in MBG/NBD (right after the first purchase). With x repeat purchases the
# dropout probability's posterior, given alive, is Beta(a, b + x + first).


def _log_odds_dead(
    params: tuple[float, float, float, float],
    x: FloatArray,
    t_x: FloatArray,
    t_obs: FloatArray,
    first: int = 0,
) -> FloatArray:
    """:func:`log_odds_dropped`, and 0 odds for a one-time buyer under BG/NBD."""
    out = np.full(x.shape, -np.inf)
    chance = x + first > 0
    out[chance] = log_odds_dropped(params, x[chance], t_x[chance], t_obs[chance], first)
    return out


def log_odds_dropped(
    params: tuple[float, float, float, float],
    x: Any,
    t_x: Any,
    t_obs: Any,
    first: int,
    xp: Maths = ARRAYS,
) -> Any:
    """log of a/(b+x+first-1) ((alpha+T)/(alpha+t_x))^(r+x), the odds of having dropped, of
    customers with a chance to (x + first > 0): arrays, or with ``FLOATS`` one customer."""
    r, alpha, a, b = params
    return (
        xp.log(a)
        - xp.log(b + x + first - 1)
        + (r + x) * (xp.log(alpha + t_obs) - xp.log(alpha + t_x))
    )


def _unique_rows(*columns: FloatArray) -> tuple[list[FloatArray], FloatArray]:
    """Collapse identical (x, t_x, T) rows into weights; day-granular data repeats a lot."""
    stacked = np.column_stack(columns)
    unique, counts = np.unique(stacked, axis=0, return_counts=True)
    return [unique[:, i] for i in range(unique.shape[1])], counts.astype(float)


@dataclass(frozen=True)
class BGNBD:
    """BG/NBD: purchase rate lambda ~ Gamma(r, alpha) (rate alpha), dropout p ~ Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float

    FIRST: ClassVar[int] = 0  # chances to drop out besides after each repeat purchase

    @property
    def params(self) -> tuple[float, float, float, float]:
        return (self.r, self.alpha, self.a, self.b)

    @classmethod
    @one_blas_thread  # its weighted sums: OpenBLAS's dot of over 10,000 rows split across threads
    def fit(cls, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> BGNBD:
        """Maximum-likelihood fit (:mod:`lifecycle.btyd_fit`: L-BFGS-B with the exact
        gradient on log r, the log mean purchase rate r / alpha and the dropout's logit mean
        and log concentration, r and a + b <= e^12, best of several starts): the same
        optimum on any CPU and any number of BLAS threads."""
        x, t_x, t_obs = _validate_rfm(frequency, recency, T)
        x, t_x, t_obs = x.ravel(), t_x.ravel(), t_obs.ravel()
        _check_count(x.size, "BGNBD.fit")
        (x, t_x, t_obs), weights = _unique_rows(x, t_x, t_obs)
        # alpha is on the time scale: start it where r/alpha matches the observed purchase rate.
        rate = max(np.dot(weights, x) / np.dot(weights, t_obs), 1e-6) if t_obs.any() else 1.0
        starts = [
            dropout_coordinates(r0, r0 / rate, a0, b0)
            for r0, a0, b0 in ((1.0, 1.0, 1.0), (0.5, 0.5, 2.0), (0.2, 2.0, 5.0), (2.0, 1.0, 10.0))
        ]
        objective = bgnbd_objective(x, t_x, t_obs, weights, cls.FIRST)
        fitted = best_minimum(objective, starts, BGNBD_BOUNDS)
        if fitted is None:
            raise BTYDError(
                f"{cls.__name__}.fit: the likelihood could not be evaluated from any starting point"
            )
        return cls(*(float(v) for v in dropout_params(fitted)[0]))

    @classmethod
    def fit_for_forecast(
        cls, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, who: str = "customers"
    ) -> tuple[BGNBD | None, str | None]:
        """The fit that forecasts purchases, and None; or None and why none does, in words
        with the count (``who``: what the rows are): fewer than MIN_CUSTOMERS, or no finite
        optimum. The one rule of the served rules (``btyd_features.purchase_process``) and
        the backtest's BG/NBD baseline."""
        name = "MBG/NBD" if cls.FIRST else "BG/NBD"
        n = np.asarray(frequency).size
        if n < MIN_CUSTOMERS:
            return None, f"too few {who} to fit {name}: {n:,}, at least {MIN_CUSTOMERS} needed"
        try:
            return cls.fit(frequency, recency, T), None
        except BTYDError:
            return None, (
                f"{name} cannot be fitted on these {n:,} {who}: its likelihood has no finite "
                "optimum"
            )

    def log_likelihood(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
        """Per-customer log-likelihood, eq. (6) of FHL (2005)."""
        x, t_x, t_obs = _validate_rfm(frequency, recency, T)
        return bgnbd_loglik(np.asarray(self.params), x, t_x, t_obs, self.FIRST)[0]

    def probability_alive(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """P(still active at T | x, t_x, T); under BG/NBD 1 for customers without repeat
        purchases."""
        x, t_x, t_obs = _validate_rfm(frequency, recency, T)
        return expit(-_log_odds_dead(self.params, x, t_x, t_obs, self.FIRST))

    def expected_purchases(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """E[number of purchases in (T, T + t] | x, t_x, T], eq. (10) of FHL (2005).

        Numerics: the paper's ``((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z)``
        multiplies a vanishing power by a hypergeometric term that blows up for large x or t
        (0 * inf). Euler's transformation rewrites it exactly as
        ``(1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z)``, ``z = t/(alpha+T+t)``, whose
        parameters do not grow with x. P(alive) is expit(-log odds), so it cannot overflow.
        ``a == 1`` is a removable singularity, evaluated as the mean at a = 1 -/+ 1e-6.
        scipy's hyp2f1 can still fail (nan near z -> 1 with large x, e.g. horizons of
        centuries, or at a + b + x = 1); entries that are non-finite or outside the bounds
        0 <= E[Y(t) | alive] <= (r+x) t / (alpha+T) are recomputed by adaptive quadrature
        of the same expectation over the Beta(a, b+x) posterior of the dropout probability.
        """
        arrays = _as_arrays(t=t)
        x, t_x, t_obs = _validate_rfm(frequency, recency, T)
        horizon, x, t_x, t_obs = (
            np.array(v, dtype=float) for v in np.broadcast_arrays(arrays["t"], x, t_x, t_obs)
        )
        return self._outlook(horizon, x, t_x, t_obs)[1]

    def probability_of_no_purchase(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """P(no purchase in (T, T + t] | x, t_x, T), exactly: a customer drops out only at a
        purchase (or, MBG/NBD, at the first), so one alive at T makes none in the horizon
        iff the next purchase comes after it, with probability exp(-lambda t); alive,
        lambda ~ Gamma(r + x, alpha + T). So (1 - P(alive)) + P(alive) ((alpha + T) /
        (alpha + T + t))^(r + x)."""
        arrays = _as_arrays(t=t)
        x, t_x, t_obs = _validate_rfm(frequency, recency, T)
        horizon, x, t_obs = np.broadcast_arrays(arrays["t"], x, t_obs)
        alive = self.probability_alive(x, np.broadcast_to(t_x, x.shape), t_obs)
        buys_if_alive = -np.expm1(-(self.r + x) * np.log1p(horizon / (self.alpha + t_obs)))
        return 1.0 - alive * buys_if_alive

    def _outlook(
        self, horizon: FloatArray, x: FloatArray, t_x: FloatArray, t_obs: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """P(alive) and E[purchases in the horizon] of checked inputs (dropout odds once)."""
        alive = expit(-_log_odds_dead(self.params, x, t_x, t_obs, self.FIRST))
        # Given alive, the MBG/NBD is the BG/NBD with one more survived chance: b + 1.
        posterior = (self.r, self.alpha, self.a, self.b + self.FIRST)
        given_alive = np.array(_expected_purchases_if_alive(posterior, horizon, x, t_obs))
        upper_bound = (self.r + x) * horizon / (self.alpha + t_obs)
        suspect = ~np.isfinite(given_alive) | (given_alive < 0)
        suspect |= given_alive > upper_bound * (1 + 1e-9) + 1e-300
        for i in np.flatnonzero(suspect.ravel()):
            given_alive.flat[i] = _expected_purchases_if_alive_by_quadrature(
                posterior, horizon.flat[i], x.flat[i], t_obs.flat[i]
            )
        return alive, given_alive * alive


@dataclass(frozen=True)
class MBGNBD(BGNBD):
    """MBG/NBD (Batislam et al. 2007): BG/NBD where a customer may also drop out right
    after the first purchase, so a one-time buyer long silent is likely gone."""

    FIRST: ClassVar[int] = 1


def purchase_model(params: Mapping[str, float]) -> BGNBD:
    """The fitted purchase process of a bundle's parameters (``first`` 1: MBG/NBD; bundles
    saved before it have no ``first``: BG/NBD)."""
    kind = MBGNBD if params.get("first", 0.0) else BGNBD
    return kind(*(float(params[k]) for k in ("r", "alpha", "a", "b")))


def _expected_purchases_if_alive(
    params: tuple[float, float, float, float],
    t: FloatArray,
    x: FloatArray,
    t_obs: FloatArray,
    xp: Maths = ARRAYS,
) -> FloatArray:
    """E[Y(t) | x, T, still alive at T] in closed form (Euler-transformed 2F1): arrays, or
    with ``FLOATS`` one customer's floats."""
    r, alpha, a, b = params

    def closed_form(a: float) -> FloatArray:
        z = t / (alpha + t_obs + t)
        with np.errstate(all="ignore"):  # failures are caught and recomputed by the caller
            scaled_2f1 = xp.power(1 - z, a - 1) * hyp2f1(a + b - 1 - r, a - 1, a + b + x - 1, z)
            return (a + b + x - 1) / (a - 1) * (1 - scaled_2f1)

    if abs(a - 1.0) < 1e-6:
        return (closed_form(1.0 - 1e-6) + closed_form(1.0 + 1e-6)) / 2
    return closed_form(a)


def _expected_purchases_if_alive_by_quadrature(
    params: tuple[float, float, float, float], t: float, x: float, t_obs: float
) -> float:
    """The same expectation as a 1-D integral: E over p ~ Beta(a, b+x) of
    (1 - ((alpha+T)/(alpha+T+p t))^(r+x)) / p, lambda having been integrated out."""
    r, alpha, a, b = params
    k, n, beta = t / (alpha + t_obs), r + x, b + x
    log_norm = betaln(a, beta)

    def per_p(p: float) -> float:  # (1 - (1 + p k)^-n) / p, bounded by n k
        return -math.expm1(-n * math.log1p(p * k)) / p if p > 0 else n * k

    def integrand(p: float) -> float:
        if p <= 0.0 or p >= 1.0:
            return 0.0
        log_density = (a - 1) * math.log(p) + (beta - 1) * math.log1p(-p) - log_norm
        return math.exp(log_density) * per_p(p)

    def near_zero(p: float) -> float:  # p^(a-1) is left to the algebraic quadrature weight
        return math.exp((beta - 1) * math.log1p(-p) - log_norm) * per_p(p)

    # Break points where the integrand changes: around the posterior of p and at 1/(n k).
    mean = a / (a + beta)
    sd = math.sqrt(a * beta / ((a + beta) ** 2 * (a + beta + 1)))
    scale = 1 / (n * k) if n * k > 0 else 1.0
    cuts = {0.0, 1.0}
    cuts |= {min(max(mean + s * sd, 0.0), 1.0) for s in (-8, -2, 0, 2, 8)}
    cuts |= {c * scale for c in (0.01, 0.1, 1.0, 10.0, 100.0) if c * scale < 1}
    total, quad = 0.0, scipy.integrate.quad
    for low, high in pairwise(sorted(cuts)):
        # Weight p^(a-1) only where singular: without it a large-a density overflows.
        if low == 0.0 and a < 1:
            total += quad(
                near_zero,
                low,
                high,
                weight="alg",
                wvar=(a - 1, 0.0),
                epsabs=0,
                epsrel=1e-10,
                limit=200,
            )[0]
        else:
            total += quad(integrand, low, high, epsabs=0, epsrel=1e-10, limit=200)[0]
    return total


# --------------------------------------------------------------------------- Gamma-Gamma


@dataclass(frozen=True)
class GammaGamma:
    """Gamma-Gamma spend: transaction value ~ Gamma(p, rate nu), nu ~ Gamma(q, rate v)."""

    p: float
    q: float
    v: float

    @classmethod
    def fit(cls, frequency: ArrayLike, monetary_value: ArrayLike) -> GammaGamma:
        """Maximum-likelihood fit on the customers with frequency > 0 (L-BFGS-B with the
        exact gradient on log-parameters, :mod:`lifecycle.btyd_fit`)."""
        arrays = _as_arrays(frequency=frequency, monetary_value=monetary_value)
        x, m = arrays["frequency"].ravel(), arrays["monetary_value"].ravel()
        repeat = x > 0
        if not repeat.any():
            raise BTYDError("GammaGamma.fit: no customers with repeat purchases (frequency > 0)")
        x, m = x[repeat], m[repeat]
        _check_count(x.size, "GammaGamma.fit (customers with frequency > 0)")
        if np.any(m <= 0):
            raise BTYDError(
                f"GammaGamma.fit: {counted(int((m <= 0).sum()), REPEAT_CUSTOMERS)} "
                "monetary_value <= 0; the model needs positive spend"
            )

        mean_spend = float(np.mean(m))
        starts = [
            spend_coordinates(p0, q0, mean_spend * (q0 - 1) / p0)
            for p0, q0 in ((1.0, 2.0), (3.0, 3.0), (10.0, 5.0), (2.0, 10.0))
        ]
        fitted = best_minimum(gamma_gamma_objective(x, m), starts, GAMMA_GAMMA_BOUNDS)
        if fitted is None:
            raise BTYDError(
                "GammaGamma.fit: the likelihood could not be evaluated from any starting point"
            )
        return cls(*(float(v) for v in spend_params(fitted)))

    @classmethod
    def fit_for_value(
        cls, frequency: ArrayLike, monetary_value: ArrayLike
    ) -> tuple[GammaGamma | None, str | None]:
        """The fit of the repeat customers' spend that forecasts an order value, and None; or
        why none does, in words: it cannot be fitted (fewer than MIN_CUSTOMERS repeat
        customers, no likelihood; the fit None) or it has no mean order value
        (:meth:`no_mean`). The one rule of the served LTV rule and the backtest's baseline."""
        try:
            fitted = cls.fit(frequency, monetary_value)
        except BTYDError as error:
            return None, f"Gamma-Gamma cannot be fitted: {error}"
        repeat = np.asarray(frequency, dtype=float).ravel() > 0
        return fitted, fitted.no_mean(np.asarray(monetary_value, dtype=float).ravel()[repeat])

    def log_likelihood(self, frequency: ArrayLike, monetary_value: ArrayLike) -> FloatArray:
        """Per-customer log density of monetary_value (customers with frequency > 0)."""
        arrays = _as_arrays(frequency=frequency, monetary_value=monetary_value)
        return gamma_gamma_loglik(
            np.asarray([self.p, self.q, self.v]), arrays["frequency"], arrays["monetary_value"]
        )[0]

    @property
    def has_mean(self) -> bool:
        """Whether the population has a mean order value p v / (q - 1): q above 1. Without
        one, a customer without a repeat purchase has no expected order value either."""
        return self.q > 1

    def no_mean(self, monetary_value: ArrayLike) -> str | None:
        """Why this fit has no mean order value (:attr:`has_mean`), in words naming the
        repeat customers' mean order values it was fitted on; None where it has one."""
        if self.has_mean:
            return None
        values = np.asarray(monetary_value, dtype=float).ravel()
        return (
            f"Gamma-Gamma has no mean order value on these {values.size:,} repeat customers: "
            f"its fitted q {self.q:.3g} is not above 1 (their order values, median "
            f"{np.median(values):,.2f}, largest {values.max():,.2f}, are too heavy-tailed)"
        )

    @property
    def population_mean(self) -> float:
        """Mean transaction value across customers, p v / (q - 1); needs q > 1."""
        if not self.has_mean:
            raise BTYDError(f"GammaGamma population mean is infinite for q={self.q} <= 1")
        return self.p * self.v / (self.q - 1)

    def expected_average_value(self, frequency: ArrayLike, monetary_value: ArrayLike) -> FloatArray:
        """E[mean transaction value | x, m] = p (v + x m) / (p x + q - 1).

        A credibility-weighted blend of the population mean and the customer's own mean;
        customers with frequency 0 get the population mean p v / (q - 1).
        """
        arrays = _as_arrays(frequency=frequency, monetary_value=monetary_value)
        x, m = arrays["frequency"], arrays["monetary_value"]
        m = np.where(x > 0, m, 0.0)
        denominator = self.p * x + self.q - 1
        if np.any(denominator <= 0):
            raise BTYDError(
                f"GammaGamma expected value undefined for q={self.q} <= 1 and frequency 0"
            )
        return self.p * (self.v + x * m) / denominator


# --------------------------------------------------------------------------- CLV


def expected_value(
    bgnbd: BGNBD,
    gg: GammaGamma,
    summary: pd.DataFrame,
    horizon_days: float,
    unit_days: float = 7.0,
) -> FloatArray:
    """Expected revenue per customer in the next ``horizon_days``, without discounting.

    E[purchases in the horizon] x E[average purchase value]: the usual simple CLV, which
    relies on the Gamma-Gamma assumption that spend is independent of purchase frequency.
    ``summary`` comes from :func:`rfm_summary` with the same ``unit_days``.
    """
    missing = [c for c in ("frequency", "recency", "T", "monetary_value") if c not in summary]
    if missing:
        raise BTYDError(
            f"expected_value: summary is missing {word_for(len(missing), COLUMNS)} {missing}"
        )
    if horizon_days < 0 or unit_days <= 0:
        raise BTYDError(
            f"expected_value: need horizon_days >= 0 and unit_days > 0, "
            f"got {horizon_days}, {unit_days}"
        )
    purchases = bgnbd.expected_purchases(
        horizon_days / unit_days, summary["frequency"], summary["recency"], summary["T"]
    )
    spend = gg.expected_average_value(summary["frequency"], summary["monetary_value"])
    return purchases * spend
