"""A purchase log too young for the time split serves models that need no outcome
(``training.label_free``): MBG/NBD P(no purchase in the horizon) for churn, BG/NBD +
Gamma-Gamma for LTV, MBG/NBD P(a purchase) for one-time buyers' conversion to repeat
buyers, fitted on every user at the latest cutoff.
Through the real CLI, Feast, MLflow registry, batch scoring and the in-process scorer."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner, Result
from experiment_runs import few_rounds
from workspaces import (
    NO_COMPILE,
    NO_PLOTS,
    PURCHASE_LOG_MAPS,
    TrainedWorkspace,
    clear_lifecycle_environ,
    demo_purchase_log,
)

from features import contract as c
from features.asof import AS_OF
from features.store import store_paths
from lifecycle import registry
from lifecycle.btyd import MBGNBD
from lifecycle.bundle import ModelBundle
from lifecycle.cli import main
from lifecycle.refresh import model_problem
from lifecycle.settings import Settings, load_settings
from serving.report_models import champion_evaluations

DATASET = "young"
# A shop five months old: a 90-day churn horizon leaves two months of matured cutoffs (the
# split needs 139 days of them) and a 365-day LTV none at all.
USERS, SEED, DAYS = 700, 3, 150


def _environ(home: Path, **more: str) -> dict[str, str]:
    environ = {"LIFECYCLE_HOME": str(home), "LIFECYCLE_DATASET": DATASET}
    return environ | NO_COMPILE | NO_PLOTS | more


def _cli(settings: Settings, *args: str, **env: str) -> Result:
    return CliRunner().invoke(main, list(args), env=_environ(settings.workspace.home, **env))


@pytest.fixture(scope="module")
def young(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, pd.DataFrame]]:
    """The demo product's purchases (customer, time, amount) as a young shop's log, ingested
    and published as a user would; yields the settings and the log."""
    root = tmp_path_factory.mktemp("young")
    home = root / "workspace"
    with pytest.MonkeyPatch.context() as patch:
        clear_lifecycle_environ(patch)
        log = demo_purchase_log(root / "demo", users=USERS, seed=SEED, days=DAYS)
        log.to_csv(root / "orders.csv", index=False)
        settings = load_settings(home=home, environ=_environ(home))
        _publish(settings, root / "orders.csv")
        yield settings, log


def _publish(settings: Settings, orders: Path) -> None:
    """Ingest the log of ``orders`` as dataset DATASET and publish its features, as a user would."""
    steps = [
        ("ingest", str(orders), "--dataset", DATASET, "--event-type", "purchase"),
        ("features", "build"),
        ("features", "apply"),
        ("features", "materialize"),
    ]
    for i, step in enumerate(steps):
        done = _cli(settings, *step, *(PURCHASE_LOG_MAPS if i == 0 else ()))
        assert done.exit_code == 0, done.output


def _champion(settings: Settings, task: str, tmp_path: Path) -> tuple[str, ModelBundle]:
    client = registry.client(settings)
    version = registry.alias_version(client, f"{DATASET}-{task}", registry.CHAMPION)
    assert version is not None
    path = registry.bundle_path(client, f"{DATASET}-{task}", version.version, tmp_path)
    return str(version.version), ModelBundle.load(path)


def test_a_young_purchase_log_serves_label_free_churn_and_ltv(
    young: tuple[Settings, pd.DataFrame], tmp_path: Path
) -> None:
    settings, log = young
    churn = _cli(settings, "train", "churn")
    assert churn.exit_code == 0, churn.output
    assert (
        "label-free: too few outcomes to learn from (with a 90-day horizon no cutoff had matured"
        in churn.stdout
    )
    assert "first model: label-free purchase_process" in churn.stdout
    ltv = _cli(settings, "train", "ltv")
    assert ltv.exit_code == 0, ltv.output
    assert "no cutoff of dataset 'young' has a matured 365-day ltv horizon" in ltv.stdout
    assert "first model: label-free bgnbd_gamma_gamma" in ltv.stdout
    conversion = _cli(settings, "--json", "train", "conversion")
    assert conversion.exit_code == 0, conversion.output
    (trained,) = json.loads(conversion.stdout)["models"]
    assert trained["gate"].startswith("first model: label-free purchase_process"), trained
    # One event on a log of purchases: churn's champion answers conversion, so a refresh
    # whose conversion champion stayed does not name it "not promoted" (exit 3 every month).
    from lifecycle.refresh import not_promoted
    from serving.scoring import churn_answers

    assert set(churn_answers(settings, None, ["churn", "ltv", "conversion"])) == {"conversion"}
    # `models` says so beside the conversion champion, which answers nothing served (CDNOW:
    # "conversion v9 (baseline rfm_score) [champion]" while every answer was 1 - churn v1)
    churn_version, _ = _champion(settings, "churn", tmp_path / "churn-version")
    # and training said so when it promoted conversion's first model ("promoted to champion"
    # read as what is served; trial 95), in one line in place of the verdict (trial G #8)
    conversion_version, _ = _champion(settings, "conversion", tmp_path / "conversion-version")
    assert json.loads(conversion.stdout)["answered_by"] == {
        "conversion": f"1 - churn v{churn_version}"
    }
    again = _cli(settings, "train", "conversion")  # a refit of the same data: it stays
    assert again.exit_code == 0, again.output
    assert _champion(settings, "conversion", tmp_path / "conversion-again")[0] == (
        conversion_version
    )
    refit = registry.alias_version(
        registry.client(settings), f"{DATASET}-conversion", registry.CHALLENGER
    ).version
    assert again.stdout.splitlines()[-1] == (
        f"conversion: served as 1 - churn v{churn_version} on this log of purchases (one "
        "event: a conversion is a purchase in the horizon, churn none); its model "
        f"v{refit} is kept as challenger (its champion stays) and answers nothing"
    ), again.stdout
    assert "promoted to champion" not in again.stdout
    # the model's own facts stay (review 3 #3: every line of the task was dropped, its run
    # id and window too): its head line, no verdict or baseline beside the one line
    said = [line for line in again.stdout.splitlines() if line.startswith("conversion: ")]
    assert len(said) == 2 and said[0].startswith(f"conversion: young-conversion v{refit} (run "), (
        again.stdout
    )
    assert "label-free: too few outcomes to learn from" in said[0]
    verdicts = again.stdout.replace(again.stdout.splitlines()[-1], "")  # beside the one line
    assert verdicts.count("kept as challenger") == 1 and "baseline" not in again.stdout
    # its own verdict, as `lifecycle models` lists it under the version (it showed only there),
    # kept back as churn's lines say it (conversion's said the verdict alone)
    listed = json.loads(_cli(settings, "--json", "models").stdout)["models"]
    [own] = [r for r in listed if r["task"] == "conversion" and r["version"] == str(refit)]
    own_line = f"  v{refit}: kept as challenger: {own['gate']}"
    assert own["gate"] and own_line in again.stdout.splitlines(), again.stdout
    # what a refresh's reload says was served before it: as /score names it, so that a
    # conversion promotion is no change (trial 112: "conversion": "2", "changed" listed it)
    from lifecycle.refresh_reload import served_now

    assert served_now(settings, registry.client(settings)) == {
        "churn": churn_version,
        "conversion": f"1 - churn v{churn_version}",
        "ltv": _champion(settings, "ltv", tmp_path / "ltv-version")[0],
    }
    assert "answers nothing served" not in churn.stdout + ltv.stdout
    listed = _cli(settings, "models")
    assert listed.exit_code == 0, listed.output
    assert (
        f"  answers nothing served: conversion is served as 1 - churn v{churn_version} "
        "(one event on a log of purchases)"
    ) in listed.stdout.splitlines(), listed.stdout
    rows = json.loads(_cli(settings, "--json", "models").stdout)["models"]
    assert [r.get("answered_by") for r in rows if "champion" in r["aliases"]].count(
        f"1 - churn v{churn_version}"
    ) == 1
    held = {"task": "conversion", "champion": None, "gate": "lost", "served_by_churn": True}
    assert not_promoted({"not_trained": {}, "models": [held]}, {}) == {}
    assert not_promoted({"not_trained": {}, "models": [held | {"served_by_churn": False}]}, {}) == {
        "conversion": {"why": "lost", "trained": True, "champion": None}
    }

    features = pd.read_parquet(store_paths(settings).feature_table)
    latest = features[AS_OF].max()
    now = features[features[AS_OF] == latest]
    client = registry.client(settings)
    for task, kind in (("churn", "purchase_process"), ("ltv", "bgnbd_gamma_gamma")):
        version, bundle = _champion(settings, task, tmp_path / task)
        assert bundle.kind == kind and bundle.calibrator is None
        window = bundle.data_window
        assert window["label_free"]["why"] and window["kind"] == kind
        assert window["trained_on"] == {"cutoffs": [f"{latest:%Y-%m-%d}"], "rows": len(now)}
        tags = client.get_model_version(f"{DATASET}-{task}", version).tags
        assert tags["label_free"] == "true" and tags["kind"] == kind
        run = client.get_run(client.get_model_version(f"{DATASET}-{task}", version).run_id)
        assert run.info.run_name.startswith(f"{task}-{DATASET}-label_free_{kind}-")
        assert run.data.params["fitted_at"] == f"{latest:%Y-%m-%d}"

    # Batch scores: churn is MBG/NBD's P(no purchase in 90 days), fitted here from the log
    # itself (each purchase an order), for every customer; LTV a non-negative amount.
    scored = _cli(settings, "score-all", "--allow-partial")
    assert scored.exit_code == 0, scored.output
    scores = pd.read_parquet(settings.workspace.latest_scores)
    times = pd.to_datetime(log["Time"], utc=True)
    history = (
        log.assign(time=times)
        .groupby("Customer")["time"]
        .agg(orders="size", first="min", last="max")
    )
    days = lambda t: (latest - t).dt.total_seconds() / 86400.0  # noqa: E731
    frequency = history["orders"] - 1
    recency = (days(history["first"]) - days(history["last"])) / 7.0
    age = days(history["first"]) / 7.0
    process = MBGNBD.fit(frequency, recency, age)
    expected = pd.Series(
        process.probability_of_no_purchase(90 / 7.0, frequency, recency, age),
        index=history.index.astype(str),
    )
    served = scores.set_index(c.USER_ID)["churn_probability"]
    assert served.notna().all() and len(served) == len(history)
    assert np.allclose(served.reindex(expected.index), expected, atol=2e-3)
    assert scores["ltv"].notna().all() and (scores["ltv"] >= 0).all()
    # Its interval and P(any purchase) are the processes' own (lifecycle.btyd_interval).
    low, middle, high = (scores[f"ltv_p{q}"] for q in (10, 50, 90))
    assert high.notna().all() and (low <= middle).all() and (middle <= high).all()
    assert (high > 0).any() and scores["purchase_probability"].between(0, 1).all()
    # Conversion (one-time to repeat buyer): one-time buyers only, P(a purchase) of the
    # same process, fitted on every customer.
    once = history.index[history["orders"] == 1].astype(str)
    converts = scores.set_index(c.USER_ID)["conversion_probability"]
    assert converts.reindex(once).notna().all() and converts.drop(once).isna().all()
    assert np.allclose(converts.reindex(once), 1 - expected.reindex(once), atol=2e-3)
    # On a log of purchases only the two are one event, served as one probability.
    _, churn_bundle = _champion(settings, "churn", tmp_path / "churn-again")
    assert churn_bundle.data_window["activity"] == "purchases"
    assert np.allclose(converts.reindex(once) + served.reindex(once), 1.0, rtol=0, atol=1e-12)
    # refresh's score step names it so too (trial 112: "conversion": "3" there, while
    # score-all said "conversion 1 - churn v1")
    from lifecycle.refresh import _score

    detail = _score(settings, allow_partial=True)["model_versions"]
    assert detail["conversion"] == f"1 - churn v{churn_version}", detail

    # The in-process scorer answers the same, with reasons.
    from serving.scorer import Scorer

    scorer = Scorer(settings)
    scorer.load()
    users = list(expected.index[:20])
    answer = scorer.score(users, ["churn", "ltv"], reasons="fresh")
    table = scores.set_index(c.USER_ID)
    for user in answer.users:
        assert user.churn_probability == pytest.approx(served[user.user_id], abs=1e-9)
        assert user.ltv == pytest.approx(table.loc[user.user_id, "ltv"], rel=1e-9)
        assert user.ltv_p90 == pytest.approx(table.loc[user.user_id, "ltv_p90"], rel=1e-9)
    assert any(user.reasons for user in answer.users)
    models = _cli(settings, "models")
    assert models.exit_code == 0, models.output
    [line] = [row for row in models.stdout.splitlines() if row.startswith(f"{DATASET}-churn v1 ")]
    assert "(label-free purchase_process, " in line and "-day churn)" in line  # its horizon
    assert "champion" in line
    assert line.endswith("no outcome to test on")
    # Its first ten are new customers with a high LTV whose churn is under the average
    # user's (the converged MBG/NBD: a share leaves after the first purchase), so no reason
    # to give them, and the list says why; the older ones below have reasons.
    top = _cli(settings, "at-risk", "--top", "10")
    assert top.exit_code == 0 and "with no churn reason to give" in top.output, top.output
    listed = _cli(settings, "at-risk")
    assert listed.exit_code == 0 and "reasons:" in listed.stdout, listed.output
    # The report says a label-free champion has no outcome to test on, not MLflow's error.
    report = _cli(settings, "report", "--out", str(tmp_path / "report.html"))
    assert report.exit_code == 0, report.output
    text = (tmp_path / "report.html").read_text()
    assert "label-free (purchase_process): no outcome to test on" in text
    assert "Failed to download" not in text and "unavailable" not in text
    # A dataset neither held nor with models: refused, naming it and the datasets known.
    other = _cli(settings, "models", LIFECYCLE_DATASET="demo")
    assert other.exit_code == 1, other.output
    assert other.stderr.strip() == (
        f"Error: models: no dataset 'demo': no data in {settings.workspace.home} and no model "
        f"of it in the tracking store; it knows {DATASET}: lifecycle models --dataset {DATASET}"
    )


def test_a_label_free_refit_of_the_same_data_stays_challenger_and_of_fresher_data_replaces(
    young: tuple[Settings, pd.DataFrame], tmp_path: Path
) -> None:
    """online_retail: every `train all` on the same data moved the label-free LTV champion
    (v2 -> v3 -> v4, each "replaces label-free vN ... fitted on 3,658 users at 2011-10-01"),
    and /readyz then called the batch scores stale. A refit of the same data now stays
    challenger, as a rule that ties itself does; a refit after a week was appended replaces
    it."""
    from workspaces import copy_workspace

    source, log = young
    home = copy_workspace(source.workspace.home, tmp_path / "workspace")
    settings = load_settings(home=home, environ=_environ(home))
    first = _cli(settings, "train", "churn")
    assert first.exit_code == 0, first.output
    champion, _ = _champion(settings, "churn", tmp_path / "first")
    again = _cli(settings, "train", "churn")
    assert again.exit_code == 0, again.output
    assert "promoted to champion" not in again.stdout
    assert (
        f"learned from the same data as label-free champion v{champion} (dataset version "
    ) in again.stdout, again.stdout
    assert "the same settings), which stays; a refit on fresher data replaces it" in again.stdout
    assert _champion(settings, "churn", tmp_path / "again")[0] == champion
    week = log.tail(40).assign(  # the same customers buying again a week later
        Time=lambda rows: (pd.to_datetime(rows["Time"]) + pd.Timedelta(days=7)).dt.strftime(
            "%Y-%m-%d %H:%M:%S"
        )
    )
    week.to_csv(tmp_path / "week.csv", index=False)
    maps = ("--map", "user_id=Customer", "--map", "event_time=Time", "--map", "amount=Total")
    for step in (
        ("ingest", str(tmp_path / "week.csv"), "--dataset", DATASET, "--append", *maps),
        ("features", "build"),
    ):
        done = _cli(settings, *step)
        assert done.exit_code == 0, done.output
    fresher = _cli(settings, "train", "churn")
    assert fresher.exit_code == 0, fresher.output
    assert f"promoted to champion: replaces label-free v{champion}" in fresher.stdout


def test_train_all_and_refresh_go_on_past_a_task_the_data_cannot_train(
    young: tuple[Settings, pd.DataFrame],
) -> None:
    """Conversion to a first purchase has no label-free model (a purchase log has no
    never-buyers to convert): `train all` trains churn and the LTV and says why conversion
    was not trained, exiting 3 (done, not everything) as `refresh` does, which scores with
    the champions there are."""
    settings, _ = young
    first = {"LIFECYCLE_LABELS__CONVERSION_TARGET": "first_purchase"}
    done = _cli(settings, "--json", "train", "all", **first)
    assert done.exit_code == 3, done.output
    document = json.loads(done.stdout)
    assert [m["task"] for m in document["models"]] == ["churn", "ltv"]
    assert all(m["split"] is None and m["label_free"] for m in document["models"])
    assert list(document["not_trained"]) == ["conversion"]
    assert "no user is eligible for conversion" in document["not_trained"]["conversion"]
    lines = _cli(settings, "train", "all", **first)
    assert lines.exit_code == 3 and "not trained: conversion: " in lines.stdout, lines.output
    refreshed = _cli(settings, "--json", "refresh", **first)
    assert refreshed.exit_code == 3, refreshed.output
    report = json.loads(refreshed.stdout)
    assert report["status"] == "not_promoted" and report["error"] is None
    assert not report["not_promoted"]["conversion"]["trained"]
    [train] = [step for step in report["steps"] if step["step"] == "train"]
    assert train["status"] == "ran" and list(train["detail"]["not_trained"]) == ["conversion"]
    scores = pd.read_parquet(settings.workspace.latest_scores)
    assert scores["churn_probability"].notna().all() and scores["ltv"].notna().all()


def test_the_fallback_can_be_turned_off(young: tuple[Settings, pd.DataFrame]) -> None:
    settings, _ = young
    refused = _cli(settings, "train", "churn", LIFECYCLE_TRAINING__LABEL_FREE_FALLBACK="false")
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert "no cutoff had matured labels by the first test cutoff" in refused.stderr
    assert "a train cutoff before a validation pool needs cutoffs spanning" in refused.stderr
    assert "label-free" not in refused.stderr


def test_a_label_free_model_does_not_displace_a_champion_judged_on_outcomes(
    trained_copy: Path,
) -> None:
    """On the demo, LightGBM's LTV is champion (judged on test cutoffs). With too few rows
    for the split's parts (a small shop), the label-free LTV serves in LightGBM's place but
    stays challenger; made champion by hand, the next LightGBM that beats its baselines
    replaces it through the usual gate."""
    from lifecycle.registry import promote
    from training.pipeline import train_task

    environ = NO_PLOTS | {"LIFECYCLE_TRAINING__MIN_ROWS": "100000"}
    small = load_settings(home=trained_copy, environ=environ)
    client = registry.client(small)
    judged = registry.alias_version(client, "demo-ltv", registry.CHAMPION)
    label_free = train_task(small, "ltv")
    assert not label_free.promoted and label_free.split is None
    assert "training rows (need 100000)" in label_free.report["label_free"]
    assert f"champion v{judged.version}, which was judged on outcomes" in label_free.gate
    # Nothing serves here: the promoted LightGBM's trees need no compiling (test_compiled);
    # what replaces the label-free champion is any LightGBM beating the baselines: few trees.
    settings = load_settings(home=trained_copy, environ=NO_COMPILE | NO_PLOTS | few_rounds())
    promote(settings, "ltv", label_free.version, reason="test: a label-free champion")
    lightgbm = train_task(settings, "ltv")
    assert lightgbm.promoted, lightgbm.gate
    assert f"champion v{label_free.version} learned from no outcome" in lightgbm.gate
    assert "> best baseline " in lightgbm.gate  # it beat the baselines too, as a first model


def test_churn_of_an_old_log_with_sessions_gets_no_label_free_model(
    trained_workspace: TrainedWorkspace,
) -> None:
    """The demo has sessions, so no purchase is not no activity, and users seen for longer
    than the longest activity window, whose active days are not all counted: churn with a
    horizon too long for its history is refused with both reasons (the shared workspace is
    left as it was)."""
    done = CliRunner().invoke(
        main,
        ["--home", str(trained_workspace.home), "train", "churn"],
        env={"LIFECYCLE_LABELS__CHURN_HORIZON_DAYS": "700", **NO_COMPILE},
    )
    assert done.exit_code == 1 and "Traceback" not in done.output
    assert "no label-free model" in done.stderr and "of users have sessions" in done.stderr
    assert "users were seen before the longest activity window (365 days)" in done.stderr


def test_refresh_of_a_shop_too_young_for_any_model_skips_scoring(
    young: tuple[Settings, pd.DataFrame], tmp_path: Path
) -> None:
    """With no task trainable (two customers, one order each), refresh's score step failed:
    "cannot score with every champion: ... run `lifecycle train churn`", the command the
    train step had just run and reported as impossible."""
    settings, _ = young
    orders = tmp_path / "newborn.csv"
    orders.write_text(
        "user_id,event_time,event_type,amount\n"
        "a,2025-01-04 08:26:00,purchase,15.3\nb,2025-02-01 08:45:00,purchase,90\n"
    )
    done = _cli(settings, "--json", "refresh", str(orders), "--dataset", "newborn")
    assert done.exit_code == 3, done.output  # done, but a task could not be trained
    report = json.loads(done.stdout)
    assert report["status"] == "not_promoted" and report["error"] is None
    assert {t: kept["champion"] for t, kept in report["not_promoted"].items()} == dict.fromkeys(
        ("churn", "conversion", "ltv")
    )
    steps = {step["step"]: step for step in report["steps"]}
    assert set(steps["train"]["detail"]["not_trained"]) == {"churn", "conversion", "ltv"}
    assert steps["score"]["status"] == "skipped" and steps["report"]["status"] == "skipped"
    assert steps["score"]["why"] == (
        "no champion to score with: churn, conversion, ltv cannot be trained yet"
    )
    assert "lifecycle train" not in done.output


def test_a_horizon_too_long_for_the_split_is_learned_shorter_and_served_bridged(
    young: tuple[Settings, pd.DataFrame], tmp_path: Path
) -> None:
    """The young shop with a 70-day churn horizon: no split at 70 days, one at 28 with as
    many train cutoffs as test ones, so churn is learned, evaluated and gated at 28 days and
    served on 70 through the purchase process (``training.bridge``), not label-free."""
    settings, log = young
    orders = tmp_path / "orders.csv"
    log.to_csv(orders, index=False)
    env = {"LIFECYCLE_DATASET": "bridged", "LIFECYCLE_LABELS__CHURN_HORIZON_DAYS": "70"}
    env |= {"LIFECYCLE_TRAINING__MIN_ROWS": "10", "LIFECYCLE_TRAINING__MIN_POSITIVES": "5"}
    maps = ("--map", "user_id=Customer", "--map", "event_time=Time", "--map", "amount=Total")
    for step in (
        ("ingest", str(orders), "--dataset", "bridged", "--event-type", "purchase", *maps),
        ("features", "build"),
        ("features", "apply"),
        ("features", "materialize"),
    ):
        done = _cli(settings, *step, **env)
        assert done.exit_code == 0, done.output
    churn = _cli(settings, "train", "churn", **env)
    assert churn.exit_code == 0, churn.output
    assert "learning at 28 days instead, served on 70 days through the purchase process" in (
        churn.output
    )
    assert "label-free" not in churn.stdout, churn.output
    # the result's own line (what `refresh` repeats) says it too, not only the progress
    assert ", learned at 28 days, served on 70, test " in churn.stdout, churn.stdout
    client = registry.client(settings)
    version = registry.alias_version(client, "bridged-churn", registry.CHAMPION)
    assert version is not None
    bundle = ModelBundle.load(
        registry.bundle_path(client, "bridged-churn", version.version, tmp_path / "bundle")
    )
    assert bundle.label["horizon_days"] == 70  # what its scores mean
    assert bundle.data_window["bridge"] == {"learned_days": 28, "served_days": 70}
    assert bundle.bridge is not None and bundle.bridge["process"]["first"] == 1.0  # MBG/NBD
    # trained for the settings asked (70 days): `refresh` does not train it again
    asked = load_settings(
        home=settings.workspace.home, environ=_environ(settings.workspace.home, **env)
    )
    assert model_problem(asked, client, "bridged", "churn") is None
    # the report says the test metrics shown are of the learned horizon
    [shown] = champion_evaluations(asked, "bridged", {"churn": str(version.version)})
    assert shown.kind.endswith(", learned at 28 days, served on 70") and shown.problem is None
    models = _cli(settings, "models", **env)
    [line] = [row for row in models.stdout.splitlines() if row.startswith("bridged-churn v1 ")]
    assert "learned at 28 days, test " in line, models.stdout  # its test cutoffs, first..last
    # in JSON a version is text, as `train --json` and the API give it, and days a number
    listed = json.loads(_cli(settings, "--json", "models", **env).stdout)["models"]
    [row] = [r for r in listed if r["model"] == "bridged-churn" and r["version"] == "1"]
    assert row["learned_days"] == 28
    learned_on = bundle.data_window["test_cutoffs"]
    assert len(bundle.data_window["train_cutoffs"]) >= len(learned_on)
    # Scored on 70 days: the learned probability of no activity in 28 days, times the
    # process's chance of none in the 42 after; the in-process scorer (the array path:
    # the row path does not bridge) answers the same.
    scored = _cli(settings, "score-all", "--allow-partial", **env)
    assert scored.exit_code == 0, scored.output
    bridged = load_settings(
        home=settings.workspace.home, environ=_environ(settings.workspace.home, **env)
    )
    scores = pd.read_parquet(bridged.workspace.latest_scores)
    assert scores["churn_model_version"].astype(str).eq(str(version.version)).all()
    features = pd.read_parquet(store_paths(bridged).feature_table)
    now = features[features[AS_OF] == features[AS_OF].max()].set_index(c.USER_ID)
    X = bundle.encode(now)
    served = bundle.predict_matrix(X)
    bridge, bundle.bridge = bundle.bridge, None
    learned = bundle.predict_matrix(X)
    assert (served <= learned + 1e-12).all() and (served < learned - 1e-6).any()
    table = scores.set_index(c.USER_ID)["churn_probability"].reindex(now.index.astype(str))
    assert np.allclose(table.to_numpy(), served, rtol=0, atol=1e-9)
    from serving.scorer import Scorer

    scorer = Scorer(bridged)
    scorer.load()
    users = list(table.index[:5])
    for user in scorer.score(users, ["churn"], reasons="none").users:
        assert user.churn_probability == pytest.approx(table[user.user_id], abs=1e-9)
    assert bridge["learned_days"] == 28
    # Where no shorter horizon serves either, the last one tried says why before the
    # label-free model is fitted (it said only why 70 days did not split).
    env |= {"LIFECYCLE_TRAINING__MIN_ROWS": "1000000"}
    again = _cli(settings, "train", "churn", **env)
    assert again.exit_code == 0, again.output
    assert re.search(
        r"churn: at 2\d days: only \d+ training rows \(need 1000000\); counts \{.*\}; no "
        "shorter horizon tried serves",
        again.output,
    ), again.output
    assert "label-free" in again.stdout


def _bundle(task: str, window: dict[str, object], horizon: int, **more: object) -> ModelBundle:
    label = {"task": task, "horizon_days": horizon, "target": "repeat_purchase"}
    return ModelBundle(task, None, [], {}, "service", label, window, **more)


def test_a_models_learned_until_is_where_the_events_it_learned_from_end() -> None:
    """`lifecycle outcomes` graded a label-free LTV's own-day forecast "in sample, v1 learned
    the outcomes up to 2011-09-30" (trial W F4): its learned_until was its fit date plus the
    horizon, though it learned no outcome and saw only the events before that date. A bridged
    model's was its served horizon's end, not the shorter one it learned at."""
    trained = {"cutoffs": ["2011-03-07", "2011-05-02"], "rows": 900}
    supervised = _bundle("churn", {"trained_on": trained}, 90)
    assert supervised.outcomes_learned_until == "2011-07-31"  # 2011-05-02 + 90 days
    fitted = {"cutoffs": ["2011-08-01"], "rows": 2064}
    label_free = {"label_free": {"why": "young"}, "trained_on": fitted}
    label_free["rule_fitted_on"] = {"cutoff": "2011-08-01", "rows": 2064}
    assert _bundle("ltv", label_free, 60).outcomes_learned_until == "2011-08-01"
    bridged = {"trained_on": trained, "bridge": {"learned_days": 28, "served_days": 70}}
    bridge = {"learned_days": 28, "served_days": 70}
    assert _bundle("churn", bridged, 70, bridge=bridge).outcomes_learned_until == "2011-05-30"
    # its purchase process, fitted on the users at the latest cutoff, saw the events to then
    bridge |= {"at": "2011-06-06"}
    assert _bundle("churn", bridged, 70, bridge=bridge).outcomes_learned_until == "2011-06-06"
    # so did a blend's rule, fitted on the users of now
    blended = {"trained_on": trained, "rule_fitted_on": {"cutoff": "2011-08-08", "rows": 9}}
    assert _bundle("ltv", blended, 90).outcomes_learned_until == "2011-08-08"


def test_conversion_answered_by_churn_records_churns_learned_until() -> None:
    """The scores' metadata gave conversion served as 1 - churn its own unused model's
    learned_until (2011-09-04 where churn v1 of 2011-07-31 answered it, trial W F4)."""
    from features.labels import ACTIVITY, PURCHASES
    from serving.learned import learned_after_words, learned_until
    from serving.scoring import Champions

    churn = _bundle("churn", {"trained_on": {"cutoffs": ["2011-05-02"]}, ACTIVITY: PURCHASES}, 90)
    conversion = _bundle("conversion", {"trained_on": {"cutoffs": ["2011-06-06"]}}, 90)
    champions = Champions(
        {"churn": churn, "conversion": conversion}, {"churn": "1", "conversion": "4"}
    )
    assert champions.kinds["conversion"] == "churn_complement"
    learned = learned_until(champions)
    assert learned == {"churn": "2011-07-31", "conversion": "2011-07-31"}
    made_with = {"as_of": "2011-07-04", "model_versions": champions.versions}
    made_with |= {"model_kinds": champions.kinds, "learned_until": learned}
    assert learned_after_words(made_with) == (
        "churn v1 learned from the events up to 2011-07-31; conversion 1 - churn v1 learned from "
        "the events up to 2011-07-31, after 2011-07-04 (their scores are not a forecast as of then)"
    )


def test_conversion_a_churn_lookback_leaves_to_its_own_champion_is_said_answered_by_both(
    tmp_path: Path,
) -> None:
    """With labels.churn_lookback_days churn scores only the recently active, and conversion's
    own champion answers the one-time buyers churn leaves out (54 of 69 on the demo's purchase
    log with 60 days). Its kind was churn_complement all the same: the gate took that champion
    for no rival, `models`, the report and /models said none of the conversion versions
    answers, and staleness, learned_until and the outcomes followed churn's version alone."""
    from features.labels import ACTIVITY, PURCHASES
    from lifecycle.outcomes import _identity
    from serving.learned import learned_until
    from serving.ledger import LedgerEntry
    from serving.scoring import Champions, answered_by, served_versions, versions_text

    churn = _bundle("churn", {"trained_on": {"cutoffs": ["2011-05-02"]}, ACTIVITY: PURCHASES}, 90)
    churn.label["lookback_days"] = 60
    conversion = _bundle("conversion", {"trained_on": {"cutoffs": ["2011-06-06"]}}, 90)
    champions = Champions(
        {"churn": churn, "conversion": conversion}, {"churn": "1", "conversion": "4"}
    )
    assert champions.one_event and not champions.churn_answers_all  # 1 - churn where scored
    kinds = champions.kinds
    assert kinds["conversion"] == "churn_complement_else_lightgbm"
    # its champion answers: a rival at the gate (steps.answered_elsewhere), said nothing of
    assert answered_by(champions.versions, kinds) == {}
    both = "1 - churn v1 where churn scores, else v4"
    assert served_versions(champions) == {"churn": "1", "conversion": both}
    assert versions_text(champions.versions, kinds) == f"churn v1, conversion {both}"
    # either model's answers past the as-of are no forecast: the later of the two
    learned = learned_until(champions)
    assert learned == {"churn": "2011-07-31", "conversion": "2011-09-04"}
    made_with = {"as_of": "2011-08-01", "model_versions": champions.versions}
    labels = {t: b.label for t, b in champions.bundles.items()}
    made_with |= {"model_kinds": kinds, "learned_until": learned, "labels": labels}
    row = _identity(LedgerEntry(tmp_path / "ledger.parquet", made_with), "conversion")
    assert row["answered_by"] == both
    # and where each answers, in one wording (`models`, the report, /models, the units line)
    from lifecycle.settings import load_settings
    from serving.one_event import served_in_part, served_where
    from serving.units import units_for

    said = served_where(champions.versions, kinds, labels)["conversion"]
    assert (
        said
        == served_in_part("conversion", "1 - churn v1", "v4", 60)
        == (
            "conversion is served as 1 - churn v1 where churn scores (the users active in the 60 "
            "days up to the as-of; one event on a log of purchases), else by conversion v4 (the "
            "users churn's lookback leaves out)"
        )
    )
    window = units_for(load_settings(home=tmp_path / "ws", environ={}), made_with).windows
    assert window["conversion"].endswith(f"in the next 90 days, on this log any purchase: {said}")
    # without a lookback churn answers every conversion user, as before
    churn.label["lookback_days"] = None
    assert champions.churn_answers_all
    assert answered_by(champions.versions, champions.kinds) == {"conversion": "1 - churn v1"}


def test_users_who_came_back_without_a_purchase_make_activity_more_than_purchases() -> None:
    """A clickstream whose types the contract does not know (catalog, cart), with no purchase
    read as one: churn was the absence of purchases, none to fit, and no label-free churn served
    (\"MBG/NBD needs at least 20 customers with a repeat purchase, got 0\"). Users who came
    back after their first day without buying are activity beyond purchases; a purchase log's
    users who only signed up (their last activity is their first) are not."""
    from training.label_free import activity_beyond_purchases

    users = 200
    no_orders = np.zeros(users)
    browsing = pd.DataFrame(
        {
            "orders_total": no_orders,
            "sessions_total": no_orders,
            "tenure_days": np.full(users, 100.0),
            "recency_days": np.linspace(0, 100, users),  # most came back on a later day
            "purchase_recency_days": np.full(users, np.nan),
        }
    )
    why = activity_beyond_purchases(browsing)
    assert why is not None and "of users came back without one" in why
    signed_up = browsing.assign(recency_days=browsing["tenure_days"])  # sign-ups only
    buyers = pd.DataFrame(  # and buyers whose last activity is their last purchase
        {
            "orders_total": np.ones(users),
            "sessions_total": no_orders,
            "tenure_days": np.full(users, 100.0),
            "recency_days": np.linspace(0, 100, users),
            "purchase_recency_days": np.linspace(0, 100, users),
        }
    )
    assert activity_beyond_purchases(pd.concat([signed_up, buyers])) is None


def test_a_young_log_whose_order_values_have_no_mean_refuses_the_ltv_in_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Order values so heavy-tailed (a few orders thousands of times the usual) that
    Gamma-Gamma's fitted q is not above 1 have no mean order value: a one-time buyer's value
    is undefined. The label-free LTV is refused in one line saying so (it ended in a
    BTYDError traceback from the fitted rule's term means), and churn still trains."""
    clear_lifecycle_environ(monkeypatch)
    home = tmp_path / "workspace"
    log = demo_purchase_log(tmp_path / "demo", users=USERS, seed=SEED, days=DAYS)
    # each customer's orders scaled by a Pareto draw without a mean (u ** -2)
    customers = log["Customer"].unique()
    draws = np.random.default_rng(8).uniform(0, 1, len(customers)) ** -2.0
    scale = dict(zip(customers, draws, strict=True))
    log["Total"] = (log["Total"] * log["Customer"].map(scale)).round(2)
    log.to_csv(tmp_path / "orders.csv", index=False)
    settings = load_settings(home=home, environ=_environ(home))
    _publish(settings, tmp_path / "orders.csv")
    refused = _cli(settings, "train", "ltv")
    assert refused.exit_code == 1 and "Traceback" not in refused.output, refused.output
    assert isinstance(refused.exception, SystemExit), refused.exception  # no BTYDError
    said = " ".join(refused.stderr.split())
    assert re.search(
        r"ltv: .*; and no label-free model: Gamma-Gamma has no mean order value on these "
        r"[\d,]+ repeat customers: its fitted q 0\.\d+ is not above 1 \(their order values, "
        r"median [\d,.]+, largest [\d,.]+, are too heavy-tailed\)",
        said,
    ), said
    assert _cli(settings, "train", "churn").exit_code == 0


def test_a_count_only_logs_label_free_ltv_is_expected_purchases_in_whole_purchases(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Session 58 (BT3): a log of purchase days without amounts (`--amount-default 1`) has
    every order worth 1 purchase; its label-free LTV fitted Gamma-Gamma on those equal values
    (p and q on their bound e^12) and served 'BG/NBD expected purchases x Gamma-Gamma order
    value': each value expected purchases x 1.000005, and an interval of a purchase count
    smeared by a spend spread no order has (P10 1.0016, P50 2.9983, P90 10.005 purchases).
    It now serves expected purchases x the one order value and the levels of the count in
    whole purchases, and says no spend is modelled."""
    from lifecycle.btyd_features import outlook_of_columns

    clear_lifecycle_environ(monkeypatch)
    home = tmp_path / "workspace"
    log = demo_purchase_log(tmp_path / "demo", users=USERS, seed=SEED, days=DAYS)
    days = pd.DataFrame({"Customer": log["Customer"], "Day": log["Time"].str[:10]})
    days.drop_duplicates().to_csv(tmp_path / "days.csv", index=False)
    settings = load_settings(home=home, environ=_environ(home))
    steps = [
        ("ingest", str(tmp_path / "days.csv"), "--dataset", DATASET, "--event-type", "purchase",
         "--map", "user_id=Customer", "--map", "event_time=Day", "--amount-default", "1"),
        ("features", "build"),
        ("features", "apply"),
        ("features", "materialize"),
    ]  # fmt: skip
    for step in steps:
        done = _cli(settings, *step)
        assert done.exit_code == 0, done.output
    trained = _cli(settings, "train", "ltv")
    assert trained.exit_code == 0, trained.output
    said = " ".join(trained.output.split())
    assert (
        "label-free bgnbd_gamma_gamma (BG/NBD expected purchases x 1, every order's value (no "
        "spend to model)) fitted on " in said
    ), said
    _, bundle = _champion(settings, "ltv", tmp_path / "bundle")
    rule = bundle.booster
    assert "gamma_gamma" not in rule.params and rule.params["order_value"] == 1.0
    table = pd.read_parquet(store_paths(settings).feature_table)
    rows = table[table[AS_OF] == table[AS_OF].max()]
    matrix = rows[bundle.feature_names].to_numpy(dtype=float)
    outlook = bundle.value_outlook_matrix(matrix)
    expected = outlook_of_columns(
        rule.params["bgnbd"],
        lambda name: matrix[:, bundle.feature_names.index(name)],
        float(rule.params["horizon_days"]),
    )[1]
    assert np.allclose(bundle.predict_matrix(matrix), np.nan_to_num(expected), rtol=1e-12)
    levels = outlook[:, 1:4]  # P10, P50, P90: whole purchases
    assert np.array_equal(levels, np.round(levels)) and levels[:, 2].max() >= 2
