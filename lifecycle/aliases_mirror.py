"""The aliases mirror: a local registry's champions without the MLflow client.

A local registry's aliases are mirrored in ``aliases.json`` beside its database, rewritten by
every alias move made in ``lifecycle.registry`` (``set_champion``, ``set_challenger``): a
starting server reads its champions from there without importing the MLflow client (seconds
of start-up), then checks them against the registry once it is ready. Each entry also says
which dataset version and data generation each aliased version learned from, so a server
can tell a champion of data the dataset no longer holds (:func:`mirrored_lineage`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from lifecycle.registry import (
    CHAMPION,
    aliases,
    client,
    model_name,
    sqlite_database,
    tracking_uri,
)

if TYPE_CHECKING:
    from lifecycle.settings import Settings

ALIASES_FILE = "aliases.json"


def aliases_file(uri: str) -> Path | None:
    """Where a registry's aliases are mirrored: beside a SQLite database; None for a server."""
    database = sqlite_database(uri)
    return None if database is None else database.parent / ALIASES_FILE


def mirror_aliases(mlflow_client: Any, *names: str) -> None:
    """Rewrite the models' entries in the aliases mirror from the registry, in one write; the
    first write mirrors every registered model, so a model missing from it is not registered."""
    path = aliases_file(str(mlflow_client._registry_uri))
    if path is not None:
        _rewrite_mirror(path, mlflow_client, list(names))


def sync_mirror(
    settings: Settings,
    *,
    announce: bool = False,
    known: dict[str, dict[str, str]] | None = None,
) -> int | None:
    """Rewrite every model's entry of the aliases mirror from the registry (an alias moved
    outside lifecycle, in the MLflow UI, is then mirrored); ``announce`` (``POST /reload``)
    also bumps its ``reloads`` count, so that every serving worker reloads. ``known``: model
    name -> aliases just read from the registry; when the mirror holds the same, the
    registry is not read again. The file is written only when something changed. Returns
    the ``reloads`` count; None without a mirror (a tracking server) or without a registry
    database (nothing registered, or deleted: MLflow would create an empty one, which a
    serving worker's check after its start did while the registry was away)."""
    uri = tracking_uri(settings)
    path, database = aliases_file(uri), sqlite_database(uri)
    if path is None or (database is not None and not database.is_file()):
        return None
    if known is not None:
        models = read_mirror(path) or {}
        entries = {name: models.get(name) for name in known}  # a damaged one is rewritten
        if all(
            isinstance(entry, dict) and (entry.get("aliases") or {}) == known[name]
            for name, entry in entries.items()
        ):
            return _rewrite_mirror(path, None, [], announce=announce)
    return _rewrite_mirror(path, client(settings), None, announce=announce)


def _rewrite_mirror(
    path: Path, mlflow_client: Any, names: list[str] | None, *, announce: bool = False
) -> int:
    """Rewrite the entries of ``names`` (None: every registered model) under the mirror's
    lock; the ``reloads`` count is kept, or bumped with ``announce``."""
    import fcntl
    import os

    # One writer at a time: two trainings may move aliases of different models at once.
    with open(path.with_name(ALIASES_FILE + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            document = read_mirror_document(path)
        except RecursionError:  # damaged past reading: rewritten whole from the registry
            document = None
        old = document.get("models") if document is not None else None
        models = dict(old) if isinstance(old, dict) else None
        if mlflow_client is not None and (models is None or names is None):
            names = sorted(
                {m.name for m in mlflow_client.search_registered_models()} | set(names or [])
            )
            models = {}
        for name in names or []:
            models[name] = _mirror_entry(mlflow_client, name, path.parent)  # type: ignore[index]
        reloads = mirror_reloads(document) + int(announce)
        if models is None or (models == old and not announce):
            return reloads
        written = path.with_name(f".{ALIASES_FILE}.{os.getpid()}")
        written.write_text(_json_text({"models": models, "reloads": reloads}))
        written.replace(path)
        return reloads


def _json_text(document: dict[str, Any]) -> str:
    import json

    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def _mirror_entry(mlflow_client: Any, name: str, folder: Path) -> dict[str, Any]:
    """Each alias's version, where its bundle lies, relative to the mirror (a copied
    workspace still reads it), and the data it learned from (:func:`mirrored_lineages`)."""
    import os

    from lifecycle.lineage import DATA_KEYS, of_tags

    found = aliases(mlflow_client, name)
    bundles: dict[str, str] = {}
    learned: dict[str, dict[str, str]] = {}
    for version in sorted(set(found.values())):
        source = str(mlflow_client.get_model_version_download_uri(name, version))
        bundle = Path(source.removeprefix("file://")) / "artifacts" / "bundle"
        if source.startswith("file://") and bundle.is_dir():
            bundles[version] = os.path.relpath(bundle, folder)
        tags = of_tags(mlflow_client.get_model_version(name, version).tags or {})
        learned[version] = {key: tags.get(key, "") for key in DATA_KEYS}
    return {"aliases": found, "bundles": bundles, "lineage": learned}


def read_mirror(path: Path) -> dict[str, Any] | None:
    """The mirror's models, or None when it is missing or unreadable (then: the registry)."""
    try:
        document = read_mirror_document(path)
    except RecursionError:  # nested past what JSON reads
        return None
    models = document.get("models") if document is not None else None
    return models if isinstance(models, dict) else None


def read_mirror_document(path: Path) -> dict[str, Any] | None:
    """The whole mirror (``models``, ``reloads``), or None when missing or unreadable."""
    import json

    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def mirror_reloads(document: dict[str, Any] | None) -> int:
    """How many ``POST /reload`` the mirror has announced (0 in a mirror from before)."""
    reloads = (document or {}).get("reloads", 0)
    return reloads if isinstance(reloads, int) and not isinstance(reloads, bool) else 0


def mirrored_champions(models: dict[str, Any], names: dict[str, str]) -> dict[str, str | None]:
    """Key -> the champion version the mirror names for the model ``names[key]``."""
    return {
        key: (models.get(name, {}).get("aliases", {}) or {}).get(CHAMPION)
        for key, name in names.items()
    }


def mirrored_lineages(
    models: dict[str, Any], dataset: str, versions: dict[str, str]
) -> dict[str, dict[str, Any]]:
    """Task -> the dataset version and data generation the mirror says version
    ``versions[task]`` of the task's model learned from; a task left out where it says none
    (a mirror written before it recorded them, or not of the shape written)."""
    found = {}
    for task, version in versions.items():
        lineage = mirrored_versions(models, dataset, task).get(str(version))
        if lineage is not None:
            found[task] = lineage
    return found


def mirrored_versions(models: dict[str, Any], dataset: str, task: str) -> dict[str, dict[str, Any]]:
    """Version -> lineage of each version of the task's model the mirror records (those an
    alias names); empty where it records none."""
    entry = models.get(model_name(dataset, task))
    learned = entry.get("lineage") if isinstance(entry, dict) else None
    if not isinstance(learned, dict):
        return {}
    return {str(v): lin for v, lin in learned.items() if isinstance(lin, dict)}
