"""Two worker processes of a real ``bentoml serve`` follow the champion together: after
``POST /promote``, ``lifecycle promote`` or ``POST /reload`` returns, every answer, from
either worker, comes from the new champion (``serving.follow``); in process, every route
follows the mirror before it answers."""

from __future__ import annotations

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
    every_worker_ready,
    every_worker_settled,
    promote,
)

from lifecycle import aliases_mirror, registry
from lifecycle.settings import load_settings

WORKERS = 2
REQUESTS = 80  # on fresh connections from 8 threads: both workers answer many of them


@pytest.fixture(scope="module")
def server(served_home: Path) -> Iterator[str]:
    options = {"BENTOML_CONFIG_OPTIONS": f"services.lifecycle_scoring.workers={WORKERS}"}
    with bentoml_server(served_home, options) as base:
        yield base


def worker_pids(home: Path) -> set[int]:
    """The worker processes serving ``home`` (BentoML starts them with ``--worker-id``)."""
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"--worker-id" in command and f"LIFECYCLE_HOME={home}".encode() in environ:
            found.add(int(entry.name))
    return found


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def churn_versions(base: str, user_ids: list[str]) -> list[str]:
    """The churn version of REQUESTS answers, each on a new connection (the kernel hands
    new connections to either worker)."""
    # One client that keeps no connection alive: a new connection per request, without a
    # client per request (httpx.post builds one: ~25 ms of CPU each, 12 s in this module).
    # A worker that follows a moved alias reloads before it answers: a minute, not 5 s.
    limits = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(limits=limits, timeout=60) as client:

        def one(i: int) -> str:
            response = client.post(
                f"{base}/score", json={"user_ids": user_ids[i % 20 : i % 20 + 1]}
            )
            assert response.status_code == 200, response.text
            return str(response.json()["model_versions"]["churn"])

        with ThreadPoolExecutor(8) as pool:
            return list(pool.map(one, range(REQUESTS)))


@pytest.fixture(scope="module")
def ready(server: str, known_users: list[str]) -> str:
    """Both workers ready: each has answered 200 and every answer of a burst is 200."""
    every_worker_ready(server, WORKERS)
    # Their registry checks after start done: a check still reading the registry would
    # mirror the alias the tests below move behind the workers' backs.
    every_worker_settled(server)
    assert churn_versions(server, known_users) == ["1"] * REQUESTS
    return server


def test_every_worker_answers_with_the_champion_promoted_over_http(
    ready: str, served_home: Path, known_users: list[str]
) -> None:
    client = registry.client(load_settings(home=served_home, environ={}))
    churn = registry.model_name("demo", "churn")
    pids = worker_pids(served_home)
    assert len(pids) == WORKERS, pids
    client.set_registered_model_alias(churn, registry.CHALLENGER, "2")
    try:
        moved = httpx.post(
            f"{ready}/promote",
            json={"task": "churn", "reason": "two workers", "force": True},
            timeout=120,
        )
        assert moved.status_code == 200, moved.text
        assert moved.json()["champion"] == "2"
        before = {pid: cpu_ticks(pid) for pid in pids}
        assert churn_versions(ready, known_users) == ["2"] * REQUESTS
        # Both workers answered (and so followed): each spent CPU on the requests.
        assert all(cpu_ticks(pid) > before[pid] for pid in pids), before
    finally:
        promote(served_home, "churn", "1")
        client.set_registered_model_alias(churn, registry.CHALLENGER, "1")
    # `lifecycle promote` (the registry function) moved it back: no /reload needed.
    assert churn_versions(ready, known_users) == ["1"] * REQUESTS


def test_every_worker_reloads_after_post_reload(
    ready: str, served_home: Path, known_users: list[str]
) -> None:
    """An alias moved outside lifecycle (the MLflow UI: the mirror does not know it) is
    served by every worker once one of them answered POST /reload."""
    client = registry.client(load_settings(home=served_home, environ={}))
    churn = registry.model_name("demo", "churn")
    client.set_registered_model_alias(churn, registry.CHAMPION, "2")
    try:
        assert churn_versions(ready, known_users) == ["1"] * REQUESTS  # nobody told them
        reloaded = httpx.post(f"{ready}/reload", json={}, timeout=120)
        assert reloaded.status_code == 200, reloaded.text
        assert reloaded.json()["model_versions"]["churn"] == "2"
        assert churn_versions(ready, known_users) == ["2"] * REQUESTS
    finally:
        promote(served_home, "churn", "1")
    assert champion_versions(served_home)["churn"] == "1"
    assert churn_versions(ready, known_users) == ["1"] * REQUESTS


# A valid body for each route that needs fields (the others take ``{}``).
ROUTE_BODIES = {
    "/score": {"user_ids": ["ghost"]},
    "/score_features": {"users": [{"user_id": "p1", "features": {}}]},
    "/promote": {"task": "conversion", "reason": "every route follows"},  # none to promote: 409
}


def test_every_route_follows_the_aliases_mirror_before_answering(
    trained_workspace: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In process: every route of the OpenAPI document, and /readyz, follows the mirror once
    before answering (``LifecycleScoring.answer``), so a new route cannot forget; /monitor,
    which once did not, serves the models another worker's /reload announced."""
    from services import service_asgi_app, serving_copy
    from starlette.testclient import TestClient
    from workspaces import NO_COMPILE

    from serving.follow import MirrorFollower

    followed: list[MirrorFollower] = []
    follow = MirrorFollower.follow

    def counted(follower: MirrorFollower) -> None:
        followed.append(follower)
        follow(follower)

    monkeypatch.setattr(MirrorFollower, "follow", counted)
    with serving_copy(trained_workspace.home, tmp_path / "workspace") as home:
        monkeypatch.setenv("LIFECYCLE_HOME", str(home))
        for name, value in NO_COMPILE.items():  # nothing to wait for but the registry check
            monkeypatch.setenv(name, value)
        with TestClient(service_asgi_app()) as client:
            deadline = time.monotonic() + 120
            while (
                client.get("/readyz").status_code != 200
                or client.post("/models", json={}).json()["settling"]
            ):  # the registry check after start follows too: done first
                assert time.monotonic() < deadline, "service never ready and settled"
                time.sleep(0.2)
            document = client.get("/docs.json").json()
            routes = sorted(
                path for path, operations in document["paths"].items() if "post" in operations
            )
            assert {"/score", "/at_risk", "/monitor", "/reload"} <= set(routes)
            for route in routes:
                before = len(followed)
                answered = client.post(route, json=ROUTE_BODIES.get(route, {}))
                assert answered.status_code in (200, 409), (route, answered.text)
                assert len(followed) == before + 1, f"{route} answered without following"
            before = len(followed)
            assert client.get("/readyz").status_code == 200
            assert len(followed) == before + 1, "/readyz answered without following"
            # Another worker's POST /reload, as it announces it: this worker reloads first.
            scorer = followed[-1].scorer
            served = scorer.state
            aliases_mirror.sync_mirror(load_settings(home=home, environ={}), announce=True)
            assert client.post("/monitor", json={}).status_code == 200
            assert scorer.state is not None and scorer.state is not served
