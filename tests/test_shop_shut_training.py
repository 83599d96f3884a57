"""A shop shut inside training's label horizons is said by `lifecycle train` (session 60):
the backtest said online_retail's Christmas closure (lifecycle.closures), training did not,
yet with the default 90-day churn horizon the labels of 5 of online_retail's 41 training
cutoffs (2010-12-04..2011-01-01) span it and read the shut days as every customer's silence.
Through the real CLI, Feast and MLflow on the demo's purchases with 12 days cut out."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from workspaces import (
    NO_COMPILE,
    NO_PLOTS,
    PURCHASE_LOG_MAPS,
    clear_lifecycle_environ,
    demo_purchase_log,
)

from lifecycle.cli import main

DATASET = "shut"


def test_a_closure_inside_the_label_horizons_is_said_by_train(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clear_lifecycle_environ(monkeypatch)
    home = tmp_path / "workspace"
    env = {"LIFECYCLE_HOME": str(home), "LIFECYCLE_DATASET": DATASET} | NO_COMPILE | NO_PLOTS
    log = demo_purchase_log(tmp_path / "demo", users=1500, seed=3, days=300)
    times = pd.to_datetime(log["Time"])
    first = times.min().normalize() + pd.Timedelta(days=120)
    shut = (times >= first) & (times < first + pd.Timedelta(days=12))
    days = times[~shut].dt.normalize()
    # 95% of its days with events are at most 2 apart: 12 days shut are a closure
    assert days.drop_duplicates().sort_values().diff().dt.days.quantile(0.95) == 2
    # the closure: from the day after the last day with a purchase before the cut to the
    # day before the first after it
    first, last = (
        days[days < first].max() + pd.Timedelta(days=1),
        days[days > first].min() - pd.Timedelta(days=1),
    )
    done = _train_churn(log[~shut], tmp_path, env)
    assert (
        f"churn: note: the shop was shut: no event from anyone from {first:%A %Y-%m-%d} to "
        f"{last:%A %Y-%m-%d} ({(last - first).days + 1} days; 95% of the log's days with events "
        "are at most 2 days apart): the "
    ) in done.output, done.output
    assert (
        "-day churn labels of" in done.output
        and "customers read as churned while the shop was shut" in done.output
    ), done.output
    # learned from labels (a shorter horizon, bridged: the demo shop is small), said beside
    assert "fitting LightGBM" in done.output, done.output
    # and kept with its run in MLflow (session 61: not checked before)
    [said] = _training_set_report(home, "churn")["shop_shut"]
    assert f"churn: note: {said}" in done.output, done.output


def _train_churn(log: pd.DataFrame, tmp_path: Path, env: dict[str, str]):
    """``log`` ingested as a purchase log, its features built and materialized and churn
    trained, each step through the real CLI; the training step's result."""
    log.to_csv(tmp_path / "orders.csv", index=False)
    steps = [
        ("ingest", str(tmp_path / "orders.csv"), "--dataset", DATASET,
         "--event-type", "purchase", *PURCHASE_LOG_MAPS),
        ("features", "build"),
        ("features", "apply"),
        ("features", "materialize"),
        ("train", "churn"),
    ]  # fmt: skip
    for step in steps:
        done = CliRunner().invoke(main, list(step), env=env)
        assert done.exit_code == 0, done.output
    return done


def _training_set_report(home: Path, task: str) -> dict:
    """The training set's report ``task``'s latest training logged to MLflow
    (``evaluation/training_set.json`` of its run; a baseline registered after it, where it
    won the gate, has none)."""
    import json

    from lifecycle import registry
    from lifecycle.settings import load_settings

    settings = load_settings(home=home, environ={"LIFECYCLE_DATASET": DATASET})
    client = registry.client(settings)
    name = registry.model_name(DATASET, task)
    for version in sorted(
        client.search_model_versions(f"name = '{name}'"), key=lambda v: -int(v.version)
    ):
        logged = [a.path for a in client.list_artifacts(version.run_id, "evaluation")]
        if "evaluation/training_set.json" in logged:
            path = client.download_artifacts(
                version.run_id, "evaluation/training_set.json", str(home)
            )
            return json.loads(Path(path).read_text())
    raise AssertionError(f"no run of {name} logged its training set's report")


def test_a_closure_before_a_label_free_fit_is_said_and_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Session 61 (BT6's Left): a log too short for the time split fits label-free models on
    every user at the latest cutoff, and said nothing of a closure before it, though a
    label-free model reads the shut days as every customer's silence most (online_retail at
    2011-01-01: P(active) 5.2% against 33.8% active). Its training now says it and logs
    `shop_shut` with its run's training set report, as a learned model's run does."""
    clear_lifecycle_environ(monkeypatch)
    home = tmp_path / "workspace"
    env = {"LIFECYCLE_HOME": str(home), "LIFECYCLE_DATASET": DATASET} | NO_COMPILE | NO_PLOTS
    env |= {"LIFECYCLE_TRAINING__BRIDGE_HORIZON": "false"}  # no shorter horizon: label-free
    log = demo_purchase_log(tmp_path / "demo", users=1500, seed=3, days=110)
    times = pd.to_datetime(log["Time"])
    first = times.max().normalize() - pd.Timedelta(days=30)
    shut = (times >= first) & (times < first + pd.Timedelta(days=12))
    done = _train_churn(log[~shut], tmp_path, env)
    assert "fitting the label-free" in done.output, done.output
    [note] = [line for line in done.output.splitlines() if "churn: note: the shop was shut" in line]
    assert "of them before the cutoff" in note and "a label-free model's most" in note, note
    said = note.split("churn: note: ", 1)[1]
    assert _training_set_report(home, "churn")["shop_shut"] == [said]
