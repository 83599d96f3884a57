"""Training and serving against a real ``mlflow server`` (SQLite backend, served artifacts)
on a loopback port, selected only by ``tracking.uri``: runs, registry, aliases and model
artifacts all go through the server, and serving loads the champion back from it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from experiment_runs import few_rounds
from services import mlflow_server, run_cli
from workspaces import NO_COMPILE, NO_PLOTS, TrainedWorkspace, copy_workspace

from lifecycle import registry
from lifecycle.settings import load_settings
from serving.scoring import load_champions
from training.pipeline import train_task
from training.tracking import list_models


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    workdir = tmp_path_factory.mktemp("mlflow_server")
    with mlflow_server(workdir) as uri:
        yield uri, workdir


@pytest.fixture(scope="module")
def home(
    trained_workspace: TrainedWorkspace,
    tmp_path_factory: pytest.TempPathFactory,
    server: tuple[str, Path],
) -> Path:
    """The demo's data and features in Feast, without the local MLflow store (nor the scores
    of its models): tracking goes to the server."""
    home = copy_workspace(
        trained_workspace.home,
        tmp_path_factory.mktemp("server_ws") / "workspace",
        skip=("mlflow", "scores"),
    )
    (home / "lifecycle.toml").write_text(f'[tracking]\nuri = "{server[0]}"\n')
    return home


@pytest.fixture(scope="module")
def trained(home: Path) -> object:
    # Not compiled at promotion: nothing here reads compiled trees (load_champions predicts
    # through LightGBM), and compiling needs the bundle back from the server. What is asserted
    # is where the run, its artifacts and the registry live, not the model: few boosting
    # rounds, and no plots (each an artifact upload through the server nothing here reads).
    environ = NO_COMPILE | NO_PLOTS | few_rounds()
    return train_task(load_settings(home=home, environ=environ), "churn")


def test_training_registers_on_the_server(
    home: Path, server: tuple[str, Path], trained: object
) -> None:
    uri, workdir = server
    settings = load_settings(home=home, environ={})
    assert registry.tracking_uri(settings) == uri
    assert trained.promoted and trained.gate.startswith("first model")
    client = registry.client(settings)
    champion = registry.alias_version(client, "demo-churn", registry.CHAMPION)
    assert str(champion.version) == trained.version
    run = client.get_run(trained.run_id)
    assert run.info.artifact_uri.startswith("mlflow-artifacts:")  # stored by the server
    assert run.data.metrics["test.auc"] == pytest.approx(trained.metrics["lightgbm"]["auc"])
    # Nothing went to a local store: the server's own folders hold the runs and artifacts.
    assert not settings.workspace.mlflow_dir.exists()
    assert (workdir / "mlflow.db").is_file()
    assert list((workdir / "artifacts").rglob("bundle.json"))
    rows = list_models(settings)
    assert [(r["task"], r["aliases"]) for r in rows] == [("churn", ["champion"])]
    assert "demo-churn v" in run_cli(home, "models")


def test_serving_loads_the_champion_from_the_server(
    home: Path, trained: object, tmp_path: Path
) -> None:
    import mlflow

    settings = load_settings(home=home, environ={})
    champions = load_champions(settings, cache=tmp_path)
    assert champions.versions == {"churn": trained.version}
    assert set(champions.unavailable) == {"conversion", "ltv"}
    bundle = champions.bundles["churn"]
    assert bundle.metrics == pytest.approx(trained.metrics["lightgbm"])
    pyfunc = mlflow.pyfunc.load_model("models:/demo-churn@champion")  # through the server too
    features = pd.DataFrame(pyfunc.input_example)
    np.testing.assert_array_equal(
        pyfunc.predict(features)["score"].to_numpy(), bundle.predict(features)
    )
