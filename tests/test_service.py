"""The scoring API at three depths: the scorer in process, the BentoML ASGI app in process,
and a real ``bentoml serve`` subprocess on a free local port called over HTTP."""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from pydantic import ValidationError
from services import (
    bentoml_server,
    champion_versions,
    home_copy,
    promote,
    run_cli,
    service_asgi_app,
    write_batch_scores,
)
from workspaces import NO_COMPILE, TrainedWorkspace

from lifecycle.settings import load_settings

REPO = Path(__file__).resolve().parents[1]
ENDPOINTS = ("/score", "/score_features", "/at_risk", "/models", "/monitor", "/reload", "/promote")
SERVER_SETTINGS = {
    "LIFECYCLE_SERVING__MAX_USERS_PER_REQUEST": "50",
    "LIFECYCLE_SERVING__MAX_REQUEST_BYTES": "20000",
    # Risk bands other than the defaults: the served document and answers must follow them.
    "LIFECYCLE_SERVING__HIGH_RISK": "0.6",
    "LIFECYCLE_SERVING__MEDIUM_RISK": "0.3",
}


@pytest.fixture(scope="module")
def home(
    trained_workspace: TrainedWorkspace, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """A copy of the shared trained workspace; churn gets a second registered version (same
    artifacts) to promote."""
    destination = tmp_path_factory.mktemp("serving_ws") / "workspace"
    with home_copy(trained_workspace.home, destination) as workspace:
        from lifecycle import registry

        settings = load_settings(home=workspace, environ={})
        client = registry.client(settings)
        name = registry.model_name(settings.dataset, "churn")
        champion = registry.alias_version(client, name, registry.CHAMPION)
        client.create_model_version(name, source=champion.source, run_id=champion.run_id)
        yield workspace


@pytest.fixture(scope="module")
def known_users(home: Path) -> list[str]:
    table = home / "features" / "demo" / "user_features.parquet"
    return (
        pd.read_parquet(table, columns=["user_id"])["user_id"]
        .drop_duplicates()
        .astype(str)
        .tolist()[:200]
    )


# -- in process: the scorer -------------------------------------------------------------


@pytest.fixture(scope="module")
def scorer(home: Path) -> Iterator[Any]:
    from serving.scorer import Scorer

    loaded = Scorer(load_settings(home=home, environ=NO_COMPILE))
    loaded.load()
    yield loaded
    loaded.close()


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
    user = scorer.score(known_users[:1], ["ltv"]).users[0]
    assert user.ltv is not None
    assert user.churn_probability is None and user.reasons == [] and user.value_at_risk is None
    assert user.model_versions.keys() == {"ltv"}


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


def test_at_risk_flags_the_cli_control_group(scorer: Any, home: Path) -> None:
    from serving.lists import CONTROL_SEED, CONTROL_SHARE, control_flags

    write_batch_scores(home)
    ids = ["b", "c", "d", "a"]
    default = scorer.at_risk()
    assert (default.control_share, default.seed) == (CONTROL_SHARE, CONTROL_SEED)
    assert [u.control for u in default.users] == control_flags(
        ids, CONTROL_SEED, CONTROL_SHARE
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
    for request, field in (
        ({"segment": "vip"}, "segment"),
        ({"lifecycle_stage": "asleep"}, "lifecycle_stage"),
        ({"channel": "pigeon"}, "channel"),
    ):
        with pytest.raises(ValidationError) as error:
            scorer.at_risk(**request)
        assert [e["loc"] for e in error.value.errors()] == [(field,)]
        assert "unknown; this scores table has" in error.value.errors()[0]["msg"]
    no_ltv = home / "scores" / "latest.parquet"
    pd.read_parquet(no_ltv).drop(columns=["ltv"]).to_parquet(no_ltv)
    with pytest.raises(ValidationError) as error:
        scorer.at_risk(rank_by="ltv")
    assert error.value.errors()[0]["loc"] == ("rank_by",)
    with pytest.raises(ValidationError) as error:
        scorer.at_risk(control_share=1.0)
    assert error.value.errors()[0]["loc"] == ("control_share",)
    # a message that names nothing still lands on its field
    mapped = list_error(ListError("the list cannot be made", "stage"))
    assert isinstance(mapped, ValidationError) and mapped.errors()[0]["loc"] == ("lifecycle_stage",)
    # every parameter the list function can blame is a request field of /at_risk
    from serving.service import LifecycleScoring

    request_fields = set(inspect.signature(LifecycleScoring.inner.at_risk.func).parameters)
    request_fields.discard("self")
    list_parameters = {f for f in Filters.__dataclass_fields__} | {
        p for p in inspect.signature(at_risk_page).parameters if p not in ("scores", "filters")
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


def test_not_ready_scorer_answers_503(home: Path) -> None:
    from serving.errors import ApiError
    from serving.scorer import Scorer

    fresh = Scorer(load_settings(home=home, environ=NO_COMPILE))
    with pytest.raises(ApiError) as error:
        fresh.score(["x"])
    assert error.value.status == 503


def test_fetch_plan_looks_up_identical_services_once(scorer: Any) -> None:
    from serving.hotpath import fetch_plan

    plan = fetch_plan(scorer.state.store, {"churn_v1", "conversion_v1", "ltv_v1"})
    assert set(plan) == {"churn_v1", "conversion_v1", "ltv_v1"}
    assert len(set(plan.values())) == 1  # the three services hold the same features today


# -- in process: the BentoML ASGI app ---------------------------------------------------


@pytest.fixture(scope="module")
def asgi_client(home: Path) -> Iterator[Any]:
    from starlette.testclient import TestClient

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LIFECYCLE_HOME", str(home))
        with TestClient(service_asgi_app()) as client:
            deadline = time.monotonic() + 120
            while client.get("/readyz").status_code != 200:
                assert time.monotonic() < deadline, "service never became ready"
                time.sleep(0.2)
            yield client


def test_asgi_score_and_bad_input(asgi_client: Any, known_users: list[str]) -> None:
    response = asgi_client.post("/score", json={"user_ids": [known_users[0], "ghost"]})
    assert response.status_code == 200
    assert [u["status"] for u in response.json()["users"]] == ["scored", "unknown_user"]
    bad = asgi_client.post("/score", json={"user_ids": [known_users[0]], "tasks": ["revenue"]})
    assert bad.status_code == 400 and bad.json()["detail"][0]["loc"] == ["tasks", 0]


# -- a real `bentoml serve` -------------------------------------------------------------


@pytest.fixture(scope="module")
def server(home: Path) -> Iterator[str]:
    with bentoml_server(home, SERVER_SETTINGS) as base:
        yield base


@pytest.fixture(scope="module")
def ready_server(server: str) -> str:
    deadline = time.monotonic() + 120
    while httpx.get(f"{server}/readyz", timeout=5).status_code != 200:
        assert time.monotonic() < deadline, "service never became ready"
        time.sleep(0.2)
    return server


def test_readiness_and_liveness(ready_server: str) -> None:
    assert httpx.get(f"{ready_server}/livez").status_code == 200
    assert httpx.get(f"{ready_server}/readyz").status_code == 200


def test_http_score_known_and_unknown(ready_server: str, known_users: list[str]) -> None:
    response = httpx.post(
        f"{ready_server}/score", json={"user_ids": [known_users[1], "stranger"]}, timeout=30
    )
    assert response.status_code == 200
    body = response.json()
    assert [u["status"] for u in body["users"]] == ["scored", "unknown_user"]
    assert body["users"][0]["ltv"] is not None and body["model_versions"]["churn"]


def test_http_score_features(ready_server: str) -> None:
    response = httpx.post(
        f"{ready_server}/score_features",
        json={
            "users": [{"user_id": "p1", "features": {"recency_days": 5, "channel": "organic"}}],
            "tasks": ["churn"],
        },
        timeout=30,
    )
    assert response.status_code == 200
    assert response.json()["users"][0]["churn_probability"] is not None


def test_http_models_and_at_risk(ready_server: str, home: Path) -> None:
    models = httpx.post(f"{ready_server}/models", json={}, timeout=30)
    assert models.status_code == 200 and len(models.json()["models"]) == 3
    write_batch_scores(home)
    at_risk = httpx.post(
        f"{ready_server}/at_risk", json={"lifecycle_stage": "at_risk", "limit": 1}, timeout=30
    )
    assert at_risk.status_code == 200
    assert at_risk.json()["total"] == 2 and [u["user_id"] for u in at_risk.json()["users"]] == ["c"]


def test_http_metrics_are_prometheus(ready_server: str) -> None:
    httpx.post(f"{ready_server}/score", json={"user_ids": ["x"]}, timeout=30)
    text = httpx.get(f"{ready_server}/metrics").text
    assert 'lifecycle_request_total{endpoint="/score"' in text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"user_ids": []}, "user_ids"),
        ({"user_ids": "u1"}, "user_ids"),
        ({"user_ids": [1, 2]}, "user_ids"),
        ({"user_ids": [""]}, "user_ids"),
        ({}, "user_ids"),
        ({"user_ids": ["u1"], "tasks": ["churn", "nope"]}, "tasks"),
        ({"user_ids": ["u1"], "tasks": []}, "tasks"),
        ({"user_ids": [f"u{i}" for i in range(51)]}, "user_ids"),  # over the server's limit of 50
    ],
)
def test_http_bad_score_requests_are_400_naming_the_field(
    ready_server: str, body: dict[str, Any], field: str
) -> None:
    response = httpx.post(f"{ready_server}/score", json=body, timeout=30)
    assert response.status_code == 400, response.text
    assert response.json()["detail"][0]["loc"][0] == field


def test_http_malformed_json_and_oversized_body(ready_server: str) -> None:
    malformed = httpx.post(
        f"{ready_server}/score",
        content=b'{"user_ids": [',
        headers={"content-type": "application/json"},
    )
    assert malformed.status_code == 400 and "JSON" in malformed.json()["detail"][0]["msg"]
    huge = httpx.post(f"{ready_server}/score", json={"user_ids": ["x" * 100] * 300}, timeout=30)
    assert huge.status_code == 413 and "max_request_bytes" in huge.json()["error"]


def test_http_bad_feature_values_name_each_field(ready_server: str) -> None:
    response = httpx.post(
        f"{ready_server}/score_features",
        json={"users": [{"user_id": "p", "features": {"tenure_days": "long", "colour": "red"}}]},
        timeout=30,
    )
    assert response.status_code == 400
    locs = sorted(e["loc"] for e in response.json()["detail"])
    assert locs == [["users", 0, "features", "colour"], ["users", 0, "features", "tenure_days"]]


def test_http_at_risk_bad_filters(ready_server: str, home: Path) -> None:
    response = httpx.post(f"{ready_server}/at_risk", json={"limit": 0, "min_churn": 2}, timeout=30)
    assert response.status_code == 400
    assert {e["loc"][0] for e in response.json()["detail"]} == {"limit", "min_churn"}
    write_batch_scores(home)
    for body, field in (
        ({"segment": "vip"}, "segment"),
        ({"lifecycle_stage": "x"}, "lifecycle_stage"),
        ({"control_share": 1}, "control_share"),  # the list's own check: [0, 1)
    ):
        unknown = httpx.post(f"{ready_server}/at_risk", json=body, timeout=30)
        assert unknown.status_code == 400, unknown.text
        assert [e["loc"] for e in unknown.json()["detail"]] == [[field]]


def test_http_at_risk_is_the_cli_list(ready_server: str, home: Path) -> None:
    """Same rows, order, values and control flags from HTTP as from `lifecycle at-risk` on
    the same (real, batch-scored) workspace."""
    run_cli(home, "score-all")
    for options, body in (
        (["--control-share", "0.3", "--seed", "7"], {"control_share": 0.3, "seed": 7}),
        (["--min-churn", "0.2", "--rank-by", "ltv"], {"min_churn": 0.2, "rank_by": "ltv"}),
    ):
        cli = json.loads(run_cli(home, "--json", "at-risk", "--top", "60", *options))["rows"]
        response = httpx.post(f"{ready_server}/at_risk", json={"limit": 60, **body}, timeout=60)
        assert response.status_code == 200, response.text
        served = response.json()["users"]
        assert len(cli) == len(served) == 60
        assert [u["user_id"] for u in served] == [r["user_id"] for r in cli]
        assert [u["control"] for u in served] == [r["control"] for r in cli]
        for row, user in zip(cli, served, strict=True):
            for name, value in row.items():
                assert user[name] == (
                    pytest.approx(value) if isinstance(value, float) else value
                ), name
            assert user["top_reasons"] == "; ".join(r["text"] for r in user["reasons"])
        assert any(r["top_reasons"] for r in cli)
        flags = [r["control"] for r in cli]
        assert any(flags) and not all(flags)  # the share drew some of the 60, not all


def test_openapi_document_is_valid(ready_server: str) -> None:
    """Structure of OpenAPI 3 and every $ref resolves (openapi-spec-validator is not installed)."""
    spec = httpx.get(f"{ready_server}/docs.json").json()
    assert spec["openapi"].startswith("3.") and spec["info"]["title"]
    for path in ENDPOINTS:
        operation = spec["paths"][path]["post"]
        assert "application/json" in operation["requestBody"]["content"]
        assert "200" in operation["responses"]

    def refs(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                yield node["$ref"]
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    found = list(refs(spec))
    assert found, "typed models should appear as components"
    for ref in found:
        assert ref.startswith("#/"), ref
        target: Any = spec
        for part in ref[2:].split("/"):
            assert part in target, f"unresolved {ref}"
            target = target[part]
    assert "UserScore" in spec["components"]["schemas"]


def test_openapi_document_names_the_api_and_describes_every_field(
    ready_server: str, home: Path, known_users: list[str]
) -> None:
    """Title and the package's version, a description on every field of every model (units
    and ranges), and the risk bands the served process was configured with."""
    from importlib.metadata import version

    spec = httpx.get(f"{ready_server}/docs.json", timeout=30).json()
    assert spec["info"]["title"] == "Lifecycle"
    assert spec["info"]["version"] == version("lifecycle") != "None"
    assert "BentoML" not in spec["info"]["description"]
    undescribed: list[str] = []
    bands: list[dict[str, Any]] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, f"{where}/{i}")
        if not isinstance(node, dict):
            return
        properties = node.get("properties")
        for name, field in (properties if isinstance(properties, dict) else {}).items():
            if not (isinstance(field, dict) and field.get("description", "").strip()):
                undescribed.append(f"{where}/{name}")
            if name == "risk_band":
                bands.append(field)
        for key, value in node.items():
            walk(value, f"{where}/{key}")

    walk(spec, "")
    assert undescribed == []
    answer = spec["paths"]["/score"]["post"]["responses"]["200"]["content"]["application/json"]
    assert "days" in answer["schema"]["properties"]["horizon_days"]["description"]
    user = spec["components"]["schemas"]["UserScore"]["properties"]
    assert "0-1" in user["churn_probability"]["description"]
    assert "currency" in user["ltv"]["description"]
    settings = load_settings(home=home, environ=SERVER_SETTINGS).serving
    assert (settings.high_risk, settings.medium_risk) == (0.6, 0.3)  # not the defaults
    assert len(bands) >= 2  # /score's users and /at_risk's rows
    for band in bands:
        assert band["x-thresholds"] == {"high": 0.6, "medium": 0.3}
        assert "high when churn_probability >= 0.6, medium when >= 0.3" in band["description"]
    # ... and the answers follow them.
    scored = httpx.post(
        f"{ready_server}/score", json={"user_ids": known_users[:50], "tasks": ["churn"]}, timeout=30
    ).json()["users"]
    for user in scored:
        p = user["churn_probability"]
        expected = "high" if p >= 0.6 else "medium" if p >= 0.3 else "low"
        assert user["risk_band"] == expected, user


def test_http_at_risk_and_readyz_say_when_batch_scores_are_not_the_champions(
    ready_server: str, home: Path
) -> None:
    """score-all's table of the served champions: no warning; a table they did not write:
    /readyz stays 200 with a warning naming the fix, /at_risk answers with `stale`."""
    written = sorted((home / "scores").glob("scores-*.parquet"))[0]  # the workspace's score-all
    latest = home / "scores" / "latest.parquet"
    latest.unlink(missing_ok=True)
    latest.symlink_to(written.name)
    ready = httpx.get(f"{ready_server}/readyz", timeout=30)
    assert ready.status_code == 200 and ready.json() == {"status": "ready", "warnings": []}
    current = httpx.post(f"{ready_server}/at_risk", json={"limit": 3}, timeout=30).json()
    scored = httpx.post(f"{ready_server}/score", json={"user_ids": ["x"]}, timeout=30).json()
    assert current["stale"] is None
    assert current["model_versions"] == scored["model_versions"]
    assert current["as_of"] == scored["as_of"] and current["currency"] == scored["currency"]
    assert (
        current["horizon_days"]
        == scored["horizon_days"]
        == {
            "churn": 90,
            "conversion": 90,
            "ltv": 365,
        }
    )

    write_batch_scores(home)  # hand-made: it does not say which models wrote it
    ready = httpx.get(f"{ready_server}/readyz", timeout=30)
    assert ready.status_code == 200
    (warning,) = ready.json()["warnings"]
    assert warning.startswith("the batch scores are stale: ")
    assert warning.endswith("run `lifecycle score-all`")
    stale = httpx.post(f"{ready_server}/at_risk", json={"limit": 3}, timeout=30).json()["stale"]
    assert stale["fix"] == "lifecycle score-all"
    assert stale["served_versions"] == scored["model_versions"] and stale["table_versions"] == {}
    assert stale["served_as_of"] == scored["as_of"]


def test_http_reload_swaps_models_without_failed_requests(
    ready_server: str, home: Path, known_users: list[str]
) -> None:
    before = httpx.post(
        f"{ready_server}/score", json={"user_ids": known_users[:3]}, timeout=30
    ).json()
    assert before["model_versions"]["churn"] == "1"
    promote(home, "churn", "2")
    statuses: list[int] = []
    stop = time.monotonic() + 60

    def hammer() -> None:
        with httpx.Client(timeout=30) as client:
            for _ in range(15):
                if time.monotonic() > stop:
                    break
                statuses.append(
                    client.post(
                        f"{ready_server}/score", json={"user_ids": known_users[:10]}
                    ).status_code
                )

    try:
        with ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(hammer) for _ in range(3)]
            reload = httpx.post(f"{ready_server}/reload", json={}, timeout=60)
            for future in futures:
                future.result()
        assert reload.status_code == 200, reload.text
        assert (
            reload.json()["changed"] == ["churn"]
            and reload.json()["model_versions"]["churn"] == "2"
        )
        assert statuses and set(statuses) == {200}
        after = httpx.post(
            f"{ready_server}/score", json={"user_ids": known_users[:3]}, timeout=30
        ).json()
        assert after["model_versions"]["churn"] == "2"
        assert after["users"][0]["model_versions"]["churn"] == "2"
    finally:
        promote(home, "churn", "1")
        httpx.post(f"{ready_server}/reload", json={}, timeout=60)


def test_http_promote_moves_the_challenger_and_reloads(
    ready_server: str, home: Path, known_users: list[str]
) -> None:
    from lifecycle import registry

    client = registry.client(load_settings(home=home, environ={}))
    churn, ltv = registry.model_name("demo", "churn"), registry.model_name("demo", "ltv")
    before = champion_versions(home)
    assert before["churn"] == "1"

    def post(body: dict[str, Any]) -> httpx.Response:
        return httpx.post(f"{ready_server}/promote", json=body, timeout=120)

    client.set_registered_model_alias(churn, registry.CHALLENGER, "2")
    try:
        moved = post({"task": "churn", "reason": "canary looked good"})
        assert moved.status_code == 200, moved.text
        body = moved.json()
        assert (body["task"], body["model"], body["champion"], body["previous"]) == (
            "churn",
            churn,
            "2",
            "1",
        )
        assert body["reload"]["changed"] == ["churn"]
        assert body["reload"]["model_versions"] == {**before, "churn": "2"}
        assert champion_versions(home) == {**before, "churn": "2"}
        recorded = client.get_model_version(churn, "2").tags["promotion"]
        assert recorded == body["reason"] == "manual: canary looked good (POST /promote)"
        scored = httpx.post(
            f"{ready_server}/score", json={"user_ids": known_users[:2]}, timeout=30
        ).json()
        assert scored["model_versions"]["churn"] == "2"  # serving the promoted model

        again = post({"task": "churn", "reason": "twice"})
        assert again.status_code == 409 and "v2 is already the champion" in again.json()["error"]
        client.delete_registered_model_alias(ltv, registry.CHALLENGER)
        try:
            none = post({"task": "ltv", "reason": "nothing to promote"})
            assert none.status_code == 409 and "has no challenger" in none.json()["error"]
        finally:
            client.set_registered_model_alias(ltv, registry.CHALLENGER, before["ltv"])
        for bad, field in (
            ({"task": "revenue", "reason": "x"}, "task"),
            ({"task": "churn", "reason": "   "}, "reason"),
            ({"task": "churn"}, "reason"),
        ):
            refused = post(bad)
            assert refused.status_code == 400, refused.text
            assert refused.json()["detail"][0]["loc"][0] == field
        assert champion_versions(home) == {**before, "churn": "2"}  # refusals moved nothing
    finally:
        promote(home, "churn", "1")
        client.set_registered_model_alias(churn, registry.CHALLENGER, "1")
        httpx.post(f"{ready_server}/reload", json={}, timeout=60)
    assert champion_versions(home) == before


def test_monitor_route_serves_the_last_drift_result_and_its_gauges(scorer: Any) -> None:
    """/monitor answers what `lifecycle monitor` saved (nothing recomputed per request)."""
    from serving.monitor import last_result, monitor, save_result

    if last_result(scorer.settings) is None:
        assert scorer.monitor().measured is False
    result = monitor(scorer.settings)
    save_result(scorer.settings, result)
    answered = scorer.monitor()
    assert answered.measured and answered.result == last_result(scorer.settings)
    assert answered.drifting == list(answered.result["drifting"])
    inputs = {c["name"] for c in answered.result["columns"] if c["source"] == "feature"}
    assert inputs >= set(scorer.state.champions.bundles["churn"].feature_names)


def test_the_python_client_example_of_the_docs_runs(ready_server: str) -> None:
    """The docs' Python block, as written, against the served process."""
    import contextlib
    import io
    import re

    docs = (Path(__file__).parents[1] / "docs" / "serving.md").read_text()
    found = re.search(r"<!-- python-client-example -->\n```python\n(.*?)```", docs, re.S)
    assert found, "docs/serving.md lost its Python client example"
    code = found.group(1)
    assert 'BASE_URL = "http://127.0.0.1:3000"' in code
    code = code.replace("http://127.0.0.1:3000", ready_server)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "docs/serving.md", "exec"), {})
    lines = printed.getvalue().splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["u0000001", "scored"],
        ["someone-new", "unknown_user"],
    ]
    churn, ltv = (float(v) for v in lines[0].split()[2:])  # numbers, as the API sends them
    assert 0 <= churn <= 1 and ltv >= 0
