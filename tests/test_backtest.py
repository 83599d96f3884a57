"""`lifecycle backtest` on a small demo (1,500 users, 400 days): one cutoff run end to end
through the CLI, then the JSON, the scratch workspace (no event after the cutoff), the
outcomes against the events, the MLflow run, and each refused input with its message."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner, Result
from services import run_cli, run_read_only
from workspaces import NO_PLOTS, clear_lifecycle_environ, copy_workspace

from features import contract as c
from lifecycle import lineage, registry
from lifecycle.backtest import copy_dataset_until
from lifecycle.backtest_attribute import ATTRIBUTE
from lifecycle.backtest_judge import BASELINES, MODEL, outcomes
from lifecycle.backtest_population import STILL_ACTIVE
from lifecycle.cli import main
from lifecycle.exports import registered_exports
from lifecycle.settings import LabelSettings, load_settings
from training.tracking import code_version

CUTOFF = "2023-11-01"  # the demo runs 2023-01-01 .. 2024-02-05
HORIZON = 60
RESAMPLES = 200
DEMO_ENV = {"LIFECYCLE_DEMO__DAYS": "400", "LIFECYCLE_DEMO__FUTURE_DAYS": "0"}
CLASSIFICATION = ("auc", "pr_auc", "lift_top_decile")
PROBABILITY = ("brier", "ece", "mean_p_active", "active_rate")
RANKING = ("spearman", "normalized_gini")
AMOUNT = ("total_error", "mae", "mean_value_predicted", "mean_value")
COVERAGE = ("below_p10", "inside_p10_p90", "above_p90")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A workspace with the small demo ingested as dataset `demo`, alone in the environment."""
    workspace = tmp_path_factory.mktemp("backtest_ws")
    with pytest.MonkeyPatch.context() as patch:
        clear_lifecycle_environ(patch)
        for name, value in DEMO_ENV.items():
            patch.setenv(name, value)
        run_cli(workspace, "demo-data", "--users", "1500", "--seed", "5")
        # a LightGBM value set (the spec's own, so nothing changes) that the run must record
        (workspace / "lifecycle.toml").write_text(
            "[training.models.churn]\nnum_boost_round = 1000\n"
        )
        yield workspace


@pytest.fixture(scope="module")
def backtest(home: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    """One backtest through the CLI with --json and --out, a folder not made yet: (the JSON
    document, --out)."""
    out = tmp_path_factory.mktemp("backtest_out") / "new" / "kept"
    stdout = run_cli(
        home,
        "--json",
        "backtest",
        "--cutoff",
        CUTOFF,
        "--horizon",
        str(HORIZON),
        "--out",
        str(out),
        "--resamples",
        str(RESAMPLES),
    )
    return json.loads(stdout), out


def invoke(home: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, ["--home", str(home), "--quiet", *args], env=env)


def test_json_has_every_method_and_metric_in_range(backtest: tuple[dict, Path]) -> None:
    document, out = backtest
    assert document["created_folder"] == str(out.parent)  # made without a word, it was
    assert document["dataset"] == "demo"
    assert document["horizons_days"] == {"churn": HORIZON, "conversion": HORIZON, "ltv": HORIZON}
    assert document["settings"]["labels"]["ltv_horizon_days"] == HORIZON
    assert document["mlflow"]["experiment"] == "backtest-demo"
    assert document["over_cutoffs"] is None  # one origin: nothing to sum up
    [result] = document["cutoffs"]
    assert result["cutoff"] == CUTOFF and result["users"] > 500
    assert result["outcome"]["users_without_outcome"] == 0
    assert set(result["models"]) == {"churn", "conversion", "ltv"}
    assert all("version" in m for m in result["models"].values())  # every task trained here
    methods = result["methods"]
    # the demo has a users file (channel, country, device): the attribute baseline is judged
    assert set(methods) == {MODEL, *BASELINES, ATTRIBUTE}
    expected = {
        ATTRIBUTE: CLASSIFICATION + PROBABILITY + RANKING + AMOUNT,
        MODEL: CLASSIFICATION + PROBABILITY + RANKING + AMOUNT + COVERAGE,
        "recency": CLASSIFICATION + RANKING,
        "rfm_score": CLASSIFICATION + RANKING,
        "last_period_value": CLASSIFICATION + RANKING + AMOUNT,
        "bgnbd_gamma_gamma": CLASSIFICATION + PROBABILITY + RANKING + AMOUNT,
    }
    for method, names in expected.items():
        assert set(methods[method]) == set(names), method
        values = methods[method]
        assert all(math.isfinite(v) for v in values.values()), (method, values)
        assert 0 <= values["auc"] <= 1 and 0 <= values["pr_auc"] <= 1
        assert -1 <= values["spearman"] <= 1 and -1 <= values["normalized_gini"] <= 1
        if "ece" in values:  # probability metrics only where the scores are probabilities
            assert 0 <= values["brier"] <= 1 and 0 <= values["ece"] <= 1
            assert 0 <= values["mean_p_active"] <= 1
        if "total_error" in values:
            assert values["total_error"] >= -1  # sum(forecast) / sum(value) - 1
    coverage = [methods[MODEL][k] for k in COVERAGE]
    assert all(0 <= share <= 1 for share in coverage) and math.isclose(sum(coverage), 1)
    assert methods[MODEL]["active_rate"] == pytest.approx(result["outcome"]["active_rate"])
    # The model learned something real: it ranks activity and value far better than chance.
    assert methods[MODEL]["auc"] > 0.75 and methods[MODEL]["normalized_gini"] > 0.3
    conversion = result["conversion"]
    assert 0 <= conversion["auc"] <= 1 and 0 < conversion["users"] <= conversion["labelled"]
    for baseline in (*BASELINES, ATTRIBUTE):
        for metric in ("auc", "spearman", "normalized_gini"):
            interval = result["bootstrap"][baseline][metric]
            assert interval["low"] <= interval["difference"] <= interval["high"], (baseline, metric)
            assert 0 < interval["resamples"] <= RESAMPLES
    assert {"features", "train_churn", "scoring", "judge"} <= set(result["seconds"])


def test_the_users_still_active_at_the_cutoff_are_judged_beside_everyone(
    home: Path, backtest: tuple[dict, Path]
) -> None:
    """Beside the headline of every known user: the same methods, baselines and bootstrap on
    the users active in the churn horizon up to the cutoff (no lookback set), their count
    and the count left out, which equal a direct count of the events; a lapsed user is
    trivially not active, so the headline's AUC is the higher."""
    document, _ = backtest
    [result] = document["cutoffs"]
    active = result[STILL_ACTIVE]
    assert active["definition"] == (
        f"active in the {HORIZON} days up to the cutoff (the churn horizon, as "
        "labels.churn_lookback_days is unset)"
    )
    cutoff = pd.Timestamp(CUTOFF, tz="UTC")
    events = pd.read_parquet(home / "datasets" / "demo" / "events.parquet")
    window = events[
        (events[c.EVENT_TIME] > cutoff - pd.Timedelta(days=HORIZON))
        & (events[c.EVENT_TIME] <= cutoff)
        & (events[c.EVENT_TYPE] != c.REFUND)  # a refund is no activity
    ]
    assert active["users"] == window[c.USER_ID].nunique()
    assert active["users"] + active["left_out"] == result["users"] and active["left_out"] > 0
    assert set(active["methods"]) == set(result["methods"])
    assert set(active["bootstrap"]) == set(result["bootstrap"])
    assert active["methods"][MODEL]["auc"] < result["methods"][MODEL]["auc"]
    assert active["methods"][MODEL]["active_rate"] > result["methods"][MODEL]["active_rate"]
    # the attribute baseline learned only from cutoffs whose horizon ended by the cutoff
    fitted = result["attribute_baseline"]["fitted_on"]
    assert fitted and all(
        pd.Timestamp(day, tz="UTC") + pd.Timedelta(days=HORIZON) <= cutoff for day in fitted
    )
    assert result["attribute_baseline"]["attribute"] in {"channel", "country", "device"}
    assert f"{STILL_ACTIVE}_gain_active.png" in result["plots"]


def test_the_value_that_happened_is_said_in_the_events_currency(
    backtest: tuple[dict, Path],
) -> None:
    """ "value 89,233,185 within 90 days" named no currency, where the events record one
    (trial 115): the line and --json say it."""
    from lifecycle.backtest import CutoffResult

    document, _ = backtest
    assert document["currency"] == "GBP"  # the demo's events' one currency
    [result] = document["cutoffs"]
    verdict = {k: result[k] for k in ("methods", "conversion", "bootstrap")}
    cutoff = CutoffResult(
        pd.Timestamp(result["cutoff"]),
        result["users"],
        result["outcome"],
        verdict,
        result["models"],
        result["scratch"],
        result["seconds"],
        still_active=result[STILL_ACTIVE],
    )
    labels = LabelSettings(churn_horizon_days=HORIZON, ltv_horizon_days=HORIZON)
    said = cutoff.lines(labels, document["currency"])[1]
    value = f"{result['outcome']['value_total']:,.0f}"
    assert f" bought and value {value} GBP within {HORIZON} days (purchases minus" in said
    # A log without money (--amount-default) says what its value counts: on a grocery log of
    # one row per item, "value 120,497 within 91 days (purchases minus refunds ...)" read as
    # 120,497 purchases where 4,483 orders happened.
    said = cutoff.lines(labels, None, "items")[1]
    assert f" bought and value {value} items within {HORIZON} days (items bought minus " in said


def test_scratch_workspace_has_nothing_after_the_cutoff(backtest: tuple[dict, Path]) -> None:
    document, out = backtest
    cutoff = pd.Timestamp(CUTOFF, tz="UTC")
    [result] = document["cutoffs"]
    workspace = Path(result["scratch"]["workspace"])
    assert workspace == out / CUTOFF / "workspace"
    data = workspace / "datasets" / "demo"
    events = pd.read_parquet(data / "events.parquet")
    users = pd.read_parquet(data / "users.parquet")
    assert len(events) == result["scratch"]["events"] and events[c.EVENT_TIME].max() <= cutoff
    assert pd.Timestamp(result["scratch"]["max_event_time"]) <= cutoff
    assert (users[c.SIGNUP_TIME] <= cutoff).all() and len(users) == result["scratch"]["users"]
    features = pd.read_parquet(workspace / "features" / "demo", columns=["as_of"])
    assert features["as_of"].max() <= cutoff
    assert not (workspace / "compiled").exists()  # nothing serves a scratch: none compiled
    scores = pd.read_parquet(result["scratch"]["scores"])
    assert len(scores) == result["users"] and scores[c.USER_ID].is_unique
    for name in result["plots"]:
        assert (Path(result["plots_dir"]) / name).read_bytes().startswith(b"\x89PNG")
    assert json.loads((out / "backtest.json").read_text())["cutoffs"][0]["cutoff"] == CUTOFF


def test_outcomes_equal_a_direct_count_of_the_events(
    home: Path, backtest: tuple[dict, Path]
) -> None:
    document, _ = backtest
    [result] = document["cutoffs"]
    data = home / "datasets" / "demo"
    events = pd.read_parquet(data / "events.parquet")
    cutoff = pd.Timestamp(CUTOFF, tz="UTC")
    after = events[
        (events[c.EVENT_TIME] > cutoff)
        & (events[c.EVENT_TIME] <= cutoff + pd.Timedelta(days=HORIZON))
    ]
    labels = LabelSettings(
        churn_horizon_days=HORIZON, conversion_horizon_days=HORIZON, ltv_horizon_days=HORIZON
    )
    truth = outcomes(data / "events.parquet", data / "users.parquet", cutoff, labels)
    scored = pd.read_parquet(result["scratch"]["scores"])[c.USER_ID]
    assert set(truth.index) == set(scored)  # users known at the cutoff, in both data sets
    signed = after[c.AMOUNT].where(after[c.EVENT_TYPE] == c.PURCHASE, -after[c.AMOUNT])
    money = after[after[c.EVENT_TYPE].isin([c.PURCHASE, c.REFUND])]
    value = signed[money.index].groupby(money[c.USER_ID]).sum().clip(lower=0)
    active = set(after.loc[after[c.EVENT_TYPE] != c.REFUND, c.USER_ID])
    buyers = set(after.loc[after[c.EVENT_TYPE] == c.PURCHASE, c.USER_ID])
    some = [*value[value > 0].index[:3], *sorted(set(scored) - active)[:3], *sorted(active)[:3]]
    for user in some:
        assert truth.at[user, "active"] == (user in active), user
        assert truth.at[user, "bought"] == (user in buyers), user
        assert truth.at[user, "value"] == pytest.approx(value.get(user, 0.0)), user
    assert truth["active"].mean() == pytest.approx(result["outcome"]["active_rate"])
    assert truth["value"].sum() == pytest.approx(result["outcome"]["value_total"])


def test_the_btyd_baseline_of_a_log_with_sessions_models_active_days(
    backtest: tuple[dict, Path],
) -> None:
    """The demo's activity is more than its purchases: BG/NBD's P(active) is its model of
    active days, refitted here on the scratch events, not P(a purchase) judged on activity."""
    from training.baselines import bgnbd_activity, bgnbd_forecast

    document, _ = backtest
    [result] = document["cutoffs"]
    events = Path(result["scratch"]["workspace"]) / "datasets" / "demo" / "events.parquet"
    cutoff = pd.Timestamp(CUTOFF, tz="UTC")
    scored = pd.read_parquet(result["scratch"]["scores"])[c.USER_ID]
    active = bgnbd_activity(events, cutoff, HORIZON).reindex(scored).fillna(0.0)
    purchase = bgnbd_forecast(events, cutoff, HORIZON)["p_purchase"].reindex(scored).fillna(0.0)
    baseline = result["methods"]["bgnbd_gamma_gamma"]
    assert baseline["mean_p_active"] == pytest.approx(active.mean())
    # P(a purchase) is far below the share active; the model of active days is near it.
    rate = result["outcome"]["active_rate"]
    assert abs(active.mean() - rate) < abs(purchase.mean() - rate) / 2


def test_expected_purchases_are_judged_against_the_orders_that_happened(
    home: Path, backtest: tuple[dict, Path]
) -> None:
    """The served expected_purchases were judged nowhere (trial G, session 41): the backtest
    now judges them against each customer's orders in the horizon (as the served process
    counts them: the lines of one order id and day), with the total error, Spearman and the
    lifetimes-style calibration table, in the JSON, the terminal, a plot and the MLflow run."""
    from lifecycle.backtest import CutoffResult

    document, _ = backtest
    [result] = document["cutoffs"]
    verdict = result["expected_purchases"]
    scores = pd.read_parquet(result["scratch"]["scores"]).set_index(c.USER_ID)
    expected = scores["expected_purchases"].dropna()
    assert verdict["counted"] == "orders" and verdict["horizon_days"] == HORIZON
    assert verdict["customers"] == len(expected) > 100
    assert verdict["expected_total"] == pytest.approx(expected.sum())
    # the orders that happened, counted directly from the events
    events = pd.read_parquet(home / "datasets" / "demo" / "events.parquet")
    cutoff = pd.Timestamp(CUTOFF, tz="UTC")
    end = cutoff + pd.Timedelta(days=HORIZON)
    after = events[(events[c.EVENT_TIME] > cutoff) & (events[c.EVENT_TIME] <= end)]
    key = [c.USER_ID, c.ORDER_ID, after[c.EVENT_TIME].dt.floor("D").rename("day")]
    notes = after.groupby([c.EVENT_TYPE, *key])[c.AMOUNT].sum().round(6)
    orders, refunds = notes[c.PURCHASE], notes.get(c.REFUND, pd.Series(dtype=float))
    # an order refunded in full within the horizon (the demo's refunds keep its id) is none
    refunded = refunds.reset_index("day", drop=True).rename("refunded")
    paired = orders.reset_index().join(refunded, on=[c.USER_ID, c.ORDER_ID])
    kept = paired[paired["refunded"].ne(paired[c.AMOUNT])]
    assert len(kept) < len(paired)  # some were cancelled
    happened = kept.groupby(c.USER_ID).size().reindex(expected.index, fill_value=0)
    assert happened.sum() > (happened > 0).sum()  # some customers ordered twice
    assert verdict["happened_total"] == happened.sum()
    assert verdict["total_error"] == pytest.approx(expected.sum() / happened.sum() - 1)
    assert verdict["spearman"] == pytest.approx(happened.corr(expected, method="spearman"))
    table = verdict["calibration"]
    assert sum(row["customers"] for row in table) == verdict["customers"]
    for row in table:
        inside = (expected >= row["low"]) & (expected < row["high"])
        assert row["customers"] == inside.sum()
        assert row["mean_expected"] == pytest.approx(expected[inside].mean())
        assert row["mean_happened"] == pytest.approx(happened[inside].mean())
    assert "calibration_purchases.png" in result["plots"]
    cut = CutoffResult(
        cutoff, result["users"], result["outcome"], {"methods": {}, "bootstrap": {}},
        {}, {}, {"judge": 1.0}, still_active={"window_days": 1, "definition": "", "users": 0,
        "left_out": 0, "error": "none"}, purchases=verdict,
    )  # fmt: skip
    said = cut.lines(LabelSettings(churn_horizon_days=HORIZON, ltv_horizon_days=HORIZON))
    first = next(line for line in said if line.startswith("  expected_purchases of "))
    assert f"{verdict['customers']:,} customers (orders in {HORIZON} days)" in first
    assert f"({verdict['total_error']:+.1%}), Spearman {verdict['spearman']:.3f}" in first
    client = registry.client(load_settings(home=home, environ={}))
    metrics = client.get_run(document["mlflow"]["run_id"]).data.metrics
    assert metrics["expected_purchases.total_error"] == pytest.approx(verdict["total_error"])
    assert metrics["expected_purchases.bin_0.mean_happened"] == table[0]["mean_happened"]
    artifacts = {a.path for a in client.list_artifacts(document["mlflow"]["run_id"], CUTOFF)}
    assert f"{CUTOFF}/calibration_purchases.png" in artifacts


def test_expected_purchases_calibration_bins_customers_by_what_was_expected() -> None:
    """The table's bins are fixed edges of expected purchases; non-customers (NaN) are left
    out; a bin without customers is no row; the last bin is open."""
    from lifecycle.backtest_purchases import judge_purchases, lines_of

    expected = np.array([0.1, 0.3, np.nan, 1.5, 1.9, 9.0])
    happened = np.array([0.0, 1.0, 4.0, 1.0, 3.0, 20.0])
    verdict = judge_purchases(expected, happened, 91)
    assert verdict["customers"] == 5 and verdict["happened_total"] == 25.0
    assert verdict["total_error"] == pytest.approx(12.8 / 25 - 1)
    assert [(r["low"], r["customers"], r["mean_happened"]) for r in verdict["calibration"]] == [
        (0.0, 2, 0.5),
        (1.0, 2, 2.0),
        (8.0, 1, 20.0),
    ]
    table = lines_of(verdict)[1]
    assert table.endswith("0-0.5: 0.20 vs 0.50 (2); 1-2: 1.70 vs 2.00 (2); 8+: 9.00 vs 20.00 (1)")
    nothing = judge_purchases(np.full(3, np.nan), happened[:3], 91)
    assert lines_of(nothing) == [
        "  expected_purchases: not judged: no expected_purchases scored (no purchase process "
        "served)"
    ]


def test_the_served_line_names_churns_version_for_conversion_answered_by_churn() -> None:
    """Trial M (online_retail, 2011-08-01): "lifecycle serves: churn rfm_score v2, conversion
    churn_complement v2" named conversion's own v2 (a rule that answers nothing), not the
    churn version whose complement it was; `score-all` says "conversion 1 - churn vN"."""
    from lifecycle.backtest import served_text

    models = {
        "churn": {"served_kind": "rfm_score", "served_version": "4"},
        "conversion": {"served_kind": "churn_complement", "served_version": "2"},
        "ltv": {"served_kind": "lightgbm", "served_version": "1"},
        "refused": {"error": "too few rows"},
    }
    assert served_text(models) == "churn rfm_score v4, conversion 1 - churn v4, ltv lightgbm v1"
    # a churn lookback leaves one-time buyers to conversion's own champion: both named
    models["conversion"]["served_kind"] = "churn_complement_else_lightgbm"
    assert served_text(models) == (
        "churn rfm_score v4, conversion 1 - churn v4 where churn scores, else lightgbm v2, "
        "ltv lightgbm v1"
    )


def test_one_mlflow_run_in_the_current_workspace(home: Path, backtest: tuple[dict, Path]) -> None:
    document, _ = backtest
    client = registry.client(load_settings(home=home, environ={}))
    run = client.get_run(document["mlflow"]["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.params["cutoffs"] == CUTOFF and run.data.params["ltv_horizon_days"] == "60"
    assert run.data.metrics[f"{MODEL}.auc"] == pytest.approx(
        document["cutoffs"][0]["methods"][MODEL]["auc"]
    )
    assert f"{MODEL}_minus_rfm_score.normalized_gini.low" in run.data.metrics
    active = document["cutoffs"][0][STILL_ACTIVE]
    assert run.data.metrics[f"{STILL_ACTIVE}.{MODEL}.auc"] == active["methods"][MODEL]["auc"]
    assert run.data.metrics[f"{STILL_ACTIVE}.left_out"] == active["left_out"]
    assert f"{STILL_ACTIVE}.{MODEL}_minus_{ATTRIBUTE}.auc.low" in run.data.metrics
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, CUTOFF)}
    assert {f"{CUTOFF}/gain_value.png", f"{CUTOFF}/{STILL_ACTIVE}_gain_active.png"} <= artifacts
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.name == "backtest-demo"
    # tied to the data judged and the code that ran, as a training run is
    settings = load_settings(home=home, environ={})
    judged = lineage.dataset_version(settings.workspace.dataset_dir("demo"))
    assert judged and document["settings"]["dataset_version"] == judged
    assert document["settings"]["code_version"] == lineage.code_version()
    assert run.data.tags["lineage.dataset_version"] == judged
    assert run.data.tags["lineage.code_version"] == lineage.code_version()
    assert run.data.tags["mlflow.source.git.commit"] == code_version()["mlflow.source.git.commit"]
    # and to the LightGBM values set, named as a training run's (two backtests of other trees
    # had the same parameters)
    assert document["settings"]["training_models"] == {"churn.num_boost_round": 1000}
    assert run.data.params["churn.num_boost_round"] == "1000"
    # and the other settings that chose the rows and judged the models: the run had them as
    # params, --json did not
    said = document["settings"]["training_settings"]
    assert said["training.max_rows"] == str(settings.training.max_rows), said
    assert said["training.gate_metric.ltv"] == "normalized_gini", said
    assert said == {k: run.data.params[k] for k in said}, said


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--cutoff", "2023-01-20"],
            "--cutoff 2023-01-20 is too early: the data starts at 2023-01-01",
        ),
        (["--cutoff", "2024-03-01"], "--cutoff 2024-03-01 is after the last event (2024-02-04"),
        (
            ["--cutoff", "2024-01-15"],
            "backtest at 2024-01-15: ltv labels with a 60-day horizon need events up to "
            "2024-03-15, but the data ends at 2024-02-04",
        ),
        # --horizon given: no word of the cutoff it fits (online_retail's --cutoff 2011-11-01
        # --horizon 91 said only that 2012-01-31 was past the data; 2011-09-09 fits)
        (
            ["--cutoff", "2024-01-15"],
            "cutoffs without a matured horizon: 2024-01-15; the latest cutoff a 60-day horizon "
            "fits is 2023-12-06, or --horizon 20 at this one",
        ),
        (["--cutoff", "2023-11-01", "--dataset", "nope"], "dataset 'nope' does not exist"),
        (
            ["--cutoff", "2023-11-01T12:00"],
            "--cutoff '2023-11-01T12:00': a cutoff is a date (midnight UTC), not a time of day",
        ),
        (["--cutoff", "01/11/2023"], "--cutoff '01/11/2023': expected an ISO date YYYY-MM-DD"),
        (["--cutoff", "Nov 1 2023"], "expected an ISO date YYYY-MM-DD"),
        # the same day twice (also written differently) was silently run once
        (
            ["--cutoff", "2023-11-01", "--cutoff", "2023-10-01", "--cutoff", "2023-11-01T00:00"],
            "--cutoff 2023-11-01 is given 2 times: give each cutoff once",
        ),
        # a pydantic dump of three errors, and a traceback once the pipeline had run
        (["--cutoff", "2023-11-01", "--horizon", "100000"], "--horizon 100000: expected 1 to"),
        # the default 365-day LTV on a year's log: "too early, the earliest is <a date that
        # cannot mature>", then "cut earlier"; now that no date fits, and what horizon does
        (
            ["--cutoff", "2023-06-01", "--horizon", "300"],
            "history before the cutoff, and no cutoff of this data (399 days, to 2024-02-04) has "
            "that and a 300-day horizon after it to judge by: give --horizon 104 or shorter (the "
            "earliest cutoff training then learns from labels at is 2023-10-18), or --horizon 34 "
            "at this one",
        ),
        # a cutoff too early for the horizon: the earliest that fits, and the horizon that fits
        # this one (it said only "the earliest cutoff is 2023-03-03 (or give a shorter
        # --horizon)", as the too-late refusal names the horizon that fits)
        (
            ["--cutoff", "2023-02-10"],
            "; the earliest cutoff at which training learns a 60-day horizon from labels is "
            "2023-07-26 (where training's cutoffs (every 7D, features.cutoff_frequency) split "
            "into train, validation and test with 200 training rows (training.min_rows) and 20 "
            "positive outcomes of each task in each (training.min_positives) first; "
            "from 2023-03-03 a backtest runs, its training fitting label-free models)",
        ),
        (
            ["--cutoff", "2023-11-01", "--out", "/proc/bt"],
            "/proc/bt/backtest.json: cannot write the backtest (--out) in /proc/bt: ",
        ),
    ],
)
def test_bad_inputs_are_refused_in_one_line(home: Path, args: list[str], message: str) -> None:
    result = invoke(home, "backtest", "--horizon", str(HORIZON), *args)
    assert result.exit_code == 1, result.output
    assert message in result.stderr and "Traceback" not in result.output


def test_a_cutoff_too_early_for_the_settings_horizons_names_the_setting(home: Path) -> None:
    """Without --horizon the settings' horizons apply, ltv's 365 days the longest: a new user
    asking for a cutoff of the demo's year was told of "one 365-day label horizon" and a
    horizon that fits another cutoff; now of the setting that asks for it and of the
    horizon that fits the cutoff asked for."""
    result = invoke(home, "backtest", "--cutoff", "2023-11-01")
    assert result.exit_code == 1, result.output
    assert (
        "needs at least one 365-day label horizon (labels.ltv_horizon_days, the longest; "
        "--horizon DAYS sets every task's) of history before the cutoff" in result.stderr
    )
    assert result.stderr.rstrip().endswith(
        "give --horizon 104 or shorter (the earliest cutoff training then learns from labels "
        "at is 2023-10-18), or --horizon 95 at this one"
    )
    assert len(result.stderr.strip().splitlines()) == 1


def test_what_training_does_at_the_earliest_cutoff_offered_is_said(
    home: Path, tmp_path: Path
) -> None:
    """Session 58 (BT2): the refusal offered the first cutoff a horizon fits after the data's
    first day (2023-03-03 for 60 days), where training's weekly cutoffs, counted back from
    it, have none whose 60 days end within the data: every model there learned from no
    outcome. Session 59 (GATE2) said so; at the later cutoff it named, 2023-06-26, where they
    split, the train cutoffs held 4 users (training.min_rows 200): churn still fitted a
    label-free model, LTV learned a bridged 42 days. The offer is now the first cutoff whose
    training learns the horizon from labels, 2023-07-25; checked here against the feature
    tables of the backtest's own copies of the data (users known at the train cutoffs).
    Session 60 (BT4's Left): there conversion, whose rows are the users who had not bought
    yet, had 198 and was refused; the offer is now 2023-07-26, where every task trains."""
    from features.asof import build_feature_table
    from features.labels import label_spec, matured_cutoffs
    from training.time_splits import time_split

    result = invoke(home, "backtest", "--cutoff", "2023-02-10", "--horizon", "60")
    assert result.exit_code == 1, result.output
    assert result.stderr.strip().endswith(
        "; the earliest cutoff at which training learns a 60-day horizon from labels is "
        "2023-07-26 (where training's cutoffs (every 7D, features.cutoff_frequency) split into "
        "train, validation and test with 200 training rows (training.min_rows) and 20 positive "
        "outcomes of each task in each (training.min_positives) first; from "
        "2023-03-03 a backtest runs, its training fitting label-free models)"
    ), result.stderr
    off = invoke(
        home,
        *("backtest", "--cutoff", "2023-02-10", "--horizon", "60"),
        env={"LIFECYCLE_TRAINING__LABEL_FREE_FALLBACK": "false"},
    )
    assert off.stderr.strip().endswith("(training.min_positives) first)"), off.stderr
    # what a backtest's training has at each cutoff: the feature table of its copy of the data
    settings = load_settings(home=home, environ={})
    source = settings.workspace.dataset_dir("demo")

    def train_rows(cutoff: str, task: str = "churn") -> int:
        copy = tmp_path / f"{cutoff}_{task}"
        copy_dataset_until(source, copy, pd.Timestamp(cutoff, tz="UTC"))
        table = build_feature_table(
            copy / "events.parquet",
            copy / "users.parquet",
            copy / "features.parquet",
            windows=settings.features.windows_days,
            frequency=settings.features.cutoff_frequency,
        )
        last = pd.read_parquet(copy / "events.parquet")[c.EVENT_TIME].max()
        grid = [pd.Timestamp(t, tz="UTC") for t in table["cutoffs"]]
        train = time_split(matured_cutoffs(last, grid, 60), 60).train
        rows = pd.read_parquet(copy / "features.parquet")
        spec = label_spec(task, settings.labels, copy / "events.parquet", copy / "users.parquet")
        return int((rows["as_of"].isin(train) & spec.eligible(rows)).sum())

    assert train_rows("2023-07-24") < 200 <= train_rows("2023-07-25")
    assert train_rows("2023-07-25", "conversion") < 200 <= train_rows("2023-07-26", "conversion")


SUGGESTED = (  # the commands a refusal suggests: (cutoff, horizon) of each, as printed
    re.compile(r"learns a (?P<days>\d+)-day horizon from labels is (?P<cutoff>[\d-]{10})"),
    re.compile(
        r"--horizon (?P<days>\d+) or shorter \(the earliest cutoff training then learns "
        r"from labels at is (?P<cutoff>[\d-]{10})\)"
    ),
    re.compile(r"the latest cutoff a (?P<days>\d+)-day horizon fits is (?P<cutoff>[\d-]{10})"),
    re.compile(r"--horizon (?P<days>\d+) at this one"),  # the cutoff refused
)


@pytest.mark.parametrize(
    "refused",
    [
        ["--cutoff", "2023-02-10", "--horizon", "60"],
        ["--cutoff", "2023-06-01", "--horizon", "300"],
        ["--cutoff", "2023-01-05", "--horizon", "7"],
    ],
)
def test_every_command_a_refusal_suggests_runs_and_learns_from_labels(
    home: Path, refused: list[str]
) -> None:
    """Session 59 (GATE2's Left): the refusals offered cutoffs and horizons by arithmetic (a
    horizon of history before the cutoff, one after it): at 2023-03-03 (60 days) every model
    learned from no outcome; at 2023-07-20 (199 days) and 2023-06-01 (--horizon 150 at this
    one) too. Each suggested command, run as printed, now runs, and training learns churn and
    LTV at that horizon from labels: a time split, no shorter horizon bridged, no label-free
    model. Session 60 (BT6): conversion too, its positive outcomes counted: with 7 days the
    offer was 2023-04-12, where conversion's train cutoffs had 5 positives of 212 rows (20
    needed, training.min_positives) and it was refused; it is now 2023-09-04."""
    result = invoke(home, "backtest", *refused)
    assert result.exit_code == 1 and "Traceback" not in result.output
    [line] = result.stderr.strip().splitlines()
    commands = [
        (found.groupdict().get("cutoff") or refused[1], found["days"])
        for pattern in SUGGESTED
        for found in pattern.finditer(line)
    ]
    assert len(commands) == {"2023-02-10": 1, "2023-06-01": 2, "2023-01-05": 1}[refused[1]], line
    for cutoff, days in commands:
        args = ["--home", str(home), "--json", "backtest", "--cutoff", cutoff, "--horizon", days]
        run = CliRunner().invoke(main, [*args, "--resamples", "100"], env=NO_PLOTS)
        assert run.exit_code == 0, (cutoff, days, run.output)
        [judged] = json.loads(run.stdout)["cutoffs"]
        for task in ("churn", "ltv", "conversion"):  # conversion: session 60
            assert judged["models"][task]["split"], (cutoff, days, task, judged["models"][task])
            said = [line for line in run.stderr.splitlines() if f" {task}: " in line]
            assert not [s for s in said if "instead, served on" in s or "label-free" in s], said


def test_an_offered_cutoff_where_conversion_is_refused_says_it_is_skipped(home: Path) -> None:
    """Session 60 (BT4's Left): the offers counted the users known at the train cutoffs, yet
    conversion's rows are only those who had not bought yet (198 at the offered 2023-07-25,
    refused). Where no cutoff trains every task (training.min_rows 5000: 5,255 users known
    at 2023-12-06's train cutoffs, 4,454 not yet buyers), the offer says conversion is
    skipped there, with its rows as training counts them (``LabelSpec.eligible``)."""
    result = invoke(home, "backtest", "--cutoff", "2023-02-10", "--horizon", "60",
                    env={"LIFECYCLE_TRAINING__MIN_ROWS": "5000"})  # fmt: skip
    assert result.exit_code == 1, result.output
    assert result.stderr.strip().endswith(
        "the earliest cutoff at which training learns a 60-day horizon from labels is "
        "2023-12-02 (where training's cutoffs (every 7D, features.cutoff_frequency) split into "
        "train, validation and test with 5000 training rows (training.min_rows) and 20 positive "
        "outcomes of each task in each (training.min_positives) first; from "
        "2023-03-03 a backtest runs, its training fitting label-free models) (conversion is "
        "skipped there: 4,244 training rows, 5,000 needed; its rows are the users who had not "
        "bought yet at a training cutoff; every other user had)"
    ), result.stderr


def test_the_longest_horizon_offered_is_found_where_thinned_cutoffs_break_the_bisection(
    home: Path,
) -> None:
    """Session 60 (BT4's Left): the longest horizon at a cutoff was bisected, as if a shorter
    horizon always split where a longer one did. With training.max_cutoffs 12 the demo's
    labelled cutoffs are thinned every k-th, and at 2023-09-01 70 days split (every task)
    where 63 to 69 do not: the bisection offered `--horizon 62 at this one`. Thinned, each
    horizon is tried from the longest down; the one offered runs, every task learning it
    from labels."""
    env = NO_PLOTS | {"LIFECYCLE_TRAINING__MAX_CUTOFFS": "12"}
    result = invoke(home, "backtest", "--cutoff", "2023-09-01", "--horizon", "200", env=env)
    assert result.exit_code == 1, result.output
    assert result.stderr.strip().endswith(", or --horizon 70 at this one"), result.stderr
    run = invoke(home, "--json", "backtest", "--cutoff", "2023-09-01", "--horizon", "70",
                 "--resamples", "100", env=env)  # fmt: skip
    assert run.exit_code == 0, run.output
    [judged] = json.loads(run.stdout)["cutoffs"]
    for task in ("churn", "ltv", "conversion"):
        assert judged["models"][task]["split"], (task, judged["models"][task])


def test_a_bgnbd_baseline_too_few_customers_fit_is_no_forecast_said_why(home: Path) -> None:
    """Session 59 (GATE2): at 2023-03-03, a cutoff the backtest accepts for 60 days, 19
    customers had bought and the BG/NBD baseline ended the run on a traceback (BTYDError:
    need at least 20 customers to fit, got 19). It has no value forecast, said in the served
    rule's words (``BGNBD.fit_for_forecast``, the label-free LTV's refusal beside it); its
    P(active), BG/NBD of the demo's active days (enough users), is judged."""
    said = "too few customers to fit BG/NBD: 19, at least 20 needed"
    result = invoke(home, "--json", "backtest", "--cutoff", "2023-03-03", "--horizon", "60",
                    "--resamples", "100", env=NO_PLOTS)  # fmt: skip
    assert result.exit_code == 0, result.output
    from lifecycle.backtest_judge import NO_ACTIVE_FORECAST, NO_VALUE_FORECAST, verdict_lines

    [cutoff] = json.loads(result.stdout)["cutoffs"]
    assert cutoff[NO_VALUE_FORECAST] == {"bgnbd_gamma_gamma": said}
    assert NO_ACTIVE_FORECAST not in cutoff
    assert set(cutoff["methods"]["bgnbd_gamma_gamma"]) == set(CLASSIFICATION + PROBABILITY)
    assert cutoff["models"]["ltv"]["error"].endswith(f"and no label-free model: {said}")
    lines = verdict_lines(cutoff, 0, 100)
    assert f"  bgnbd_gamma_gamma has no value forecast: {said}" in lines
    # a purchase log's (no activity but purchases): neither forecast, one line
    neither = cutoff | {NO_ACTIVE_FORECAST: {"bgnbd_gamma_gamma": said}}
    neither["methods"] = cutoff["methods"] | {"bgnbd_gamma_gamma": {}}
    neither["bootstrap"] = cutoff["bootstrap"] | {"bgnbd_gamma_gamma": {}}
    lines = verdict_lines(neither, 0, 100)
    assert f"  bgnbd_gamma_gamma has no forecast: {said}" in lines
    row = next(line.split() for line in lines if "bgnbd_gamma_gamma" in line)
    assert row == ["bgnbd_gamma_gamma", *["-"] * 6]  # its row: nothing judged
    assert not [line for line in lines if line.strip() == "bgnbd_gamma_gamma"]


def test_a_metric_that_rounds_to_zero_reads_zero_not_minus_zero() -> None:
    """online_retail at 2010-12-05 with --horizon 1: the last day's spend (a Saturday's) is 0
    for everyone, and its Gini, a hair below 0, read "-0.000" in the table."""
    from lifecycle.backtest_judge import method_rows

    metrics = {"spearman": 0.0, "normalized_gini": -1e-17, "auc": 0.5, "total_error": -1e-5}
    row = method_rows({"last_period_value": metrics})[1]
    assert row.split() == ["last_period_value", "0.000", "0.000", "0.500", "+0.0%", "-", "-"]
    below = method_rows({"rfm_score": {"spearman": -0.0004, "normalized_gini": -0.0006}})[1]
    assert below.split()[1:3] == ["0.000", "-0.001"]


def test_too_few_resamples_for_an_interval_are_refused(home: Path) -> None:
    """One resample printed "AUC +0.024 [+0.050, +0.050]": an interval of one draw."""
    result = invoke(home, "backtest", "--cutoff", CUTOFF, "--resamples", "20")
    assert result.exit_code == 2 and "'--resamples': 20 is not in the range x>=100" in result.stderr


def test_a_read_only_out_is_refused_before_the_pipeline_runs(home: Path, tmp_path: Path) -> None:
    """An existing read-only --out passed the early check (a mkdir) and failed once the whole
    pipeline had run; the shared check of every --out now stops it first."""
    out = tmp_path / "kept"
    out.mkdir()
    if os.geteuid() == 0 and shutil.which("unshare") is None:
        pytest.skip("running as root without unshare: no way to make a folder read-only")
    out.chmod(0o555)  # root: mounted read-only by run_read_only
    try:
        args = ("--quiet", "backtest", "--cutoff", CUTOFF, "--horizon", str(HORIZON))
        result = run_read_only(out, *args, "--out", str(out), home=home)
    finally:
        out.chmod(0o755)
    if os.geteuid() == 0 and "mount" in result.stderr and result.returncode != 1:
        pytest.skip(f"cannot mount read-only here: {result.stderr.strip()}")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(
        f"Error: {out / 'backtest.json'}: cannot write the backtest (--out) in {out}: "
    ), line
    assert list(out.iterdir()) == []


def test_a_settings_horizon_past_the_data_names_the_option_that_fits(home: Path) -> None:
    """Without --horizon, online_retail's 365-day LTV stopped every backtest with no word of
    the option that makes it run (docs/quality.md's own command passes --horizon 91)."""
    result = invoke(home, "backtest", "--cutoff", "2024-01-15")
    assert result.exit_code == 1 and "Traceback" not in result.output
    [line] = result.stderr.strip().splitlines()
    assert "need events up to" in line
    assert "--horizon DAYS sets every label horizon (at most 20 here), or cut earlier" in line


def test_a_cutoff_on_the_first_day_of_data_names_the_earliest_that_works(home: Path) -> None:
    """A cutoff on the data's first day (before its first event) was told 'features there would
    be empty; --horizon DAYS ... (at most 400 here), or cut earlier': earlier has no data."""
    result = invoke(home, "backtest", "--cutoff", "2023-01-01")
    [line] = result.stderr.strip().splitlines()
    assert result.exit_code == 1 and "cut earlier" not in line
    assert line.startswith("Error: --cutoff 2023-01-01 is too early: the data starts at 2023-01-01")
    assert "give --horizon 104 or shorter (the earliest cutoff training then learns " in line


def test_a_horizon_after_which_nothing_happened_is_refused_before_anything_runs(
    tmp_path: Path,
) -> None:
    """--horizon 1 on a day the shop was shut: the whole pipeline ran (features, three
    trainings) before 'nothing to judge by'; what followed the cutoff is known at the start."""
    shop = tmp_path / "shop.csv"
    days = [d for d in pd.date_range("2023-01-02", "2023-12-30") if d.day_name() != "Sunday"]
    shop.write_text(
        "user_id,event_time,event_type,amount\n"
        + "".join(
            f"u{i % 25},{d:%Y-%m-%d} 10:00,purchase,{5 + i % 7}\n" for i, d in enumerate(days)
        )
    )
    assert invoke(tmp_path, "ingest", str(shop)).exit_code == 0
    out = tmp_path / "kept"  # where the cutoff's scratch workspace would be made
    args = ("--cutoff", "2023-10-01", "--horizon", "1", "--dataset", "shop", "--out", str(out))
    result = invoke(tmp_path, "backtest", *args)
    assert result.exit_code == 1 and "Traceback" not in result.output
    [line] = result.stderr.strip().splitlines()
    assert line == (
        "Error: backtest at 2023-10-01: of 25 users 0 were active and their value sums to 0.00 "
        "after the cutoff: nothing to judge by (the data has no event in the 1 day after the "
        "cutoff; the next is on Monday 2023-10-02)"
    )  # session 59: online_retail's Christmas gap said only "nothing to judge by" too
    assert not out.exists()  # nothing ran


def test_too_little_data_for_training_names_the_cutoff(home: Path) -> None:
    result = invoke(
        home,
        "backtest",
        "--cutoff",
        "2023-06-01",
        "--horizon",
        "30",
        env={
            "LIFECYCLE_TRAINING__MIN_ROWS": "100000",
            "LIFECYCLE_TRAINING__LABEL_FREE_FALLBACK": "false",  # else BG/NBD + GG serves LTV
        },
    )
    assert result.exit_code == 1, result.output
    assert "backtest at 2023-06-01: no model could be trained" in result.stderr
    assert "(need 100000)" in result.stderr


def test_history_too_short_for_the_time_split_says_what_it_needs_once(home: Path) -> None:
    # 120 days before the cutoff: a 60-day horizon leaves no train cutoff a horizon before
    # the validation pool (a young shop cut a quarter before its end meets this).
    result = invoke(
        home,
        "backtest",
        *("--cutoff", "2023-05-01", "--horizon", "60"),
        env={"LIFECYCLE_TRAINING__LABEL_FREE_FALLBACK": "false"},
    )
    assert result.exit_code == 1, result.output
    assert len(result.stderr.strip().splitlines()) == 1
    assert "churn, conversion, ltv: with a 60-day horizon no cutoff had matured" in result.stderr
    assert result.stderr.count("needs cutoffs spanning at least 109 days") == 1


@pytest.fixture(scope="module")
def label_free(home: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], dict]:
    """Two origins too early for the time split, through the CLI's terminal output: (its
    lines, the result's JSON as logged to the MLflow run, with the run's id); no plots drawn."""
    result = invoke(
        home, "backtest", "--cutoff", "2023-05-01", "--cutoff", "2023-05-15", "--horizon", "60",
        "--resamples", "200", env=NO_PLOTS,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    terminal = result.stdout.splitlines()
    run_id = terminal[-1].split("MLflow run ")[1].split()[0]
    client = registry.client(load_settings(home=home, environ={}))
    logged = client.download_artifacts(run_id, "backtest.json", tmp_path_factory.mktemp("run"))
    return terminal, json.loads(Path(logged).read_text()) | {"run_id": run_id}


def test_history_too_short_for_the_time_split_is_judged_label_free(
    label_free: tuple[list[str], dict],
) -> None:
    # The same cutoff with the default fallback: fitted on the users at the cutoff, BG/NBD +
    # Gamma-Gamma serves the LTV, and, the demo having sessions (churn is no activity), the
    # process of active days serves churn; both are judged. Conversion (a first purchase)
    # has no label-free model.
    _, document = label_free
    cutoff = document["cutoffs"][0]
    assert cutoff["cutoff"] == "2023-05-01"
    assert cutoff["models"]["ltv"]["served_kind"] == "bgnbd_gamma_gamma"
    assert cutoff["models"]["ltv"]["split"] is None
    assert cutoff["models"]["churn"]["served_kind"] == "activity_process"
    assert "conversion" in cutoff["models"] and "error" in cutoff["models"]["conversion"]
    lifecycle = cutoff["methods"]["lifecycle"]
    assert math.isfinite(lifecycle["spearman"]) and math.isfinite(lifecycle["normalized_gini"])
    # It ranks who stays active about as the recency rule does, and is roughly calibrated.
    assert lifecycle["auc"] > cutoff["methods"]["recency"]["auc"] - 0.03
    assert lifecycle["ece"] < 0.1


def test_plots_off_name_and_log_none(home: Path, label_free: tuple[list[str], dict]) -> None:
    """With training.plots = false a backtest names no plot and logs only its result."""
    _, document = label_free
    assert [cutoff["plots"] for cutoff in document["cutoffs"]] == [[], []]
    client = registry.client(load_settings(home=home, environ={}))
    assert [artifact.path for artifact in client.list_artifacts(document["run_id"])] == [
        "backtest.json"
    ]


def test_rolling_origins_are_summed_up_over_the_cutoffs(
    home: Path, label_free: tuple[list[str], dict]
) -> None:
    """Each method's metrics averaged over the cutoffs, and per baseline at how many the
    model's interval is above, across or below zero: in the JSON, on the terminal and as the
    MLflow run's mean.* metrics."""
    terminal, document = label_free
    over, each = document["over_cutoffs"], document["cutoffs"]
    assert over["cutoffs"] == 2 and [r["cutoff"] for r in each] == ["2023-05-01", "2023-05-15"]
    for method in (MODEL, *BASELINES):
        for metric in ("auc", "spearman", "normalized_gini"):
            mean = (each[0]["methods"][method][metric] + each[1]["methods"][method][metric]) / 2
            assert over["methods"][method][metric] == pytest.approx(mean), (method, metric)
    for baseline in BASELINES:
        for metric in ("auc", "spearman", "normalized_gini"):
            intervals = [r["bootstrap"][baseline][metric] for r in each]
            assert over["versus"][baseline][metric] == {
                "ahead": sum(d["low"] > 0 for d in intervals),
                "level": sum(d["low"] <= 0 <= d["high"] for d in intervals),
                "behind": sum(d["high"] < 0 for d in intervals),
            }
    client = registry.client(load_settings(home=home, environ={}))
    metrics = client.get_run(document["run_id"]).data.metrics
    assert metrics[f"mean.{MODEL}.auc"] == pytest.approx(over["methods"][MODEL]["auc"])
    at = terminal.index("over the 2 cutoffs: the mean of each metric")
    row = next(line for line in terminal[at:] if line.startswith(f"  {MODEL} "))
    assert row.split()[1] == f"{over['methods'][MODEL]['spearman']:.3f}"
    counts = over["versus"]["rfm_score"]["auc"]
    shown = f"AUC {counts['ahead']} / {counts['level']} / {counts['behind']}"
    assert any(line.startswith("    rfm_score") and shown in line for line in terminal[at:])


def test_copy_keeps_only_what_was_known_at_the_cutoff(tmp_path: Path) -> None:
    cutoff = pd.Timestamp("2024-03-01", tz="UTC")
    day = pd.Timedelta(days=1)
    source = tmp_path / "source"
    source.mkdir()
    pd.DataFrame(
        {
            c.USER_ID: ["early", "early", "late", "quiet", "seen"],
            c.EVENT_TIME: [cutoff - day, cutoff + day, cutoff + day, cutoff + day, cutoff],
            c.EVENT_TYPE: ["session", "purchase", "signup", "session", "purchase"],
            c.AMOUNT: [None, 5.0, None, None, 3.0],
        }
    ).to_parquet(source / "events.parquet")
    pd.DataFrame(
        {
            c.USER_ID: ["early", "late", "quiet", "seen"],
            c.SIGNUP_TIME: [cutoff - 2 * day, cutoff + day, None, None],
        }
    ).astype({c.SIGNUP_TIME: "datetime64[us, UTC]"}).to_parquet(source / "users.parquet")
    copied = copy_dataset_until(source, tmp_path / "target", cutoff)
    events = pd.read_parquet(tmp_path / "target" / "events.parquet")
    users = pd.read_parquet(tmp_path / "target" / "users.parquet")
    assert copied == {"events": 2, "users": 2}
    assert sorted(events[c.USER_ID]) == ["early", "seen"]  # an event at the cutoff is kept
    assert sorted(users[c.USER_ID]) == ["early", "seen"]  # signed up later, or silent: dropped


def test_copy_derives_an_adapters_users_again_from_the_events_up_to_the_cutoff(
    tmp_path: Path,
) -> None:
    """online_retail's users table is derived from its events: the copy derives it from the
    events up to the cutoff, as an import of those lines did. Before, the copy kept the whole
    log's, then each customer's main country: customer 12455 bought from Cyprus up to
    2011-09-08 and from Spain after, and the backtest at 2011-09-09 read Spain at every
    cutoff, so its refit churn model scored users up to 0.17 apart from the model served. A
    users table derived so (its note) is still derived again; today's first country is the
    same at every cutoff after a customer's first invoice."""
    from features.importing import import_source

    lines = [
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country",
        *(f"5000{n},A{n},MUG,2,2011-01-0{n + 1} 10:00:00,1.50,12455,Cyprus" for n in range(2)),
        "50010,B1,PEN,1,2011-01-05 11:00:00,2.00,12600,France",
        *(f"6000{n},C{n},JAR,1,2011-03-0{n + 1} 10:00:00,3.00,12455,Spain" for n in range(3)),
    ]
    csv = tmp_path / "invoices.csv"
    csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    import_source("online-retail", csv, tmp_path / "whole")
    whole = pd.read_parquet(tmp_path / "whole" / "users.parquet").set_index(c.USER_ID)
    assert whole.loc["12455", "country"] == "Cyprus"  # the first invoice's, known since
    report = tmp_path / "whole" / "report.json"  # as a users table derived before wrote it
    written = json.loads(report.read_text())
    written["tables"]["users"]["notes"]["derived_from"] = "events (main country per customer)"
    report.write_text(json.dumps(written))
    whole.assign(country=whole["country"].replace({"Cyprus": "Spain"})).reset_index().to_parquet(
        tmp_path / "whole" / "users.parquet", index=False
    )  # and its rows: 12455 read Spain, its main country
    cutoff = pd.Timestamp("2011-02-01", tz="UTC")
    copied = copy_dataset_until(tmp_path / "whole", tmp_path / "copy", cutoff)
    csv.write_text("\n".join(lines[:4]) + "\n", encoding="utf-8")  # the lines up to it
    import_source("online-retail", csv, tmp_path / "until")
    users = pd.read_parquet(tmp_path / "copy" / "users.parquet")
    expected = pd.read_parquet(tmp_path / "until" / "users.parquet")
    assert copied == {"events": 3, "users": 2}
    assert users.to_dict("records") == expected.to_dict("records")
    assert users.set_index(c.USER_ID)["country"].to_dict() == {"12455": "Cyprus", "12600": "France"}


def test_a_gamma_gamma_fit_without_a_mean_order_value_leaves_the_baseline_without_a_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shop's log whose order values have no mean (each customer's scaled by a Pareto draw,
    u ** -2): up to the cutoff Gamma-Gamma fits q 0.646, so a one-time buyer's expected order
    value p v / (q - 1) is undefined. The BG/NBD baseline then forecast the mean order value
    of everyone times its expected purchases, a model of another name, unsaid (Spearman
    0.32, total error -17%): its value is left out and the backtest says why (training's
    words, ``GammaGamma.no_mean``); its P(active) is judged as before."""
    from workspaces import PURCHASE_LOG_MAPS, demo_purchase_log

    from lifecycle.backtest_judge import NO_VALUE_FORECAST, verdict_lines

    clear_lifecycle_environ(monkeypatch)
    log = demo_purchase_log(tmp_path / "demo", users=3000, seed=3, days=300)
    customers = log["Customer"].unique()
    draws = np.random.default_rng(8).uniform(0, 1, len(customers)) ** -2.0
    scale = dict(zip(customers, draws, strict=True))
    log["Total"] = (log["Total"] * log["Customer"].map(scale)).round(2)
    log.to_csv(tmp_path / "orders.csv", index=False)
    home, env = tmp_path / "ws", NO_PLOTS | {"LIFECYCLE_DATASET": "shop"}
    run_cli(home, "ingest", str(tmp_path / "orders.csv"), "--dataset", "shop",
            "--event-type", "purchase", *PURCHASE_LOG_MAPS, env=env)  # fmt: skip
    stdout = run_cli(home, "--json", "backtest", "--cutoff", "2023-09-01", "--horizon", "30",
                     "--resamples", "100", env=env)  # fmt: skip
    [result] = json.loads(stdout)["cutoffs"]
    baseline = result["methods"]["bgnbd_gamma_gamma"]
    assert set(baseline) == set(CLASSIFICATION + PROBABILITY), baseline  # no value metrics
    assert all(math.isfinite(v) for v in baseline.values())
    assert set(result["bootstrap"]["bgnbd_gamma_gamma"]) == {"auc"}
    why = result[NO_VALUE_FORECAST]["bgnbd_gamma_gamma"]
    assert why.startswith("Gamma-Gamma has no mean order value on these 177 repeat customers: "
                          "its fitted q 0.646 is not above 1 (their order values, median ")  # fmt: skip
    assert why.endswith("are too heavy-tailed)")
    said = verdict_lines(result, 0, 100)
    assert f"  bgnbd_gamma_gamma has no value forecast: {why}" in said
    row = next(line for line in said if line.startswith("  bgnbd_gamma_gamma "))
    assert row.split()[1:3] == ["-", "-"]  # Spearman, Gini: none
    assert NO_VALUE_FORECAST not in result[STILL_ACTIVE]  # said once, for the cutoff
    assert "spearman" in result["methods"][MODEL]  # the model's value is judged


def _first_week(shared_data: Path, folder: Path, days: str = ",2010-12-0") -> Path:
    """online_retail's invoice lines of 2010-12-01..09 (``days``: of the times so written):
    a young shop's real log."""
    import gzip

    source = shared_data / "online_retail" / "online_retail_transactions.csv.gz"
    with gzip.open(source, "rt") as lines:
        header = next(lines)
        week = [line for line in lines if days in line]
    path = folder / "week.csv"
    path.write_text(header + "".join(week))
    return path


def test_a_log_too_short_for_any_backtest_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_data: Path
) -> None:
    """online_retail's first day alone: no cutoff has a day before it and a day after it.
    The refusal said "give --horizon 1 or shorter (the earliest cutoff is then 2010-12-03)",
    the horizon given and a date past the data; it says the data is too short, and how long
    the shortest backtest needs it."""
    clear_lifecycle_environ(monkeypatch)
    home, env = tmp_path / "ws", NO_PLOTS | {"LIFECYCLE_DATASET": "day"}
    day = _first_week(shared_data, tmp_path, ",2010-12-01 ")
    run_cli(home, "import", "online-retail", str(day), "--dataset", "day", env=env)
    for horizon in ([], ["--horizon", "1"]):
        result = invoke(home, "backtest", "--cutoff", "2010-12-01", *horizon, env=env)
        assert result.exit_code == 1, result.output
        assert result.stderr.strip() == (
            "Error: --cutoff 2010-12-01: the data runs from 2010-12-01 08:26 to 2010-12-01 "
            "17:35, too short to backtest: the shortest backtest, --horizon 1, needs a day of "
            "events before its cutoff and a whole day after it, events up to 2010-12-04 at least"
        )


def test_the_backtest_says_the_lightgbm_values_of_its_settings() -> None:
    """A workspace's lifecycle.toml tuning churn (online_retail, num_leaves 31 and
    min_data_in_leaf 20) made the backtest's churn lose to rfm_score at 2011-09-09, where the
    champion's default values serve LightGBM; its text said `lifecycle serves: churn
    rfm_score` and nowhere that the models judged were of other values than the defaults
    (only --json's `settings.training_models` and the run's params had them)."""
    from lifecycle.backtest import BacktestResult

    labels = LabelSettings()  # the defaults: 90, 90 and 365 days
    values = {"churn.num_leaves": 31, "churn.min_data_in_leaf": 20}
    result = BacktestResult("online_retail", labels, [], {"training_models": values},
                            {"run_id": "r", "experiment": "backtest-online_retail"}, None, 1.0)  # fmt: skip
    assert result.lines()[0] == (
        "backtest of dataset 'online_retail' (horizons: churn 90 days, conversion 90 days, "
        "ltv 365 days; LightGBM values of the settings: churn.num_leaves 31, "
        "churn.min_data_in_leaf 20)"
    )
    result.settings["training_models"] = {}  # none set: the defaults, not said
    assert result.lines()[0].endswith("ltv 365 days)")


def test_the_backtest_run_logs_the_settings_that_chose_the_rows(tmp_path: Path) -> None:
    """The CDNOW 270-day backtest of docs/quality.md was run twice, once with
    LIFECYCLE_TRAINING__BRIDGE_HORIZON=false: the two MLflow runs had the same parameters
    (the LightGBM values, windows and seed only). They carry the settings a training run
    logs (``training.tracking.RUN_SETTINGS``) and each task's gate metric."""
    from lifecycle.backtest import BacktestResult, log_run

    env = {"LIFECYCLE_TRAINING__BRIDGE_HORIZON": "false", "LIFECYCLE_TRAINING__MAX_ROWS": "9000"}
    settings = load_settings(home=tmp_path / "ws", environ=env)
    used = {"training_models": {}, "resamples": 100, "bootstrap_seed": 0,
            "dataset_version": "cdnow@1", "code_version": "0"}  # fmt: skip
    result = BacktestResult("cdnow", LabelSettings(), [], used, {}, None, 1.0)
    logged = log_run(settings, result, tmp_path)
    params = registry.client(settings).get_run(logged["run_id"]).data.params
    assert params["training.bridge_horizon"] == "False"
    assert params["training.max_rows"] == "9000" and params["training.max_cutoffs"] == "52"
    assert params["training.gate_metric.churn"] == "auc"
    assert params["training.gate_metric.ltv"] == "normalized_gini"


def test_a_one_day_horizon_reads_one_day(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_data: Path
) -> None:
    """online_retail's first week cut at 2010-12-03 with --horizon 1, the shortest a new
    shop's log allows: every line said '1 days' ('horizons: churn 1 days', 'active within 1
    days', 'no activity in those 1 days', 'orders in 1 days')."""
    clear_lifecycle_environ(monkeypatch)
    home, env = tmp_path / "ws", NO_PLOTS | {"LIFECYCLE_DATASET": "week"}
    run_cli(home, "import", "online-retail", str(_first_week(shared_data, tmp_path)),
            "--dataset", "week", env=env)  # fmt: skip
    said = run_cli(home, "backtest", "--cutoff", "2010-12-03", "--horizon", "1",
                   "--resamples", "100", env=env)  # fmt: skip
    assert "1 days" not in said
    assert "(horizons: churn 1 day, conversion 1 day, ltv 1 day)" in said
    assert "active within 1 day, " in said and "value 4,112 GBP within 1 day (" in said
    assert "active in the 1 day up to the cutoff" in said
    assert "left out, no activity in the 1 day" in said
    assert "(orders in 1 day): " in said


def test_a_gamma_gamma_that_cannot_be_fitted_leaves_the_baseline_without_a_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_data: Path
) -> None:
    """online_retail's first week, cut at 2010-12-06: 13 customers bought on a second day
    (Gamma-Gamma needs 20). The BG/NBD baseline then forecast its expected purchases times
    the mean order value of everyone, a model of another name, unsaid (Spearman -0.062,
    total error -78.9%): as where the fit has no mean, its value is left out and the
    backtest says why (the served rule's words, ``GammaGamma.fit_for_value``)."""
    from lifecycle.backtest_judge import NO_VALUE_FORECAST, verdict_lines

    clear_lifecycle_environ(monkeypatch)
    home, env = tmp_path / "ws", NO_PLOTS | {"LIFECYCLE_DATASET": "week"}
    run_cli(home, "import", "online-retail", str(_first_week(shared_data, tmp_path)),
            "--dataset", "week", env=env)  # fmt: skip
    stdout = run_cli(home, "--json", "backtest", "--cutoff", "2010-12-06", "--horizon", "3",
                     "--resamples", "100", env=env)  # fmt: skip
    [result] = json.loads(stdout)["cutoffs"]
    baseline = result["methods"]["bgnbd_gamma_gamma"]
    assert set(baseline) == set(CLASSIFICATION + PROBABILITY), baseline  # no value metrics
    assert set(result["bootstrap"]["bgnbd_gamma_gamma"]) == {"auc"}
    why = result[NO_VALUE_FORECAST]["bgnbd_gamma_gamma"]
    assert why == (
        "Gamma-Gamma cannot be fitted: GammaGamma.fit (customers with frequency > 0): "
        "need at least 20 customers to fit, got 13"
    )
    said = verdict_lines(result, 0, 100)
    assert f"  bgnbd_gamma_gamma has no value forecast: {why}" in said
    row = next(line for line in said if line.startswith("  bgnbd_gamma_gamma "))
    assert row.split()[1:3] == ["-", "-"]  # Spearman, Gini: none
    assert "spearman" in result["methods"][MODEL]  # the model's value is judged


def test_forget_finds_and_deletes_a_kept_scratch_workspace(
    home: Path, backtest: tuple[dict, Path], tmp_path: Path
) -> None:
    """`--out` keeps a copy of the users' data outside the workspace: it is registered, named
    by `forget` and deleted whole with `--scrub-exports` (its plots stay: they hold no ids).
    Runs last: it deletes the module's scratch workspace (on a copy of the workspace)."""
    document, _ = backtest
    [result] = document["cutoffs"]
    scratch = Path(result["scratch"]["workspace"])
    [entry] = [e for e in registered_exports(home) if e.path == str(scratch.resolve())]
    assert (entry.dataset, entry.users) == ("demo", result["scratch"]["users"])
    data = scratch / "datasets" / "demo"
    user = str(pd.read_parquet(data / "users.parquet")[c.USER_ID][0])
    rows = 1 + int((pd.read_parquet(data / "events.parquet")[c.USER_ID] == user).sum())
    copy = copy_workspace(home, tmp_path / "ws")
    named = run_cli(copy, "forget", user)
    assert (
        f"HOLDS {rows} row{'s' * (rows != 1)} of the users" in named
        and str(scratch.resolve()) in named
    )
    assert (data / "events.parquet").is_file()
    deleted = run_cli(copy, "forget", "--scrub-exports", user)
    assert f"backtest scratch workspace deleted ({rows} row{'s' * (rows != 1)}" in deleted
    assert not scratch.exists()
    assert sorted(p.name for p in scratch.parent.iterdir()) == sorted(result["plots"])
    assert "gone (no longer on disk)" in run_cli(copy, "forget", "--scrub-exports", user)


def _events_log(folder: Path, days: pd.DatetimeIndex) -> Path:
    """A purchase a day of each of 20 users on each of ``days`` (an events table)."""
    rows = [
        {c.USER_ID: f"u{user}", c.EVENT_TIME: day + pd.Timedelta(hours=10 + user % 8),
         c.EVENT_TYPE: "purchase", c.AMOUNT: 10.0}
        for day in days
        for user in range(20)
    ]  # fmt: skip
    path = folder / "events.parquet"
    pd.DataFrame(rows).to_parquet(path)
    return path


def test_a_shop_shut_is_told_from_the_logs_own_rhythm(tmp_path: Path) -> None:
    """Session 60: a spell with no event from anyone is a closure where it is more than 3
    times the gap 95% of the log's days with events are apart: 5 days shut in a log that
    trades every day is one, 2 are not; where weekends are shut (days 3 apart) 5 are not."""
    from lifecycle.backtest_inputs import TrainingCutoffs

    every_day = pd.date_range("2024-01-01", "2024-03-31", freq="D", tz="UTC")
    shut = (every_day >= "2024-02-10") & (every_day <= "2024-02-14")
    grid = TrainingCutoffs.of(_events_log(tmp_path, every_day[~shut]))
    first, last = pd.Timestamp("2024-02-10", tz="UTC"), pd.Timestamp("2024-02-14", tz="UTC")
    assert grid.shut_spells() == [(first, last, 1)]
    [said] = grid.shut_words(pd.Timestamp("2024-02-12", tz="UTC"), 7)
    assert said.startswith(
        "the shop was shut: no event from anyone from Saturday 2024-02-10 to Wednesday "
        "2024-02-14 (5 days, 2 days of them before the cutoff and 3 in the 7-day horizon; 95% "
        "of the log's days with events are at most 1 day apart): a model reads the shut days "
        "before the cutoff as every customer's silence"
    ), said
    assert said.endswith("; the horizon's shut days leave fewer days to be active in")
    assert grid.shut_words(pd.Timestamp("2024-03-20", tz="UTC"), 7) == []  # far from it
    (tmp_path / "short").mkdir()
    shorter = (every_day >= "2024-02-10") & (every_day <= "2024-02-11")
    assert (
        TrainingCutoffs.of(_events_log(tmp_path / "short", every_day[~shorter])).shut_spells() == []
    )
    (tmp_path / "weekdays").mkdir()
    weekdays = every_day[(every_day.dayofweek < 5) & ~shut]  # weekends shut: 3 days apart
    assert TrainingCutoffs.of(_events_log(tmp_path / "weekdays", weekdays)).shut_spells() == []
    # a young shop's first weeks (a sale every 4 to 7 days, then one every day) are no
    # closure: the demo log's January 2023 (6 and 10 days without a sale) was said shut
    (tmp_path / "young").mkdir()
    start = pd.DatetimeIndex(["2023-12-15", "2023-12-21", "2023-12-25"], tz="UTC")
    young = start.append(every_day[~shut])
    old = TrainingCutoffs.of(_events_log(tmp_path / "young", young))
    assert old.quiet_after(pd.Timestamp("2023-12-26", tz="UTC"), 5)  # 7 days without a sale
    assert old.shut_spells() == [(first, last, 1)]  # February's, after weeks of trading


def test_the_christmas_closure_read_as_churn_is_said_in_the_backtest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_data: Path
) -> None:
    """Session 60 (BT4's Left): online_retail's shop was shut from 2010-12-24 to 2011-01-03.
    At 2011-01-01 with 30 days the label-free models read its shut days as every customer's
    silence (on the full log mean P(active) 5.2% against 33.8% active) and nothing said why.
    The backtest (its text and JSON) now says the shop was shut, from the log's own rhythm,
    and what that does to the forecast; here on online_retail's December and January."""
    import gzip

    clear_lifecycle_environ(monkeypatch)
    home, env = tmp_path / "ws", NO_PLOTS | {"LIFECYCLE_DATASET": "winter"}
    source = shared_data / "online_retail" / "online_retail_transactions.csv.gz"
    with gzip.open(source, "rt") as lines:
        header = next(lines)
        kept = [line for line in lines if ",2010-12-" in line or ",2011-01-" in line]
    path = tmp_path / "winter.csv"
    path.write_text(header + "".join(kept))
    run_cli(home, "import", "online-retail", str(path), "--dataset", "winter", env=env)
    out = tmp_path / "out"
    result = invoke(home, "backtest", "--cutoff", "2011-01-01", "--horizon", "30",
                    "--resamples", "100", "--out", str(out), env=env)  # fmt: skip
    assert result.exit_code == 0, result.output
    said = (
        "the shop was shut: no event from anyone from Friday 2010-12-24 to Monday 2011-01-03 "
        "(11 days, 8 days of them before the cutoff and 3 in the 30-day horizon; 95% of the "
        "log's days with events are at most 2 days apart): a model reads the shut days before "
        "the cutoff as every customer's silence, so its forecasts of activity and purchases "
        "run low, a label-free model's most (it learns no shop-wide pause); the horizon's shut "
        "days leave fewer days to be active in"
    )
    assert f"  note: {said}" in result.stdout.splitlines(), result.stdout
    [cutoff] = json.loads((out / "backtest.json").read_text())["cutoffs"]
    assert cutoff["shop_shut"] == [said]
    # what it says is so: the forecast of activity runs far below what happened
    lifecycle = cutoff["methods"]["lifecycle"]
    assert lifecycle["mean_p_active"] < lifecycle["active_rate"] / 2, lifecycle


def test_the_offers_count_the_sign_ups_training_counts(tmp_path: Path) -> None:
    """Session 60: training's rows are the feature table's, every user signed up or seen by
    a cutoff (features.asof.compute_features), yet the backtest's offers counted the users
    by their first event only: 400 sign-ups of users.parquet with no event were no rows of
    theirs, so a cutoff whose training had them was not offered. Both counts (the users
    known, conversion's population) are now the feature table's at the train cutoffs."""
    from features.asof import compute_features
    from features.labels import label_spec
    from lifecycle.backtest_inputs import TrainingCutoffs
    from lifecycle.settings import LabelSettings
    from training.pipeline import time_split

    days = pd.date_range("2024-01-01", "2024-06-30", freq="D", tz="UTC")
    events = _events_log(tmp_path, days)
    log = pd.read_parquet(events)  # as an import writes them: microseconds
    log[c.EVENT_TIME] = log[c.EVENT_TIME].astype("datetime64[us, UTC]")
    log.to_parquet(events)
    signups = pd.date_range("2024-01-02", "2024-04-30", periods=400, tz="UTC")
    users = tmp_path / "users.parquet"
    pd.DataFrame(
        {c.USER_ID: [f"u{n}" for n in range(20)] + [f"s{n}" for n in range(400)],
         c.SIGNUP_TIME: pd.DatetimeIndex([days[0] + pd.Timedelta(hours=1)] * 20
                                         + list(signups)).astype("datetime64[us, UTC]")}
    ).to_parquet(users)  # fmt: skip
    spec = label_spec("conversion", LabelSettings(conversion_target="first_purchase"), events)
    grid = TrainingCutoffs.of(events, conversion=spec, users=users)
    cutoff, horizon = pd.Timestamp("2024-06-01", tz="UTC"), 30
    train = time_split(grid.labelled(cutoff, horizon), horizon).train
    rows = compute_features(events, train, users=users)
    assert rows is not None and len(rows) > 20 * len(train)  # the sign-ups are rows
    waiting = int(spec.eligible(rows).sum())
    assert waiting > 0
    assert grid.train_rows(cutoff, horizon) == len(rows)
    assert grid.conversion is not None
    assert sum(grid.conversion.outcomes(t, horizon)[0] for t in train) == waiting
    # their first events alone: the 20 buyers at each train cutoff (what the offers counted)
    assert TrainingCutoffs.of(events).train_rows(cutoff, horizon) == 20 * len(train)


def test_an_offered_cutoff_trains_from_labels_within_training_max_rows(home: Path) -> None:
    """Session 60 (BT6): training keeps at most ``training.max_rows`` labelled rows (older
    cutoffs thinned, else a share of the users drawn), yet the offers counted every train
    cutoff's users: with 1000 the demo's offered 2023-07-26 (60 days) kept 107 churn
    training rows of its 1000 (training.min_rows 200) and churn was bridged or label-free
    there. The offers count what training keeps (training.datasets.rows_plan): 2023-11-08,
    where churn and LTV learn 60 days from labels (200 rows) and conversion is said skipped."""
    env = {"LIFECYCLE_TRAINING__MAX_ROWS": "1000"}
    result = invoke(home, "backtest", "--cutoff", "2023-02-10", "--horizon", "60", env=env)
    assert result.exit_code == 1, result.output
    [line] = result.stderr.strip().splitlines()
    assert "learns a 60-day horizon from labels is 2023-11-08 (" in line, line
    assert "(conversion is skipped there: 164 training rows, 200 needed;" in line, line
    run = invoke(home, "--json", "backtest", "--cutoff", "2023-11-08", "--horizon", "60",
                 "--resamples", "100", env=env | NO_PLOTS)  # fmt: skip
    assert run.exit_code == 0, run.output
    [judged] = json.loads(run.stdout)["cutoffs"]
    for task in ("churn", "ltv"):
        assert judged["models"][task]["split"], (task, judged["models"][task])
