"""What a backtest's refusal offers, on logs of shapes the demo has not: the offered cutoffs
and horizons are ones where training learns every task's outcome from labels (training's
own rule, :func:`training.datasets.refusal_of`), decided from nothing after the cutoff."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner, Result
from services import run_cli
from workspaces import NO_PLOTS, clear_lifecycle_environ

from features import contract as c
from lifecycle.cli import main

OFFERED = (  # the commands a refusal offers: (cutoff, horizon) of each, as printed
    re.compile(r"learns a (?P<days>\d+)-day horizon from labels is (?P<cutoff>[\d-]{10})"),
    re.compile(
        r"--horizon (?P<days>\d+) or shorter \(the earliest cutoff training then learns "
        r"from labels at is (?P<cutoff>[\d-]{10})"
    ),
    re.compile(r"the latest cutoff a (?P<days>\d+)-day horizon fits is (?P<cutoff>[\d-]{10})"),
)


def invoke(home: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, ["--home", str(home), "--quiet", *args], env=env)


def rare_buyers_log(path: Path, seed: int = 1) -> Path:
    """600 users over 240 days who come and go (a session on 30% of the days of a lifetime of
    60 days on average) and buy rarely (1.2% of sessions: about 0.4 purchases a day shop-wide),
    written as a CSV an operator ingests."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-01-01", tz="UTC")
    rows = []
    for user in range(600):
        first = rng.uniform(0, 200)
        life = rng.exponential(60)
        for day in np.arange(int(first), min(int(first + life), 240) + 1):
            if rng.random() < 0.3:
                at = start + pd.Timedelta(days=int(day), hours=int(rng.integers(8, 20)))
                rows.append((f"u{user}", at, c.SESSION, None))
                if rng.random() < 0.012:
                    rows.append((f"u{user}", at + pd.Timedelta(minutes=5), c.PURCHASE, 25.0))
    columns = [c.USER_ID, c.EVENT_TIME, c.EVENT_TYPE, c.AMOUNT]
    pd.DataFrame(rows, columns=columns).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def rare_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A workspace with :func:`rare_buyers_log` ingested as dataset `rare`, alone in the
    environment."""
    folder = tmp_path_factory.mktemp("rare")
    with pytest.MonkeyPatch.context() as patch:
        clear_lifecycle_environ(patch)
        home = folder / "ws"
        run_cli(home, "ingest", str(rare_buyers_log(folder / "rare.csv")), "--dataset", "rare")
        yield home


def offered_runs(home: Path, line: str, env: dict[str, str]) -> list[dict]:
    """Each command a refusal ``line`` offers, run as printed: its cutoff's JSON."""
    commands = [(m["cutoff"], m["days"]) for p in OFFERED for m in p.finditer(line)]
    assert commands, line
    judged = []
    for at, days in commands:
        run = invoke(home, "--json", "backtest", "--dataset", "rare", "--cutoff", at,
                     "--horizon", days, "--resamples", "100", env=NO_PLOTS | env)  # fmt: skip
        assert run.exit_code == 0, (at, days, run.output)
        judged += json.loads(run.stdout)["cutoffs"]
    return judged


def test_an_offered_cutoff_is_one_where_ltv_and_churn_learn_from_labels(rare_home: Path) -> None:
    """Session 61 (BT6's Left): the offers counted conversion's outcomes but only churn's and
    LTV's rows. On a log of rare buyers (about 0.4 purchases a day) a 7-day horizon was
    offered at 2024-04-10 (conversion said skipped), where LTV's train cutoffs held 3 users
    with any value of 208 rows (20 needed, training.min_positives): LTV was refused there,
    and not trained at all (no label-free Gamma-Gamma of 2 customers). The offers now count
    churn's and LTV's outcomes by training's own rule: no cutoff learns 7 days, and what is
    offered runs with every task split."""
    from features.labels import LABEL, compute_labels, label_spec
    from lifecycle.backtest_inputs import TrainingCutoffs
    from lifecycle.settings import load_settings
    from training.time_splits import time_split

    home = rare_home
    result = invoke(home, "backtest", "--dataset", "rare", "--cutoff", "2024-01-05",
                    "--horizon", "7")  # fmt: skip
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    [line] = result.stderr.strip().splitlines()
    assert "at no cutoff of this data do training's cutoffs" in line, line
    assert "20 positive outcomes of each task in each (training.min_positives)" in line, line
    # where the old offer was, training's own counts of LTV's outcomes refuse it, as the offers do
    settings = load_settings(home=home, environ={})
    events = settings.workspace.events("rare")
    grid = TrainingCutoffs.of(events)
    cutoff = pd.Timestamp("2024-04-10", tz="UTC")
    split = time_split(grid.labelled(cutoff, 7), 7)
    spec = label_spec("ltv", settings.labels.model_copy(update={"ltv_horizon_days": 7}))
    counts = {}
    for name, cutoffs in {"train": split.train, "valid": split.valid, "test": split.test}.items():
        labels = compute_labels(events, cutoffs, spec)
        counts[name] = (len(labels), int((labels[LABEL] > 0).sum()))
        assert grid.everyone is not None
        assert counts[name] == tuple(
            np.sum([grid.everyone.outcomes("ltv", t, 7) for t in cutoffs], axis=0)
        )
    from training.datasets import refusal_of

    refused = refusal_of("ltv", counts, 200, 20)
    assert refused is not None and refused.kind == "value", counts
    assert not grid.splits(cutoff, 7)
    skipped = "(conversion is skipped there" in line
    for judged in offered_runs(home, line, {}):
        for task in ("churn", "ltv") if skipped else ("churn", "ltv", "conversion"):
            assert judged["models"][task].get("split"), (task, judged["models"][task])


def test_an_offered_cutoff_counts_churns_rows_of_its_lookback(rare_home: Path) -> None:
    """Session 61: with labels.churn_lookback_days churn's rows are the users active in its
    days up to a cutoff, and its outcomes theirs; the offers counted every user known. With
    2 days and a 30-day horizon the rare buyers' log was offered 2024-06-24, where churn's
    train cutoffs had 19 churned of 268 rows (20 needed) and churn was not trained. The
    offers now count churn's own rows (LabelSpec.eligible's, checked here against the
    feature table) and the cutoff offered trains every task."""
    from features.asof import compute_features
    from features.labels import label_spec
    from lifecycle.backtest_inputs import TrainingCutoffs
    from lifecycle.settings import LabelSettings, load_settings
    from training.time_splits import time_split

    env = {"LIFECYCLE_LABELS__CHURN_LOOKBACK_DAYS": "2"}
    result = invoke(rare_home, "backtest", "--dataset", "rare", "--cutoff", "2024-01-05",
                    "--horizon", "30", env=env)  # fmt: skip
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    [line] = result.stderr.strip().splitlines()
    for judged in offered_runs(rare_home, line, env):
        for task in ("churn", "ltv", "conversion"):
            assert judged["models"][task].get("split"), (task, judged["models"][task])
    # the offers' churn rows are training's: the feature rows LabelSpec.eligible keeps
    events = load_settings(home=rare_home, environ={}).workspace.events("rare")
    grid = TrainingCutoffs.of(events, churn_lookback=2)
    cutoffs = time_split(grid.labelled(pd.Timestamp("2024-06-24", tz="UTC"), 30), 30).train
    rows = compute_features(events, cutoffs)
    assert rows is not None and grid.everyone is not None
    spec = label_spec("churn", LabelSettings(churn_lookback_days=2))
    counted = [grid.everyone.outcomes("churn", cutoff, 30)[0] for cutoff in cutoffs]
    eligible = [int(spec.eligible(rows[rows["as_of"] == cutoff]).sum()) for cutoff in cutoffs]
    assert counted == eligible and sum(eligible) == 268, (counted, eligible)


def purchases_log(path: Path, later_signups: int = 0, seed: int = 2) -> Path:
    """A purchase-only log of 400 customers over 2024 (each buying every 25 days on average
    from a first purchase in its first 150 days), and ``later_signups`` users who sign up
    from 2024-11-01 on, after every cutoff and horizon judged here."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-01-01", tz="UTC")
    rows = []
    for user in range(400):
        day = rng.uniform(0, 150)
        while day < 365:
            at = start + pd.Timedelta(days=float(day))
            rows.append((f"c{user}", at.floor("min"), c.PURCHASE, float(rng.integers(5, 80))))
            day += rng.exponential(25)
    for user in range(later_signups):
        at = pd.Timestamp("2024-11-01", tz="UTC") + pd.Timedelta(hours=11 * user)
        rows.append((f"s{user}", at, c.SIGNUP, None))
    columns = [c.USER_ID, c.EVENT_TIME, c.EVENT_TYPE, c.AMOUNT]
    pd.DataFrame(rows, columns=columns).to_csv(path, index=False)
    return path


def test_conversions_target_is_decided_from_nothing_after_the_cutoff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Session 61 (BT5's note): conversion's ``auto`` target was decided from the whole log
    for the offers and for the judged outcome, while the cutoff's training decided it from
    its copy of the data. A purchase log whose sign-ups start after the horizon was judged
    as first purchases (no user known at the cutoff had none: nothing judged) while its
    models learned repeat purchases. Adding those later sign-ups now changes nothing of the
    backtest: its offers, its conversion's label and its verdict."""
    from features.labels import conversion_target_of

    clear_lifecycle_environ(monkeypatch)
    home = tmp_path / "ws"
    for name, later in (("shop", 0), ("later", 60)):
        log = purchases_log(tmp_path / f"{name}.csv", later)
        run_cli(home, "ingest", str(log), "--dataset", name)
    said, judged = {}, {}
    for name in ("shop", "later"):
        refused = invoke(home, "backtest", "--dataset", name, "--cutoff", "2024-01-20",
                         "--horizon", "30")  # fmt: skip
        assert refused.exit_code == 1, refused.output
        said[name] = refused.stderr.strip()
        run = invoke(home, "--json", "backtest", "--dataset", name, "--cutoff", "2024-07-01",
                     "--horizon", "30", "--resamples", "100", env=NO_PLOTS)  # fmt: skip
        assert run.exit_code == 0, run.output
        [judged[name]] = json.loads(run.stdout)["cutoffs"]
    assert said["later"] == said["shop"], said
    assert judged["later"]["conversion"] == judged["shop"]["conversion"]
    assert judged["shop"]["conversion"]["labelled"] > 0, judged["shop"]["conversion"]
    for part in ("methods", "outcome"):
        assert judged["later"][part] == judged["shop"][part]
    later = home / "datasets" / "later" / "events.parquet"
    assert conversion_target_of(later) == "first_purchase"  # the whole log's sign-ups
    cutoff = pd.Timestamp("2024-07-01", tz="UTC")
    assert conversion_target_of(later, until=cutoff) == "repeat_purchase"
