"""Drift: PSI and the two-sample tests on known distributions, and `lifecycle monitor` on a
trained demo workspace before and after a documented shift of one channel's users."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from serving.drift import (
    Thresholds,
    categorical_psi,
    chi_square_test,
    column_drift,
    ks_test,
    numeric_psi,
    quantile_edges,
    verdict,
)

# -- PSI and the tests on known distributions ---------------------------------------------


def test_psi_of_a_sample_against_itself_is_zero() -> None:
    values = np.random.default_rng(0).gamma(2.0, 3.0, 5000)
    assert numeric_psi(values, values) == 0.0
    assert categorical_psi(pd.Series(["a", "b", "b"]), pd.Series(["b", "a", "b"])) == 0.0


def test_psi_of_a_mean_shift_matches_the_normal_distribution() -> None:
    """N(0, 1) against N(0.5, 1) over the reference's deciles: the exact bin shares come from
    the normal CDF at the decile edges, so the sampled PSI must land on the analytic one."""
    rng = np.random.default_rng(1)
    reference, current = rng.normal(0, 1, 200_000), rng.normal(0.5, 1, 200_000)
    edges = norm.ppf(np.linspace(0, 1, 11)[1:-1])
    r = np.diff(np.concatenate([[0.0], norm.cdf(edges), [1.0]]))
    c = np.diff(np.concatenate([[0.0], norm.cdf(edges - 0.5), [1.0]]))
    analytic = float(np.sum((c - r) * np.log(c / r)))
    assert analytic == pytest.approx(0.23, abs=0.01)  # just under the usual 0.25 alarm
    assert numeric_psi(reference, current) == pytest.approx(analytic, rel=0.03)
    assert numeric_psi(reference, rng.normal(0, 1, 200_000)) < 0.001


def test_categorical_psi_by_hand_and_unseen_categories_at_epsilon() -> None:
    reference = pd.Series(["a"] * 50 + ["b"] * 50)
    current = pd.Series(["a"] * 25 + ["b"] * 75)
    expected = (0.25 - 0.5) * np.log(0.25 / 0.5) + (0.75 - 0.5) * np.log(0.75 / 0.5)
    assert categorical_psi(reference, current) == pytest.approx(expected, rel=1e-12)
    # A new category "c" with 10% of the current rows: the reference share is epsilon.
    with_new = pd.Series(["a"] * 45 + ["b"] * 45 + ["c"] * 10)
    unseen = (0.45 - 0.5) * np.log(0.45 / 0.5) * 2 + (0.1 - 1e-4) * np.log(0.1 / 1e-4)
    assert categorical_psi(reference, with_new, epsilon=1e-4) == pytest.approx(unseen, rel=1e-9)


def test_empty_bins_stay_finite_and_missing_values_are_a_bin() -> None:
    reference = np.arange(1000, dtype=float)
    beyond = np.full(1000, 5000.0)  # every current value in the reference's last bin
    psi = numeric_psi(reference, beyond, epsilon=1e-4)
    expected = 9 * (1e-4 - 0.1) * np.log(1e-4 / 0.1) + (1 - 0.1) * np.log(1 / 0.1)
    assert np.isfinite(psi) and psi == pytest.approx(expected, rel=1e-9)
    half_missing = np.where(np.arange(1000) % 2 == 0, np.nan, reference)
    assert numeric_psi(reference, half_missing) > 1.0  # values went missing: drift
    assert len(quantile_edges(np.repeat([0.0, 1.0], [900, 100]), 10)) == 2  # ties merged


def test_ks_and_chi_square_detect_what_they_should() -> None:
    rng = np.random.default_rng(2)
    same = ks_test(rng.normal(size=3000), rng.normal(size=3000))
    moved = ks_test(rng.normal(size=3000), rng.normal(1, 1, size=3000))
    assert same[1] > 0.001 and moved[1] < 1e-12 and moved[0] == pytest.approx(0.38, abs=0.04)
    statistic, p_value, cramers_v = chi_square_test(
        pd.Series(["a"] * 500 + ["b"] * 500), pd.Series(["a"] * 250 + ["b"] * 750)
    )
    # 2 x 2 table: chi2 = n * phi^2, phi = (ad - bc) / sqrt(row and column totals)
    phi = (500 * 750 - 500 * 250) / np.sqrt(1000 * 1000 * 750 * 1250)
    assert cramers_v == pytest.approx(phi, rel=1e-9) and statistic == pytest.approx(2000 * phi**2)
    assert p_value < 1e-20


def test_huge_samples_do_not_flag_a_negligible_shift() -> None:
    """A 0.02 standard-deviation shift on a million rows is significant but not drift."""
    rng = np.random.default_rng(3)
    reference = pd.Series(rng.normal(0, 1, 1_000_000))
    current = pd.Series(rng.normal(0.02, 1, 1_000_000))
    found = column_drift("x", reference, current, kind="number")
    assert found.p_value < 0.001 and found.effect < 0.1 and found.psi < 0.1
    assert found.verdict == "watch"
    shifted = column_drift("x", reference, current * 2 + 1, kind="number")
    assert shifted.verdict == "drift"


def test_verdict_thresholds() -> None:
    limits = Thresholds(psi_alert=0.25, psi_warn=0.1, p_value=0.001, min_effect=0.1)
    assert verdict(0.3, 0.5, 0.0, limits) == "drift"
    assert verdict(0.05, 1e-6, 0.2, limits) == "drift"
    assert verdict(0.05, 1e-6, 0.05, limits) == "watch"
    assert verdict(0.15, 0.5, 0.0, limits) == "watch"
    assert verdict(0.05, 0.5, 0.3, limits) == "stable"
    assert verdict(0.0, float("nan"), float("nan"), limits) == "stable"
