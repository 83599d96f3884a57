"""The distribution of a customer's value in a horizon under BG/NBD (or MBG/NBD) and
Gamma-Gamma, exactly: its P10/P50/P90 and P(any purchase), for a served BG/NBD +
Gamma-Gamma rule (``lifecycle.rules``) as LightGBM's quantile models give them.

Purchases. Alive at T (probability P(alive)), a customer's rate and dropout are, given
the history, lambda ~ Gamma(r + x, alpha + T) and p ~ Beta(a, b + x + first),
independent. In the horizon t they buy at the chances of a Poisson(lambda t) process and
drop out right after each purchase with probability p, so the purchases N are the smaller
of K ~ Poisson(lambda t) and G ~ Geometric(p) on 1, 2, ...:

    P(N >= n) = P(alive) P(K >= n) P(G >= n)
              = P(alive) I_{t / (alpha + T + t)}(n, r + x) B(a, b' + n - 1) / B(a, b'),

K mixed over lambda being negative binomial. Their sum is the expected purchases
(``BGNBD.expected_purchases``, tested).

Spend. Each purchase is worth Gamma(q_gg, rate nu), nu ~ Gamma(q + p_gg x, v + x m) given
the x repeat purchases of mean m; n of them sum S with S / (S + v + x m) ~ Beta(n p_gg,
q + p_gg x). So P(value <= z) = P(N = 0) + sum_n P(N = n) I_{z / (z + v + x m)}(n p_gg,
q + p_gg x), whose levels are found by
Newton's method, with the density as the derivative.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy.special import betainc, betaln

from lifecycle.btyd import purchase_model

LEVELS = (0.1, 0.5, 0.9)
MOST_PURCHASES = 20_000  # a cap: past it, more purchases count as this many
TAIL = 1e-9
TOLERANCE = 1e-9  # of the log value: the levels are found to about 1e-9 relative
MOST_STEPS = 100  # bisection alone would need 35 from the starting bracket


@dataclass(frozen=True)
class PurchaseSurvival:
    """P(N >= n) of each customer for n = 1, 2, ..., each row until it falls below
    ``TAIL``: column n - 1 holds the rows still above it then (``rows``) and their values."""

    customers: int
    rows: list[np.ndarray]
    values: list[np.ndarray]

    def needed(self) -> np.ndarray:
        """The columns each customer has: the purchases they can make above ``TAIL``."""
        counts = np.zeros(self.customers, dtype=np.int64)
        for rows in self.rows:
            counts[rows] += 1
        return counts

    def dense(self, chosen: np.ndarray, width: int) -> np.ndarray:
        """The chosen customers' first ``width`` columns, 0 past a row's end."""
        place = np.full(self.customers, -1)
        place[chosen] = np.arange(len(chosen))
        matrix = np.zeros((len(chosen), width))
        for n, (rows, values) in enumerate(zip(self.rows[:width], self.values, strict=False)):
            at = place[rows]
            matrix[at[at >= 0], n] = values[at >= 0]
        return matrix

    def expected(self) -> np.ndarray:
        """E[N], the sum of P(N >= n)."""
        total = np.zeros(self.customers)
        for rows, values in zip(self.rows, self.values, strict=True):
            total[rows] += values
        return total


def purchase_survival(
    process: Mapping[str, float], x: np.ndarray, t_x: np.ndarray, t_obs: np.ndarray, t: float
) -> PurchaseSurvival:
    """P(N >= n) for n = 1, 2, ... of each customer, until below ``TAIL``.

    Both factors step from n to n + 1 by a recurrence instead of special functions:
    P(K >= n + 1) = P(K >= n) - P(K = n), the negative binomial's P(K = n) kept in logs
    (no underflow for customers with many purchases), and P(G >= n + 1) = P(G >= n)
    (b' + n - 1) / (a + b' + n - 1)."""
    model = purchase_model(process)
    r, alpha, a, b = model.params
    x = np.asarray(x, dtype="float64")
    alive = model.probability_alive(x, t_x, t_obs)
    log_odds = np.log(t) - np.log(alpha + np.asarray(t_obs, dtype="float64") + t)
    shape = r + x  # K ~ NB(r + x, alpha + T): P(K >= n) = I_odds(n, r + x)
    log_none = shape * np.log1p(-np.exp(log_odds))  # log P(K = 0)
    chance = -np.expm1(log_none)  # P(K >= 1)
    log_exactly = log_none + np.log(shape) + log_odds  # log P(K = 1)
    stay = alive  # P(alive) P(G >= 1)
    b_post = b + model.FIRST + x
    rows = np.arange(len(x))
    survival = PurchaseSurvival(len(x), [], [])
    for n in range(1, MOST_PURCHASES + 1):
        column = np.maximum(chance, 0.0) * stay
        survival.rows.append(rows)
        survival.values.append(column)
        going = column >= TAIL
        if not going.all():
            rows, chance, stay, log_exactly = (v[going] for v in (rows, chance, stay, log_exactly))
            if not len(rows):
                break
        chance = chance - np.exp(log_exactly)
        log_exactly = log_exactly + np.log((shape[rows] + n) / (n + 1)) + log_odds[rows]
        stay = stay * (b_post[rows] + n - 1) / (a + b_post[rows] + n - 1)
    return survival


def value_quantiles(
    process: Mapping[str, float],
    gamma_gamma: Mapping[str, float],
    orders: np.ndarray,
    first: np.ndarray,
    last: np.ndarray,
    mean_value: np.ndarray,
    horizon_days: float,
    levels: tuple[float, ...] = LEVELS,
) -> tuple[np.ndarray, np.ndarray]:
    """(rows x levels quantiles of the value in the horizon, P(any purchase)) of customers
    given their orders, days since the first and the last purchase and mean order value;
    a user without a purchase (orders < 1 or unknown days) buys nothing: 0, 0."""
    orders, first, last, mean_value = (
        np.asarray(v, dtype="float64") for v in (orders, first, last, mean_value)
    )
    rows = len(orders)
    quantiles, buys = np.zeros((rows, len(levels))), np.zeros(rows)
    customer = (orders >= 1) & np.isfinite(first) & np.isfinite(last)
    if not customer.any():
        return quantiles, buys
    x = orders[customer] - 1
    t_obs = np.maximum(first[customer], 0.0) / 7.0
    t_x = np.maximum(first[customer] - last[customer], 0.0) / 7.0
    survival = purchase_survival(process, x, t_x, t_obs, horizon_days / 7.0)
    p_gg, q_gg, v_gg = (float(gamma_gamma[k]) for k in ("p", "q", "v"))
    spent = np.where(x > 0, np.nan_to_num(mean_value[customer]), 0.0)
    shape = q_gg + p_gg * x  # nu's posterior
    scale = v_gg + x * spent
    mean_spend = p_gg * scale / np.maximum(shape - 1.0, 1e-12)
    # customers in blocks of columns (a power of two at least the purchases they can make)
    # so that few-purchase customers do not pay for the many
    block = 2 ** np.ceil(np.log2(survival.needed())).astype(int)
    found, any_purchase = np.zeros((len(x), len(levels))), np.zeros(len(x))
    for width in np.unique(block):
        chosen = np.flatnonzero(block == width)
        at_least = survival.dense(chosen, width)
        exactly = at_least - np.column_stack([at_least[:, 1:], np.zeros(len(chosen))])
        any_purchase[chosen] = at_least[:, 0]
        for j, level in enumerate(levels):
            positive = 1.0 - at_least[:, 0] < level  # else the level is at 0
            if positive.any():
                some = chosen[positive]
                found[some, j] = _level(
                    level,
                    at_least[positive, 0],
                    exactly[positive],
                    shape[some],
                    scale[some],
                    mean_spend[some],
                    p_gg,
                )
    quantiles[customer] = found
    buys[customer] = any_purchase
    return quantiles, buys


def _level(
    level: float,
    buys: np.ndarray,
    exactly: np.ndarray,
    shape: np.ndarray,
    scale: np.ndarray,
    mean_spend: np.ndarray,
    p_gg: float,
) -> np.ndarray:
    """The value at ``level`` of customers whose P(no purchase) is below it: Newton's
    method on the log value, kept inside a bracket that every step narrows, bisecting where
    a step would leave it."""
    purchases = np.arange(1, exactly.shape[1] + 1) * p_gg
    # the log of each Beta(n p_gg, shape) density's constant, for the derivative
    norm = betaln(purchases[None, :], shape[:, None])

    def below(log_z: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """P(value <= z) - level and its derivative in log z, of the chosen rows."""
        z = np.exp(log_z)
        share = (z / (z + scale[rows]))[:, None]
        weights = exactly[rows]
        cdf = 1.0 - buys[rows] + (weights * betainc(purchases, shape[rows, None], share)).sum(1)
        log_density = purchases * np.log(share) + shape[rows, None] * np.log1p(-share) - norm[rows]
        return cdf - level, (weights * np.exp(log_density)).sum(1)

    expected = np.log(np.maximum(mean_spend, 1e-12)) + np.log1p(
        (exactly * np.arange(1, exactly.shape[1] + 1)).sum(1)
    )
    low, high, guess = expected - 25.0, expected + 3.0, expected.copy()
    everyone = np.arange(len(buys))
    short = everyone
    while len(short):  # widen until the bracket holds the level
        short = short[below(high[short], short)[0] < 0.0]
        high[short] += 2.0
    # a level below e^-25 of the expected value: that bound is its value (0 in money)
    floor = below(low, everyone)[0] >= 0.0
    guess[floor] = low[floor]
    open_rows = everyone[~floor]
    for _ in range(MOST_STEPS):
        if not len(open_rows):
            break
        gap, slope = below(guess[open_rows], open_rows)
        under = gap < 0.0
        low[open_rows] = np.where(under, guess[open_rows], low[open_rows])
        high[open_rows] = np.where(under, high[open_rows], guess[open_rows])
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # a flat slope
            newton = gap / slope
        step = guess[open_rows] - newton
        inside = np.isfinite(step) & (step > low[open_rows]) & (step < high[open_rows])
        close = np.abs(newton) < TOLERANCE
        guess[open_rows] = np.where(inside | close, step, (low[open_rows] + high[open_rows]) / 2)
        settled = close | (high[open_rows] - low[open_rows] < TOLERANCE)
        open_rows = open_rows[~settled]
    return np.exp(guess)
