"""Training against a real MLflow store on a small demo: models, baselines, calibration,
reproducibility, the promotion gate, manual promotion, and clear errors."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from services import run_cli
from workspaces import NO_COMPILE, TrainedWorkspace, copy_workspace

from features.asof import AS_OF
from features.labels import LABEL
from features.store import store_paths
from lifecycle import registry
from lifecycle.bundle import VALUE_LEVELS, ModelBundle
from lifecycle.cli import main
from lifecycle.registry import PromotionError, promote
from lifecycle.rules import feature_matrix
from lifecycle.settings import Settings, SettingsError, load_settings
from training import models as model_specs
from training.pipeline import (
    METHOD,
    Method,
    TrainingError,
    TrainResult,
    check_trainable,
    time_split,
    train_task,
)
from training.tracking import GIT_COMMIT_TAG, GIT_DIRTY_TAG, code_version, list_models, run_name


@pytest.fixture
def home(trained_workspace: TrainedWorkspace) -> Path:
    """The shared trained workspace, for tests that only read it."""
    return trained_workspace.home


@pytest.fixture
def trained(trained_workspace: TrainedWorkspace) -> dict:
    """The first training of each task, as the shared workspace was built."""
    return trained_workspace.results


def _trained_again(
    shared: TrainedWorkspace, folder: Path, *stumps: str
) -> tuple[Path, TrainResult]:
    """A copy of the shared workspace with churn trained again (its ``stumps`` as one-split
    stumps), once per module: the tests below read it, or change a copy of it."""
    home = copy_workspace(shared.home, folder / "workspace")
    with pytest.MonkeyPatch.context() as patch:
        _stumps(patch, *stumps)
        return home, train_task(load_settings(home=home, environ={}), "churn")


@pytest.fixture(scope="module")
def churn_again(trained_workspace: TrainedWorkspace, tmp_path_factory: Any) -> Any:
    """Churn trained again on the same data with the same seed."""
    return _trained_again(trained_workspace, tmp_path_factory.mktemp("again"))


@pytest.fixture(scope="module")
def rule_won(trained_workspace: TrainedWorkspace, tmp_path_factory: Any) -> Any:
    """Churn trained again as a one-split stump, which loses its gate to a baseline rule."""
    return _trained_again(trained_workspace, tmp_path_factory.mktemp("rule"), "churn")


def test_models_beat_simple_baselines_and_are_calibrated(trained: dict) -> None:
    churn = trained["churn"].metrics
    assert churn["lightgbm"]["auc"] > churn["recency_rule"]["auc"]
    assert churn["lightgbm"]["auc"] > churn["rfm_score"]["auc"]
    assert churn["lightgbm"]["ece"] < 0.05  # calibrated on the validation cutoff
    ltv = trained["ltv"].metrics
    assert ltv["lightgbm"]["normalized_gini"] > ltv["last_period_value"]["normalized_gini"]
    assert ltv["lightgbm"]["normalized_gini"] > ltv["bgnbd_gamma_gamma"]["normalized_gini"]
    assert 0.5 < ltv["lightgbm"]["p10_p90_coverage"] <= 1.0
    for result in trained.values():
        assert result.promoted and result.gate.startswith("first model")


def test_time_split_is_honest(trained: dict) -> None:
    for result in trained.values():
        split = result.split
        horizon = pd.Timedelta(days=365 if result.task == "ltv" else 90)
        assert max(split.train) < min(split.valid) <= max(split.valid) < min(split.test)
        assert max(split.valid) + horizon <= min(
            split.test
        )  # validation labels had matured by the test cutoffs


def test_registered_model_is_one_bundle_with_metadata(
    trained_copy: Path, trained: dict, tmp_path: Path
) -> None:
    import mlflow

    # a copy: loading a model through mlflow.pyfunc writes a file beside its artifacts
    settings = load_settings(home=trained_copy, environ={})
    client = registry.client(settings)
    version = registry.alias_version(client, "demo-ltv", registry.CHAMPION)
    bundle = ModelBundle.load(registry.bundle_path(client, "demo-ltv", version.version, tmp_path))
    assert bundle.service == "ltv_v1" and bundle.label["horizon_days"] == 365
    assert bundle.data_window["test_cutoff"] == f"{trained['ltv'].split.test_cutoff:%Y-%m-%d}"
    # two-part LTV: P(any value), the value given some value, and its quantile models
    assert set(bundle.quantile_boosters) == set(VALUE_LEVELS) and bundle.purchase_booster
    assert bundle.data_window["trained_on"]["cutoffs"][-1] == bundle.data_window["test_cutoff"]
    assert bundle.data_window["activity"] == "beyond_purchases"  # the demo has sessions
    pyfunc = mlflow.pyfunc.load_model("models:/demo-ltv@champion")
    assert (
        pyfunc.metadata.get_input_schema() is not None
        and pyfunc.metadata.get_output_schema() is not None
    )
    features = pd.DataFrame(pyfunc.input_example)
    scored = pyfunc.predict(features)
    np.testing.assert_allclose(scored["score"].to_numpy(), bundle.predict(features))
    # Nobody's row: MLflow keeps the example where `forget` cannot reach it.
    table = pd.read_parquet(store_paths(settings).feature_table, columns=list(features.columns))
    assert len(features) == 1 and features.merge(table.astype(features.dtypes)).empty
    assert (scored["p10"] <= scored["p50"]).all() and (scored["p50"] <= scored["p90"]).all()


def test_same_data_and_seed_give_same_metrics_and_gate_keeps_champion(
    churn_again: tuple[Path, TrainResult], trained: dict
) -> None:
    home, again = churn_again
    settings = load_settings(home=home, environ={})
    assert again.metrics == trained["churn"].metrics
    assert not again.promoted and "does not beat champion" in again.gate
    client = registry.client(settings)
    assert (
        str(registry.alias_version(client, "demo-churn", registry.CHAMPION).version)
        == trained["churn"].version
    )
    assert (
        str(registry.alias_version(client, "demo-churn", registry.CHALLENGER).version)
        == again.version
    )


def test_a_champion_carries_no_challenger_alias(
    churn_again: tuple[Path, TrainResult], tmp_path: Path
) -> None:
    home, again = churn_again  # churn again, on a copy: promoted by hand below
    settings = load_settings(home=copy_workspace(home, tmp_path / "workspace"), environ={})
    rows = list_models(settings)
    champions = [r for r in rows if "champion" in r["aliases"]]
    assert {r["task"] for r in champions} == {"churn", "conversion", "ltv"}
    assert all(r["aliases"] == ["champion"] for r in champions), champions
    assert not again.promoted, again.gate  # the same data: a challenger, kept back
    challenger = registry.challenger_version(settings, "churn")
    assert challenger == again.version
    promote(settings, "churn", challenger, reason="alias drill")  # promoted by hand
    aliases = {
        str(r["version"]): r["aliases"] for r in list_models(settings) if r["task"] == "churn"
    }
    assert aliases[again.version] == ["champion"]
    client = registry.client(settings)
    assert registry.alias_version(client, "demo-churn", registry.CHALLENGER) is None
    with pytest.raises(PromotionError, match=f"no challenger \\(v{again.version} is already"):
        registry.challenger_version(settings, "churn")


def test_better_challenger_is_promoted(
    trained_copy: Path, trained: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    # NO_COMPILE: the 1,000-tree champion would be compiled at registration (test_compiled's job)
    settings = load_settings(home=trained_copy, environ=NO_COMPILE)
    stump = dataclasses.replace(model_specs.spec_of("conversion"), num_boost_round=1)
    monkeypatch.setitem(model_specs.SPECS, "conversion", stump)
    weak = train_task(settings, "conversion")
    promote(settings, "conversion", weak.version, reason="test: install a weak champion")
    monkeypatch.setitem(
        model_specs.SPECS, "conversion", dataclasses.replace(stump, num_boost_round=1000)
    )
    strong = train_task(settings, "conversion")
    assert strong.promoted, strong.gate
    assert f"> champion v{weak.version}" in strong.gate


def test_manual_promotion_records_reason(trained_copy: Path, trained: dict) -> None:
    settings = load_settings(home=trained_copy, environ={})
    done = promote(settings, "ltv", trained["ltv"].version, reason="rollback drill")
    assert done["champion"] == trained["ltv"].version
    client = registry.client(settings)
    assert (
        client.get_model_version("demo-ltv", trained["ltv"].version).tags["promotion"]
        == "manual: rollback drill"
    )
    with pytest.raises(PromotionError, match="has no version 999"):
        promote(settings, "ltv", "999", reason="nope")
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
    assert f"champion is now v{scored} (was {unjudged})" in back and "over the gate" not in back
    rows = list_models(settings)
    champions = {r["task"]: r["version"] for r in rows if "champion" in r["aliases"]}
    assert set(champions) == {"churn", "conversion", "ltv"}
    listing = run_cli(trained_copy, "models")
    assert "demo-ltv v" in listing and "champion" in listing


def test_training_errors_name_the_counts() -> None:
    settings = load_settings(environ={})
    frame = pd.DataFrame({LABEL: [0] * 300})
    with pytest.raises(
        TrainingError, match=r"train rows have a single class \(0 positive, 300 negative\)"
    ):
        check_trainable("churn", {"train": frame, "valid": frame, "test": frame}, settings)
    few = pd.DataFrame({LABEL: [1] * 5 + [0] * 295})
    with pytest.raises(TrainingError, match="valid has 5 positives of 300 rows"):
        check_trainable(
            "churn",
            {
                "train": frame.assign(label=np.r_[np.ones(50), np.zeros(250)]),
                "valid": few,
                "test": few,
            },
            settings,
        )
    with pytest.raises(TrainingError, match="only 10 training rows"):
        check_trainable("churn", {"train": frame.head(10), "valid": frame, "test": frame}, settings)
    cutoffs = list(pd.date_range("2024-01-01", periods=4, freq="MS", tz="UTC"))
    with pytest.raises(TrainingError, match="no cutoff had matured labels by the first test"):
        time_split(cutoffs, 365)
    with pytest.raises(TrainingError, match="at least 3 matured cutoffs"):
        time_split(cutoffs[:2], 30)


def test_horizon_longer_than_history_is_refused(home: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["--home", str(home), "train", "ltv"],
        env={
            "LIFECYCLE_LABELS__LTV_HORIZON_DAYS": "2000",
            "LIFECYCLE_TRAINING__LABEL_FREE_FALLBACK": "false",  # else BG/NBD + GG serves
        },
    )
    assert result.exit_code == 1
    assert "no cutoff of dataset 'demo' has a matured 2000-day ltv horizon" in result.stderr


def test_too_few_matured_cutoffs_name_the_task_and_its_horizon(home: Path) -> None:
    # A horizon that leaves one matured cutoff (a year's LTV on a one-year log).
    features = pd.read_parquet(store_paths(load_settings(home=home, environ={})).feature_table)
    events = pd.read_parquet(load_settings(home=home, environ={}).workspace.events("demo"))
    horizon = (events["event_time"].max() - features[AS_OF].min()).days
    result = CliRunner().invoke(
        main,
        ["--home", str(home), "train", "ltv"],
        env={
            "LIFECYCLE_LABELS__LTV_HORIZON_DAYS": str(horizon),
            "LIFECYCLE_TRAINING__LABEL_FREE_FALLBACK": "false",
        },
    )
    assert result.exit_code == 1
    assert (
        f"ltv: with a {horizon}-day horizon only 1 cutoff(s) had matured labels; need at least 3"
        in result.stderr
    )
    assert "use a shorter horizon (labels.ltv_horizon_days)" in result.stderr  # was <task>


def test_training_rows_come_from_every_matured_cutoff(trained: dict) -> None:
    report = trained["churn"].report
    assert report["rows_without_features"] == 0
    assert len(report["cutoffs"]) >= 20 and AS_OF


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
    assert not promoted and "does not beat champion v1 0.7000 by more than 0.01" in reason
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


def test_time_split_says_when_every_matured_cutoff_fell_in_the_validation_pool() -> None:
    """A young shop's matured cutoffs all in the validation pool: said as it is, with the
    missing train cutoff before it (not "only 4 ... need 2")."""
    from training.errors import TooFewOutcomes

    cutoffs = list(pd.date_range("2024-01-05", periods=20, freq="7D", tz="UTC"))
    with pytest.raises(TooFewOutcomes) as refused:
        time_split(cutoffs, 91)
    message = str(refused.value)
    assert (
        "4 cutoff(s) had matured labels by the first test cutoff 2024-04-26, all in the "
        "validation pool (their last 28 days), and no train cutoff is left before it" in message
    )
    assert "need 2" not in message and "only" not in message
    with pytest.raises(TooFewOutcomes, match="no cutoff had matured labels by the first test"):
        time_split(cutoffs[:14], 91)


def test_time_split_pools_a_month_of_weekly_cutoffs() -> None:
    cutoffs = list(pd.date_range("2024-01-05", periods=40, freq="7D", tz="UTC"))
    split = time_split(cutoffs, 91)
    assert split.test == cutoffs[-4:]  # the last 28 days
    assert all(t + pd.Timedelta(days=91) <= split.test[0] for t in split.valid)
    assert len(split.valid) == 4 and split.train == [t for t in cutoffs if t < split.valid[0]]
    assert split.test_cutoff == cutoffs[-1]


def test_thinning_keeps_the_freshest_cutoffs_evenly() -> None:
    from training.datasets import thin_cutoffs, within_rows

    cutoffs = list(pd.date_range("2024-01-05", periods=10, freq="7D", tz="UTC"))
    assert thin_cutoffs(cutoffs, 52) == cutoffs
    kept = thin_cutoffs(cutoffs, 4)
    assert kept == cutoffs[::-3][::-1] and kept[-1] == cutoffs[-1] and len(kept) == 4
    assert thin_cutoffs([], 4) == []
    rows = pd.Series([100] * 10, index=cutoffs)
    assert within_rows(rows, cutoffs, 1000) == cutoffs
    assert within_rows(rows, cutoffs, 500) == cutoffs[::-2][::-1]  # every 2nd: 500 rows
    assert within_rows(rows, cutoffs, 50) == cutoffs[::-4][::-1]  # 3 cutoffs at the least


def test_deployed_model_learned_from_every_matured_cutoff(
    home: Path, trained: dict, tmp_path: Path
) -> None:
    """The registered version is the refit: it learned from the test cutoffs too (the
    evaluated model never did), and records both windows."""
    settings = load_settings(home=home, environ={})
    client = registry.client(settings)
    for task, result in trained.items():
        name = registry.model_name("demo", task)
        with_tmp = tmp_path / f"refit-{task}"
        bundle = ModelBundle.load(registry.bundle_path(client, name, result.version, with_tmp))
        window = bundle.data_window
        evaluated = window["evaluated_on"]
        trained_on = window["trained_on"]["cutoffs"]
        assert max(evaluated["train_cutoffs"]) < min(evaluated["test_cutoffs"])
        assert set(evaluated["train_cutoffs"]) | set(evaluated["test_cutoffs"]) <= set(trained_on)
        assert trained_on[-1] == f"{result.split.test_cutoff:%Y-%m-%d}"
        assert bundle.metrics == result.metrics["lightgbm"]  # the evaluated model's figures


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
    # served calibrated, it ranks the test users exactly as the rule the gate compared
    for metric in ("auc", "pr_auc"):
        assert weak.baseline.metrics[metric] == pytest.approx(
            weak.metrics[weak.baseline.kind][metric], abs=1e-12
        )
    assert 0 <= weak.baseline.metrics["ece"] < 0.1  # calibrated out of time, on valid
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
    from lifecycle.refresh import REFRESH_MODEL_KEYS, everything_promoted
    from training.models import LTV_PURCHASE, LTV_QUANTILE

    small = load_settings(home=trained_copy, environ={"LIFECYCLE_TRAINING__MIN_ROWS": "100000"})
    label_free = train_task(small, "ltv")
    settings = load_settings(home=trained_copy, environ={})
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
    assert everything_promoted(refreshed)

    listed = CliRunner().invoke(main, ["--home", str(trained_copy), "--json", "models"])
    rows = {str(r["version"]): r for r in json.loads(listed.stdout)["models"] if r["task"] == "ltv"}
    assert rows[weak.version]["kind"] == "lightgbm" and rows[weak.version]["promotion"] is None
    assert rows[weak.version]["gate"] == weak.gate
    assert rows[label_free.version]["test_cutoff"] is None
    assert rows[weak.baseline.version]["promotion"] == weak.baseline.gate
    text = CliRunner().invoke(main, ["--home", str(trained_copy), "models"]).stdout
    assert f"demo-ltv v{weak.version} (lightgbm) [challenger]" in text
    assert f"  {weak.gate}" in text


def test_a_winning_rule_is_served_fitted_on_the_users_of_now(
    rule_won: tuple[Path, TrainResult], tmp_path: Path
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
    shared = {"trained_on_rows", "trained_on_cutoffs", "test_cutoffs", "feature_service"}
    assert shared <= set(rule_run) & set(model_run)
    # As champion, judged on test rows of a later training (a cutoff after its trained_on,
    # before the users it was fitted on): those users' features cover what followed the
    # rows, so the gate takes its recorded metric (it re-scored it, and kept the stale rule).
    from training.promotion import gate_on_test

    promote(settings, "churn", weak.baseline.version, reason="test: a rule champion")
    between = sorted(
        t for t in features[AS_OF].unique() if weak.split.test_cutoff < t < now[AS_OF].max()
    )
    rows = features[features[AS_OF] == between[0]]
    rows = rows.assign(**{LABEL: np.arange(len(rows)) % 2})  # which score is taken, not its value
    _, verdict = gate_on_test(
        settings, client, "demo-churn", "churn", weak.version, rows, {"auc": 0.0}
    )
    recorded_on = deployed.data_window["evaluated_on"]["test_cutoff"]
    assert (
        f"champion v{weak.baseline.version} {deployed.metrics['auc']:.4f} "
        f"(recorded on its test {recorded_on}) on test {between[0]:%Y-%m-%d}"
    ) in verdict, verdict


def test_calibration_is_kept_only_when_it_transfers_out_of_time() -> None:
    """Calibrating on an earlier period is kept when it helps a later one and dropped when
    the later period's base rate moved (a seasonal swing): then the refit deploys
    LightGBM's own probabilities, with no calibrator."""
    from training.models import calibration_transfers, fit_bundle, refit_bundle

    rng = np.random.default_rng(0)

    def period(n: int, shift: float) -> pd.DataFrame:
        x = rng.normal(size=n)
        p = 1 / (1 + np.exp(-(1.5 * x + shift)))
        return pd.DataFrame({"x": x, LABEL: (rng.random(n) < p).astype(int)})

    common = {
        "label": LABEL,
        "feature_names": ["x"],
        "service": "churn_v1",
        "label_spec": {"task": "churn"},
        "data_window": {},
    }
    train = period(4000, 0.0)
    # The validation period moved and the test period moved the same way: calibration helps.
    valid = period(2000, 1.5)
    bundle = fit_bundle("churn", train, valid, **common)
    kept = calibration_transfers(bundle, period(4000, 1.5), LABEL)
    assert kept["transfers"] and kept["ece_calibrated"] < kept["ece_raw"]
    # The validation period moved one way and the test period the other: it hurts.
    valid = period(2000, -1.5)
    bundle = fit_bundle("churn", train, valid, **common)
    dropped = calibration_transfers(bundle, period(4000, 0.0), LABEL)
    assert not dropped["transfers"] and dropped["ece_calibrated"] > dropped["ece_raw"]
    bundle.calibrator = None  # the pipeline's answer when calibration does not transfer
    deployed = refit_bundle(
        bundle, pd.concat([train, valid]), label=LABEL, calibration=valid, data_window={}
    )
    assert deployed.calibrator is None
    assert deployed.booster.current_iteration() == bundle.booster.best_iteration
    p = deployed.predict(valid)
    assert ((p > 0) & (p < 1)).all()


def test_calibration_keeps_the_order_of_a_rule_score_on_any_scale() -> None:
    """A rule's raw score need not be a probability (days of recency, with a sign; an RFM
    sum): calibrated, every user keeps their order, so the ranking metrics the gate compared
    are the served version's, also where the score ranks the other way on the calibration
    rows (a Platt slope below 0 would reverse the isotonic ties)."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    from training.models import fit_calibrator

    rng = np.random.default_rng(3)
    recency = rng.integers(0, 365, 5000).astype(float)
    bought = (rng.random(5000) < 0.3 * np.exp(-recency / 120)).astype(int)
    for raw, y in (
        (-recency, bought),  # conversion's recency rule: fewer days, likelier
        (recency, bought),  # ranked the wrong way on the calibration rows
        (recency / 365, 1 - bought),  # a probability: the logit link
    ):
        calibrator = fit_calibrator(raw, y)
        assert calibrator.slope > 0
        assert calibrator.link == ("logit" if raw.min() >= 0 and raw.max() <= 1 else "identity")
        calibrated = calibrator(raw)
        assert ((calibrated >= 0) & (calibrated <= 1)).all()
        order = np.argsort(raw, kind="stable")
        assert (np.diff(calibrated[order]) >= 0).all()
        assert len(np.unique(calibrated)) == len(np.unique(raw))  # no new ties
        assert roc_auc_score(y, calibrated) == pytest.approx(roc_auc_score(y, raw), abs=1e-12)
        assert average_precision_score(y, calibrated) == pytest.approx(
            average_precision_score(y, raw), abs=1e-12
        )


RUN_NAME = re.compile(r"^(?P<what>.+)-(?P<at>\d{4}-\d{2}-\d{2}T\d{4})$")


def test_runs_are_named_for_task_dataset_and_time_and_carry_the_commit(
    home: Path, trained: dict
) -> None:
    client = registry.client(load_settings(home=home, environ={}))
    repo = Path(model_specs.__file__).resolve().parent
    head = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True
    )
    for task, result in trained.items():
        run = client.get_run(result.run_id)
        named = RUN_NAME.match(run.info.run_name)
        assert named and named["what"] == f"{task}-demo", run.info.run_name
        started = datetime.fromtimestamp(run.info.start_time / 1000, UTC)
        at = datetime.strptime(named["at"], "%Y-%m-%dT%H%M").replace(tzinfo=UTC)
        assert abs((started - at).total_seconds()) < 120  # the minute the run started
        assert run.data.params["dataset"] == "demo"
        if head.returncode == 0:  # tests run from a checkout: the commit of this code
            assert run.data.tags[GIT_COMMIT_TAG] == head.stdout.strip()
            assert run.data.tags[GIT_DIRTY_TAG] in ("true", "false")
        else:
            assert GIT_DIRTY_TAG not in run.data.tags
    assert (
        run_name("churn", "online_retail", at=datetime(2026, 11, 30, 12, 0, tzinfo=UTC))
        == "churn-online_retail-2026-11-30T1200"
    )


def test_every_booster_logs_its_effective_hyperparameters(
    home: Path, trained: dict, tmp_path: Path
) -> None:
    """LTV's five boosters each log what they were trained with: objective, quantile level,
    spec values, and the trees grown, as the registered bundle's boosters record them."""
    settings = load_settings(home=home, environ={})
    client = registry.client(settings)
    result = trained["ltv"]
    params = client.get_run(result.run_id).data.params
    bundle = ModelBundle.load(
        registry.bundle_path(client, "demo-ltv", result.version, tmp_path / "ltv-params")
    )
    assert params["ltv.objective"] == "gamma" and params["ltv_purchase.objective"] == "binary"
    boosters = {"ltv": bundle.booster, "ltv_purchase": bundle.purchase_booster}
    for level, booster in bundle.quantile_boosters.items():
        name = f"ltv_quantile_p{round(level * 100):02d}"
        boosters[name] = booster
        assert params[f"{name}.objective"] == "quantile"
        assert float(params[f"{name}.alpha"]) == pytest.approx(level)
    for name, booster in boosters.items():
        assert int(params[f"{name}.trees"]) == booster.current_iteration() >= 1
        assert float(params[f"{name}.learning_rate"]) == booster.params["learning_rate"]
        assert int(params[f"{name}.num_leaves"]) == booster.params["num_leaves"] == 15
        assert params[f"{name}.num_boost_round"] == "1000"
    churn = client.get_run(trained["churn"].run_id).data.params
    assert churn["churn.learning_rate"] == "0.05" and churn["churn.num_leaves"] == "15"
    assert not any(key.startswith("ltv") for key in churn)


def test_environment_hyperparameters_reach_the_booster_and_the_run(trained_copy: Path) -> None:
    """LIFECYCLE_TRAINING__MODELS__CHURN__* is used for training and logged on the run; the
    spec's other values stay. (Never promoted: the champion stays the default model.)"""
    env = {
        "LIFECYCLE_TRAINING__MODELS__CHURN__LEARNING_RATE": "0.03",
        "LIFECYCLE_TRAINING__MODELS__CHURN__NUM_BOOST_ROUND": "40",
        "LIFECYCLE_TRAINING__MIN_IMPROVEMENT": "1",
    }
    settings = load_settings(home=trained_copy, environ=env)
    result = train_task(settings, "churn")
    assert not result.promoted
    client = registry.client(settings)
    params = client.get_run(result.run_id).data.params
    assert params["churn.learning_rate"] == "0.03" and params["churn.num_boost_round"] == "40"
    assert params["churn.num_leaves"] == "15"  # the spec's, not overridden
    bundle = ModelBundle.load(
        registry.bundle_path(client, "demo-churn", result.version, trained_copy / "env-params")
    )
    assert bundle.booster.params["learning_rate"] == 0.03  # the registered model's own record
    assert bundle.booster.params["num_leaves"] == 15
    assert 1 <= bundle.booster.current_iteration() <= 40
    assert int(params["churn.trees"]) == bundle.booster.current_iteration()


def test_model_specs_take_settings_per_model_and_refuse_unknown_models(tmp_path: Path) -> None:
    env = {
        "LIFECYCLE_TRAINING__MODELS__LTV_QUANTILE__NUM_LEAVES": "9",
        "LIFECYCLE_TRAINING__MODELS__CONVERSION__EARLY_STOPPING_ROUNDS": "5",
    }
    specs = model_specs.model_specs(load_settings(home=tmp_path, environ=env))
    default = {name: model_specs.spec_of(name) for name in specs}  # declarations and SPECS
    assert specs["ltv_quantile"].params == default["ltv_quantile"].params | {"num_leaves": 9}
    assert specs["ltv_quantile"].lgb_params(seed=7)["num_leaves"] == 9
    assert specs["conversion"].early_stopping_rounds == 5
    assert specs["conversion"].params == default["conversion"].params
    assert specs["churn"] == default["churn"] and specs["ltv"] == default["ltv"]
    typo = load_settings(
        home=tmp_path, environ={"LIFECYCLE_TRAINING__MODELS__CHRUN__LEARNING_RATE": "0.1"}
    )
    with pytest.raises(
        SettingsError, match=r"training\.models\.chrun: there is no model 'chrun'.*churn, "
    ):
        model_specs.model_specs(typo)
    with pytest.raises(SettingsError, match=r"training\.models\.chrun"):
        train_task(typo, "churn")  # before any data is read


def test_code_version_names_the_commit_and_is_absent_outside_git(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()

    git("init", "-q")
    (repo / "model.py").write_text("RATE = 0.05\n")
    git("add", "model.py")
    git("commit", "-q", "-m", "first")
    commit = git("rev-parse", "HEAD")
    assert code_version(repo) == {GIT_COMMIT_TAG: commit, GIT_DIRTY_TAG: "false"}
    (repo / "notes.txt").write_text("untracked: not code\n")
    assert code_version(repo)[GIT_DIRTY_TAG] == "false"
    (repo / "model.py").write_text("RATE = 0.03\n")
    assert code_version(repo) == {GIT_COMMIT_TAG: commit, GIT_DIRTY_TAG: "true"}
    outside = tmp_path / "not-a-checkout"
    outside.mkdir()
    assert code_version(outside) == {}
    monkeypatch.setenv("PATH", str(tmp_path / "no-binaries"))  # git not installed
    assert code_version(repo) == {}
