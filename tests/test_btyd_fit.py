"""lifecycle.btyd_fit: the fits converge to one optimum on any CPU (numpy's SIMD paths give
other last bits of exp and log), their gradients are exact, and each optimum is a stationary
point or lies on the stated bounds."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from btyd_simulation import simulate_bgnbd

from lifecycle import btyd_fit
from lifecycle.btyd import BGNBD, MBGNBD, GammaGamma, _unique_rows
from lifecycle.btyd_fit import (
    BGNBD_BOUNDS,
    GAMMA_GAMMA_BOUNDS,
    LOG_BOUND,
    dropout_coordinates,
    spend_coordinates,
)

REPO = Path(__file__).resolve().parents[1]
# numpy's CPU-dispatched paths beyond x86-64's baseline: without AVX-512, and with none.
WITHOUT = {
    "AVX-512": "X86_V4 AVX512_ICL AVX512_SPR",
    "AVX2 and AVX-512": "X86_V3 X86_V4 AVX512_ICL AVX512_SPR",
}
KINDS = {"BGNBD": BGNBD, "MBGNBD": MBGNBD}


def _ridge(seed: int) -> list[np.ndarray]:
    """2,000 MBG/NBD customers of one dropout probability (Beta(20,000, 980,000)), watched
    5-52 weeks, in days: MBG/NBD's likelihood is then a near-flat ridge along a + b, as on
    online_retail's customers. The old fit (finite differences, default tolerances) ended
    on it at a = 69.9, b = 3,493 for seed 1 with numpy's AVX-512 paths and a = 7.68, b = 378
    without (p_alive 0.011 apart); seed 0 has its optimum inside, 3e-3 apart."""
    rng = np.random.default_rng(seed)
    customers = simulate_bgnbd(
        2_000, 0.6, 6.0, 20_000.0, 980_000.0, rng.uniform(5, 52, 2_000), rng, first=1
    )
    return [np.round(customers[c].to_numpy(float) * 7) / 7 for c in ("frequency", "recency", "T")]


def _poisson(seed: int) -> list[np.ndarray]:
    """2,000 MBG/NBD customers who all buy at one Poisson rate, 0.5 a week (r = 1e9), and
    drop out with Beta(1, 9), watched 5-52 weeks, in days: the purchase rate's likelihood
    rises towards r -> infinity with r / alpha fixed. The old fit, on log r and log alpha
    with gammaln(r + x) - gammaln(r) (1e-10 of noise at r = e^12), ended MBG/NBD's on the
    bound of alpha where the last bits left it: for seed 1 r = 80,573.2, alpha = 162,755
    with numpy's AVX-512 paths and r = 80,568.4, alpha = 162,745 without."""
    rng = np.random.default_rng(seed)
    customers = simulate_bgnbd(2_000, 1e9, 2e9, 1.0, 9.0, rng.uniform(5, 52, 2_000), rng, first=1)
    return [np.round(customers[c].to_numpy(float) * 7) / 7 for c in ("frequency", "recency", "T")]


DATA = {"ridge": _ridge, "poisson": _poisson}

FIT_IN_CHILD = """
import json, sys
import numpy as np
from lifecycle.btyd import BGNBD, MBGNBD
data = np.load(sys.argv[1])
out = {}
for name in sorted({key.rsplit("_", 1)[0] for key in data.files}):
    rows = [data[f"{name}_{c}"] for c in ("frequency", "recency", "T")]
    for kind in (BGNBD, MBGNBD):
        model = kind.fit(*rows)
        out[f"{kind.__name__} {name}"] = {
            "params": list(model.params),
            "loglik": float(np.sum(model.log_likelihood(*rows))),
            "p_alive": model.probability_alive(*rows).tolist(),
        }
print(json.dumps(out))
"""


def fits_in_children(script: Path, data: Path, disabled: dict[str, str]) -> dict[str, Any]:
    """``script``'s fits of ``data`` in a child process per set of numpy CPU paths: the
    default, and each of ``disabled`` (``NPY_DISABLE_CPU_FEATURES``) turned off."""
    fits = {}
    for name, features_off in {"default": "", **disabled}.items():
        env = {**os.environ, "PYTHONPATH": str(REPO), "NPY_DISABLE_CPU_FEATURES": features_off}
        done = subprocess.run(
            [sys.executable, str(script), str(data)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        fits[name] = json.loads(done.stdout)
    return fits


def test_a_fit_is_the_same_with_or_without_numpy_s_avx2_and_avx512_paths(tmp_path: Path) -> None:
    """The same customers gave MBG/NBD a = 69.9, b = 3,493 with numpy's AVX-512 paths and
    a = 7.68, b = 378 without (the old fit stopped on the ridge where the last bits left it);
    now every path finds the same optimum, to 1e-9 of the log-likelihood. So do customers
    of one purchase rate (:func:`_poisson`), whose fit runs to r's bound."""
    features = np._core._multiarray_umath.__cpu_features__
    disabled = {name: f for name, f in WITHOUT.items() if any(features.get(n) for n in f.split())}
    if not disabled:
        pytest.skip("numpy runs no path beyond x86-64's baseline here: nothing to compare")
    data = tmp_path / "ridge.npz"
    np.savez(
        data,
        **{
            f"{name} {seed}_{c}": column
            for name, data in DATA.items()
            for seed in (0, 1)
            for c, column in zip(("frequency", "recency", "T"), data(seed), strict=True)
        },
    )
    script = tmp_path / "fit.py"
    script.write_text(FIT_IN_CHILD)
    fits = fits_in_children(script, data, disabled)
    for name in disabled:
        for key, fit in fits[name].items():
            same = fits["default"][key]
            assert fit["loglik"] == pytest.approx(same["loglik"], rel=1e-9, abs=0), (name, key)
            np.testing.assert_allclose(fit["params"], same["params"], rtol=1e-5, err_msg=key)
            np.testing.assert_allclose(fit["p_alive"], same["p_alive"], rtol=0, atol=1e-6)
    # Seed 1's MBG/NBD runs to the bound on the concentration, reached exactly; one purchase
    # rate's to r's, its mean rate r / alpha the customers' 0.5 a week.
    _, _, a, b = fits["default"]["MBGNBD ridge 1"]["params"]
    assert a + b == pytest.approx(math.exp(LOG_BOUND), rel=1e-12)
    for seed in (0, 1):
        r, alpha, _, _ = fits["default"][f"MBGNBD poisson {seed}"]["params"]
        assert r == pytest.approx(math.exp(LOG_BOUND), rel=1e-12)
        assert r / alpha == pytest.approx(0.5, rel=0.02)


def _simulated(kind: str) -> list[np.ndarray]:
    """800 customers of CDNOW's published BG/NBD (MBG/NBD: its process) watched 5-52 weeks."""
    rng = np.random.default_rng(7)
    first = KINDS[kind].FIRST
    customers = simulate_bgnbd(800, 0.24, 4.4, 0.79, 2.4, rng.uniform(5, 52, 800), rng, first=first)
    return [customers[c].to_numpy(float) for c in ("frequency", "recency", "T")]


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize(
    "theta", [(-1.0, 1.5, -1.0, 1.0), (0.3, 0.2, 2.0, -3.0), (-0.5, 2.0, -20.0, 11.0)]
)
def test_the_bgnbd_gradient_matches_finite_differences(kind: str, theta: tuple) -> None:
    (x, t_x, t_obs), weights = _unique_rows(*_simulated(kind))
    objective = btyd_fit.bgnbd_objective(x, t_x, t_obs, weights, KINDS[kind].FIRST)
    point = np.array(theta)
    _, exact = objective(point)
    step = 1e-6
    numeric = [
        (objective(point + step * e)[0] - objective(point - step * e)[0]) / (2 * step)
        for e in np.eye(4)
    ]
    np.testing.assert_allclose(exact, numeric, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("theta", [(11.9, -0.7, -2.2, 2.3), (LOG_BOUND, -0.69, -2.0, LOG_BOUND)])
def test_the_gradient_matches_finite_differences_as_r_and_a_b_grow(kind: str, theta: tuple) -> None:
    """Near and on the bounds of r and a + b (e^12) the objective is smooth to its last
    bits: central differences of step 1e-6 agree with the exact gradient. With gammaln(r +
    x) - gammaln(r) and r log alpha - (r + x) log(alpha + T) (numbers of 1e6 whose
    difference is 10) they were off by 1e-4 (its noise of 1e-10 over the step)."""
    (x, t_x, t_obs), weights = _unique_rows(*_poisson(0))
    objective = btyd_fit.bgnbd_objective(x, t_x, t_obs, weights, KINDS[kind].FIRST)
    point = np.array(theta)
    _, exact = objective(point)
    step = 1e-6
    numeric = [
        (objective(point + step * e)[0] - objective(point - step * e)[0]) / (2 * step)
        for e in np.eye(4)
    ]
    np.testing.assert_allclose(exact, numeric, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("c", [0.3, 7.0, 700.0, 162_000.0])
def test_rising_sums_are_exact_for_any_count(c: float) -> None:
    """log Gamma(c + n) / Gamma(c) and its derivative, and the survival term log B(a, b + n)
    / B(a, b) with its derivatives, agree with their terms summed exactly (math.fsum) to a
    relative 1e-14, below and above TERMS (where Stirling's series takes over)."""
    counts = [0, 1, 2, 7, 1_023, 1_024, 1_025, 3_000, 30_000]
    value, slope = btyd_fit.rising(c, np.array(counts, dtype=float))
    for i, n in enumerate(counts):
        assert value[i] == pytest.approx(math.fsum(math.log(c + k) for k in range(n)), rel=1e-14)
        assert slope[i] == pytest.approx(math.fsum(1 / (c + k) for k in range(n)), rel=1e-14)
    a, b = 0.4 * c, 1.3 * c + 2.0
    survives, by_a, by_b = btyd_fit._survival(a, b, np.array(counts, dtype=float))
    s = a + b
    for i, n in enumerate(counts):
        terms = [math.log1p(-a / (s + k)) for k in range(n)]
        assert survives[i] == pytest.approx(math.fsum(terms), rel=1e-14)
        assert by_a[i] == pytest.approx(-math.fsum(a / (s + k) for k in range(n)), rel=1e-14)
        assert by_b[i] == pytest.approx(
            math.fsum(a / (s + k) * b / (b + k) for k in range(n)), rel=1e-12
        )


def test_a_customer_of_millions_of_purchases_costs_a_fit_no_more_than_others() -> None:
    """The exact sums were a table as long as the largest purchase count: a customer of
    5,000,000 purchases made each evaluation of the objective 0.18 CPU-s (a fit of 2,000
    customers 1.6 s with one of 100,000). Terms past TERMS are Stirling's: an evaluation
    with such a customer costs 0.25 ms, as with one of 10,000 (0.11 ms without)."""
    columns = [
        np.append(column, extra)
        for column, extra in zip(_simulated("MBGNBD"), (5e6, 52.0, 52.0), strict=True)
    ]
    (x, t_x, t_obs), weights = _unique_rows(*columns)
    objective = btyd_fit.bgnbd_objective(x, t_x, t_obs, weights, 1)
    point = np.array([-1.0, -2.9, -1.0, 1.0])
    objective(point)
    start = time.process_time()
    for _ in range(20):
        objective(point)
    assert (time.process_time() - start) / 20 < 0.02


def _spend(seed: int = 11) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.integers(1, 15, 600).astype(float)
    nu = rng.gamma(3.0, 1 / 40.0, 600)
    m = rng.gamma(5.0 * x, 1 / (x * nu))  # the mean of x transactions' values
    return x, m


@pytest.mark.parametrize("theta", [(0.5, 1.0, 3.0), (2.0, -1.0, 6.0), (1.6, 1.2, 3.7)])
def test_the_gamma_gamma_gradient_matches_finite_differences(theta: tuple) -> None:
    objective = btyd_fit.gamma_gamma_objective(*_spend())
    point = np.array(theta)
    _, exact = objective(point)
    step = 1e-6
    numeric = [
        (objective(point + step * e)[0] - objective(point - step * e)[0]) / (2 * step)
        for e in np.eye(3)
    ]
    np.testing.assert_allclose(exact, numeric, rtol=1e-5, atol=1e-8)


def _stationary_or_on_a_bound(
    gradient: np.ndarray, point: np.ndarray, bounds: list[tuple[float, float]]
) -> None:
    """Each coordinate's derivative is ~0, or the coordinate is on a bound with the
    derivative pushing it out (the descent direction leaves the box)."""
    for i, (g, value, (low, high)) in enumerate(zip(gradient, point, bounds, strict=True)):
        if abs(value - high) < 1e-9:
            assert g <= 1e-7, (i, g, value)
        elif abs(value - low) < 1e-9:
            assert g >= -1e-7, (i, g, value)
        else:
            assert abs(g) < 1e-6, (i, g, value)


@pytest.mark.parametrize(
    "data", ["simulated BG/NBD", "ridge seed 0", "ridge seed 1", "poisson seed 0", "poisson seed 1"]
)
@pytest.mark.parametrize("kind", list(KINDS))
def test_the_optimum_is_stationary_or_on_the_stated_bounds(data: str, kind: str) -> None:
    """Inside, the gradient vanishes; a fit on the ridge (seed 1) ends on the bound of the
    concentration a + b, e^12, with the likelihood still rising towards it; MBG/NBD's of
    one purchase rate on r's bound, e^12 (the old fit ended on alpha's, short of it)."""
    if data == "simulated BG/NBD":
        columns = _simulated(kind)
    else:
        columns = DATA[data.split()[0]](int(data[-1]))
    model = KINDS[kind].fit(*columns)
    (x, t_x, t_obs), weights = _unique_rows(*columns)
    objective = btyd_fit.bgnbd_objective(x, t_x, t_obs, weights, KINDS[kind].FIRST)
    point = dropout_coordinates(*model.params)
    _stationary_or_on_a_bound(objective(point)[1], point, BGNBD_BOUNDS)
    if data == "ridge seed 1" and kind == "MBGNBD":
        assert point[3] == pytest.approx(LOG_BOUND, abs=1e-12)
    if data.startswith("poisson") and kind == "MBGNBD":
        assert point[0] == pytest.approx(LOG_BOUND, abs=1e-12)


def _alike(seed: int, p: float = 1e9, q: float = 1e9) -> tuple[np.ndarray, np.ndarray]:
    """2,000 customers of 1-14 repeat orders of about 20 each, rounded to cents: with p =
    1e9 each customer's orders are all alike, with q = 1e9 every customer spends alike (their
    rate nu ~ Gamma(q, mean p / 20)). Gamma-Gamma's likelihood then rises towards p, q ->
    infinity; gammaln(p x + q) - gammaln(p x) - gammaln(q) cancels numbers of 1e6 there."""
    rng = np.random.default_rng(seed)
    x = rng.integers(1, 15, 2_000).astype(float)
    nu = rng.gamma(q, p / 20.0 / q, 2_000)
    return x, np.round(rng.gamma(p * x, 1 / (x * nu)), 2)


SPEND = {"alike": lambda seed: _alike(seed), "one rate": lambda seed: _alike(seed, p=3.0)}

SPEND_IN_CHILD = """
import json, sys
import numpy as np
from lifecycle.btyd import GammaGamma
data = np.load(sys.argv[1])
out = {}
for name in sorted({key.rsplit("_", 1)[0] for key in data.files}):
    x, m = data[f"{name}_x"], data[f"{name}_m"]
    fit = GammaGamma.fit(x, m)
    out[name] = {"params": [fit.p, fit.q, fit.v], "loglik": float(np.sum(fit.log_likelihood(x, m)))}
print(json.dumps(out))
"""


def test_a_gamma_gamma_fit_is_the_same_with_or_without_numpy_s_avx2_and_avx512_paths(
    tmp_path: Path,
) -> None:
    """Customers of nearly constant order values (:func:`_alike`): the old fit, on log p, log
    q and log v, ended where gammaln's noise left it, v 19.99999997 with numpy's AVX-512
    paths and 19.99999999999998 without (log-likelihood 4e-7 apart), and one spend rate's on
    v's bound e^12 with q = 24,377 short of its own (24,349.81 and 24,349.83). Fitted on log
    p, log q and log(p v / q) with a likelihood that cancels nothing large, every path ends
    on the same optimum, p and q on their bound with the customers' order value held."""
    features = np._core._multiarray_umath.__cpu_features__
    disabled = {name: f for name, f in WITHOUT.items() if any(features.get(n) for n in f.split())}
    data = tmp_path / "spend.npz"
    np.savez(
        data,
        **{
            f"{name} {seed}_{c}": column
            for name, spend in SPEND.items()
            for seed in (0, 1)
            for c, column in zip("xm", spend(seed), strict=True)
        },
    )
    script = tmp_path / "fit.py"
    script.write_text(SPEND_IN_CHILD)
    fits = fits_in_children(script, data, disabled)
    for name in disabled:
        for key, fit in fits[name].items():
            same = fits["default"][key]
            assert fit["loglik"] == pytest.approx(same["loglik"], rel=1e-13, abs=0), (name, key)
            np.testing.assert_allclose(fit["params"], same["params"], rtol=1e-7, err_msg=key)
    bound = math.exp(LOG_BOUND)
    for seed in (0, 1):
        p, q, v = fits["default"][f"alike {seed}"]["params"]
        assert (p, q) == (pytest.approx(bound, rel=1e-12), pytest.approx(bound, rel=1e-12))
        assert p * v / (q - 1) == pytest.approx(20.0, rel=1e-4)
        p, q, v = fits["default"][f"one rate {seed}"]["params"]
        assert q == pytest.approx(bound, rel=1e-12)
        assert p * v / (q - 1) == pytest.approx(20.0, rel=0.01)


@pytest.mark.parametrize(
    "coordinates",
    [(12.0, 12.0, 3.0), (11.0, 11.9, 3.0), (1.1, 12.0, 3.0), (12.0, 1.4, 3.0), (-3.0, 0.5, 2.9)],
)
def test_the_gamma_gamma_gradient_matches_finite_differences_as_p_and_q_grow(
    coordinates: tuple,
) -> None:
    """The stable value and its exact gradient agree with central differences up to p and
    q of e^12, in the fitted coordinates (log p, log q, log(p v / q))."""
    objective = btyd_fit.gamma_gamma_objective(*_alike(0))
    point = np.array(coordinates)
    _, exact = objective(point)
    step = 1e-5
    numeric = [
        (objective(point + step * e)[0] - objective(point - step * e)[0]) / (2 * step)
        for e in np.eye(3)
    ]
    np.testing.assert_allclose(exact, numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("data", ["simulated", "alike 0", "alike 1", "one rate 0", "one rate 1"])
def test_the_gamma_gamma_optimum_is_stationary_or_on_the_stated_bounds(data: str) -> None:
    x, m = _spend() if data == "simulated" else SPEND[data[:-2]](int(data[-1]))
    model = GammaGamma.fit(x, m)
    point = spend_coordinates(model.p, model.q, model.v)
    _stationary_or_on_a_bound(
        btyd_fit.gamma_gamma_objective(x, m)(point)[1], point, GAMMA_GAMMA_BOUNDS
    )
