"""Operating against a tracking server (trial 112): `--json` stays one document, a server
that is down fails a refresh in one line naming it (and a stop during the wait is a
stop), and workers without an aliases mirror follow a champion move by polling."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from experiment_runs import few_rounds
from proxies import read_only_proxy
from services import free_port, lifecycle_serve, mlflow_server
from workspaces import NO_COMPILE, NO_PLOTS, TrainedWorkspace, copy_workspace

from lifecycle import registry
from lifecycle.cli import main
from lifecycle.settings import load_settings
from serving.follow import POLL_WITHOUT_MIRROR_SECONDS, diverging_workers, poll_seconds

LIFECYCLE = str(Path(sys.executable).with_name("lifecycle"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with mlflow_server(tmp_path_factory.mktemp("mlflow_server")) as uri:
        yield uri


def _home(trained: TrainedWorkspace, folder: Path, uri: str) -> Path:
    """The demo's data and features in Feast, its models tracked at ``uri``."""
    home = copy_workspace(trained.home, folder / "workspace", skip=("mlflow", "scores"))
    (home / "lifecycle.toml").write_text(f'[tracking]\nuri = "{uri}"\n')
    return home


@pytest.fixture(scope="module")
def home(
    trained_workspace: TrainedWorkspace, tmp_path_factory: pytest.TempPathFactory, server: str
) -> Path:
    return _home(trained_workspace, tmp_path_factory.mktemp("server_ws"), server)


@pytest.fixture(scope="module")
def trained(home: Path) -> Result:
    """`lifecycle --json train churn` on the server (few trees: where things go is asserted)."""
    runner = CliRunner(env=NO_COMPILE | NO_PLOTS | few_rounds())
    return runner.invoke(main, ["--home", str(home), "--json", "train", "churn"])


def test_json_output_is_one_document_with_a_tracking_server(trained: Result) -> None:
    # MLflow printed "View run ... at: http://..." links to stdout before the JSON
    assert trained.exit_code == 0, trained.output
    document = json.loads(trained.stdout)
    assert "View run" not in trained.stdout + trained.stderr
    assert document


def _refresh(home: Path, env: dict[str, str], stderr: Path) -> subprocess.Popen[bytes]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LIFECYCLE_")} | env
    return subprocess.Popen(
        [LIFECYCLE, "--home", str(home), "--json", "refresh"],
        stdout=subprocess.PIPE,
        stderr=stderr.open("wb"),
        env=environ,
    )


@pytest.fixture(scope="module")
def orphan(trained_workspace: TrainedWorkspace, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace whose tracking server is down (nothing listens on its port)."""
    folder = tmp_path_factory.mktemp("orphan_ws")
    return _home(trained_workspace, folder, f"http://127.0.0.1:{free_port()}")


def test_refresh_with_the_tracking_server_down_fails_fast_naming_it(
    orphan: Path, tmp_path: Path
) -> None:
    # MLflow's own retries kept it waiting minutes a call, its progress saying "online"
    started = time.monotonic()
    process = _refresh(orphan, {}, tmp_path / "stderr")
    out, _ = process.communicate(timeout=120)
    assert time.monotonic() - started < 60
    result = json.loads(out)
    uri = load_settings(home=orphan, environ={}).tracking.uri
    assert (process.returncode, result["status"], result["step"]) == (1, "failed", "train")
    assert f"the tracking server at {uri} (tracking.uri) did not answer" in result["error"]
    assert f"train: reading the model registry at {uri}" in (tmp_path / "stderr").read_text()


@pytest.mark.parametrize(
    "command", [["models"], ["promote", "churn", "1", "--reason", "r"], ["score-all"]]
)
def test_a_command_with_the_tracking_server_down_fails_in_one_line_naming_it(
    orphan: Path, command: list[str]
) -> None:
    # only refresh said it: `models`, `promote`, `score-all` (and train, report, monitor)
    # ended in MlflowException's traceback, 130 to 180 lines
    uri = load_settings(home=orphan, environ={}).tracking.uri
    result = CliRunner().invoke(main, ["--home", str(orphan), "--json", *command])
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 1
    said = json.loads(result.stdout)["error"]
    assert said.startswith(f"the tracking server at {uri} (tracking.uri) did not answer")
    assert result.stderr.strip().splitlines() == [f"Error: {said}"]


def test_http_promote_with_the_tracking_server_down_is_a_503_naming_it(orphan: Path) -> None:
    """POST /promote with the tracking server away answered 500 "An unexpected error has
    occurred" (the server's log: MLflow's traceback), where /reload and `lifecycle promote`
    name the server. It is a 503 naming it, and saying nothing was done."""
    from serving.errors import ApiError
    from serving.scorer import Scorer

    settings = load_settings(home=orphan, environ={})
    scorer = Scorer(settings)
    for version in ("1", None):  # a version, and the challenger
        with pytest.raises(ApiError) as refused:
            scorer.promote("churn", "canary looked good", force=True, version=version)
        assert refused.value.status == 503, refused.value.message
        assert refused.value.message.startswith(
            f"nothing was done: the tracking server at {settings.tracking.uri} (tracking.uri) "
            "did not answer"
        ), refused.value.message


# MLflow's own refusal (its auth's or a gateway's): MLflow raises a RestException for it
MLFLOW_403 = (
    403,
    json.dumps(
        {"error_code": "PERMISSION_DENIED", "message": "Permission denied: 'reader' may only read"}
    ).encode(),
    "application/json",
)


def test_http_promote_whose_writes_fail_says_the_champion_may_have_moved(
    home: Path, trained: Result, server: str
) -> None:
    """A promotion writes the alias, the reason and the champions log one by one; one that
    failed among them said nothing of where it stopped (a 500 over HTTP). The 503 names the
    server and says the champion may have moved part-way and how to see and complete it;
    promoting the champion itself (a new reason) moves no alias, which it says."""
    from serving.errors import ApiError
    from serving.scorer import Scorer

    assert trained.exit_code == 0, trained.output
    name = registry.model_name("demo", "churn")
    champion = registry.alias_version(
        registry.client(load_settings(home=home, environ={})), name, "champion"
    )
    with read_only_proxy(server) as proxy:
        scorer = Scorer(load_settings(home=home, environ={"LIFECYCLE_TRACKING__URI": proxy}))
        with pytest.raises(ApiError) as refused:
            scorer.promote("churn", "canary looked good", force=True, version="1")
    said = refused.value.message
    assert refused.value.status == 503, said
    assert said.startswith(
        f"the tracking server at {proxy} (tracking.uri) answered HTTP 403 (403 Forbidden)"
    ), said
    # v1 is the champion: it said "may have moved to v1 part-way" until session 53
    assert said.endswith(
        f"; {name}'s champion is v1 as it was; this promotion's reason may not be recorded: "
        "promoting v1 again records it"
    ), said
    client = registry.client(load_settings(home=home, environ={}))
    kept = registry.alias_version(client, name, "champion")
    assert kept.version == champion.version  # the proxy took no write
    # another version (the champion's logged model registered again, as the poll test does),
    # whose alias write passes and whose reason is refused: its alias moved part-way
    second = client.create_model_version(
        name,
        source=champion.source,
        run_id=champion.run_id,
        model_id=champion.source.removeprefix("models:/"),
    )
    v = str(second.version)

    def after_the_alias(method: str, path: str) -> bool:
        return method == "POST" and not path.startswith("/api/2.0/mlflow/registered-models/alias")

    try:
        with read_only_proxy(server, refuses=after_the_alias) as proxy:
            scorer = Scorer(load_settings(home=home, environ={"LIFECYCLE_TRACKING__URI": proxy}))
            with pytest.raises(ApiError) as refused:
                scorer.promote("churn", "canary looked good", force=True, version=v)
        assert refused.value.status == 503, refused.value.message
        assert refused.value.message.endswith(
            f"; {name}'s champion may have moved to v{v} part-way (its alias, the reason and the "
            "champions log are written one by one): `lifecycle models` says where it stands "
            f"once the registry answers; promoting v{v} again completes it"
        ), refused.value.message
        assert registry.alias_version(client, name, "champion").version == second.version
    finally:
        registry.set_champion(client, name, str(champion.version), "manual: test", by_gate=False)


def test_a_tracking_server_refusing_writes_in_mlflows_words_is_said_in_one_line(
    home: Path, trained: Result, server: str
) -> None:
    """A tracking server refusing a write with MLflow's error JSON (MLflow auth's or a
    gateway's 403 PERMISSION_DENIED) raised a RestException no surface named: `train` and
    `promote` printed its traceback, POST /promote answered 500, refresh failed with it. Each
    says in one line that the server refused the write, its code and message, what was done
    and whose credentials to run it with; the champion does not move."""
    from serving.errors import ApiError
    from serving.scorer import Scorer

    assert trained.exit_code == 0, trained.output
    settings = load_settings(home=home, environ={})
    name = registry.model_name("demo", "churn")
    champion = str(registry.alias_version(registry.client(settings), name, "champion").version)
    runner = CliRunner(env=NO_COMPILE | NO_PLOTS | few_rounds())
    allowed = "run the command again as a user allowed to read and write there (MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN)"
    denied = "HTTP 403 PERMISSION_DENIED: Permission denied: 'reader' may only read"

    def refused(proxy: str, path: str) -> str:
        return f"the tracking server at {proxy} (tracking.uri) refused the write (POST {path}: {denied}); {allowed}"

    # the runs are the user's to write, the registered model only to read (MLflow auth's
    # permission per model): the version is registered, its challenger alias refused
    aliases = "/api/2.0/mlflow/registered-models/alias"
    with read_only_proxy(server, MLFLOW_403, lambda method, path: path == aliases) as proxy:
        result = runner.invoke(
            main, ["--home", str(home), "train", "churn"], env={"LIFECYCLE_TRACKING__URI": proxy}
        )
    assert isinstance(result.exception, SystemExit), result.exception
    versions = registry.client(settings).search_model_versions(f"name = '{name}'")
    latest = str(max(int(v.version) for v in versions))
    said = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert said == [
        f"Error: {refused(proxy, aliases)}; {name} v{latest} was registered but is not its "
        "challenger"
    ], result.stderr[-2000:]

    with read_only_proxy(server, MLFLOW_403) as proxy:  # every write refused
        environ = {"LIFECYCLE_TRACKING__URI": proxy}
        promoted = runner.invoke(
            main,
            ["--home", str(home), "promote", "churn", latest, "--reason", "r", "--force"],
            env=environ,
        )
        with pytest.raises(ApiError) as answered:
            Scorer(load_settings(home=home, environ=environ)).promote(
                "churn", "canary looked good", force=True, version=latest
            )
        refreshed = runner.invoke(main, ["--home", str(home), "--json", "refresh"], env=environ)
    left = f"nothing was done: {name}'s champion did not move (it is still v{champion})"
    line = f"{refused(proxy, aliases)}; {left}"
    assert promoted.exit_code == 1 and promoted.stderr.splitlines() == [f"Error: {line}"], (
        promoted.output
    )
    assert (answered.value.status, answered.value.message) == (503, line)
    assert refreshed.exit_code == 1, refreshed.output
    failed = json.loads(refreshed.stdout)
    assert (failed["status"], failed["step"]) == ("failed", "train"), failed
    assert failed["error"].startswith(
        f"the tracking server at {proxy} (tracking.uri) refused the write (POST /api/2.0/mlflow/"
    ), failed["error"]
    assert failed["error"].endswith(f"{denied}); {allowed}"), failed["error"]
    now = registry.alias_version(registry.client(settings), name, "champion")
    assert str(now.version) == champion


def test_promote_whose_version_read_failed_names_the_server_not_a_missing_version(
    home: Path, trained: Result, server: str
) -> None:
    """`registry.promote` read any failure of its version read as "no such version": with
    the read failing (a proxy's 502) and the search answering, POST /promote said 404 "has no
    version 1 (it has v1, ...)". It is the server's failure: a 503 naming it."""
    from serving.errors import ApiError
    from serving.scorer import Scorer

    assert trained.exit_code == 0, trained.output
    page = (502, b"<html><body>502 Bad Gateway</body></html>", "text/html")

    def version_read(method: str, path: str) -> bool:
        return path.startswith("/api/2.0/mlflow/model-versions/get?")

    with read_only_proxy(server, page, version_read) as proxy:
        environ = {"LIFECYCLE_TRACKING__URI": proxy, "LIFECYCLE_TRACKING__REQUEST_RETRIES": "0"}
        with pytest.raises(ApiError) as answered:
            Scorer(load_settings(home=home, environ=environ)).promote(
                "churn", "canary looked good", force=True, version="1"
            )
    assert answered.value.status == 503, answered.value.message
    assert answered.value.message.startswith(
        f"nothing was done: the tracking server at {proxy} (tracking.uri) answered HTTP 502"
    ), answered.value.message


def test_sigterm_while_waiting_on_the_tracking_server_is_a_stop(
    orphan: Path, tmp_path: Path
) -> None:
    # it was "Aborted!", exit 1 and no JSON: the registry read ran outside every step
    stderr = tmp_path / "stderr"
    process = _refresh(orphan, {"LIFECYCLE_TRACKING__REQUEST_RETRIES": "10"}, stderr)
    deadline = time.monotonic() + 60
    while "reading the model registry" not in stderr.read_text():
        assert time.monotonic() < deadline and process.poll() is None, stderr.read_text()
        time.sleep(0.2)
    time.sleep(1)
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=30)
    result = json.loads(out)
    assert process.returncode == 128 + signal.SIGTERM, stderr.read_text()
    assert (result["status"], result["step"]) == ("interrupted", "train")
    assert result["steps"][-1]["status"] == "interrupted"


def test_workers_without_a_mirror_poll_and_serve_refuses_no_poll(home: Path) -> None:
    settings = load_settings(home=home, environ={})
    assert poll_seconds(settings) == POLL_WITHOUT_MIRROR_SECONDS  # unset: polls
    assert diverging_workers(settings, 2) is None
    off = load_settings(home=home, environ={"LIFECYCLE_SERVING__POLL_ALIASES_SECONDS": "0"})
    assert diverging_workers(off, 1) is None  # /reload reaches the only worker
    refused = CliRunner(env={"LIFECYCLE_SERVING__POLL_ALIASES_SECONDS": "0"}).invoke(
        main, ["--home", str(home), "serve", "--workers", "2", "--port", str(free_port())]
    )
    assert refused.exit_code != 0
    assert (
        f"serve: serving.poll_aliases_seconds = 0 with the tracking server at "
        f"{settings.tracking.uri} and 2 workers"
    ) in refused.output
    # one worker is served, warned that a `lifecycle promote` waits for /reload (it was
    # said nowhere); its start stops at the port taken here, before any server
    unseen = "a `lifecycle promote` or a training that promotes is served only after"
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = str(taken.getsockname()[1])
        for poll, warned in (("0", True), (None, False)):
            started = CliRunner(env={"LIFECYCLE_SERVING__POLL_ALIASES_SECONDS": poll}).invoke(
                main, ["--home", str(home), "serve", "--workers", "1", "--port", port]
            )
            assert f"port {port} on 127.0.0.1 is already in use" in started.output
            lines = [line for line in started.output.splitlines() if unseen in line]
            assert len(lines) == int(warned), started.output
            assert not warned or "warning: serving.poll_aliases_seconds = 0" in lines[0]


def _served_churn(url: str) -> str:
    request = urllib.request.Request(
        f"{url}/score",
        data=json.dumps({"user_ids": ["nobody"], "tasks": ["churn"], "reasons": "none"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["model_versions"]["churn"]


def test_every_worker_follows_a_promotion_on_the_tracking_server(
    home: Path, trained: Result, tmp_path: Path
) -> None:
    """With default settings: a worker never followed a /reload another worker took, and
    two champions were served side by side for as long as the service ran."""
    assert trained.exit_code == 0, trained.output
    settings = load_settings(home=home, environ={})
    client = registry.client(settings)
    name = registry.model_name(settings.dataset, "churn")
    champion = registry.alias_version(client, name, registry.CHAMPION)
    # one to promote: the champion's logged model registered again (a second training on
    # the server cost ~10 s and only its version number is read here); a server takes a
    # "models:/<model id>" source only with that id
    second = client.create_model_version(
        name,
        source=champion.source,
        run_id=champion.run_id,
        model_id=champion.source.removeprefix("models:/"),
    )
    registry.set_champion(client, name, str(champion.version), "manual: test", by_gate=False)
    with lifecycle_serve(home, tmp_path / "serve") as url:
        assert {_served_churn(url) for _ in range(10)} == {str(champion.version)}
        registry.set_champion(client, name, str(second.version), "manual: test", by_gate=False)
        deadline = time.monotonic() + POLL_WITHOUT_MIRROR_SECONDS * 3
        while {_served_churn(url) for _ in range(10)} != {str(second.version)}:
            assert time.monotonic() < deadline, (tmp_path / "serve" / "serve.log").read_text()
            time.sleep(0.5)


def test_a_registry_read_on_a_tracking_server_imports_feast_without_its_checks(
    server: str, tmp_path: Path
) -> None:
    """MLflow imports Feast's request-header provider at its first request to a server:
    Feast came in there with typeguard's checks, which re-parse ~260 functions at import
    (4.5 CPU-s instead of 1.5), in every refresh and serving worker on a tracking server."""
    (tmp_path / "lifecycle.toml").write_text(f'[tracking]\nuri = "{server}"\n')
    program = (
        "import sys\n"
        "from lifecycle import registry\n"
        "from lifecycle.settings import load_settings\n"
        f"settings = load_settings(home={str(tmp_path)!r}, environ={{}})\n"
        "registry.client(settings).search_registered_models()\n"
        "assert 'feast' in sys.modules\n"
        "import feast\n"
        "print('typeguard' in feast.FeatureService.__init__.__code__.co_names)\n"
    )
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LIFECYCLE_")}
    done = subprocess.run(
        [sys.executable, "-c", program],
        env=environ,
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"  # True: instrumented by typeguard


def test_a_second_serving_machine_is_told_what_it_lacks(server: str, tmp_path: Path) -> None:
    # it was "no dataset 'demo' ...: ingest or import it first", though its models were there
    (tmp_path / "lifecycle.toml").write_text(f'[tracking]\nuri = "{server}"\n')
    refused = CliRunner().invoke(main, ["--home", str(tmp_path), "serve"])
    assert refused.exit_code != 0
    assert (
        "a machine serving models trained elsewhere needs that workspace's datasets/demo and "
        "feast/demo folders here too (docs/scale.md)"
    ) in " ".join(refused.output.split())


@pytest.fixture
def hung_server() -> Iterator[str]:
    """A hung tracking server: a socket that takes connections and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen(16)  # the kernel takes connections; nothing ever reads them
        yield f"http://127.0.0.1:{listening.getsockname()[1]}"


def test_a_tracking_server_that_never_answers_fails_a_training_in_seconds_naming_it(
    trained_workspace: TrainedWorkspace, tmp_path: Path, hung_server: str
) -> None:
    # each try of the first request waited request_timeout_seconds: train failed after 46 s
    home = _home(trained_workspace, tmp_path, hung_server)
    started = time.monotonic()
    result = CliRunner(env=NO_COMPILE | NO_PLOTS | few_rounds()).invoke(
        main, ["--home", str(home), "--json", "train", "churn"]
    )
    assert time.monotonic() - started < 20
    assert result.exit_code == 1, result.output
    said = json.loads(result.stdout)["error"]
    assert said.startswith(
        f"the tracking server at {hung_server} (tracking.uri) did not answer within 5 s "
        "(it took the connection and sent nothing back"
    )
    assert "tracking.answer_timeout_seconds" in said


def test_the_tracking_servers_first_answer_waits_a_request_timeout_the_user_set(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, hung_server: str
) -> None:
    """A slow proxy's MLFLOW_HTTP_REQUEST_TIMEOUT, the user's own, is waited for; else
    tracking.answer_timeout_seconds."""
    from lifecycle.registry import RegistryError
    from lifecycle.tracking_http import SET_BY_LIFECYCLE, check_answers

    settings = load_settings(
        home=tmp_path,
        environ={
            "LIFECYCLE_TRACKING__URI": hung_server,
            "LIFECYCLE_TRACKING__ANSWER_TIMEOUT_SECONDS": "1",
        },
    )
    monkeypatch.delenv(SET_BY_LIFECYCLE, raising=False)
    for users, waited in ((None, 1), ("3", 3)):
        if users is None:
            monkeypatch.delenv("MLFLOW_HTTP_REQUEST_TIMEOUT", raising=False)
        else:
            monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", users)
        started = time.monotonic()
        with pytest.raises(RegistryError, match=f"did not answer within {waited} s"):
            check_answers(settings)
        assert waited <= time.monotonic() - started < waited + 2


def test_an_http_error_is_not_silence_and_the_errors_notes_are_kept(
    server: str, tmp_path: Path
) -> None:
    """A 401/404/502 page (a proxy's, or a wrong path) read "did not answer ... start it";
    refresh's rewording dropped the note saying no champion moved."""
    from mlflow.exceptions import MlflowException

    from lifecycle.tracking_http import unreachable

    wrong = load_settings(
        home=tmp_path, environ={"LIFECYCLE_TRACKING__URI": f"{server}/not-mlflow"}
    )
    with pytest.raises(MlflowException) as raised:
        registry.client(wrong, fluent=False).search_registered_models()
    raised.value.add_note("no champion moved: churn won, but the training stopped")
    said = unreachable(wrong, raised.value)
    assert said is not None
    assert f"the tracking server at {server}/not-mlflow (tracking.uri) answered HTTP 404" in str(
        said
    )
    assert "did not answer" not in str(said)
    assert said.__notes__ == ["no champion moved: churn won, but the training stopped"]


def test_the_users_mlflow_http_settings_are_kept_and_writes_restore_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from lifecycle.tracking_http import HTTP_VARIABLES, writing

    settings = load_settings(home=tmp_path, environ={})
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "300")  # a slow proxy: the user's own
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", raising=False)
    registry.client(settings)
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "300"  # was set to 20
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "1"
    before = {v: os.environ.get(v) for v in HTTP_VARIABLES}
    with writing(settings):
        registry.client(settings)  # inside a training's writes: it dropped them to 1 retry
        assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "3"
        assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "300"
    assert {v: os.environ.get(v) for v in HTTP_VARIABLES} == before
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "7")
    with writing(settings):
        assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "7"  # the user's, kept
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "7"  # not the read settings' 1


def test_after_a_write_the_server_never_answered_the_trainings_others_try_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """MLflow's clean-up of a failed training (the run ended as failed, the staged champions
    withheld) retried each request as long as the one that failed: 62 s each, a train whose
    server stopped mid-fit failed 3 min 5 s later. Once a request got no answer they try
    once; an HTTP error status (the server answered) changes nothing, nor a user's own
    retry count; reads after the training get their retries back."""
    from mlflow.exceptions import MlflowException

    from lifecycle.tracking_http import went_silent, writing

    settings = load_settings(home=tmp_path, environ={})
    retries = "MLFLOW_HTTP_REQUEST_MAX_RETRIES"
    monkeypatch.delenv(retries, raising=False)
    url = "http://127.0.0.1:9/api/2.0/mlflow/runs/outputs"
    silent = MlflowException(
        f"API request to {url} failed with exception HTTPConnectionPool(host='127.0.0.1', "
        "port=9): Max retries exceeded with url: /api/2.0/mlflow/runs/outputs"
    )
    answered = MlflowException(f"API request to {url} failed with error code 502 != 200")
    went_silent(silent)  # outside a training: nothing to cut short
    registry.client(settings)
    assert os.environ[retries] == "1"
    with writing(settings):
        went_silent(answered)
        assert os.environ[retries] == "3"
        went_silent(silent)
        assert os.environ[retries] == "0"
        registry.client(settings)  # a client made after it: still once
        assert os.environ[retries] == "0"
    registry.client(settings)
    assert os.environ[retries] == "1"
    with writing(settings):
        assert os.environ[retries] == "3"  # the next training retries again
    monkeypatch.setenv(retries, "7")
    with writing(settings):
        went_silent(silent)
        assert os.environ[retries] == "7"  # the user's own


def test_a_training_whose_tracking_server_stops_fails_within_half_a_minute(
    trained_workspace: TrainedWorkspace, tmp_path: Path
) -> None:
    """Measured: `train churn` whose server stopped mid-fit failed 185 s after the stop
    (three requests of ~62 s: the upload, MLflow's clean-up of its logged model, the run's
    end); now ~30 s, in one line naming the tracking server and tracking.uri."""
    from services import mlflow_server

    env = {k: v for k, v in os.environ.items() if not k.startswith("LIFECYCLE_")}
    env |= NO_COMPILE | NO_PLOTS | few_rounds()
    with mlflow_server(tmp_path / "server") as uri:
        home = _home(trained_workspace, tmp_path, uri)
        train = subprocess.Popen(
            [LIFECYCLE, "--home", str(home), "train", "churn"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        deadline = time.monotonic() + 120  # stop it once the training writes to it
        while not any((tmp_path / "server" / "artifacts").rglob("*")):
            assert train.poll() is None and time.monotonic() < deadline, train.stderr
            time.sleep(0.2)
    stopped = time.monotonic()
    _, stderr = train.communicate(timeout=240)
    waited = time.monotonic() - stopped
    said = [line for line in stderr.decode().splitlines() if line.startswith("Error: ")]
    assert train.returncode == 1 and len(said) == 1, stderr.decode()[-2000:]
    assert said[0].startswith(f"Error: the tracking server at {uri} (tracking.uri) did not answer")
    assert waited < 45, f"failed {waited:.0f} s after the server stopped"


class Recorded(Exception):
    pass


def test_every_write_of_a_training_gets_the_write_retries(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only pipeline._log had them: the gate's tags, alias moves and other trainings not."""
    import training.pipeline
    from lifecycle.steps import train_tasks

    seen: list[str | None] = []

    def train_task(*args: object, **kwargs: object) -> None:
        seen.append(os.environ.get("MLFLOW_HTTP_REQUEST_MAX_RETRIES"))
        raise Recorded

    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", raising=False)
    monkeypatch.setattr(training.pipeline, "train_task", train_task)
    with pytest.raises(Recorded):
        train_tasks(load_settings(home=home, environ={}), ["churn"])
    assert seen == ["3"]
    assert os.environ.get("MLFLOW_HTTP_REQUEST_MAX_RETRIES") != "3"  # reads bounded after


def test_readyz_behind_warning_clears_and_an_outage_is_said_once(
    home: Path, trained: Result, caplog: pytest.LogCaptureFixture
) -> None:
    """The "not the registry's champions" warning stayed after a successful /reload (and
    kept serving.stale_scores = "refuse" off); a down server was logged every 5 s."""
    from serving.follow import AliasPoll, MirrorFollower
    from serving.scorer import Scorer

    assert trained.exit_code == 0, trained.output
    settings = load_settings(home=home, environ=NO_COMPILE)
    scorer = Scorer(settings)
    scorer.load()
    aliases = AliasPoll(scorer, MirrorFollower(scorer))
    scorer.behind = "this worker serves churn v0, not the registry's champions"
    scorer.reload()  # POST /reload, and a promotion's reload
    assert scorer.behind is None
    scorer.behind = "this worker serves churn v0, not the registry's champions"
    aliases.poll()  # nothing moved: the worker serves the registry's champions
    assert scorer.behind is None
    down = f"http://127.0.0.1:{free_port()}"
    scorer.settings = load_settings(home=home, environ={"LIFECYCLE_TRACKING__URI": down})
    with caplog.at_level("INFO", logger="lifecycle.serving"):
        for _ in range(3):
            aliases.poll()
        scorer.settings = settings
        aliases.poll()
        aliases.poll()
    said = [r.getMessage() for r in caplog.records if "alias poll" in r.getMessage()]
    assert len(said) == 2, said
    assert said[0].startswith(f"alias poll failed: the tracking server at {down}")
    assert said[1] == "alias poll: the registry answers again"
