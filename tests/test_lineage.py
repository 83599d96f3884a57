"""Lineage and freshness: every artefact says what it was built from; a step on stale inputs
refuses naming the command to run; a changed label definition never slips through the gate,
into movers or into a response unmarked. Real Feast, MLflow and scores tables."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner
from experiment_runs import few_rounds
from workspaces import NO_COMPILE, NO_PLOTS, TrainedWorkspace

from features import contract as c
from features.ingest import ingest_events
from lifecycle import lineage, registry
from lifecycle.cli import main
from lifecycle.refresh import model_problem
from lifecycle.settings import load_settings

TASKS = ("churn", "conversion", "ltv")


def append_next_week(settings: object, folder: Path) -> Path:
    """The demo's last week again, a week later: a second batch of days, appended."""
    ws = settings.workspace  # type: ignore[attr-defined]
    events = pd.read_parquet(ws.events("demo"))
    last = events[c.EVENT_TIME].max()
    week = events[events[c.EVENT_TIME] > last - pd.Timedelta(days=7)].copy()
    week[c.EVENT_TIME] = week[c.EVENT_TIME] + pd.Timedelta(days=7)
    path = folder / "next_week.parquet"
    week.to_parquet(path, index=False)
    ingest_events(path, ws.dataset_dir("demo"), mode="append")
    return path


def test_every_artefact_records_what_it_was_built_from(
    trained_workspace: TrainedWorkspace,
) -> None:
    settings = trained_workspace.settings()
    ws = settings.workspace
    table = lineage.read(ws.feature_table("demo"))
    assert table is not None
    assert table["dataset_version"] == lineage.dataset_version(ws.dataset_dir("demo"))
    assert table["dataset_version"].startswith("demo@") and table["code_version"]
    online = json.loads(
        lineage.lineage_path(lineage.online_store_lineage(settings, "demo")).read_text()
    )
    assert online["feature_table"] == table["id"] and online["feature_services"]
    client = registry.client(settings)
    for task in TASKS:
        champion = registry.alias_version(client, registry.model_name("demo", task), "champion")
        tags = champion.tags
        assert tags["lineage.dataset_version"] == table["dataset_version"]
        assert tags["lineage.feature_table"] == table["id"]
        assert tags["lineage.feature_service"].startswith(f"{task}_v")
        assert tags["lineage.settings_hash"] == lineage.settings_hash(settings)
        assert tags["lineage.code_version"] == lineage.code_version()
        assert json.loads(tags["label_definition"])["task"] == task
    from serving.batch import latest_scores

    scores = latest_scores(settings).metadata
    assert scores["lineage"]["feature_table"] == table["id"]
    assert scores["lineage"]["dataset_version"] == table["dataset_version"]


def test_steps_after_a_newer_ingest_refuse_naming_the_command(
    trained_copy: Path, tmp_path: Path
) -> None:
    from features.store import materialize
    from serving.batch import score_all
    from training.pipeline import train_task

    settings = load_settings(home=trained_copy, environ={})
    append_next_week(settings, tmp_path)
    with pytest.raises(lineage.StaleInput, match=r"lifecycle features build --dataset demo"):
        train_task(settings, "churn")
    with pytest.raises(lineage.StaleInput, match=r"^materialize refused: .*features build"):
        materialize(settings)
    with pytest.raises(lineage.StaleInput, match=r"^score-all refused: .*features build"):
        score_all(settings)
    result = CliRunner().invoke(main, ["--home", str(trained_copy), "train", "churn"])
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert result.exit_code == 1 and len(errors) == 1 and "Traceback" not in result.output
    assert "train churn refused: the feature table of 'demo' was built from dataset" in errors[0]
    # The champions were not touched: nothing trained or gated on the stale rows.
    client = registry.client(settings)
    name = registry.model_name("demo", "churn")
    versions = client.search_model_versions(f"name = '{name}'")
    assert all(
        v.tags["lineage.feature_table"] == versions[0].tags["lineage.feature_table"]
        for v in versions
    )


def test_gate_refuses_a_changed_label_definition_unless_accepted(trained_copy: Path) -> None:
    from training.pipeline import train_task

    environ = {"LIFECYCLE_LABELS__CHURN_HORIZON_DAYS": "60"}
    # Not compiled when the accepted model is promoted, and few boosting rounds: only the
    # gate is asserted here.
    environ |= NO_COMPILE | NO_PLOTS | few_rounds()
    settings = load_settings(home=trained_copy, environ=environ)
    client = registry.client(settings)
    name = registry.model_name("demo", "churn")
    before = registry.alias_version(client, name, "champion").version

    refused = train_task(settings, "churn")
    assert not refused.promoted
    assert "label definition differs from champion" in refused.gate
    assert "horizon_days 90 -> 60" in refused.gate and "--accept-definition-change" in refused.gate
    rules = {k: v["auc"] for k, v in refused.metrics.items() if k != "lightgbm"}
    lost = refused.metrics["lightgbm"]["auc"] <= max(rules.values())
    assert ("; besides, auc " in refused.gate) == lost  # a loss to a baseline is said too
    assert registry.alias_version(client, name, "champion").version == before
    # By hand, too, only when the definition change is accepted.
    with pytest.raises(registry.PromotionError, match="label definition differs"):
        registry.promote(settings, "churn", refused.version, "looks better")
    # `lifecycle promote` (gated only) names every flag it will need at once, not one by one:
    # --force too only when the version lost to a baseline besides (test below)
    with pytest.raises(registry.PromotionError) as asked:
        registry.promote(settings, "churn", refused.version, "looks better", gated_only=True)
    flags = "--accept-definition-change --force" if lost else "--accept-definition-change"
    assert str(asked.value).endswith(f"add {flags} to promote it anyway"), asked.value
    assert ("the promotion gate also kept it back (" in str(asked.value)) == lost
    # `refresh` retrains it only when told to accept (it found every model current, and did
    # nothing with --accept-definition-change, while the old definition served on)
    assert model_problem(settings, client, "demo", "churn") is None
    held = model_problem(settings, client, "demo", "churn", "product asked for 60 days")
    assert held == (
        f"churn v{refused.version} was held back for its label definition, now accepted "
        "(--accept-definition-change)"
    )

    accepted = train_task(settings, "churn", accept_definition_change="product asked for 60 days")
    assert accepted.promoted, accepted.gate
    champion = registry.alias_version(client, name, "champion")
    assert str(champion.version) == accepted.version
    assert "accepted: product asked for 60 days" in champion.tags["promotion"]
    assert model_problem(settings, client, "demo", "churn", "again") is None  # it serves now


def test_promote_accepts_a_changed_definition_alone_when_it_was_the_only_objection(
    trained_copy: Path,
) -> None:
    """Session 45: a 60-day churn version kept back only for its definition (it beat the
    baselines) was refused by `lifecycle promote --accept-definition-change` until --force was
    added too, though `train --accept-definition-change` would have promoted it. --force stays
    needed for a version that also lost to a baseline."""
    environ = {"LIFECYCLE_LABELS__CHURN_HORIZON_DAYS": "60"} | NO_COMPILE | NO_PLOTS | few_rounds()
    # a tree that cannot split (every leaf needs more rows than the table): a constant score
    no_split = {"LIFECYCLE_TRAINING__MODELS__CHURN__MIN_DATA_IN_LEAF": "10000000"}

    def promote(version: str, *flags: str) -> Any:
        args = ["promote", "churn", version, "--reason", "60-day window agreed", *flags]
        return CliRunner().invoke(main, ["--home", str(trained_copy), *args], env=environ)

    def train(extra: dict[str, str]) -> Any:
        from training.pipeline import train_task

        return train_task(load_settings(home=trained_copy, environ=environ | extra), "churn")

    loser, winner = train(no_split), train({})
    refused = promote(loser.version, "--accept-definition-change")
    assert refused.exit_code == 1, refused.output
    assert refused.stderr.strip().endswith(
        "promote it anyway with --force (the reason is recorded on the version)"
    )
    accepted = promote(winner.version, "--accept-definition-change")
    assert accepted.exit_code == 0, accepted.output
    # what the gate had said is still told (it was dropped from the answer)
    overridden = f"promoted over the gate (--accept-definition-change): the promotion gate kept v{winner.version} back: label definition differs"
    assert overridden in accepted.output, accepted.output
    settings = load_settings(home=trained_copy, environ={})
    champion = registry.alias_version(registry.client(settings), "demo-churn", "champion")
    assert str(champion.version) == winner.version
    assert champion.tags["promotion"].endswith("(label definition changed: horizon_days 90 -> 60)")
    # the verdicts say which flags each needs
    assert "horizon_days 90 -> 60" in winner.gate and "; besides, " not in winner.gate
    assert "horizon_days 90 -> 60" in loser.gate
    assert "; besides, auc 0.5000 loses to the baseline " in loser.gate, loser.gate
    assert "promoting it by hand needs --force too" in loser.gate
    accept = (
        f"`lifecycle promote churn {winner.version} --reason REASON --accept-definition-change`"
    )
    assert winner.gate.endswith(accept), winner.gate
    forced = promote(loser.version, "--force")  # of the champion's definition now
    assert forced.exit_code == 0, forced.output


def test_a_definition_hold_against_a_champion_without_its_definition_tag_needs_no_force(
    trained_copy: Path,
) -> None:
    """A champion registered before tag label_definition existed: the gate held a 60-day
    churn back for its definition (read from the champion's bundle) and said to promote it
    with --accept-definition-change, which was then refused asking for --force (the tags
    showed no change). Now that flag alone promotes it, and without it the refusal names it."""
    from lifecycle.lineage import DEFINITION_TAG
    from training.pipeline import train_task

    settings = load_settings(home=trained_copy, environ={})
    registry.client(settings).delete_model_version_tag("demo-churn", "1", DEFINITION_TAG)
    environ = {"LIFECYCLE_LABELS__CHURN_HORIZON_DAYS": "60"} | NO_COMPILE | NO_PLOTS | few_rounds()
    held = train_task(load_settings(home=trained_copy, environ=environ), "churn")
    assert held.gate.startswith(registry.DEFINITION_HELD) and registry.BESIDES not in held.gate, (
        held.gate
    )
    args = ["--home", str(trained_copy), "promote", "churn", held.version, "--reason", "agreed"]
    refused = CliRunner().invoke(main, args, env=environ)
    assert refused.exit_code == 1, refused.output
    assert refused.stderr.strip().endswith("; add --accept-definition-change to promote it")
    accepted = CliRunner().invoke(main, [*args, "--accept-definition-change"], env=environ)
    assert accepted.exit_code == 0, accepted.output
    assert (
        f"promoted over the gate (--accept-definition-change): the promotion gate kept v{held.version} back: {held.gate}"
        in accepted.output
    )
    champion = registry.alias_version(registry.client(settings), "demo-churn", "champion")
    assert str(champion.version) == held.version


def test_movers_refuses_scores_of_different_definitions(home: Path) -> None:
    from serving.batch import write_scores

    scores = pd.DataFrame({c.USER_ID: ["u1", "u2"], "churn_probability": [0.2, 0.5]})
    for horizon, as_of in ((90, "2025-01-01"), (60, "2025-01-08")):
        label = {"task": "churn", "horizon_days": horizon, "lookback_days": None, "target": None}
        write_scores(home / "scores", scores, {"as_of": as_of, "labels": {"churn": label}})
    result = CliRunner().invoke(main, ["movers"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "movers refused" in result.stderr and "different label definitions" in result.stderr
    assert "churn: horizon_days 90 -> 60" in result.stderr


def test_movers_refuses_a_latest_table_older_than_the_previous(home: Path) -> None:
    """`score-all --as-of` an earlier date after a later one: risers would be users whose
    score fell over time (the list was shown, 2025-01-08 -> 2025-01-01)."""
    from serving.batch import write_scores

    label = {"task": "churn", "horizon_days": 90, "lookback_days": None, "target": None}
    for as_of, churn in (("2025-01-08", [0.2, 0.5]), ("2025-01-01", [0.6, 0.1])):
        scores = pd.DataFrame({c.USER_ID: ["u1", "u2"], "churn_probability": churn})
        write_scores(home / "scores", scores, {"as_of": as_of, "labels": {"churn": label}})
    result = CliRunner().invoke(main, ["movers", "--by", "churn_probability"])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert "latest scores table is of 2025-01-01" in result.stderr
    assert "earlier than the previous one of 2025-01-08" in result.stderr
    assert "run `lifecycle score-all`" in result.stderr


def test_lists_of_a_dataset_the_workspace_lacks_name_it(home: Path) -> None:
    """A misspelt --dataset was told to run `score-all --dataset shpo`, which then failed."""
    from serving.batch import write_scores

    scores = pd.DataFrame({c.USER_ID: ["u1"], "churn_probability": [0.2]})
    write_scores(home / "scores", scores, {"as_of": "2025-01-01", "dataset": "shop"})
    for command in (["at-risk"], ["segments"], ["report"]):
        result = CliRunner().invoke(main, [*command, "--dataset", "shpo"])
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
        assert "no dataset 'shpo'" in result.stderr and "score-all" not in result.stderr


def test_score_and_lists_say_which_definition_each_score_follows(
    trained_workspace: TrainedWorkspace, trained_copy: Path
) -> None:
    from serving.scorer import Scorer

    result = CliRunner().invoke(
        main, ["--home", str(trained_workspace.home), "--json", "at-risk", "--top", "3"]
    )
    listed = json.loads(result.stdout)
    assert listed["definitions"]["churn"]["horizon_days"] == 90
    assert listed["definitions"]["ltv"]["horizon_days"] == 365
    human = CliRunner().invoke(
        main, ["--home", str(trained_workspace.home), "at-risk", "--top", "3"]
    )
    assert "scores follow churn 90-day window" in human.stdout

    scorer = Scorer(load_settings(home=trained_copy, environ=NO_COMPILE))
    scorer.load()
    user = str(pd.read_parquet(trained_copy / "scores" / "latest.parquet")[c.USER_ID].iloc[0])
    response = scorer.score([user])
    assert response.definitions["churn"]["horizon_days"] == 90
    assert response.definitions["conversion"]["target"]
    page = scorer.at_risk(limit=2)
    assert page.definitions["churn"]["horizon_days"] == 90


EVENTS = "user_id,event_time,event_type,amount\n"
FIRST = EVENTS + "u1,2025-01-01 10:00:00,purchase,10\nu2,2025-01-02 10:00:00,session,\n"
NEXT = EVENTS + "u1,2025-01-06 10:00:00,purchase,7\n"
# Other customers under the same ids over the same days: a replace, not an append.
OTHER = EVENTS + "u1,2025-01-01 09:00:00,session,\nu2,2025-01-06 11:00:00,purchase,3\n"


def _registering(client: Any, name: str, home: Path) -> Callable[[dict[str, str]], str]:
    """A function registering a version of model ``name`` with ``built``'s lineage tags."""

    def register(built: dict[str, str]) -> str:
        version = client.create_model_version(name, source=str(home), run_id=None).version
        for key, value in built.items():
            client.set_model_version_tag(name, version, lineage.TAG_PREFIX + key, value)
        return str(version)

    return register


def _ingest_shop(home: Path, name: str, text: str, *flags: str) -> dict[str, str]:
    """Ingest ``text`` into dataset shop of ``home`` (CLI); the dataset's lineage after it."""
    path = home.parent / name
    path.write_text(text)
    result = CliRunner().invoke(main, ["ingest", str(path), "--dataset", "shop", *flags])
    assert result.exit_code == 0, result.output
    return lineage.dataset_lineage(
        load_settings(home=home, environ={}).workspace.dataset_dir("shop")
    )


def test_a_first_train_names_every_step_it_lacks_at_once(home: Path) -> None:
    """Trial M (online_retail, just imported): `train all` said run `features build`; after
    it, `train all` said run `features apply`: one refusal per step. A dataset without a
    feature table nor a Feast repository is now told both steps in the first refusal."""
    _ingest_shop(home, "first.csv", FIRST)
    refused = CliRunner().invoke(main, ["train", "churn", "--dataset", "shop"])
    assert refused.exit_code == 1 and "Traceback" not in refused.output, refused.output
    assert refused.stderr.strip() == (
        "Error: train churn refused: dataset 'shop' has no feature table; run `lifecycle "
        "features build --dataset shop` and `lifecycle features apply --dataset shop` first "
        "(or `lifecycle refresh --dataset shop`)"
    )


def test_train_all_is_refused_as_train_all(home: Path) -> None:
    """Trial M: `train all` on a dataset without features was refused as `train churn
    refused: ...`, naming its first task instead of what was asked."""
    _ingest_shop(home, "first.csv", FIRST)
    refused = CliRunner().invoke(main, ["train", "all", "--dataset", "shop"])
    assert refused.exit_code == 1 and "Traceback" not in refused.output, refused.output
    assert refused.stderr.startswith(
        "Error: train all refused: dataset 'shop' has no feature table; run `lifecycle "
        "features build --dataset shop`"
    ), refused.stderr


def test_a_dataset_replaced_by_another_ingest_is_told_from_one_appended_to(home: Path) -> None:
    """`lifecycle run --users 1500` after the default demo replaced it by other customers
    under the same ids, and the gate, outcomes and movers took them for the same ones. An
    append, an erasure or a restore keeps the data's generation; a new ingest does not."""
    settings = load_settings(home=home, environ={})
    first = _ingest_shop(home, "first.csv", FIRST)
    appended = _ingest_shop(home, "next.csv", NEXT, "--append")
    assert appended["dataset_version"] != first["dataset_version"]
    assert appended["dataset_generation"] == first["dataset_generation"] != ""
    assert lineage.replaced(settings, first, appended) is None
    forgot = CliRunner().invoke(main, ["forget", "u2"])
    assert forgot.exit_code == 0, forgot.output
    erased = lineage.dataset_lineage(settings.workspace.dataset_dir("shop"))
    assert erased["dataset_version"] != appended["dataset_version"]
    assert lineage.replaced(settings, first, erased) is None

    other = _ingest_shop(home, "other.csv", OTHER, "--replace")
    said = lineage.replaced(settings, appended, other)
    assert said == (
        f"dataset version {appended['dataset_version']} was replaced by "
        f"{other['dataset_version']} (a new ingest, not an append)"
    )
    # Recorded with the artefact, the generation tells even once its version is pruned;
    # an artefact of before generations, whose version is gone, cannot tell: not refused.
    gone = {"dataset_version": "shop@20200101T000000000000-00000000"}
    assert lineage.replaced(
        settings, gone | {"dataset_generation": first["dataset_generation"]}, other
    )
    assert lineage.replaced(settings, gone, other) is None
    restored = CliRunner().invoke(main, ["datasets", "restore", appended["dataset_version"]])
    assert restored.exit_code == 0, restored.output
    back = lineage.dataset_lineage(settings.workspace.dataset_dir("shop"))
    assert lineage.replaced(settings, first, back) is None
    assert lineage.replaced(settings, other, back) is not None


def test_a_champion_of_replaced_data_is_offered_a_version_to_promote_only_where_one_exists(
    home: Path,
) -> None:
    """The demo replaced by 40 users trained no conversion: the warning still said "`lifecycle
    promote conversion VERSION --reason ...` serves a version of this data", and `lifecycle
    models` showed none. A version of this data is named where the registry (or a server's
    mirror) has one, and none is where conversion is answered by churn."""
    settings = load_settings(home=home, environ={})
    first = _ingest_shop(home, "first.csv", FIRST)
    client = registry.client(settings)
    name = registry.model_name("shop", "conversion")
    client.create_registered_model(name)
    register = _registering(client, name, home)

    champion = register(first)
    registry.set_champion(client, name, champion, "first model")
    other = _ingest_shop(home, "other.csv", OTHER, "--replace")
    (said,) = lineage.champions_of_replaced_data(settings, "shop", {"conversion": "1"}).values()
    # named with --dataset: shop is not the settings' dataset (demo), which they would act on
    assert said.endswith(
        "`lifecycle train conversion --dataset shop` replaces it once this data can train it"
    )
    assert "promote" not in said, said
    fresh = register(other)
    (said,) = lineage.champions_of_replaced_data(settings, "shop", {"conversion": "1"}).values()
    assert said.endswith(
        "once this data can train it, or `lifecycle promote conversion 2 --dataset shop "
        "--reason ...` serves "
        "v2, a version of this data (`lifecycle models`)"
    )
    # a server: the versions its mirror records, nothing else
    built = {"conversion": first}
    for known, offered in (({"1": first}, False), ({"1": first, fresh: other}, True)):
        (said,) = lineage.champions_of_replaced_data(
            settings, "shop", {"conversion": "1"}, built, {"conversion": known}
        ).values()
        assert ("lifecycle promote conversion 2" in said) == offered, said
    # served as 1 - churn (a log of purchases), conversion's own champion serves nothing:
    # "promote conversion 2 serves v2" changed no score (online_retail after a restore)
    assert (
        lineage.champions_of_replaced_data(
            settings, "shop", {"conversion": "1"}, answered={"conversion"}
        )
        == {}
    )
    assert (
        lineage.champions_of_replaced_data(
            settings,
            "shop",
            {"conversion": "1"},
            built,
            {"conversion": {}},
            answered=["conversion"],
        )
        == {}
    )


def test_a_rollback_to_a_model_of_replaced_data_says_so(home: Path) -> None:
    """Session 58, `./run main` then `./run main --users 1500`: `lifecycle promote churn 1`
    (the 20,000-user demo's model) said only `champion is now v1 (was v2)`; /readyz then
    warned it was trained on data the dataset no longer holds. The promotion says it. And
    `promote --dataset shop` named `lifecycle score-all` alone, which scores the demo."""
    settings = load_settings(home=home, environ={})
    first = _ingest_shop(home, "first.csv", FIRST)
    client = registry.client(settings)
    name = registry.model_name("shop", "churn")
    client.create_registered_model(name)
    register = _registering(client, name, home)

    registry.set_champion(client, name, register(first), "first model")
    other = _ingest_shop(home, "other.csv", OTHER, "--replace")
    registry.set_champion(client, name, register(other), "first model of this data")
    from serving.batch import write_scores

    users = pd.DataFrame({c.USER_ID: ["u1"], "churn_probability": [0.5]})
    made = {"as_of": "2024-03-02", "dataset": "shop", "model_versions": {"churn": "2"}}
    write_scores(settings.workspace.scores_dir, users, made)
    args = ["promote", "churn", "1", "--reason", "rollback", "--dataset", "shop"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("shop-churn: champion is now v1 (was v2): rollback")
    assert (
        "  churn: champion shop-churn v1 was trained on data the dataset no longer holds "
        f"(dataset version {first['dataset_version']} was replaced by "
        f"{other['dataset_version']} (a new ingest, not an append)) and still serves, a model "
        "of other data: `lifecycle train churn --dataset shop` replaces it once this data can "
        "train it, or `lifecycle promote churn 2 --dataset shop --reason ...` serves v2, a "
        "version of this data "
        "(`lifecycle models`)"
    ) in result.stdout.splitlines(), result.stdout
    # the score-all it names is of this dataset, not the settings' (the demo)
    assert "follow v1 after `lifecycle score-all --dataset shop`" in result.stdout, result.stdout
    back = CliRunner().invoke(
        main, ["promote", "churn", "2", "--reason", "back", "--dataset", "shop"]
    )
    assert back.exit_code == 0, back.output
    assert "no longer holds" not in back.stdout


def test_a_restore_to_before_an_append_takes_away_what_was_built_on_it(home: Path) -> None:
    """A bad export appended, then undone by `datasets restore`: the champion trained on the
    appended data kept serving, and the new model lost the gate to it (trial 96)."""
    settings = load_settings(home=home, environ={})
    first = _ingest_shop(home, "first.csv", FIRST)
    appended = _ingest_shop(home, "next.csv", NEXT, "--append")
    restored = CliRunner().invoke(main, ["datasets", "restore", first["dataset_version"]])
    assert restored.exit_code == 0, restored.output
    undone = lineage.dataset_lineage(settings.workspace.dataset_dir("shop"))
    assert undone == first
    assert lineage.replaced(settings, first, undone) is None
    assert lineage.replaced(settings, appended, undone) == (
        f"dataset version {appended['dataset_version']} was restored to the earlier "
        f"{first['dataset_version']}: 1 batch it was built from is no longer in the data"
    )
    # ... and an artefact of the restored-away version's data whose folder is gone: no telling
    gone = {"dataset_version": "shop@20200101T000000000000-00000000"}
    assert lineage.replaced(settings, gone, undone) is None


def test_movers_refuses_scores_of_replaced_data_naming_both_versions(home: Path) -> None:
    """The 2025-09-03 table of the 20,000-user demo against the 1,500-user one: u0001227
    "+54 pts" compared two customers who share an id."""
    from serving.batch import write_scores

    label = {"task": "churn", "horizon_days": 90, "lookback_days": None, "target": None}
    tables = []
    for (name, text, *flags), as_of in (
        (("first.csv", FIRST), "2025-01-01"),
        (("next.csv", NEXT, "--append"), "2025-01-06"),
        (("other.csv", OTHER, "--replace"), "2025-01-08"),
    ):
        # the version alone, as tables scored before generations were recorded say it
        built = {"dataset_version": _ingest_shop(home, name, text, *flags)["dataset_version"]}
        scores = pd.DataFrame({c.USER_ID: ["u1", "u2"], "churn_probability": [0.2, 0.5]})
        metadata = {"as_of": as_of, "labels": {"churn": label}, "lineage": built}
        write_scores(home / "scores", scores, metadata | {"dataset": "shop"})
        tables.append(built["dataset_version"])
        movers = CliRunner().invoke(
            main, ["movers", "--dataset", "shop", "--by", "churn_probability"]
        )
        if as_of == "2025-01-06":  # an append between the two: the same customers
            assert movers.exit_code == 0, movers.output
    assert movers.exit_code == 1 and "Traceback" not in movers.output, movers.output
    line = movers.stderr.strip()
    assert len(line.splitlines()) == 1 and line.startswith("Error: movers refused: ")
    assert f"dataset version {tables[1]} was replaced by {tables[2]}" in line
    assert "(2025-01-06, " in line and "(2025-01-08, " in line
    assert line.endswith(
        "run `lifecycle score-all` again, then `lifecycle movers` compares two tables of the current data"
    )
