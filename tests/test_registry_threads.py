"""MLflow's fluent API (a training's runs and model logging) writes to one store per
process; what serving does in its threads (loading champions, compiling them) reads through
its own client and leaves that store alone."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from workspaces import TrainedWorkspace

from lifecycle.settings import load_settings


def test_loading_champions_in_a_thread_leaves_a_trainings_store_alone(
    trained_workspace: TrainedWorkspace, tmp_path: Path
) -> None:
    import mlflow

    from lifecycle import registry
    from lifecycle.bundle import ModelBundle
    from lifecycle.compiled import prune_compiled

    training = load_settings(home=tmp_path / "training", environ={})
    ours = registry.client(training)  # a training's store: its runs go there
    assert mlflow.get_tracking_uri() == registry.tracking_uri(training)
    served = trained_workspace.settings()
    found: dict[str, Any] = {}

    def serve() -> None:  # what a server's start and its background compile do
        source = registry.reader(served)
        champion = registry.alias_version(source, "demo-ltv", registry.CHAMPION)
        folder = registry.bundle_path(source, "demo-ltv", str(champion.version), tmp_path / "dl")
        found["bundle"] = ModelBundle.load(folder)
        prune_compiled(served, "demo")

    thread = threading.Thread(target=serve)
    thread.start()
    thread.join()
    assert found["bundle"].task == "ltv"  # read from the served store, not the process's
    assert mlflow.get_tracking_uri() == registry.tracking_uri(training)
    with mlflow.start_run() as run:  # the fluent API still writes where the training is
        mlflow.log_param("written", "here")
    assert ours.get_run(run.info.run_id).data.params == {"written": "here"}
