"""The scoring API's contract without a running service: the list fields have a place in
the API's rows, and the service builds into a bento offline."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_at_risk_rows_carry_every_field_of_the_cli_list() -> None:
    """A list field without a place in the API's row would be refused, not silently dropped."""
    from typing import get_args

    from lifecycle.list_fields import list_fields, rank_by_choices
    from serving.schemas import AtRiskUser, RankBy

    assert set(list_fields()) <= set(AtRiskUser.model_fields)
    assert get_args(RankBy) == rank_by_choices()


@pytest.mark.skipif(
    os.environ.get("LIFECYCLE_SKIP_BENTO_BUILD") == "1", reason="bento build skipped"
)
def test_bentoml_build_succeeds_offline(tmp_path: Path) -> None:
    env = {**os.environ, "BENTOML_HOME": str(tmp_path), "BENTOML_DO_NOT_TRACK": "true"}
    result = subprocess.run(
        [sys.executable, "-m", "bentoml", "build", str(REPO)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    built = list((tmp_path / "bentos" / "lifecycle-scoring").glob("*/src/serving/service.py"))
    assert built, "the bento should contain the service source"


def test_at_risk_refuses_unknown_fields_naming_the_ones_it_takes(home: Path) -> None:
    """A misspelt filter would list everyone: {"stage": ...} (the field is lifecycle_stage)
    and {"top": 2} (it is limit) are 400s naming the field, before any model is needed."""
    from services import service_asgi_app
    from starlette.testclient import TestClient

    with TestClient(service_asgi_app()) as client:
        for body, unknown in (({"limit": 2, "stage": "bogus"}, "stage"), ({"top": 2}, "top")):
            response = client.post("/at_risk", json=body)
            assert response.status_code == 400, response.text
            [detail] = response.json()["detail"]
            assert detail["loc"][-1] == unknown
            assert f"unknown field {unknown!r}" in detail["msg"]
            assert "lifecycle_stage" in detail["msg"] and "limit" in detail["msg"]
        # Every 400's error names the field and what is wrong, not a validator's class (it
        # said "1 validation error for Input", or "... for KnownFieldsOnly" once).
        for body, error in (
            ({"stage": "bogus"}, "stage: unknown field 'stage'; at_risk takes segment, "),
            ({"limit": 0}, "limit: Input should be greater than or equal to 1"),
        ):
            response = client.post("/at_risk", json=body)
            assert response.status_code == 400, response.text
            assert response.json()["error"].startswith(error), response.text
        # Python's json writes NaN and Infinity: NaN was refused as not ">= 0" (it is no
        # number at all), Infinity as "expected a number, e.g. 0.5, got inf" (session 51)
        for field, value in (("min_ltv", "NaN"), ("min_ltv", "Infinity"), ("min_churn", "NaN")):
            for more in ("", ', "control_share": -Infinity'):
                response = client.post(
                    "/at_risk",
                    content=f'{{"{field}": {value}{more}}}',
                    headers={"Content-Type": "application/json"},
                )
                assert response.status_code == 400, response.text
                error = response.json()["error"]
                assert error.startswith(f"{field}: Input should be a finite number"), error
                assert "greater than" not in error and "less than" not in error, error


def test_a_400_says_in_its_error_which_fields_and_what_is_wrong(home: Path) -> None:
    """A product service logs ``error``: it read "1 validation error for Input" whatever the
    field; an id sent as a number (online_retail's ids are numbers) is told to quote it."""
    from services import service_asgi_app
    from starlette.testclient import TestClient

    with TestClient(service_asgi_app()) as client:
        for route, body, error in (
            (
                "score",
                {"user_ids": ["12346", 12347]},
                "user_ids[1]: Input should be a valid string (ids are text: send them in quotes)",
            ),
            ("score", {}, "user_ids: Field required"),
            # session 58: `"tasks": null` was told "Input should be a valid array", no more
            (
                "score",
                {"user_ids": ["u1"], "tasks": None},
                'tasks: Input should be a valid array (a list of task names, as ["churn", '
                '"ltv"]; leave tasks out for every task)',
            ),
            (
                "score",
                {"user_ids": "u1"},
                'user_ids: Input should be a valid array (a list of ids, as ["u0000001"], even '
                "for one user)",
            ),
            # a pattern's words, not the pattern: a reason of spaces was told "reason: String
            # should match pattern '[^ \\t\\n...]'" (session 51)
            (
                "promote",
                {"task": "churn", "reason": "   "},
                "reason: Input should hold a visible character, not only spaces",
            ),
            (
                "promote",
                {"task": "churn", "reason": "x", "version": "abc"},
                "version: Input should be a version number as `lifecycle models` shows it: 2 or v2",
            ),
            (
                "score_features",
                {"users": [{"user_id": "a", "features": {"x": [1]}}]},
                "users[0].features.x: Input should be a valid number, boolean or string",
            ),
            (
                "score",
                {"user_ids": [1, 2, 3, 4, 5]},
                "user_ids[0]: Input should be a valid string (ids are text: send them in "
                "quotes); user_ids[1]: Input should be a valid string (ids are text: send them "
                "in quotes); user_ids[2]: Input should be a valid string (ids are text: send "
                "them in quotes); and 2 more (see detail)",
            ),
        ):
            response = client.post(f"/{route}", json=body)
            assert response.status_code == 400, response.text
            answer = response.json()
            assert answer["error"] == error, answer
            assert answer["detail"] and all("loc" in d and "msg" in d for d in answer["detail"])
        # every other answer passes untouched
        assert client.get("/livez").status_code == 200


def test_every_route_refuses_fields_it_does_not_take(home: Path) -> None:
    """/score ignored {"reason": "none"} (it is reasons: every reason was computed) and /models
    answered {"dataset": "other"} for the served dataset: each is a 400 naming the field."""
    from services import service_asgi_app
    from starlette.testclient import TestClient

    with TestClient(service_asgi_app()) as client:
        for route, body, unknown, takes in (
            ("score", {"user_ids": ["u1"], "reason": "none"}, "reason", "user_ids, tasks, reasons"),
            ("score_features", {"users": [], "dataset": "x"}, "dataset", "users, tasks"),
            ("models", {"dataset": "other"}, "dataset", "no field"),
            ("reload", {"force": True}, "force", "no field"),
            ("promote", {"task": "churn", "reason": "x", "forced": True}, "forced", "task, reason"),
        ):
            response = client.post(f"/{route}", json=body)
            assert response.status_code == 400, (route, response.text)
            assert any(
                d["loc"][-1] == unknown
                and f"unknown field {unknown!r}; {route} takes {takes}" in d["msg"]
                for d in response.json()["detail"]
            ), (route, response.text)
        # what a route takes is still taken (an empty body where it takes nothing)
        assert client.post("/models", json={}).status_code != 400


def test_an_empty_body_is_a_400_naming_the_body_where_the_route_needs_fields(home: Path) -> None:
    """An empty body was read as {}: /score answered 'user_ids: Field required' as if the
    client had sent an object without it, and a body of spaces 'body: Invalid JSON: EOF
    while parsing a value'. Each is now a 400 at the body naming the fields; a route that
    needs none still takes no body (its document says the body is not required)."""
    from services import service_asgi_app
    from starlette.testclient import TestClient

    needs = {"/score": "user_ids", "/score_features": "users", "/promote": "task and reason"}
    json_type = {"Content-Type": "application/json"}
    with TestClient(service_asgi_app(), raise_server_exceptions=False) as client:
        for route, fields in needs.items():
            for sent in ({}, {"content": b""}, {"content": b" \n ", "headers": json_type}):
                response = client.post(route, **sent)  # type: ignore[arg-type]
                said = (
                    f"the request body is empty: POST {route} takes a JSON object with "
                    f"{fields} (/docs.json shows each field)"
                )
                assert response.status_code == 400, (route, sent, response.text)
                assert response.json() == {
                    "error": said,
                    "detail": [{"loc": ["body"], "msg": said}],
                }
            # an object without the fields still names each (the body is there)
            missing = client.post(route, json={})
            assert missing.status_code == 400 and "Field required" in missing.text, missing.text
        for route in ("/at_risk", "/models", "/monitor", "/reload"):
            assert client.post(route).status_code not in (400, 415, 500), route


def test_a_body_that_is_no_utf8_text_is_a_400_saying_so(home: Path) -> None:
    """A Latin-1 or UTF-16 body was a 400 'Invalid JSON' (helper H, session 50): right code,
    no word of what is wrong with it. It says the body is not UTF-8, on every POST route."""
    from services import service_asgi_app
    from starlette.testclient import TestClient

    json_type = {"Content-Type": "application/json"}
    with TestClient(service_asgi_app(), raise_server_exceptions=False) as client:
        for route, body in (
            ("/score", '{"user_ids": ["Zoë"]}'.encode("latin-1")),
            ("/at_risk", '{"where": {"country": "España"}}'.encode("utf-16")),
        ):
            response = client.post(route, content=body, headers=json_type)
            assert response.status_code == 400, (route, response.text)
            said = response.json()["detail"]
            assert said[0]["loc"] == ["body"], said
            assert said[0]["msg"].startswith("the request body is not UTF-8 text (byte "), said
            assert said[0]["msg"].endswith("send the JSON as UTF-8"), said


def test_a_user_id_with_a_control_character_is_refused_as_ingest_refuses_it(home: Path) -> None:
    """'7\\x00' is no user ingest loads (invalid_user_id): /score answered it as an unknown
    user with the cold-start scores; it is a 400 naming the id's place."""
    from services import service_asgi_app
    from starlette.testclient import TestClient

    with TestClient(service_asgi_app()) as client:
        for route, body, place in (
            ("score", {"user_ids": ["u1", "7\x00"]}, ["user_ids", 1]),
            ("score_features", {"users": [{"user_id": "a\nb", "features": {}}]}, ["users", 0]),
            ("score", {"user_ids": ["bob\u200b"]}, ["user_ids", 0]),  # 'bob' to every eye
            ("score", {"user_ids": ["u1\u202egnp.exe"]}, ["user_ids", 0]),  # shown u1exe.png
        ):
            response = client.post(f"/{route}", json=body)
            assert response.status_code == 400, (route, response.text)
            [detail] = response.json()["detail"]
            assert detail["loc"][: len(place)] == place, detail
            assert "a user id holds no control character" in detail["msg"]
