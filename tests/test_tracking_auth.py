"""MLflow's own auth in front of the registry (``mlflow server --app-name basic-auth``, one
server for the module): it answers a refused write in plain text (403 "Permission denied")
and missing or wrong credentials with a 401. `train`, `promote`, `models` and the service's
POST /promote said both as "answered HTTP 403 (Permission denied); check its address, its
credentials ... and any proxy in front of it"; each now says what was refused (the login,
the write), what was done and which credentials to set. A refusal part-way through a
training's champion moves names which champions moved and which did not."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner, Result
from experiment_runs import few_rounds
from proxies import read_only_proxy
from services import mlflow_server, quick_logins
from workspaces import NO_COMPILE, NO_PLOTS, TrainedWorkspace, copy_workspace

from lifecycle import registry
from lifecycle.cli import main
from lifecycle.settings import load_settings

ADMIN = {"MLFLOW_TRACKING_USERNAME": "admin", "MLFLOW_TRACKING_PASSWORD": "admin-password-of-tests"}
# MLflow auth's default permission READ: a user it knows may read everything, write nothing
READER = {"MLFLOW_TRACKING_USERNAME": "reader", "MLFLOW_TRACKING_PASSWORD": "reader-password-53"}
# EDIT on every experiment (a run is logged), READ (the default) on registered models
WRITER = {"MLFLOW_TRACKING_USERNAME": "writer", "MLFLOW_TRACKING_PASSWORD": "writer-password-55"}
NOBODY = {"MLFLOW_TRACKING_USERNAME": None, "MLFLOW_TRACKING_PASSWORD": None}
ENVIRON = NO_COMPILE | NO_PLOTS | few_rounds()
ALIAS = "/api/2.0/mlflow/registered-models/alias"
AS_ALLOWED = (
    "run the command again as a user allowed to read and write there "
    "(MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN)"
)
SET_CREDENTIALS = (
    "set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN) to "
    "those of a user allowed to read and write there, then run the command again"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """MLflow's auth server; user ``reader`` created through its users API by the admin."""
    workdir = tmp_path_factory.mktemp("auth_server")
    with mlflow_server(workdir, admin_password=ADMIN["MLFLOW_TRACKING_PASSWORD"]) as uri:
        users = {"reader": READER, "writer": WRITER}
        for username, credentials in users.items():
            password = credentials["MLFLOW_TRACKING_PASSWORD"]
            created = _as_admin(
                uri, "2.0/mlflow/users/create", username=username, password=password
            )
            assert created.status_code == 200, created.text
        # the writer may log runs in every experiment, and (by default) only read a model
        granted = _as_admin(
            uri, "3.0/mlflow/users/permissions/grant", **_grant("writer", "experiment", "*", "EDIT")
        )
        assert granted.status_code == 200, granted.text
        quick_logins(workdir, {u: c["MLFLOW_TRACKING_PASSWORD"] for u, c in users.items()})
        yield uri


def _as_admin(uri: str, path: str, **body: str) -> requests.Response:
    """A POST of the admin to the auth server's API (``path`` after /api/)."""
    auth = ("admin", ADMIN["MLFLOW_TRACKING_PASSWORD"])
    return requests.post(f"{uri}/api/{path}", json=body, auth=auth, timeout=30)


def _grant(username: str, kind: str, key: str, permission: str) -> dict[str, str]:
    return {
        "username": username,
        "resource_type": kind,
        "resource_id": key,
        "permission": permission,
    }


@pytest.fixture(scope="module")
def moved_part_way(
    trained_workspace: TrainedWorkspace, tmp_path_factory: pytest.TempPathFactory, server: str
) -> tuple[Path, str, Result, Result]:
    """`train all` (churn, LTV) as the admin (both first models: both win) through a proxy whose
    fourth alias write (after the two challengers and churn's champion: LTV's champion) is
    refused as MLflow auth refuses; then `train ltv`, as its line says. The workspace, the
    proxy and the two results."""
    home = copy_workspace(
        trained_workspace.home,
        tmp_path_factory.mktemp("auth_ws") / "workspace",
        skip=("mlflow", "scores"),
    )
    # conversion left out: `train all` trains churn and LTV, their champion moves the last
    tracking = f'[tracking]\nuri = "{server}"\n[training]\ntasks = ["churn", "ltv"]\n'
    (home / "lifecycle.toml").write_text(tracking)
    writes: list[str] = []

    def fourth_alias_write(method: str, path: str) -> bool:
        if method == "POST" and path == ALIAS:
            writes.append(path)
        return method == "POST" and path == ALIAS and len(writes) == 4

    runner = CliRunner(env=ENVIRON | ADMIN)
    denied = (403, b"Permission denied", "text/plain")
    with read_only_proxy(server, denied, fourth_alias_write) as proxy:
        first = runner.invoke(
            main,
            ["--home", str(home), "train", "all"],
            env={"LIFECYCLE_TRACKING__URI": proxy},
        )
    again = runner.invoke(main, ["--home", str(home), "train", "ltv"])
    return home, proxy, first, again


def test_a_refusal_part_way_through_the_champion_moves_names_each_and_train_completes_them(
    moved_part_way: tuple[Path, str, Result, Result],
) -> None:
    """The training's winners move one after the other at its end; a write refused among
    them said the server and the refusal, not that demo-churn had moved and demo-ltv had not.
    The line names each, and the command it names (`train ltv`) completes the set."""
    home, proxy, first, again = moved_part_way
    said = [line for line in first.stderr.splitlines() if line.startswith("Error: ")]
    assert first.exit_code == 1 and said == [
        f"Error: the tracking server at {proxy} (tracking.uri) refused the write by user "
        f"'admin' (POST {ALIAS}: HTTP 403: Permission denied); {AS_ALLOWED}; champions moved "
        "part-way: demo-churn's champion moved to v1; demo-ltv's did not move to v1 (it has "
        "none); `lifecycle train ltv` (or `lifecycle refresh`) judges it again"
    ], first.output[-3000:]
    assert again.exit_code == 0, again.output[-3000:]
    settings = load_settings(home=home, environ={})
    names = {task: registry.model_name("demo", task) for task in ("churn", "ltv")}
    with pytest.MonkeyPatch.context() as patch:
        for variable, value in ADMIN.items():
            patch.setenv(variable, value)
        client = registry.client(settings, fluent=False)
        champions = {
            task: registry.aliases(client, name).get(registry.CHAMPION)
            for task, name in names.items()
        }
    assert champions == {"churn": "1", "ltv": "2"}


def test_no_credentials_or_wrong_ones_are_a_refused_login_in_one_line(
    moved_part_way: tuple[Path, str, Result, Result], server: str
) -> None:
    from serving.errors import ApiError
    from serving.scorer import Scorer

    home = moved_part_way[0]
    runner = CliRunner(env=ENVIRON | NOBODY)
    where = f"the tracking server at {server} (tracking.uri) refused the login"
    refused = "HTTP 401: You are not authenticated): no credentials were given"
    for args in (
        ["train", "churn"],
        ["promote", "ltv", "1", "--reason", "r", "--force"],
        ["models"],
    ):
        result = runner.invoke(main, ["--home", str(home), *args])
        line = result.stderr.splitlines()[-1]
        assert result.exit_code == 1 and line.startswith(f"Error: {where} (GET /api/2.0/mlflow/"), (
            args,
            result.output[-2000:],
        )
        assert line.endswith(f"{refused}; {SET_CREDENTIALS}"), (args, line)
    with pytest.raises(ApiError) as answered:
        Scorer(load_settings(home=home, environ={})).promote("ltv", "r", force=True, version="1")
    assert answered.value.status == 503
    assert answered.value.message.startswith(f"nothing was done: {where} (GET /api/2.0/"), (
        answered.value.message
    )
    assert answered.value.message.endswith(f"{refused}; {SET_CREDENTIALS}")

    wrong = runner.invoke(
        main, ["--home", str(home), "models"], env=READER | {"MLFLOW_TRACKING_PASSWORD": "wrong"}
    )
    assert wrong.exit_code == 1
    assert wrong.stderr.splitlines()[-1].endswith(
        "HTTP 401: You are not authenticated): the user or its password is wrong; "
        f"{SET_CREDENTIALS}"
    ), wrong.output[-2000:]
    assert f"Error: {where} of user 'reader' (GET /api/2.0/mlflow/" in wrong.stderr


def test_a_read_only_user_is_refused_the_write_in_one_line_and_reads(
    moved_part_way: tuple[Path, str, Result, Result], server: str
) -> None:
    from serving.errors import ApiError
    from serving.scorer import Scorer

    home = moved_part_way[0]
    runner = CliRunner(env=ENVIRON | READER)
    where = f"the tracking server at {server} (tracking.uri) refused the write by user 'reader'"
    trained = runner.invoke(main, ["--home", str(home), "train", "churn"])
    line = trained.stderr.splitlines()[-1]
    assert trained.exit_code == 1 and line.startswith(f"Error: {where} (POST /api/2.0/mlflow/"), (
        trained.output[-2000:]
    )
    assert line.endswith(
        "/runs/create: HTTP 403: Permission denied); "
        f"{AS_ALLOWED}; nothing was logged: no run of churn, no model version"
    ), line

    refused = f"(POST {ALIAS}: HTTP 403: Permission denied); {AS_ALLOWED}"
    left = "nothing was done: demo-ltv's champion did not move (it is still v2)"
    promoted = runner.invoke(
        main, ["--home", str(home), "promote", "ltv", "1", "--reason", "r", "--force"]
    )
    assert promoted.exit_code == 1
    assert promoted.stderr.splitlines() == [f"Error: {where} {refused}; {left}"], promoted.output
    with pytest.MonkeyPatch.context() as patch:
        for variable, value in READER.items():
            patch.setenv(variable, value)
        with pytest.raises(ApiError) as answered:
            Scorer(load_settings(home=home, environ={})).promote(
                "ltv", "r", force=True, version="1"
            )
    assert (answered.value.status, answered.value.message) == (503, f"{where} {refused}; {left}")
    # the champion itself (a new reason) said "may have moved to v2 part-way" (helper KK)
    again = runner.invoke(main, ["--home", str(home), "promote", "ltv", "2", "--reason", "r"])
    assert again.exit_code == 1
    assert again.stderr.splitlines() == [
        f"Error: {where} {refused}; demo-ltv's champion is v2 as it was; this promotion's "
        "reason may not be recorded: promoting v2 again records it"
    ], again.output
    listed = runner.invoke(main, ["--home", str(home), "models"])
    assert listed.exit_code == 0 and "demo-ltv v2" in listed.stdout, listed.output[-2000:]


def test_the_admin_promotes_and_lists(moved_part_way: tuple[Path, str, Result, Result]) -> None:
    from serving.scorer import Scorer

    home = moved_part_way[0]
    runner = CliRunner(env=ENVIRON | ADMIN)
    listed = runner.invoke(main, ["--home", str(home), "models"])
    assert listed.exit_code == 0 and "demo-churn v1" in listed.stdout, listed.output[-2000:]
    promoted = runner.invoke(
        main, ["--home", str(home), "promote", "ltv", "1", "--reason", "r", "--force"]
    )
    assert promoted.exit_code == 0, promoted.output[-2000:]
    with pytest.MonkeyPatch.context() as patch:
        for variable, value in ADMIN.items():
            patch.setenv(variable, value)
        done = Scorer(load_settings(home=home, environ={})).promote(
            "ltv", "back", force=True, version="2"
        )
    assert (done.champion, done.previous) == ("2", "1")


def test_a_read_only_users_training_is_refused_before_its_training_set_and_fit(
    moved_part_way: tuple[Path, str, Result, Result], server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reader's `train churn` built its training set and fitted (~10 s on the demo)
    before its first write, the run's creation, was refused. The run is created first: the
    refusal comes before either, and leaves no run; the admin's training then logs into the
    run it created first (finished, holding the version), and one whose write fails part-way
    leaves its run failed and the champion where it was."""
    home = moved_part_way[0]
    name = registry.model_name("demo", "churn")
    for variable, value in ADMIN.items():  # this test's reads (the runners set their own)
        monkeypatch.setenv(variable, value)
    client = registry.client(load_settings(home=home, environ={}), fluent=False)
    experiment = client.get_experiment_by_name(name).experiment_id

    def runs() -> list:
        return client.search_runs([experiment], order_by=["attributes.start_time DESC"])

    before = runs()
    refused = CliRunner(env=ENVIRON | READER).invoke(main, ["--home", str(home), "train", "churn"])
    assert refused.exit_code == 1 and "/runs/create: HTTP 403" in refused.stderr
    assert "building the training set" not in refused.output, refused.output[-2000:]
    assert "fitting LightGBM" not in refused.output
    assert len(runs()) == len(before)

    admin = CliRunner(env=ENVIRON | ADMIN)
    trained = admin.invoke(main, ["--home", str(home), "train", "churn"])
    assert trained.exit_code == 0, trained.output[-2000:]
    latest = runs()[: len(runs()) - len(before)]
    assert [run.info.status for run in latest] == ["FINISHED"]
    versions = client.search_model_versions(f"name = '{name}'")
    assert max(versions, key=lambda v: int(v.version)).run_id == latest[0].info.run_id
    champion = registry.aliases(client, name).get(registry.CHAMPION)

    def params(method: str, path: str) -> bool:  # the run's first write after the fit
        return path == "/api/2.0/mlflow/runs/log-batch"

    denied = (403, b"Permission denied", "text/plain")
    with read_only_proxy(server, denied, params) as proxy:
        failed = admin.invoke(
            main, ["--home", str(home), "train", "churn"], env={"LIFECYCLE_TRACKING__URI": proxy}
        )
    assert failed.exit_code == 1 and "runs/log-batch: HTTP 403" in failed.stderr, failed.output
    assert runs()[0].info.status == "FAILED"
    assert all(run.info.status != "RUNNING" for run in runs())
    assert registry.aliases(client, name).get(registry.CHAMPION) == champion


@pytest.fixture(scope="module")
def other_kinds(server: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace on the auth server with a snapshot table (synth) and a campaign table
    (shop); their experiments and registered models created by the admin (a user creating
    the experiment manages it)."""
    from test_snapshot import _snapshot_dataset, linear_snapshot
    from test_uplift import constructed_campaign

    home = tmp_path_factory.mktemp("auth_kinds") / "workspace"
    _snapshot_dataset(home, "synth", linear_snapshot())
    table = load_settings(home=home, environ={}).workspace.campaign_table("shop")
    table.parent.mkdir(parents=True)
    constructed_campaign(2000)[0].to_parquet(table, index=False)
    (home / "lifecycle.toml").write_text(f'[tracking]\nuri = "{server}"\n')
    for name in ("synth-churn", "shop-uplift"):  # as a first training leaves them
        for kind in ("experiments", "registered-models"):
            created = _as_admin(server, f"2.0/mlflow/{kind}/create", name=name)
            assert created.status_code == 200, created.text
    return home


SNAPSHOT = ["train-snapshot", "--dataset", "synth", "--folds", "3"]
UPLIFT = ["train-uplift", "--dataset", "shop", "--bootstrap-draws", "20"]
FITTING = ("cross-validation of LightGBM", "fitting T, X", "building the training set")


def test_train_snapshot_and_train_uplift_of_a_read_only_user_are_refused_before_the_fit(
    other_kinds: Path, server: str
) -> None:
    """`train-snapshot` and `train-uplift` created their run after the fit: the reader's
    cross-validation or four learners ran, then the run's creation was refused. Now the
    refusal comes first, in the words of `train`'s, and nothing is logged."""
    runner = CliRunner(env=ENVIRON | READER)
    where = (
        f"Error: the tracking server at {server} (tracking.uri) refused the write by user 'reader'"
    )
    for args, task in ((SNAPSHOT, "churn"), (UPLIFT, "uplift")):
        refused = runner.invoke(main, ["--home", str(other_kinds), *args])
        said = [line for line in refused.stderr.splitlines() if line.startswith("Error: ")]
        assert refused.exit_code == 1 and said[0].startswith(f"{where} (POST /api/2.0/mlflow/"), (
            args,
            refused.output[-2000:],
        )
        assert said[0].endswith(f"; nothing was logged: no run of {task}, no model version"), said
        assert not [line for line in FITTING if line in refused.output], refused.output[-2000:]


def test_a_user_who_may_only_read_the_model_is_refused_its_new_version_before_the_fit(
    other_kinds: Path, moved_part_way: tuple[Path, str, Result, Result], server: str
) -> None:
    """The writer may log runs but only read the registered model: `train-snapshot`,
    `train-uplift` and `train` fitted, logged their run, and were refused the version at
    registration (a run left behind, minutes of work on real data). MLflow auth's own
    permission API, asked before the fit, tells it: one line naming the model, no fit, no
    run; granted EDIT on the model, the writer's training registers its version."""
    writer = CliRunner(env=ENVIRON | WRITER)
    where = (
        f"Error: the tracking server at {server} (tracking.uri) refuses the write by user 'writer'"
    )
    trainings = (
        (other_kinds, SNAPSHOT, "synth-churn", "churn"),
        (other_kinds, UPLIFT, "shop-uplift", "uplift"),
        (moved_part_way[0], ["train", "churn"], "demo-churn", "churn"),
    )
    for home, args, name, task in trainings:
        refused = writer.invoke(main, ["--home", str(home), *args])
        said = [line for line in refused.stderr.splitlines() if line.startswith("Error: ")]
        assert refused.exit_code == 1 and said == [
            f"{where} (POST /api/2.0/mlflow/model-versions/create: its permission on registered "
            f"model {name} is READ, not EDIT or MANAGE); {AS_ALLOWED}; nothing was logged: no "
            f"run of {task}, no model version"
        ], (args, refused.output[-2000:])
        assert not [line for line in FITTING if line in refused.output], refused.output[-2000:]
    with pytest.MonkeyPatch.context() as patch:
        for variable, value in ADMIN.items():
            patch.setenv(variable, value)
        client = registry.client(load_settings(home=other_kinds, environ={}), fluent=False)
        for name in ("synth-churn", "shop-uplift"):
            experiment = client.get_experiment_by_name(name)
            assert not client.search_runs([experiment.experiment_id]), name

    granted = _as_admin(
        server,
        "3.0/mlflow/users/permissions/grant",
        **_grant("writer", "registered_model", "synth-churn", "EDIT"),
    )
    assert granted.status_code == 200, granted.text
    trained = writer.invoke(main, ["--home", str(other_kinds), *SNAPSHOT])
    assert trained.exit_code == 0, trained.output[-2000:]
    assert "registered synth-churn version 1" in trained.output
