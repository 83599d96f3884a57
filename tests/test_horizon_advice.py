"""A history too short for a task's time split is told what it needs in numbers, and the
shorter horizon it names, pasted, trains (a three-month shop was told `shorten the horizon
... or use a longer history`; 30 days, pasted, was refused again and exited 3)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner, Result
from workspaces import (
    NO_COMPILE,
    NO_PLOTS,
    PURCHASE_LOG_MAPS,
    clear_lifecycle_environ,
    demo_purchase_log,
)

from features.labels import matured_cutoffs
from lifecycle.cli import main
from lifecycle.settings import Settings, load_settings
from training.errors import TooFewOutcomes
from training.horizon_advice import horizon_advice
from training.time_splits import time_split

DATASET = "short"
USERS, SEED, DAYS = 5000, 5, 90  # a shop three months old, as the walk's orders.xlsx
FEW_ROWS = {"LIFECYCLE_TRAINING__MIN_ROWS": "50"}  # its first weeks' few customers train
PASTED = re.compile(r"`LIFECYCLE_LABELS__CHURN_HORIZON_DAYS=(\d+)`")


def _cli(home: Path, *args: str, **env: str) -> Result:
    environ = {"LIFECYCLE_HOME": str(home), "LIFECYCLE_DATASET": DATASET} | FEW_ROWS
    return CliRunner().invoke(main, list(args), env=environ | NO_COMPILE | NO_PLOTS | env)


@pytest.fixture(scope="module")
def short(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    root = tmp_path_factory.mktemp("short")
    home = root / "workspace"
    with pytest.MonkeyPatch.context() as patch:
        clear_lifecycle_environ(patch)
        log = demo_purchase_log(root / "demo", users=USERS, seed=SEED, days=DAYS)
        log.to_csv(root / "orders.csv", index=False)
        steps = [
            (
                "ingest",
                str(root / "orders.csv"),
                "--dataset",
                DATASET,
                "--event-type",
                "purchase",
                *PURCHASE_LOG_MAPS,
            ),
            ("features", "build"),
            ("features", "apply"),
            ("features", "materialize"),
        ]
        for step in steps:
            done = _cli(home, *step)
            assert done.exit_code == 0, done.output
        yield load_settings(home=home, environ={"LIFECYCLE_HOME": str(home)})


def test_the_horizon_a_short_history_names_trains_when_pasted(short: Settings) -> None:
    home = short.workspace.home
    told = _cli(home, "train", "churn")
    assert told.exit_code == 0, told.output
    assert "label-free" in told.stdout  # 90 days on three months: nothing to learn from
    assert "shorten the horizon" not in told.output and "or a longer history" not in told.output
    assert re.search(
        r"a 90-day horizon needs data up to about \d{4}-\d\d-\d\d \(\d+ more weeks of history\)",
        told.stdout,
    ), told.stdout
    days = PASTED.search(told.stdout)
    assert days, told.stdout
    pasted = _cli(home, "train", "churn", LIFECYCLE_LABELS__CHURN_HORIZON_DAYS=days.group(1))
    assert pasted.exit_code == 0, pasted.output
    assert "fitting LightGBM" in pasted.stderr, pasted.output
    assert "label-free" not in pasted.stdout, pasted.stdout


def _grid(weeks: int) -> list[pd.Timestamp]:
    return list(pd.date_range("2010-12-07", periods=weeks, freq="7D", tz="UTC"))


def _splits(grid: list[pd.Timestamp], end: pd.Timestamp, days: int) -> bool:
    try:
        time_split(matured_cutoffs(end, grid, days), days)
    except TooFewOutcomes:
        return False
    return True


def test_the_history_a_horizon_needs_is_the_first_that_splits() -> None:
    """The walk's grid: 13 weekly cutoffs, data to 2011-02-28. The date said for 90 and 30
    days is the first week at which the split is made, a week before it is not."""
    end = pd.Timestamp("2011-02-28 17:00", tz="UTC")
    for days, weeks in ((90, 21), (30, 5)):
        said = horizon_advice(_grid(13), end, days, "churn")
        later = end + pd.Timedelta(weeks=weeks)
        assert f"needs data up to about {later:%Y-%m-%d} ({weeks} more weeks of history)" in said
        assert _splits(_grid(13 + weeks), later, days)
        assert not _splits(_grid(12 + weeks), later - pd.Timedelta(weeks=1), days)
        assert (
            "the longest horizon this history splits at is 14 days, learning from 1 cutoff" in said
        )
        assert _splits(_grid(13), end, 14) and not _splits(_grid(13), end, 21)
    tiny = horizon_advice(_grid(4), pd.Timestamp("2010-12-29", tz="UTC"), 30, "churn")
    assert tiny.endswith("no shorter horizon of a week or more splits this history"), tiny
