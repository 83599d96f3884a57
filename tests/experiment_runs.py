"""Running an experiment script as its docstring says, for the tests of its quick mode."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_experiment(script: str, *args: str, timeout: int = 300) -> str:
    """The standard output of ``python experiments/SCRIPT ARGS`` run from the repository;
    a failed run fails the test with the end of its standard error."""
    done = subprocess.run(
        [sys.executable, str(REPO / "experiments" / script), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def run_main(script: str, *args: str, cwd: Path) -> str:
    """The standard output of experiments/SCRIPT's ``main(ARGS)`` run in this process, as
    ``python experiments/SCRIPT ARGS`` runs from ``cwd`` without LIFECYCLE_* settings; a
    non-zero exit fails the test (its log is the test's captured stderr; a ``main`` returning
    None exits 0, as ``sys.exit(None)`` does). In a fresh process the script's imports
    (MLflow, Feast, LightGBM, scikit-learn) cost ~6 CPU-s that a test worker has paid
    already; what a quick mode changes for the whole process (its models on one thread,
    MLflow's store) is undone after it."""
    import contextlib
    import importlib
    import io
    import os

    import mlflow
    import pytest

    from training import models

    sys.path.insert(0, str(REPO / "experiments"))
    experiment = importlib.import_module(Path(script).stem)
    specs, stores = dict(models.SPECS), (mlflow.get_tracking_uri(), mlflow.get_registry_uri())
    printed = io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        for name in [name for name in os.environ if name.startswith("LIFECYCLE_")]:
            patch.delenv(name)
        patch.chdir(cwd)
        try:
            with contextlib.redirect_stdout(printed):
                code = experiment.main(list(args))
        except SystemExit as exited:  # argparse's refusals
            code = exited.code
        finally:
            models.SPECS.clear()
            models.SPECS.update(specs)
            mlflow.set_tracking_uri(stores[0])
            mlflow.set_registry_uri(stores[1])
    assert code in (0, None), f"{script} {' '.join(args)}: exit code {code}"
    return printed.getvalue()


def few_rounds() -> dict[str, str]:
    """experiments/quick.py's cap on every model's boosting rounds, as LIFECYCLE_* settings,
    for a test whose assertions hold for any number of trees (early stopping otherwise grows
    ~2,500 trees over LTV's five boosters on the demo)."""
    sys.path.insert(0, str(REPO / "experiments"))
    from quick import few_rounds as capped

    return capped()
