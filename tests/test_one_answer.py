"""One answer: /at_risk ranks batch scores the served champions wrote, or says they are stale
(with the versions and the command that fixes it); every answer says what it was computed
from. In process on a copy of the trained workspace; tests/test_service.py checks the same
over HTTP (/readyz's warning, the OpenAPI document)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from experiment_runs import few_rounds
from workspaces import NO_COMPILE, NO_PLOTS

from lifecycle.settings import SettingsError, load_settings
from serving.answers import Served, staleness
from serving.errors import ApiError
from serving.units import label_windows

LABEL_90 = {"task": "churn", "horizon_days": 90, "lookback_days": None, "target": None}


def _metadata(**changes: Any) -> dict[str, Any]:
    """A scores table's metadata as score-all writes it, written by what ``SERVED`` serves."""
    return {
        "as_of": "2025-12-31",
        "model_versions": {"churn": "1", "ltv": "1"},
        "labels": {"churn": LABEL_90},
        "lineage": {"feature_table": "ft-1"},
        **changes,
    }


SERVED = Served(
    versions={"churn": "1", "ltv": "1"},
    labels={"churn": LABEL_90},
    feature_table="ft-1",
    as_of="2025-12-31",
)


def test_staleness_compares_what_answers_conversion_as_one_minus_churn() -> None:
    """On a log of purchases conversion is 1 - churn whatever its own champion: promoting
    another conversion model made the table "stale" though no score changed (trial 94); a
    new churn version makes both stale, said as what made the numbers."""
    complement = {"model_kinds": {"churn": "lightgbm", "conversion": "churn_complement"}}
    label = {**LABEL_90, "task": "conversion", "target": "repeat_purchase"}
    table = _metadata(
        model_versions={"churn": "1", "conversion": "2", "ltv": "1"},
        labels={"churn": LABEL_90, "conversion": label},
        **complement,
    )
    served = dataclasses.replace(
        SERVED,
        versions={"churn": "1", "conversion": "1", "ltv": "1"},
        labels={"churn": LABEL_90, "conversion": {**label, "lookback_days": 30}},
        kinds=complement["model_kinds"],
    )
    assert staleness(table, served) == []
    newer = dataclasses.replace(served, versions={**served.versions, "churn": "3"})
    assert staleness(table, newer) == [
        "churn: the table was scored by version 1, the service serves version 3",
        "conversion: the table was scored by 1 - churn v1, the service serves 1 - churn v3",
    ]
    # a conversion model of its own answers now: its version and definition count
    own = dataclasses.replace(served, kinds={"churn": "lightgbm", "conversion": "lightgbm"})
    assert staleness(table, own) == [
        "conversion: the table was scored by 1 - churn v1, the service serves version 1",
        "conversion: label definition changed (lookback_days None -> 30)",
    ]


def test_staleness_names_each_difference_and_nothing_when_current() -> None:
    assert staleness(_metadata(), SERVED) == []
    assert staleness(_metadata(model_versions={"churn": "1", "ltv": "2"}), SERVED) == [
        "ltv: the table was scored by version 2, the service serves version 1"
    ]
    label_60 = {**LABEL_90, "horizon_days": 60}
    assert staleness(_metadata(labels={"churn": label_60}), SERVED) == [
        "churn: label definition changed (horizon_days 60 -> 90)"
    ]
    older = staleness(_metadata(lineage={"feature_table": "ft-0"}, as_of="2025-12-24"), SERVED)
    assert older == [
        "the table was scored from feature table ft-0 as of 2025-12-24, the online store "
        "holds ft-1 as of 2025-12-31"
    ]
    # The same feature table at an earlier cutoff (`score-all --as-of`): not /score's answer.
    assert staleness(_metadata(as_of="2025-12-24"), SERVED) == [
        "the table was scored as of 2025-12-24, the online store's features (what /score "
        "answers from) are as of 2025-12-31"
    ]
    # Another dataset's table: said as such, its models are no earlier versions of ours.
    of_demo = dataclasses.replace(SERVED, dataset="demo")
    assert staleness(_metadata(dataset="demo"), of_demo) == []
    assert staleness(_metadata(dataset="grown", model_versions={"churn": "7"}), of_demo) == [
        "the latest scores table holds dataset grown, not demo (served)"
    ]
    # A table that does not say what wrote it cannot be vouched for.
    assert staleness({}, SERVED)[0] == (
        "the scores table does not record the model versions that wrote it"
    )
    assert label_windows({"churn": LABEL_90, "ltv": {"horizon_days": 365.0}}) == {
        "churn": 90,
        "ltv": 365,
    }


def test_risk_bands_must_be_in_order(tmp_path: Path) -> None:
    environ = {"LIFECYCLE_SERVING__MEDIUM_RISK": "0.6"}
    with pytest.raises(SettingsError, match=r"serving.medium_risk \(0.6\) must be below"):
        load_settings(home=tmp_path, environ=environ)


def _churn_of(users: list[Any]) -> dict[str, float]:
    return {u.user_id: u.churn_probability for u in users}


def test_a_new_champion_marks_at_risk_stale_until_score_all(trained_copy: Path) -> None:
    """The issue's two answers: a new churn champion (a 60-day window, accepted) serves
    /score at once; /at_risk says its table is v1's under the 90-day definition until
    score-all, then ranks the new champion's scores, equal to /score's user by user."""
    from serving.batch import score_all
    from serving.scorer import Scorer
    from training.pipeline import train_task

    settings = load_settings(home=trained_copy, environ=NO_COMPILE)
    scorer = Scorer(settings)
    scorer.load()
    page = scorer.at_risk(limit=20)
    assert page.stale is None and scorer.stale_scores() is None
    assert page.model_versions == scorer.score([page.users[0].user_id]).model_versions
    assert page.currency == "GBP" and page.horizon_days["churn"] == 90

    # What is asserted is which table and model answer, not the trees: few rounds.
    sixty = {
        **NO_COMPILE,
        **NO_PLOTS,
        **few_rounds(),
        "LIFECYCLE_LABELS__CHURN_HORIZON_DAYS": "60",
    }
    trained = train_task(
        load_settings(home=trained_copy, environ=sixty),
        "churn",
        accept_definition_change="product asked for 60 days",
    )
    assert trained.promoted, trained.gate
    assert scorer.reload().changed == ["churn"]

    page = scorer.at_risk(limit=20)
    users = [u.user_id for u in page.users]
    scored = scorer.score(users)
    assert scored.model_versions["churn"] == trained.version
    assert scored.horizon_days["churn"] == 60 and scored.currency == "GBP"
    stale = page.stale
    assert stale is not None and stale == scorer.stale_scores()
    assert stale.table_versions["churn"] == "1"
    assert stale.served_versions["churn"] == trained.version
    assert stale.fix == "lifecycle score-all --dataset demo"
    assert (
        f"churn: the table was scored by version 1, the service serves version "
        f"{trained.version}" in stale.reasons
    )
    assert "churn: label definition changed (horizon_days 90 -> 60)" in stale.reasons
    assert page.model_versions["churn"] == "1" and page.horizon_days["churn"] == 90
    assert _churn_of(page.users) != _churn_of(scored.users)  # the two answers

    refusing = Scorer(
        load_settings(
            home=trained_copy,
            environ={**NO_COMPILE, "LIFECYCLE_SERVING__STALE_SCORES": "refuse"},
        )
    )
    refusing.load()
    with pytest.raises(ApiError) as refused:
        refusing.at_risk(limit=5)
    assert refused.value.status == 503
    assert "the batch scores are stale" in refused.value.message
    assert refused.value.message.endswith("run `lifecycle score-all --dataset demo`")

    score_all(settings)
    page = scorer.at_risk(limit=20)
    assert page.stale is None and scorer.stale_scores() is None
    assert page.model_versions == scorer.score(users[:1]).model_versions
    assert page.horizon_days["churn"] == 60 and page.as_of == scored.as_of
    listed = _churn_of(page.users)
    answered = _churn_of(scorer.score(list(listed), reasons="none").users)
    assert listed == pytest.approx(answered, rel=1e-9, abs=1e-12)

    # The same models and feature table at an earlier cutoff (`score-all --as-of`):
    # /at_risk said nothing while /score answered from the latest features.
    from features.asof import feature_cutoffs
    from features.store import store_paths

    earlier = feature_cutoffs(store_paths(settings).feature_table)[-2]
    score_all(settings, earlier)
    page = scorer.at_risk(limit=5)
    assert page.stale is not None and page.as_of == f"{earlier:%Y-%m-%d}"
    assert page.stale.reasons == [
        f"the table was scored as of {earlier:%Y-%m-%d}, the online store's features "
        f"(what /score answers from) are as of {scored.as_of}"
    ]


def test_a_promoted_conversion_answered_as_one_minus_churn_is_said_to_answer_nothing(
    trained_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a log of purchases only, conversion is served as 1 - churn (``Champions.one_event``):
    POST /promote of conversion answered 200 with changed ["conversion"] and said nothing,
    though no answer changed, and /models showed the conversion model's AUC beside kind
    churn_complement. The answer says the promoted version answers nothing served, in the
    words of `lifecycle models`; /models names what answers, with no metrics of another.
    Nor are the batch scores stale for it (/readyz warned "conversion: the table was scored
    by version 1, the service serves version 2", /at_risk said `stale`), and every answer's
    model_versions names what made the conversion numbers, 1 - churn vN, not the promoted
    model (trial 94)."""
    from services import run_cli

    from lifecycle import registry
    from serving import scoring
    from serving.scorer import Scorer

    # The demo logs sessions too: its churn and conversion taken as a purchase log's (one
    # event; tests/test_rowpath.py checks what makes them so).
    one_event = property(lambda champions: {"churn", "conversion"} <= set(champions.bundles))
    monkeypatch.setattr(scoring.Champions, "one_event", one_event)
    settings = load_settings(home=trained_copy, environ=NO_COMPILE)
    client = registry.client(settings)
    name = registry.model_name("demo", "conversion")
    champion = registry.alias_version(client, name, registry.CHAMPION)
    added = client.create_model_version(name, source=champion.source, run_id=champion.run_id)
    version = str(added.version)
    client.set_registered_model_alias(name, registry.CHALLENGER, version)
    from serving.batch import score_all

    score_all(settings, reasons_top=3, ledger=False)  # the table of a log of purchases
    scorer = Scorer(settings)
    scorer.load()
    churn = scorer.state.champions.versions["churn"]
    assert scorer.stale_scores() is None
    page = scorer.at_risk(limit=20)
    users = [u.user_id for u in page.users]
    answered = scorer.score(users, ["conversion"])
    before = [u.conversion_probability for u in answered.users]
    ltv = scorer.state.champions.versions["ltv"]  # its purchase process: p_alive (review R M2)
    made_by = {"churn": churn, "conversion": f"1 - churn v{churn}", "ltv": ltv}
    assert answered.model_versions == made_by
    _each_user_by(answered, made_by)
    assert answered.partners == {
        "churn": ["lifecycle_stage", "conversion_probability"],  # 1 - churn
        "ltv": ["p_alive", "expected_purchases"],
    }
    assert page.model_versions == made_by

    # the gate's refusal says first that promoting it changes no served answer (trial G #8)
    moot = f"promoting it changes no served answer: conversion is served as 1 - churn v{churn}"
    with pytest.raises(ApiError) as refused:
        scorer.promote("conversion", "trialG conv")
    assert f"model {name}: {moot} (one event on a log of purchases); besides, " in str(
        refused.value
    )
    from click.testing import CliRunner

    from lifecycle.cli import main

    home = ["--home", str(trained_copy), "--quiet"]
    cli = CliRunner().invoke(main, [*home, "promote", "conversion", "challenger", "--reason", "g"])
    assert cli.exit_code == 1 and f"{name}: {moot} (" in cli.output, cli.output
    done = scorer.promote("conversion", "trial94 conv", force=True)
    # changed: no served number changed (it said ["conversion"]); the reload names what made
    # them as /score does (it said "conversion": "2", trial 107)
    assert (done.champion, done.previous, done.reload.changed) == (
        version,
        str(champion.version),
        [],
    )
    served = {**made_by, "ltv": page.model_versions["ltv"]}
    assert done.reload.model_versions == done.reload.previous_versions == served
    said = f"conversion is served as 1 - churn v{churn} (one event on a log of purchases)"
    assert done.note == f"v{version} answers nothing served: {said}, while that holds"
    after = scorer.score(users, ["conversion"])
    assert [u.conversion_probability for u in after.users] == before  # no answer changed
    assert after.model_versions == made_by
    _each_user_by(after, made_by)
    assert scorer.stale_scores() is None and scorer.at_risk(limit=20).stale is None
    models = {m.task: m for m in scorer.models().models}
    assert models["conversion"].version == version
    assert models["conversion"].answered_by == f"1 - churn v{churn}"
    assert models["conversion"].metrics == {}  # its AUC is not of the answers
    assert models["churn"].answered_by is None and models["churn"].metrics
    # `lifecycle models` says it in the same words, and above the task's versions that none
    # of them answers (a LightGBM challenger was read as what would serve once promoted)
    listed = run_cli(trained_copy, "models").splitlines()
    assert f"  answers nothing served: {said}" in listed
    first = next(i for i, line in enumerate(listed) if line.startswith(f"{name} v"))
    assert listed[first - 1] == f"{said}: none of the conversion versions below answers", listed
    assert sum("none of the" in line for line in listed) == 1, listed
    # so does `lifecycle promote`, which no longer calls the batch scores outdated for it
    back = run_cli(trained_copy, "promote", "conversion", str(champion.version), "--reason", "b")
    assert f"  v{champion.version} answers nothing served: {said}, while that holds" in back
    assert "latest scores table" not in back, back
    # a task answered by its own champion: nothing to add
    assert scorer.promote("churn", "again", version=churn).note == (
        f"v{churn} is already the champion; the reason is recorded on it"
    )
    # a version the model lacks is a 404 at the field `version` (its detail named none)
    with pytest.raises(ApiError) as missing:
        scorer.promote("churn", "no such", version="999")
    assert (missing.value.status, missing.value.loc) == (404, ("version",))
    # a churn promotion changes the conversion numbers served as 1 - churn: both changed
    churn_name = registry.model_name("demo", "churn")
    serving_churn = client.get_model_version(churn_name, churn)
    newer = str(
        client.create_model_version(
            churn_name, source=serving_churn.source, run_id=serving_churn.run_id
        ).version
    )
    moved = scorer.promote("churn", "trial107", force=True, version=newer)
    # said, as the CLI says it: conversion's served answers moved with churn (trial G #8)
    follows = "conversion's served answers change with it: conversion is served as 1 - churn v"
    assert moved.note == f"{follows}{newer} (one event on a log of purchases)"
    assert moved.reload.changed == ["churn", "conversion"]
    assert moved.reload.model_versions["conversion"] == f"1 - churn v{newer}"
    assert moved.reload.previous_versions["conversion"] == f"1 - churn v{churn}"
    # /monitor's result names them as /score does, and is stale only when they move
    from serving.drift_results import save_result
    from serving.monitor import monitor

    save_result(settings, monitor(settings, champions=scorer.state.champions))
    measured = scorer.monitor()
    assert measured.result["model_versions"]["conversion"] == f"1 - churn v{newer}"
    assert not any("conversion" in line for line in measured.stale), measured.stale
    back = run_cli(trained_copy, "promote", "churn", churn, "--reason", "back")
    assert f"  {follows}{churn} (one event on a log of purchases)" in back.splitlines(), back


def test_what_churn_answers_loads_the_churn_and_conversion_champions_only(
    trained_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Which task churn answers (conversion as 1 - churn) was looked up in four places, each
    loading every champion's bundle, though only conversion can be so answered: promoting
    ltv, or training that promoted ltv, loaded all three; `lifecycle models` loaded ltv's
    too. Now one helper (``serving.scoring.churn_answers``) loads nothing unless conversion
    is asked, and then the churn and conversion champions only."""
    from types import SimpleNamespace

    from services import run_cli

    from lifecycle import registry, steps
    from serving import scoring

    one_event = property(lambda champions: {"churn", "conversion"} <= set(champions.bundles))
    monkeypatch.setattr(scoring.Champions, "one_event", one_event)
    loaded: list[str] = []
    real = registry.bundle_path

    def counted(client: Any, name: str, version: str, copy: Path) -> Path:
        loaded.append(name)
        return real(client, name, version, copy)

    monkeypatch.setattr(registry, "bundle_path", counted)
    settings = load_settings(home=trained_copy, environ=NO_COMPILE)
    client = registry.client(settings)
    names = {task: registry.model_name("demo", task) for task in ("churn", "ltv", "conversion")}
    ltv = registry.alias_version(client, names["ltv"], registry.CHAMPION).version
    run_cli(trained_copy, "promote", "ltv", str(ltv), "--reason", "again")
    assert loaded == []  # only conversion is answered by churn
    said = run_cli(trained_copy, "models")
    assert "answers nothing served: conversion is served as 1 - churn" in said
    assert sorted(loaded) == [names["churn"], names["conversion"]]
    loaded.clear()
    trained = [SimpleNamespace(task="ltv", champion="9")]
    assert steps.answered_elsewhere(settings, "demo", trained) == {}
    assert loaded == []
    trained.append(SimpleNamespace(task="conversion", champion=None))  # its champion stayed
    churn = registry.alias_version(registry.client(settings), names["churn"], "champion").version
    assert steps.answered_elsewhere(settings, "demo", trained) == {
        "conversion": f"1 - churn v{churn}"
    }
    assert sorted(loaded) == [names["churn"], names["conversion"]]


def test_the_report_and_models_say_no_version_of_a_task_churn_answers_answers(
    trained_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a log of purchases `lifecycle models` says above conversion's versions that none of
    them answers (conversion is served as 1 - churn), while the report and /models said only
    that its champion answers nothing: a challenger read as what would serve once promoted.
    Both now say it in the words `models` prints (serving.one_event.none_answers)."""
    from services import run_cli

    from serving import scoring
    from serving.batch import score_all
    from serving.report import build_report
    from serving.scorer import Scorer

    one_event = property(lambda champions: {"churn", "conversion"} <= set(champions.bundles))
    monkeypatch.setattr(scoring.Champions, "one_event", one_event)
    settings = load_settings(home=trained_copy, environ=NO_COMPILE)
    listed = [line for line in run_cli(trained_copy, "models").splitlines() if "none of" in line]
    assert len(listed) == 1 and listed[0].endswith(" versions below answers"), listed
    said = listed[0].replace(" versions below answers", " versions answers")
    assert said.startswith("conversion is served as 1 - churn v")
    scorer = Scorer(settings)
    scorer.load()
    models = {m.task: m for m in scorer.models().models}
    assert models["conversion"].unserved == said
    assert models["churn"].unserved is None and models["ltv"].unserved is None
    score_all(settings, reasons_top=3, ledger=False)  # the table of a log of purchases
    document = build_report(settings).path.read_text()
    assert document.count(f'<p class="note warn">{said}</p>') == 1
    assert document.count("none of the") == 1  # conversion's alone


def test_where_churn_leaves_conversion_to_its_champion_every_surface_says_where_each_answers(
    trained_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With labels.churn_lookback_days on a log of purchases conversion is served as 1 - churn
    where churn scores and by its own champion elsewhere (churn_complement_else_<kind>):
    `models`, the report and /models no longer said its champion answers nothing, but none
    said where it answers, and a list's units line no longer said conversion was 1 - churn.
    Each says it in the words of serving.one_event.served_in_part."""
    import html
    import json

    from services import run_cli

    from lifecycle import registry
    from serving import scoring
    from serving.batch import latest_scores, score_all
    from serving.one_event import served_in_part
    from serving.report import build_report
    from serving.scorer import Scorer
    from serving.units import units_for

    one_event = property(lambda champions: {"churn", "conversion"} <= set(champions.bundles))
    monkeypatch.setattr(scoring.Champions, "one_event", one_event)
    # churn leaves users to conversion's champion, as with a lookback
    monkeypatch.setattr(scoring.Champions, "churn_answers_all", property(lambda _: False))
    settings = load_settings(home=trained_copy, environ=NO_COMPILE)
    client = registry.client(settings)
    churn, conversion = (
        registry.alias_version(client, registry.model_name("demo", task), registry.CHAMPION)
        for task in ("churn", "conversion")
    )
    said = served_in_part("conversion", f"1 - churn v{churn.version}", f"v{conversion.version}")
    listed = run_cli(trained_copy, "models").splitlines()
    first = next(i for i, line in enumerate(listed) if line.startswith("demo-conversion v"))
    assert listed[first - 1] == said and listed.count(said) == 1, listed  # above its versions
    assert not any("answers nothing" in line or "none of" in line for line in listed), listed
    rows = json.loads(run_cli(trained_copy, "--json", "models"))["models"]
    assert [r.get("served_where") for r in rows if "champion" in r["aliases"]].count(said) == 1
    scorer = Scorer(settings)
    scorer.load()
    models = {m.task: m for m in scorer.models().models}
    assert models["conversion"].kind.startswith("churn_complement_else_")
    assert models["conversion"].served_where == said and models["conversion"].unserved is None
    assert models["churn"].served_where is None and models["ltv"].served_where is None
    score_all(settings, reasons_top=3, ledger=False)
    document = build_report(settings).path.read_text()
    assert document.count(f'<p class="note">{html.escape(said)}</p>') == 1
    units = units_for(settings, latest_scores(settings).metadata)
    assert units.windows["conversion"].endswith(f", on this log any purchase: {said}")


def _each_user_by(answer: Any, made_by: dict[str, str]) -> None:
    """Each user's model_versions: the answer's, less conversion for a user it did not score
    (a repeat customer, whose not_scored says why; the at-risk page's are all such here)."""
    for user in answer.users:
        if user.conversion_probability is not None:
            assert user.model_versions == made_by and user.not_scored is None
        else:
            assert "conversion" in user.not_scored
            assert user.model_versions == {t: v for t, v in made_by.items() if t != "conversion"}
