"""A Redis online store that restarted empty or went down, as the scoring service and the
CLI meet it: a real ``redis-server`` on a loopback port, stopped and started again (empty:
it keeps nothing) under an in-process service. Never a 200 answering known users as new,
never a 500 or a traceback: a 503 (a one-line error) naming Redis or the command that fixes
it, and ``refresh`` sees the store as not current."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from services import free_port, redis_server, run_cli, service_asgi_app
from workspaces import NO_COMPILE, TrainedWorkspace, clear_lifecycle_environ, copy_workspace

from lifecycle import lineage
from lifecycle.cli import main
from lifecycle.settings import load_settings

KNOWN = ["u0000001", "u0000500"]
MATERIALIZE = "lifecycle features materialize --dataset demo"


class Redis:
    """A redis-server on one port, stopped and started again by the tests."""

    def __init__(self, workdir: Path) -> None:
        self.workdir, self.port = workdir, free_port()
        self.connection = f"127.0.0.1:{self.port}"
        self._running: contextlib.ExitStack | None = None

    def start(self) -> None:
        self._running = contextlib.ExitStack()
        self._running.enter_context(redis_server(self.workdir, port=self.port))

    def stop(self) -> None:
        if self._running is not None:
            self._running.close()
            self._running = None


@pytest.fixture(scope="module")
def served(
    trained_workspace: TrainedWorkspace, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, Redis, Any]]:
    """A copy of the trained workspace on Redis, materialized, served in process."""
    from starlette.testclient import TestClient

    root = tmp_path_factory.mktemp("redis_health")
    home = copy_workspace(trained_workspace.home, root / "ws")
    redis = Redis(root / "redis")
    redis.start()
    (home / "lifecycle.toml").write_text(
        f'[feast]\nonline_store = "redis"\nredis_connection = "{redis.connection}"\n'
    )
    try:
        run_cli(home, "features", "materialize")
        with pytest.MonkeyPatch.context() as patch:
            clear_lifecycle_environ(patch)
            patch.setenv("LIFECYCLE_HOME", str(home))
            for name, value in NO_COMPILE.items():
                patch.setenv(name, value)
            with TestClient(service_asgi_app()) as client:
                wait_ready(client)
                yield home, redis, client
    finally:
        redis.stop()


def wait_ready(client: Any, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while (answer := client.get("/readyz")).status_code != 200:
        assert time.monotonic() < deadline, answer.text
        time.sleep(0.2)


def statuses(client: Any) -> list[str]:
    answer = client.post("/score", json={"user_ids": KNOWN, "reasons": "none"})
    assert answer.status_code == 200, answer.text
    return [user["status"] for user in answer.json()["users"]]


def test_redis_restarted_empty_is_503_naming_materialize_and_refresh_sees_it(
    served: tuple[Path, Redis, Any],
) -> None:
    home, redis, client = served
    assert statuses(client) == ["scored", "scored"]
    redis.stop()
    redis.start()  # keeps nothing: empty, as a cache-style Redis restarts
    ready = client.get("/readyz")
    assert ready.status_code == 503 and MATERIALIZE in ready.json()["error"], ready.text
    assert "holds no features" in ready.json()["error"]
    scored = client.post("/score", json={"user_ids": KNOWN, "reasons": "none"})
    assert scored.status_code == 503 and MATERIALIZE in scored.json()["error"], scored.text
    reloaded = client.post("/reload")
    assert reloaded.status_code == 503 and MATERIALIZE in reloaded.json()["error"]
    settings = load_settings(home=home, environ={})
    problem = lineage.online_store_problem(settings, "demo")
    assert problem is not None and "holds no features" in problem  # refresh materializes
    run_cli(home, "features", "materialize")
    assert lineage.online_store_problem(settings, "demo") is None
    assert client.get("/readyz").status_code == 200  # no reload needed
    assert statuses(client) == ["scored", "scored"]
    # an unknown user in a store that holds its features is still the cold-start answer
    both = client.post("/score", json={"user_ids": [KNOWN[0], "ghost"], "reasons": "none"})
    assert [u["status"] for u in both.json()["users"]] == ["scored", "unknown_user"]


def test_redis_down_is_503_naming_it_and_materialize_fails_in_one_line(
    served: tuple[Path, Redis, Any],
) -> None:
    home, redis, client = served
    redis.stop()
    try:
        ready = client.get("/readyz")
        assert ready.status_code == 503, ready.text
        assert f"Redis at {redis.connection}" in ready.json()["error"]
        scored = client.post("/score", json={"user_ids": KNOWN, "reasons": "none"})
        assert scored.status_code == 503, scored.text
        assert f"Redis at {redis.connection} (feast.redis_connection)" in scored.json()["error"]
        result = CliRunner().invoke(main, ["--home", str(home), "features", "materialize"])
        assert result.exit_code != 0 and "Traceback" not in result.output, result.output
        assert f"Redis at {redis.connection}" in result.output, result.output
        settings = load_settings(home=home, environ={})
        assert "cannot answer" in (lineage.online_store_problem(settings, "demo") or "")
    finally:
        redis.start()
        run_cli(home, "features", "materialize")
    wait_ready(client, seconds=10)
    assert statuses(client) == ["scored", "scored"]
