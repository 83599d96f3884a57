"""The backtest experiment runs in CI at tiny sizes (as MLflow runs every example script):
`experiments/backtests.py --quick` on the demo and a customer sample of online_retail."""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from experiment_runs import run_main

REPO = Path(__file__).resolve().parents[1]
# CI budget for the quick run (pytest-timeout's); a busy shared box may need more
# (BACKTESTS_QUICK_TIMEOUT=600).
TIMEOUT_SECONDS = float(os.environ.get("BACKTESTS_QUICK_TIMEOUT", "300"))
BASELINES = {"recency", "last_period_value", "rfm_score", "bgnbd_gamma_gamma"}


@pytest.fixture(scope="module")
def quick_run(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict]:
    """One quick run of both cases: what it printed, and its --json document (the script's
    main in this process: the claim is the script's, not a process's)."""
    out = tmp_path_factory.mktemp("backtests") / "backtests.json"
    args = ("--quick", "--data-root", str(shared_data), "--json", str(out))
    printed = run_main("backtests.py", *args, cwd=out.parent)
    return printed, json.loads(out.read_text())


@pytest.mark.real_data
@pytest.mark.slow
@pytest.mark.timeout(TIMEOUT_SECONDS + 60)  # the quick run is in the first test's setup
def test_each_case_is_judged_against_every_baseline(quick_run: tuple[str, dict]) -> None:
    printed, documents = quick_run
    assert set(documents) == {"backtest-demo", "backtest-online_retail"}
    for name, document in documents.items():
        (cutoff,) = document["cutoffs"]
        methods = cutoff["methods"]
        # a users file (online_retail's country, the demo's channel) adds the attribute
        # baseline (42daeb9)
        baselines = BASELINES | {"best_attribute"}
        assert set(methods) == {"lifecycle", *baselines}, name
        assert cutoff["users"] >= 300, name  # enough users to judge
        assert 0 < cutoff["outcome"]["active_rate"] < 1, name
        model = methods["lifecycle"]
        for key in ("auc", "spearman", "normalized_gini", "ece", "total_error"):
            assert math.isfinite(model[key]), (name, key)
        assert 0.5 < model["auc"] <= 1 and 0 <= model["ece"] < 0.2, name
        if "inside_p10_p90" in model:  # a served LTV model with quantiles
            coverage = model["below_p10"] + model["inside_p10_p90"] + model["above_p90"]
            assert coverage == pytest.approx(1.0), name
        # Every baseline has a paired bootstrap interval around the difference.
        assert set(cutoff["bootstrap"]) == baselines, name
        for by_metric in cutoff["bootstrap"].values():
            for interval in by_metric.values():
                assert interval["low"] <= interval["difference"] <= interval["high"], name
        # The hindsight fit: both model families, the better one per metric.
        hindsight = document["hindsight"]
        assert hindsight["users"] == cutoff["users"], name
        families = hindsight["families"]
        assert set(families) == {"lightgbm", "linear"}, name
        for key in ("auc", "spearman", "normalized_gini"):
            assert hindsight[key] == max(f[key] for f in families.values()), (name, key)
            low, high = families["linear"]["range"][key]
            assert low <= families["linear"][key] <= high, (name, key)
        assert 0.5 < hindsight["auc"] <= 1, name
        # What was printed is the doc's block of this very result.
        sys.path.insert(0, str(REPO / "experiments"))
        from backtests import render_doc

        block = render_doc(name, document)
        assert block in printed
        assert "| best attribute (`" in block and "Users still active at the cutoff" in block
    retail = documents["backtest-online_retail"]
    assert retail["customer_share"] == 0.25
    assert retail["command"].startswith("lifecycle backtest --dataset online_retail")


@pytest.mark.real_data
@pytest.mark.slow
@pytest.mark.timeout(TIMEOUT_SECONDS + 60)  # the quick run is in the first test's setup
def test_the_served_predictors_beat_the_simple_rules(quick_run: tuple[str, dict]) -> None:
    """On the online_retail sample the served model ranks who buys again ahead of recency
    (the paired interval above zero); on the demo it ranks activity ahead of spending and
    value ahead of BG/NBD + Gamma-Gamma, is not behind BG/NBD of active days on activity
    beyond noise (the demo's activity is its sessions), and the promotion gate keeps it no
    worse than recency (there the recency rule may be served)."""
    _, documents = quick_run
    (retail,) = documents["backtest-online_retail"]["cutoffs"]
    assert retail["bootstrap"]["recency"]["auc"]["low"] > 0
    assert retail["methods"]["lifecycle"]["auc"] > retail["methods"]["recency"]["auc"]
    (demo,) = documents["backtest-demo"]["cutoffs"]
    assert demo["bootstrap"]["last_period_value"]["auc"]["low"] > 0
    assert demo["bootstrap"]["bgnbd_gamma_gamma"]["normalized_gini"]["low"] > 0
    for baseline in ("recency", "bgnbd_gamma_gamma"):
        assert demo["bootstrap"][baseline]["auc"]["high"] >= 0, baseline
    methods = demo["methods"]
    assert methods["lifecycle"]["normalized_gini"] > methods["bgnbd_gamma_gamma"]["normalized_gini"]


def test_the_hindsight_fit_never_sees_the_outcome_it_scores() -> None:
    """Cross-fitted: on a label that is pure noise, a row scored by a model that saw its own
    label would rank it (in-sample AUC far above 0.5); every family stays at chance."""
    sys.path.insert(0, str(REPO / "experiments"))
    from hindsight import cross_fitted

    from training.evaluation import roc_auc

    rng = np.random.default_rng(3)
    x = rng.normal(size=(3000, 5))
    x[:, 0] = np.arange(3000)  # an id-like column a model could memorize
    noise = (rng.random(3000) < 0.5).astype(float)
    for family in ("lightgbm", "linear"):
        auc = roc_auc(noise, cross_fitted(x, noise, "binary", family=family, seed=1))
        assert abs(auc - 0.5) < 0.05, (family, auc)
    # The same features do carry a signal the fit finds when there is one.
    signal = (x[:, 1] + 0.5 * rng.normal(size=3000) > 0).astype(float)
    for family in ("lightgbm", "linear"):
        assert roc_auc(signal, cross_fitted(x, signal, "binary", family=family, seed=1)) > 0.85


def _verdict(auc: float) -> dict:
    """A verdict as lifecycle.backtest_judge.judge_methods writes it: each method's metrics
    (best_attribute among them) and lifecycle minus each baseline's paired interval."""
    methods = {
        m: {"auc": auc - i / 100, "spearman": 0.4, "normalized_gini": 0.6}
        for i, m in enumerate(("lifecycle", *sorted(BASELINES), "best_attribute"))
    }
    methods["lifecycle"] |= {"total_error": -0.1, "ece": 0.03, "active_rate": 0.5}
    interval = {"difference": 0.02, "low": 0.01, "high": 0.03}
    bootstrap = {
        b: dict.fromkeys(("auc", "spearman", "normalized_gini"), interval) for b in methods
    }
    del bootstrap["lifecycle"]
    return {"methods": methods, "bootstrap": bootstrap}


def _cutoff(day: str, *, still_active: bool) -> dict:
    cutoff = {
        "cutoff": day,
        "users": 3000,
        "outcome": {"active_rate": 0.5, "bought_rate": 0.5, "resamples": 1000},
        "models": {"ltv": {"served_version": "1", "served_kind": "lightgbm"}},
        "seconds": {"judge": 1.0},
        "attribute_baseline": {"attribute": "Country", "chosen_auc": 0.55, "categories": 9},
        **_verdict(0.75),
    }
    if still_active:  # results recorded since 42daeb9
        cutoff["still_active"] = {
            "definition": "active in the 91 days up to the cutoff (the churn horizon)",
            "window_days": 91,
            "users": 1234,
            "left_out": 1766,
            **_verdict(0.66),
        }
    return cutoff


def _results(*days: str, still_active: bool = True) -> dict:
    from lifecycle.backtest_judge import across_cutoffs

    cutoffs = [_cutoff(day, still_active=still_active) for day in days]
    over = across_cutoffs(cutoffs)
    over_active = across_cutoffs([c["still_active"] for c in cutoffs]) if still_active else None
    return {
        "dataset": "online_retail",
        "horizons_days": {"ltv": 91},
        "command": "lifecycle backtest --dataset online_retail",
        "cutoffs": cutoffs,
        "over_cutoffs": over,
        "over_cutoffs_still_active": over_active,
    }


def test_the_doc_block_shows_the_attribute_baseline_and_the_users_still_active() -> None:
    """The quality page's block of a backtest has the best_attribute row (methods and
    intervals) and the verdict on the users still active at the cutoff; before, it rendered
    only the four baselines of its own list and no still-active population."""
    sys.path.insert(0, str(REPO / "experiments"))
    from backtests import render_doc

    block = render_doc("backtest-online_retail", _results("2011-09-09"))
    assert "| best attribute (`Country`) | 0.400 | 0.600 | 0.700 |" in block
    assert "| best attribute (`Country`) | +0.020 [+0.010, +0.030] |" in block
    assert "Users still active at the cutoff, active in the 91 days up to the cutoff" in block
    assert "1,234 (1,766 left out), 50.0% active after it" in block
    still = block[block.index("Users still active") :]
    assert (
        "| lifecycle | **0.400** | **0.600** | **0.660** | **-10.0%** | **0.030** |  |  |  |"
        in still
    )
    row = "| best attribute (`Country`) | 0.400 | 0.600 | 0.610 |  |  | +0.020 [+0.010, +0.030] |"
    assert row in still
    rolling = render_doc("backtest-online_retail-monthly", _results("2011-05-01", "2011-06-01"))
    assert "Users still active at each origin, active in the 91 days" in rolling
    assert ": 1,234, 1,234. Their mean over the 2 origins" in rolling
    still = rolling[rolling.index("Users still active") :]
    assert "| best attribute (`Country`) | 0.400 | 0.600 | 0.610 |  |  | 2 / 0 / 0 |" in still
    assert "| ECE | above / across / below: AUC | Spearman | Gini |" in still
    assert "| best attribute (`Country`) | 2 / 0 / 0 | 2 / 0 / 0 | 2 / 0 / 0 |" in rolling
    # Results recorded before the backtest judged those users render as they were.
    for days in (("2011-09-09",), ("2011-05-01", "2011-06-01")):
        assert "still active" not in render_doc("x", _results(*days, still_active=False))


def test_the_doc_block_says_how_the_served_expected_purchases_did() -> None:
    """A backtest's block said nothing of the served expected_purchases (trial G, session 41):
    it now gives their total against the orders that happened, Spearman and the calibration
    table; a result recorded before they were judged renders as it did."""
    sys.path.insert(0, str(REPO / "experiments"))
    from backtest_tables import _purchases_lines

    from lifecycle.backtest_purchases import judge_purchases

    verdict = judge_purchases(np.array([0.2, 0.4, 1.5, np.nan]), np.array([1.0, 0.0, 2, 3]), 91)
    lines = _purchases_lines(verdict)
    assert lines[1] == (
        "The served `expected_purchases` of the 3 customers against the orders that happened "
        "in 91 days: 2 expected, 3 happened (total error -30.0%), Spearman 0.500:"
    )
    assert lines[-2:] == ["| 0-0.5 | 2 | 0.30 | 0.50 |", "| 1-2 | 1 | 1.50 | 2.00 |"]
    assert _purchases_lines(None) == []
