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
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy  # its optimize loads when fitting, not with every server start
from numpy.typing import NDArray
from scipy.special import digamma, expit, gammaln

FloatArray = NDArray[np.float64]

LOG_BOUND = 12.0  # |log| of r, alpha, the dropout's concentration a + b, and Gamma-Gamma's
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
    log r, log alpha, log a and log b (one row per customer)."""
    r, alpha, a, b = params
    n = x + first  # chances to drop out
    survives, by_a, by_b = _survival(a, b, n)
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + survives
    alive = -(r + x) * np.log(alpha + t_obs)
    # Dropped out at the last chance; BG/NBD gives a one-time buyer none.
    chance = n > 0
    dropped = np.full_like(alive, -np.inf)
    last = b + n[chance] - 1
    dropped[chance] = np.log(a) - np.log(last) - (r + x[chance]) * np.log(alpha + t_x[chance])
    total = np.logaddexp(alive, dropped)
    if not gradient:
        return common + total, None
    gone = np.exp(dropped - total)  # the dropped term's share
    stays = 1.0 - gone
    late = np.zeros_like(gone)
    late[chance] = gone[chance] * b / last
    grad = np.column_stack(
        (
            r
            * (
                digamma(r + x)
                - digamma(r)
                + np.log(alpha)
                - stays * np.log(alpha + t_obs)
                - gone * np.log(alpha + t_x)
            ),
            r - (r + x) * alpha * (stays / (alpha + t_obs) + gone / (alpha + t_x)),
            by_a + gone,
            by_b - late,
        )
    )
    return common + total, grad


def _survival(a: float, b: float, n: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """log B(a, b + n) / B(a, b), the log chance that a Beta(a, b) dropout lets a customer
    survive n chances, with its derivatives in log a and log b, summed term by term:
    sum over k < n of log((b + k) / (a + b + k)). As gammaln(b + n) - gammaln(b) + gammaln(a
    + b) - gammaln(a + b + n) it lost 1e-10 to cancellation at a + b = e^12 (gammaln 2e6),
    the noise at which L-BFGS-B's line search stopped on the ridge. n is whole numbers; the
    sums are a table as long as the largest n (a customer's purchases)."""
    k = np.arange(int(np.max(n, initial=0)))
    share = a / (a + b + k)  # each term is log(1 - share)
    with np.errstate(divide="ignore"):  # where share < 1/2 the first form is taken
        terms = np.where(share < 0.5, np.log1p(-share), np.log(b + k) - np.log(a + b + k))
    at = n.astype(np.intp)

    def summed(values: FloatArray) -> FloatArray:
        return np.concatenate(([0.0], np.cumsum(values)))[at]

    return summed(terms), -summed(share), summed(share * b / (b + k))


def dropout_params(theta: FloatArray) -> tuple[FloatArray, FloatArray]:
    """(r, alpha, a, b) of the fitted coordinates (log r, log alpha, logit m, log s), and
    the mean dropout m."""
    log_r, log_alpha, logit_m, log_s = theta
    m, s = expit(logit_m), np.exp(log_s)
    a, b = m * s, expit(-logit_m) * s  # 1 - m, exact in both tails
    return np.array([np.exp(log_r), np.exp(log_alpha), a, b]), m


def dropout_coordinates(r: float, alpha: float, a: float, b: float) -> FloatArray:
    """The fitted coordinates of (r, alpha, a, b)."""
    return np.array([np.log(r), np.log(alpha), np.log(a) - np.log(b), np.log(a + b)])


BGNBD_BOUNDS = [(-LOG_BOUND, LOG_BOUND)] * 2 + [
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
        jac = np.array([by_r, by_alpha, (1 - m) * by_a - m * by_b, by_a + by_b])
        if not (np.isfinite(value) and np.all(np.isfinite(jac))):
            return 1e300, np.zeros(4)
        return float(value), jac

    return objective


def gamma_gamma_loglik(
    params: FloatArray, x: FloatArray, m: FloatArray, gradient: bool = False
) -> tuple[FloatArray, FloatArray | None]:
    """Per-customer log density of the mean spend m of x transactions (Fader & Hardie 2013);
    with ``gradient`` also its derivatives with respect to log p, log q and log v."""
    p, q, v = params
    px = p * x
    loglik = (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(v)
        + (px - 1) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(v + x * m)
    )
    if not gradient:
        return loglik, None
    by_total = digamma(px + q)
    grad = np.column_stack(
        (
            px * (by_total - digamma(px) + np.log(m) + np.log(x) - np.log(v + x * m)),
            q * (by_total - digamma(q) + np.log(v) - np.log(v + x * m)),
            q - (px + q) * v / (v + x * m),
        )
    )
    return loglik, grad


def gamma_gamma_objective(
    x: FloatArray, m: FloatArray
) -> Callable[[FloatArray], tuple[float, FloatArray]]:
    """Gamma-Gamma's mean negative log-likelihood in log-parameters, and its exact gradient."""

    def objective(log_params: FloatArray) -> tuple[float, FloatArray]:
        with np.errstate(all="ignore"):  # a non-finite point is refused below
            loglik, grad = gamma_gamma_loglik(np.exp(log_params), x, m, gradient=True)
            value, jac = -np.mean(loglik), -np.mean(grad, axis=0)
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
