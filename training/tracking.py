"""MLflow tracking of trained models: experiments, one pyfunc model per version, listing.

Every model version, LightGBM or a baseline rule, is logged the same way: the bundle as
one pyfunc ("model from code", ``lifecycle/mlflow_model.py``) registered as ``challenger``,
its test metrics as ``test.*`` tags.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import lifecycle
from lifecycle import registry, tasks
from lifecycle.bundle import ModelBundle
from lifecycle.settings import Settings


def experiment_for(settings: Settings, mlflow_client: Any, name: str) -> str:
    """The id of the model's MLflow experiment, created with artifacts under the workspace."""
    experiment = mlflow_client.get_experiment_by_name(name)
    if experiment:
        return experiment.experiment_id
    if registry.tracking_uri(settings).startswith(("http://", "https://")):
        # A tracking server keeps artifacts in its own store (--artifacts-destination).
        return mlflow_client.create_experiment(name)
    return mlflow_client.create_experiment(
        name, artifact_location=f"{registry.artifact_root(settings)}/{name}"
    )


def log_bundle(
    mlflow_client: Any,
    name: str,
    bundle: ModelBundle,
    rows: pd.DataFrame,
    workdir: Path,
    *,
    tags: dict[str, str],
    metrics: dict[str, float],
) -> str:
    """Log the bundle as one pyfunc model in the active run, register it as ``challenger``.

    ``rows`` give the input example; ``metrics`` become ``test.*`` tags on the version.
    """
    import mlflow
    from mlflow.models import infer_signature

    bundle_dir = bundle.save(workdir / "bundle")
    example = rows[bundle.feature_names].head(5).reset_index(drop=True)
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=str(Path(lifecycle.__file__).with_name("mlflow_model.py")),
        artifacts={"bundle": str(bundle_dir)},
        signature=infer_signature(example, bundle.outputs(example)),
        input_example=example,
        registered_model_name=name,
        pip_requirements=_requirements(),
        metadata={
            "feature_service": bundle.service,
            "label": bundle.label,
            "data_window": bundle.data_window,
        },
    )
    version = str(info.registered_model_version)
    mlflow_client.set_registered_model_alias(name, registry.CHALLENGER, version)
    for key, value in tags.items():
        mlflow_client.set_model_version_tag(name, version, key, value)
    for key, value in metrics.items():
        if np.isfinite(value):
            mlflow_client.set_model_version_tag(name, version, f"test.{key}", f"{value:.6g}")
    return version


def _requirements() -> list[str]:
    from importlib.metadata import version

    return [
        f"{pkg}=={version(pkg)}"
        for pkg in ("lightgbm", "numpy", "pandas", "scikit-learn", "mlflow")
    ]


def list_models(settings: Settings, dataset: str | None = None) -> list[dict[str, Any]]:
    """Every registered version of the dataset's models: aliases, test cutoff, headline metrics."""
    mlflow_client = registry.client(settings)
    dataset = dataset or settings.dataset
    rows = []
    from mlflow.exceptions import MlflowException

    for task in tasks.names():
        name = registry.model_name(dataset, task)
        try:
            aliases = mlflow_client.get_registered_model(name).aliases  # alias -> version
        except MlflowException:
            continue
        for version in mlflow_client.search_model_versions(f"name = '{name}'"):
            tags = version.tags
            rows.append(
                {
                    "model": name,
                    "task": task,
                    "version": version.version,
                    "aliases": sorted(
                        a for a, v in aliases.items() if str(v) == str(version.version)
                    ),
                    "test_cutoff": tags.get("test_cutoff", ""),
                    "kind": tags.get("kind", "lightgbm"),
                    "metrics": {
                        k.removeprefix("test."): float(v)
                        for k, v in tags.items()
                        if k.startswith("test.")
                    },
                    "promotion": tags.get("promotion", ""),
                }
            )
    return sorted(rows, key=lambda r: (r["task"], -int(r["version"])))
