"""Maximum-likelihood fits of :mod:`lifecycle.btyd`'s models: the log-likelihoods with their
exact gradients, and the bounded L-BFGS-B that maximises them to the same optimum on any CPU.

Why the care: on online_retail's 2,732 customers at 2011-09-09 MBG/NBD's likelihood is a
near-flat ridge along the dropout's concentration a + b (the customers hardly differ in how
likely they are to drop out). The old fit, on log a and log b with finite-difference
gradients and L-BFGS-B's default tolerances, stopped on that ridge where the CPU's last bits
of exp and log left it: a = 1.69, b = 1,057 with numpy's AVX-512 paths, a = 0.56, b = 310
without, and the backtest's AUC of p_alive (whose posterior Beta(a, b + x + first) depends
on a + b) moved from 0.582 to 0.585.

The dropout prior Beta(a, b) is fitted as its mean m = a / (a + b) (logit) and its
concentration s = a + b (log), the ridge being along s alone; the gradient is exact
(digamma terms), and the tolerances are those of the optimum itself (a relative change of
the log-likelihood of 1e-15 or a projected gradient of 1e-10). The concentration is bounded
at e^12 (162,755): as s grows Beta(m s, (1 - m) s) tends to the point mass at m, every
customer dropping out with the same probability m (its standard deviation is under
sqrt(m (1 - m) / s), 0.0013 at most there), so a fit that runs to the bound has found that
homogeneous-dropout limit, and L-BFGS-B's projection puts it on the bound exactly, not
wherever the ridge's last bits stop it. At the other end, a + b down to e^-12, Beta(a, b) is
two points: a share m of the customers drops out at the first chance, the rest never (a young
log's fit can end there); m is bounded at expit(-24) = 3.8e-11, where no customer leaves (a
grocery export's). Gamma-Gamma's fit gets the exact gradient and the same tolerances (its
optimum moved by 2e-5 relative between the CPU paths).

The purchase rate prior Gamma(r, alpha) is fitted the same way, as its log shape r and log
mean r / alpha: as r grows with the mean fixed every customer buys at the same rate (the
spread is 1 / sqrt(r) of the mean, 0.0025 at r = e^12), and customers of one Poisson rate
end on r's bound exactly. On log r and log alpha such a fit stopped on alpha's bound, short
of it, where gammaln(r + x) - gammaln(r) and r log alpha - (r + x) log(alpha + T) (numbers
of 1e6 whose differences are 10) left it: r = 80,573 with numpy's AVX-512 paths, 80,568
without. No term of the log-likelihood cancels large numbers now.

Gamma-Gamma's spend is fitted on log p, log q and log(p v / q), the typical order value: as p
grows each customer's orders are all alike, as q grows every customer spends alike, and each
runs to its bound with the order value held. On log p, log q and log v, with gammaln(p x + q)
- gammaln(p x) - gammaln(q) (numbers of 1e6 at e^12), 2,000 customers of orders of about 20
ended at v = 19.99999997 with numpy's AVX-512 paths and 19.99999999999998 without; its
log-likelihood now takes Stirling's large terms out by hand (:func:`gamma_gamma_loglik`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy  # its optimize loads when fitting, not with every server start
from numpy.typing import NDArray
from scipy.special import digamma, expit, gammaln

FloatArray = NDArray[np.float64]

LOG_BOUND = 12.0  # |log| of r, the dropout's concentration a + b, and Gamma-Gamma's p, q
LOGIT_BOUND = 2 * LOG_BOUND  # |logit| of the mean dropout a / (a + b): a, b down to e^-24 s
TOLERANCES = {"ftol": 1e-15, "gtol": 1e-10, "maxiter": 10_000}


def bgnbd_loglik(
    params: FloatArray,
    x: FloatArray,
    t_x: FloatArray,
    t_obs: FloatArray,
    first: int = 0,
    gradient: bool = False,
) -> tuple[FloatArray, FloatArray | None]:
    """Per-customer log of eq. (6) of FHL (2005) (``first`` = 1: of the MBG/NBD), with
    log-sum-exp over its two terms; with ``gradient`` also its derivatives with respect to
    log r, log alpha, log a and log b (one row per customer). No term cancels large numbers
    (:func:`rising`, :func:`_survival`, r log(alpha / (alpha + t)) as -r log1p(t / alpha)):
    it stays exact as r, alpha or a + b grow towards their bounds."""
    r, alpha, a, b = params
    n = x + first  # chances to drop out
    survives, by_a, by_b = _survival(a, b, n)
    rises, by_r = rising(r, x)  # log Gamma(r + x) / Gamma(r) and its derivative in r
    alive = -r * np.log1p(t_obs / alpha) - x * np.log(alpha + t_obs)
    # Dropped out at the last chance; BG/NBD gives a one-time buyer none.
    chance = n > 0
    dropped = np.full_like(alive, -np.inf)
    last = b + n[chance] - 1
    dropped[chance] = (
        np.log(a)
        - np.log(last)
        - r * np.log1p(t_x[chance] / alpha)
        - x[chance] * np.log(alpha + t_x[chance])
    )
    total = np.logaddexp(alive, dropped)
    if not gradient:
        return rises + survives + total, None
    gone = np.exp(dropped - total)  # the dropped term's share
    stays = 1.0 - gone
    late = np.zeros_like(gone)
    late[chance] = gone[chance] * b / last
    grad = np.column_stack(
        (
            r * (by_r - stays * np.log1p(t_obs / alpha) - gone * np.log1p(t_x / alpha)),
            stays * (r * t_obs - x * alpha) / (alpha + t_obs)
            + gone * (r * t_x - x * alpha) / (alpha + t_x),
            by_a + gone,
            by_b - late,
        )
    )
    return rises + survives + total, grad


# Terms summed one by one: a count up to it is an exact sum; above it (a customer of more
# purchases) Stirling's series adds the rest, so an evaluation costs O(customers + TERMS),
# not O(largest count).
TERMS = 1_024


def rising(c: float, n: FloatArray) -> tuple[FloatArray, FloatArray]:
    """log Gamma(c + n) / Gamma(c) = sum over k < n of log(c + k), and its derivative in c,
    psi(c + n) - psi(c) = sum of 1 / (c + k), for whole n >= 0. As gammaln(c + n) -
    gammaln(c) it cancels at large c (1e-10 of noise at c = e^12, where gammaln is 1.8e6):
    the terms below :data:`TERMS` are summed, the rest is :func:`_stirling`'s."""
    k = np.arange(min(int(np.max(n, initial=0)), TERMS))
    value, slope = _summed(n, np.log(c + k), 1.0 / (c + k))
    beyond = n > TERMS
    if beyond.any():
        tail, tail_slope = _stirling(c + TERMS, n[beyond] - TERMS)
        value[beyond] += tail
        slope[beyond] += tail_slope
    return value, slope


def _summed(n: FloatArray, *terms: FloatArray) -> list[FloatArray]:
    """Each of ``terms`` (term k for k < TERMS) summed over k < min(n, TERMS)."""
    at = np.minimum(n, TERMS).astype(np.intp)
    return [np.concatenate(([0.0], np.cumsum(t)))[at] for t in terms]


LOG_GAMMA_SERIES = (1 / 12, -1 / 360, 1 / 1260, -1 / 1680)  # over z, z^3, z^5, z^7
PSI_SERIES = (-1 / 12, 1 / 120, -1 / 252, 1 / 240)  # over z^2, z^4, z^6, z^8


def _stirling(c: float, n: FloatArray) -> tuple[FloatArray, FloatArray]:
    """log Gamma(c + n) / Gamma(c) and psi(c + n) - psi(c) for c >= TERMS by Stirling's
    series (its remainder is under 1e-24 there), without large terms that cancel:
    (c - 1/2) log1p(n / c) + n log(c + n) - n and the series' difference; exact to a
    relative 1e-16 of n log(c + n)."""
    z = c + n
    grows = np.log1p(n / c)
    value = (c - 0.5) * grows + n * np.log(z) - n + _series(LOG_GAMMA_SERIES, 1, z, c)
    slope = grows - 0.5 / z + 0.5 / c + _series(PSI_SERIES, 2, z, c)
    return value, slope


def _series(coefs: tuple[float, ...], start: int, *at: FloatArray | float) -> FloatArray:
    """Stirling's series of ``coefs`` over the powers start, start + 2, ... of each of ``at``,
    with alternating signs: at[0]'s minus at[1]'s plus at[2]'s ..."""
    return sum(  # type: ignore[return-value]
        (-1) ** j * k * w ** -(start + 2 * i) for j, w in enumerate(at) for i, k in enumerate(coefs)
    )


def _dropout_tail(c: float, a: float, n: FloatArray) -> FloatArray:
    """log Gamma(c + n) / Gamma(c) - log Gamma(c + a + n) / Gamma(c + a), the sum over k < n
    of log1p(-a / (c + a + k)), for c >= TERMS: :func:`_stirling`'s two differences written
    as one, (c - 1/2) log1p(a n / (c (c + a + n))) - a log1p(n / (c + a)) - n log1p(a / (c +
    n)), so that the two n log n that cancel are never formed (exact to a relative 1e-16 of
    a log n, not of n log n)."""
    d = c + a
    return (
        (c - 0.5) * np.log1p(a * n / (c * (d + n)))
        - a * np.log1p(n / d)
        - n * np.log1p(a / (c + n))
        + _series(LOG_GAMMA_SERIES, 1, c + n, c, d, d + n)
    )


def _survival(a: float, b: float, n: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """log B(a, b + n) / B(a, b), the log chance that a Beta(a, b) dropout lets a customer
    survive n chances, with its derivatives in log a and log b, summed term by term:
    sum over k < n of log((b + k) / (a + b + k)). As gammaln(b + n) - gammaln(b) + gammaln(a
    + b) - gammaln(a + b + n) it lost 1e-10 to cancellation at a + b = e^12 (gammaln 2e6),
    the noise at which L-BFGS-B's line search stopped on the ridge. n is whole numbers;
    terms beyond :data:`TERMS` are :func:`_stirling`'s (a customer of that many purchases)."""
    k = np.arange(min(int(np.max(n, initial=0)), TERMS))
    share = a / (a + b + k)  # each term is log(1 - share)
    with np.errstate(divide="ignore"):  # where share < 1/2 the first form is taken
        terms = np.where(share < 0.5, np.log1p(-share), np.log(b + k) - np.log(a + b + k))
    value, by_a, by_b = _summed(n, terms, -share, share * b / (b + k))
    beyond = n > TERMS
    if beyond.any():
        more = n[beyond] - TERMS
        kept_slope, every_slope = _stirling(b + TERMS, more)[1], _stirling(a + b + TERMS, more)[1]
        value[beyond] += _dropout_tail(b + TERMS, a, more)
        by_a[beyond] -= a * every_slope
        by_b[beyond] += b * (kept_slope - every_slope)
    return value, by_a, by_b


def dropout_params(theta: FloatArray) -> tuple[FloatArray, FloatArray]:
    """(r, alpha, a, b) of the fitted coordinates (log r, log rate, logit m, log s), rate =
    r / alpha the mean purchase rate, and the mean dropout m."""
    log_r, log_rate, logit_m, log_s = theta
    m, s = expit(logit_m), np.exp(log_s)
    a, b = m * s, expit(-logit_m) * s  # 1 - m, exact in both tails
    return np.array([np.exp(log_r), np.exp(log_r - log_rate), a, b]), m


def dropout_coordinates(r: float, alpha: float, a: float, b: float) -> FloatArray:
    """The fitted coordinates of (r, alpha, a, b)."""
    return np.array([np.log(r), np.log(r) - np.log(alpha), np.log(a) - np.log(b), np.log(a + b)])


# log r and log s up to LOG_BOUND; the mean rate and dropout within the range they had
# when r, alpha, a and b were each bounded (a rate of e^-24 to e^24 purchases per unit)
BGNBD_BOUNDS = [
    (-LOG_BOUND, LOG_BOUND),
    (-2 * LOG_BOUND, 2 * LOG_BOUND),
    (-LOGIT_BOUND, LOGIT_BOUND),
    (-LOG_BOUND, LOG_BOUND),
]


def bgnbd_objective(
    x: FloatArray, t_x: FloatArray, t_obs: FloatArray, weights: FloatArray, first: int
) -> Callable[[FloatArray], tuple[float, FloatArray]]:
    """The mean negative log-likelihood of weighted (x, t_x, T) rows and its exact gradient,
    in the fitted coordinates (:func:`dropout_params`)."""
    share = weights / weights.sum()

    def objective(theta: FloatArray) -> tuple[float, FloatArray]:
        params, m = dropout_params(theta)
        with np.errstate(all="ignore"):  # a non-finite point is refused below
            loglik, grad = bgnbd_loglik(params, x, t_x, t_obs, first, gradient=True)
            value, (by_r, by_alpha, by_a, by_b) = -np.dot(share, loglik), -np.dot(share, grad)
        # log alpha = log r - log rate
        jac = np.array([by_r + by_alpha, -by_alpha, (1 - m) * by_a - m * by_b, by_a + by_b])
        if not (np.isfinite(value) and np.all(np.isfinite(jac))):
            return 1e300, np.zeros(4)
        return float(value), jac

    return objective


# Below it log Gamma(z) - its Stirling main part is gammaln's own (numbers under 100);
# from it the series (remainder under 1e-16).
SERIES_FROM = 32.0


def _log_gamma_rest(z: FloatArray | float) -> FloatArray:
    """log Gamma(z) - ((z - 1/2) log z - z + log(2 pi) / 2), and its derivative psi(z) - log
    z + 1 / (2 z): what Stirling's main part leaves, a number under 1 / (12 z)."""
    z = np.asarray(z, dtype=float)
    small = z < SERIES_FROM
    at = np.where(small, SERIES_FROM, z)  # the series where it holds, gammaln's below
    rest = np.where(
        small,
        gammaln(z) - (z - 0.5) * np.log(z) + z - 0.5 * np.log(2 * np.pi),
        _series(LOG_GAMMA_SERIES, 1, at),
    )
    slope = np.where(small, digamma(z) - np.log(z) + 0.5 / z, _series(PSI_SERIES, 2, at))
    return rest, slope


def _log1p_minus(t: FloatArray) -> FloatArray:
    """t - log1p(t) for t > -1 (>= 0), to a relative 1e-16 near 0, where the two cancel."""
    t = np.asarray(t, dtype=float)
    near = np.abs(t) < 0.25
    u = np.where(near, t / (2 + t), 0.0)  # log1p(t) = 2 atanh(u), u = t / (2 + t)
    odd = sum(u ** (2 * k + 1) / (2 * k + 1) for k in range(1, 16))  # atanh(u) - u
    # t - 2 u = t^2 / (2 + t); the series' remainder at |u| < 1/7 is under 1e-27
    return np.where(near, t * t / (2 + t) - 2 * odd, t - np.log1p(np.where(near, 0.0, t)))


def gamma_gamma_loglik(
    params: FloatArray, x: FloatArray, m: FloatArray, gradient: bool = False
) -> tuple[FloatArray, FloatArray | None]:
    """Per-customer log density of the mean spend m of x transactions (Fader & Hardie 2013);
    with ``gradient`` also its derivatives with respect to log p, log q and log v.

    With a = p x, b = q and w = x m / (v + x m) (Beta(a, b)-distributed), the density is
    gammaln(a + b) - gammaln(a) - gammaln(b) + a log w + b log(1 - w) - log m. As written it
    cancels numbers of 1e6 at large p or q (gammaln(e^12) is 1.8e6), the noise on which the
    fit of customers of nearly constant order values stopped. Here Stirling's main parts are
    taken out and their large terms cancelled by hand: it is -a f(t_a) - b f(t_b) + log(a b
    / (a + b)) / 2 - log(2 pi) / 2 + the Stirling rests - log m, with f(t) = t - log1p(t),
    t_a = (x m b - a v) / (a (v + x m)) and t_b = -(x m b - a v) / (b (v + x m)) (a t_a + b
    t_b = 0 exactly), so every term is of the size of the result."""
    p, q, v = params
    a, b = p * x, q
    spend = x * m
    total = v + spend
    gap = (spend * b - a * v) / total  # (a + b) (w - a / (a + b))
    t_a, t_b = gap / a, -gap / b
    (rest_ab, slope_ab), (rest_a, slope_a), (rest_b, slope_b) = (
        _log_gamma_rest(a + b),
        _log_gamma_rest(a),
        _log_gamma_rest(b),
    )
    loglik = (
        -a * _log1p_minus(t_a)
        - b * _log1p_minus(t_b)
        + 0.5 * (np.log(a) + np.log(b) - np.log(a + b) - np.log(2 * np.pi))
        + rest_ab
        - rest_a
        - rest_b
        - np.log(m)
    )
    if not gradient:
        return loglik, None
    # d/da: psi(a + b) - psi(a) + log w = log1p(t_a) + 1/(2a) - 1/(2(a + b)) + the rests'
    # slopes; d/db likewise; v d/dv = b - (a + b) (1 - w) = gap
    tail = -0.5 / (a + b) + slope_ab
    grad = np.column_stack(
        (
            a * (np.log1p(t_a) + 0.5 / a + tail - slope_a),
            b * (np.log1p(t_b) + 0.5 / b + tail - slope_b),
            gap,
        )
    )
    return loglik, grad


def spend_params(theta: FloatArray) -> FloatArray:
    """(p, q, v) of Gamma-Gamma's fitted coordinates (log p, log q, log mu), mu = p v / q
    the typical order value: as p grows each customer's orders are all alike, as q grows with
    mu fixed every customer spends alike, and each runs to its bound with mu held."""
    log_p, log_q, log_mu = theta
    return np.exp([log_p, log_q, log_mu - log_p + log_q])


def spend_coordinates(p: float, q: float, v: float) -> FloatArray:
    """The fitted coordinates of (p, q, v)."""
    return np.array([np.log(p), np.log(q), np.log(p) + np.log(v) - np.log(q)])


# log p and log q up to LOG_BOUND; mu within the range it had when p, q and v were each
GAMMA_GAMMA_BOUNDS = [(-LOG_BOUND, LOG_BOUND)] * 2 + [(-3 * LOG_BOUND, 3 * LOG_BOUND)]


def gamma_gamma_objective(
    x: FloatArray, m: FloatArray
) -> Callable[[FloatArray], tuple[float, FloatArray]]:
    """Gamma-Gamma's mean negative log-likelihood and its exact gradient in the fitted
    coordinates (:func:`spend_params`)."""

    def objective(theta: FloatArray) -> tuple[float, FloatArray]:
        with np.errstate(all="ignore"):  # a non-finite point is refused below
            loglik, grad = gamma_gamma_loglik(spend_params(theta), x, m, gradient=True)
            value, (by_p, by_q, by_v) = -np.mean(loglik), -np.mean(grad, axis=0)
        jac = np.array([by_p - by_v, by_q + by_v, by_v])  # log v = log mu - log p + log q
        if not (np.isfinite(value) and np.all(np.isfinite(jac))):
            return 1e300, np.zeros(3)
        return float(value), jac

    return objective


def best_minimum(
    objective: Callable[[FloatArray], tuple[float, FloatArray]],
    starts: list[FloatArray],
    bounds: list[tuple[float, float]],
) -> FloatArray | None:
    """Minimise ``objective`` (its value and exact gradient) from each start within
    ``bounds`` to :data:`TOLERANCES` and keep the best finite optimum; None when none is."""
    best_x, best_f, minimize = None, np.inf, scipy.optimize.minimize
    for start in starts:
        result = minimize(
            objective, start, jac=True, method="L-BFGS-B", bounds=bounds, options=TOLERANCES
        )
        if result.fun < 1e300 and result.fun < best_f:
            best_x, best_f = result.x, result.fun
    return best_x
