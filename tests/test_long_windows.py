"""Features of windows no user had outlived at the cutoffs learned from (``training.datasets
.unlearned``): on those rows they repeat the lifetime totals, and for a user known longer
they do not, so LightGBM learns nothing from them (``fit_bundle(unlearned=...)``) while the
bundle, the rules and the service still read the same features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.asof import AS_OF, feature_names, trend_windows, windows_read
from features.contract import USER_ID
from features.labels import LABEL
from lifecycle.settings import load_settings
from training.datasets import LEFT_OUT, TrainingSet, left_out_text, unlearned
from training.models import fit_bundle, refit_recipe

WINDOWS = [7, 30, 90, 365]


def test_each_feature_names_the_windows_it_counts_over() -> None:
    assert windows_read("orders_365d", WINDOWS) == (365,)
    assert windows_read("trend_orders_90_365", WINDOWS) == (90, 365)
    assert windows_read("trend_active_days_30_90", WINDOWS) == (30, 90)
    assert windows_read("orders_total", WINDOWS) == windows_read("tenure_days", WINDOWS) == ()
    # other windows: the trends compare the nearest ones, as the feature table computes them
    assert trend_windows([14, 60, 180]) == {
        "trend_active_days_30_90": (14, 60),
        "trend_orders_90_365": (60, 180),
    }


def _latest_cutoff(home: Path, longest_days: float) -> None:
    """The feature table of dataset shop: its latest cutoff's users known up to that long."""
    table = home / "features" / "shop" / "user_features.parquet"
    table.parent.mkdir(parents=True)
    pd.DataFrame(
        {
            USER_ID: ["a", "b", "a"],
            AS_OF: pd.to_datetime(["2024-01-01", "2024-06-01", "2024-06-01"], utc=True),
            "tenure_days": [longest_days - 200, 20.0, longest_days],
        }
    ).to_parquet(table)


@pytest.mark.parametrize(("now", "left_out"), [(400.0, True), (300.0, False)])
def test_windows_no_user_had_outlived_are_left_out_once_a_user_of_now_has(
    tmp_path: Path, now: float, left_out: bool
) -> None:
    """Learned from users known at most 250 days: the 365-day window repeats the totals there.
    A user of the latest cutoff known 400 days reads it otherwise: left out, recorded in the
    data window; known 300 days, it still means what it meant: kept."""
    _latest_cutoff(tmp_path, now)
    settings = load_settings(home=tmp_path, environ={})
    names = [*feature_names(WINDOWS), "channel"]
    rows = pd.DataFrame({"tenure_days": [10.0, 250.0], "orders_total": [1.0, 2.0]})
    training = TrainingSet("churn", rows, names, "churn_v1", None, [], {"dataset": "shop"})  # type: ignore[arg-type]
    parts = {"train": rows.iloc[:1], "valid": rows.iloc[1:], "test": rows.iloc[:0]}
    past, window = unlearned(training, parts, settings, {"dataset": "shop"})
    expected = [n for n in names if n.endswith("_365d")] + ["trend_orders_90_365"]
    assert past == (expected if left_out else [])
    if left_out:
        assert window[LEFT_OUT] == {
            "features": expected,
            "longest_history_days": 250.0,
            "now_days": 400.0,
        }
        assert "(250 days at most)" in left_out_text(window[LEFT_OUT])
    else:
        assert window == {"dataset": "shop"}
    # an experiment keeps them all (training.pipeline.Method.long_windows)
    assert unlearned(training, parts, settings, {}, keep_all=True) == ([], {})


@pytest.mark.parametrize("task", ["churn", "ltv"])
def test_a_feature_not_learned_from_moves_no_score_of_the_model_or_its_refit(task: str) -> None:
    """The label follows orders_365d in every row learned from; left out, no tree of any
    booster (the LTV's purchase part, value and quantiles too) splits on it, the bundle still
    reads it, and the refit of the recipe leaves it out too."""
    rng = np.random.default_rng(3)
    n = 1500
    orders = rng.poisson(2.0, n).astype(float)
    recency = rng.uniform(0, 200, n)
    bought = rng.random(n) < 1 / (1 + np.exp(-(orders - 2) + recency / 100))
    value = np.where(bought, orders * rng.gamma(2.0, 10.0, n) + 1, 0.0)
    rows = pd.DataFrame(
        {
            "orders_365d": orders,
            "recency_days": recency,
            LABEL: (~bought).astype(int) if task == "churn" else value,
        }
    )
    window = {LEFT_OUT: {"features": ["orders_365d"], "longest_history_days": 1.0, "now_days": 2}}
    train, valid = rows.iloc[:1000], rows.iloc[1000:]  # early stopping on the valid rows
    bundle = fit_bundle(
        task,
        train,
        valid,
        label=LABEL,
        feature_names=["orders_365d", "recency_days"],
        service=f"{task}_v1",
        label_spec={"task": task},
        data_window=window,
        unlearned=["orders_365d"],
    )
    refit = refit_recipe(bundle, rows, label=LABEL, data_window={}, seed=7, fit=fit_bundle)
    for model in (bundle, refit):
        assert model.feature_names == ["orders_365d", "recency_days"]
        boosters = [model.booster, model.purchase_booster, *model.quantile_boosters.values()]
        for booster in filter(None, boosters):
            assert booster.feature_importance("split")[0] == 0
        moved = rows.assign(orders_365d=rows["orders_365d"] * 10 + 5)
        assert np.array_equal(model.predict(rows), model.predict(moved))
    # learned from, it moves the scores
    free = fit_bundle(
        task, train, valid, label=LABEL, feature_names=["orders_365d", "recency_days"],
        service=f"{task}_v1", label_spec={"task": task}, data_window={}, probability_only=True,
    )  # fmt: skip
    assert (free.purchase_booster or free.booster).feature_importance("split")[0] > 0


def test_the_count_of_orders_refunded_in_full_is_read_for_words_and_never_learned() -> None:
    """``cancelled_orders_total`` (features.asof.WORDS_ONLY): as a model input it made
    online_retail's 2011-09-09 backtest worse (LTV Spearman 0.523 -> 0.517), so no tree
    splits on it, even where the label follows it, no unlearned list given; the bundle still
    reads it (the reasons say "1 order so far, refunded in full" from it), and drift does
    not judge it."""
    from lifecycle.champion_inputs import WORDS_ONLY_WHY, learned_inputs

    rng = np.random.default_rng(5)
    n = 1500
    cancelled = rng.poisson(1.0, n).astype(float)
    recency = rng.uniform(0, 200, n)
    gone = rng.random(n) < 1 / (1 + np.exp(-(cancelled - 1) * 2 + recency / 100 - 1))
    rows = pd.DataFrame(
        {"cancelled_orders_total": cancelled, "recency_days": recency, LABEL: gone.astype(int)}
    )
    names = ["cancelled_orders_total", "recency_days"]
    bundle = fit_bundle(
        "churn", rows.iloc[:1000], rows.iloc[1000:], label=LABEL, feature_names=names,
        service="churn_v1", label_spec={"task": "churn"}, data_window={},
    )  # fmt: skip
    assert bundle.feature_names == names
    assert bundle.booster.feature_importance("split")[0] == 0
    moved = rows.assign(cancelled_orders_total=rows["cancelled_orders_total"] * 10 + 5)
    assert np.array_equal(bundle.predict(rows), bundle.predict(moved))
    assert learned_inputs(bundle) == (["recency_days"], {names[0]: WORDS_ONLY_WHY})


def _cohort_log(path: Path, users: int = 300) -> Path:
    """A purchase log of one cohort, as CDNOW's: every user's first order in the first 75
    days of 2023 (user 00000's on 1 January), repeat orders to 2024-03-31. The churn
    horizon's matured cutoffs end at 2023-12-29, users known 362 days at most; the latest
    cutoff's are known up to 455."""
    rng = np.random.default_rng(7)
    rows, end = [], pd.Timestamp("2024-03-31")
    for user in range(users):
        day = pd.Timestamp("2023-01-01") + pd.Timedelta(
            days=int(rng.integers(0, 75) if user else 0)
        )
        first, rate, life = day, rng.gamma(0.8, 1 / 40) + 1e-4, rng.exponential(250)
        while day <= end and (day - first).days <= life:
            rows.append((f"{user:05d}", f"{day:%Y-%m-%d}", round(float(rng.gamma(2, 20)), 2)))
            day += pd.Timedelta(days=max(1, min(900, int(rng.exponential(1 / rate)))))
    pd.DataFrame(rows, columns=["customer_id", "date", "amount"]).to_csv(path, index=False)
    return path


def _run(*args: str) -> str:
    from click.testing import CliRunner

    from lifecycle.cli import main

    done = CliRunner().invoke(main, ["--quiet", *args])
    assert done.exit_code in (0, 3), done.output  # 3: monitor found drift
    return done.stdout


@pytest.mark.slow
def test_the_monitor_names_the_features_not_learned_from_instead_of_judging_them(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On CDNOW `monitor` exited 3 on active_days_365d, orders_365d, revenue_365d and
    trend_orders_90_365, features training left out (no tree can split on them). Drift judges
    what each champion learns from (``learned_inputs``): the others are named, with why, in
    the monitor's line, its JSON, /metrics' gauges and the report's section alike."""
    import json

    from lifecycle.champion_inputs import learned_inputs
    from serving.drift_results import drift_gauges, last_result
    from serving.monitor import drift_section
    from serving.scoring import load_champions

    monkeypatch.setenv("LIFECYCLE_DATASET", "cohort")
    _run("ingest", str(_cohort_log(tmp_path / "cohort.csv")), "--dataset", "cohort",
         "--map", "user_id=customer_id", "--map", "event_time=date", "--event-type", "purchase")  # fmt: skip
    for step in ("build", "apply"):
        _run("features", step)
    _run("train", "churn")
    settings = load_settings(home=home)
    if load_champions(settings, "cohort").bundles["churn"].kind != "lightgbm":  # a rule won
        _run("promote", "churn", "1", "--force", "--reason", "LightGBM's inputs watched")
    churn = load_champions(settings, "cohort").bundles["churn"]
    assert churn.kind == "lightgbm" and churn.data_window[LEFT_OUT]["longest_history_days"] == 362
    learned, not_learned = learned_inputs(churn)
    long_ones = ["orders_365d", "revenue_365d", "active_days_365d", "trend_orders_90_365"]
    assert set(long_ones) <= set(not_learned) and not set(long_ones) & set(learned)
    assert set(learned) | set(not_learned) == set(churn.feature_names)

    said = _run("monitor")
    judged = {x.split()[0] for x in said.splitlines() if " feature " in x}
    assert judged == set(learned)  # tenure_days, recency_days, ... still judged
    (line,) = [x for x in said.splitlines() if x.startswith("not judged (")]
    assert all(name in line for name in long_ones), line
    assert "(362 days at most)" in line  # the last matured weekly cutoff, 2023-12-29

    result = json.loads(_run("monitor", "--json"))
    assert {col["name"] for col in result["columns"] if col["source"] == "feature"} == set(learned)
    assert set(result["not_judged"]) == set(not_learned)
    assert "churn: not learned from" in result["not_judged"]["orders_365d"]
    assert not set(long_ones) & set(result["drifting"])
    gauges = drift_gauges(last_result(settings, "cohort"))  # /metrics' lifecycle_drift_psi
    assert ("feature", "tenure_days") in gauges
    assert not any(("feature", name) in gauges for name in long_ones)
    section = drift_section(settings)
    assert "Not judged (" in section and "orders_365d" in section
    assert "<td>orders_365d</td>" not in section


def test_a_served_rule_is_judged_on_what_it_reads() -> None:
    """A baseline rule serving in LightGBM's place reads a few of the bundle's features: the
    others cannot move its scores, and are named with the rule."""
    from lifecycle.bundle import ModelBundle
    from lifecycle.champion_inputs import learned_inputs
    from lifecycle.rules import RuleModel

    names = ["orders_365d", "recency_days", "tenure_days", "orders_total"]
    rule = ModelBundle("churn", RuleModel("recency_rule", names), names, {}, "churn_v1", {}, {})
    learned, why = learned_inputs(rule)
    assert learned == ["recency_days", "tenure_days"]
    assert why == dict.fromkeys(
        ["orders_365d", "orders_total"],
        "the served recency_rule reads recency_days, tenure_days only",
    )


def test_the_not_judged_line_names_a_few_of_many_and_counts_the_rest() -> None:
    """A served rule leaves most of the bundle's features unread (40 on CDNOW), and the line
    named every one; it names the first few of a reason and counts the rest (JSON: all)."""
    from serving.drift import Thresholds
    from serving.monitor_result import MOST_NAMED, MonitorResult

    why = "the served recency_rule reads recency_days, tenure_days only"
    unread = {f"feature_{n}": why for n in range(40)}
    unread["orders_365d"] = "churn: not learned from (362 days at most)"
    result = MonitorResult("shop", "2024-03-01", {}, None, [], Thresholds(), not_judged=unread)
    line = result.not_judged_line()
    shown = ", ".join(f"feature_{n}" for n in range(MOST_NAMED - 1))
    assert line == (
        f"not judged (41), no champion's score moves with them: {shown} and "
        f"{40 - MOST_NAMED + 1} more (--json names each) ({why}); orders_365d (churn: not "
        "learned from (362 days at most))"
    )
    assert result.to_dict()["not_judged"] == unread
