"""The switches experiments/ablations.py undoes choices of the method with
(``training.pipeline.Method``), on a copy of the shared trained demo workspace; the doc's
block is checked in test_docs.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from experiment_runs import few_rounds, run_main
from workspaces import NO_PLOTS, TrainedWorkspace

from lifecycle import registry
from lifecycle.btyd import BGNBD
from lifecycle.bundle import ModelBundle
from lifecycle.settings import load_settings
from training.pipeline import METHOD, Method, train_task


def registered(settings: object, task: str, version: str, folder: Path) -> ModelBundle:
    client = registry.client(settings)
    name = registry.model_name("demo", task)
    return ModelBundle.load(registry.bundle_path(client, name, version, folder))


def test_the_method_undone_registers_the_evaluated_model_with_bg_nbd(
    trained_workspace: TrainedWorkspace, trained_copy: Path, tmp_path: Path
) -> None:
    """With the refit, the transfer check of calibration and MBG/NBD undone, LTV registers the
    model evaluated on the time split (it never learned from the test cutoffs), calibrated,
    with BG/NBD's purchase process; only the trainings inside the switch see it."""
    champion = trained_workspace.results["ltv"]
    settings = load_settings(
        home=trained_copy,
        environ={"LIFECYCLE_TRAINING__MIN_IMPROVEMENT": "1", **few_rounds(), **NO_PLOTS},
    )
    undone = Method(refit=False, calibration_check="none", purchase_process=BGNBD)
    token = METHOD.set(undone)
    try:
        result = train_task(settings, "ltv")
    finally:
        METHOD.reset(token)
    assert METHOD.get() == Method()
    assert not result.promoted  # the champion stays the method's own
    bundle = registered(settings, "ltv", result.version, tmp_path / "undone")
    current = registered(settings, "ltv", champion.version, tmp_path / "current")
    learned, refit = (b.data_window["trained_on"]["cutoffs"] for b in (bundle, current))
    assert learned == bundle.data_window["train_cutoffs"] == current.data_window["train_cutoffs"]
    assert max(learned) < min(bundle.data_window["test_cutoffs"])
    assert set(bundle.data_window["test_cutoffs"]) <= set(refit)  # the refit learned from them
    assert bundle.calibrator is not None
    assert bundle.data_window["calibration"]["deployed"] == "validation"
    # the method's refit: calibrated on its own out-of-fold scores where calibration transfers
    calibration = current.data_window["calibration"]
    assert calibration["deployed"] == ("cross_fitted" if calibration["transfers"] else "none")
    assert (current.calibrator is not None) == calibration["transfers"]
    assert bundle.purchase_process["first"] == 0.0  # BG/NBD: no drop-out at the first purchase
    assert current.purchase_process["first"] == 1.0  # MBG/NBD
    assert bundle.metrics == result.metrics["lightgbm"]


def test_boosting_from_the_process_registers_the_starts_it_learned_from(
    trained_copy: Path, tmp_path: Path
) -> None:
    """The ``boost_from_process`` trial: every LTV booster learned from the MBG/NBD's start
    and the registered bundle keeps it (the process of its freshest matured cutoff, as its
    served p_alive), so it scores start + trees; the current method's bundle has none."""
    from lifecycle import offsets
    from training.datasets import build_training_set

    # A purchase process is fitted at each cutoff the model learns from: 12 of the demo's 47
    # (thinned as training.max_cutoffs does) keep train, validation and test cutoffs.
    environ = {"LIFECYCLE_TRAINING__MIN_IMPROVEMENT": "1", "LIFECYCLE_TRAINING__MAX_CUTOFFS": "12"}
    settings = load_settings(home=trained_copy, environ=environ | few_rounds() | NO_PLOTS)
    token = METHOD.set(Method(boost_from_process=True))
    try:
        result = train_task(settings, "ltv")
    finally:
        METHOD.reset(token)
    bundle = registered(settings, "ltv", result.version, tmp_path / "boosted")
    start = bundle.boost_start
    assert start["process"] == bundle.purchase_process and start["horizon_days"] == 365
    assert start["roles"] == {
        "purchase_booster": offsets.PURCHASE,
        "booster": offsets.LOG_VALUE,
        "quantile_boosters": offsets.LOG1P_VALUE,
    }
    assert set(start["fallback"]) == set(start["roles"].values())
    frame = build_training_set(settings, "ltv").frame
    X = bundle.encode(frame)
    column = lambda name: X[:, bundle.feature_names.index(name)]  # noqa: E731
    starts = offsets.starts_of_columns(start["process"], column, 365.0)
    customers = np.isfinite(starts[offsets.LOG_VALUE])
    assert 0 < customers.sum() < len(X)  # the demo has users without a purchase too
    trees = bundle.booster.predict(X, raw_score=True)
    expected = np.exp(
        trees + offsets.filled(starts[offsets.LOG_VALUE], start["fallback"]["log_value"])
    )
    np.testing.assert_allclose(bundle.raw_score_matrix(X), expected, rtol=1e-12)
    assert not np.allclose(bundle.raw_score_matrix(X), bundle.booster.predict(X))
    current = registered(settings, "ltv", "1", tmp_path / "current")
    assert current.boost_start is None


# -- the script itself ----------------------------------------------------------------------

ABLATIONS = Path(__file__).resolve().parents[1] / "experiments" / "ablations.py"
# CI budget for the quick run (two demo backtests of 1,000 users; pytest-timeout's); a busy
# shared box may need more: ABLATIONS_QUICK_TIMEOUT=600.
QUICK_TIMEOUT = float(os.environ.get("ABLATIONS_QUICK_TIMEOUT", "300"))


def run_script(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIFECYCLE_")}
    return subprocess.run(
        [sys.executable, str(ABLATIONS), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--case", "nope"], "--case nope: not a case of backtests.py (backtest-online_retail"),
        (
            ["--case", "backtest-online_retail-august", "--doc", "docs/decisions.md"],
            "the doc's block is backtest-online_retail's (drop --doc and --quick)",
        ),
    ],
)
def test_a_case_the_doc_cannot_show_is_refused_in_one_line(
    args: list[str], said: str, tmp_path: Path
) -> None:
    """Another origin pairs the variants for --json only; nothing is run or written."""
    done = run_script(*args, cwd=tmp_path)
    assert done.returncode == 2
    assert said in done.stderr.strip().splitlines()[-1]
    assert "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
@pytest.mark.timeout(QUICK_TIMEOUT + 60)
def test_the_quick_run_pairs_a_variant_with_the_current_method(tmp_path: Path) -> None:
    """``--quick`` (CI sizes, the demo): the current method and ``no_refit`` each backtested,
    their differences bootstrapped on the same users, and the table printed."""
    out = tmp_path / "ablations.json"
    # the script's main in this process: the claim is the script's, not a process's
    printed = run_main("ablations.py", "--quick", "--json", str(out), cwd=tmp_path)
    results = json.loads(out.read_text())
    assert list(results["variants"]) == ["current", "no_refit"]
    assert results["users"] >= 300
    (difference,) = results["differences"].values()
    for metric in ("auc", "spearman", "normalized_gini"):
        d = difference[metric]
        assert d["low"] <= d["difference"] <= d["high"], metric
    refit = results["variants"]["no_refit"]
    assert refit["method"] == {"refit": False}
    assert "| **current method** |" in printed and "| `no_refit` |" in printed
