"""BG/NBD and Gamma-Gamma: parameter recovery, predictions against simulation and
independent calculations, the published CDNOW numbers, the RFM summary and error paths."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from btyd_simulation import simulate_bgnbd, simulate_gamma_gamma
from experiment_runs import run_experiment
from scipy import integrate, stats
from scipy.special import hyp2f1

from lifecycle.btyd import (
    BGNBD,
    MBGNBD,
    BTYDError,
    GammaGamma,
    _expected_purchases_if_alive,
    _expected_purchases_if_alive_by_quadrature,
    expected_value,
    purchase_model,
    rfm_summary,
)

# CDNOW maximum-likelihood estimates published in Fader, Hardie & Lee (2005).
CDNOW = BGNBD(r=0.243, alpha=4.414, a=0.793, b=2.426)
TRUE_BG = BGNBD(r=0.25, alpha=4.0, a=0.8, b=2.5)
TRUE_GG = GammaGamma(p=6.0, q=4.0, v=15.0)
N_CUSTOMERS = 20_000
T_WEEKS = 52.0
FUTURE_WEEKS = 26.0


@pytest.fixture(scope="module")
def simulated() -> pd.DataFrame:
    """20,000 customers observed for 52 weeks, their next 26 weeks, and their spend."""
    rng = np.random.default_rng(20050101)
    customers = simulate_bgnbd(
        N_CUSTOMERS, *TRUE_BG.params, T_WEEKS, rng, future_units=FUTURE_WEEKS
    )
    customers["monetary_value"] = simulate_gamma_gamma(
        customers["frequency"], TRUE_GG.p, TRUE_GG.q, TRUE_GG.v, rng
    )
    return customers


@pytest.fixture(scope="module")
def fitted_bg(simulated: pd.DataFrame) -> BGNBD:
    return BGNBD.fit(simulated["frequency"], simulated["recency"], simulated["T"])


def relative_errors(fitted: tuple[float, ...], true: tuple[float, ...]) -> np.ndarray:
    return np.abs(np.asarray(fitted) / np.asarray(true) - 1)


# --------------------------------------------------------------------------- recovery


def test_bgnbd_recovers_simulated_parameters(simulated: pd.DataFrame, fitted_bg: BGNBD) -> None:
    # Over 40 seeds at n=20,000 the worst errors were r 3%, alpha 5%, a 12%, b 17%
    # (a and b trade off against each other; their ratio is much better determined).
    errors = relative_errors(fitted_bg.params, TRUE_BG.params)
    assert np.all(errors <= [0.10, 0.10, 0.20, 0.20]), (fitted_bg, errors)
    # It is a maximum: the data are at least as likely under the fit as under the truth.
    columns = (simulated["frequency"], simulated["recency"], simulated["T"])
    assert fitted_bg.log_likelihood(*columns).sum() >= TRUE_BG.log_likelihood(*columns).sum()


def test_gamma_gamma_recovers_simulated_parameters(simulated: pd.DataFrame) -> None:
    # ~9,600 repeat customers; over 40 seeds the worst errors were p 8%, q 5%, v 11%.
    fitted = GammaGamma.fit(simulated["frequency"], simulated["monetary_value"])
    errors = relative_errors((fitted.p, fitted.q, fitted.v), (TRUE_GG.p, TRUE_GG.q, TRUE_GG.v))
    assert np.all(errors <= 0.20), (fitted, errors)


# --------------------------------------------------------------------------- predictions


def test_expected_purchases_match_the_simulated_future(
    simulated: pd.DataFrame, fitted_bg: BGNBD
) -> None:
    columns = (simulated["frequency"], simulated["recency"], simulated["T"])
    actual = simulated["future_purchases"].to_numpy()
    predicted = fitted_bg.expected_purchases(FUTURE_WEEKS, *columns)
    # Across 40 seeds the mean was off by at most 3.3% (sd 1.4%).
    assert predicted.mean() == pytest.approx(actual.mean(), rel=0.05)

    # Conditional on history: each frequency band, with the true parameters so only the
    # formula is tested (unbiased over 30 seeds; sd 3-4% per band, worst 10%).
    truth = TRUE_BG.expected_purchases(FUTURE_WEEKS, *columns)
    band = np.digitize(simulated["frequency"], [1, 2, 4, 8])
    for k in range(5):
        in_band = band == k
        assert truth[in_band].sum() == pytest.approx(actual[in_band].sum(), rel=0.15), k


def _posterior_by_quadrature(
    model: BGNBD, t: float, x: int, t_x: float, T: float
) -> tuple[float, float]:
    """E[Y(t) | x, t_x, T] and P(alive) integrating over the dropout p numerically.

    lambda is integrated out in closed form (gamma integrals); the p-integral that eq. (10)
    expresses with 2F1 is done by quadrature, so neither hyp2f1 nor Euler's transform is used.
    """
    r, alpha, a, b = model.params

    def gamma_moment(c: float) -> float:  # E_lambda[lambda^x exp(-lambda c)]
        return math.exp(
            math.lgamma(r + x)
            - math.lgamma(r)
            + r * math.log(alpha)
            - (r + x) * math.log(alpha + c)
        )

    def beta_integral(f) -> float:
        return integrate.quad(
            lambda p: f(p) * stats.beta.pdf(p, a, b), 0, 1, epsabs=0, epsrel=1e-12, limit=200
        )[0]

    # Chances to drop out survived by a customer alive at T: one per repeat purchase, and
    # under MBG/NBD one more right after the first purchase.
    n = x + model.FIRST
    alive = beta_integral(lambda p: (1 - p) ** n) * gamma_moment(T)
    dropped = beta_integral(lambda p: p * (1 - p) ** (n - 1)) * gamma_moment(t_x) if n else 0.0
    # Alive at T, lambda and p known: E[purchases in t] = (1 - exp(-lambda p t)) / p.
    future = beta_integral(lambda p: (1 - p) ** n / p * (gamma_moment(T) - gamma_moment(T + p * t)))
    return future / (alive + dropped), alive / (alive + dropped)


@pytest.mark.parametrize(
    ("t", "x", "t_x", "T"),
    [(39, 2, 30.43, 38.86), (10, 0, 0, 30), (52, 7, 20, 52), (5, 1, 1.5, 3), (104, 60, 50, 52)],
)
@pytest.mark.parametrize("kind", [BGNBD, MBGNBD])
def test_expected_purchases_and_p_alive_match_quadrature(
    t: float, x: int, t_x: float, T: float, kind: type[BGNBD]
) -> None:
    model = kind(*CDNOW.params)
    expected, p_alive = _posterior_by_quadrature(model, t, x, t_x, T)
    assert model.expected_purchases(t, x, t_x, T) == pytest.approx(expected, rel=1e-7)
    assert model.probability_alive(x, t_x, T) == pytest.approx(p_alive, rel=1e-9)


@pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")
@pytest.mark.parametrize(
    ("model", "t", "x", "t_x", "T"),
    [
        (BGNBD(0.5, 5.0, 1.5, 200.0), 1e4, 0, 0.0, 52.0),  # scipy's hyp2f1 gives nan
        (BGNBD(0.5, 5.0, 1.5, 200.0), 1e4, 3, 40.0, 52.0),
        (BGNBD(0.5, 5.0, 0.5, 0.5), 1.0, 0, 0.0, 52.0),  # a + b + x - 1 = 0: 2F1 is inf
    ],
)
def test_expected_purchases_fall_back_where_hyp2f1_fails(
    model: BGNBD, t: float, x: int, t_x: float, T: float
) -> None:
    r, alpha, a, b = model.params
    closed_form = hyp2f1(a + b - 1 - r, a - 1, a + b + x - 1, t / (alpha + T + t))
    assert not np.isfinite(closed_form)
    expected, _ = _posterior_by_quadrature(model, t, x, t_x, T)
    assert model.expected_purchases(t, x, t_x, T) == pytest.approx(expected, rel=1e-8)


@pytest.mark.parametrize(("a", "b"), [(600.0, 5000.0), (40.0, 300.0), (1.5, 8.0), (0.7, 3.0)])
@pytest.mark.parametrize(("t", "x", "T"), [(13.0, 3, 52.0), (52.0, 0, 30.0), (104.0, 20, 52.0)])
def test_the_quadrature_fallback_holds_for_a_concentrated_dropout_prior(
    a: float, b: float, t: float, x: int, T: float
) -> None:
    """The fallback integral equals the closed form where both hold, also for a Beta prior
    of large a and b (a fit on few customers): its p^(a-1) factor left to the quadrature
    weight overflowed there."""
    params = (0.243, 4.414, a, b)
    closed = _expected_purchases_if_alive(
        params, np.array([t]), np.array([float(x)]), np.array([T])
    )
    by_quadrature = _expected_purchases_if_alive_by_quadrature(params, t, x, T)
    assert by_quadrature == pytest.approx(float(closed[0]), rel=1e-9)


def test_expected_purchases_matches_published_cdnow_example() -> None:
    # FHL (2005) spreadsheet: x=2, t_x=30.43, T=38.86 -> 1.226 purchases in the next 39 weeks.
    assert CDNOW.expected_purchases(39, 2, 30.43, 38.86) == pytest.approx(1.226, abs=1e-3)


def test_expected_purchases_are_stable_for_large_values() -> None:
    r, alpha, a, b = CDNOW.params
    x = np.array([0, 3, 50, 300, 1000, 5000])
    t_x = np.array([0, 40, 51, 51.9, 51.99, 52])
    horizons = np.array([1.0, 52.0, 520.0, 1e5])
    values = np.array([CDNOW.expected_purchases(t, x, t_x, 52.0) for t in horizons])
    assert np.all(np.isfinite(values))
    assert np.all(values >= 0)
    assert np.all(np.diff(values, axis=0) > 0)  # more time, more purchases
    # Where the paper's form of eq. (10) is still finite, the rewritten one agrees with it.
    with np.errstate(all="ignore"):  # the paper's form gives 0 * inf = nan for large x
        naive = (
            (a + b + x - 1)
            / (a - 1)
            * (
                1
                - ((alpha + 52) / (alpha + 52 + 52)) ** (r + x)
                * hyp2f1(r + x, b + x, a + b + x - 1, 52 / (alpha + 52 + 52))
            )
            / (1 + (x > 0) * a / (b + x - 1) * ((alpha + 52) / (alpha + t_x)) ** (r + x))
        )
    finite = np.isfinite(naive)
    assert finite[:3].all()
    np.testing.assert_allclose(values[1][finite], naive[finite], rtol=1e-8)


def test_probability_alive_is_higher_after_recent_purchases(
    simulated: pd.DataFrame, fitted_bg: BGNBD
) -> None:
    for x in (1, 2, 3):
        same_x = simulated[simulated["frequency"] == x]
        p_alive = fitted_bg.probability_alive(same_x["frequency"], same_x["recency"], same_x["T"])
        recent = same_x["recency"].to_numpy() > T_WEEKS - 8
        old = same_x["recency"].to_numpy() < T_WEEKS / 2
        assert recent.sum() > 20 and old.sum() > 20
        assert p_alive[recent].min() > p_alive[old].max()
    assert CDNOW.probability_alive(5, 50, 52) > CDNOW.probability_alive(5, 10, 52)
    np.testing.assert_array_equal(CDNOW.probability_alive([0, 0], [0, 0], [1, 80]), [1.0, 1.0])


def test_frequency_zero_gets_the_population_mean_value() -> None:
    population_mean = TRUE_GG.p * TRUE_GG.v / (TRUE_GG.q - 1)
    values = TRUE_GG.expected_average_value([0, 0, 3, 100], [0.0, 55.0, 40.0, 40.0])
    np.testing.assert_allclose(values[:2], population_mean, rtol=1e-12)
    assert TRUE_GG.population_mean == pytest.approx(population_mean)
    # More transactions put more weight on the customer's own mean of 40 than on the
    # population mean of 30.
    assert population_mean < values[2] < values[3] < 40.0


def test_expected_value_is_purchases_times_spend(simulated: pd.DataFrame, fitted_bg: BGNBD) -> None:
    summary = simulated.head(500)
    revenue = expected_value(fitted_bg, TRUE_GG, summary, horizon_days=182.0)
    purchases = fitted_bg.expected_purchases(
        26.0, summary["frequency"], summary["recency"], summary["T"]
    )
    spend = TRUE_GG.expected_average_value(summary["frequency"], summary["monetary_value"])
    np.testing.assert_allclose(revenue, purchases * spend, rtol=1e-12)
    assert np.all(revenue > 0)


# --------------------------------------------------------------------------- CDNOW likelihood


def _eq6_direct(model: BGNBD, x: int, t_x: float, T: float) -> float:
    """Eq. (6) of FHL (2005) term by term with math.lgamma, no log-sum-exp."""
    r, alpha, a, b = model.params

    def log_beta(u: float, w: float) -> float:
        return math.lgamma(u) + math.lgamma(w) - math.lgamma(u + w)

    nbd = math.lgamma(r + x) - math.lgamma(r) + r * math.log(alpha)
    likelihood = math.exp(log_beta(a, b + x) - log_beta(a, b) + nbd - (r + x) * math.log(alpha + T))
    if x > 0:
        likelihood += math.exp(
            log_beta(a + 1, b + x - 1) - log_beta(a, b) + nbd - (r + x) * math.log(alpha + t_x)
        )
    return math.log(likelihood)


def test_log_likelihood_matches_eq6_with_cdnow_parameters() -> None:
    triples = [(0, 0.0, 38.86), (2, 30.43, 38.86), (1, 1.0, 27.0), (7, 35.5, 36.0), (25, 2.0, 39.0)]
    x, t_x, T = (np.array(column, dtype=float) for column in zip(*triples, strict=True))
    ours = CDNOW.log_likelihood(x, t_x, T)
    direct = [_eq6_direct(CDNOW, int(xi), ti, Ti) for xi, ti, Ti in triples]
    np.testing.assert_allclose(ours, direct, rtol=0, atol=1e-9)


# --------------------------------------------------------------------------- RFM summary


def test_rfm_summary_on_a_hand_made_order_log() -> None:
    orders = pd.DataFrame(
        {
            "user_id": ["a", "a", "a", "a", "b", "c", "c", "c"],
            "order_time": pd.to_datetime(
                [
                    "2024-01-01 09:00",
                    "2024-01-08 10:00",
                    "2024-01-08 18:00",  # same day as the previous order: one period
                    "2024-01-15 12:00",
                    "2024-01-29 08:00",
                    "2024-01-01 00:00",
                    "2024-02-05 00:00",  # after as_of: ignored
                    "2024-02-01 00:00",  # after as_of: ignored
                ]
            ),
            "value": [10.0, 20.0, 5.0, 40.0, 99.0, 7.0, 1000.0, 1000.0],
        }
    )
    summary = rfm_summary(orders, pd.Timestamp("2024-01-29 12:00"))
    expected = pd.DataFrame(
        {
            "frequency": [2, 0, 0],
            "recency": [2.0, 0.0, 0.0],
            "T": [4.0, 0.0, 4.0],
            "monetary_value": [(25.0 + 40.0) / 2, 0.0, 0.0],
        },
        index=pd.Index(["a", "b", "c"], name="user_id"),
    )
    pd.testing.assert_frame_equal(summary, expected, check_dtype=False)
    daily = rfm_summary(orders, pd.Timestamp("2024-01-29 12:00"), unit_days=1.0)
    assert daily.loc["a", "T"] == 28.0


def test_rfm_summary_names_a_missing_column() -> None:
    orders = pd.DataFrame({"user_id": [1], "order_time": [pd.Timestamp("2024-01-01")]})
    with pytest.raises(BTYDError, match="value"):
        rfm_summary(orders, pd.Timestamp("2024-02-01"))


def test_the_errors_count_one_as_one() -> None:
    """'missing column(s) ['value']', '1 negative value(s)', '1 repeat customer(s) have':
    a count of one reads singular, more plural."""
    orders = pd.DataFrame({"user_id": [1], "order_time": [pd.Timestamp("2024-01-01")]})
    with pytest.raises(BTYDError, match=r"orders is missing column \['value'\];"):
        rfm_summary(orders, pd.Timestamp("2024-02-01"))
    with pytest.raises(BTYDError, match=r"missing columns \['order_time', 'value'\];"):
        rfm_summary(orders[["user_id"]], pd.Timestamp("2024-02-01"))
    with pytest.raises(BTYDError, match=r"^frequency has 1 negative value$"):
        CDNOW.probability_alive([-1, 2], [1.0, 1.0], [4.0, 4.0])
    with pytest.raises(BTYDError, match=r"^recency has 2 NaN/inf values$"):
        CDNOW.probability_alive([1, 2], [np.nan, np.inf], [4.0, 4.0])
    with pytest.raises(BTYDError, match=r"recency > T for 1 customer, first at position 1 "):
        CDNOW.probability_alive([1, 2], [1.0, 5.0], [4.0, 4.0])
    with pytest.raises(BTYDError, match=r"GammaGamma\.fit: 1 repeat customer has monetary_value"):
        GammaGamma.fit([2] * 25, [9.0] * 24 + [0.0])


@pytest.mark.parametrize("kind", [BGNBD, MBGNBD])
def test_a_fit_gives_the_same_numbers_on_one_blas_thread_or_two(kind: type[BGNBD]) -> None:
    """OpenBLAS splits a dot product of over 10,000 numbers between its threads, so the fit's
    weighted log-likelihood was summed in another order on two: online_retail's BG/NBD
    baseline scored Gini 0.79376602 on two threads, 0.79376465 on one (as training runs)."""
    from threadpoolctl import threadpool_info, threadpool_limits

    rng = np.random.default_rng(20050101)
    customers = simulate_bgnbd(30_000, *TRUE_BG.params, T_WEEKS, rng, first=kind.FIRST)
    rows = [customers[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T")]
    assert len(np.unique(np.column_stack(rows), axis=0)) > 10_000  # a dot OpenBLAS splits
    fitted = []
    for threads in (1, 2):
        with threadpool_limits(limits=threads, user_api="blas"):
            if (
                max(lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas")
                < threads
            ):
                pytest.skip("BLAS runs one thread here: nothing to compare")
            fitted.append(kind.fit(*rows))
    assert fitted[0] == fitted[1]


# --------------------------------------------------------------------------- errors


def test_fit_rejects_too_few_customers() -> None:
    with pytest.raises(BTYDError, match="at least 20 customers"):
        BGNBD.fit([1] * 19, [2.0] * 19, [5.0] * 19)
    with pytest.raises(BTYDError, match="at least 20 customers"):
        GammaGamma.fit([0] * 50 + [2] * 10, [0.0] * 50 + [9.0] * 10)


def test_gamma_gamma_rejects_data_without_repeat_buyers() -> None:
    with pytest.raises(BTYDError, match="no customers with repeat purchases"):
        GammaGamma.fit([0] * 100, [0.0] * 100)


@pytest.mark.parametrize(
    ("frequency", "recency", "T", "message"),
    [
        ([1, 2], [5.0, 9.0], [4.0, 10.0], "recency > T"),
        ([1, -1], [1.0, 1.0], [4.0, 10.0], r"frequency has \d+ negative"),
        ([1, 2], [1.0, np.nan], [4.0, 10.0], r"recency has \d+ NaN"),
        ([1.5, 2], [1.0, 1.0], [4.0, 10.0], "whole numbers"),
    ],
)
def test_bad_rfm_inputs_are_rejected(
    frequency: list[float], recency: list[float], T: list[float], message: str
) -> None:
    many = 15  # enough customers that only the bad values can be the reason
    args = ([*frequency] * many, [*recency] * many, [*T] * many)
    with pytest.raises(BTYDError, match=message):
        BGNBD.fit(*args)
    with pytest.raises(BTYDError, match=message):
        CDNOW.probability_alive(*args)


def test_purchase_outlook_from_feature_rows_matches_the_model_on_rfm() -> None:
    """Feature rows (orders, first purchase age, purchase recency in days) give the same
    frequency / recency / T as an order log with one order a day, and the same P(alive) and
    expected purchases; users without a purchase get none."""
    from features.asof import compute_features
    from lifecycle.btyd_features import (
        fit_purchase_process,
        purchase_outlook,
        rfm_from_features,
    )

    rng = np.random.default_rng(3)
    as_of = pd.Timestamp("2024-07-01", tz="UTC")
    rows = []
    for i in range(60):
        days = sorted(rng.choice(np.arange(1, 180), size=1 + i % 5, replace=False))
        rows += [
            {
                "user_id": f"u{i}",
                "event_time": as_of - pd.Timedelta(days=int(d), hours=3),
                "event_type": "purchase",
                "amount": 10.0,
            }
            for d in days
        ]
    rows.append(
        {
            "user_id": "browser",
            "event_time": as_of - pd.Timedelta(days=5),
            "event_type": "session",
            "amount": None,
        }
    )
    events = pd.DataFrame(rows)
    features = compute_features(events, [as_of]).set_index("user_id")
    orders = events[events["event_type"] == "purchase"].rename(
        columns={"event_time": "order_time", "amount": "value"}
    )
    summary = rfm_summary(orders, as_of)
    rfm = rfm_from_features(features).loc[summary.index]
    assert np.allclose(rfm["frequency"], summary["frequency"])
    # features measure from the exact times, the summary from calendar days
    assert np.allclose(rfm["recency"], summary["recency"], atol=1 / 7)
    assert np.allclose(rfm["T"], summary["T"], atol=1 / 7)

    params = fit_purchase_process(features)
    assert params is not None and all(v > 0 for v in params.values())
    outlook = purchase_outlook(params, features, horizon_days=91)
    assert outlook.loc["browser"].isna().all()
    customers = outlook.drop(index="browser")
    assert customers.notna().all().all()
    assert ((customers["p_alive"] > 0) & (customers["p_alive"] <= 1)).all()
    model = purchase_model(params)
    assert type(model) is MBGNBD  # what serving reports
    expected = model.expected_purchases(13.0, rfm["frequency"], rfm["recency"], rfm["T"])
    assert np.allclose(customers.loc[summary.index, "expected_purchases"], expected)
    assert fit_purchase_process(features.head(5)) is None  # too few customers to fit


# --------------------------------------------------------------------------- MBG/NBD

TRUE_MBG = MBGNBD(r=0.25, alpha=4.0, a=0.8, b=2.5)


@pytest.fixture(scope="module")
def simulated_mbg() -> pd.DataFrame:
    """20,000 customers of the MBG/NBD process (dropout also right after the first purchase)."""
    rng = np.random.default_rng(20070301)
    return simulate_bgnbd(
        N_CUSTOMERS, *TRUE_MBG.params, T_WEEKS, rng, future_units=FUTURE_WEEKS, first=1
    )


def test_mbgnbd_recovers_simulated_parameters_and_predicts_the_future(
    simulated_mbg: pd.DataFrame,
) -> None:
    columns = (simulated_mbg["frequency"], simulated_mbg["recency"], simulated_mbg["T"])
    fitted = MBGNBD.fit(*columns)
    # Over 8 seeds the fits were unbiased, r and alpha within 9% and 3%; a and b trade off
    # more than in BG/NBD (b from 1.9 to 3.9), their mean dropout a/(a+b) within 16%.
    errors = relative_errors(fitted.params[:2], TRUE_MBG.params[:2])
    assert np.all(errors <= 0.10), (fitted, errors)
    dropout = fitted.a / (fitted.a + fitted.b)
    assert dropout == pytest.approx(TRUE_MBG.a / (TRUE_MBG.a + TRUE_MBG.b), rel=0.20), fitted
    assert fitted.log_likelihood(*columns).sum() >= TRUE_MBG.log_likelihood(*columns).sum()
    actual = simulated_mbg["future_purchases"].to_numpy()
    assert fitted.expected_purchases(FUTURE_WEEKS, *columns).mean() == pytest.approx(
        actual.mean(), rel=0.05
    )
    # One-time buyers included: their predicted and simulated futures agree as a group.
    once = simulated_mbg["frequency"].to_numpy() == 0
    truth = TRUE_MBG.expected_purchases(FUTURE_WEEKS, *columns)
    assert truth[once].sum() == pytest.approx(actual[once].sum(), rel=0.15)
    # Fitting the BG/NBD to the same customers is worse: it cannot explain early dropouts.
    bg = BGNBD.fit(*columns)
    assert fitted.log_likelihood(*columns).sum() > bg.log_likelihood(*columns).sum()


def test_mbgnbd_one_time_buyers_fade_with_silence() -> None:
    """Under BG/NBD a one-time buyer is alive with probability 1 however long silent; under
    MBG/NBD P(alive) falls with the time since that purchase, and the simulated one-time
    buyers who bought again in the future had the higher P(alive)."""
    silent = MBGNBD(*CDNOW.params).probability_alive([0, 0, 0], [0, 0, 0], [1, 10, 80])
    assert np.all(silent < 1) and np.all(np.diff(silent) < 0)
    rng = np.random.default_rng(11)
    joined = rng.uniform(1.0, T_WEEKS, size=N_CUSTOMERS)  # first purchases spread over a year
    customers = simulate_bgnbd(
        N_CUSTOMERS, *TRUE_MBG.params, joined, rng, future_units=FUTURE_WEEKS, first=1
    )
    once = customers[customers["frequency"] == 0]
    p_alive = TRUE_MBG.probability_alive(once["frequency"], once["recency"], once["T"])
    came_back = once["future_purchases"].to_numpy() > 0
    assert came_back.sum() > 50
    assert p_alive[came_back].mean() > p_alive[~came_back].mean()


@pytest.mark.parametrize("model", ["simulated", "simulated_mbg"])
def test_probability_of_no_purchase_matches_the_simulated_future(
    model: str, request: pytest.FixtureRequest
) -> None:
    """P(no purchase in the next 26 weeks), exact under the process, against the simulated
    customers' futures, by group of repeat purchases (and its Poisson shortcut is off)."""
    customers = request.getfixturevalue(model)
    truth = TRUE_BG if model == "simulated" else TRUE_MBG
    columns = (customers["frequency"], customers["recency"], customers["T"])
    silent = truth.probability_of_no_purchase(FUTURE_WEEKS, *columns)
    assert ((silent >= 0) & (silent <= 1)).all()
    actual = customers["future_purchases"].to_numpy() == 0
    x = customers["frequency"].to_numpy()
    for group in (x == 0, x == 1, (x >= 2) & (x <= 4), x >= 5):
        # binomial standard error of a group's share of silent customers, at most ~0.008
        error = np.sqrt(actual[group].mean() * (1 - actual[group].mean()) / group.sum())
        assert silent[group].mean() == pytest.approx(actual[group].mean(), abs=4 * error + 1e-3)
    # The shortcut P(alive) x Poisson(expected purchases if alive) ignores that the rate
    # varies among those alive, and says too few customers stay silent.
    alive = truth.probability_alive(*columns)
    shortcut = 1 - alive * -np.expm1(-truth.expected_purchases(FUTURE_WEEKS, *columns) / alive)
    assert actual.mean() - shortcut.mean() > 3 * abs(actual.mean() - silent.mean())
    # Monotone: more weeks of horizon, fewer silent; a longer silence, more silent.
    assert np.all(truth.probability_of_no_purchase(13.0, *columns) >= silent - 1e-12)
    longer = truth.probability_of_no_purchase(FUTURE_WEEKS, [3, 3], [10.0, 10.0], [20.0, 40.0])
    assert longer[1] > longer[0]


@pytest.mark.parametrize("model", ["simulated", "simulated_mbg"])
def test_value_quantiles_are_calibrated_on_simulated_futures(
    model: str, request: pytest.FixtureRequest
) -> None:
    """P10/P50/P90 of the value in the next 26 weeks, exact under the processes: P(N >= n)
    sums to the expected purchases, and about one customer in ten falls below P10 and one
    above P90 (an outcome of 0 tied with a quantile of 0 counted by its randomized PIT)."""
    from lifecycle.btyd_interval import purchase_survival, value_quantiles

    customers = request.getfixturevalue(model)
    truth = TRUE_BG if model == "simulated" else TRUE_MBG
    process = dict(zip(("r", "alpha", "a", "b"), truth.params, strict=True))
    process["first"] = float(truth.FIRST)
    x, recency, age = (customers[k].to_numpy() for k in ("frequency", "recency", "T"))
    survival = purchase_survival(process, x, recency, age, FUTURE_WEEKS)
    expected = truth.expected_purchases(FUTURE_WEEKS, x, recency, age)
    np.testing.assert_allclose(survival.expected(), expected, atol=1e-7)
    rng = np.random.default_rng(7)
    nu = rng.gamma(TRUE_GG.q, 1.0 / TRUE_GG.v, len(x))  # each customer's spend rate
    past = np.where(
        x > 0, rng.gamma(np.maximum(x, 1) * TRUE_GG.p, 1.0 / (np.maximum(x, 1) * nu)), 0
    )
    bought = customers["future_purchases"].to_numpy()
    future = np.where(bought > 0, rng.gamma(np.maximum(bought, 1) * TRUE_GG.p, 1.0 / nu), 0.0)
    spend = {"p": TRUE_GG.p, "q": TRUE_GG.q, "v": TRUE_GG.v}
    days = age * 7.0
    quantiles, buys = value_quantiles(
        process, spend, x + 1, days, days - recency * 7.0, past, FUTURE_WEEKS * 7.0
    )
    assert (np.diff(quantiles, axis=1) >= 0).all() and (quantiles >= 0).all()
    silent = truth.probability_of_no_purchase(FUTURE_WEEKS, x, recency, age)
    np.testing.assert_allclose(buys, 1 - silent, rtol=1e-7, atol=1e-12)
    pit = rng.random(len(x)) * (1.0 - buys)  # where the outcome is 0
    below = np.where(future == 0, pit < 0.1, future < quantiles[:, 0])
    above = np.where(future == 0, pit > 0.9, future > quantiles[:, 2])
    assert below.mean() == pytest.approx(0.1, abs=0.012) and above.mean() == pytest.approx(
        0.1, abs=0.012
    )
    median_side = np.where(future == 0, pit < 0.5, future < quantiles[:, 1])
    assert median_side.mean() == pytest.approx(0.5, abs=0.015)
    nobody = value_quantiles(
        process, spend, [0.0, 2.0], [np.nan, np.nan], [np.nan, 5.0], [0, 1], 91
    )
    assert (nobody[0] == 0).all() and (nobody[1] == 0).all()


def test_value_quantiles_solve_the_distribution_given_by_special_functions() -> None:
    """The recurrences and Newton's steps of ``value_quantiles`` against the formulas
    themselves: P(N >= n) from the regularized incomplete beta function and the Beta
    function, and P(value <= quantile) equal to its level; a quantile is 0 exactly where
    P(no purchase) reaches the level. Customers from 1 to 2,000 purchases, 13 and 52 weeks."""
    from scipy.special import betainc, betaln

    from lifecycle.btyd_interval import LEVELS, value_quantiles

    rng = np.random.default_rng(11)
    process = {"r": 0.8, "alpha": 8.0, "a": 0.1, "b": 1.5, "first": 1.0}
    spend = {"p": 3.0, "q": 4.0, "v": 300.0}
    orders = np.concatenate([1 + rng.negative_binomial(0.8, 0.2, 300), [1, 2, 300, 2000]])
    first = np.concatenate([rng.uniform(0, 365, 300), [0.0, 365.0, 365.0, 700.0]])
    last = np.where(orders == 1, first, first * rng.uniform(0, 1, len(orders)))
    last[-3:] = [0.0, 1.0, 3.0]
    mean_value = rng.gamma(3.0, 100.0, len(orders))
    model = purchase_model(process)
    r, alpha, a, b = model.params
    x, t_obs, t_x = orders - 1.0, first / 7.0, (first - last) / 7.0
    for weeks in (13.0, 52.0):
        quantiles, buys = value_quantiles(
            process, spend, orders, first, last, mean_value, weeks * 7.0
        )
        n = np.arange(1, 3001)[None, :]
        b_post = (b + 1.0 + x)[:, None]
        at_least = (
            model.probability_alive(x, t_x, t_obs)[:, None]
            * betainc(n, (r + x)[:, None], (weeks / (alpha + t_obs + weeks))[:, None])
            * np.exp(betaln(a, b_post + n - 1) - betaln(a, b_post))
        )
        assert at_least[:, -1].max() < 1e-9  # the sum below is complete
        np.testing.assert_allclose(buys, at_least[:, 0], rtol=1e-9, atol=1e-12)
        exactly = at_least - np.column_stack([at_least[:, 1:], np.zeros(len(x))])
        shape = spend["q"] + spend["p"] * x
        scale = spend["v"] + x * np.where(x > 0, mean_value, 0.0)
        for j, level in enumerate(LEVELS):
            share = (quantiles[:, j] / (quantiles[:, j] + scale))[:, None]
            cdf = 1 - buys + (exactly * betainc(n * spend["p"], shape[:, None], share)).sum(1)
            zero = quantiles[:, j] == 0
            np.testing.assert_array_equal(zero, 1 - buys >= level)
            np.testing.assert_allclose(cdf[~zero], level, atol=1e-8)


def test_bundles_saved_before_mbgnbd_keep_their_bg_nbd() -> None:
    params = dict(zip(("r", "alpha", "a", "b"), CDNOW.params, strict=True))
    assert type(purchase_model(params)) is BGNBD
    assert type(purchase_model(params | {"first": 1.0})) is MBGNBD


def test_interval_benchmark_runs_quick_and_agrees_with_the_direct_evaluation() -> None:
    """``experiments/bench_btyd_interval.py --quick``: the served recurrences and Newton's
    steps give the direct evaluation's levels (special functions, bisection) on both shops
    and horizons of the benchmark."""
    stdout = run_experiment("bench_btyd_interval.py", "--quick")
    runs = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    assert {(run["shop"], run["horizon_days"]) for run in runs} == {
        (shop, days) for shop in ("light", "heavy") for days in (91, 365)
    }
    for run in runs:
        assert run["same_zeros"] and run["max_relative_difference"] < 1e-8, run
        assert run["most_purchases"] > run["median_purchases"] >= 1
