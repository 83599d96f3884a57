"""Uplift and campaigns over HTTP: a real ``bentoml serve`` of a workspace with an uplift
champion and a reported campaign.

The workspace is a copy of the shared trained demo. A win-back campaign is recorded on it
the way an operator would (`campaign start --from-list`, customers idle for a week half held out
at random, six months before the data ends), reported, and the uplift learners are trained on
it (`train-uplift --campaigns`). This demo has no campaign effect, so the gate rightly
refuses the model; the test promotes it by hand: what is tested here is serving it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from services import bentoml_server, run_cli
from workspaces import TrainedWorkspace, copy_workspace

from lifecycle.settings import load_settings

CAMPAIGN = "winback-test"


@pytest.fixture(scope="module")
def home(trained_workspace: TrainedWorkspace, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from lifecycle import registry

    workspace = copy_workspace(
        trained_workspace.home, tmp_path_factory.mktemp("uplift_service") / "workspace"
    )
    features = pd.read_parquet(workspace / "features" / "demo" / "user_features.parquet")
    as_of = sorted(features["as_of"].unique())[-27]  # 26 weeks before the latest cutoff
    at = features[features["as_of"] == as_of]
    lapsed = at[(at["orders_total"] > 0) & (at["recency_days"] >= 7)]
    rng = np.random.default_rng(3)
    members = pd.DataFrame(
        {
            "user_id": lapsed["user_id"].astype(str),
            "control": rng.random(len(lapsed)) < 0.5,
            "as_of": f"{pd.Timestamp(as_of):%Y-%m-%d}",
        }
    )
    assert len(members) >= 200, f"{len(members)} lapsed customers: too few for a campaign"
    members.to_csv(workspace.parent / f"{CAMPAIGN}.csv", index=False)
    run_cli(workspace, "campaign", "start", CAMPAIGN, "--from-list", str(workspace.parent / f"{CAMPAIGN}.csv"))  # fmt: skip
    run_cli(workspace, "campaign", "report", CAMPAIGN)
    out = run_cli(
        workspace, "--json", "train-uplift", "--dataset", "demo", "--campaigns", CAMPAIGN,
        "--bootstrap-draws", "20",
    )  # fmt: skip
    trained = json.loads(out)
    settings = load_settings(home=workspace, environ={})
    registry.set_champion(
        registry.client(settings), trained["model"], trained["version"], "test: serve it"
    )
    return workspace


@pytest.fixture(scope="module")
def server(home: Path) -> Iterator[str]:
    with bentoml_server(home, {}, ready_path="/readyz") as base:
        yield base


def _post(base: str, route: str, body: dict) -> dict:
    response = httpx.post(f"{base}/{route}", json=body, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def test_score_answers_uplift_and_at_risk_ranks_by_expected_saved_value(server: str) -> None:
    ranked = _post(server, "at_risk", {"rank_by": "expected_saved_value", "limit": 50})
    users = ranked["users"]
    assert ranked["rank_by"] == "expected_saved_value" and len(users) == 50
    saved = [u["expected_saved_value"] for u in users]
    assert all(isinstance(v, float) for v in saved) and saved == sorted(saved, reverse=True)
    for user in users:  # a visit uplift is a probability: times LTV it is money
        assert user["expected_saved_value"] == pytest.approx(user["uplift"] * user["ltv"])
    assert len({round(u["uplift"], 9) for u in users}) > 1, "every user the same uplift"
    # /score reads the online store (the latest cutoff, as the batch scores): the same uplift.
    scored = _post(server, "score", {"user_ids": [u["user_id"] for u in users[:10]]})
    assert scored["model_versions"]["uplift"] == "1"
    # each model named has its kind (the uplift model's: its learner, as /models says it)
    assert set(scored["model_kinds"]) == set(scored["model_versions"])
    models = _post(server, "models", {})["uplift"]
    assert scored["model_kinds"]["uplift"] == models["learner"]
    # and its definition (the campaign's outcome and treatment); a horizon only the tasks have
    assert set(scored["definitions"]) == set(scored["model_versions"])
    assert scored["definitions"]["uplift"]["outcome"] == models["outcome"]
    assert scored["definitions"]["uplift"]["treatment"] == models["treatment"]
    assert set(scored["horizon_days"]) == set(scored["model_versions"]) - {"uplift"}
    for user, listed in zip(scored["users"], users[:10], strict=True):
        assert user["status"] == "scored" and user["model_versions"]["uplift"] == "1"
        assert user["uplift"] == pytest.approx(listed["uplift"], abs=1e-9)
        assert user["uplift_outside"] is None


def test_users_unlike_the_campaigns_get_no_uplift_and_the_list_says_so(
    server: str, home: Path
) -> None:
    """The win-back campaign reached customers idle for a week or more: for a customer
    active since, its model would extrapolate. /score answers no uplift and why; the list
    ranked by expected saved value leaves them out and counts them."""
    features = pd.read_parquet(home / "features" / "demo" / "user_features.parquet")
    latest = features[features["as_of"] == features["as_of"].max()]
    active = latest[latest["recency_days"] < 1]["user_id"].astype(str).head(5).tolist()
    assert active, "no customer active on the latest day"
    for user in _post(server, "score", {"user_ids": active})["users"]:
        assert user["status"] == "scored" and user["uplift"] is None
        assert " outside the campaign's " in user["uplift_outside"]
    ranked = _post(server, "at_risk", {"rank_by": "expected_saved_value", "limit": 1000})
    # the left-out count, and (the rows explained by churn, ranked by what a campaign saves)
    # what their reasons explain: the two notes, no other
    [note, reasons] = ranked["notes"]
    assert any(u["reasons"] for u in ranked["users"])
    assert reasons.startswith("reasons are what raised each user's churn risk")
    left_out = int(re.match(r"([\d,]+) users left out: outside the uplift campaign's", note)[1].replace(",", ""))  # fmt: skip
    assert left_out >= len(active) and not set(active) & {u["user_id"] for u in ranked["users"]}
    assert ranked["total"] + left_out <= len(latest)
    population = _post(server, "models", {})["uplift"]["population"]
    assert population.startswith("users within the campaign's ranges: ")
    assert "recency_days " in population


def test_models_shows_the_uplift_champion_and_the_reported_campaign(
    server: str, home: Path
) -> None:
    models = _post(server, "models", {})
    uplift = models["uplift"]
    assert (uplift["model"], uplift["version"], uplift["outcome"]) == ("demo-uplift", "1", "visit")
    assert {"qini", "qini_low", "qini_high"} <= set(uplift["metrics"])
    report = json.loads((home / "campaigns" / "reports" / f"{CAMPAIGN}.json").read_text())
    [campaign] = models["campaigns"]
    assert campaign["name"] == CAMPAIGN and campaign["effects"] == report["effects"]
    retention = campaign["effects"]["retention"]
    assert retention["low"] < retention["difference"] < retention["high"]
    assert campaign["targeted"] + campaign["control"] >= 200


def test_campaign_effects_are_prometheus_gauges(server: str, home: Path) -> None:
    report = json.loads((home / "campaigns" / "reports" / f"{CAMPAIGN}.json").read_text())
    text = httpx.get(f"{server}/metrics", timeout=60).text
    found = {}
    for line in text.splitlines():  # labels come sorted
        if line.startswith("lifecycle_campaign_effect{"):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
            # one series per label set, not one per worker under its process id (session
            # 58: the demo's 57 drift columns were 114 series under 2 workers)
            assert "pid" not in labels, line
            if labels["campaign"] == CAMPAIGN:
                key = (labels["metric"], labels["bound"])
                assert key not in found, f"two series of {key}"
                found[key] = float(line.rsplit(" ", 1)[1])
    for metric in ("retention", "conversion", "revenue"):
        effect = report["effects"][metric]
        assert found[(metric, "estimate")] == pytest.approx(effect["difference"])
        assert found[(metric, "low")] == pytest.approx(effect["low"])
        assert found[(metric, "high")] == pytest.approx(effect["high"])
    assert found[("users_saved", "estimate")] == pytest.approx(report["users_saved"]["estimate"])


def test_a_worker_follows_a_moved_uplift_champion(home: Path, tmp_path: Path) -> None:
    """Every worker follows the aliases mirror (``serving.follow``): the uplift champion too,
    though it is not a scored task. Retired, the next answer serves no uplift."""
    from workspaces import NO_COMPILE

    from lifecycle import aliases_mirror, registry
    from serving.follow import MirrorFollower
    from serving.scorer import Scorer

    copy = copy_workspace(home, tmp_path / "workspace")
    settings = load_settings(home=copy, environ=NO_COMPILE)
    scorer = Scorer(settings)
    follower = MirrorFollower(scorer)
    follower.loading()
    scorer.load(mirrored=True)
    assert scorer.state is not None and scorer.state.uplift is not None
    assert scorer.state.uplift.version == "1"
    follower.follow()  # the mirror has not moved: nothing reloads
    assert scorer.state.uplift is not None
    client = registry.client(settings)
    client.delete_registered_model_alias("demo-uplift", registry.CHAMPION)
    aliases_mirror.mirror_aliases(client, "demo-uplift")
    follower.follow()
    assert scorer.state is not None and scorer.state.uplift is None
    assert scorer.state.champions.versions["churn"] == "1"


def test_a_corrupt_uplift_artifact_leaves_the_tasks_serving_and_names_it(
    home: Path, tmp_path: Path
) -> None:
    """A damaged uplift bundle stopped the whole load (every task unready, the error naming
    a temporary copy): now the tasks serve, uplift is null, and the reason names the model,
    version and where its artifact lives in the registry."""
    from workspaces import NO_COMPILE

    from lifecycle import registry
    from serving.scorer import Scorer

    copy = copy_workspace(home, tmp_path / "workspace")
    settings = load_settings(home=copy, environ=NO_COMPILE)
    bundle = Path(
        registry.bundle_source(registry.reader(settings, mirrored=True), "demo-uplift", "1")
    )
    assert bundle.is_relative_to(copy)
    next(bundle.glob("*.txt")).write_text("not a model\n")
    scorer = Scorer(settings)
    state = scorer.load(mirrored=True)
    assert state.uplift is None and {"churn", "ltv"} <= set(state.champions.bundles)
    why = state.champions.unavailable["uplift"]
    assert why.startswith(f"uplift champion demo-uplift v1 could not be loaded from {bundle}: ")
    assert "is truncated or not a LightGBM model" in why and "lifecycle-uplift-" not in why
    answer = scorer.score(["u0000001"])
    assert answer.users[0].uplift is None and "uplift" not in answer.model_versions
