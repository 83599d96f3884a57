"""The scoring API as served: the BentoML ASGI app in process, and a real ``bentoml serve``
subprocess on a free local port called over HTTP (the scorer alone: tests/test_scorer.py)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from services import (
    bentoml_server,
    champion_versions,
    every_worker_settled,
    http_ok,
    promote,
    run_cli,
    service_asgi_app,
    workspace_batch_scores,
    write_batch_scores,
)
from workspaces import NO_COMPILE

from features import contract as c
from lifecycle.settings import load_settings
from serving.list_files import read_list_file

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
def home(served_home: Path) -> Path:
    return served_home


@pytest.fixture(scope="module")
def asgi_client(home: Path) -> Iterator[Any]:
    from starlette.testclient import TestClient

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LIFECYCLE_HOME", str(home))
        # As the served process (services.bentoml_server): otherwise this process compiles the
        # champions' trees in a background thread (~a minute of CPU on 2 cores, into the next
        # tests and, under xdist, the next modules of this worker) that nothing here asserts.
        for name, value in NO_COMPILE.items():
            patch.setenv(name, value)
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
    while not http_ok(f"{server}/readyz"):
        assert time.monotonic() < deadline, "service never became ready"
        time.sleep(0.2)
    # Its registry check after start done: the reload test moves an alias behind its back.
    every_worker_settled(server)
    return server


def test_readiness_and_liveness(ready_server: str, http: httpx.Client) -> None:
    assert http.get(f"{ready_server}/livez").status_code == 200
    assert http.get(f"{ready_server}/readyz").status_code == 200


def test_http_score_known_and_unknown(
    ready_server: str, known_users: list[str], http: httpx.Client
) -> None:
    response = http.post(
        f"{ready_server}/score", json={"user_ids": [known_users[1], "stranger"]}, timeout=30
    )
    assert response.status_code == 200
    body = response.json()
    assert [u["status"] for u in body["users"]] == ["scored", "unknown_user"]
    assert body["users"][0]["ltv"] is not None and body["model_versions"]["churn"]


def test_http_score_features(ready_server: str, http: httpx.Client) -> None:
    response = http.post(
        f"{ready_server}/score_features",
        json={
            "users": [{"user_id": "p1", "features": {"recency_days": 5, "channel": "organic"}}],
            "tasks": ["churn"],
        },
        timeout=30,
    )
    assert response.status_code == 200
    assert response.json()["users"][0]["churn_probability"] is not None


def test_http_models_and_at_risk(ready_server: str, home: Path, http: httpx.Client) -> None:
    models = http.post(f"{ready_server}/models", json={}, timeout=30)
    assert models.status_code == 200 and len(models.json()["models"]) == 3
    write_batch_scores(home)
    at_risk = http.post(
        f"{ready_server}/at_risk", json={"lifecycle_stage": "at_risk", "limit": 1}, timeout=30
    )
    assert at_risk.status_code == 200
    assert at_risk.json()["total"] == 2 and [u["user_id"] for u in at_risk.json()["users"]] == ["c"]


def test_http_metrics_are_prometheus(ready_server: str, http: httpx.Client) -> None:
    http.post(f"{ready_server}/score", json={"user_ids": ["x"]}, timeout=30)
    text = http.get(f"{ready_server}/metrics").text
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
    ready_server: str, body: dict[str, Any], field: str, http: httpx.Client
) -> None:
    response = http.post(f"{ready_server}/score", json=body, timeout=30)
    assert response.status_code == 400, response.text
    assert response.json()["detail"][0]["loc"][0] == field


def test_http_malformed_json_and_oversized_body(ready_server: str, http: httpx.Client) -> None:
    malformed = http.post(
        f"{ready_server}/score",
        content=b'{"user_ids": [',
        headers={"content-type": "application/json"},
    )
    assert malformed.status_code == 400 and "JSON" in malformed.json()["detail"][0]["msg"]
    huge = http.post(f"{ready_server}/score", json={"user_ids": ["x" * 100] * 300}, timeout=30)
    assert huge.status_code == 413 and "max_request_bytes" in huge.json()["error"]


def test_http_bad_feature_values_name_each_field(ready_server: str, http: httpx.Client) -> None:
    response = http.post(
        f"{ready_server}/score_features",
        json={"users": [{"user_id": "p", "features": {"tenure_days": "long", "colour": "red"}}]},
        timeout=30,
    )
    assert response.status_code == 400
    locs = sorted(e["loc"] for e in response.json()["detail"])
    assert locs == [["users", 0, "features", "colour"], ["users", 0, "features", "tenure_days"]]


def test_http_at_risk_bad_filters(ready_server: str, home: Path, http: httpx.Client) -> None:
    response = http.post(f"{ready_server}/at_risk", json={"limit": 0, "min_churn": 2}, timeout=30)
    assert response.status_code == 400
    assert {e["loc"][0] for e in response.json()["detail"]} == {"limit", "min_churn"}
    write_batch_scores(home)
    for body, field in (
        ({"segment": "vip"}, "segment"),
        ({"lifecycle_stage": "x"}, "lifecycle_stage"),
        ({"control_share": 1}, "control_share"),  # the list's own check: [0, 1)
    ):
        unknown = http.post(f"{ready_server}/at_risk", json=body, timeout=30)
        assert unknown.status_code == 400, unknown.text
        assert [e["loc"] for e in unknown.json()["detail"]] == [[field]]


def test_http_at_risk_is_the_cli_list(ready_server: str, home: Path, http: httpx.Client) -> None:
    """Same rows, order, values and control flags from HTTP as from `lifecycle at-risk` on
    the same (real, batch-scored) workspace: its own `score-all` table of the champions
    served (not scored again: the shared build's, ~10 s of CPU less)."""
    workspace_batch_scores(home)
    for options, body in (
        (["--control-share", "0.3", "--seed", "7"], {"control_share": 0.3, "seed": 7}),
        (["--min-churn", "0.2", "--rank-by", "ltv"], {"min_churn": 0.2, "rank_by": "ltv"}),
        (["--min-churn", "0"], {"min_churn": 0}),  # the low risk band too (trial 114)
    ):
        # the server's settings: the list's churn floor is its medium risk band (0.3 here)
        listed = run_cli(home, "--json", "at-risk", "--top", "60", *options, env=SERVER_SETTINGS)
        cli = json.loads(listed)["rows"]
        response = http.post(f"{ready_server}/at_risk", json={"limit": 60, **body}, timeout=60)
        assert response.status_code == 200, response.text
        assert response.json()["stale"] is None  # scored by the champions served
        # what the ranking puts first and the others, as the CLI list says them (session 59)
        for said in ("ranks_first", "other_rankings"):
            assert response.json()[said] == json.loads(listed)[said], said
        served = response.json()["users"]
        assert len(cli) == len(served) == 60, options
        assert [u["user_id"] for u in served] == [r["user_id"] for r in cli], options
        assert [u["control"] for u in served] == [r["control"] for r in cli]
        for row, user in zip(cli, served, strict=True):
            # the demo's attributes, no person's: a CLI list's columns; /at_risk's rows have
            # fixed fields, its reasons say them (trial 115)
            assert set(row) - set(user) == {"country", "device"}
            for name, value in row.items():
                if name in ("country", "device"):
                    continue
                assert user[name] == (
                    pytest.approx(value) if isinstance(value, float) else value
                ), name
            assert user["top_reasons"] == "; ".join(r["text"] for r in user["reasons"])
        assert any(r["top_reasons"] for r in cli)
        flags = [r["control"] for r in cli]
        assert any(flags) and not all(flags)  # the share drew some of the 60, not all
    # a list of values is any of them, as the CLI's repeated --where (helper B, session 46:
    # {"country": ["Spain", "France"]} was a 400, "where.country: Input should be a valid string")
    countries = sorted({r["country"] for r in cli})[:2]
    options = [f"--where=country={country}" for country in countries]
    # --limit, the API's name (session 53: "Did you mean '--min-ltv'?"), is --top
    listed = run_cli(home, "--json", "at-risk", "--limit", "60", "--min-churn", "0", *options)
    cli = json.loads(listed)["rows"]
    body = {"limit": 60, "min_churn": 0, "where": {"country": countries}}
    response = http.post(f"{ready_server}/at_risk", json=body, timeout=60)
    assert response.status_code == 200, response.text
    assert [u["user_id"] for u in response.json()["users"]] == [r["user_id"] for r in cli]
    assert {r["country"] for r in cli} == set(countries)  # both, and no other
    for where, said in (
        ({"country": []}, "where.country: an empty list: give one value or more"),
        ({"country": ["Mars"]}, 'where.country: "Mars" is unknown; this scores table has '),
        ({"country": 5}, "where.country: Input should be a valid string or array"),
    ):
        refused = http.post(f"{ready_server}/at_risk", json={"where": where}, timeout=30)
        assert refused.status_code == 400, refused.text
        assert said in refused.json()["error"], refused.text
    # by default both leave out the low risk band, and /at_risk says how many as the CLI does
    default = http.post(f"{ready_server}/at_risk", json={"limit": 60}, timeout=60).json()
    assert min(u["churn_probability"] for u in default["users"]) >= 0.3  # serving.medium_risk
    cli = json.loads(run_cli(home, "--json", "at-risk", "--top", "60", env=SERVER_SETTINGS))
    assert [u["user_id"] for u in default["users"]] == [r["user_id"] for r in cli["rows"]]
    (left_out,) = [n for n in default["notes"] if n.startswith("left out:")]
    assert left_out == cli["notes"][0].replace("`--min-churn 0`", '`"min_churn": 0`')


def test_http_at_risk_draws_the_seed_the_cli_list_draws(
    ready_server: str, home: Path, http: httpx.Client, tmp_path: Path
) -> None:
    """Without a seed, /at_risk held out with seed 0 while the same list written by
    `lifecycle at-risk --out` drew one from its file name: one list, other control users.
    Both now draw it from what the list is (not of limit nor offset), and
    /at_risk says it and from what (seed_drawn_from, null when a seed is given)."""
    workspace_batch_scores(home)
    out = tmp_path / "at_risk.csv"
    # the CLI's repeated --where in one order, the API's list in another: the same list
    options = ["--top", "60", "--control-share", "0.3", "--where", "country=US", "--where"]
    options.append("country=GB")
    said = run_cli(home, "--json", "at-risk", *options, "--out", str(out), env=SERVER_SETTINGS)
    control = json.loads(said)["control"]
    written = read_list_file(out)
    body = {"limit": 60, "control_share": 0.3, "where": {"country": ["GB", "US"]}}
    response = http.post(f"{ready_server}/at_risk", json=body, timeout=60)
    assert response.status_code == 200, response.text
    served = response.json()
    assert served["seed"] == control["seed"] == int(written["control_seed"].iloc[0])
    assert served["seed_drawn_from"] == control["drawn_from"]
    assert [u["user_id"] for u in served["users"]] == written[c.USER_ID].astype(str).tolist()
    assert [u["control"] for u in served["users"]] == written["control"].tolist()
    assert any(written["control"]) and not all(written["control"])
    # the next page of the same list: the same seed, each user's flag as in the whole list
    paged = http.post(f"{ready_server}/at_risk", json={**body, "offset": 30}, timeout=60).json()
    assert paged["seed"] == served["seed"]
    page = [(u["user_id"], u["control"]) for u in paged["users"][:30]]  # rows 31-60 of 90
    assert page == list(zip(written[c.USER_ID].astype(str), written["control"], strict=True))[30:]
    # a page of another size is the same list: its users flagged as in the whole list
    short = http.post(f"{ready_server}/at_risk", json={**body, "limit": 10}, timeout=60).json()
    assert short["seed"] == served["seed"]
    assert [u["control"] for u in short["users"]] == written["control"].tolist()[:10]
    given = http.post(f"{ready_server}/at_risk", json={**body, "seed": 7}, timeout=60).json()
    assert (given["seed"], given["seed_drawn_from"]) == (7, None)


def objects(node: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every JSON object in a document, with its path (``/paths/~1score/...``)."""
    if isinstance(node, list):
        for i, item in enumerate(node):
            yield from objects(item, f"{where}/{i}")
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            yield from objects(value, f"{where}/{key}")


def test_openapi_document_is_valid(ready_server: str, http: httpx.Client) -> None:
    """Structure of OpenAPI 3 and every $ref resolves (openapi-spec-validator is not installed)."""
    spec = http.get(f"{ready_server}/docs.json").json()
    assert spec["openapi"].startswith("3.") and spec["info"]["title"]
    for path in ENDPOINTS:
        operation = spec["paths"][path]["post"]
        assert "application/json" in operation["requestBody"]["content"]
        assert "200" in operation["responses"]

    found = [node["$ref"] for _, node in objects(spec) if isinstance(node.get("$ref"), str)]
    assert found, "typed models should appear as components"
    for ref in found:
        assert ref.startswith("#/"), ref
        target: Any = spec
        for part in ref[2:].split("/"):
            assert part in target, f"unresolved {ref}"
            target = target[part]
    assert "UserScore" in spec["components"]["schemas"]


def test_openapi_document_says_null_as_openapi_3_0(ready_server: str, http: httpx.Client) -> None:
    """The document declares 3.0.2: no 3.1 ``{"type": "null"}`` anywhere (54 fields had
    ``anyOf`` with it, which 3.0 client generators reject or mis-type), and every field the
    models make optional, or whose default is null, is ``nullable``, its enum holding null."""
    from pydantic import BaseModel

    from serving import model_schemas, schemas

    spec = http.get(f"{ready_server}/docs.json", timeout=30).json()
    assert spec["openapi"] == "3.0.2"
    nulls: list[str] = []
    enums: list[str] = []

    for where, node in objects(spec):
        if node.get("type") == "null" or "null" in (node.get("type") or []):
            nulls.append(where)
        if node.get("nullable") and "enum" in node and None not in node["enum"]:
            enums.append(where)
        properties = node.get("properties")
        for name, field in (properties if isinstance(properties, dict) else {}).items():
            # BentoML drops the null of request fields and of the answers it inlines in the
            # paths: /promote's gate_overridden was a string, answered null
            optional = isinstance(field, dict) and field.get("default", ...) is None
            if optional and not field.get("nullable"):
                nulls.append(f"{where}/properties/{name}")
    assert nulls == [] and enums == []
    # Every field pydantic writes as anyOf with null, in every answer's models, is nullable.
    components = spec["components"]["schemas"]
    optional: list[tuple[str, str]] = []
    for model in [*vars(schemas).values(), *vars(model_schemas).values()]:
        if not (isinstance(model, type) and issubclass(model, BaseModel)) or model is BaseModel:
            continue
        raw = model.model_json_schema()
        for definition in [raw, *raw.get("$defs", {}).values()]:
            for name, field in definition.get("properties", {}).items():
                if {"type": "null"} in field.get("anyOf", []):
                    optional.append((definition["title"], name))
    assert ("UserScore", "churn_probability") in optional and len(optional) >= 40
    served = [
        (title, name)
        for title, name in optional
        if (title in components or f"{title}IODescriptor" in components)
    ]
    assert {"UserScore", "AtRiskUser", "Reason", "ModelInfo"} <= {t for t, _ in served}
    not_nullable = [
        f"{title}.{name}"
        for title, name in served
        if not components.get(title, components.get(f"{title}IODescriptor"))["properties"][
            name
        ].get("nullable")
    ]
    assert not_nullable == []
    user = components["UserScore"]["properties"]
    assert user["conversion_probability"] == {**user["conversion_probability"], "type": "number"}
    assert user["risk_band"]["enum"] == ["low", "medium", "high", None]
    assert components["ModelsResponseIODescriptor"]["properties"]["uplift"]["allOf"] == [
        {"$ref": "#/components/schemas/UpliftInfo"}
    ]
    at_risk = spec["paths"]["/at_risk"]["post"]["requestBody"]["content"]["application/json"]
    where = at_risk["schema"]["properties"]["where"]
    assert where["type"] == "object" and where["nullable"] is True  # from the batch scores


def test_openapi_document_names_the_api_and_describes_every_field(
    ready_server: str, home: Path, known_users: list[str], http: httpx.Client
) -> None:
    """Title and the package's version, a description on every field of every model (units
    and ranges), and the risk bands the served process was configured with."""
    from importlib.metadata import version

    spec = http.get(f"{ready_server}/docs.json", timeout=30).json()
    assert spec["info"]["title"] == "Lifecycle"
    assert spec["info"]["version"] == version("lifecycle") != "None"
    assert "BentoML" not in spec["info"]["description"]
    undescribed: list[str] = []
    bands: list[dict[str, Any]] = []

    for where, node in objects(spec):
        properties = node.get("properties")
        for name, field in (properties if isinstance(properties, dict) else {}).items():
            if not (isinstance(field, dict) and field.get("description", "").strip()):
                undescribed.append(f"{where}/{name}")
            if name == "risk_band":
                bands.append(field)
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
    scored = http.post(
        f"{ready_server}/score", json={"user_ids": known_users[:50], "tasks": ["churn"]}, timeout=30
    ).json()["users"]
    for user in scored:
        p = user["churn_probability"]
        expected = "high" if p >= 0.6 else "medium" if p >= 0.3 else "low"
        assert user["risk_band"] == expected, user


def test_http_at_risk_and_readyz_say_when_batch_scores_are_not_the_champions(
    ready_server: str, home: Path, http: httpx.Client
) -> None:
    """score-all's table of the served champions: no warning; a table they did not write:
    /readyz stays 200 with a warning naming the fix, /at_risk answers with `stale`."""
    workspace_batch_scores(home)
    ready = http.get(f"{ready_server}/readyz", timeout=30)
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body.pop("worker") == 1  # the worker's number (one worker), never its process id
    assert body == {"status": "ready", "dataset": "demo", "warnings": []}
    current = http.post(f"{ready_server}/at_risk", json={"limit": 3}, timeout=30).json()
    scored = http.post(f"{ready_server}/score", json={"user_ids": ["x"]}, timeout=30).json()
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
    ready = http.get(f"{ready_server}/readyz", timeout=30)
    assert ready.status_code == 200
    (warning,) = ready.json()["warnings"]
    assert warning.startswith("the batch scores are stale: ")
    assert warning.endswith("run `lifecycle score-all --dataset demo`")
    stale = http.post(f"{ready_server}/at_risk", json={"limit": 3}, timeout=30).json()["stale"]
    assert stale["fix"] == "lifecycle score-all --dataset demo"
    assert stale["served_versions"] == scored["model_versions"] and stale["table_versions"] == {}
    assert stale["served_as_of"] == scored["as_of"]

    # Another dataset's table (it scored last): said as such. Its models' versions and label
    # definitions were compared with the served ones, as if they were earlier versions.
    import pyarrow.parquet as pq

    from serving.batch import METADATA_KEY

    own = pq.read_table(workspace_batch_scores(home))
    metadata = json.loads(own.schema.metadata[METADATA_KEY])
    labels = {t: {**label, "target": "other"} for t, label in metadata["labels"].items()}
    grown = {**metadata, "dataset": "grown", "model_versions": {"churn": "7"}, "labels": labels}
    latest = home / "scores" / "latest.parquet"
    latest.unlink()
    pq.write_table(
        own.replace_schema_metadata({**own.schema.metadata, METADATA_KEY: json.dumps(grown)}),
        latest,
    )
    assert http.get(f"{ready_server}/readyz", timeout=30).json()["warnings"] == [
        "the batch scores are stale: the latest scores table holds dataset grown, not demo "
        "(served); run `lifecycle score-all --dataset demo`"
    ]
    refused = http.post(f"{ready_server}/at_risk", json={"limit": 3}, timeout=30)
    assert refused.status_code == 404 and "holds dataset grown" in refused.json()["error"]
    workspace_batch_scores(home)


def test_http_reload_swaps_models_without_failed_requests(
    ready_server: str, home: Path, known_users: list[str], http: httpx.Client
) -> None:
    before = http.post(
        f"{ready_server}/score", json={"user_ids": known_users[:3]}, timeout=30
    ).json()
    assert before["model_versions"]["churn"] == "1"
    # Moved outside lifecycle (as the MLflow UI does): only /reload tells the service; a
    # lifecycle promotion is followed without it (test_service_workers).
    from lifecycle import registry

    client = registry.client(load_settings(home=home, environ={}))
    client.set_registered_model_alias(registry.model_name("demo", "churn"), registry.CHAMPION, "2")
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
            reload = http.post(f"{ready_server}/reload", json={}, timeout=60)
            for future in futures:
                future.result()
        assert reload.status_code == 200, reload.text
        assert (
            reload.json()["changed"] == ["churn"]
            and reload.json()["model_versions"]["churn"] == "2"
        )
        assert statuses and set(statuses) == {200}
        after = http.post(
            f"{ready_server}/score", json={"user_ids": known_users[:3]}, timeout=30
        ).json()
        assert after["model_versions"]["churn"] == "2"
        assert after["users"][0]["model_versions"]["churn"] == "2"
    finally:
        promote(home, "churn", "1")
        http.post(f"{ready_server}/reload", json={}, timeout=60)


def test_http_promote_moves_the_challenger_and_reloads(
    ready_server: str, home: Path, known_users: list[str], http: httpx.Client
) -> None:
    from lifecycle import registry
    from lifecycle.champion_log import champion_history

    client = registry.client(load_settings(home=home, environ={}))
    churn, ltv = registry.model_name("demo", "churn"), registry.model_name("demo", "ltv")
    before = champion_versions(home)
    assert before["churn"] == "1"

    def post(body: dict[str, Any]) -> httpx.Response:
        return http.post(f"{ready_server}/promote", json=body, timeout=120)

    client.set_registered_model_alias(churn, registry.CHALLENGER, "2")
    try:
        # v2 was registered by hand, never judged by the gate: refused unless forced
        kept = post({"task": "churn", "reason": "canary looked good"})
        assert kept.status_code == 409, kept.text
        error = kept.json()["error"]
        assert "v2 was never judged by the promotion gate" in error and '"force": true' in error
        assert champion_versions(home) == before
        # a force that is no JSON true ("yes", 1) was read as true and forced the promotion
        for lax in ("yes", 1):
            refused = post({"task": "churn", "reason": "canary looked good", "force": lax})
            assert refused.status_code == 400 and "force" in refused.text, refused.text
        assert champion_versions(home) == before
        moved = post({"task": "churn", "reason": "canary looked good", "force": True})
        assert moved.status_code == 200, moved.text
        body = moved.json()
        assert "v2 was never judged by the promotion gate" in body["gate_overridden"]
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
        scored = http.post(
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

        # A rollback over HTTP (only `lifecycle promote churn 1` on the host could): the former
        # champion, which the gate made so, needs no force; recorded as the CLI's is.
        back = post({"task": "churn", "version": "1", "reason": "canary regressed"})
        assert back.status_code == 200, back.text
        body = back.json()
        assert (body["champion"], body["previous"], body["note"]) == ("1", "2", None)
        assert body["reason"] == "manual: canary regressed (POST /promote)"
        assert body["reload"]["changed"] == ["churn"] and champion_versions(home) == before
        history = champion_history(load_settings(home=home, environ={}), "demo")
        assert {k: history[-1][k] for k in ("model", "from", "to", "reason")} == {
            "model": churn,
            "from": "2",
            "to": "1",
            "reason": "manual: canary regressed (POST /promote)",
        }
        assert history[-1]["by"].startswith("hand")
        # v2 the gate never judged: a version named keeps the gate's rule, as the CLI's does
        kept = post({"task": "churn", "version": "v2", "reason": "forward again"})
        assert kept.status_code == 409 and "never judged" in kept.json()["error"], kept.text
        same = post({"task": "churn", "version": "v1", "reason": "still v1"})
        assert same.status_code == 200 and same.json()["reload"]["changed"] == [], same.text
        assert same.json()["note"] == "v1 is already the champion; the reason is recorded on it"
        missing = post({"task": "churn", "version": "999", "reason": "no such"})
        assert missing.status_code == 404, missing.text
        assert missing.json()["error"].startswith(
            f"model {churn} has no version 999 (it has v1, v2"
        )
        for bad in ("1.0", "v 1", "", 1, "challenger"):  # a version as `lifecycle models` names it
            refused = post({"task": "churn", "version": bad, "reason": "x"})
            assert refused.status_code == 400, refused.text
            assert refused.json()["detail"][0]["loc"][0] == "version"
        assert champion_versions(home) == before
    finally:
        promote(home, "churn", "1")
        client.set_registered_model_alias(churn, registry.CHALLENGER, "1")
        http.post(f"{ready_server}/reload", json={}, timeout=60)
    assert champion_versions(home) == before


def test_http_promote_accepts_a_label_definition_change_only_when_asked(
    ready_server: str, home: Path, http: httpx.Client
) -> None:
    """`lifecycle promote --accept-definition-change` had no HTTP equivalent: a version whose
    label definition differs from the champion's could only be promoted from the host
    (trial 94). `accept_definition_change` is the same gate: a 409 naming the field, JSON
    true only, the change recorded with the reason on the version and in the champions log."""
    from lifecycle import registry
    from lifecycle.champion_log import champion_history
    from lifecycle.lineage import DEFINITION_TAG

    settings = load_settings(home=home, environ={})
    client = registry.client(settings)
    churn = registry.model_name("demo", "churn")
    before = champion_versions(home)
    champion = client.get_model_version(churn, before["churn"])
    label = {**json.loads(champion.tags[DEFINITION_TAG]), "horizon_days": 60}
    added = client.create_model_version(churn, source=champion.source, run_id=champion.run_id)
    version = str(added.version)
    client.set_model_version_tag(churn, version, DEFINITION_TAG, json.dumps(label))
    change = "horizon_days 90 -> 60"

    def post(**body: Any) -> httpx.Response:
        asked = {"task": "churn", "version": version, "reason": "product asked", **body}
        return http.post(f"{ready_server}/promote", json=asked, timeout=120)

    try:
        kept = post()  # never judged by the gate either: both fields named at once
        assert kept.status_code == 409, kept.text
        assert (
            f"label definition differs from champion v{before['churn']}'s ({change})"
            in (kept.json()["error"])
        )
        assert kept.json()["error"].endswith(
            'add "accept_definition_change": true, "force": true to promote it anyway'
        )
        forced = post(force=True)
        assert forced.status_code == 409, forced.text
        assert forced.json()["error"].endswith(
            ': add "accept_definition_change": true to promote it anyway'
        )
        for lax in ("yes", 1):
            refused = post(force=True, accept_definition_change=lax)
            assert refused.status_code == 400, refused.text
            assert refused.json()["detail"][0]["loc"][0] == "accept_definition_change"
        assert champion_versions(home) == before
        moved = post(force=True, accept_definition_change=True)
        assert moved.status_code == 200, moved.text
        recorded = f"product asked (POST /promote) (label definition changed: {change})"
        assert moved.json()["reason"] == f"manual: {recorded}"
        assert moved.json()["reload"]["model_versions"]["churn"] == version
        assert client.get_model_version(churn, version).tags["promotion"] == (f"manual: {recorded}")
        (last,) = champion_history(settings, "demo")[-1:]
        assert (last["to"], last["reason"]) == (version, f"manual: {recorded}")
        # the rollback crosses the definition change too: accepted the same way, no force
        back = post(version=before["churn"], reason="back")
        assert back.status_code == 409 and "accept_definition_change" in back.json()["error"]
        back = post(version=before["churn"], reason="back", accept_definition_change=True)
        assert back.status_code == 200, back.text
        assert champion_versions(home) == before
    finally:
        registry.promote(settings, "churn", before["churn"], "test", accept_definition_change=True)
        http.post(f"{ready_server}/reload", json={}, timeout=60)
    assert champion_versions(home) == before


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
