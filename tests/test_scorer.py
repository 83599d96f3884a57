"""The scoring API in process: the scorer itself, on its own copy of the shared trained
workspace (the ASGI app and a real ``bentoml serve`` are in tests/test_service.py)."""

from __future__ import annotations

import contextlib
import inspect
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from pydantic import ValidationError
from services import (
    champion_versions,
    service_asgi_app,
    write_batch_scores,
)
from workspaces import NO_COMPILE, TrainedWorkspace

from features.asof import words_only
from lifecycle.settings import load_settings
from serving.batch import read_scores


@pytest.fixture(scope="module")
def home(served_home: Path) -> Path:
    return served_home


# -- in process: the scorer -------------------------------------------------------------


@pytest.fixture(scope="module")
def scorer(home: Path) -> Any:
    from serving.scorer import Scorer

    loaded = Scorer(load_settings(home=home, environ=NO_COMPILE))
    loaded.load()
    return loaded


def test_known_users_are_scored_with_reasons_and_versions(
    scorer: Any, known_users: list[str]
) -> None:
    response = scorer.score(known_users[:20])
    assert [u.user_id for u in response.users] == known_users[:20]
    assert {u.status for u in response.users} == {"scored"}
    assert response.model_versions == champion_versions(scorer.settings.home)
    for user in response.users:
        assert user.ltv is not None and user.ltv_p10 <= user.ltv_p50 <= user.ltv_p90
        assert user.lifecycle_stage in (
            "never_active",  # stages_v3: u0000006 only signed up, long ago
            "new",
            "active",
            "at_risk",
            "silent",
            "churned",
            "reactivated",
        )
        if user.churn_probability is not None:
            assert 0 <= user.churn_probability <= 1
            assert user.risk_band in ("low", "medium", "high")
            assert user.value_at_risk == pytest.approx(user.churn_probability * user.ltv)
    assert any(u.reasons for u in response.users)


def test_unknown_users_get_the_cold_start_answer_not_a_failure(
    scorer: Any, known_users: list[str]
) -> None:
    response = scorer.score(["nobody-1", known_users[0], "nobody-2", known_users[0]])
    statuses = [u.status for u in response.users]
    assert statuses == ["unknown_user", "scored", "unknown_user", "scored"]
    first, second = response.users[0], response.users[2]
    assert first.lifecycle_stage == "new"
    assert first.ltv is not None and first.ltv == second.ltv
    assert "brand-new user" in response.cold_start


def test_tasks_subset_leaves_other_fields_null(scorer: Any, known_users: list[str]) -> None:
    answer = scorer.score(known_users[:1], ["ltv"])
    user = answer.users[0]
    assert user.ltv is not None
    assert user.churn_probability is None and user.reasons is None and user.value_at_risk is None
    # churn made the user's stage, which every answer has
    assert user.model_versions.keys() == {"ltv", "churn"}
    # and the answer says so: model_versions named churn while model_kinds and definitions
    # held ltv alone, so a client reading model_kinds[task] per version failed (helper B,
    # session 46); each model named has its kind and definition, and why it is there
    everything = scorer.score(known_users[:1])
    assert answer.model_versions == {t: everything.model_versions[t] for t in ("churn", "ltv")}
    assert answer.model_kinds == {t: everything.model_kinds[t] for t in ("churn", "ltv")}
    assert answer.definitions == {t: everything.definitions[t] for t in ("churn", "ltv")}
    assert answer.horizon_days == {t: everything.horizon_days[t] for t in ("churn", "ltv")}
    assert answer.partners == {"churn": ["lifecycle_stage"]} and everything.partners == {}


def test_the_purchase_outlook_names_the_model_that_made_it(
    scorer: Any, known_users: list[str]
) -> None:
    """p_alive and expected_purchases are the LTV champion's purchase process whatever was
    asked: an answer for churn alone had them with model_versions, model_kinds and partners
    naming churn only (review R M2, session 46), so a client could not tell what made them."""
    answer = scorer.score(known_users[:5], ["churn"])
    assert any(u.p_alive is not None for u in answer.users)
    everything = scorer.score(known_users[:1])
    assert answer.partners == {"ltv": ["p_alive", "expected_purchases"]}
    assert answer.model_versions == {t: everything.model_versions[t] for t in ("churn", "ltv")}
    assert answer.model_kinds == {t: everything.model_kinds[t] for t in ("churn", "ltv")}
    assert answer.definitions == {t: everything.definitions[t] for t in ("churn", "ltv")}
    assert all(u.ltv is None and u.model_versions == answer.model_versions for u in answer.users)


def test_the_stage_is_the_same_whatever_tasks_are_asked(
    scorer: Any, known_users: list[str], trained_workspace: TrainedWorkspace
) -> None:
    """A user's lifecycle stage is of their churn risk: asking for LTV alone called users
    "active" whom an answer with churn called "at_risk" (trial 94). Through the row path
    (a few users) and the matrix path alike."""
    table = read_scores(trained_workspace.scores_path).frame
    at_risk = table.loc[table["lifecycle_stage"] == "at_risk", "user_id"].astype(str).tolist()
    assert at_risk
    for users in (at_risk[:5] + known_users[:5], at_risk + known_users[:300]):
        everything = {u.user_id: u.lifecycle_stage for u in scorer.score(users).users}
        for tasks in (["ltv"], ["conversion"], ["churn"]):
            asked = {u.user_id: u.lifecycle_stage for u in scorer.score(users, tasks).users}
            assert asked == everything, tasks


def test_expected_purchases_has_one_horizon_whatever_tasks_are_asked(
    scorer: Any, known_users: list[str]
) -> None:
    """expected_purchases covers the LTV horizon: asking for churn alone does not turn it
    into the churn horizon's count (the cold-start row and score-all say the same)."""
    buyers = known_users[:50]
    everything = {u.user_id: u.expected_purchases for u in scorer.score(buyers).users}
    assert any(value for value in everything.values())
    for tasks in (["churn"], ["ltv"], ["conversion"]):
        asked = {u.user_id: u.expected_purchases for u in scorer.score(buyers, tasks).users}
        assert asked.keys() == everything.keys(), tasks
        for user, value in everything.items():
            if value is None:
                assert asked[user] is None, (tasks, user)
            else:
                assert asked[user] == pytest.approx(value, rel=1e-9), (tasks, user)


def test_too_many_users_names_the_field(scorer: Any) -> None:
    limit = scorer.settings.serving.max_users_per_request
    with pytest.raises(ValidationError) as error:
        scorer.score([f"u{i}" for i in range(limit + 1)])
    assert error.value.errors()[0]["loc"] == ("user_ids",)


def test_score_features_scores_supplied_rows(scorer: Any) -> None:
    from serving.schemas import FeatureRow

    row = FeatureRow(
        user_id="prospect", features={"recency_days": 3, "tenure_days": 10, "channel": "email"}
    )
    user = scorer.score_features([row]).users[0]
    assert user.status == "supplied" and user.churn_probability is not None and user.ltv is not None


def test_score_features_scores_each_row_of_one_id_from_its_own_features(scorer: Any) -> None:
    """Two what-if rows of one id are two answers: the first was answered with the last
    row's scores (rows were deduplicated by id)."""
    from serving.schemas import FeatureRow

    recent = {"recency_days": 1, "tenure_days": 400, "orders_total": 30}
    gone = {"recency_days": 300, "tenure_days": 400, "orders_total": 1}
    both = scorer.score_features(
        [FeatureRow(user_id="what-if", features=f) for f in (recent, gone)]
    ).users
    alone = [
        scorer.score_features([FeatureRow(user_id="x", features=f)]).users[0]
        for f in (recent, gone)
    ]
    assert [u.user_id for u in both] == ["what-if", "what-if"]
    assert [u.churn_probability for u in both] == [u.churn_probability for u in alone]
    assert [u.ltv for u in both] == [u.ltv for u in alone]
    assert both[0].churn_probability != both[1].churn_probability


def test_score_features_reports_each_bad_field(scorer: Any) -> None:
    from serving.schemas import FeatureRow

    rows = [
        FeatureRow(user_id="a", features={"recency_days": "three", "channel": 4.0}),
        FeatureRow(user_id="b", features={"bogus_feature": 1.0, "channel": "carrier-pigeon"}),
    ]
    with pytest.raises(ValidationError) as error:
        scorer.score_features(rows)
    locs = {e["loc"] for e in error.value.errors()}
    assert locs == {
        ("users", 0, "features", "recency_days"),
        ("users", 0, "features", "channel"),
        ("users", 1, "features", "bogus_feature"),
        ("users", 1, "features", "channel"),
    }


def _refused_fields(scorer: Any, rows: list[Any]) -> dict[tuple[Any, ...], str]:
    """Each refused field's location and message of a /score_features request."""
    with pytest.raises(ValidationError) as error:
        scorer.score_features(rows)
    return {e["loc"]: e["msg"] for e in error.value.errors()}


def test_an_unseen_category_is_refused_with_the_way_to_score_it_as_unknown(
    scorer: Any, known_users: list[str]
) -> None:
    """online_retail (session 50): /score scored 12446, whose stored country 'RSA' no churn
    model learned from, as a country unknown, while /score_features refused that stored row
    with "'RSA' is not a known country; expected one of [...]" and no word of what /score
    did. The refusal says to send null (what /score scores such a value as)."""
    from serving.schemas import FeatureRow

    row = FeatureRow(user_id="a", features={"channel": "carrier-pigeon"})
    message = _refused_fields(scorer, [row])[("users", 0, "features", "channel")]
    assert message.startswith("'carrier-pigeon' is not a channel the models learned from")
    assert "send null to score it as unknown, as /score scores a stored user's" in message
    assert "'organic'" in message  # the channels they did learn from


def test_score_features_takes_counts_as_whole_numbers(scorer: Any) -> None:
    """Half an order is no user's history (the API document says counts are multiples of 1);
    the value kept after refunds may be below 0 (refunds of purchases before the log)."""
    from serving.schemas import FeatureRow

    rows = [
        FeatureRow(user_id="b", features={"orders_total": 0.5, "orders_30d": 2}),
        FeatureRow(user_id="c", features={"sessions_90d": 2.5, "recency_days": 3.5}),
    ]
    found = _refused_fields(scorer, rows)
    assert set(found) == {
        ("users", 0, "features", "orders_total"),
        ("users", 1, "features", "sessions_90d"),
    }
    assert "whole number" in found[("users", 0, "features", "orders_total")]
    signed = FeatureRow(
        user_id="d", features={"orders_total": 2, "net_revenue_total": -15.0, "tenure_days": 40}
    )
    assert "net_revenue_total" in scorer.ready().layout.numeric
    assert scorer.score_features([signed]).users[0].status == "supplied"


def test_score_features_refuses_days_no_user_has_and_says_so_in_the_api_document(
    scorer: Any,
) -> None:
    """tenure_days 1e300 or activated 7 (a flag) was scored as if real. A day count is at
    most a hundred years (the data contract takes no event before 1990), a flag at most 1;
    the API document states both maxima, and values within them are scored."""
    from serving.openapi import document_feature_inputs
    from serving.schemas import LONGEST_DAYS, FeatureRow

    rows = [
        FeatureRow(user_id="a", features={"tenure_days": 1e300, "recency_days": 3}),
        FeatureRow(user_id="b", features={"activated": 7, "ipt_mean_days": 40_000}),
    ]
    assert _refused_fields(scorer, rows) == {
        ("users", 0, "features", "tenure_days"): "tenure_days is at most 36525 (got 1e+300)",
        ("users", 1, "features", "activated"): "activated is at most 1 (got 7)",
        ("users", 1, "features", "ipt_mean_days"): "ipt_mean_days is at most 36525 (got 40000)",
    }
    fine = {"tenure_days": LONGEST_DAYS, "recency_days": 3, "activated": 1, "orders_total": 1e6}
    assert scorer.score_features([FeatureRow(user_id="c", features=fine)]).users[0].status == (
        "supplied"
    )
    spec = {"components": {"schemas": {"FeatureRow": {"properties": {"features": {}}}}}}
    document_feature_inputs(spec)
    documented = spec["components"]["schemas"]["FeatureRow"]["properties"]["features"]
    maxima = {k: v["maximum"] for k, v in documented["properties"].items() if "maximum" in v}
    assert maxima["tenure_days"] == maxima["recency_days"] == LONGEST_DAYS
    assert maxima["activated"] == 1 and "orders_total" not in maxima


def test_score_features_refuses_days_that_contradict_each_other(scorer: Any) -> None:
    """Each value is fine, together they describe no user: a last order before the first,
    or a last activity before the last order. A 422 names the row, the field and what is
    expected; a row that holds together is scored."""
    from serving.errors import ApiError
    from serving.schemas import FeatureRow

    cases = [
        ("purchase_recency_days", {"purchase_recency_days": 400, "first_purchase_age_days": 30}),
        ("recency_days", {"recency_days": 90, "purchase_recency_days": 10}),
        ("recency_days", {"recency_days": 90, "tenure_days": 20}),  # known for 20 days
        ("first_purchase_age_days", {"first_purchase_age_days": 40, "tenure_days": 20}),
        ("orders_30d", {"orders_30d": 5, "orders_90d": 2}),  # a window holds the shorter one
        ("active_days_7d", {"active_days_7d": 9}),  # a week has 7 days
        # a year's orders or revenue are within all time (trial: accepted with 200)
        ("orders_365d", {"orders_365d": 6, "orders_total": 1}),
        ("revenue_365d", {"revenue_365d": 615.0, "revenue_total": 10.0}),
    ]
    for field, features in cases:
        rows = [FeatureRow(user_id="fine", features={"recency_days": 3}),
                FeatureRow(user_id="impossible", features=features)]  # fmt: skip
        with pytest.raises(ApiError) as error:
            scorer.score_features(rows)
        assert error.value.status == 422
        assert error.value.loc == ("users", 1, "features", field)
        assert error.value.message.startswith(f"users[1].features: {field} ")
        assert "expected at most" in error.value.message
    # none of a kind is none of what comes with it (trial 94: spend of no order took a 200)
    implied = [
        ("revenue_total", {"revenue_total": 500.0, "orders_total": 0}, "orders"),
        ("orders_90d", {"orders_90d": 2, "active_days_90d": 0}, "active days"),
    ]
    for field, features, kind in implied:
        with pytest.raises(ApiError) as error:
            scorer.score_features([FeatureRow(user_id="impossible", features=features)])
        assert error.value.status == 422 and error.value.loc[-1] == field
        assert error.value.message.endswith(f"; expected 0 (none without {kind})"), error.value
    fine = {"recency_days": 3, "purchase_recency_days": 3, "first_purchase_age_days": 300,
            "tenure_days": 300, "orders_30d": 2, "orders_90d": 2, "revenue_30d": 0.1 + 0.2, "revenue_90d": 0.3,
            "active_days_7d": 7, "orders_365d": 2, "orders_total": 2}  # fmt: skip
    answer = scorer.score_features([FeatureRow(user_id="ok", features=fine)])
    assert answer.users[0].status == "supplied"
    # the inputs it left out are named, not silently taken as unknown (a row of tenure_days
    # alone read as a scored user with churn 0.31)
    missing = answer.users[0].features_missing
    assert missing and not set(missing) & set(fine) and "orders_7d" in missing
    assert missing == sorted(missing)


def test_at_risk_filters_ranks_and_pages(scorer: Any, home: Path) -> None:
    from serving.errors import ApiError

    path = home / "scores" / "latest.parquet"
    if path.exists():
        path.unlink()
    with pytest.raises(ApiError) as missing:
        scorer.at_risk()
    assert missing.value.status == 404 and "lifecycle score-all" in missing.value.message
    write_batch_scores(home)
    everyone = scorer.at_risk()
    assert [u.user_id for u in everyone.users] == ["b", "c", "d", "a"]
    assert [u.rank for u in everyone.users] == [1, 2, 3, 4]
    filtered = scorer.at_risk(segment="s1", min_churn=0.65)
    assert [u.user_id for u in filtered.users] == ["d", "a"] and filtered.total == 2
    page = scorer.at_risk(limit=2, offset=1)
    assert (
        [u.user_id for u in page.users] == ["c", "d"]
        and page.total == 4
        and page.users[0].rank == 2
    )
    assert page.users[0].reasons[0].feature == "recency_days"
    assert page.users[0].top_reasons == "no activity for 40 days"
    assert [u.user_id for u in scorer.at_risk(channel="email", min_ltv=50).users] == ["c"]
    by_churn = scorer.at_risk(rank_by="churn_probability", limit=2)
    assert [u.user_id for u in by_churn.users] == [
        "a",
        "d",
    ] and by_churn.rank_by == "churn_probability"
    # the win-back ranking: 1 - churn probability, every churn-scored user, no churn floor
    back = scorer.at_risk(rank_by="return_probability", limit=2)
    assert [u.user_id for u in back.users] == ["b", "c"] and back.total == 4
    assert back.users[0].return_probability == pytest.approx(0.8)
    assert back.notes == [  # whose reasons they are; b's are stored as [], computed and none
        "reasons are what raised each user's churn risk above the average user's, not why "
        "this ranking puts them first (the likeliest to come back)",
        "1 user of this page with no churn reason to give: no feature raised their churn risk "
        "above the average user's",
    ]
    # A list for one country, as `at-risk --where country=FR`: filtered by, not returned
    frame = pd.read_parquet(path).assign(country=["FR", "DE", "FR", "DE"])
    path.unlink()
    frame.to_parquet(path)
    french = scorer.at_risk(where={"country": "FR"})
    assert [u.user_id for u in french.users] == ["c", "a"] and french.total == 2
    assert "country" not in french.users[0].model_dump()
    with pytest.raises(ValidationError) as error:
        scorer.at_risk(where={"country": "XX"})
    assert [e["loc"] for e in error.value.errors()] == [("where", "country")]
    assert error.value.errors()[0]["msg"] == '"XX" is unknown; this scores table has DE, FR'


def test_at_risk_flags_the_cli_control_group(scorer: Any, home: Path) -> None:
    from serving.list_seeds import seed_of
    from serving.lists import CONTROL_SHARE, control_flags

    write_batch_scores(home)
    ids = ["b", "c", "d", "a"]
    default = scorer.at_risk()  # no seed: drawn from the list, as `lifecycle at-risk` draws it
    assert default.control_share == CONTROL_SHARE
    assert default.seed_drawn_from is not None and default.seed_drawn_from["list"] == "at-risk"
    assert default.seed == seed_of(default.seed_drawn_from)
    assert [u.control for u in default.users] == control_flags(
        ids, default.seed, CONTROL_SHARE
    ).tolist()
    for seed in range(20):  # some seed puts some but not all of the four in the group
        flags = control_flags(ids, seed, 0.5).tolist()
        if any(flags) and not all(flags):
            break
    assert any(flags) and not all(flags)
    answer = scorer.at_risk(control_share=0.5, seed=seed)
    assert [u.control for u in answer.users] == flags and answer.seed == seed
    paged = scorer.at_risk(control_share=0.5, seed=seed, limit=1, offset=2, segment="s1")
    assert [(u.user_id, u.control) for u in paged.users] == [("a", flags[3])]  # the user's own flag


def test_at_risk_list_errors_map_to_request_fields_by_name(scorer: Any, home: Path) -> None:
    """The field of a 400 comes from ListError.field, never from the message text."""
    from serving.answers import list_error
    from serving.lists import Filters, ListError, at_risk_page

    write_batch_scores(home)
    for request, field, known in (
        ({"segment": "vip"}, "segment", "s1, s2"),
        ({"lifecycle_stage": "asleep"}, "lifecycle_stage", "active, at_risk, silent"),
        ({"channel": "pigeon"}, "channel", "email, organic, social"),
    ):
        with pytest.raises(ValidationError) as error:
            scorer.at_risk(**request)
        assert [e["loc"] for e in error.value.errors()] == [(field,)]
        # named as the request names it, not as the CLI option ("--stage asleep: ...")
        message = error.value.errors()[0]["msg"]
        assert message == f'"{request[field]}" is unknown; this scores table has {known}'
    no_ltv = home / "scores" / "latest.parquet"
    pd.read_parquet(no_ltv).drop(columns=["ltv"]).to_parquet(no_ltv)
    with pytest.raises(ValidationError) as error:
        scorer.at_risk(rank_by="ltv")
    assert error.value.errors()[0]["loc"] == ("rank_by",)
    assert error.value.errors()[0]["msg"] == (
        "the scores table has no ltv (no ltv model scored it); rank by value_at_risk, "
        "churn_probability, return_probability"
    )
    with pytest.raises(ValidationError) as error:
        scorer.at_risk(control_share=1.0)
    assert error.value.errors()[0]["loc"] == ("control_share",)
    assert error.value.errors()[0]["msg"] == "must be in [0, 1), got 1.0"
    # a message that names nothing still lands on its field
    mapped = list_error(ListError("the list cannot be made", "stage"))
    assert isinstance(mapped, ValidationError) and mapped.errors()[0]["loc"] == ("lifecycle_stage",)
    # every parameter the list function can blame is a request field of /at_risk
    from serving.service import LifecycleScoring

    request_fields = set(inspect.signature(LifecycleScoring.inner.at_risk.func).parameters)
    request_fields.discard("self")
    # the scores, the filters and the hook reading the listed rows' text are no request's
    not_requested = ("scores", "filters", "rows_text")
    list_parameters = {f for f in Filters.__dataclass_fields__} | {
        p for p in inspect.signature(at_risk_page).parameters if p not in not_requested
    }
    for parameter in list_parameters:
        found = list_error(ListError("x", parameter))
        assert isinstance(found, ValidationError)
        assert found.errors()[0]["loc"][0] in request_fields, parameter


def test_models_lists_versions_aliases_window_and_metrics(scorer: Any) -> None:
    response = scorer.models()
    assert {m.task for m in response.models} == {"churn", "conversion", "ltv"}
    churn = next(m for m in response.models if m.task == "churn")
    assert "champion" in churn.aliases and churn.feature_service == "churn_v1"
    assert "auc" in churn.metrics and churn.training_window["test_cutoff"]
    trained = churn.training_window["trained_on"]  # a LightGBM champion: its refit's window
    first, last = min(trained["cutoffs"]), max(trained["cutoffs"])
    assert churn.learned_from == (
        f"{len(trained['cutoffs']):,} cutoffs {first}..{last}, {trained['rows']:,} rows"
    )


def test_models_says_what_the_worker_still_does_in_the_background(scorer: Any) -> None:
    """``settling``: the registry check after start and the compiling thread, while they run."""
    import threading

    assert scorer.models().settling == []
    with scorer.checking("checking the champions' aliases against the registry"):
        assert scorer.models().settling == ["checking the champions' aliases against the registry"]
    done = threading.Event()
    compiling = threading.Thread(target=done.wait)  # stands for the compiling thread
    compiling.start()
    scorer._compiling = compiling
    try:
        assert scorer.models().settling == ["compiling trees and reasons tables"]
    finally:
        done.set()
        compiling.join()
    assert scorer.models().settling == []


def test_not_ready_scorer_answers_503(home: Path) -> None:
    from serving.errors import ApiError
    from serving.scorer import Scorer

    fresh = Scorer(load_settings(home=home, environ=NO_COMPILE))
    began = time.monotonic()
    with pytest.raises(ApiError) as error:
        fresh.score(["x"])
    assert error.value.status == 503
    assert time.monotonic() - began < 5  # no load announced: nothing to wait for


def test_fetch_plan_looks_up_identical_services_once(scorer: Any) -> None:
    from serving.hotpath import fetch_plan

    plan = fetch_plan(scorer.state.store, {"churn_v1", "conversion_v1", "ltv_v1"})
    assert set(plan) == {"churn_v1", "conversion_v1", "ltv_v1"}
    assert len(set(plan.values())) == 1  # the three services hold the same features today


# -- in process: the BentoML ASGI app ---------------------------------------------------


def test_monitor_route_serves_the_last_drift_result_and_its_gauges(scorer: Any) -> None:
    """/monitor answers what `lifecycle monitor` saved (nothing recomputed per request), and
    says when that is not of what is served: after three months of refreshes it answered
    August's drift for models and features since replaced, with nothing to tell."""
    import dataclasses

    from serving.drift_results import drift_gauges, last_result, save_result
    from serving.monitor import monitor

    if last_result(scorer.settings) is None:
        assert scorer.monitor().measured is False
    result = monitor(scorer.settings)
    save_result(scorer.settings, result)
    answered = scorer.monitor()
    assert answered.measured and answered.result == last_result(scorer.settings)
    assert answered.drifting == list(answered.result["drifting"])
    assert answered.stale == [] and drift_gauges(answered.result)[("alert", "stale")] == 0
    inputs = {c["name"] for c in answered.result["columns"] if c["source"] == "feature"}
    # every input a score moves with: those read for words only are not judged (test_drift)
    learned = {
        n for n in scorer.state.champions.bundles["churn"].feature_names if not words_only(n)
    }
    assert inputs >= learned
    served = scorer.state.champions.versions["churn"]
    older = {**result.model_versions, "churn": "0"}
    save_result(
        scorer.settings,
        dataclasses.replace(result, model_versions=older, current_as_of="2000-01-01"),
    )
    try:
        assert scorer.monitor().stale == [
            f"churn: measured with version 0, the service serves version {served}",
            f"measured as of 2000-01-01, the online store's features (what /score answers "
            f"from) are as of {result.current_as_of}",
            "run `lifecycle monitor` (`lifecycle refresh` measures it with its report)",
        ]
        assert drift_gauges(last_result(scorer.settings), stale=True)[("alert", "stale")] == 1
    finally:
        save_result(scorer.settings, result)


def test_a_workspace_never_trained_is_not_ready_and_says_to_train(
    home: Path, tmp_path: Path, known_users: list[str]
) -> None:
    """Features in Feast, no MLflow registry: the start created one (two workers raced to
    migrate it: one never loaded), /readyz was 200 and /score called every known user
    `unknown_user` with nulls. Now nothing is created and both say to train."""
    from starlette.testclient import TestClient
    from workspaces import copy_workspace

    from serving.errors import ApiError
    from serving.scorer import Scorer

    untrained = copy_workspace(home, tmp_path / "untrained", skip=("mlflow",))
    database = untrained / "mlflow" / "mlflow.db"
    scorer = Scorer(load_settings(home=untrained, environ=NO_COMPILE))
    state = scorer.load(mirrored=True)  # as a server starts
    assert not database.exists()
    assert set(state.champions.unavailable) == {"churn", "conversion", "ltv"}
    with pytest.raises(ApiError) as refused:
        scorer.score(known_users[:2])
    assert refused.value.status == 503 and "`lifecycle train all`" in refused.value.message
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LIFECYCLE_HOME", str(untrained))
        patch.setenv("LIFECYCLE_SERVING__COMPILE_TREES", "false")
        with TestClient(service_asgi_app()) as client:
            deadline = time.monotonic() + 60
            while (
                ready := client.get("/readyz")
            ).status_code != 503 or "registry" not in ready.text:
                assert time.monotonic() < deadline, ready.text
                time.sleep(0.2)
            assert ready.json()["error"] == (
                f"not ready: no MLflow registry at {database} (nothing trained yet, or it was "
                "deleted): run `lifecycle train all` to register champions, or restore it, "
                "then POST /reload"
            )
            assert set(ready.json()) == {"error", "detail"}  # the API's one error shape
            scored = client.post("/score", json={"user_ids": known_users[:1]})
            assert scored.status_code == 503
            assert not database.exists()


def test_a_worker_whose_start_failed_loads_once_the_aliases_mirror_moves(
    trained_copy: Path,
) -> None:
    """A start before `features apply` failed in every worker; then a POST /reload (which
    announces itself in the mirror) made one worker ready and the others stayed 503: they
    followed the mirror only once loaded."""
    from lifecycle import aliases_mirror
    from serving.follow import MirrorFollower
    from serving.scorer import Scorer

    settings = load_settings(home=trained_copy, environ=NO_COMPILE)
    feast_registry = trained_copy / "feast" / "demo" / "registry.db"
    kept = feast_registry.rename(feast_registry.with_name("kept.db"))
    scorer = Scorer(settings)
    follower = MirrorFollower(scorer)
    follower.loading()
    with pytest.raises(Exception, match="lifecycle features apply"):
        scorer.load(mirrored=True)
    kept.rename(feast_registry)
    follower.follow()  # the mirror as it was: no new attempt on every request
    assert scorer.state is None and scorer.error is not None
    aliases_mirror.sync_mirror(settings, announce=True)  # another worker's POST /reload
    follower.follow()
    assert scorer.error is None and scorer.state is not None
    assert scorer.score(["nobody"]).users[0].status == "unknown_user"


def test_a_request_during_a_start_waits_for_the_load_or_its_failure(
    home: Path, tmp_path: Path, known_users: list[str]
) -> None:
    """A worker still loading answered 503 to a request the kernel gave it while the other
    worker had made the server ready; now the request waits for the load and is answered,
    or, if the load fails, is refused with the load's own reason as soon as it fails."""
    import threading

    from workspaces import copy_workspace

    from serving.errors import ApiError
    from serving.scorer import Scorer

    def start_later(scorer: Any) -> threading.Thread:
        scorer.expect_load()  # as the service does before its loading thread

        def load() -> None:
            time.sleep(1.0)
            with contextlib.suppress(Exception):
                scorer.load(mirrored=True)

        thread = threading.Thread(target=load)
        thread.start()
        return thread

    starting = Scorer(load_settings(home=home, environ=NO_COMPILE))
    thread, began = start_later(starting), time.monotonic()
    answer = starting.score(known_users[:2])  # before the load is under way
    assert time.monotonic() - began >= 1.0
    assert [u.status for u in answer.users] == ["scored", "scored"]
    thread.join()

    unservable = copy_workspace(home, tmp_path / "no-feast", skip=("feast",))
    failing = Scorer(load_settings(home=unservable, environ=NO_COMPILE))
    thread, began = start_later(failing), time.monotonic()
    with pytest.raises(ApiError) as refused:
        failing.score(known_users[:2])
    assert 1.0 <= time.monotonic() - began < 15  # not the whole wait
    assert refused.value.status == 503 and "still loading" not in refused.value.message
    assert refused.value.message == f"not ready: {failing.error}"
    thread.join()


def test_a_start_that_fails_before_the_load_says_why(
    home: Path, tmp_path: Path, known_users: list[str]
) -> None:
    """A start that failed before the scorer's load (its aliases mirror unreadable: nested
    past what JSON reads) left /readyz and every request at 'still loading' for good."""
    from starlette.testclient import TestClient
    from workspaces import copy_workspace

    from lifecycle import aliases_mirror, registry

    damaged = copy_workspace(home, tmp_path / "damaged-mirror")
    settings = load_settings(home=damaged, environ=NO_COMPILE)
    mirror = aliases_mirror.aliases_file(registry.tracking_uri(settings))
    assert mirror is not None and mirror.is_file()
    mirror.write_text("[" * 100_000)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LIFECYCLE_HOME", str(damaged))
        patch.setenv("LIFECYCLE_SERVING__COMPILE_TREES", "false")
        with TestClient(service_asgi_app()) as client:
            deadline = time.monotonic() + 30
            while "still loading" in (ready := client.get("/readyz")).text:
                assert time.monotonic() < deadline, ready.text
                time.sleep(0.2)
            assert ready.status_code == 503
            assert ready.json()["error"].startswith(
                f"not ready: the champions' aliases mirror {mirror} cannot be read (maximum "
                "recursion depth exceeded"
            )
            began = time.monotonic()
            scored = client.post("/score", json={"user_ids": known_users[:1]})
            assert time.monotonic() - began < 5  # the failure is known: no wait for a load
            assert scored.status_code == 503 and scored.json()["error"] == ready.json()["error"]


def test_a_mirror_damaged_after_the_start_keeps_the_champions_served_and_says_so(
    home: Path, tmp_path: Path, known_users: list[str]
) -> None:
    """An aliases mirror damaged once the service was ready (nested past what JSON reads, or
    not the shape written) made every request a 500: each one's follow() raised. Now the
    champions loaded keep answering, /readyz warns naming the mirror, and POST /reload
    rewrites it from the registry."""
    import json

    from starlette.testclient import TestClient
    from workspaces import copy_workspace

    from lifecycle import aliases_mirror, registry

    damaged = copy_workspace(home, tmp_path / "damaged-later")
    mirror = aliases_mirror.aliases_file(
        registry.tracking_uri(load_settings(home=damaged, environ={}))
    )
    assert mirror is not None and mirror.is_file()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LIFECYCLE_HOME", str(damaged))
        patch.setenv("LIFECYCLE_SERVING__COMPILE_TREES", "false")
        with TestClient(service_asgi_app()) as client:
            deadline = time.monotonic() + 60
            while (ready := client.get("/readyz")).status_code != 200:
                assert time.monotonic() < deadline, ready.text
                time.sleep(0.2)
            before = client.post("/score", json={"user_ids": known_users[:1]}).json()
            for damage in ("[" * 100_000, json.dumps({"models": {"demo-churn": 5}})):
                mirror.write_text(damage)
                scored = client.post("/score", json={"user_ids": known_users[:1]})
                assert scored.status_code == 200 and scored.json() == before
                ready = client.get("/readyz")
                assert ready.status_code == 200
                assert any(
                    f"the champions' aliases mirror {mirror} cannot be read" in warning
                    and "POST /reload rewrites it from the registry" in warning
                    for warning in ready.json()["warnings"]
                ), ready.text
            assert client.post("/reload").status_code == 200
            assert aliases_mirror.read_mirror(mirror)  # whole again
            assert "warnings" not in client.get("/readyz").json() or not any(
                "aliases mirror" in w for w in client.get("/readyz").json()["warnings"]
            )
