"""Baseline rules as servable models, the two-part LTV interval and its calibration check."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lifecycle import tasks
from lifecycle.bundle import ModelBundle
from lifecycle.mixture import mixture_quantiles
from lifecycle.rules import (
    RULES_LEFT_OUT,
    RuleError,
    RuleModel,
    feature_matrix,
    fit_rule,
    fitted_rules,
    refit_to_serve,
)
from training import evaluation
from training.baselines import classification_baselines, last_period_value

NAMES = [
    "recency_days",
    "tenure_days",
    "orders_total",
    "revenue_total",
    "first_purchase_age_days",
    "purchase_recency_days",
    "avg_order_value",
    "revenue_90d",
    "refund_amount_90d",
    "revenue_365d",
    "refund_amount_365d",
]


@pytest.fixture
def rows() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    n = 400
    orders = rng.poisson(2.0, n).astype(float)
    first = rng.uniform(30, 400, n)
    frame = pd.DataFrame(
        {
            "as_of": pd.Timestamp("2024-06-01", tz="UTC"),
            "recency_days": np.where(rng.random(n) < 0.05, np.nan, rng.uniform(0, 300, n)),
            "tenure_days": first + 10,
            "orders_total": orders,
            "revenue_total": orders * rng.gamma(2.0, 20.0, n),
            "first_purchase_age_days": np.where(orders > 0, first, np.nan),
            "purchase_recency_days": np.where(orders > 0, first * rng.uniform(0, 1, n), np.nan),
            "avg_order_value": np.where(orders > 0, rng.gamma(2.0, 20.0, n), np.nan),
            "revenue_90d": rng.gamma(1.0, 30.0, n),
            "refund_amount_90d": rng.gamma(1.0, 2.0, n),
            "revenue_365d": rng.gamma(2.0, 60.0, n),
            "refund_amount_365d": rng.gamma(1.0, 5.0, n),
        }
    )
    return frame


def test_rules_score_as_the_baselines_do(rows: pd.DataFrame) -> None:
    train, test = rows.iloc[:300], rows.iloc[300:]
    for task in ("churn", "conversion"):
        expected = classification_baselines(task, train, test)
        for kind in ("recency_rule", "rfm_score"):
            rule = fit_rule(kind, task, train, NAMES, horizon_days=90, windows=[90, 365])
            np.testing.assert_allclose(rule.predict(feature_matrix(test, NAMES)), expected[kind])
    # churn: a long silence scores high; conversion: the reverse
    churn = fit_rule("recency_rule", "churn", train, NAMES, horizon_days=90, windows=[90])
    quiet = test["recency_days"].fillna(test["tenure_days"]).to_numpy()
    assert np.corrcoef(churn.predict(feature_matrix(test, NAMES)), quiet)[0, 1] == pytest.approx(1)
    value = last_period_value(test, 91, [90, 365])  # the window nearest the horizon
    net = np.maximum(test["revenue_90d"] - test["refund_amount_90d"], 0) * 91 / 90
    np.testing.assert_allclose(value, net)
    yearly = last_period_value(test, 300, [90, 365])
    net = np.maximum(test["revenue_365d"] - test["refund_amount_365d"], 0) * 300 / 365
    np.testing.assert_allclose(yearly, net)


def test_rule_contributions_add_up_and_the_bundle_round_trips(
    rows: pd.DataFrame, tmp_path: Path
) -> None:
    rule = fit_rule("rfm_score", "churn", rows, NAMES, horizon_days=90, windows=[90])
    matrix = feature_matrix(rows, NAMES)
    contributions = rule.predict(matrix, pred_contrib=True)
    assert contributions.shape == (len(rows), len(NAMES) + 1)
    np.testing.assert_allclose(contributions.sum(axis=1), rule.predict(matrix))
    bundle = ModelBundle("churn", rule, NAMES, {}, "churn_v1", {"task": "churn"}, {})
    loaded = ModelBundle.load(bundle.save(tmp_path / "bundle"))
    assert loaded.kind == "rfm_score" and isinstance(loaded.booster, RuleModel)
    np.testing.assert_allclose(loaded.predict(rows), bundle.predict(rows))
    assert list(loaded.contributions(rows).columns) == NAMES


def test_bgnbd_rule_forecasts_value_for_customers_only(rows: pd.DataFrame) -> None:
    rule = fit_rule("bgnbd_gamma_gamma", "ltv", rows, NAMES, horizon_days=90, windows=[90])
    value = rule.predict(feature_matrix(rows, NAMES))
    assert np.isfinite(value).all() and (value >= 0).all()
    assert (value[rows["orders_total"].to_numpy() == 0] == 0).all()
    assert value[rows["orders_total"].to_numpy() > 0].mean() > 0
    with pytest.raises(RuleError, match="reads recency_days"):
        fit_rule("recency_rule", "churn", rows, ["orders_total"], horizon_days=90, windows=[90])
    with pytest.raises(RuleError, match="unknown rule kind"):
        fit_rule("magic", "churn", rows, NAMES, horizon_days=90, windows=[90])


def test_a_process_rule_too_few_customers_can_fit_says_how_many(rows: pd.DataFrame) -> None:
    """A young or small log's label-free LTV and churn said only "too few customers to fit
    BG/NBD" (the backtest of the 30-user demo: "and no label-free model: too few customers
    to fit BG/NBD"): how many there were and how many it takes are said now."""
    few = rows.head(15)
    customers = int((few["orders_total"] > 0).sum())
    with pytest.raises(RuleError) as refused:
        fit_rule("bgnbd_gamma_gamma", "ltv", few, NAMES, horizon_days=90, windows=[90])
    assert str(refused.value) == (
        f"too few customers to fit BG/NBD: {customers}, at least 20 needed"
    )


def test_a_gamma_gamma_fit_without_a_mean_order_value_is_no_rule_and_the_measured_one_serves(
    rows: pd.DataFrame,
) -> None:
    """Order values without a mean (each customer's scaled by a Pareto draw, u ** -2): the
    fitted q is not above 1, so a one-time buyer's expected order value p v / (q - 1) is
    undefined. The rule is refused in words (it raised BTYDError from its term means, a
    traceback through training), left out of the baselines, and where the users of now
    cannot support the rule a blend or a winning rule measured on the test serves as
    measured, said (a refresh of online_retail with a month x100 stopped there)."""
    options = {"horizon_days": 90, "windows": [90]}
    measured = fit_rule("bgnbd_gamma_gamma", "ltv", rows, NAMES, **options)
    heavy = rows.assign(as_of=pd.Timestamp("2024-07-01", tz="UTC"))
    draws = np.random.default_rng(3).uniform(0, 1, len(heavy)) ** -2.0
    heavy["avg_order_value"] = heavy["avg_order_value"] * draws
    with pytest.raises(RuleError, match=r"Gamma-Gamma has no mean order value on these [\d,]+ "
                       r"repeat customers: its fitted q 0\.\d+ is not above 1"):  # fmt: skip
        fit_rule("bgnbd_gamma_gamma", "ltv", heavy, NAMES, **options)
    assert "bgnbd_gamma_gamma" not in fitted_rules("ltv", heavy, NAMES, **options)
    said: list[str] = []
    served, why = refit_to_serve(measured, "ltv", heavy, NAMES, said.append, **options)
    assert served is measured and why is not None
    assert said == [f"ltv: {why}"]
    assert why.startswith("the bgnbd_gamma_gamma rule cannot be fitted on the users of 2024-07-01")
    assert why.endswith("it serves as fitted for its test, as measured")
    fresh, why = refit_to_serve(measured, "ltv", rows, NAMES, said.append, **options)
    assert why is None and fresh is not measured and len(said) == 1


def test_a_baseline_left_out_of_the_gate_is_said_with_why_in_lines_json_and_the_run(
    rows: pd.DataFrame,
) -> None:
    """A baseline rule the data cannot support was dropped from the gate's comparison
    without a word (``fitted_rules`` caught the RuleError): training's lines, its --json and
    its MLflow run named only the baselines compared, so an ML engineer could not tell that
    BG/NBD + Gamma-Gamma was never in the race. Now it is kept with why, said to progress,
    in the result's lines and to_dict (the run's tags take the same words)."""
    from training.pipeline import TrainResult
    from training.time_splits import TimeSplit

    heavy = rows.assign(as_of=pd.Timestamp("2024-07-01", tz="UTC"))
    draws = np.random.default_rng(3).uniform(0, 1, len(heavy)) ** -2.0
    heavy["avg_order_value"] = heavy["avg_order_value"] * draws
    said: list[str] = []
    rules = fitted_rules("ltv", heavy, NAMES, horizon_days=90, windows=[90], progress=said.append)
    why = rules.left_out["bgnbd_gamma_gamma"]
    assert "bgnbd_gamma_gamma" not in rules and why.startswith("Gamma-Gamma has no mean order")
    assert said == [f"ltv: baseline bgnbd_gamma_gamma left out of the gate (not fitted): {why}"]
    assert set(rules) == set(tasks.get("ltv").rules) - {"bgnbd_gamma_gamma"}
    day = [pd.Timestamp("2024-07-01", tz="UTC")]
    metrics = {"lightgbm": {"normalized_gini": 0.5, "n": 80.0}}
    metrics |= {kind: {"normalized_gini": 0.4, "n": 80.0} for kind in rules}
    result = TrainResult(
        "ltv", "m-ltv", "1", "0123456789", metrics, True, "first model", TimeSplit(day, day, day),
        report={RULES_LEFT_OUT: rules.left_out},
    )  # fmt: skip
    line = f"  baseline bgnbd_gamma_gamma left out of the gate (not fitted): {why}"
    assert result.lines()[2] == line
    assert result.to_dict()[RULES_LEFT_OUT] == {"bgnbd_gamma_gamma": why}


def test_the_backtests_bgnbd_fits_spend_beside_a_customer_whose_repeat_days_were_free(
    tmp_path: Path,
) -> None:
    """A repeat customer whose repeat days were all free items (monetary_value 0, kept since
    a 0.00 line is a purchase) failed the Gamma-Gamma fit of the backtest's BG/NBD baseline,
    which then fell back, silently, to the mean order value for everyone. Its fit skips
    them, as the rule's does: each customer's spend is Gamma-Gamma's, the free one's below
    the population mean."""
    from features import contract as c
    from lifecycle.btyd import GammaGamma, rfm_summary
    from training.baselines import bgnbd_forecast

    rng = np.random.default_rng(3)
    start, as_of = pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2024-12-31", tz="UTC")
    rows = []
    for user in range(300):
        days = np.sort(rng.choice(365, size=1 + rng.poisson(3), replace=False))
        spend = round(rng.gamma(4.0, 10.0), 2)  # cents, as money() sums them
        for k, day in enumerate(days):
            free = user == 0 and k > 0  # its repeat days: free items only
            rows.append((f"u{user}", start + pd.Timedelta(days=int(day)), 0.0 if free else spend))
    events = pd.DataFrame(rows, columns=[c.USER_ID, c.EVENT_TIME, c.AMOUNT])
    events[c.EVENT_TYPE] = c.PURCHASE
    events[c.EVENT_TIME] = events[c.EVENT_TIME].astype("datetime64[us, UTC]")  # as stored
    path = tmp_path / "events.parquet"
    events.to_parquet(path)
    forecast = bgnbd_forecast(path, as_of, 90)
    orders = events.rename(columns={c.EVENT_TIME: "order_time", c.AMOUNT: "value"})
    summary = rfm_summary(orders, as_of)
    assert summary.loc["u0", "frequency"] > 0 and summary.loc["u0", "monetary_value"] == 0
    spent = summary[summary["monetary_value"] > 0]
    gamma = GammaGamma.fit(spent["frequency"], spent["monetary_value"])
    per_order = forecast["expected_value"] / forecast["expected_purchases"]
    expected = pd.Series(
        gamma.expected_average_value(summary["frequency"], summary["monetary_value"]),
        index=summary.index,
    )
    np.testing.assert_allclose(per_order, expected.reindex(per_order.index), rtol=1e-9)
    assert per_order["u0"] < gamma.population_mean and per_order.std() > 1


def test_the_bgnbd_baseline_of_a_count_only_log_is_expected_purchases_times_the_one_value(
    tmp_path: Path,
) -> None:
    """Session 59 (GATE2): where every purchase is worth one value (a log of purchase days
    with --amount-default 1), the served rule serves expected purchases x that value
    (``rules.one_order_value``), but the backtest's BG/NBD + Gamma-Gamma baseline still fitted
    Gamma-Gamma on values all 1 (p and q on their bound): values expected purchases x
    1.000005. It now keeps the same rule (``rules.purchase_value``): exactly the value, here
    2.5 a purchase day; a day of two purchases is worth two, so Gamma-Gamma is fitted."""
    from features import contract as c
    from training.baselines import bgnbd_forecast

    rng, hours = np.random.default_rng(5), pd.Timedelta(hours=2)
    start, as_of = pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2024-12-31", tz="UTC")
    rows = [
        (f"u{user}", start + pd.Timedelta(days=int(day), hours=9), 2.5)
        for user in range(300)
        for day in rng.choice(365, size=1 + rng.poisson(3), replace=False)
    ]
    events = pd.DataFrame(rows, columns=[c.USER_ID, c.EVENT_TIME, c.AMOUNT])
    events[c.EVENT_TYPE] = c.PURCHASE
    events[c.EVENT_TIME] = events[c.EVENT_TIME].astype("datetime64[us, UTC]")  # as stored
    events.to_parquet(tmp_path / "events.parquet")
    forecast = bgnbd_forecast(tmp_path / "events.parquet", as_of, 90)
    assert (forecast["expected_purchases"] > 0).all()
    assert (forecast["expected_value"] == forecast["expected_purchases"] * 2.5).all()
    # a second purchase on one of u0's days: that day is worth 5, Gamma-Gamma's spread
    first = events.index[events[c.USER_ID] == "u0"][0]
    twice = events.loc[[first]].assign(**{c.EVENT_TIME: events.at[first, c.EVENT_TIME] + hours})
    both = pd.concat([events, twice]).astype({c.EVENT_TIME: "datetime64[us, UTC]"})
    both.to_parquet(tmp_path / "events.parquet")
    spread = bgnbd_forecast(tmp_path / "events.parquet", as_of, 90)
    per_day = spread["expected_value"] / spread["expected_purchases"]
    assert per_day["u0"] > 2.5 and (per_day.drop("u0") != 2.5).all()


def test_purchase_process_rule_is_the_processes_own_probability(
    rows: pd.DataFrame, tmp_path: Path
) -> None:
    """The label-free churn model: MBG/NBD P(no purchase in the horizon) of customers, a
    user without a purchase read as a one-time buyer from their first event; for conversion
    P(a purchase); refused where too few customers bought twice (the rate's fit runs to 0)."""
    from lifecycle.btyd import purchase_model
    from lifecycle.btyd_features import rfm_from_features

    rule = fit_rule("purchase_process", "churn", rows, NAMES, horizon_days=90, windows=[90])
    churn = rule.predict(feature_matrix(rows, NAMES))
    assert ((churn > 0) & (churn < 1)).all()
    customers = rows["orders_total"].to_numpy() >= 1
    rfm = rfm_from_features(rows[customers])
    process = purchase_model(rule.params["process"])
    expected = process.probability_of_no_purchase(
        90 / 7, rfm["frequency"], rfm["recency"], rfm["T"]
    )
    np.testing.assert_allclose(churn[customers], expected)
    never = rows[~customers]
    as_once = process.probability_of_no_purchase(
        90 / 7, 0.0, 0.0, never["tenure_days"].to_numpy() / 7
    )
    np.testing.assert_allclose(churn[~customers], as_once)
    bundle = ModelBundle("churn", rule, NAMES, {}, "churn_v1", {"task": "churn"}, {})
    np.testing.assert_allclose(ModelBundle.load(bundle.save(tmp_path)).predict(rows), churn)
    # Reasons: the inputs' Shapley values from the training medians add up to the score; a
    # customer long without a purchase owes most of the risk to that silence.
    contributions = rule.predict(feature_matrix(rows, NAMES), pred_contrib=True)
    np.testing.assert_allclose(contributions.sum(axis=1), churn)
    reference = dict(zip(rule.inputs(), rule.params["input_reference"], strict=True))
    typical = pd.DataFrame([reference]).reindex(columns=NAMES)
    [at_reference] = rule.predict(feature_matrix(typical, NAMES))
    np.testing.assert_allclose(contributions[:, -1], at_reference)
    lapsed = int(np.nanargmax(np.where(customers, rows["purchase_recency_days"], np.nan)))
    assert NAMES[int(np.argmax(contributions[lapsed, :-1]))] == "purchase_recency_days"
    # Conversion (one-time to repeat buyer): P(a purchase) of the same process.
    converts = fit_rule(
        "purchase_process", "conversion", rows, NAMES, horizon_days=90, windows=[90]
    )
    np.testing.assert_allclose(converts.predict(feature_matrix(rows, NAMES)), 1 - churn)
    once = rows.assign(orders_total=np.minimum(rows["orders_total"], 1.0))
    with pytest.raises(RuleError, match="at least 20 customers with a repeat purchase, got 0"):
        fit_rule("purchase_process", "churn", once, NAMES, horizon_days=90, windows=[90])


def test_activity_process_rule_models_active_days_of_a_young_log() -> None:
    """Churn of a log with sessions (no activity, not no purchase): MBG/NBD fitted on every
    user's active days, all within the longest window, P(no active day in the horizon);
    refused where users were seen before that window."""
    from lifecycle.btyd import MBGNBD

    rng = np.random.default_rng(3)
    n = 500
    tenure = rng.uniform(20, 300, n)
    days = 1 + rng.poisson(tenure / 25)
    rows = pd.DataFrame(
        {
            "as_of": pd.Timestamp("2024-06-01", tz="UTC"),
            "active_days_365d": days.astype(float),
            "tenure_days": tenure,
            "recency_days": np.where(days > 1, tenure * rng.uniform(0, 1, n), tenure),
        }
    )
    names = list(rows.columns[1:])
    rule = fit_rule("activity_process", "churn", rows, names, horizon_days=60, windows=[30, 365])
    fitted = MBGNBD.fit(days - 1, (tenure - rows["recency_days"]) / 7, tenure / 7)
    expected = fitted.probability_of_no_purchase(
        60 / 7, days - 1, (tenure - rows["recency_days"]) / 7, tenure / 7
    )
    np.testing.assert_allclose(rule.predict(feature_matrix(rows, names)), expected, rtol=1e-4)
    contributions = rule.predict(feature_matrix(rows, names), pred_contrib=True)
    np.testing.assert_allclose(contributions.sum(axis=1), expected, rtol=1e-4)
    older = rows.assign(tenure_days=rows["tenure_days"] + 100.0)
    with pytest.raises(RuleError, match="seen before the longest activity window"):
        fit_rule("activity_process", "churn", older, names, horizon_days=60, windows=[30, 365])


def test_activity_process_refuses_users_first_seen_exactly_the_window_back(
    home: Path, tmp_path: Path
) -> None:
    """A window is (as_of - w, as_of] and a cutoff midnight: on a date-only log of sessions
    and purchases spanning 91 days (first day 90 days before the cutoff), the 30 users first
    seen on that day had it outside active_days_90d (one active day short each), yet the
    check `tenure_days > 90` let the fit read them. Refused now; the users seen within the
    window fit as before. Features built by the real ingest and `features build`."""
    from click.testing import CliRunner

    from features.demo import generate_demo
    from lifecycle.cli import main

    generate_demo(users=800, seed=4, out_dir=tmp_path / "demo", days=200, future_days=0)
    events = pd.read_parquet(tmp_path / "demo" / "events.parquet")
    day = events["event_time"].dt.tz_convert("UTC").dt.tz_localize(None).dt.normalize()
    log = events.assign(event_time=day.dt.strftime("%Y-%m-%d"))[
        day >= day.max() - pd.Timedelta(days=90)
    ]
    log[["user_id", "event_time", "event_type", "amount"]].to_csv(tmp_path / "act.csv", index=False)
    env = {"LIFECYCLE_FEATURES__WINDOWS_DAYS": "[7, 30, 90]"}
    for step in (["ingest", str(tmp_path / "act.csv")], ["features", "build"]):
        done = CliRunner().invoke(main, ["--home", str(home), *step, "--dataset", "act"], env=env)
        assert done.exit_code == 0, done.output
    table = pd.read_parquet(home / "features" / "act" / "user_features.parquet")
    latest = table[table["as_of"] == table["as_of"].max()]
    first_day = latest["tenure_days"] == 90
    assert first_day.sum() == 30 and latest["tenure_days"].max() == 90
    active = log[log["event_type"] != "refund"]  # a refund is no activity of the user's
    seen = active.groupby("user_id")["event_time"].nunique()  # their active days
    counted = latest.set_index("user_id")["active_days_90d"]
    short = seen.reindex(counted.index, fill_value=0) - counted  # days the window misses
    assert (short[first_day.to_numpy()] == 1).all() and (short[~first_day.to_numpy()] == 0).all()
    names = ["active_days_90d", "tenure_days", "recency_days"]
    fit = dict(horizon_days=90, windows=[7, 30, 90])
    with pytest.raises(RuleError, match=r"\(90 days\): 30 first seen 90 days or more before"):
        fit_rule("activity_process", "churn", latest, names, **fit)
    within = latest[~first_day]
    assert fit_rule("activity_process", "churn", within, names, **fit).params["process"]


def test_mixture_quantiles_of_a_zero_inflated_value() -> None:
    levels = np.array([0.1, 0.25, 0.5, 0.75, 0.9])
    conditional = np.tile([10.0, 20.0, 40.0, 80.0, 160.0], (4, 1))
    purchase = np.array([1.0, 0.5, 0.05, 0.95])
    q = mixture_quantiles(purchase, levels, conditional, (0.1, 0.5, 0.9))
    np.testing.assert_allclose(q[0], [10.0, 40.0, 160.0])  # always buys: the value's quantiles
    # half buy nothing: P10 and P50 are 0; P90 is the value's 80th percentile, a third of
    # the way from its 75th (80) to its 90th (160)
    assert q[1, 0] == 0 and q[1, 1] == 0 and q[1, 2] == pytest.approx(80 + 80 / 3)
    assert (q[2] == 0).all()  # 95% buy nothing: even P90 is 0
    assert q[3, 0] > 0  # 5% buy nothing: P10 is a purchase
    assert (np.diff(q, axis=1) >= 0).all()


def test_interval_shares_count_ties_at_zero_by_their_pit() -> None:
    """A calibrated two-part forecast of a zero-inflated value gets about 10% / 80% / 10%
    once zeros are counted by their PIT, while the plain count says nothing falls below."""
    rng = np.random.default_rng(5)
    n = 200_000
    purchase = rng.uniform(0.2, 0.99, n)
    bought = rng.random(n) < purchase
    value = np.where(bought, rng.exponential(50.0, n), 0.0)
    levels = np.linspace(0.01, 0.99, 99)
    conditional = np.tile(-50.0 * np.log1p(-levels), (n, 1))  # exponential(50) quantiles
    q = mixture_quantiles(purchase, levels, conditional, (0.1, 0.9))
    plain = evaluation.interval_shares(value, q[:, 0], q[:, 1])
    pit = evaluation.interval_shares(value, q[:, 0], q[:, 1], zero_probability=1 - purchase)
    assert plain["below"] < 0.05 < plain["inside"] - 0.8
    assert pit["below"] == pytest.approx(0.1, abs=0.01)
    assert pit["above"] == pytest.approx(0.1, abs=0.01)
    assert pit["inside"] == pytest.approx(0.8, abs=0.015)


def test_value_rules_read_money_after_refunds(rows: pd.DataFrame) -> None:
    """BG/NBD + Gamma-Gamma and the RFM score read what purchases kept after refunds (the
    value LTV forecasts): a customer whose large order was refunded in full is worth what
    their other orders kept, not the order. A rule saved before feature tables had the net
    columns reads the gross ones."""
    rows = rows.assign(
        net_revenue_total=rows["revenue_total"] * 0.9,
        net_order_value=rows["avg_order_value"] * 0.9,
    )
    names = [*NAMES, "net_revenue_total", "net_order_value"]
    whale = rows[rows["orders_total"] >= 3].index[0]
    rows.loc[whale, ["revenue_total", "avg_order_value"]] = [168_000.0, 56_000.0]
    rows.loc[whale, ["net_revenue_total", "net_order_value"]] = [30.0, 10.0]
    matrix = feature_matrix(rows, names)
    rule = fit_rule("bgnbd_gamma_gamma", "ltv", rows, names, horizon_days=90, windows=[90])
    assert "net_order_value" in rule.inputs() and "avg_order_value" not in rule.inputs()
    value = pd.Series(rule.predict(matrix), index=rows.index)
    assert value[whale] < value[rows["orders_total"] >= 3].median()
    gross = fit_rule("bgnbd_gamma_gamma", "ltv", rows, NAMES, horizon_days=90, windows=[90])
    assert gross.predict(feature_matrix(rows, NAMES))[rows.index.get_loc(whale)] > value.max()
    rfm = fit_rule("rfm_score", "churn", rows, names, horizon_days=90, windows=[90])
    assert rfm.inputs() == ["recency_days", "orders_total", "net_revenue_total"]
    assert rfm.params["fill"]["monetary"] == pytest.approx(rows["net_revenue_total"].median())
