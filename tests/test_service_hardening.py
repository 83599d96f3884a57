"""The scoring API as a careless or hostile caller and a broken disk meet it (issue 16).

A real ``bentoml serve`` of copies of the shared trained workspace: every POST route refuses
bodies it does not take with a 4xx (never a 500), the OpenAPI document states what is
accepted, impossible feature values are 400 naming the field; a damaged, lost, emptied or
replaced online store and a deleted MLflow registry are 503 naming the command that fixes
them, never a 500 and never a stale answer; after the fix and ``/reload`` everything is 200.
"""

from __future__ import annotations

import gzip
import json
import os
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from services import bentoml_server, run_cli
from workspaces import TrainedWorkspace, copy_workspace

ROUTES = ("/score", "/score_features", "/at_risk", "/models", "/monitor", "/reload", "/promote")
NOT_JSON = (
    "multipart/form-data; boundary=xyz",
    "application/x-www-form-urlencoded",
    "text/plain",
    "application/xml",
    "application/vnd.bentoml+pickle",
)
MATERIALIZE = "lifecycle features materialize"
KNOWN = ["u0000001", "u0000500", "u0001000", "u0001999"]
# Users on many pages: a served connection may answer a few from pages it cached before the
# damage (their right values), never from a damaged page.
SPREAD = [f"u{n:07d}" for n in range(3, 2001, 7)]


@pytest.fixture(scope="module")
def served_copy(
    trained_workspace: TrainedWorkspace, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, str]]:
    """A copy of the shared workspace served by a real ``bentoml serve``; tests that damage
    it put it back before they end."""
    home = copy_workspace(trained_workspace.home, tmp_path_factory.mktemp("hardening") / "ws")
    limits = {"LIFECYCLE_SERVING__MAX_REQUEST_BYTES": "20000"}
    with bentoml_server(home, limits, ready_path="/readyz") as base:
        yield home, base


@pytest.fixture(scope="module")
def base(served_copy: tuple[Path, str]) -> str:
    return served_copy[1]


def error_of(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error", "detail"}, body  # the API's one error shape
    return str(body["error"])


@pytest.mark.parametrize("route", ROUTES)
def test_every_route_refuses_bodies_it_does_not_take_with_4xx(
    base: str, route: str, http: httpx.Client
) -> None:
    url = f"{base}{route}"
    for content_type in NOT_JSON:
        response = http.post(url, content=b"user_ids=1", headers={"Content-Type": content_type})
        assert response.status_code == 415, (content_type, response.text)
        assert "application/json" in error_of(response)
    # a compressed body was read as it came: 400 'Invalid JSON' (helper B, session 46)
    gzipped = http.post(
        url,
        content=gzip.compress(b'{"user_ids": ["u0000001"]}'),
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert gzipped.status_code == 415, gzipped.text
    assert (
        error_of(gzipped) == "Content-Encoding 'gzip' is not accepted: send the body uncompressed"
    )
    codings = ("", "identity", "identity, identity") if route == "/score" else ()
    for coding in codings:  # no coding applied: the body is read as JSON
        plain = http.post(
            url,
            content=b'{"user_ids": ["u0000001"]}',
            headers={"Content-Type": "application/json", "Content-Encoding": coding},
        )
        assert plain.status_code == 200, (coding, plain.text)
    bad_bodies = [b'{"user_ids": [', b"\xff\xfe", b"[]", b"null", b'"text"', b"12"]
    for body in bad_bodies:
        response = http.post(url, content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 400, (body, response.text)
    huge = http.post(url, content=b" " * 30_000, headers={"Content-Type": "application/json"})
    assert huge.status_code == 413 and "max_request_bytes" in error_of(huge)
    wrong_method = http.get(url)
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "POST"
    # JSON as every error (helper B, session 46: text/plain 'Method Not Allowed')
    assert error_of(wrong_method) == f"GET {route}: this route takes POST (a JSON body)"


def test_an_unknown_route_is_a_404_in_the_api_error_shape(base: str, http: httpx.Client) -> None:
    """Was Starlette's text/plain 'Not Found' (helper B, session 46)."""
    for method in ("GET", "POST"):
        missing = http.request(method, f"{base}/scores", json={"user_ids": ["u0000001"]})
        assert missing.status_code == 404
        assert (
            error_of(missing)
            == f"{method} /scores: no such route; /docs.json lists the API's routes"
        )
    assert http.get(f"{base}/docs.json").status_code == 200  # BentoML's own routes as they were
    # their 405 said "this route takes GET, HEAD (a JSON body)" (review R L5, session 46)
    posted = http.post(f"{base}/livez")
    assert posted.status_code == 405 and "POST" not in posted.headers["allow"]
    assert error_of(posted) == f"POST /livez: this route takes {posted.headers['allow']}"


def test_a_trailing_slash_is_a_404_naming_the_route_not_a_redirect(
    base: str, http: httpx.Client
) -> None:
    """`POST /score/` answered Starlette's 307 to an absolute URL built from the request's
    scheme: behind a TLS proxy without X-Forwarded-Proto it pointed at http://, where a
    client following it sent the body and token in clear (session 52, helper CC)."""
    for method, path, route in (
        ("POST", "/score/", "/score"),
        ("POST", "/score//", "/score"),
        ("POST", "/models/", "/models"),
        ("GET", "/livez/", "/livez"),
    ):
        answer = http.request(method, f"{base}{path}", json={"user_ids": ["u0000001"]})
        assert answer.status_code == 404, (path, answer.status_code, answer.headers)
        assert "location" not in answer.headers
        assert error_of(answer) == (
            f"{method} {path}: no such route; the route is {method} {route}, without the "
            "trailing slash"
        )
    assert http.get(f"{base}/").status_code == 200  # the root is no trailing slash
    scored = http.post(f"{base}/score", json={"user_ids": ["u0000001"]})
    assert scored.status_code == 200, scored.text


def test_the_document_states_which_bodies_are_required_and_they_are(
    base: str, http: httpx.Client
) -> None:
    document = http.get(f"{base}/docs.json").json()
    for route in ROUTES:
        operation = document["paths"][route]["post"]
        assert "415" in operation["responses"], route
        required = operation["requestBody"]["required"]
        empty = http.post(f"{base}{route}", headers={"Content-Type": "application/json"})
        if required:  # an empty body is read as {}: refused exactly when a field is required
            assert empty.status_code == 400, (route, empty.text)
        else:
            assert empty.status_code not in (400, 415, 500), (route, empty.text)
    assert document["paths"]["/score"]["post"]["requestBody"]["required"] is True
    assert document["paths"]["/models"]["post"]["requestBody"]["required"] is False


def test_null_is_refused_where_the_document_says_array_and_taken_where_nullable(
    base: str,
    http: httpx.Client,
) -> None:
    document = http.get(f"{base}/docs.json").json()
    score = document["paths"]["/score"]["post"]["requestBody"]["content"]["application/json"]
    tasks = score["schema"]["properties"]["tasks"]
    assert tasks["type"] == "array" and not tasks.get("nullable")
    refused = http.post(f"{base}/score", json={"user_ids": KNOWN[:1], "tasks": None})
    assert refused.status_code == 400 and refused.json()["detail"][0]["loc"] == ["tasks"]
    left_out = http.post(f"{base}/score", json={"user_ids": KNOWN[:1]})
    assert left_out.status_code == 200 and set(left_out.json()["model_versions"]) == {
        "churn",
        "conversion",
        "ltv",
    }

    at_risk = document["paths"]["/at_risk"]["post"]["requestBody"]["content"]["application/json"]
    fields = at_risk["schema"]["properties"]
    assert fields["segment"]["nullable"] is True
    assert http.post(f"{base}/at_risk", json={"segment": None}).status_code == 200
    share = fields["control_share"]
    assert share["maximum"] == 1 and share["exclusiveMaximum"] is True  # OpenAPI 3.0 form
    assert http.post(f"{base}/at_risk", json={"control_share": 1}).status_code == 400
    assert http.post(f"{base}/at_risk", json={"control_share": 0.5}).status_code == 200


def test_the_document_lists_exactly_the_rankings_at_risk_takes(
    base: str, http: httpx.Client
) -> None:
    """A client validating against the document's enum could not rank the win-back list:
    ``return_probability`` (made from churn's column, in no scores table) was left out of
    ``rank_by`` while /at_risk took it."""
    from serving.lists import rank_by_choices

    document = http.get(f"{base}/docs.json").json()
    at_risk = document["paths"]["/at_risk"]["post"]["requestBody"]["content"]["application/json"]
    documented = at_risk["schema"]["properties"]["rank_by"]["enum"]
    assert "return_probability" in documented, documented
    for choice in rank_by_choices():
        answer = http.post(f"{base}/at_risk", json={"rank_by": choice, "limit": 1})
        assert answer.status_code == (200 if choice in documented else 400), (choice, answer.text)


def test_each_request_body_is_documented_once_as_the_route_takes_it(
    base: str, http: httpx.Client
) -> None:
    """The components' ``score__Input`` (BentoML's, referenced nowhere) lacked the users
    limit and the refusal of unknown fields that the route's own body, titled ``Input`` like
    every other, stated: a generated client had two models, one taking what is refused."""
    document = http.get(f"{base}/docs.json").json()
    schemas = document["components"]["schemas"]
    for route in ROUTES:
        body = document["paths"][route]["post"]["requestBody"]["content"]["application/json"]
        name = f"{route.strip('/')}__Input"
        assert body["schema"]["title"] == name, route
        assert schemas[name] == body["schema"], route
        assert schemas[name]["additionalProperties"] is False, route
    assert schemas["score__Input"]["properties"]["user_ids"]["maxItems"] == 1000
    assert schemas["score_features__Input"]["properties"]["users"]["maxItems"] == 1000
    over = http.post(f"{base}/score", json={"user_ids": [f"u{n}" for n in range(1001)]})
    assert over.status_code == 400 and over.json()["detail"][0]["loc"] == ["user_ids"]


def test_a_version_sent_as_a_number_is_told_to_be_quoted(base: str, http: httpx.Client) -> None:
    """`"version": 2` (as `lifecycle promote churn 2` types it) was told only `Input should
    be a valid string`; an id sent so is told to quote it, and so now is a version."""
    body = {"task": "churn", "reason": "rollback", "version": 2}
    refused = http.post(f"{base}/promote", json=body)
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"] == (
        'version: Input should be a valid string (a version is text: send it in quotes, "2" '
        'or "v2")'
    )
    assert refused.json()["detail"][0]["loc"] == ["version"]


def test_a_field_given_twice_or_a_seed_no_json_client_reads_is_400_naming_it(
    base: str, http: httpx.Client
) -> None:
    """A key given twice in one object was taken silently, the last one (``user_ids``
    twice scored the second list alone); /at_risk took ``seed`` 10^30 and echoed it, which
    a JavaScript client reads as 1e+30 (session 58, helper SVC). Each is a 400 naming the
    field, as every other refused field is. A body without a Content-Type is JSON, as
    documented."""
    json_type = {"Content-Type": "application/json"}
    twice = (
        ("/score", b'{"user_ids": ["u0000001"], "user_ids": ["u0000500"]}', ["user_ids"]),
        ("/at_risk", b'{"where": {"country": "a", "country": "b"}}', ["where", "country"]),
        (
            "/score_features",
            b'{"users": [{"user_id": "x", "features": {"orders_total": 1, "orders_total": 2}}]}',
            ["users", 0, "features", "orders_total"],
        ),
    )
    for route, body, loc in twice:
        refused = http.post(f"{base}{route}", content=body, headers=json_type)
        assert refused.status_code == 400, (route, refused.text)
        shown = ".".join(str(p) for p in loc).replace(".0.", "[0].")
        assert error_of(refused) == (
            f"{shown}: given twice in one JSON object; send each field once (JSON parsers "
            "differ in which one they keep)"
        )
        assert refused.json()["detail"][0]["loc"] == loc
    apart = b'{"users": [{"user_id": "x", "features": {}}, {"user_id": "y", "features": {}}]}'
    assert http.post(f"{base}/score_features", content=apart, headers=json_type).status_code == 200
    for seed in (10**30, -(2**53)):
        refused = http.post(f"{base}/at_risk", json={"seed": seed})
        assert refused.status_code == 400, refused.text
        assert error_of(refused) == (
            "seed: Input should be a whole number from -9007199254740991 to 9007199254740991 "
            "(2^53 - 1: larger numbers lose digits in JSON clients such as JavaScript)"
        )
    largest = http.post(f"{base}/at_risk", json={"seed": 2**53 - 1, "limit": 1})
    assert largest.status_code == 200 and largest.json()["seed"] == 2**53 - 1, largest.text
    bounds = http.get(f"{base}/docs.json").json()["components"]["schemas"]["at_risk__Input"]
    seed_schema = bounds["properties"]["seed"]
    assert (seed_schema["minimum"], seed_schema["maximum"]) == (-(2**53 - 1), 2**53 - 1)
    untyped = http.post(f"{base}/score", content=b'{"user_ids": ["u0000001"]}')
    assert "content-type" not in untyped.request.headers and untyped.status_code == 200


def test_impossible_feature_values_are_400_naming_each_field(base: str, http: httpx.Client) -> None:
    features = {"recency_days": -1e9, "tenure_days": -100, "orders_total": True, "channel": 5}
    response = http.post(
        f"{base}/score_features", json={"users": [{"user_id": "x", "features": features}]}
    )
    assert response.status_code == 400, response.text
    problems = {tuple(d["loc"]): d["msg"] for d in response.json()["detail"]}
    assert set(problems) == {("users", 0, "features", name) for name in features}
    assert "negative" in problems[("users", 0, "features", "recency_days")]
    assert "expected a number, got true" in problems[("users", 0, "features", "orders_total")]
    # JSON's 5 arrives as 5.0: it said 'got float', a type the client never sent
    assert problems[("users", 0, "features", "channel")] == (
        "channel is categorical: expected a string, got the number 5"
    )
    fine = {"recency_days": 3.0, "tenure_days": 100, "orders_total": 2}
    accepted = http.post(
        f"{base}/score_features", json={"users": [{"user_id": "x", "features": fine}]}
    )
    assert accepted.status_code == 200, accepted.text


def test_no_warning_per_request_in_the_log(
    served_copy: tuple[Path, str], http: httpx.Client
) -> None:
    home, base = served_copy
    for _ in range(20):
        assert http.post(f"{base}/score", json={"user_ids": KNOWN}).status_code == 200
    log = (home / "server.log").read_text()
    assert "Accessing the 'model_fields' attribute" not in log  # was one warning per request


def _corrupt(database: Path) -> None:
    """Overwrite pages of an SQLite file in place, as a failing disk would (after moving
    what the write-ahead log holds into the file, so the damage is what readers see)."""
    with sqlite3.connect(database) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = database.stat().st_size
    with database.open("r+b") as handle:
        for offset in range(4096, size, 8192):
            handle.seek(offset)
            handle.write(b"\x5a" * 2048)


def test_a_store_damaged_under_load_is_503_then_rebuilt_and_reloaded_is_200(
    served_copy: tuple[Path, str],
    http: httpx.Client,
) -> None:
    home, base = served_copy
    online = home / "feast" / "demo" / "online.db"
    statuses: Counter[int] = Counter()
    messages: set[str] = set()
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=base, timeout=30) as client:
            while not stop.is_set():
                response = client.post("/score", json={"user_ids": KNOWN})
                statuses[response.status_code] += 1
                if response.status_code != 200:
                    messages.add(error_of(response))

    workers = [threading.Thread(target=load) for _ in range(3)]
    for worker in workers:
        worker.start()
    try:
        _corrupt(online)
        damaged = http.post(f"{base}/score", json={"user_ids": SPREAD})
        ready = http.get(f"{base}/readyz")
        run_cli(home, "features", "materialize")  # rebuilds the damaged file whole
        reloaded = http.post(f"{base}/reload")
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    assert damaged.status_code == 503 and MATERIALIZE in error_of(damaged)
    assert ready.status_code == 503 and MATERIALIZE in error_of(ready)
    assert reloaded.status_code == 200, reloaded.text
    assert set(statuses) <= {200, 503}, (statuses, messages)  # never a 500
    assert all(MATERIALIZE in m or "POST /reload" in m for m in messages), messages
    after = [http.post(f"{base}/score", json={"user_ids": KNOWN}) for _ in range(20)]
    assert {r.status_code for r in after} == {200}
    assert {u["status"] for u in after[-1].json()["users"]} == {"scored"}
    assert http.get(f"{base}/readyz").status_code == 200


def test_a_replaced_store_is_reported_until_reload_picks_it_up(
    served_copy: tuple[Path, str],
    http: httpx.Client,
) -> None:
    home, base = served_copy
    online = home / "feast" / "demo" / "online.db"
    replacement = online.with_name("replacement.db")
    with sqlite3.connect(online) as source, sqlite3.connect(replacement) as target:
        source.backup(target)
    os.replace(replacement, online)  # a new file at the path; the server still has the old one
    stale = http.post(f"{base}/score", json={"user_ids": KNOWN})
    assert stale.status_code == 503 and "POST /reload" in error_of(stale)
    assert http.get(f"{base}/readyz").status_code == 503
    assert http.post(f"{base}/reload").status_code == 200
    assert http.post(f"{base}/score", json={"user_ids": KNOWN}).status_code == 200
    assert http.get(f"{base}/readyz").status_code == 200


def test_a_lost_or_emptied_online_store_is_reported_with_the_command(
    served_copy: tuple[Path, str],
    http: httpx.Client,
) -> None:
    home, base = served_copy
    online = home / "feast" / "demo" / "online.db"
    with sqlite3.connect(online) as connection:
        tables = [
            r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        for table in tables:
            connection.execute(f'DELETE FROM "{table}"')
    emptied = http.get(f"{base}/readyz")
    assert emptied.status_code == 503 and "no rows" in error_of(emptied)
    assert MATERIALIZE in error_of(emptied)
    for suffix in ("", "-wal", "-shm"):
        online.with_name(online.name + suffix).unlink(missing_ok=True)
    lost = http.get(f"{base}/readyz")
    assert lost.status_code == 503 and "is gone" in error_of(lost) and MATERIALIZE in error_of(lost)
    scored = http.post(f"{base}/score", json={"user_ids": KNOWN})
    assert scored.status_code == 503 and MATERIALIZE in error_of(scored)
    run_cli(home, "features", "materialize")
    assert http.post(f"{base}/reload").status_code == 200
    assert http.get(f"{base}/readyz").status_code == 200


def test_a_deleted_mlflow_registry_is_503_not_a_stale_reload(
    served_copy: tuple[Path, str],
    http: httpx.Client,
) -> None:
    home, base = served_copy
    database = home / "mlflow" / "mlflow.db"
    kept = database.with_name("kept.db")
    database.rename(kept)
    try:
        reload = http.post(f"{base}/reload")
        ready = http.get(f"{base}/readyz")
        scored = http.post(f"{base}/score", json={"user_ids": KNOWN})
        assert not database.exists()  # nothing created an empty registry in its place
    finally:
        kept.rename(database)
    assert reload.status_code == 503, reload.text
    assert "lifecycle train all" in error_of(reload) and "changed" not in reload.json()
    assert ready.status_code == 503 and str(database) in error_of(ready)
    assert scored.status_code == 503
    back = http.post(f"{base}/reload")
    assert back.status_code == 200 and back.json()["changed"] == []
    assert http.get(f"{base}/readyz").status_code == 200


def test_the_registry_check_after_a_start_creates_no_registry_where_it_is_away(
    trained_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once loaded, each serving worker checks its champions against the registry in a child
    process (``aliases_elsewhere``), which first mirrors the registry's aliases. With the
    registry database away for a moment (deleted, restored), MLflow created an empty one
    there: the full suite under load saw the test above find a new ``mlflow.db`` after its
    /reload, /readyz and /score, from a worker's check that had not run yet. Now it is
    refused as the routes refuse it, and nothing is created."""
    from serving.service import aliases_elsewhere

    monkeypatch.setenv("LIFECYCLE_HOME", str(trained_copy))
    database = trained_copy / "mlflow" / "mlflow.db"
    database.rename(database.with_name("kept.db"))
    with pytest.raises(RuntimeError, match="no MLflow registry at"):
        aliases_elsewhere("demo")
    assert not database.exists()


def test_feast_apply_in_a_copied_workspace_never_touches_the_original(
    trained_copy: Path, tmp_path: Path
) -> None:
    """``cp -r`` of a workspace, then Feast's own CLI in the copy (which, with no definitions
    in the folder, removes every view): the original's files stay byte for byte."""
    import shutil
    import subprocess
    import sys

    original = trained_copy / "feast" / "demo"
    config = (original / "feature_store.yaml").read_text()
    assert str(trained_copy) not in config  # no absolute path into the workspace
    before = {p.name: p.read_bytes() for p in original.iterdir() if not p.name.endswith("-shm")}
    copy = tmp_path / "copied"
    shutil.copytree(trained_copy, copy, symlinks=True)
    feast = Path(sys.executable).with_name("feast")
    repo = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [str(feast), "-c", str(copy / "feast" / "demo"), "apply"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(repo)},
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    after = {p.name: p.read_bytes() for p in original.iterdir() if not p.name.endswith("-shm")}
    assert after == before
    copied_registry = (copy / "feast" / "demo" / "registry.db").read_bytes()
    assert copied_registry != before["registry.db"]  # the apply did act, on the copy

    from features.store import any_service, online_features, open_store
    from lifecycle.settings import load_settings

    store = open_store(load_settings(home=trained_copy, environ={}))
    online = online_features(store, KNOWN, any_service(store))
    assert online.found.all()  # the original still serves every user


def test_materialize_rebuilds_a_damaged_online_store(trained_copy: Path) -> None:
    online = trained_copy / "feast" / "demo" / "online.db"
    _corrupt(online)
    summary = json.loads(run_cli(trained_copy, "--json", "features", "materialize"))
    assert summary["rebuilt_damaged_store"]  # what quick_check found, in one line
    from features.store_health import unreadable

    assert unreadable(online) is None
    with sqlite3.connect(online) as connection:
        tables = [
            r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        assert tables and all(
            connection.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] == 2000 for t in tables
        )
