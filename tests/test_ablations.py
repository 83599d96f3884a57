"""The switches experiments/ablations.py undoes choices of the method with
(``training.pipeline.Method``), on a copy of the shared trained demo workspace; the doc's
block is checked in test_docs.py."""

from __future__ import annotations

from pathlib import Path

from workspaces import TrainedWorkspace

from lifecycle import registry
from lifecycle.btyd import BGNBD
from lifecycle.bundle import ModelBundle
from lifecycle.settings import load_settings
from training.pipeline import METHOD, Method, train_task


def registered(settings: object, task: str, version: str, folder: Path) -> ModelBundle:
    client = registry.client(settings)
    name = registry.model_name("demo", task)
    return ModelBundle.load(registry.bundle_path(client, name, version, folder))


def test_the_method_undone_registers_the_evaluated_model_with_bg_nbd(
    trained_workspace: TrainedWorkspace, trained_copy: Path, tmp_path: Path
) -> None:
    """With the refit, the transfer check of calibration and MBG/NBD undone, LTV registers the
    model evaluated on the time split (it never learned from the test cutoffs), calibrated,
    with BG/NBD's purchase process; only the trainings inside the switch see it."""
    champion = trained_workspace.results["ltv"]
    settings = load_settings(
        home=trained_copy, environ={"LIFECYCLE_TRAINING__MIN_IMPROVEMENT": "1"}
    )
    undone = Method(refit=False, calibrate_only_if_it_transfers=False, purchase_process=BGNBD)
    token = METHOD.set(undone)
    try:
        result = train_task(settings, "ltv")
    finally:
        METHOD.reset(token)
    assert METHOD.get() == Method()
    assert not result.promoted  # the champion stays the method's own
    bundle = registered(settings, "ltv", result.version, tmp_path / "undone")
    current = registered(settings, "ltv", champion.version, tmp_path / "current")
    learned, refit = (b.data_window["trained_on"]["cutoffs"] for b in (bundle, current))
    assert learned == bundle.data_window["train_cutoffs"] == current.data_window["train_cutoffs"]
    assert max(learned) < min(bundle.data_window["test_cutoffs"])
    assert set(bundle.data_window["test_cutoffs"]) <= set(refit)  # the refit learned from them
    assert bundle.calibrator is not None
    assert bundle.purchase_process["first"] == 0.0  # BG/NBD: no drop-out at the first purchase
    assert current.purchase_process["first"] == 1.0  # MBG/NBD
    assert bundle.metrics == result.metrics["lightgbm"]
