"""API token authentication of the scoring service (serving.auth, TokenAuth middleware).

Unit checks of the configuration, the BentoML ASGI app in process, and one real
``bentoml serve`` on loopback made to believe it binds a public address. The workspace is
empty: the service never becomes ready, which is enough to see the middleware answer
401/403 before any endpoint runs, and 200 on what needs no models (/docs.json, /livez).
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from services import bentoml_server, service_asgi_app

from lifecycle.cli import main
from lifecycle.settings import load_settings
from serving.auth import (
    BIND_HOST_ENV,
    auth_config,
    bind_hosts,
    is_loopback,
    read_tokens_file,
)

REPO = Path(__file__).resolve().parents[1]
USER_TOKEN = "user-tok-3f9a1c7e5b2d"
ADMIN_TOKEN = "admin-tok-8e4b6d2a9c1f"
FILE_TOKEN = "file-tok-5a7c9e1b3d6f"
FILE_ADMIN = "file-admin-2c4e6a8b0d1f"
SECRETS = (USER_TOKEN, ADMIN_TOKEN, FILE_TOKEN, FILE_ADMIN)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_error(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] and body["detail"][0]["loc"] == ["header", "authorization"]
    assert body["detail"][0]["msg"]
    assert not any(secret in response.text for secret in SECRETS)


@pytest.fixture(scope="module")
def auth_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("auth_ws")
    (home / "tokens.txt").write_text(
        f"# tokens of the scoring API\n\n{FILE_TOKEN}\nadmin: {FILE_ADMIN}\n"
    )
    return home


def auth_env(home: Path, **extra: str) -> dict[str, str]:
    return {
        "LIFECYCLE_HOME": str(home),
        "LIFECYCLE_SERVING__API_TOKENS_FILE": str(home / "tokens.txt"),
        "LIFECYCLE_SERVING__API_TOKEN": USER_TOKEN,
        "LIFECYCLE_SERVING__ADMIN_TOKEN": ADMIN_TOKEN,
        **extra,
    }


# -- configuration ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.0.2", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.1.2.3", False),
        ("api.example.com", False),
    ],
)
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_auto_follows_the_bind_address_and_on_off_override(auth_home: Path) -> None:
    def config(mode: str, hosts: list[str]) -> Any:
        settings = load_settings(environ=auth_env(auth_home, LIFECYCLE_SERVING__AUTH=mode))
        return auth_config(settings, hosts)

    assert not config("auto", ["127.0.0.1"]).enabled
    assert not config("auto", ["127.0.0.1", "::1"]).enabled
    assert not config("auto", []).enabled  # in process: not listening anywhere
    on = config("auto", ["127.0.0.1", "0.0.0.0"])  # either address public: on
    assert on.enabled and "0.0.0.0" in on.reason
    assert config("on", ["127.0.0.1"]).enabled
    assert not config("off", ["0.0.0.0"]).enabled
    # admin tokens are API tokens too; the file's and the environment's both count
    assert set(on.tokens) == {t.encode() for t in SECRETS}
    assert set(on.admin_tokens) == {ADMIN_TOKEN.encode(), FILE_ADMIN.encode()}
    assert not any(secret in repr(on) for secret in SECRETS)


def test_tokens_file_format_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("  a1  \n# c\n\nadmin:b2\nadmin:  c3\nadmin:\n")
    assert read_tokens_file(path) == (["a1"], ["b2", "c3"])
    settings = load_settings(
        environ={
            "LIFECYCLE_HOME": str(tmp_path),
            "LIFECYCLE_SERVING__AUTH": "on",
            "LIFECYCLE_SERVING__API_TOKENS_FILE": str(tmp_path / "absent.txt"),
        }
    )
    from lifecycle.settings import SettingsError

    with pytest.raises(SettingsError, match="api_tokens_file"):
        auth_config(settings, [])


def test_bind_hosts_from_the_listening_socket_and_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    plain = load_settings(environ={"LIFECYCLE_HOME": str(tmp_path)})
    told = load_settings(environ={"LIFECYCLE_HOME": str(tmp_path), BIND_HOST_ENV: "0.0.0.0"})
    monkeypatch.setattr(sys, "argv", ["pytest"])
    assert bind_hosts(plain) == []
    assert bind_hosts(told) == ["0.0.0.0"]
    with socket.socket() as listening:  # what a BentoML worker gets as --fd N
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        monkeypatch.setattr(sys, "argv", ["worker", "--fd", str(listening.fileno())])
        assert bind_hosts(plain) == ["127.0.0.1"]
        assert bind_hosts(told) == ["127.0.0.1", "0.0.0.0"]
        assert listening.getsockname()[0] == "127.0.0.1"  # still open after the probe


def test_settings_command_never_shows_tokens(
    auth_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.startswith("LIFECYCLE_"):
            monkeypatch.delenv(name)
    for name, value in auth_env(auth_home).items():
        monkeypatch.setenv(name, value)
    for args in (["settings"], ["--json", "settings"]):
        result = CliRunner().invoke(main, args)
        if result.exit_code != 0 and args[0] == "--json":
            continue  # no --json option on this CLI
        assert result.exit_code == 0, result.output
        assert "api_token" in result.output and "**********" in result.output
        assert not any(secret in result.output for secret in SECRETS)
    assert USER_TOKEN not in repr(load_settings())


# -- in process: the BentoML ASGI app --------------------------------------------------


@pytest.fixture(scope="module")
def client(auth_home: Path) -> Iterator[Any]:
    from starlette.testclient import TestClient

    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("LIFECYCLE_"):
                patch.delenv(name)
        for name, value in auth_env(auth_home, LIFECYCLE_SERVING__AUTH="on").items():
            patch.setenv(name, value)
        with TestClient(service_asgi_app(), raise_server_exceptions=False) as test_client:
            yield test_client


def test_asgi_probes_are_open(client: Any) -> None:
    assert client.get("/livez").status_code == 200
    assert client.get("/readyz").status_code in (200, 503)  # never 401
    # (/metrics needs the server's Prometheus setup: checked on the real server below)


@pytest.mark.parametrize(
    "path", ["/score", "/score_features", "/at_risk", "/models", "/reload", "/promote"]
)
def test_asgi_missing_or_invalid_token_is_401(client: Any, path: str) -> None:
    """Each 401 says what was wrong: a Basic header was told "missing API token" (helper B,
    session 46), as if none was sent; it is told the scheme is not accepted. A header
    without a scheme may be the token itself, which no answer repeats (assert_error)."""
    send = "send Authorization: Bearer <token>"
    for headers, said in (
        ({}, f"missing API token: {send}"),
        (bearer(""), f"missing API token: {send}"),
        (bearer("nope"), "invalid API token"),
        (bearer(USER_TOKEN + "x"), "invalid API token"),
        ({"Authorization": f"Basic {USER_TOKEN}"}, f"the Basic scheme is not accepted: {send}"),
        ({"Authorization": f"digest {USER_TOKEN}"}, f"the Digest scheme is not accepted: {send}"),
        (
            {"Authorization": USER_TOKEN},
            f"an Authorization header without the Bearer scheme: {send}",
        ),
        (
            {"Authorization": f"{USER_TOKEN} x"},
            f"an Authorization header without the Bearer scheme: {send}",
        ),
    ):
        refused = client.post(path, json={}, headers=headers)
        assert_error(refused, 401)
        assert refused.json()["error"] == said, headers
        assert refused.headers["www-authenticate"] == "Bearer"


def test_asgi_valid_tokens_pass(client: Any) -> None:
    for token in SECRETS:
        docs = client.get("/docs.json", headers=bearer(token))
        assert docs.status_code == 200
    assert_error(client.get("/docs.json"), 401)
    spec = docs.json()
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for admin in ("/reload", "/promote"):
        assert {"401", "403"} <= set(spec["paths"][admin]["post"]["responses"])
    assert "409" in spec["paths"]["/promote"]["post"]["responses"]
    assert "403" not in spec["paths"]["/score"]["post"]["responses"]
    assert "401" in spec["paths"]["/score"]["post"]["responses"]
    assert "security" not in spec["paths"]["/livez"]["get"]
    # past the middleware: the endpoint answers (not ready in an empty workspace)
    for token in SECRETS:
        models = client.post("/models", json={}, headers=bearer(token))
        assert models.status_code == 503 and "not ready" in models.json()["error"]
    # the scheme is case-insensitive
    lower = client.post("/models", json={}, headers={"authorization": f"bearer {USER_TOKEN}"})
    assert lower.status_code == 503


@pytest.mark.parametrize("path", ["/reload", "/promote"])
def test_asgi_admin_calls_need_an_admin_token(client: Any, path: str) -> None:
    body = {"task": "churn", "reason": "auth test"} if path == "/promote" else {}
    for token in (USER_TOKEN, FILE_TOKEN):
        assert_error(client.post(path, json=body, headers=bearer(token)), 403)
        assert_error(client.post(f"{path}/", json=body, headers=bearer(token)), 403)
    for token in (ADMIN_TOKEN, FILE_ADMIN):
        answer = client.post(path, json=body, headers=bearer(token))
        assert answer.status_code not in (401, 403), answer.text


def test_asgi_unauthenticated_big_body_is_401_not_read(client: Any) -> None:
    big = client.post(
        "/score", content=b"x" * 5_000_000, headers={"content-type": "application/json"}
    )
    assert_error(big, 401)


def test_asgi_logs_hold_no_token(client: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for token in SECRETS:
        client.post("/reload", json={}, headers=bearer(token))
        client.post("/score", json={"user_ids": ["u"]}, headers=bearer(token))
    client.post("/score", json={"user_ids": [ADMIN_TOKEN]}, headers=bearer("wrong"))
    assert caplog.records
    assert not any(secret in caplog.text for secret in SECRETS)


def test_asgi_auth_on_without_tokens_says_why_every_call_is_refused(
    auth_home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A raw `bentoml serve` binds every address, so auth = auto is on; with no token
    configured each 401 says that no token can pass and where to look (trial G), and the log
    says why auth is on and the ways out. A caller is not told the server's set-up (why auth
    is on, the token variables), and under serving.auth = on the log offers no loopback
    alone, which turns nothing off there."""
    from starlette.testclient import TestClient

    for mode, why, way_out in (
        ("auto", "serving.auth = auto, bound to 0.0.0.0", "or serve on loopback: "),
        ("on", "serving.auth = on", "or set serving.auth = auto and serve on loopback: "),
    ):
        caplog.clear()
        with pytest.MonkeyPatch.context() as patch:
            for name in list(os.environ):
                if name.startswith("LIFECYCLE_"):
                    patch.delenv(name)
            patch.setenv("LIFECYCLE_HOME", str(auth_home))
            patch.setenv("LIFECYCLE_SERVING__AUTH", mode)
            patch.setenv(BIND_HOST_ENV, "0.0.0.0")
            with TestClient(service_asgi_app(), raise_server_exceptions=False) as no_tokens:
                for headers, said in (
                    ({}, "missing API token: send Authorization: Bearer <token>"),
                    (bearer("a-guess"), "invalid API token"),
                ):
                    refused = no_tokens.post("/score", json={"user_ids": ["u"]}, headers=headers)
                    assert_error(refused, 401)
                    assert refused.json()["error"] == (
                        f"{said}; no API token is configured on this server, so it refuses "
                        "every call: its log says why auth is on and how to set a token "
                        "(docs/serving.md#access)"
                    )
                assert no_tokens.get("/livez").status_code == 200
        warned = [
            r.getMessage()
            for r in caplog.records
            if r.levelno == logging.WARNING and "no token is configured" in r.getMessage()
        ]
        assert warned == [
            f"API token auth is on ({why}) but no token is configured: every call but the "
            "probes is refused (set LIFECYCLE_SERVING__API_TOKEN or serving.api_tokens_file, "
            f"{way_out}`lifecycle serve`, or `bentoml serve --host 127.0.0.1`)"
        ], mode
    # with a token configured the 401 says nothing of the server's set-up
    with pytest.MonkeyPatch.context() as patch:
        for name, value in auth_env(auth_home, LIFECYCLE_SERVING__AUTH="on").items():
            patch.setenv(name, value)
        with TestClient(service_asgi_app(), raise_server_exceptions=False) as with_tokens:
            missing = with_tokens.post("/score", json={"user_ids": ["u"]})
            assert (
                missing.json()["error"] == "missing API token: send Authorization: Bearer <token>"
            )


# -- a real `bentoml serve` ------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(auth_home: Path) -> Iterator[str]:
    """Binds loopback, but told (as `lifecycle serve --host 0.0.0.0` tells it) that it binds
    every address: serving.auth = auto must then turn auth on."""
    env = {**auth_env(auth_home, LIFECYCLE_SERVING__AUTH="auto"), BIND_HOST_ENV: "0.0.0.0"}
    with bentoml_server(auth_home, env, ready_seconds=90) as base:
        yield base


def test_http_auth_on_a_public_bind(server: str, auth_home: Path) -> None:
    with httpx.Client(base_url=server, timeout=30) as http:
        assert http.get("/livez").status_code == 200
        assert http.get("/readyz").status_code != 401
        assert http.get("/metrics").status_code == 200
        assert_error(http.post("/score", json={"user_ids": ["u"]}), 401)
        assert_error(http.post("/score", json={"user_ids": ["u"]}, headers=bearer("bad")), 401)
        assert_error(http.get("/docs.json"), 401)
        assert http.get("/docs.json", headers=bearer(USER_TOKEN)).status_code == 200
        assert http.post("/models", json={}, headers=bearer(FILE_TOKEN)).status_code == 503
        assert_error(http.post("/reload", json={}, headers=bearer(USER_TOKEN)), 403)
        reload = http.post("/reload", json={}, headers=bearer(ADMIN_TOKEN))
        assert reload.status_code not in (401, 403)
        assert not any(secret in reload.text for secret in SECRETS)
        promote = {"task": "churn", "reason": "auth test"}
        assert_error(http.post("/promote", json=promote), 401)
        assert_error(http.post("/promote", json=promote, headers=bearer(USER_TOKEN)), 403)
        assert_error(http.post("/promote", json=promote, headers=bearer(FILE_TOKEN)), 403)
        # past the middleware with an admin token: this empty registry has nothing to promote
        admin = http.post("/promote", json=promote, headers=bearer(FILE_ADMIN))
        assert admin.status_code == 409 and "has no challenger" in admin.json()["error"]
    time.sleep(0.5)  # let the log flush
    server_log = (auth_home / "server.log").read_text()
    assert server_log  # the service did log (its load failure at least)
    assert not any(secret in server_log for secret in SECRETS)
