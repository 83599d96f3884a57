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
q + p_gg x), whose levels are found by bisection.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.special import betainc, betaln

from lifecycle.btyd import purchase_model

LEVELS = (0.1, 0.5, 0.9)
MOST_PURCHASES = 400  # a cap: reaching it takes hundreds of purchases in one horizon
TAIL = 1e-9
BISECTIONS = 36  # on the log value from a bracket 28 wide: about 4e-10 relative


def purchase_survival(
    process: Mapping[str, float], x: np.ndarray, t_x: np.ndarray, t_obs: np.ndarray, t: float
) -> np.ndarray:
    """P(N >= n) for n = 1, 2, ... (rows x columns until every row is below ``TAIL``)."""
    model = purchase_model(process)
    r, alpha, a, b = model.params
    alive = model.probability_alive(x, t_x, t_obs)
    odds = t / (alpha + t_obs + t)  # K ~ NB(r + x, alpha + T): P(K >= n) = I_odds(n, r + x)
    b_post = b + model.FIRST + x
    columns = []
    for n in range(1, MOST_PURCHASES + 1):
        column = (
            alive * betainc(n, r + x, odds) * np.exp(betaln(a, b_post + n - 1) - betaln(a, b_post))
        )
        columns.append(column)
        if column.max(initial=0.0) < TAIL:
            break
    return np.column_stack(columns)


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
    exactly = survival - np.column_stack([survival[:, 1:], np.zeros(len(x))])  # P(N = n)
    p_gg, q_gg, v_gg = (float(gamma_gamma[k]) for k in ("p", "q", "v"))
    spent = np.where(x > 0, np.nan_to_num(mean_value[customer]), 0.0)
    shape = q_gg + p_gg * x  # nu's posterior
    scale = v_gg + x * spent
    mean_spend = p_gg * scale / np.maximum(shape - 1.0, 1e-12)
    # the purchases each customer can make with more than TAIL probability, in blocks of
    # columns (a power of two) so that few-purchase customers do not pay for the many
    needed = (survival >= TAIL).sum(1)
    block = 2 ** np.ceil(np.log2(np.maximum(needed, 1))).astype(int)
    found = np.zeros((len(x), len(levels)))
    for j, level in enumerate(levels):
        positive = 1.0 - survival[:, 0] < level  # else the level is at 0
        for width in np.unique(block[positive]):
            chosen = np.flatnonzero(positive & (block == width))
            found[chosen, j] = _level(
                level,
                survival[chosen, 0],
                exactly[chosen, :width],
                shape[chosen],
                scale[chosen],
                mean_spend[chosen],
                p_gg,
            )
    quantiles[customer] = found
    buys[customer] = survival[:, 0]
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
    """The value at ``level`` of customers whose P(no purchase) is below it, by bisection
    on the log value."""
    purchases = np.arange(1, exactly.shape[1] + 1) * p_gg

    def below(log_z: np.ndarray) -> np.ndarray:
        z = np.exp(log_z)
        share = (z / (z + scale))[:, None]
        return 1.0 - buys + (exactly * betainc(purchases, shape[:, None], share)).sum(1)

    expected = np.maximum(mean_spend, 1e-12) * (
        1.0 + (exactly * np.arange(1, exactly.shape[1] + 1)).sum(1)
    )
    low, high = np.log(expected) - 25.0, np.log(expected) + 3.0
    while True:  # widen until the bracket holds the level
        short = below(high) < level
        if not short.any():
            break
        high = np.where(short, high + 2.0, high)
    for _ in range(BISECTIONS):
        middle = (low + high) / 2
        under = below(middle) < level
        low, high = np.where(under, middle, low), np.where(under, high, middle)
    return np.exp(high)
