"""The promotion gate on a real MLflow registry: its rules and reasons, a better challenger,
manual promotion, and a baseline rule that wins its gate and is registered and served."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from services import run_cli
from workspaces import NO_COMPILE, NO_PLOTS, TrainedWorkspace, copy_workspace, replace_demo

from features.asof import AS_OF
from features.labels import LABEL
from features.store import store_paths
from lifecycle import lineage, registry
from lifecycle.bundle import ModelBundle
from lifecycle.cli import main
from lifecycle.registry import PromotionError, UnknownVersion, promote
from lifecycle.rules import feature_matrix
from lifecycle.settings import Settings, load_settings
from training import models as model_specs
from training.pipeline import (
    METHOD,
    Method,
    TrainingError,
    TrainResult,
    train_task,
)
from training.tracking import list_models


@pytest.fixture(scope="module")
def rule_won(trained_workspace: TrainedWorkspace, tmp_path_factory: Any) -> Any:
    """Churn trained again as a one-split stump, which loses its gate to a baseline rule,
    once per module: the tests below change copies of it."""
    home = copy_workspace(trained_workspace.home, tmp_path_factory.mktemp("rule") / "workspace")
    with pytest.MonkeyPatch.context() as patch:
        _stumps(patch, "churn")
        return home, train_task(load_settings(home=home, environ=NO_PLOTS), "churn")


def test_better_challenger_is_promoted(
    trained_copy: Path, trained: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    # NO_COMPILE: the 1,000-tree champion would be compiled at registration (test_compiled's job)
    settings = load_settings(home=trained_copy, environ=NO_COMPILE | NO_PLOTS)
    stump = dataclasses.replace(model_specs.spec_of("conversion"), num_boost_round=1)
    monkeypatch.setitem(model_specs.SPECS, "conversion", stump)
    weak = train_task(settings, "conversion")
    promote(settings, "conversion", weak.version, reason="test: install a weak champion")
    monkeypatch.setitem(
        model_specs.SPECS, "conversion", dataclasses.replace(stump, num_boost_round=1000)
    )
    strong = train_task(settings, "conversion")
    assert strong.promoted, strong.gate
    # the champion's metric was recorded on its own test: each against the best baseline
    assert f", more than champion v{weak.version} was against " in strong.gate, strong.gate


def test_a_champion_that_learned_outcomes_of_the_earliest_test_cutoff_is_not_rescored(
    trained_copy: Path,
) -> None:
    """Test rows span several cutoffs: a champion whose training labels reach past the
    earliest of them (not past the last) knows part of those rows' outcomes. On online_retail
    after appending three months, champion v1 re-scored so scored 0.7449 against the fresh
    model's 0.7339 and kept serving the model of June; its recorded out-of-time metric is
    what the gate takes."""
    from training.promotion import gate_on_test

    settings = load_settings(home=trained_copy, environ=NO_PLOTS)
    client = registry.client(settings)
    champion = registry.alias_version(client, "demo-churn", registry.CHAMPION)
    path = registry.bundle_path(client, "demo-churn", champion.version, trained_copy.parent)
    current = ModelBundle.load(path)
    last = pd.Timestamp(max(current.data_window["trained_on"]["cutoffs"]), tz="UTC")
    horizon = pd.Timedelta(days=int(current.label["horizon_days"]))
    features = pd.read_parquet(store_paths(settings).feature_table)
    rows = features[features[AS_OF] == features[AS_OF].max()].head(400).copy()
    # the first half a week after the champion's last cutoff (its outcomes overlap what the
    # champion learned), the second a week after its labels end
    rows[AS_OF] = np.where(
        np.arange(len(rows)) < len(rows) // 2,
        last + pd.Timedelta(days=7),
        last + horizon + pd.Timedelta(days=7),
    )
    rows = rows.assign(**{LABEL: np.arange(len(rows)) % 2})
    _, verdict = gate_on_test(
        settings, client, "demo-churn", "churn", champion.version, rows, {"auc": 0.0}
    )
    # each test named by its cutoffs' range, as the training's line names it (trial M: "on
    # test 2011-09-10" named the last of four)
    tested = current.data_window["evaluated_on"]["test_cutoffs"]
    on = f"{tested[0]}..{tested[-1]}"
    assert len(tested) > 1, tested
    assert f"{current.metrics['auc']:.4f} (recorded on its test {on})" in verdict, verdict
    ours_on = f"{rows[AS_OF].min():%Y-%m-%d}..{rows[AS_OF].max():%Y-%m-%d}"
    # Recorded on another period's test: each judged by how far it beats the best baseline
    # on its own (online_retail's monthly refreshes held churn at 0.7424 against a champion's
    # 0.7427 recorded months before, and conversion for good).
    logged = client.get_run(champion.run_id).data.metrics
    level = max(("rfm_score", "recency_rule"), key=lambda rule: logged[f"{rule}.auc"])
    theirs = current.metrics["auc"] - logged[f"{level}.auc"]
    rivals = {"rfm_score": {"auc": 0.50}, "recency_rule": {"auc": 0.45}}
    for ours, promoted in ((0.5 + theirs - 0.001, False), (0.5 + theirs + 0.001, True)):
        won, verdict = gate_on_test(
            settings, client, "demo-churn", "churn", champion.version, rows, {"auc": ours},
            baselines=rivals,
        )  # fmt: skip
        against = (
            f"more than champion v{champion.version} was against {level} on its test {on} "
            f"({theirs:+.4f}; it recorded {current.metrics['auc']:.4f})"
        )
        assert won == promoted and against in verdict, verdict
        assert verdict.startswith(f"auc {ours:.4f} on test {ours_on} is ") and (
            f" is {ours - 0.5:+.4f} against the best baseline rfm_score, " in verdict
        )
        assert (", not more than " in verdict) == (not won), verdict
        if won:  # the one promoted goes back: the case below is the champion's
            promote(settings, "churn", str(champion.version), reason="test: back")
    # every test cutoff a horizon after what it learned: re-scored on the rows themselves
    late = rows.assign(**{AS_OF: last + horizon + pd.Timedelta(days=7)})
    _, verdict = gate_on_test(
        settings, client, "demo-churn", "churn", champion.version, late, {"auc": 0.0}
    )
    assert "recorded on its test" not in verdict and f"champion v{champion.version} " in verdict


def test_a_champion_level_within_noise_gives_way_to_the_model_of_fresher_data(
    trained_copy: Path,
) -> None:
    """CDNOW, monthly refreshes: churn v1 of July stayed champion for nine months, each
    challenger 0.0001-0.003 AUC behind on the same test rows, while v1's churn of every
    one-time buyer reached 0.9999. Level within noise (the 95% paired bootstrap interval of
    the difference reaches above zero), the challenger of fresher data replaces it; not
    when it learned from the same data, nor when it is behind beyond noise."""
    from training.evaluation import roc_auc
    from training.promotion import gate_on_test, tested_on

    settings = load_settings(home=trained_copy, environ=NO_PLOTS)
    client = registry.client(settings)
    champion = registry.alias_version(client, "demo-churn", registry.CHAMPION)
    current = ModelBundle.load(
        registry.bundle_path(client, "demo-churn", champion.version, trained_copy.parent)
    )
    last = max(current.data_window["trained_on"]["cutoffs"])
    horizon = pd.Timedelta(days=int(current.label["horizon_days"]))
    features = pd.read_parquet(store_paths(settings).feature_table)
    rows = features[features[AS_OF] == features[AS_OF].max()].head(600).copy()
    rows[AS_OF] = pd.Timestamp(last, tz="UTC") + horizon + pd.Timedelta(days=7)  # re-scored
    theirs = current.predict(rows)
    rng = np.random.default_rng(0)
    rows[LABEL] = (rng.random(len(rows)) < theirs).astype(int)  # outcomes as it foresees
    level = theirs + rng.normal(0, 0.05, len(rows))  # the same ranking, a little noise
    ours = roc_auc(rows[LABEL], level)
    assert ours < roc_auc(rows[LABEL], theirs)  # behind on these rows, by noise
    later = f"{pd.Timestamp(last) + pd.Timedelta(days=28):%Y-%m-%d}"

    def judged(scores: np.ndarray, through: str) -> tuple[bool, str]:
        return gate_on_test(
            settings, client, "demo-churn", "churn", champion.version, rows,
            {"auc": roc_auc(rows[LABEL], scores)}, scores={"lightgbm": scores},
            trained_through=through,
        )  # fmt: skip

    won, verdict = judged(level, last)  # the same data: nothing fresher to prefer
    assert not won and " does not beat " in verdict and "within noise" not in verdict
    behind = roc_auc(rows[LABEL], theirs) - ours
    # a loss says whether it is beyond noise: the paired interval of the difference on these
    # rows ("behind by 0.0025" of CDNOW's 23,570 rows said nothing of it), as the run's tags
    said, interval = verdict.split("; 95% interval of the difference ")
    assert said.endswith(f" on test {tested_on(rows[AS_OF])}, behind by {behind:.4f}"), verdict
    low, high = (float(x) for x in interval.split("]")[0].strip("[").split(", "))
    assert low < -behind < high and interval.endswith("], not beyond noise") and high > 0, verdict
    run_id = client.get_model_version("demo-churn", champion.version).run_id
    tags = client.get_run(run_id).data.tags
    assert tags["gate.versus"] == f"champion v{champion.version}", tags
    assert float(tags["gate.difference_low"]) == pytest.approx(low, abs=5e-5)
    assert float(tags["gate.difference_high"]) == pytest.approx(high, abs=5e-5)
    assert tags["gate.beyond_noise"] == "false"
    won, verdict = judged(rng.random(len(rows)), later)  # behind beyond noise
    assert not won and "within noise" not in verdict, verdict
    assert verdict.endswith("], beyond noise"), verdict
    assert client.get_run(run_id).data.tags["gate.beyond_noise"] == "true"
    won, verdict = judged(level, later)
    assert won, verdict
    assert verdict.startswith(f"auc {ours:.4f} does not beat champion v{champion.version} ")
    low, high = (float(x) for x in verdict.split("difference [")[1].split("]")[0].split(", "))
    assert low < ours - roc_auc(rows[LABEL], theirs) < 0 < high
    assert verdict.endswith("]): the model of the fresher data replaces it")
    recorded = client.get_model_version("demo-churn", champion.version).tags[registry.GATE_TAG]
    assert recorded == verdict  # `lifecycle models` shows why


def _judged_as_a_first_model(client: Any, result: TrainResult, why: str) -> None:
    """The challenger was promoted against the baselines alone, its verdict saying ``why``
    its champion was no rival, and serves."""
    assert result.promoted, result.gate
    assert result.gate.startswith(f"{why}; judged as a first model; auc "), result.gate
    assert " > best baseline " in result.gate  # judged against the baselines all the same
    champion = registry.alias_version(client, result.model_name, registry.CHAMPION)
    assert str(champion.version) == result.version


def _demo_replaced(settings: Any, tmp_path: Path) -> tuple[Any, Any, str, str]:
    """The demo replaced by 800 other customers under the same ids (a new ingest, not an
    append), its features built and published: the registry client, the churn champion
    before, its dataset version and the new one."""
    from lifecycle import steps

    client = registry.client(settings)
    before = registry.alias_version(client, "demo-churn", registry.CHAMPION)
    old = before.tags["lineage.dataset_version"]
    replace_demo(settings, tmp_path / "other", users=800)
    steps.build_features(settings)
    steps.publish_features(settings)
    return client, before, old, settings.workspace.dataset_dir("demo").resolve().name


def test_a_champion_of_replaced_data_is_no_rival_the_challenger_is_judged_as_a_first_model(
    trained_copy: Path, tmp_path: Path
) -> None:
    """`lifecycle run --users 1500` after the default demo replaced it by other customers
    under the same ids; every new model lost the gate to the old data's champion on its
    recorded test, and the models of data that no longer exists served on."""
    from experiment_runs import few_rounds

    settings = load_settings(home=trained_copy, environ=NO_COMPILE | NO_PLOTS | few_rounds())
    client, before, old, now = _demo_replaced(settings, tmp_path)
    result = train_task(settings, "churn")
    _judged_as_a_first_model(
        client,
        result,
        f"champion v{before.version}'s data was replaced: dataset version {old} was replaced "
        f"by {now} (a new ingest, not an append)",
    )
    champion = registry.alias_version(client, "demo-churn", registry.CHAMPION)
    assert champion.tags["lineage.dataset_version"] == now


def test_a_champion_of_replaced_data_keeps_its_label_definition_until_a_change_is_accepted(
    trained_copy: Path, tmp_path: Path
) -> None:
    """Session 58 (NEWU): after `promote churn 1` back to the old demo's 90-day churn (its
    data replaced since), `labels.churn_horizon_days=60` and `train churn` replaced it by a
    60-day v3 "judged as a first model", with no --accept-definition-change: a champion of
    replaced data skipped the definition check. Its definition is the one on its own version
    whatever data it learned from: the gate, `promote` and `refresh` hold the change back
    until accepted; accepted, the verdict says both the change and the replaced data."""
    from experiment_runs import few_rounds

    from lifecycle.refresh import model_problem

    environ = NO_COMPILE | NO_PLOTS | few_rounds()
    settings = load_settings(home=trained_copy, environ=environ)
    client, before, old, now = _demo_replaced(settings, tmp_path)
    sixty = load_settings(
        home=trained_copy, environ=environ | {"LIFECYCLE_LABELS__CHURN_HORIZON_DAYS": "60"}
    )
    held = train_task(sixty, "churn")
    changed = f"label definition differs from champion v{before.version} (horizon_days 90 -> 60)"
    assert not held.promoted and held.gate.startswith(f"{changed}: refused, "), held.gate
    assert held.gate.endswith(
        f"`lifecycle promote churn {held.version} --reason REASON --accept-definition-change`"
    ), held.gate
    champion = registry.alias_version(client, "demo-churn", registry.CHAMPION)
    assert champion.version == before.version
    with pytest.raises(PromotionError, match=r"horizon_days 90 -> 60.*--accept-definition-change"):
        promote(sixty, "churn", held.version, "looks better", gated_only=True)
    # refresh finds it current, held for its definition, until told to accept
    assert model_problem(sixty, client, "demo", "churn") is None
    assert model_problem(sixty, client, "demo", "churn", "60 days").endswith(
        "now accepted (--accept-definition-change)"
    )
    accepted = train_task(sixty, "churn", accept_definition_change="product asked for 60 days")
    replaced = (
        f"champion v{before.version}'s data was replaced: dataset version {old} was replaced "
        f"by {now} (a new ingest, not an append)"
    )
    _judged_as_a_first_model(
        client, accepted, f"{changed}, accepted: product asked for 60 days; {replaced}"
    )


def test_a_champion_tested_on_outcomes_late_events_changed_is_no_rival(
    trained_copy: Path, tmp_path: Path
) -> None:
    """Helper W, session 49, online_retail by month: November appended before October, churn
    v5 (trained with October silent) was promoted; October then came as 49,928 late events,
    and v6, on complete data and the same test window, was "kept as challenger: ... not more
    than champion v5 was against rfm_score on its test (+0.0056)": v5's lead was recorded on
    outcomes the late events changed. Such a champion is now no rival (judged as a first
    model), while one whose test outcomes no append reached is weighed as before."""
    from experiment_runs import few_rounds

    from features import contract as c
    from lifecycle import steps

    settings = load_settings(home=trained_copy, environ=NO_COMPILE | NO_PLOTS | few_rounds())
    client = registry.client(settings)
    events = pd.read_parquet(trained_copy / "datasets" / "demo" / "events.parquet")
    last = events[c.EVENT_TIME].max()

    def append_and_train(rows: pd.DataFrame, name: str) -> Any:
        rows.to_parquet(tmp_path / name, index=False)
        run_cli(trained_copy, "ingest", str(tmp_path / name), "--dataset", "demo", "--append")
        steps.build_features(settings)
        steps.publish_features(settings)
        return train_task(settings, "churn")

    # a week after the data's end: no outcome the champion was tested on changes
    week = events[events[c.EVENT_TIME] > last - pd.Timedelta(days=7)].copy()
    week[c.EVENT_TIME] += pd.Timedelta(days=7)
    weighed = append_and_train(week, "next_week.parquet")
    assert "since changed" not in weighed.gate and " champion v" in weighed.gate, weighed.gate
    champion = registry.alias_version(client, "demo-churn", registry.CHAMPION)
    evaluated = ModelBundle.load(
        registry.bundle_path(client, "demo-churn", champion.version, tmp_path / "b")
    ).data_window["evaluated_on"]["test_cutoffs"]
    first, end = pd.Timestamp(min(evaluated), tz="UTC"), pd.Timestamp(max(evaluated), tz="UTC")
    end += pd.Timedelta(days=settings.labels.churn_horizon_days)
    # purchases that came late, dated inside the champion's test: its outcomes changed
    buyers = events[events[c.EVENT_TYPE] == "purchase"].drop_duplicates(c.USER_ID).head(300)
    late = buyers.assign(**{c.EVENT_TIME: first + pd.Timedelta(days=2, minutes=7)})
    append_and_train(late.assign(**{c.AMOUNT: 12.34}), "late.parquet")
    # the version that won the gate (LightGBM or the best baseline registered in its place)
    now = registry.alias_version(client, "demo-churn", registry.CHAMPION)
    assert now.version != champion.version
    assert now.tags[registry.GATE_TAG].startswith(
        f"champion v{champion.version}'s recorded test is of outcomes since changed: 300 late "
        f"events appended since (from {first + pd.Timedelta(days=2):%Y-%m-%d}) fall before "
        f"{end:%Y-%m-%d}, the end of the outcomes it was tested on; judged as a first model; "
    ), now.tags[registry.GATE_TAG]


def _churn_champions_test(home: Path, tmp_path: Path) -> tuple[Any, Any, Any, Any, Any]:
    """(settings, registry client, churn champion, its first test cutoff, the end of its
    test's outcomes) of a trained demo workspace, as the late-events tests read them."""
    from experiment_runs import few_rounds

    settings = load_settings(home=home, environ=NO_COMPILE | NO_PLOTS | few_rounds())
    client = registry.client(settings)
    champion = registry.alias_version(client, "demo-churn", registry.CHAMPION)
    evaluated = ModelBundle.load(
        registry.bundle_path(client, "demo-churn", champion.version, tmp_path / "b")
    ).data_window["evaluated_on"]["test_cutoffs"]
    first = pd.Timestamp(min(evaluated), tz="UTC")
    end = pd.Timestamp(max(evaluated), tz="UTC")
    return (
        settings,
        client,
        champion,
        first,
        end + pd.Timedelta(days=settings.labels.churn_horizon_days),
    )


def test_late_events_of_appends_that_recorded_none_are_derived_or_said_unknown(
    trained_copy: Path, tmp_path: Path
) -> None:
    """Appends made before b7e798d recorded no late events with their batch
    (``late_events_span``): on a workspace made then, the champion was weighed by its recorded
    lead though late events had changed its test's outcomes. They are now derived from the
    dataset versions before and after each such append, and said so; where those versions
    are no longer kept, the verdict says it cannot be known."""
    from features import contract as c
    from features.batches import LATE_SPAN
    from lifecycle import steps
    from lifecycle.storage import VERSIONS

    settings, client, champion, first, end = _churn_champions_test(trained_copy, tmp_path)
    dataset = trained_copy / "datasets" / "demo"
    events = pd.read_parquet(dataset / "events.parquet")

    def append(rows: pd.DataFrame, file: str) -> Path:
        rows.to_parquet(tmp_path / file, index=False)
        run_cli(trained_copy, "ingest", str(tmp_path / file), "--dataset", "demo", "--append")
        return dataset.resolve()

    # a week after the data's end, then purchases that came late, dated inside its test
    week = events[events[c.EVENT_TIME] > events[c.EVENT_TIME].max() - pd.Timedelta(days=7)]
    week = week.assign(**{c.EVENT_TIME: week[c.EVENT_TIME] + pd.Timedelta(days=7)})
    between = append(week, "next_week.parquet")
    buyers = events[events[c.EVENT_TYPE] == "purchase"].drop_duplicates(c.USER_ID).head(300)
    late = buyers.assign(**{c.EVENT_TIME: first + pd.Timedelta(days=2, minutes=7)})
    append(late.assign(**{c.AMOUNT: 12.34}), "late.parquet")
    for version in (dataset.parent / VERSIONS).glob("demo@*"):  # as an old version wrote them
        report = json.loads((version / "report.json").read_text())
        recorded = [b for b in report.get("batches", []) if b.pop(LATE_SPAN, None)]
        (version / "report.json").write_text(json.dumps(report))
        assert not recorded or version == dataset.resolve()
    steps.build_features(settings)
    steps.publish_features(settings)

    # the version between the two appends gone (as a restore and pruning leave it): unknown
    between.rename(tmp_path / between.name)
    weighed = train_task(settings, "churn")
    assert "since changed" not in weighed.gate and f" champion v{champion.version}" in (
        weighed.gate
    ), weighed.gate
    assert (
        "whether 2 appends since, made before late events were recorded with their batch, "
        "brought any dated within the outcomes it was tested on is unknown: the dataset "
        "versions that would tell are no longer kept"
    ) in weighed.gate, weighed.gate

    # kept: the 300 late events are derived, and the champion is no rival
    (tmp_path / between.name).rename(between)
    if registry.alias_version(client, "demo-churn", registry.CHAMPION).version != champion.version:
        promote(settings, "churn", str(champion.version), reason="test: judged again")
    judged = train_task(settings, "churn")
    assert judged.gate.startswith(
        f"champion v{champion.version}'s recorded test is of outcomes since changed: 300 late "
        f"events appended since (from {first + pd.Timedelta(days=2):%Y-%m-%d}) fall before "
        f"{end:%Y-%m-%d}, the end of the outcomes it was tested on (derived from the dataset "
        "versions kept: appended before late events were recorded with their batch); judged as "
        "a first model; "
    ), judged.gate


def test_late_events_since_a_champions_pruned_dataset_version_are_found_by_its_batches(
    trained_copy: Path, tmp_path: Path
) -> None:
    """Five dataset versions are kept: after a season of monthly appends the champion's own
    version is pruned, and late events appended since, dated within the outcomes it was
    tested on, went unsaid: it was weighed by its recorded lead. A model version now records
    the digest of its version's batches (``lineage.dataset_batches``), found among a later
    version's; one that predates the record says the question is open."""
    from features import contract as c
    from lifecycle import steps

    settings, client, champion, first, end = _churn_champions_test(trained_copy, tmp_path)
    dataset = trained_copy / "datasets" / "demo"
    events = pd.read_parquet(dataset / "events.parquet")

    built_from = dataset.resolve()
    buyers = events[events[c.EVENT_TYPE] == "purchase"].drop_duplicates(c.USER_ID).head(300)
    late = buyers.assign(**{c.EVENT_TIME: first + pd.Timedelta(days=2, minutes=7)})
    late.assign(**{c.AMOUNT: 12.34}).to_parquet(tmp_path / "late.parquet", index=False)
    run_cli(trained_copy, "ingest", str(tmp_path / "late.parquet"), "--dataset", "demo", "--append")
    steps.build_features(settings)
    steps.publish_features(settings)
    built_from.rename(tmp_path / built_from.name)  # pruned, as five appends later

    def verdicts(result: Any) -> str:  # the model's, and the baseline's registered beside it
        return " | ".join([result.gate] + ([result.baseline.gate] if result.baseline else []))

    judged = verdicts(train_task(settings, "churn"))
    assert (
        f"champion v{champion.version}'s recorded test is of outcomes since changed: 300 late "
        f"events appended since (from {first + pd.Timedelta(days=2):%Y-%m-%d}) fall before "
        f"{end:%Y-%m-%d}, the end of the outcomes it was tested on; judged as a first model; "
    ) in judged, judged

    # a champion from before the record: its question is open, said
    if registry.alias_version(client, "demo-churn", registry.CHAMPION).version != champion.version:
        promote(settings, "churn", str(champion.version), reason="test: judged again")
    client.delete_model_version_tag("demo-churn", champion.version, "lineage.dataset_batches")
    weighed = verdicts(train_task(settings, "churn"))
    assert "since changed" not in weighed, weighed
    assert (
        f"whether appends since its dataset version {built_from.name} brought late events dated "
        "within the outcomes it was tested on is unknown: that version is no longer kept and the "
        "model predates the record of its batches (lineage.dataset_batches)"
    ) in weighed, weighed


def test_a_bridged_champions_test_outcomes_end_at_the_horizon_it_learned_at(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bridged champion (learned at 28 days, served on 70: ``lifecycle.bridge``) was tested
    on outcomes that end 28 days after its last test cutoff. Late events after that are
    weighed as before (7fb3454: online_retail's LTV v3, served on 365 days, was 'no rival' for
    October's events, months after its test's outcomes ended); late events before it make it
    no rival. ``test_label_free``'s young shop, 70-day churn."""
    from workspaces import PURCHASE_LOG_MAPS, clear_lifecycle_environ, demo_purchase_log

    clear_lifecycle_environ(monkeypatch)
    home = tmp_path / "workspace"
    env = {"LIFECYCLE_DATASET": "bridged", "LIFECYCLE_LABELS__CHURN_HORIZON_DAYS": "70"}
    env |= {"LIFECYCLE_TRAINING__MIN_ROWS": "10", "LIFECYCLE_TRAINING__MIN_POSITIVES": "5"}
    env |= NO_COMPILE | NO_PLOTS
    log = demo_purchase_log(tmp_path / "demo", users=700, seed=3, days=150)
    log.to_csv(tmp_path / "orders.csv", index=False)
    ingest = ("ingest", "--dataset", "bridged", "--event-type", "purchase", *PURCHASE_LOG_MAPS)
    run_cli(home, *ingest[:1], str(tmp_path / "orders.csv"), *ingest[1:], env=env)
    run_cli(home, "features", "build", env=env)
    run_cli(home, "features", "apply", env=env)
    settings = load_settings(home=home, environ=env)
    client = registry.client(settings)

    def append_late(at: pd.Timestamp, name: str) -> str:
        """50 purchases dated ``at`` appended late, and churn trained again: its verdict."""
        promote(settings, "churn", model.version, reason="test: the bridged model judged again")
        late = log.drop_duplicates("Customer").head(50).assign(Time=f"{at:%Y-%m-%d %H:%M:%S}")
        late.to_csv(tmp_path / name, index=False)
        run_cli(home, *ingest[:1], str(tmp_path / name), *ingest[1:], "--append", env=env)
        run_cli(home, "features", "build", env=env)
        run_cli(home, "features", "apply", env=env)
        done = train_task(settings, "churn")  # LightGBM's, or the rule registered in its place
        return done.baseline.gate if done.baseline else done.gate

    # the bridged LightGBM model as champion (by hand where the recency rule beat it: a rule
    # that ranks by recency alone is re-scored on the challenger's rows, not weighed so)
    model = train_task(settings, "churn")
    bundle = ModelBundle.load(
        registry.bundle_path(client, "bridged-churn", model.version, tmp_path / "b")
    )
    assert bundle.bridge is not None and bundle.bridge["learned_days"] == 28
    cutoffs = pd.to_datetime(bundle.data_window["evaluated_on"]["test_cutoffs"], utc=True)
    first, learned_end = cutoffs.min(), cutoffs.max() + pd.Timedelta(days=28)
    assert learned_end + pd.Timedelta(days=2) < pd.Timestamp(log["Time"].max(), tz="UTC")
    # after the outcomes it was tested on (within 70 days of its last test cutoff): weighed
    after = append_late(learned_end + pd.Timedelta(days=1), "after_its_test.csv")
    assert "since changed" not in after and f" champion v{model.version} " in after, after
    # within them: no rival
    within = append_late(first + pd.Timedelta(days=2), "within_its_test.csv")
    assert within.startswith(
        f"champion v{model.version}'s recorded test is of outcomes since changed: 50 late "
        f"events appended since (from {first + pd.Timedelta(days=2):%Y-%m-%d}) fall before "
        f"{learned_end:%Y-%m-%d}, the end of the outcomes it was tested on; judged as a first "
        "model; "
    ), within


def test_manual_promotion_records_reason(trained_copy: Path, trained: dict) -> None:
    settings = load_settings(home=trained_copy, environ={})
    done = promote(settings, "ltv", trained["ltv"].version, reason="rollback drill")
    assert done["champion"] == trained["ltv"].version
    client = registry.client(settings)
    assert (
        client.get_model_version("demo-ltv", trained["ltv"].version).tags["promotion"]
        == "manual: rollback drill"
    )
    # `models` keeps the gate's verdict beside the hand's reason (it showed the reason only)
    listed = run_cli(trained_copy, "models").splitlines()
    at = listed.index(
        next(line for line in listed if line.startswith(f"demo-ltv v{done['champion']} "))
    )
    assert listed[at + 1 : at + 3] == [
        "  manual: rollback drill",
        f"  the gate's verdict: {trained['ltv'].gate}",
    ]
    # a version the model lacks names those it has (it said "see `lifecycle models`" only)
    versions = sorted(int(v.version) for v in client.search_model_versions("name = 'demo-ltv'"))
    has = ", ".join(f"v{v}" for v in versions)
    missing = f"model demo-ltv has no version 999 (it has {has}); see `lifecycle models`"
    with pytest.raises(UnknownVersion) as unknown:
        promote(settings, "ltv", "999", reason="nope")
    assert str(unknown.value) == missing and isinstance(unknown.value, PromotionError)
    cli = CliRunner().invoke(
        main, ["--home", str(trained_copy), "promote", "ltv", "999", "--reason", "nope"]
    )
    assert cli.exit_code == 1 and cli.stderr.strip() == f"Error: {missing}", cli.output
    with pytest.raises(PromotionError, match="needs a reason"):
        promote(settings, "ltv", trained["ltv"].version, reason=" ")
    # `challenger` names the challenger version; here it already is the champion
    cli = CliRunner().invoke(
        main,
        ["--home", str(trained_copy), "promote", "ltv", "challenger", "--reason", "again"],
    )
    assert cli.exit_code == 1 and "is already the champion" in cli.stderr
    # The lists stay what score-all last wrote: promoting another version says so (a
    # rollback printed only the new champion, and at-risk kept the old model's ranking).
    scored = trained["ltv"].version
    again = run_cli(trained_copy, "promote", "ltv", scored, "--reason", "same model")
    assert "scores table" not in again
    # it said "champion is now v3 (was 3)", as if something had changed
    assert f"demo-ltv: v{scored} is already the champion; the reason is recorded" in again
    # as `lifecycle models` writes it (refused: 'no version v3'), or padded (' 3', which
    # MLflow finds: 'champion is now v 3 (was 3)'): the version, named as the registry does
    for spelt in (f"v{scored}", f" {scored}", f" {scored} ", f"0{scored}", f"V{scored}"):
        same = run_cli(trained_copy, "promote", "ltv", spelt, "--reason", "same model")
        assert f"demo-ltv: v{scored} is already the champion; the reason is recorded" in same
    # '1.0' was 'has no version 1.0' (as if v1 were missing), U+0661 (an Arabic 1) was v1:
    # what is no whole number in ASCII digits is refused in one line saying what one is
    for spelt in (f"{scored}.0", f"{scored}e0", "\u0661", "one", "v", f"v {scored}"):
        refused = CliRunner().invoke(
            main, ["--home", str(trained_copy), "promote", "ltv", spelt, "--reason", "x"]
        )
        assert refused.exit_code == 1 and "Traceback" not in refused.output, refused.output
        assert refused.stderr.strip() == (
            f"Error: {spelt!r} is no model version: a version is a whole number as "
            "`lifecycle models` shows it (3 or v3), or `challenger`"
        ), refused.stderr
    earlier = client.get_model_version("demo-ltv", scored)
    other = client.create_model_version(
        "demo-ltv", source=earlier.source, run_id=earlier.run_id, tags=earlier.tags
    ).version
    moved = run_cli(trained_copy, "promote", "ltv", str(other), "--reason", "rollback drill")
    assert f"was scored by v{scored}: `lifecycle at-risk`" in moved
    assert f"follow v{other} after `lifecycle score-all`" in moved
    # A version the gate never judged, or kept back, was promoted without a word: refused
    # unless --force, with what the gate said; a rollback to a gate's champion needs nothing.
    unjudged = client.create_model_version(
        "demo-ltv", source=earlier.source, run_id=earlier.run_id
    ).version
    command = ["--home", str(trained_copy), "promote", "ltv", str(unjudged), "--reason", "why"]
    refused = CliRunner().invoke(main, command)
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert f"v{unjudged} was never judged by the promotion gate" in refused.stderr
    verdict = "normalized_gini 0.4012 loses to the baseline rfm_value 0.4410 by 0.0398"
    client.set_model_version_tag("demo-ltv", unjudged, registry.GATE_TAG, verdict)
    refused = CliRunner().invoke(main, command)
    assert refused.exit_code == 1
    assert (
        f"the promotion gate kept v{unjudged} back: {verdict}; promote it anyway with --force"
        in (refused.stderr)
    )
    assert registry.alias_version(client, "demo-ltv", registry.CHAMPION).version == other
    forced = run_cli(trained_copy, *command[2:], "--force")
    assert f"champion is now v{unjudged}" in forced
    assert f"promoted over the gate (--force): the promotion gate kept v{unjudged} back" in forced
    back = run_cli(trained_copy, "promote", "ltv", scored, "--reason", "rollback to the gate's")
    assert f"champion is now v{scored} (was v{unjudged})" in back and "over the gate" not in back
    # `challenger` after the rollback: "no challenger (v3 is already the champion)", as if the
    # champion were the last challenger promoted; the newest version is the one rolled back from
    cli = CliRunner().invoke(
        main, ["--home", str(trained_copy), "promote", "ltv", "challenger", "--reason", "x"]
    )
    assert cli.exit_code == 1 and "Traceback" not in cli.output, cli.output
    assert cli.stderr.strip() == (
        f"Error: model demo-ltv has no challenger: its newest version, v{unjudged}, was "
        f"champion until v{scored} was promoted over it; promote v{unjudged} by its number to "
        "make it champion, or train ltv for a new challenger"
    ), cli.stderr
    rows = list_models(settings)
    champions = {r["task"]: r["version"] for r in rows if "champion" in r["aliases"]}
    assert set(champions) == {"churn", "conversion", "ltv"}
    listing = run_cli(trained_copy, "models")
    assert "demo-ltv v" in listing and "champion" in listing
    # Every change is kept, with when, by whom and why: a version's tag held its latest reason
    # only (the rollback's erased the first), without a time.
    ltv = [e for e in json.loads(run_cli(trained_copy, "--json", "models", "--history"))["history"]
           if e["model"] == "demo-ltv"]  # fmt: skip
    assert ltv[0]["from"] is None and ltv[0]["by"] == "gate"  # the first champion, by training
    changes = [(e["from"], e["to"], e["reason"]) for e in ltv[1:]]
    assert changes == [
        (scored, scored, "manual: rollback drill"),
        (scored, scored, "manual: same model"),
        *[(scored, scored, "manual: same model")] * 5,
        (scored, str(other), "manual: rollback drill"),
        (str(other), str(unjudged), "manual: why"),
        (str(unjudged), scored, "manual: rollback to the gate's"),
    ], changes
    assert all(e["by"].startswith("hand (") for e in ltv[1:]) and all(e["at"] for e in ltv)
    text = run_cli(trained_copy, "models", "--history").splitlines()
    assert f"demo-ltv: v{unjudged} -> v{scored} by hand (" in text[-1]
    assert text[-1].endswith(": manual: rollback to the gate's")
    with (trained_copy / "mlflow" / "champions.jsonl").open("a") as log:
        log.write('{"at": "2026-')  # a kill mid-write: the entries before it still read
    again = json.loads(run_cli(trained_copy, "--json", "models", "--history"))["history"]
    assert [e for e in again if e["model"] == "demo-ltv"] == ltv


# A promotion of a version the model lacks, in a fresh process (as a server's worker, which
# never imports the MLflow client to serve): its refusal, and whether MLflow was imported.
REFUSE_UNKNOWN = """import json, sys
from lifecycle.registry import UnknownVersion, promote
from lifecycle.settings import load_settings
try:
    promote(load_settings(), sys.argv[1], sys.argv[2], reason="no such")
except UnknownVersion as error:
    print(json.dumps([str(error), "mlflow" in sys.modules]))"""


def test_a_version_the_model_lacks_is_refused_without_importing_mlflow(
    trained_workspace: TrainedWorkspace,
) -> None:
    """The first `POST /promote` of a version no model has took 4.9 s to refuse (session 58,
    helper SVC; 7.5 s here at a load of 11): the MLflow client's import and store, for a
    question the local registry's SQLite file answers in milliseconds. The refusal is the
    same words, naming the versions the model has."""
    import os
    import subprocess
    import sys

    environ = {k: v for k, v in os.environ.items() if not k.startswith("LIFECYCLE_")}
    environ["LIFECYCLE_HOME"] = str(trained_workspace.home)  # only read: nothing is promoted
    client = registry.client(load_settings(home=trained_workspace.home, environ={}))
    for task, version in (("ltv", "999"), ("churn", "v0")):
        done = subprocess.run(
            [sys.executable, "-c", REFUSE_UNKNOWN, task, version],
            env=environ,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        refusal, imported = json.loads(done.stdout)
        found = client.search_model_versions(f"name = 'demo-{task}'")
        has = ", ".join(f"v{v}" for v in sorted(int(v.version) for v in found))
        assert refusal == (
            f"model demo-{task} has no version {version} (it has {has}); see `lifecycle models`"
        )
        assert imported is False


def _registered_versions(settings: Settings, name: str, source: Path) -> tuple[Any, str]:
    """A real registry with model ``name`` and four empty versions for the gate to move."""
    client = registry.client(settings)
    client.create_registered_model(name)
    for _ in range(4):
        client.create_model_version(name, source=str(source), run_id=None)
    return client, name


def test_gate_rules_on_a_real_registry(tmp_path: Path) -> None:
    """First version promoted; a better one only by more than the margin; an unscored
    champion blocks unless the reason says to promote; an unknown metric is an error."""
    from training.promotion import Unscored, gate

    settings = load_settings(home=tmp_path, environ={}, training={"min_improvement": 0.01})
    client, name = _registered_versions(settings, "demo-churn", tmp_path)

    def scored(value: float):  # type: ignore[no-untyped-def]
        return lambda champion, metric: value

    def champion() -> str:
        return str(registry.alias_version(client, name, registry.CHAMPION).version)

    assert gate(settings, client, name, "churn", "1", {"auc": 0.70}, scored(0.0)) == (
        True,
        "first model: auc 0.7000",
    )
    promoted, reason = gate(settings, client, name, "churn", "2", {"auc": 0.705}, scored(0.70))
    assert not promoted, reason
    assert reason == (  # by how much, as a loss to a baseline says it
        "auc 0.7050 does not beat champion v1 0.7000 by more than 0.01, ahead by only 0.0050"
    )
    promoted, reason = gate(settings, client, name, "churn", "2", {"auc": 0.69}, scored(0.70))
    assert (promoted, reason) == (
        False,
        "auc 0.6900 does not beat champion v1 0.7000 by more than 0.01, behind by 0.0100",
    )
    assert champion() == "1"
    promoted, reason = gate(
        settings, client, name, "churn", "3", {"auc": 0.72}, scored(0.70), evidence=" on x"
    )
    assert promoted and reason == "auc 0.7200 > champion v1 0.7000 by more than 0.01 on x"
    assert champion() == "3"
    assert client.get_model_version(name, "3").tags["promotion"] == reason
    blocked = gate(
        settings, client, name, "churn", "4", {"auc": 0.99}, lambda *_: Unscored("odd", False)
    )
    assert blocked == (False, "odd; promote by hand") and champion() == "3"
    forced = gate(
        settings, client, name, "churn", "4", {"auc": 0.5}, lambda *_: Unscored("gone", True)
    )
    assert forced == (True, "gone; auc 0.5000") and champion() == "4"
    with pytest.raises(TrainingError, match=r"gate_metric\.churn = 'auc' is not a churn metric"):
        gate(settings, client, name, "churn", "4", {"brier": 0.1}, scored(0.5))


def test_gate_first_beats_the_best_baseline(tmp_path: Path) -> None:
    """Even the first model must beat the best baseline on the gate metric; the refusal
    says which baseline won and by how much, and nothing becomes champion."""
    from training.promotion import gate

    settings = load_settings(home=tmp_path, environ={})
    client = registry.client(settings)
    name = "demo-conversion"
    client.create_registered_model(name)
    for _ in range(2):
        client.create_model_version(name, source=str(tmp_path), run_id=None)
    rules = {"recency_rule": {"auc": 0.56, "pr_auc": 0.4}, "rfm_score": {"auc": 0.55}}
    promoted, reason = gate(
        settings, client, name, "conversion", "1", {"auc": 0.55}, lambda *_: 0.0, baselines=rules
    )
    assert not promoted
    # the whole verdict: `train` prints it after "kept as challenger: ", once
    assert reason == "auc 0.5500 loses to the baseline recency_rule 0.5600 by 0.0100"
    assert registry.alias_version(client, name, registry.CHAMPION) is None
    promoted, reason = gate(
        settings, client, name, "conversion", "2", {"auc": 0.57}, lambda *_: 0.0, baselines=rules
    )
    assert promoted and reason == "first model: auc 0.5700 > best baseline recency_rule 0.5600"


def test_a_winning_rule_is_judged_by_its_lead_against_a_champion_recorded_on_another_test(
    tmp_path: Path,
) -> None:
    """online_retail: rfm_score (0.7402 on an easier test) replaced LightGBM v3, which had led
    rfm_score by +0.0017 on its own test (0.7289 against 0.7272), by raw AUC of two periods;
    the winning rule was gated without the baselines. Now a rule that is the best baseline
    leads the baselines by 0: a champion that led them stays, one that did not gives way."""
    from training.promotion import Recorded, gate

    settings = load_settings(home=tmp_path, environ={})
    client, name = _registered_versions(settings, "shop-churn", tmp_path)
    registry.set_champion(client, name, "1", "first model")
    rules = {"rfm_score": {"auc": 0.7402}, "recency_rule": {"auc": 0.6799}}

    def recorded(lead: float):  # type: ignore[no-untyped-def]
        return lambda champion, metric: Recorded(0.7289, "2011-06-02", ("rfm_score", 0.7289 - lead))

    promoted, reason = gate(
        settings, client, name, "churn", "2", {"auc": 0.7402}, recorded(0.0017),
        evidence=" on test 2011-07-02", baselines=rules, itself="rfm_score",
    )  # fmt: skip
    assert not promoted, reason
    assert reason == (
        "auc 0.7402 on test 2011-07-02 is the best baseline rfm_score itself (no lead over it), "
        "not more than champion v1 was against rfm_score on its test 2011-06-02 (+0.0017; it "
        "recorded 0.7289), behind by 0.0017"
    )
    assert str(registry.alias_version(client, name, registry.CHAMPION).version) == "1"
    promoted, reason = gate(
        settings, client, name, "churn", "3", {"auc": 0.7402}, recorded(-0.004),
        evidence=" on test 2011-07-02", baselines=rules, itself="rfm_score",
    )  # fmt: skip
    assert promoted and "more than champion v1 was against rfm_score" in reason
    # leads that differ never print alike: "+0.0064 ..., not more than ... (+0.0064" was said
    # of a challenger kept and of one promoted (trial 95)
    for version, ours, verdict in (("2", 0.746606, "not more"), ("4", 0.746614, "more")):
        promoted, reason = gate(
            settings, client, name, "churn", version, {"auc": ours}, recorded(0.00641),
            evidence=" on test 2011-07-02", baselines=rules,
        )  # fmt: skip
        assert promoted == (verdict == "more"), reason
        lead = f"+{ours - 0.7402:.6f}"
        assert f" is {lead} against the best baseline rfm_score, {verdict} than champion" in reason
        assert " on its test 2011-06-02 (+0.006410; it recorded 0.7289)" in reason, reason
    # without `itself` a rule equal to the best baseline loses to it, as LightGBM would
    promoted, reason = gate(
        settings, client, name, "churn", "4", {"auc": 0.7402}, recorded(-0.004), baselines=rules
    )
    assert not promoted and reason.startswith("auc 0.7402 loses to the baseline rfm_score")


def test_a_rule_refit_on_fresher_data_replaces_the_same_rule_it_ties(tmp_path: Path) -> None:
    """online_retail cut at 2011-06-30: rfm_score v2 won churn, fitted at 70 days on a short
    history; after July-September were appended, each refit of rfm_score (0.7402, the best
    baseline itself) was "not more than champion v2 was against rfm_score (+0.0000)" and kept
    back: a rule ties itself, so the first one served for good. Level and of fresher data, it
    replaces it now; not when of the same data, nor a champion that led the baselines."""
    from training.promotion import Recorded, gate

    settings = load_settings(home=tmp_path, environ={})
    client, name = _registered_versions(settings, "shop-churn", tmp_path)
    registry.set_champion(client, name, "1", "first model")
    rules = {"rfm_score": {"auc": 0.7402}, "recency_rule": {"auc": 0.6799}}

    def judged(version: str, lead: float, older: bool) -> tuple[bool, str]:
        def score(champion: Any, metric: str) -> Recorded:
            found = Recorded(0.7085, "2011-03-25..2011-04-15", ("rfm_score", 0.7085 - lead))
            found.older = older
            return found

        return gate(
            settings, client, name, "churn", version, {"auc": 0.7402}, score,
            evidence=" on test 2011-06-11..2011-07-02", baselines=rules, itself="rfm_score",
        )  # fmt: skip

    promoted, reason = judged("2", 0.0, older=False)  # the same data: nothing fresher
    assert not promoted and "replaces" not in reason, reason
    promoted, reason = judged("2", 0.0017, older=True)  # a champion that led the rule
    assert not promoted and "replaces" not in reason, reason
    promoted, reason = judged("2", 0.0, older=True)
    assert promoted, reason
    assert reason == (
        "auc 0.7402 on test 2011-06-11..2011-07-02 is the best baseline rfm_score itself (no "
        "lead over it), not more than champion v1 was against rfm_score on its test "
        "2011-03-25..2011-04-15 (+0.0000; it recorded 0.7085), but level: the rule of the "
        "fresher data replaces it"
    )
    assert str(registry.alias_version(client, name, registry.CHAMPION).version) == "2"


def test_a_recency_rule_refit_on_fresher_data_replaces_the_rescored_rule_it_ties(
    tmp_path: Path,
) -> None:
    """A recency_rule champion judged by AUC is re-scored on the challenger's rows (it has
    nothing fitted to rank by), not recorded: the same rule refit on fresher data ranks the
    users alike, and "auc 0.7402 does not beat champion v1 0.7402" kept the first one served
    for good (CDNOW's recency rule v4 over v6). Tied exactly and of fresher data, the rule of
    the fresher data replaces it; not when of the same data, nor behind the champion, nor
    with training.min_improvement asking for a lead."""
    from training.promotion import Rescored, gate

    client, name = _registered_versions(
        load_settings(home=tmp_path, environ={}), "c-churn", tmp_path
    )
    registry.set_champion(client, name, "1", "first model")
    rules = {"recency_rule": {"auc": 0.7402}, "rfm_score": {"auc": 0.7011}}

    def judged(champion_auc: float, older: bool, margin: str = "0") -> tuple[bool, str]:
        def score(champion: Any, metric: str) -> Rescored:
            found = Rescored(champion_auc, None)  # a rule challenger brings no bootstrap
            found.older = older
            return found

        environ = {"LIFECYCLE_TRAINING__MIN_IMPROVEMENT": margin}
        return gate(
            load_settings(home=tmp_path, environ=environ), client, name, "churn", "2",
            {"auc": 0.7402}, score, evidence=" on test 1998-04-01", baselines=rules,
            itself="recency_rule",
        )  # fmt: skip

    for champion_auc, older, margin in (
        (0.7402, False, "0"),
        (0.7403, True, "0"),
        (0.7402, True, "0.001"),
    ):
        promoted, reason = judged(champion_auc, older, margin)
        assert not promoted and "replaces" not in reason, reason
    promoted, reason = judged(0.7402, older=True)
    assert promoted, reason
    assert reason == (
        "auc 0.7402 does not beat champion v1 0.7402 on test 1998-04-01, but level: the rule "
        "of the fresher data replaces it"
    )
    assert str(registry.alias_version(client, name, registry.CHAMPION).version) == "2"


def test_a_baseline_version_refused_for_its_definition_is_not_said_to_lose_to_itself(
    tmp_path: Path,
) -> None:
    """The recency_rule registered under a 60-day horizon was "kept as challenger: label
    definition differs ...; besides, auc 0.9977 loses to the baseline recency_rule 0.9977 by
    0.0000": to itself."""
    from training.promotion import gate_on_test

    settings = load_settings(home=tmp_path, environ={})
    client, name = _registered_versions(settings, "demo-churn", tmp_path)
    label = {"task": "churn", "horizon_days": 90, "lookback_days": None, "target": None}
    registry.set_champion(client, name, "1", "first model")
    client.set_model_version_tag(name, "1", lineage.DEFINITION_TAG, json.dumps(label))
    test = pd.DataFrame({AS_OF: [pd.Timestamp("2025-01-01")]})
    rules = {"recency_rule": {"auc": 0.9977}, "rfm_score": {"auc": 0.91}}
    promoted, reason = gate_on_test(
        settings, client, name, "churn", "2", test, {"auc": 0.9977}, baselines=rules,
        label={**label, "horizon_days": 60}, itself="recency_rule",
    )  # fmt: skip
    assert not promoted and "horizon_days 90 -> 60" in reason
    assert "loses to" not in reason, reason
    # LightGBM under the new definition, behind the rule: still said
    promoted, reason = gate_on_test(
        settings, client, name, "churn", "3", test, {"auc": 0.95}, baselines=rules,
        label={**label, "horizon_days": 60},
    )  # fmt: skip
    assert reason.endswith(
        "besides, auc 0.9500 loses to the baseline recency_rule 0.9977 by 0.0477 (promoting it "
        "by hand needs --force too)"
    )


def test_gate_reasons_name_the_baseline_beaten_with_the_digits_that_differ(
    tmp_path: Path,
) -> None:
    """A promotion over a champion that learned from no outcome says which baseline it beat,
    as a first model's does; two scores that differ never print alike."""
    from training.promotion import Unscored, gate

    settings = load_settings(home=tmp_path, environ={}, training={"min_improvement": 0.0})
    client, name = _registered_versions(settings, "demo-conversion", tmp_path)
    close = {"rfm_score": {"auc": 0.55961}, "recency_rule": {"auc": 0.5}}
    promoted, reason = gate(
        settings, client, name, "conversion", "1", {"auc": 0.55960}, lambda *_: 0.0, baselines=close
    )
    assert not promoted
    assert reason.startswith("auc 0.55960 loses to the baseline rfm_score 0.55961 by 0.00001")
    promoted, reason = gate(
        settings,
        client,
        name,
        "conversion",
        "1",
        {"auc": 0.559612},
        lambda *_: 0.0,
        baselines=close,
        evidence=" on x",
    )
    assert (
        promoted and reason == "first model: auc 0.559612 > best baseline rfm_score 0.559610 on x"
    )
    label_free = Unscored("champion v1 learned from no outcome", True)
    promoted, reason = gate(
        settings,
        client,
        name,
        "conversion",
        "2",
        {"auc": 0.7291},
        lambda *_: label_free,
        baselines={"rfm_score": {"auc": 0.7280}},
    )
    assert promoted
    assert (
        reason == "champion v1 learned from no outcome; auc 0.7291 > best baseline rfm_score 0.7280"
    )
    promoted, reason = gate(
        settings, client, name, "conversion", "3", {"auc": 0.729101}, lambda *_: 0.7291
    )
    assert promoted and reason == "auc 0.729101 > champion v2 0.729100"


def _stumps(monkeypatch: pytest.MonkeyPatch, *models: str) -> None:
    """These models trained as one-split stumps."""
    for model in models:
        spec = model_specs.spec_of(model)
        stump = dataclasses.replace(spec, num_boost_round=1, params=spec.params | {"num_leaves": 2})
        monkeypatch.setitem(model_specs.SPECS, model, stump)


def test_a_baseline_that_wins_is_registered_and_served(
    rule_won: tuple[Path, TrainResult], tmp_path: Path
) -> None:
    """A one-split stump loses to the recency rule: the rule becomes a model version of its
    own, with its kind, and serves (probabilities, reasons, BG/NBD outlook) once promoted."""
    from serving.scoring import load_champions, score_frame

    home, weak = rule_won
    settings = load_settings(home=copy_workspace(home, tmp_path / "workspace"), environ={})
    assert not weak.promoted and "loses to the baseline" in weak.gate
    assert weak.baseline is not None and weak.baseline.kind in ("recency_rule", "rfm_score")
    baseline_run = registry.client(settings).get_run(weak.baseline.run_id)
    assert baseline_run.info.run_name.startswith(f"churn-demo-baseline_{weak.baseline.kind}-")
    # the baselines on its test, as a LightGBM run logs them: a later gate compares leads
    logged = baseline_run.data.metrics
    for rule in ("recency_rule", "rfm_score"):
        assert logged[f"{rule}.auc"] == pytest.approx(weak.metrics[rule]["auc"], abs=1e-12)
    # served calibrated, it ranks the test users exactly as the rule the gate compared
    for metric in ("auc", "pr_auc"):
        assert weak.baseline.metrics[metric] == pytest.approx(
            weak.metrics[weak.baseline.kind][metric], abs=1e-12
        )
    assert 0 <= weak.baseline.metrics["ece"] < 0.1  # calibrated out of time, on valid
    # its calibration table and metrics under evaluation/, as a LightGBM run's: the table's
    # count-weighted gaps are the ECE it logged (the rule's run had no evaluation/ at all)
    client = registry.client(settings)
    table = pd.read_csv(
        client.download_artifacts(weak.baseline.run_id, "evaluation/calibration.csv", tmp_path)
    )
    gaps = (table["mean_predicted"] - table["observed_rate"]).abs() * table["count"]
    assert gaps.sum() / table["count"].sum() == pytest.approx(logged["test.ece"], abs=1e-12)
    assert table["count"].sum() == logged["test.n"]
    saved = json.loads(
        Path(
            client.download_artifacts(weak.baseline.run_id, "evaluation/metrics.json", tmp_path)
        ).read_text()
    )
    assert saved["test"]["auc"] == logged["test.auc"]
    assert saved["rfm_score"]["auc"] == logged["rfm_score.auc"]
    rows = {str(r["version"]): r for r in list_models(settings) if r["task"] == "churn"}
    assert rows[weak.baseline.version]["kind"] == weak.baseline.kind
    before = registry.alias_version(registry.client(settings), "demo-churn", registry.CHAMPION)
    promote(settings, "churn", weak.baseline.version, reason="test: serve the rule")
    try:
        champions = load_champions(settings, cache=tmp_path)
        assert champions.kinds["churn"] == weak.baseline.kind
        assert champions.kinds["ltv"] == "lightgbm+bgnbd_gamma_gamma"  # as trained: blended
        assert champions.bundles["churn"].purchase_process is not None  # the rule's own
        features = pd.read_parquet(store_paths(settings).feature_table)
        latest = features[features[AS_OF] == features[AS_OF].max()].head(300)
        scores = score_frame(champions, latest)
        p = scores["churn_probability"].to_numpy()
        assert np.isfinite(p).all() and ((p >= 0) & (p <= 1)).all()
        assert any(scores["reasons"].map(len) > 0)
        buyers = latest["orders_total"].to_numpy() > 0
        assert scores.loc[buyers, "p_alive"].between(0, 1).all()
        assert scores.loc[~buyers, "p_alive"].isna().all()
    finally:
        promote(settings, "churn", str(before.version), reason="test: restore")


def test_a_baseline_that_replaces_a_label_free_champion_is_reported_as_the_champion(
    trained_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LightGBM loses to a baseline rule, which replaces a label-free champion: the result,
    its JSON and refresh's verdict say a version of the task was promoted (the baseline's);
    the challenger is the LightGBM version the gate kept back, not the new champion; the
    model list labels every kind and gives each gated version's verdict, nulls for the rest."""
    from lifecycle.refresh import REFRESH_MODEL_KEYS, not_promoted
    from training.models import LTV_PURCHASE, LTV_QUANTILE

    environ = NO_PLOTS | {"LIFECYCLE_TRAINING__MIN_ROWS": "100000"}
    label_free = train_task(load_settings(home=trained_copy, environ=environ), "ltv")
    settings = load_settings(home=trained_copy, environ=NO_PLOTS)
    promote(settings, "ltv", label_free.version, reason="test: a label-free champion")
    _stumps(monkeypatch, "ltv", LTV_PURCHASE, LTV_QUANTILE)
    # LightGBM alone: blended with BG/NBD + Gamma-Gamma even stumps beat the rule alone
    token = METHOD.set(Method(blend=False))
    try:
        weak = train_task(settings, "ltv")
    finally:
        METHOD.reset(token)
    assert not weak.promoted and weak.baseline is not None, weak.gate
    assert weak.baseline.promoted, weak.baseline.gate
    assert f"champion v{label_free.version} learned from no outcome" in weak.baseline.gate
    assert weak.champion == weak.baseline.version
    client = registry.client(settings)
    champion = registry.alias_version(client, "demo-ltv", registry.CHAMPION)
    challenger = registry.alias_version(client, "demo-ltv", registry.CHALLENGER)
    assert str(champion.version) == weak.champion and str(challenger.version) == weak.version
    document = weak.to_dict()
    assert document["baseline"]["version"] == weak.baseline.version
    assert document["baseline"]["promoted"] and document["champion"] == weak.baseline.version
    assert f"registered as v{weak.baseline.version}: promoted to champion" in weak.lines()[-1]
    refreshed = {"not_trained": {}, "models": [{k: document[k] for k in REFRESH_MODEL_KEYS}]}
    assert not_promoted(refreshed, {}) == {}

    listed = CliRunner().invoke(main, ["--home", str(trained_copy), "--json", "models"])
    rows = {str(r["version"]): r for r in json.loads(listed.stdout)["models"] if r["task"] == "ltv"}
    assert rows[weak.version]["kind"] == "lightgbm" and rows[weak.version]["promotion"] is None
    assert rows[weak.version]["gate"] == weak.gate
    assert rows[label_free.version]["test_cutoff"] is None
    assert rows[weak.baseline.version]["promotion"] == weak.baseline.gate
    text = CliRunner().invoke(main, ["--home", str(trained_copy), "models"]).stdout
    # each version says what its metrics measured (60- and 90-day churns sat side by side)
    days = rows[weak.version]["horizon_days"]
    assert days == 365 and f"demo-ltv v{weak.version} (lightgbm, 365-day ltv) [challenger]" in text
    assert f"  {weak.gate}" in text


def test_a_winning_rule_is_served_fitted_on_the_users_of_now(
    rule_won: tuple[Path, TrainResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a rule learns without outcomes (its quintile edges, BG/NBD parameters, the means
    its reasons are centred on) comes from every user at the latest cutoff, the users it
    will score, not from matured cutoffs a horizon and more older."""
    home, weak = rule_won
    settings = load_settings(home=copy_workspace(home, tmp_path / "workspace"), environ={})
    assert weak.baseline is not None
    client = registry.client(settings)
    path = registry.bundle_path(client, "demo-churn", weak.baseline.version, tmp_path)
    deployed = ModelBundle.load(path)
    features = pd.read_parquet(store_paths(settings).feature_table)
    now = features[features[AS_OF] == features[AS_OF].max()]
    assert now[AS_OF].max() > weak.split.test_cutoff  # a horizon after the freshest label
    rule = deployed.booster
    terms = rule._terms(feature_matrix(now, rule.feature_names))
    assert rule.params["term_means"] == pytest.approx(terms.mean(axis=0).tolist())
    fitted_on = deployed.data_window["rule_fitted_on"]
    assert fitted_on == {"cutoff": f"{now[AS_OF].max():%Y-%m-%d}", "rows": len(now)}
    # Its MLflow run says so, under the names LightGBM's run uses (it said the refit's rows).
    rule_run = client.get_run(weak.baseline.run_id).data.params
    model_run = client.get_run(weak.run_id).data.params
    assert rule_run["trained_on_rows"] == str(len(now)) != model_run["trained_on_rows"]
    assert rule_run["rule_fitted_on"] == fitted_on["cutoff"]
    assert rule_run["calibrated_on_rows"] == model_run["rows_test"]
    # Its metadata's trained_on is the refit's, kept for the gate (outcomes_learned_until)
    # and the drift reference, and says so; /models' learned_from names the rule's own fit
    # (it showed the refit's 41 cutoffs / 24,736 rows for an rfm_score champion of online_retail).
    from training.baseline_versions import REFIT_JUDGED_BESIDE, TRAINED_ON_IS

    window = deployed.data_window
    assert window["trained_on"]["rows"] == int(model_run["trained_on_rows"])
    assert window[TRAINED_ON_IS] == REFIT_JUDGED_BESIDE
    assert lineage.learned_from(window) == (
        f"{deployed.kind} fitted on the {len(now):,} users at {fitted_on['cutoff']}"
    )
    shared = {"trained_on_rows", "trained_on_cutoffs", "test_cutoffs", "feature_service"}
    assert shared <= set(rule_run) & set(model_run)
    # As champion, judged on test rows of a later training (a cutoff after its trained_on,
    # before the users it was fitted on). A rule with something fitted to rank by (RFM's
    # edges, on users whose features cover what followed the rows) is judged by its recorded
    # metric; recency ranks by nothing fitted, so it is re-scored on the rows themselves (its
    # recorded metric held a recency rule v4 of CDNOW over v6, the same rule, for a month).
    from training.evaluation import roc_auc
    from training.promotion import UNFITTED_RULES, gate_on_test

    promote(settings, "churn", weak.baseline.version, reason="test: a rule champion")
    between = sorted(
        t for t in features[AS_OF].unique() if weak.split.test_cutoff < t < now[AS_OF].max()
    )
    rows = features[features[AS_OF] == between[0]]
    rows = rows.assign(**{LABEL: np.arange(len(rows)) % 2})  # which score is taken, not its value
    _, verdict = gate_on_test(
        settings, client, "demo-churn", "churn", weak.version, rows, {"auc": 0.0}
    )
    tested = deployed.data_window["evaluated_on"]["test_cutoffs"]
    recorded_on = f"{tested[0]}..{tested[-1]}"
    assert rule.kind in UNFITTED_RULES  # the stump loses to recency on the demo
    rescored = roc_auc(rows[LABEL], deployed.predict(rows))
    assert f"champion v{weak.baseline.version} {rescored:.4f} on test" in verdict, verdict
    assert "recorded on its test" not in verdict
    monkeypatch.setattr("training.promotion.UNFITTED_RULES", frozenset())  # as if fitted
    _, verdict = gate_on_test(
        settings, client, "demo-churn", "churn", weak.version, rows, {"auc": 0.0}
    )
    assert (
        f"champion v{weak.baseline.version} {deployed.metrics['auc']:.4f} "
        f"(recorded on its test {recorded_on}) on test {between[0]:%Y-%m-%d}"
    ) in verdict, verdict


def test_a_winning_rules_run_says_what_it_was_fitted_on_as_a_lightgbm_run_does(
    rule_won: tuple[Path, TrainResult],
) -> None:
    """An engineer comparing runs in MLflow reads a rule's label, split rows and latest cutoff
    learned from under the names LightGBM's run uses (the rule's run had no label, no rows_*
    and its version no trained_through). Only what means nothing for a rule is LightGBM's own."""
    home, weak = rule_won
    assert weak.baseline is not None
    client = registry.client(load_settings(home=home, environ={}))
    rule_run = client.get_run(weak.baseline.run_id).data.params
    model_run = client.get_run(weak.run_id).data.params
    for key in ("label", "rows_train", "rows_valid", "rows_test", "calibrated", "test_cutoff"):
        assert rule_run[key] == model_run[key], key
    # the settings that chose its rows and judged it, as LightGBM's run logs them
    for key in ("training.max_rows", "training.min_improvement", "features.windows_days"):
        assert rule_run[key] == model_run[key], key
    # LightGBM's own: its seed, trees, blend with a rule and each booster's <model>.<name>
    lightgbm_only = {k for k in set(model_run) - set(rule_run) if "." not in k}
    assert lightgbm_only == {"seed", "best_iteration", "blend_weight"}
    rule_tags = client.get_model_version("demo-churn", weak.baseline.version).tags
    model_tags = client.get_model_version("demo-churn", weak.version).tags
    assert model_tags["trained_through"] == model_tags["test_cutoff"] == rule_tags["test_cutoff"]
    # the served rule learned from the users of now, a horizon after the test cutoff
    assert rule_tags["trained_through"] == rule_run["rule_fitted_on"]
    assert rule_tags["trained_through"] > model_tags["trained_through"]


def test_a_promotion_on_a_misspelt_dataset_names_the_datasets_the_workspace_knows(
    tmp_path: Path,
) -> None:
    """`lifecycle promote churn 1 --reason x --dataset onlne_retail` said "model
    onlne_retail-churn has no version 1 (it has none); see `lifecycle models`", as if the
    models were missing, where `models --dataset` names the datasets it knows."""
    for name in ("alpha", "shop"):  # the hint names the closest, not the first in order
        events = tmp_path / "datasets" / name / "events.parquet"
        events.parent.mkdir(parents=True)
        pd.DataFrame({"user_id": ["a"], "event_type": ["purchase"]}).to_parquet(events)

    def promote_v1(dataset: str) -> Any:
        args = ["--home", str(tmp_path), "promote", "churn", "1", "--reason", "x"]
        return CliRunner().invoke(main, [*args, "--dataset", dataset])

    refused = promote_v1("shpo")
    assert refused.exit_code == 1, refused.output
    assert refused.stderr.splitlines() == [
        f"Error: promote: no dataset 'shpo': no data in {tmp_path} and no model of it in the "
        "tracking store; it knows alpha, shop: pass --dataset shop"
    ]
    held = promote_v1("shop")  # a dataset it holds, without models: the registry's answer
    assert held.exit_code == 1, held.output
    assert "model shop-churn has no version 1 (it has none)" in held.stderr, held.stderr


def test_a_conversion_champion_that_answers_nothing_is_no_rival_at_the_gate(
    trained_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """online_retail: conversion v1 (May's LightGBM, +0.0097 over rfm_score on its test)
    stayed champion for good while 1 - churn answered conversion, and every later candidate
    was "kept as challenger: ... not more than champion v1 was against rfm_score ... (+0.0097)".
    A champion that answers nothing served protects no answer: the challenger is judged
    against the baselines alone, as after replaced data, and the verdict says why."""
    from experiment_runs import few_rounds

    from lifecycle.steps import train_tasks
    from serving import scoring

    # The demo logs sessions too: its churn and conversion taken as a purchase log's (one
    # event; tests/test_rowpath.py checks what makes them so), as test_one_answer does.
    one_event = property(lambda champions: {"churn", "conversion"} <= set(champions.bundles))
    monkeypatch.setattr(scoring.Champions, "one_event", one_event)
    # a lead of 1 asked over the champion: no challenger could show it beside a rival
    asked = {"LIFECYCLE_TRAINING__MIN_IMPROVEMENT": "1", **few_rounds()}
    settings = load_settings(home=trained_copy, environ=NO_COMPILE | NO_PLOTS | asked)
    client = registry.client(settings)
    before = registry.alias_version(client, "demo-conversion", registry.CHAMPION).version
    churn = registry.alias_version(client, "demo-churn", registry.CHAMPION).version
    done = train_tasks(settings, ["conversion"])
    (result,) = done.results
    _judged_as_a_first_model(
        client,
        result,
        f"champion v{before} answers nothing served (conversion is served as 1 - churn v{churn})",
    )
    # training says the task is answered by churn, its new champion answering nothing
    assert done.answered == {"conversion": f"1 - churn v{churn}"}


def test_a_promotion_says_how_far_the_latest_scores_move_and_a_rollback_back(
    rule_won: tuple[Path, TrainResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rollback named the tasks whose answers change and the `score-all` to run, not by
    how much (online_retail: churn v4 back to v2). `promote` now scores the latest scores
    table's users with the new champion through the batch scoring and sets the two side by
    side: means, rank correlation, how many of the top 100 change. A rollback is measured
    from the champion rolled back from, not from the table: read from a table the rollback's
    own version had scored, it said nothing moved (online_retail churn v2 -> v1: mean 0.446 ->
    0.446, "0 of the top 100 change", where /score moved 21 of them)."""
    home, weak = rule_won
    home = copy_workspace(home, tmp_path / "workspace")
    settings = load_settings(home=home, environ={})
    table = pd.read_parquet(settings.workspace.latest_scores)
    held = table["churn_probability"].dropna()
    before = str(
        registry.alias_version(registry.client(settings), "demo-churn", "champion").version
    )
    assert weak.baseline is not None

    said = run_cli(home, "promote", "churn", weak.baseline.version, "--reason", "rule", "--force")
    [line] = [s for s in said.splitlines() if "on the latest scores'" in s]  # a LightGBM table
    again = run_cli(home, "--json", "promote", "churn", weak.baseline.version, "--reason", "r")
    assert "score_shift" not in json.loads(again)  # the champion did not move: nothing measured
    document = json.loads(
        run_cli(home, "--json", "promote", "churn", before, "--reason", "rollback", "--force")
    )
    back = document["score_shift"]["churn"]
    # the rule's line: another ranking of the same users, said in numbers
    mean, rule = f"{held.mean():.3f}", line.split("mean churn_probability ")[1]
    assert line.startswith(f"  churn on the latest scores' {len(held):,} users (as of "), line
    assert rule.startswith(f"{mean} -> "), line
    ruled = float(rule.split(" -> ")[1].split(",")[0])
    correlation = float(rule.split("rank correlation ")[1].split(",")[0])
    changed = int(rule.split(", ")[-1].split(" of the top 100 change")[0])
    assert 0 < correlation < 1 and 0 < changed <= 100, line
    # the rollback: from the rule the service gave (scored again: the table is of the version
    # rolled back to) to the table's own numbers, the same distance back
    assert back["users"] == len(held) and back["mean_before"] == pytest.approx(ruled, abs=5e-4)
    assert back["mean_after"] == pytest.approx(held.mean(), abs=1e-9)
    assert f"{back['rank_correlation']:.2f}" == f"{correlation:.2f}", back
    assert back["top_changed"] == changed, back
    # `models` says the rule is champion no more: its "manual: r" alone read as current
    # (online_retail churn v2 after its rollback to v1)
    listed = json.loads(run_cli(home, "--json", "models"))["models"]
    [ruled_row] = [r for r in listed if r["model"] == "demo-churn"
                   and r["version"] == weak.baseline.version]  # fmt: skip
    gone = ruled_row["replaced"]
    assert ruled_row["promotion"] == "manual: r" and gone["to"] == before, ruled_row
    assert gone["reason"] == "manual: rollback" and gone["by"].startswith("hand ("), gone
    [champion_row] = [r for r in listed if r["model"] == "demo-churn" and r["version"] == before]
    assert champion_row["replaced"] is None
    text = run_cli(home, "models").splitlines()
    at = text.index(next(x for x in text if x.startswith(f"demo-churn v{weak.baseline.version} ")))
    until = f"  champion until {gone['at']}: v{before} by {gone['by']}: manual: rollback"
    assert until in text[at + 1 : at + 7], text[at : at + 7]
    # a table larger than the users scored again: a seeded sample of them, said so
    from serving import score_shift

    monkeypatch.setattr(score_shift, "SAMPLE_USERS", 50)
    said = run_cli(home, "promote", "churn", weak.baseline.version, "--reason", "rule", "--force")
    [line] = [s for s in said.splitlines() if "on the latest scores'" in s]
    assert f"users (a sample of 50 of {len(table):,}, " in line, line
    sample = json.loads(
        run_cli(home, "--json", "promote", "churn", before, "--reason", "rollback", "--force")
    )["score_shift"]["churn"]
    assert sample["of"] == len(table) and 0 < sample["users"] <= 50, sample
    forth = float(line.split("rank correlation ")[1].split(",")[0])
    assert f"{sample['rank_correlation']:.2f}" == f"{forth:.2f}" and sample["top"] <= 50, sample
