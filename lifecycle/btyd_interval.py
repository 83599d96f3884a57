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

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy.special import betainc, betaln, digamma, logit, zeta

from lifecycle.btyd import purchase_model
from lifecycle.words import counted

LEVELS = (0.1, 0.5, 0.9)
WHOSE = ("customer's", "customers'")  # 1 customer's P90, 2 customers' P90
STEPS = ("step", "steps")
MOST_PURCHASES = 20_000  # a cap: past it, more purchases count as this many
TAIL = 1e-9
TOLERANCE = 1e-9  # of the log value: the levels are found to about 1e-9 relative
MOST_STEPS = 100  # bisection alone would need 35 from the starting bracket
# Of the log value: the most a Newton step may rise (one rising more bisects the bracket
# instead, or rises this much while no value above the level is known). A flat stretch of
# the distribution (a count-only log's spend, each order worth the same, puts the value
# given n purchases near n times it: a staircase) sends Newton's step far past the level,
# whence bisection does not come back within MOST_STEPS
WIDEN = 2.0
FIRST_COLUMNS = 16  # P(N >= n) is worked out in blocks of n, this many, then doubling
# Memory: a block of n is worked out for this many (customer, n) at most at once, and the
# levels are solved for customers of this many columns at most at once (some 250 bytes
# each; a customer with more is solved alone); the numbers are each customer's own either way
BLOCK_CELLS = 250_000
SLICE_COLUMNS = 250_000


@dataclass(frozen=True)
class PurchaseSurvival:
    """P(N >= n) of each customer for n = 1, 2, ..., each row until it falls below ``TAIL``
    (the first value below it kept): one flat array, a customer's values after the previous
    customer's (``counts`` of them, from ``offsets``), so that no row is padded."""

    counts: np.ndarray  # each customer's columns
    values: np.ndarray

    @property
    def offsets(self) -> np.ndarray:
        """Where each customer's values start."""
        return np.cumsum(self.counts) - self.counts

    def needed(self) -> np.ndarray:
        """The columns each customer has: the purchases they can make above ``TAIL``."""
        return self.counts

    def purchases(self) -> np.ndarray:
        """The n of each value."""
        return np.arange(1, len(self.values) + 1) - np.repeat(self.offsets, self.counts)

    def expected(self) -> np.ndarray:
        """E[N], the sum of P(N >= n)."""
        return np.add.reduceat(self.values, self.offsets)

    def slices(self, columns: int) -> list[slice]:
        """Consecutive customers of at most ``columns`` columns together (or one alone)."""
        ends = np.cumsum(self.counts)
        parts, start = [], 0
        while start < len(ends):
            before = ends[start - 1] if start else 0
            end = max(int(np.searchsorted(ends, before + columns, side="right")), start + 1)
            parts.append(slice(start, end))
            start = end
        return parts

    def __getitem__(self, customers: slice) -> PurchaseSurvival:
        """The survival of a run of consecutive customers (a view, no copy)."""
        ends = np.cumsum(self.counts)
        start, stop, _ = customers.indices(len(ends))
        first = ends[start - 1] if start else 0
        last = ends[stop - 1] if stop > start else first
        return PurchaseSurvival(self.counts[customers], self.values[first:last])


def purchase_survival(
    process: Mapping[str, float], x: np.ndarray, t_x: np.ndarray, t_obs: np.ndarray, t: float
) -> PurchaseSurvival:
    """P(N >= n) for n = 1, 2, ... of each customer, until below ``TAIL``.

    Both factors follow a recurrence from n to n + 1 instead of special functions, worked
    out for a block of n at once (cumulative sums and products): P(K >= n + 1) = P(K >= n)
    - P(K = n), the negative binomial's P(K = n) kept in logs (no underflow for customers
    with many purchases), and P(G >= n + 1) = P(G >= n) (b' + n - 1) / (a + b' + n - 1)."""
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
    counts = np.zeros(len(x), dtype=np.int64)
    kept: list[tuple[np.ndarray, ...]] = []  # rows, their values kept, how many, first n - 1
    start, width = 0, FIRST_COLUMNS  # columns start, start + 1, ...: n = start + 1, ...
    while len(rows) and start < MOST_PURCHASES:
        width = min(width, MOST_PURCHASES - start)
        n = np.arange(start + 1, start + width + 1, dtype="float64")
        going = []
        step = max(BLOCK_CELLS // width, 1)
        for part in range(0, len(rows), step):
            at = slice(part, part + step)
            values, last, state = _block(
                n, log_odds, shape, b_post, a, rows[at], chance[at], log_exactly[at], stay[at]
            )
            counts[rows[at]] = start + last + 1
            kept.append((rows[at], values, last + 1, start))
            going.append(state)
        rows, chance, log_exactly, stay = (np.concatenate(v) for v in zip(*going, strict=True))
        start, width = start + width, 2 * width
    # each customer's values in the order of n, placed from each block's (rows, then n)
    values = np.empty(int(counts.sum()))
    offsets = np.cumsum(counts) - counts
    while kept:  # (each block let go once placed)
        block_rows, block, taken, first = kept.pop()
        before = np.cumsum(taken) - taken  # of each row's values in the block's
        into = np.arange(len(block)) + np.repeat(offsets[block_rows] + first - before, taken)
        values[into] = block
    return PurchaseSurvival(counts, values)


def _block(
    n: np.ndarray,
    log_odds: np.ndarray,
    shape: np.ndarray,
    b_post: np.ndarray,
    a: float,
    rows: np.ndarray,
    chance: np.ndarray,
    log_exactly: np.ndarray,
    stay: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, ...]]:
    """P(N >= n) of ``rows`` for the block's n, from P(K >= n), log P(K = n) and P(alive)
    P(G >= n) at its first: (the values kept, each row's last column here, the rows going
    on and those three at the next block's first n)."""
    width = len(n)
    # from each n to n + 1: log P(K = n + 1) - log P(K = n), and P(G >= n + 1) / P(G >= n)
    grow = np.log((shape[rows, None] + n) / (n + 1)) + log_odds[rows, None]
    keep = (b_post[rows, None] + n - 1) / (a + b_post[rows, None] + n - 1)
    log_exact = np.cumsum(np.column_stack([log_exactly, grow[:, :-1]]), axis=1)
    exact = np.exp(log_exact)
    chances = chance[:, None] - np.cumsum(
        np.column_stack([np.zeros(len(rows)), exact[:, :-1]]), axis=1
    )
    stays = stay[:, None] * np.cumprod(np.column_stack([np.ones(len(rows)), keep[:, :-1]]), axis=1)
    block = np.maximum(chances, 0.0) * stays
    below = block < TAIL
    ended = below.any(axis=1)
    last = np.where(ended, below.argmax(axis=1), width - 1)  # the row's last column here
    going = ~ended
    state = (
        rows[going],
        chances[going, -1] - exact[going, -1],
        log_exact[going, -1] + grow[going, -1],
        stays[going, -1] * keep[going, -1],
    )
    return block[np.arange(width)[None, :] <= last[:, None]], last, state


def value_quantiles(
    process: Mapping[str, float],
    gamma_gamma: Mapping[str, float],
    orders: np.ndarray,
    first: np.ndarray,
    last: np.ndarray,
    mean_value: np.ndarray,
    horizon_days: float,
    levels: tuple[float, ...] = LEVELS,
    most_steps: int = MOST_STEPS,
    none_ratio: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(rows x levels quantiles of the value in the horizon, P(any purchase)) of customers
    given their orders, days since the first and the last purchase and mean order value;
    a user without a purchase (orders < 1 or unknown days) buys nothing: 0, 0. A level not
    found in ``most_steps`` takes its bracket's outer end (:func:`_unsettled`). With
    ``none_ratio`` (per row, P(no purchase in a longer horizon) / P(none in this one): a
    bridged rule's, ``lifecycle.bridge``) the levels are of the mixture of the longer
    horizon's P(any purchase) and this horizon's value given a purchase."""
    mean_value = np.asarray(mean_value, dtype="float64")
    quantiles, buys = np.zeros((len(mean_value), len(levels))), np.zeros(len(mean_value))
    customer, survival = _survival(process, orders, first, last, horizon_days)
    if survival is None:
        return quantiles, buys
    x = np.asarray(orders, dtype="float64")[customer] - 1
    p_gg, q_gg, v_gg = (float(gamma_gamma[k]) for k in ("p", "q", "v"))
    spent = np.where(x > 0, np.nan_to_num(mean_value[customer]), 0.0)
    shape = q_gg + p_gg * x  # nu's posterior
    scale = v_gg + x * spent
    mean_spend = p_gg * scale / np.maximum(shape - 1.0, 1e-12)
    buys[customer] = survival.values[survival.offsets]  # P(N >= 1)
    mixed = None if none_ratio is None else 1.0 - (1.0 - buys[customer]) * none_ratio[customer]
    quantiles[customer] = _levels(
        levels, survival, shape, scale, mean_spend, p_gg, most_steps, mixed
    )
    return quantiles, buys


def count_quantiles(
    process: Mapping[str, float],
    each: float,
    orders: np.ndarray,
    first: np.ndarray,
    last: np.ndarray,
    horizon_days: float,
    levels: tuple[float, ...] = LEVELS,
    none_ratio: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`value_quantiles` where every order is worth ``each`` (no spend to model: a
    count-only log's one purchase an order): the levels of N x ``each``, whole purchases,
    exactly from P(N >= n) (a Gamma-Gamma fitted on equal values smeared them: P10 1.0016,
    P50 2.9983 purchases)."""
    quantiles, buys = np.zeros((len(orders), len(levels))), np.zeros(len(orders))
    customer, survival = _survival(process, orders, first, last, horizon_days)
    if survival is None:
        return quantiles, buys
    offsets = survival.offsets
    buys[customer] = any_purchase = survival.values[offsets]  # P(N >= 1)
    values = survival.values
    if none_ratio is not None:  # the longer horizon's P(any), this one's N given a purchase
        mixed = 1.0 - (1.0 - any_purchase) * none_ratio[customer]
        scale = np.divide(mixed, any_purchase, out=np.zeros_like(mixed), where=any_purchase > 0)
        values = values * np.repeat(scale, survival.counts)
    for j, level in enumerate(levels):  # the least n with P(N > n) <= 1 - level
        above = (values > 1.0 - level).astype(np.int64)
        quantiles[customer, j] = np.add.reduceat(above, offsets) * each
    return quantiles, buys


def _survival(
    process: Mapping[str, float],
    orders: np.ndarray,
    first: np.ndarray,
    last: np.ndarray,
    horizon_days: float,
) -> tuple[np.ndarray, PurchaseSurvival | None]:
    """The customers among the rows (a purchase, both days known) and their P(N >= n) in
    the horizon (None without one)."""
    orders, first, last = (np.asarray(v, dtype="float64") for v in (orders, first, last))
    customer = (orders >= 1) & np.isfinite(first) & np.isfinite(last)
    if not customer.any():
        return customer, None
    x = orders[customer] - 1
    t_obs = np.maximum(first[customer], 0.0) / 7.0
    t_x = np.maximum(first[customer] - last[customer], 0.0) / 7.0
    return customer, purchase_survival(process, x, t_x, t_obs, horizon_days / 7.0)


def _levels(
    levels: tuple[float, ...],
    survival: PurchaseSurvival,
    shape: np.ndarray,
    scale: np.ndarray,
    mean_spend: np.ndarray,
    p_gg: float,
    most_steps: int = MOST_STEPS,
    mixed: np.ndarray | None = None,
) -> np.ndarray:
    """Rows x ``levels`` values (``_solve``), for customers of at most ``SLICE_COLUMNS``
    columns at a time: each row's numbers are its own, so slicing changes none of them."""
    found = np.zeros((len(survival.counts), len(levels)))
    for part in survival.slices(SLICE_COLUMNS):
        found[part] = _solve(
            levels,
            survival[part],
            shape[part],
            scale[part],
            mean_spend[part],
            p_gg,
            most_steps,
            None if mixed is None else mixed[part],
        )
    return found


def _solve(
    levels: tuple[float, ...],
    survival: PurchaseSurvival,
    shape: np.ndarray,
    scale: np.ndarray,
    mean_spend: np.ndarray,
    p_gg: float,
    most_steps: int = MOST_STEPS,
    mixed: np.ndarray | None = None,
) -> np.ndarray:
    """Rows x ``levels`` values of the mixture of P(any purchase) (``mixed``, else the
    process's own) and the value given a purchase, 0 where P(no purchase) reaches the level.
    Every (row, level) is solved at once, each on its row's own terms (none padded), by
    Newton's method on the log value for the logit of the value's distribution given a
    purchase, G = (P(value <= z) - P(N = 0)) / P(N >= 1): about linear in the log value in
    both tails (spend a Beta prime, power laws), so few steps from a start matched to its
    moments. Each step is kept inside a bracket that every evaluation narrows, bisecting
    where it would leave it; below e^-25 of the expected value (the bracket's floor) a level
    takes that floor's value (0 in money)."""
    counts, offsets, at_least = survival.counts, survival.offsets, survival.values
    buys = at_least[offsets]
    customer = np.repeat(np.arange(len(counts)), counts)  # of each term
    # P(N = n) given a purchase: P(N >= n) - P(N >= n + 1), the last of a row its P(N >= n)
    after = np.append(at_least[1:], 0.0)
    after[offsets + counts - 1] = 0.0
    # (P(alive) can underflow to 0: no level is solved for such a row)
    chance = np.divide(
        at_least - after, buys[customer], out=np.zeros_like(at_least), where=buys[customer] > 0
    )
    purchases = survival.purchases() * p_gg  # of each term
    term_shape = shape[customer]
    # the log of each Beta(n p_gg, shape) density's constant, for the derivative
    norm = betaln(purchases, term_shape)
    found = np.zeros((len(counts), len(levels)))
    mixed = buys if mixed is None else mixed
    # else the level is at 0 (P(alive) can underflow to 0: nothing to solve)
    wanted = (np.asarray(levels)[None, :] > 1.0 - mixed[:, None]) & (buys[:, None] > 0)
    row, column = np.nonzero(wanted)
    if not len(row):
        return found
    target = logit((np.asarray(levels)[column] - (1.0 - mixed[row])) / mixed[row])

    def gap(log_z: np.ndarray, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """logit G(z) - the target and its derivative in log z, of the chosen entries."""
        rows = row[at]
        lengths = counts[rows]
        starts = np.cumsum(lengths) - lengths  # of each entry's terms among the chosen
        entry = np.repeat(np.arange(len(at)), lengths)
        terms = np.arange(len(entry)) + np.repeat(offsets[rows] - starts, lengths)
        z = np.exp(log_z)
        share = (z / (z + scale[rows]))[entry]
        weights, a, b = chance[terms], purchases[terms], term_shape[terms]
        given = np.add.reduceat(weights * betainc(a, b, share), starts)
        density = np.exp(a * np.log(share) + b * np.log1p(-share) - norm[terms])
        with np.errstate(divide="ignore", invalid="ignore"):
            slope = np.add.reduceat(weights * density, starts) / (given * (1.0 - given))
            return np.log(given) - np.log1p(-given) - target[at], slope

    # a logistic in the log value with the mean and variance of log(S) given a purchase,
    # S / scale a Beta prime(n p_gg, shape) given N = n
    each_n = np.arange(1, counts.max() + 1) * p_gg  # the functions of n or of a row alone
    n_index = survival.purchases() - 1
    centre_n = digamma(each_n)[n_index] - digamma(shape)[customer]
    centre = np.add.reduceat(chance * centre_n, offsets)
    spread = np.add.reduceat(
        chance * (zeta(2, each_n)[n_index] + zeta(2, shape)[customer] + centre_n**2), offsets
    )
    spread = np.sqrt(3.0 * np.maximum(spread - centre**2, 1e-6)) / np.pi
    guess = np.log(scale[row]) + centre[row] + spread[row] * target
    expected = np.log(np.maximum(mean_spend, 1e-12)) + np.log1p(
        np.add.reduceat(at_least, offsets)  # E[N]
    )
    low, high = expected[row] - 25.0, np.full(len(row), np.inf)
    floor_open = np.ones(len(row), dtype=bool)  # the floor not yet evaluated
    guess = np.maximum(guess, low)
    open_entries = np.arange(len(row))
    for _ in range(most_steps):
        if not len(open_entries):
            break
        at = open_entries
        value, slope = gap(guess[at], at)
        under = value < 0.0
        at_floor = guess[at] == low[at]
        floor_open[at] &= ~at_floor
        low[at] = np.where(under, guess[at], low[at])
        high[at] = np.where(under, high[at], guess[at])
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # a flat slope
            newton = value / slope
        step = guess[at] - newton
        ceiling = np.minimum(high[at], guess[at] + WIDEN)
        inside = np.isfinite(step) & (step > low[at]) & (step < ceiling)
        close = np.abs(newton) < TOLERANCE
        fallback = np.where(
            floor_open[at] & (step <= low[at]),
            low[at],  # evaluate the floor
            np.where(np.isinf(high[at]), guess[at] + WIDEN, (low[at] + high[at]) / 2),
        )
        floored = at_floor & ~under  # at or above the level at the floor: that is its value
        guess[at] = np.where(floored, guess[at], np.where(inside | close, step, fallback))
        settled = floored | close | (high[at] - low[at] < TOLERANCE)
        open_entries = at[~settled]
    if len(open_entries):
        guess[open_entries] = _unsettled(levels, column, low, high, open_entries, most_steps)
    found[row, column] = np.exp(guess)
    return found


def _unsettled(
    levels: tuple[float, ...],
    column: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    entries: np.ndarray,
    most_steps: int,
) -> np.ndarray:
    """The log values of (row, level) ``entries`` not found in ``most_steps``: the end of
    its bracket that widens the interval (a level below the median its lower bound, else its
    upper one; the level lies between), logged; refused where that end is not known (no
    value above the level evaluated), as a number known wrong is never served."""
    outer = np.where(np.asarray(levels)[column[entries]] < 0.5, low[entries], high[entries])
    for k, level in enumerate(levels):
        mine = column[entries] == k
        if not mine.any():
            continue
        name, ends = f"P{round(level * 100)}", outer[mine]
        if not np.isfinite(ends).all():
            raise ValueError(
                f"the BG/NBD + Gamma-Gamma interval: {counted(int(mine.sum()), WHOSE)} {name} "
                f"not found in {counted(most_steps, STEPS)}, {int((~np.isfinite(ends)).sum())} of "
                "them with no value known above it"
            )
        apart = float(np.exp(np.max(high[entries][mine] - low[entries][mine])))
        logging.getLogger("lifecycle.btyd_interval").warning(
            "the BG/NBD + Gamma-Gamma interval: %s %s not found in %s, "
            "each given its bracket's %s end (the ends at most x%.3g apart)",
            counted(int(mine.sum()), WHOSE),
            name,
            counted(most_steps, STEPS),
            "lower" if level < 0.5 else "upper",
            apart,
        )
    return outer
