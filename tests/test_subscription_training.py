"""A subscription's billing log (every customer pays every month until they cancel): a task
whose outcome has one class in the training rows is refused in one line, naming the cause,
and the other tasks are still judged and their champions moved (trial 115: the LTV's
purchase part, where every customer paid within the year, ended `train all` in a
LogisticRegression traceback and kept churn's winner from being promoted).
Through the real CLI, Feast and MLflow registry."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner, Result
from workspaces import NO_COMPILE, NO_PLOTS, clear_lifecycle_environ

from features.asof import AS_OF
from features.labels import LABEL, LabelSpec
from lifecycle import registry
from lifecycle.cli import main
from lifecycle.refresh import EXIT_NOT_PROMOTED, EXIT_OK
from lifecycle.settings import load_settings
from training.datasets import check_trainable
from training.errors import TooFewOutcomes

DATASET = "subs"
USERS, SEED = 300, 5
END = pd.Timestamp("2024-06-30")


def _environ(home: Path, **more: str) -> dict[str, str]:
    environ = {"LIFECYCLE_HOME": str(home), "LIFECYCLE_DATASET": DATASET}
    return environ | NO_COMPILE | NO_PLOTS | more


def _cli(home: Path, *args: str, **env: str) -> Result:
    return CliRunner().invoke(main, list(args), env=_environ(home, **env))


def billing_log() -> pd.DataFrame:
    """Three years of monthly payments from signup on a billing day; 40% of the customers
    cancel 1 to 11 months before the end: so every customer pays within the 365 days after
    each cutoff the LTV learns from, while churn has cancellers to learn from."""
    rng = np.random.default_rng(SEED)
    rows = []
    for user in range(USERS):
        paid = pd.Timestamp("2021-07-01") + pd.Timedelta(days=int(rng.integers(0, 28)))
        last = END
        if rng.random() < 0.4:
            last = END - pd.DateOffset(months=int(rng.integers(1, 12)))
        amount = float(rng.choice([20.0, 45.0, 70.0]))
        while paid <= last:
            rows.append((f"cus_{user}", f"{paid:%Y-%m-%d} 10:00:00", amount))
            paid += pd.DateOffset(months=1)
    return pd.DataFrame(rows, columns=["customer", "created", "amount_paid"])


@pytest.fixture(scope="module")
def subscription(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The billing log ingested and published as a user would; yields the workspace."""
    root = tmp_path_factory.mktemp("subscription")
    home = root / "workspace"
    billing_log().to_csv(root / "invoices.csv", index=False)
    maps = (
        "--map",
        "user_id=customer",
        "--map",
        "event_time=created",
        "--map",
        "amount=amount_paid",
    )
    steps = [
        ("ingest", str(root / "invoices.csv"), "--dataset", DATASET, "--event-type", "purchase"),
        ("features", "build"),
        ("features", "apply"),
        ("features", "materialize"),
    ]
    with pytest.MonkeyPatch.context() as patch:
        clear_lifecycle_environ(patch)
        for step in steps:
            done = _cli(home, *step, *(maps if step[0] == "ingest" else ()))
            assert done.exit_code == 0, done.output
        yield home


LTV_CAUSE = re.compile(
    r"train rows have a single class \(\d+ positive, 0 negative\): every user bought "
    r"within the 365-day horizon after every training cutoff up to \d{4}-\d\d-\d\d, so ltv's "
    r"P\(buy\) cannot be learned"
)


def test_a_single_class_ltv_is_refused_in_one_line_and_churn_is_still_promoted(
    subscription: Path,
) -> None:
    home = subscription
    trained = _cli(home, "train", "all", LIFECYCLE_TRAINING__LABEL_FREE_FALLBACK="false")
    assert trained.exception is None or isinstance(trained.exception, SystemExit), trained.output
    assert trained.exit_code == EXIT_NOT_PROMOTED, trained.output  # as documented: done, not all
    assert "Traceback" not in trained.output and "ValueError" not in trained.output
    refused = [line for line in trained.stdout.splitlines() if line.startswith("not trained: ")]
    assert len(refused) == 1 and re.search(f"ltv: {LTV_CAUSE.pattern}", refused[0]), trained.stdout
    assert re.search(r"churn: subs-churn v1 .*\n.*\n  promoted to champion", trained.stdout)
    settings = load_settings(home=home, environ=_environ(home))
    client = registry.client(settings)
    assert registry.alias_version(client, "subs-churn", registry.CHAMPION) is not None
    assert registry.alias_version(client, "subs-ltv", registry.CHAMPION) is None
    assert "no champion moved" not in trained.output

    # With the label-free fallback (the default), the LTV that cannot learn P(buy) is served
    # by BG/NBD x Gamma-Gamma, and says why.
    ltv = _cli(home, "train", "ltv")
    assert ltv.exit_code == 0, ltv.output
    assert LTV_CAUSE.search(ltv.stdout) and "first model: label-free bgnbd_gamma_gamma" in (
        ltv.stdout
    )
    # its progress says the cause once, not again for each shorter horizon tried and the
    # label-free fit (trial 115: four times)
    assert ltv.stderr.count("every user bought within") == 1, ltv.stderr
    assert re.search(r"ltv: at \d+ days: train rows have a single class \(\d+ positive", ltv.stderr)


def test_a_task_left_out_by_the_settings_is_skipped_in_one_line_and_exits_0(
    subscription: Path,
) -> None:
    """Trial 115: `refresh` exited 3 every month for a conversion no subscription can train,
    which a scheduler flags. `training.tasks` leaves it out on purpose: `train all` says so
    in one line, exits 0, and scoring says it is not trained, as for a missing model."""
    from serving.scoring import load_champions

    home = subscription
    chosen = {"LIFECYCLE_TRAINING__TASKS": '["churn", "ltv"]'}
    trained = _cli(home, "train", "all", **chosen)
    assert trained.exit_code == 0, trained.output
    said = [line for line in trained.stdout.splitlines() if "conversion" in line]
    assert said == [
        "not trained: conversion: left out by the setting training.tasks (the others are trained)"
    ], trained.stdout
    settings = load_settings(home=home, environ=_environ(home, **chosen))
    assert registry.alias_version(registry.client(settings), "subs-conversion", "champion") is None
    champions = load_champions(settings)
    assert champions.unavailable["conversion"] == (
        "no champion for model subs-conversion: not trained, left out by the setting training.tasks"
    )
    scored = _cli(home, "score-all", **chosen)  # no --allow-partial for a task left out
    assert scored.exit_code == 0, scored.output
    assert "cannot score with every champion" in _cli(home, "score-all").output  # not left out


def test_refresh_with_a_task_left_out_exits_0_and_says_it_in_one_line(
    subscription: Path,
) -> None:
    """What a scheduler runs each month (trial 115: `refresh` exited 3 for the conversion no
    subscription can train): with ``training.tasks`` leaving it out, refresh exits 0 and
    says it once, whether it trains the other tasks or finds them current."""
    home = subscription
    chosen = {"LIFECYCLE_TRAINING__TASKS": '["churn", "ltv"]'}
    refreshed = _cli(home, "refresh", **chosen)
    assert refreshed.exit_code == EXIT_OK, refreshed.output
    said = [line for line in refreshed.stdout.splitlines() if "conversion" in line]
    assert len(said) == 1, refreshed.stdout
    assert said[0].endswith(
        "conversion: left out by the setting training.tasks (the others are trained)"
    ), said


def _rows(label: list[float], cutoffs: int = 3) -> pd.DataFrame:
    as_of = pd.date_range("2023-10-01", periods=cutoffs, freq="MS", tz="UTC")
    return pd.DataFrame({AS_OF: np.resize(as_of, len(label)), LABEL: label}).sort_values(AS_OF)


def test_a_single_class_says_its_cause_in_the_tasks_words() -> None:
    """Churn with nobody idle for the horizon names the cutoffs: what a user can act on
    (trial 115: '0 positive, 59762 negative' said nothing of why)."""
    settings = load_settings(environ={})
    nobody = _rows([0.0] * 300)
    parts = {"train": nobody, "valid": nobody, "test": nobody}
    with pytest.raises(TooFewOutcomes) as churn:
        check_trainable("churn", parts, settings)
    assert str(churn.value) == (
        "churn: train rows have a single class (0 positive, 300 negative): no user went 90 "
        "days without activity after any training cutoff up to 2023-12-01, so churn cannot "
        "be learned yet"
    )
    every = _rows([1.0] * 300)
    spec = LabelSpec("conversion", 30, target="first_purchase")
    with pytest.raises(TooFewOutcomes, match=r"every user made a first purchase within 30 days"):
        check_trainable(
            "conversion", {"train": every, "valid": every, "test": every}, settings, spec
        )
    # LTV: the purchase part's class (any value), in the test rows alone
    mixed = _rows([0.0] * 100 + [12.5] * 200)
    bought = _rows([12.5] * 300)
    parts = {"train": mixed, "valid": mixed, "test": bought}
    # too few rows of a narrower population says which users are its rows (trial 115: 'only
    # 27 training rows (need 200)' of a subscription's conversion said nothing of why)
    few = _rows([0.0] * 20 + [1.0] * 7)
    with pytest.raises(
        TooFewOutcomes,
        match=r"only 27 training rows \(need 200\): its rows are "
        r"the users who had not bought yet at a training cutoff; every other user had;",
    ):
        check_trainable("conversion", {"train": few, "valid": few, "test": few}, settings, spec)
    with pytest.raises(TooFewOutcomes) as ltv:
        check_trainable("ltv", parts, settings)
    assert str(ltv.value).startswith(
        "ltv: test rows have a single class (300 positive, 0 negative): every user bought "
        "within the 365-day horizon after every test cutoff up to 2023-12-01"
    )
