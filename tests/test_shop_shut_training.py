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
    log[~shut].to_csv(tmp_path / "orders.csv", index=False)
    # the closure: from the day after the last day with a purchase before the cut to the
    # day before the first after it
    first, last = (
        days[days < first].max() + pd.Timedelta(days=1),
        days[days > first].min() - pd.Timedelta(days=1),
    )
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
