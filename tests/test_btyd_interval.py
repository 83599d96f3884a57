"""The served BG/NBD + Gamma-Gamma interval (``lifecycle.btyd_interval``): one request's
customers get the batch's numbers, and the flat P(N >= n) is the special functions'."""

from __future__ import annotations

import logging
import sys
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.special import betainc, betaln

from lifecycle import btyd_interval
from lifecycle.btyd import purchase_model
from lifecycle.btyd_interval import (
    TAIL,
    PurchaseSurvival,
    purchase_survival,
    value_quantiles,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
from bench_btyd_interval import SHOPS, customers, reference_quantiles

PROCESS, SPEND = SHOPS["heavy"]
GAMMA_GAMMA = dict(zip("pqv", SPEND, strict=True))


def varied_customers() -> dict[str, np.ndarray]:
    """Drawn from the heavy shop's processes, then the edge cases: no purchase (0 orders,
    unknown days), first day only (today and long ago), a one-time buyer, many purchases
    (400 over two years, lately silent or not) and a heavy spender."""
    drawn = customers("heavy", 60, seed=3)
    edge = {
        "orders": [0.0, 3.0, 1.0, 1.0, 1.0, 400.0, 400.0, 30.0],
        "first": [np.nan, np.nan, 0.0, 700.0, 30.0, 700.0, 700.0, 300.0],
        "last": [np.nan, 5.0, 0.0, 700.0, 30.0, 1.0, 200.0, 2.0],
        "mean_value": [0.0, 50.0, 0.0, 0.0, 0.0, 80.0, 80.0, 25_000.0],
    }
    return {k: np.concatenate([drawn[k], np.asarray(edge[k])]) for k in drawn}


def test_one_customer_alone_gets_the_batch_numbers_and_the_reference() -> None:
    """A served request of one user gives each customer what the batch of all gives them
    (P(any purchase) to the bit, levels to 1e-12), and the direct evaluation's levels
    (special functions, bisection) where its 400 columns hold the customer."""
    data = varied_customers()
    for days in (91, 365):
        batch, batch_buys = value_quantiles(PROCESS, GAMMA_GAMMA, horizon_days=days, **data)
        for i in range(len(data["orders"])):
            alone, alone_buys = value_quantiles(
                PROCESS,
                GAMMA_GAMMA,
                horizon_days=days,
                **{k: v[i : i + 1] for k, v in data.items()},
            )
            assert alone_buys[0] == batch_buys[i], (days, i)
            np.testing.assert_allclose(alone[0], batch[i], rtol=1e-12, atol=0, err_msg=f"{i}")
        assert (batch[:60] > 0).any() and (batch[-8:-6] == 0).all()  # no purchase: nothing
        known = np.isfinite(data["first"])
        x = data["orders"][known] - 1
        fits = (
            purchase_survival(
                PROCESS,
                x,
                (data["first"] - data["last"])[known] / 7,
                data["first"][known] / 7,
                days / 7,
            ).needed()
            < 400
        )
        chosen = np.flatnonzero(known)[fits]
        reference = reference_quantiles(
            PROCESS, SPEND, {k: v[chosen] for k, v in data.items()}, days
        )
        served = batch[chosen]
        assert ((served == 0) == (reference == 0)).all()
        nonzero = reference > 0
        np.testing.assert_allclose(served[nonzero], reference[nonzero], rtol=1e-8)


def test_purchase_survival_is_one_flat_array_of_the_special_functions() -> None:
    """P(N >= n) = P(alive) I_{t/(alpha+T+t)}(n, r + x) B(a, b' + n - 1) / B(a, b'), each
    customer's values one after the other until the first below ``TAIL``, in blocks of n
    worked out at once (customers needing 1 to hundreds of columns)."""
    data = varied_customers()
    known = np.isfinite(data["first"]) & (data["orders"] >= 1)
    x = data["orders"][known] - 1
    t_obs, t_x = data["first"][known] / 7, (data["first"] - data["last"])[known] / 7
    weeks = 52.0
    survival = purchase_survival(PROCESS, x, t_x, t_obs, weeks)
    model = purchase_model(PROCESS)
    r, alpha, a, b = model.params
    customer = np.repeat(np.arange(len(x)), survival.counts)
    n = survival.purchases()
    b_post = b + model.FIRST + x[customer]
    formula = (
        model.probability_alive(x, t_x, t_obs)[customer]
        * betainc(n, r + x[customer], weeks / (alpha + t_obs[customer] + weeks))
        * np.exp(betaln(a, b_post + n - 1) - betaln(a, b_post))
    )
    np.testing.assert_allclose(survival.values, formula, rtol=1e-9, atol=1e-13)
    last = survival.offsets + survival.counts - 1
    assert (survival.values[last] < TAIL).all()
    assert (np.delete(survival.values, last) >= TAIL).all()
    assert survival.counts.max() > 300 and survival.counts.min() == 1


def test_heavy_customers_are_solved_in_slices_of_bounded_memory(monkeypatch) -> None:
    """Customers of many purchases (2,000 orders, a year's horizon: ~440 columns each) are
    solved a slice of at most ``SLICE_COLUMNS`` columns at a time: the peak of Python's
    allocations stays under a bound the solve of all at once passed (37 MiB for these 600),
    and every number is the unsliced one to the bit."""
    count = 600
    data = {
        "orders": np.full(count, 2000.0),
        "first": np.full(count, 700.0),
        "last": np.linspace(0.0, 30.0, count),
        "mean_value": np.full(count, 10.0),
    }
    monkeypatch.setattr(btyd_interval, "SLICE_COLUMNS", 10**9)
    whole, whole_buys = value_quantiles(PROCESS, GAMMA_GAMMA, horizon_days=365, **data)
    monkeypatch.setattr(btyd_interval, "SLICE_COLUMNS", 20_000)
    tracemalloc.start()
    try:
        sliced, sliced_buys = value_quantiles(PROCESS, GAMMA_GAMMA, horizon_days=365, **data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20, f"{peak / 2**20:.1f} MiB"
    assert np.array_equal(sliced, whole) and np.array_equal(sliced_buys, whole_buys)
    assert (sliced > 0).sum() > 100 and (sliced == 0).any()  # some solved, some not


def test_slices_cover_the_customers_in_order_within_the_columns() -> None:
    """``PurchaseSurvival.slices``: consecutive runs of customers of at most the columns
    given, a customer with more alone; each slice's view holds exactly its customers' values."""
    survival = PurchaseSurvival(np.array([3, 4, 9, 1, 1, 2]), np.arange(20, dtype="float64"))
    parts = survival.slices(5)
    assert parts == [slice(0, 1), slice(1, 2), slice(2, 3), slice(3, 6)]
    assert np.array_equal(np.concatenate([survival[p].values for p in parts]), survival.values)
    assert np.array_equal(survival[slice(2, 3)].values, np.arange(7, 16, dtype="float64"))


def test_a_customer_whose_p_alive_underflows_warns_nothing() -> None:
    """P(alive) underflows to 0 for 400 orders then 2,999 silent days, or 100,000 orders and
    900: no purchase and no level (0), beside a customer solved as usual, and no
    RuntimeWarning (0/0) for the serving log or ``-W error``."""
    data = {
        "orders": np.array([400.0, 100_000.0, 30.0]),
        "first": np.array([3000.0, 1000.0, 300.0]),
        "last": np.array([2999.0, 900.0, 2.0]),
        "mean_value": np.array([80.0, 10.0, 25.0]),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        found, buys = value_quantiles(PROCESS, GAMMA_GAMMA, horizon_days=365, **data)
    assert (buys[:2] == 0).all() and (found[:2] == 0).all()
    assert buys[2] > 0 and (found[2] > 0).any()


# BG/NBD and Gamma-Gamma as fitted on a count-only log (online_retail's purchase invoices,
# one purchase each, cut at 2011-09-09): every order worth the same, so p is 1.6e5, each
# purchase's value all but the mean and the value given n purchases all but n times it
COUNT_ONLY_PROCESS = {"r": 0.737, "alpha": 8.65, "a": 0.000186, "b": 578.0, "first": 0.0}
COUNT_ONLY_SPEND = (162_755.0, 42.45, 0.000277)


def test_a_count_only_logs_levels_are_the_purchases_they_fall_on() -> None:
    """The value's distribution of a count-only log is a staircase, flat between whole
    purchases: a Newton step from a flat stretch went past every value (a bracket open
    above took it), bisection did not come back within its steps and a level was infinite
    (the backtest of online_retail counted stopped in LTV's interval coverage). Every level
    is finite, ordered and the direct evaluation's; a repeat buyer's at whole purchases."""
    days = np.array([0.0, 14.0, 42.0, 90.0, 134.0, 200.0, 300.0])
    orders, first, last = np.meshgrid(np.arange(1.0, 13.0), days, days, indexing="ij")
    seen = last <= first
    data = {
        "orders": orders[seen],
        "first": first[seen],
        "last": last[seen],
        "mean_value": np.where(orders[seen] > 1, 1.0, 0.0),
    }
    gamma_gamma = dict(zip("pqv", COUNT_ONLY_SPEND, strict=True))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow to infinity on the way
        found, _ = value_quantiles(COUNT_ONLY_PROCESS, gamma_gamma, horizon_days=91, **data)
    assert np.isfinite(found).all() and (np.diff(found, axis=1) >= 0).all()
    reference = reference_quantiles(COUNT_ONLY_PROCESS, COUNT_ONLY_SPEND, data, 91)
    assert ((found == 0) == (reference == 0)).all()
    nonzero = reference > 0
    np.testing.assert_allclose(found[nonzero], reference[nonzero], rtol=1e-8)
    assert nonzero.sum() > 100 and found.max() > 3  # many solved, some past three purchases
    repeat = nonzero & (data["orders"] > 1)[:, None]  # a value per purchase known: 1
    np.testing.assert_allclose(found[repeat], np.round(found[repeat]), rtol=0.01)


def test_a_level_not_found_in_its_steps_is_its_brackets_outer_end_and_said(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A level the solver does not find in its steps kept its last guess, silently (a
    count-only log's was once infinite). It is now the end of its bracket that widens the
    interval (P10 at most, P50 and P90 at least the level found with every step), each
    level's count logged; where no value above the level is known, refused."""
    data = varied_customers()
    exact, _ = value_quantiles(PROCESS, GAMMA_GAMMA, horizon_days=365, **data)
    with caplog.at_level(logging.WARNING, logger="lifecycle.btyd_interval"):
        found, _ = value_quantiles(PROCESS, GAMMA_GAMMA, horizon_days=365, most_steps=4, **data)
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 2 and "16 customers' P10 not found in 4 steps" in said[0]
    assert "17 customers' P90 not found in 4 steps" in said[1]
    assert (found[:, 0] <= exact[:, 0]).all() and (found[:, 2] >= exact[:, 2]).all()
    assert (found[:, 0] < exact[:, 0]).sum() == 16 and (found[:, 2] > exact[:, 2]).sum() == 17
    np.testing.assert_allclose(found[:, 1], exact[:, 1], rtol=1e-8)
    with pytest.raises(ValueError, match=r"53 customers' P50 not found in 1 step, 53 of"):
        value_quantiles(PROCESS, GAMMA_GAMMA, horizon_days=365, most_steps=1, **data)
