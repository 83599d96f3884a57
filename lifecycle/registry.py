"""Where models are tracked and how they are named: the hand-off between training and serving.

Default: MLflow with a SQLite backend and local artifacts under ``$LIFECYCLE_HOME/mlflow``;
``tracking.uri`` (or ``LIFECYCLE_TRACKING__URI``) points to a server instead. A model is
registered as ``<dataset>-<task>``; alias ``challenger`` marks the newest, ``champion``
the one that serves.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from lifecycle.errors import UserError

if TYPE_CHECKING:
    from lifecycle.settings import Settings

CHAMPION = "champion"
CHALLENGER = "challenger"


class RegistryError(UserError):
    """The model registry cannot answer; the message says what is missing."""


class PromotionError(RegistryError):
    """A promotion cannot be done as asked (no such version, no challenger, no reason)."""


def tracking_uri(settings: Settings) -> str:
    if settings.tracking.uri:
        return settings.tracking.uri
    return f"sqlite:///{(settings.workspace.mlflow_dir / 'mlflow.db').resolve()}"


def artifact_root(settings: Settings) -> str:
    return (settings.workspace.mlflow_dir / "artifacts").resolve().as_uri()


def model_name(dataset: str, task: str) -> str:
    return f"{dataset}-{task}"


def client(settings: Settings) -> Any:
    """An MlflowClient on the settings' tracking and registry store (created on first use)."""
    import logging
    import os
    import warnings

    # Progress bars and chatter on stderr would bury the command's own progress lines.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    warnings.filterwarnings("ignore", module="mlflow")
    warnings.filterwarnings("ignore", message=".*noload.*")
    import mlflow
    from mlflow import MlflowClient

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    uri = tracking_uri(settings)
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        if not settings.tracking.uri:  # the workspace's own store: it may have been copied
            from lifecycle.relocation import relocate_mlflow_store

            relocate_mlflow_store(Path(uri.removeprefix("sqlite:///")), artifact_root(settings))
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def alias_version(mlflow_client: Any, name: str, alias: str) -> Any | None:
    """The model version behind an alias, or None when the model or alias does not exist."""
    from mlflow.exceptions import MlflowException

    try:
        return mlflow_client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def bundle_path(mlflow_client: Any, name: str, version: str, destination: Path) -> Path:
    """Download a model version's bundle (the directory ``lifecycle.bundle`` loads)."""
    import mlflow

    source = mlflow_client.get_model_version_download_uri(name, version)
    local = Path(
        mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=str(destination))
    )
    bundle = local / "artifacts" / "bundle"
    if not bundle.is_dir():
        raise RegistryError(
            f"model {name} version {version} has no bundle at {source}; was it logged by lifecycle?"
        )
    return bundle


def set_champion(mlflow_client: Any, name: str, version: str, reason: str) -> None:
    """Point ``champion`` at a version and record why on the version (tag ``promotion``)."""
    mlflow_client.set_registered_model_alias(name, CHAMPION, version)
    mlflow_client.set_model_version_tag(name, version, "promotion", reason)


def promote(
    settings: Settings,
    task: str,
    version: str,
    reason: str,
    dataset: str | None = None,
    *,
    accept_definition_change: bool = False,
) -> dict[str, str]:
    """Make a version champion by hand, overriding the gate, with the reason on the version.

    The one promotion path of ``lifecycle promote`` and the service's ``POST /promote``. A
    version whose label definition differs from the champion's needs
    ``accept_definition_change`` (the reason then says why the meaning may change).
    """
    import json

    from lifecycle import tasks
    from lifecycle.lineage import DEFINITION_TAG, definition_changes

    if task not in tasks.names():
        raise PromotionError(f"unknown task {task!r}; expected one of {', '.join(tasks.names())}")
    if not reason.strip():
        raise PromotionError("a manual promotion needs a reason (--reason)")
    mlflow_client = client(settings)
    name = model_name(dataset or settings.dataset, task)
    from mlflow.exceptions import MlflowException

    try:
        chosen = mlflow_client.get_model_version(name, version)
    except MlflowException:
        raise PromotionError(
            f"model {name} has no version {version}; see `lifecycle models`"
        ) from None
    previous = alias_version(mlflow_client, name, CHAMPION)
    theirs = (previous.tags or {}).get(DEFINITION_TAG) if previous else None
    ours = (chosen.tags or {}).get(DEFINITION_TAG)
    changes = definition_changes(json.loads(theirs), json.loads(ours)) if theirs and ours else []
    if changes and not accept_definition_change:
        raise PromotionError(
            f"model {name}: v{version}'s label definition differs from champion "
            f"v{previous.version}'s ({', '.join(changes)}); its scores would mean something "
            "else to their users: add --accept-definition-change to promote it anyway"
        )
    if changes:
        reason = f"{reason} (label definition changed: {', '.join(changes)})"
    set_champion(mlflow_client, name, version, f"manual: {reason}")
    return {
        "model": name,
        "champion": str(version),
        "previous": str(previous.version) if previous else "none",
        "reason": reason,
    }


def challenger_version(settings: Settings, task: str, dataset: str | None = None) -> str:
    """The version behind ``challenger`` when it is not already the champion."""
    name = model_name(dataset or settings.dataset, task)
    mlflow_client = client(settings)
    challenger = alias_version(mlflow_client, name, CHALLENGER)
    if challenger is None:
        raise PromotionError(f"model {name} has no challenger: train {task} first")
    champion = alias_version(mlflow_client, name, CHAMPION)
    if champion is not None and str(champion.version) == str(challenger.version):
        raise PromotionError(
            f"model {name}: challenger v{challenger.version} is already the champion"
        )
    return str(challenger.version)
