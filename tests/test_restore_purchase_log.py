"""`datasets restore` on a log of purchases, end to end through the real CLI, Feast and the
MLflow registry: after a restore the features rebuilt and `score-all`, then `refresh`, score
the restored data, and neither offers to promote conversion, which is served as 1 - churn
there (its own champion answers nothing)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner, Result
from experiment_runs import few_rounds
from workspaces import (
    NO_COMPILE,
    NO_PLOTS,
    PURCHASE_LOG_MAPS,
    clear_lifecycle_environ,
    demo_purchase_log,
)

from features import contract as c
from lifecycle.cli import main
from lifecycle.settings import load_settings

DATASET = "shop"
# The demo's purchases (165 buyers of 600 users over 600 days): enough for a churn model
# judged on outcomes; conversion is then 1 - churn and LTV label-free.
USERS, SEED, DAYS, FIRST_DAYS = 600, 3, 600, 500
MAPS = ("--dataset", DATASET, "--event-type", "purchase", *PURCHASE_LOG_MAPS)


def _cli(home: Path, *args: str) -> Result:
    environ = {"LIFECYCLE_HOME": str(home), "LIFECYCLE_DATASET": DATASET}
    return CliRunner().invoke(main, list(args), env=environ | NO_COMPILE | NO_PLOTS | few_rounds())


def _ok(home: Path, *args: str) -> Result:
    done = _cli(home, *args)
    assert done.exit_code == 0, (args, done.output)
    return done


@pytest.fixture(scope="module")
def appended(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """A shop's first 500 days of purchases ingested, its last 100 appended, then refreshed
    (trained and scored on all 600); yields the workspace and the first file's rows."""
    root = tmp_path_factory.mktemp("restore")
    with pytest.MonkeyPatch.context() as patch:
        clear_lifecycle_environ(patch)
        log = demo_purchase_log(root / "demo", users=USERS, seed=SEED, days=DAYS)
        times = pd.to_datetime(log["Time"])
        first = times < times.min() + pd.Timedelta(days=FIRST_DAYS)
        log[first].to_csv(root / "first.csv", index=False)
        log[~first].to_csv(root / "later.csv", index=False)
        home = root / "workspace"
        _ok(home, "ingest", str(root / "first.csv"), *MAPS)
        _ok(home, "ingest", str(root / "later.csv"), "--append", *MAPS)
        _ok(home, "refresh")
        yield home, log[first]


def test_score_all_and_refresh_after_a_restore_score_the_restored_data(
    appended: tuple[Path, pd.DataFrame],
) -> None:
    """Session 48 checked this by hand on online_retail restored to June: score-all warned of
    conversion's champion and said `lifecycle promote conversion 1 --reason ...` serves v1,
    though conversion is served as 1 - churn and promoting it changes no score (5031415)."""
    home, first = appended
    settings = load_settings(home=home, environ={})
    before = pd.read_parquet(settings.workspace.latest_scores)
    assert set(before[c.USER_ID]) > set(first["Customer"])  # the appended days' buyers too
    versions = json.loads(_ok(home, "--json", "datasets", "history", DATASET).stdout)["versions"]
    assert [v["batches"] for v in versions] == [2, 1]  # newest first: the append, the first
    _ok(home, "datasets", "restore", versions[1]["version"])
    restored_until = pd.to_datetime(first["Time"]).max()
    buyers = set(first["Customer"])

    def scored() -> pd.DataFrame:
        scores = pd.read_parquet(settings.workspace.latest_scores)
        assert set(scores[c.USER_ID]) == buyers  # the restored data's users, no later one
        (as_of,) = scores["as_of"].unique()
        assert as_of.tz_localize(None) <= restored_until + pd.Timedelta(days=1), as_of
        return scores

    for step in (("build",), ("apply",), ("materialize",)):
        _ok(home, "features", *step)
    done = _cli(home, "score-all")  # the champions, trained on data the dataset no longer holds
    assert done.exit_code == 0, done.output
    said = done.output
    held = "was trained on data the dataset no longer holds (dataset version"
    for task in ("churn", "ltv"):  # their champions learned from the appended days too
        assert f"warning: {task}: champion {DATASET}-{task} v1 {held}" in said, said
    # conversion's own champion answers nothing here: no warning, no promotion offered
    assert "warning: conversion" not in said and "promote conversion" not in said, said
    after_score_all = scored()
    assert after_score_all["as_of"].iloc[0] < before["as_of"].iloc[0]

    refreshed = _cli(home, "--json", "refresh")
    assert refreshed.exit_code in (0, 3), refreshed.output
    assert "promote conversion" not in refreshed.output, refreshed.output
    report = json.loads(refreshed.stdout)
    assert report["error"] is None, report
    scores = scored()
    assert scores["churn_probability"].notna().all()
    # conversion is 1 - churn on a log of purchases, after the refresh as before it
    assert (scores["conversion_probability"] - (1 - scores["churn_probability"])).abs().max() < 1e-9
