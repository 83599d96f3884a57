"""Draws from the BG/NBD, MBG/NBD and Gamma-Gamma processes themselves, to test the fits
and predictions of ``lifecycle.btyd`` against known parameters."""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from lifecycle.btyd import BTYDError, FloatArray, _as_arrays


def simulate_bgnbd(
    n: int,
    r: float,
    alpha: float,
    a: float,
    b: float,
    T_units: ArrayLike,
    rng: np.random.Generator,
    *,
    future_units: float = 0.0,
    first: int = 0,
) -> pd.DataFrame:
    """Draw n customers from the BG/NBD process itself (``first`` = 1: the MBG/NBD's, where
    a customer may also drop out right after the first purchase), in continuous time.

    Each customer makes a first purchase at time 0, then purchases as a Poisson process with
    rate lambda ~ Gamma(r, rate alpha); right after each repeat purchase they drop out for
    good with probability p ~ Beta(a, b) (no dropout at the first purchase, as in the paper).
    Observed over (0, T_units] (a scalar or one value per customer). With ``future_units`` > 0
    the same processes continue and ``future_purchases`` counts purchases in
    (T, T + future_units]. Real data goes through :func:`rfm_summary` at day granularity.
    """
    if n < 1:
        raise BTYDError(f"simulate_bgnbd: n must be positive, got {n}")
    t_obs = np.broadcast_to(np.asarray(T_units, dtype=float), (n,)).copy()
    if np.any(~np.isfinite(t_obs)) or np.any(t_obs < 0) or future_units < 0:
        raise BTYDError("simulate_bgnbd: T_units and future_units must be finite and >= 0")
    rate = rng.gamma(r, 1.0 / alpha, size=n)
    dropout = rng.beta(a, b, size=n)
    end = t_obs + future_units

    frequency = np.zeros(n, dtype=np.int64)
    recency = np.zeros(n)
    future = np.zeros(n, dtype=np.int64)
    clock = np.zeros(n)
    active = np.flatnonzero(rate > 0)
    if first:
        active = active[rng.random(active.size) >= dropout[active]]
    # One round per purchase, vectorised over the customers still purchasing.
    while active.size:
        clock[active] += rng.exponential(1.0, size=active.size) / rate[active]
        active = active[clock[active] <= end[active]]
        observed = clock[active] <= t_obs[active]
        frequency[active[observed]] += 1
        recency[active[observed]] = clock[active[observed]]
        future[active[~observed]] += 1
        active = active[rng.random(active.size) >= dropout[active]]

    simulated = pd.DataFrame({"frequency": frequency, "recency": recency, "T": t_obs})
    if future_units > 0:
        simulated["future_purchases"] = future
    return simulated


def simulate_gamma_gamma(
    frequency: ArrayLike, p: float, q: float, v: float, rng: np.random.Generator
) -> FloatArray:
    """Mean value of each customer's ``frequency`` transactions under the Gamma-Gamma model.

    nu ~ Gamma(q, rate v) per customer and each transaction ~ Gamma(p, rate nu), so the sum
    of x transactions is Gamma(p x, rate nu), drawn in one go. 0 where frequency is 0.
    """
    x = _as_arrays(frequency=frequency)["frequency"]
    nu = rng.gamma(q, 1.0 / v, size=x.shape)
    repeat = x > 0
    monetary_value = np.zeros(x.shape)
    monetary_value[repeat] = rng.gamma(p * x[repeat], 1.0 / nu[repeat]) / x[repeat]
    return monetary_value
