"""A tracking server that is alive but slow (a proxy answering each request seconds late):
within ``tracking.request_timeout_seconds`` the commands wait and finish; beyond it each
says in one line which server did not answer within how long, and the setting to raise
(it said 'did not answer (... Max retries exceeded ...); start it or fix tracking.uri', or
to raise tracking.answer_timeout_seconds where the request timeout bounded the wait)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from experiment_runs import few_rounds
from proxies import slow_proxy
from services import mlflow_server
from workspaces import NO_COMPILE, NO_PLOTS, TrainedWorkspace, copy_workspace

from lifecycle.cli import main

ENVIRON = NO_COMPILE | NO_PLOTS | few_rounds()
COMMANDS = (["models"], ["promote", "churn", "1", "--reason", "r", "--force"], ["train", "churn"])
RAISE = "for a server that answers slower, raise tracking.request_timeout_seconds"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with mlflow_server(tmp_path_factory.mktemp("slow_server")) as uri:
        yield uri


@pytest.fixture(scope="module")
def home(trained_workspace: TrainedWorkspace, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's data and features; its models on the server (none: nothing is trained)."""
    folder = tmp_path_factory.mktemp("slow_ws") / "workspace"
    return copy_workspace(trained_workspace.home, folder, skip=("mlflow", "scores"))


def _invoke(home: Path, proxy: str, args: list[str], **settings: str) -> tuple[int, str, float]:
    (home / "lifecycle.toml").write_text(f'[tracking]\nuri = "{proxy}"\n')
    environ = {f"LIFECYCLE_TRACKING__{k.upper()}": v for k, v in settings.items()}
    started = time.monotonic()
    result = CliRunner(env=ENVIRON | environ).invoke(main, ["--home", str(home), *args])
    return result.exit_code, result.stderr, time.monotonic() - started


def test_a_server_answering_within_the_request_timeout_is_waited_for(
    server: str, home: Path
) -> None:
    with slow_proxy(server, 1.0) as proxy:
        code, stderr, seconds = _invoke(home, proxy, ["models"])
    assert code == 0 and seconds >= 1.0, stderr[-2000:]
    assert "did not answer" not in stderr


def test_a_server_slower_than_the_request_timeout_is_said_with_the_setting_to_raise(
    server: str, home: Path
) -> None:
    """GET /health answers at once (the probe passes), every API request 2 s late with a
    1 s timeout: each command's one line names the server, the 1 s, the request and the
    setting; a training fails before its training set is built."""

    def api(method: str, path: str) -> bool:
        return path.startswith("/api/")

    quick = {"request_timeout_seconds": "1", "request_retries": "0", "write_retries": "0"}
    for args in COMMANDS:
        with slow_proxy(server, 2.0, api) as proxy:
            code, stderr, seconds = _invoke(home, proxy, args, **quick)
        said = [line for line in stderr.splitlines() if line.startswith("Error: ")]
        assert code == 1 and len(said) == 1, (args, stderr[-2000:])
        assert said[0].startswith(
            f"Error: the tracking server at {proxy} (tracking.uri) did not answer within 1 s "
            "(/api/2.0/mlflow/"
        ), (args, said)
        assert f"read timed out, each try); {RAISE}; a stuck one, restart" in said[0], said
        assert "building the training set" not in stderr and seconds < 15, (args, seconds)


def test_a_probe_bounded_by_the_request_timeout_names_that_setting(server: str, home: Path) -> None:
    """Every request 2 s late, GET /health too, the request timeout (1 s) below the answer
    timeout (5 s): the probe waited 1 s and said to raise tracking.answer_timeout_seconds,
    which changed nothing."""
    with slow_proxy(server, 2.0) as proxy:
        code, stderr, _ = _invoke(home, proxy, ["models"], request_timeout_seconds="1")
    assert code == 1, stderr[-2000:]
    line = stderr.splitlines()[-1]
    assert line.startswith(
        f"Error: the tracking server at {proxy} (tracking.uri) did not answer within 1 s"
    ), line
    assert line.endswith(RAISE), line


def test_the_services_champion_poll_keeps_serving_and_says_the_slow_server(
    server: str, trained_copy: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A worker's poll of the champion aliases, the server answering 2 s late with a 1 s
    timeout: one warning naming the server, the 1 s and the setting (it said 'start it or
    fix tracking.uri'); the champions loaded keep serving."""
    import logging

    from lifecycle.settings import load_settings
    from serving.follow import AliasPoll, MirrorFollower
    from serving.scorer import Scorer

    scorer = Scorer(load_settings(home=trained_copy, environ={}))
    loaded = scorer.load()
    quick = {"request_timeout_seconds": 1, "request_retries": 0}
    with slow_proxy(server, 2.0, lambda method, path: path.startswith("/api/")) as proxy:
        tracking = scorer.settings.tracking.model_copy(update={"uri": proxy, **quick})
        scorer.settings = scorer.settings.model_copy(update={"tracking": tracking})
        with caplog.at_level(logging.WARNING):
            AliasPoll(scorer, MirrorFollower(scorer)).poll()
    said = [r.getMessage() for r in caplog.records if "alias poll failed" in r.getMessage()]
    assert len(said) == 1 and said[0].startswith(
        f"alias poll failed: the tracking server at {proxy} (tracking.uri) did not answer "
        "within 1 s (/api/2.0/mlflow/"
    ), said
    assert RAISE in said[0]
    assert scorer.state is loaded
    assert scorer.score(["u0000001"]).users[0].status == "scored"


@pytest.fixture(scope="module")
def served_store(
    trained_workspace: TrainedWorkspace, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A tracking server on a copy of the trained workspace's store (its models, v1 of each
    champion), with a v2 of demo-churn that no gate judged (a promotion needs force)."""
    import shutil

    from mlflow import MlflowClient

    workdir = tmp_path_factory.mktemp("served_store")
    shutil.copy(trained_workspace.home / "mlflow" / "mlflow.db", workdir / "mlflow.db")
    with mlflow_server(workdir) as uri:
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        first = client.get_model_version("demo-churn", "1")
        client.create_model_version(
            "demo-churn", first.source, first.run_id, model_id=first.source.split("/")[-1]
        )
        yield uri


def test_a_promotion_over_a_slow_server_says_it_and_the_service_keeps_serving(
    served_store: str, trained_copy: Path
) -> None:
    """POST /promote and `lifecycle promote` through a server answering 2 s late with a 1 s
    timeout: every request late, nothing was done, the champion is v1 on the server; only
    the alias write late, the answer says it may have moved (a write timed out may still be
    applied: the proxy passes it on) and what says where it stands. Each names the server,
    the 1 s and the setting; the service's loaded champions keep scoring."""
    from mlflow import MlflowClient

    from lifecycle.settings import load_settings
    from serving.errors import ApiError
    from serving.scorer import Scorer

    scorer = Scorer(load_settings(home=trained_copy, environ={}))
    loaded = scorer.load()
    quick = {"request_timeout_seconds": 1, "request_retries": 0, "write_retries": 0}
    server = MlflowClient(tracking_uri=served_store, registry_uri=served_store)

    def champion() -> str:
        return server.get_model_version_by_alias("demo-churn", "champion").version

    def api(method: str, path: str) -> bool:
        return path.startswith("/api/")

    def alias_write(method: str, path: str) -> bool:
        return method == "POST" and path == "/api/2.0/mlflow/registered-models/alias"

    answers = {}
    for case, slowed in (("every request", api), ("the alias write", alias_write)):
        with slow_proxy(served_store, 2.0, slowed) as proxy:
            tracking = scorer.settings.tracking.model_copy(update={"uri": proxy, **quick})
            scorer.settings = scorer.settings.model_copy(update={"tracking": tracking})
            with pytest.raises(ApiError) as answered:
                scorer.promote("churn", "r", force=True, version="2")
            answers[case] = answered.value
            time.sleep(2.5)  # the late write reaches the server
        assert answered.value.status == 503, (case, answered.value.message)
        said = answered.value.message
        assert f"the tracking server at {proxy} (tracking.uri) did not answer within 1 s" in said
        assert RAISE in said, (case, said)
        assert scorer.state is loaded
        assert scorer.score(["u0000001"]).users[0].status == "scored"
        if case == "every request":
            assert said.startswith("nothing was done: "), said
            assert champion() == "1"
        else:
            assert "demo-churn's champion may have moved to v2 part-way" in said, said
            assert "`lifecycle models` says where it stands" in said
    assert champion() == "2"  # the late alias write, applied
    with slow_proxy(served_store, 2.0, alias_write) as proxy:  # `lifecycle promote`: a rollback
        args = ["promote", "churn", "1", "--reason", "back"]
        code, stderr, _ = _invoke(
            trained_copy, proxy, args, **{k: str(v) for k, v in quick.items()}
        )
        time.sleep(2.5)
    said = [line for line in stderr.splitlines() if line.startswith("Error: ")]
    assert code == 1 and len(said) == 1, stderr[-2000:]
    assert said[0].startswith(
        f"Error: the tracking server at {proxy} (tracking.uri) did not answer within 1 s "
        "(/api/2.0/mlflow/registered-models/alias: read timed out, each try); " + RAISE
    ), said
    assert "demo-churn's champion may have moved to v1 part-way" in said[0], said
