"""Lineage: what each artefact was built from, and whether it is still current.

Every step records its inputs beside its output: the feature table names the dataset
version it was computed from, the online store the feature table it holds, a model version
(MLflow tags) its dataset version, feature table and feature service, a scores table its
models and feature table. A step whose inputs moved on refuses with the command to run.

A dataset version is the name of the folder ``datasets/<name>`` points to in
``datasets/.versions`` (:func:`lifecycle.storage.atomic_dir`), so a re-ingest, an append
or a restore each give the dataset a new (or an older) version, never the same one twice.
Its data generation (:func:`data_generation`) is what its appends and erasures keep and a
new ingest, import or demo data replaces: an artefact of another generation holds other
data under the same ids (:func:`replaced`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import secrets
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lifecycle.errors import UserError
from lifecycle.storage import VERSIONS
from lifecycle.words import BATCHES, CUTOFFS, ROWS, counted

if TYPE_CHECKING:
    from collections.abc import Collection

    from lifecycle.settings import Settings

# A file's lineage sits beside it as _<file>.lineage.json: the "_" keeps it out of a
# folder read as a Parquet dataset (pyarrow and DuckDB skip such names).
LINEAGE_PREFIX, LINEAGE_SUFFIX = "_", ".lineage.json"
TAG_PREFIX = "lineage."  # MLflow model version tags: lineage.dataset_version, ...
DEFINITION_TAG = "label_definition"  # a model version's label definition (JSON)
# The digest of its dataset version's batches (:func:`batches_of`): where that version is
# pruned, where it sits among a later version's (lifecycle.late_events)
BATCHES_TAG = "dataset_batches"


class StaleInput(UserError):
    """A step's inputs are older than what exists; the message names the command to run."""


# What :func:`replaced` compares of an artefact's lineage (the aliases mirror keeps them).
DATA_KEYS = ("dataset_version", "dataset_generation")


def dataset_lineage(dataset_dir: Path) -> dict[str, str]:
    """The dataset version a folder points to and its data generation, as artefacts record
    (:data:`DATA_KEYS`)."""
    return {
        "dataset_version": dataset_version(dataset_dir),
        "dataset_generation": data_generation(dataset_dir),
    }


def data_generation(dataset_dir: Path) -> str:
    """A digest of the ingest, import or demo data that began a dataset version's data: its
    appends and erasures carry that batch on, a new one replaces it ('' with no report). Not
    of its source's path, which a copied workspace's report names anew."""
    batches = batches_of(dataset_dir)
    return digest(batches[0]) if batches else ""


def batches_of(dataset_dir: Path) -> list[dict[str, Any]] | None:
    """The ingest batches of a dataset version, without their source's path (a copied
    workspace's report names it anew); None where its report is damaged."""
    from features.batches import previous_batches

    try:
        found = previous_batches(dataset_dir)
    except UserError:  # a damaged report tells nothing
        return None
    return [{k: v for k, v in batch.items() if k != "source"} for batch in found]


def replaced(settings: Settings, built: dict[str, Any], now: dict[str, Any]) -> str | None:
    """How the data ``now`` (a lineage: dataset version and generation) replaced the data an
    artefact was ``built`` from (a new ingest, import or demo data, not an append or erasure
    of it); None when it descends from it, or when either generation is unknown (an artefact
    from before generations were recorded whose dataset version is no longer kept)."""

    before, after = _generation(settings, built), _generation(settings, now)
    if before and after and before != after:
        return (
            f"dataset version {built.get('dataset_version')} was replaced by "
            f"{now.get('dataset_version')} (a new ingest, not an append)"
        )
    return _restored_away(settings, built, now)


def _generation(settings: Settings, lineage: dict[str, Any]) -> str:
    """A lineage's data generation: recorded, or read from its dataset version while kept."""
    if lineage.get("dataset_generation"):
        return str(lineage["dataset_generation"])
    folder = kept_version(settings, lineage)
    return data_generation(folder) if folder is not None else ""


def _restored_away(settings: Settings, built: dict[str, Any], now: dict[str, Any]) -> str | None:
    """How a restore to an earlier version took away batches an artefact was built from (a
    bad append undone: a champion of it kept serving what the data no longer holds); None
    where ``now`` holds all of them, or where either version is no longer kept."""
    theirs, ours = version_batches(settings, built), version_batches(settings, now)
    if theirs is None or ours is None or len(ours) >= len(theirs) or theirs[: len(ours)] != ours:
        return None
    gone = len(theirs) - len(ours)
    return (
        f"dataset version {built.get('dataset_version')} was restored to the earlier "
        f"{now.get('dataset_version')}: {counted(gone, BATCHES)} it was built from "
        f"{'is' if gone == 1 else 'are'} no longer in the data"
    )


def version_batches(settings: Settings, lineage: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The batches of the dataset version a lineage names; None when it is no longer kept."""
    folder = kept_version(settings, lineage)
    return None if folder is None else batches_of(folder)


def champions_of_replaced_data(
    settings: Settings,
    dataset: str,
    versions: dict[str, str],
    built: dict[str, dict[str, Any]] | None = None,
    known: dict[str, dict[str, dict[str, Any]]] | None = None,
    client: Any = None,
    answered: Collection[str] = (),
) -> dict[str, str]:
    """Task -> a warning for each champion (task -> version) trained on data the dataset no
    longer holds (:func:`replaced`): the gate judges no new model against it, but one the
    new data cannot train (too few users) left it serving, unsaid. A task ``answered`` by
    another's champion (conversion served as 1 - churn on a log of purchases) is not warned
    of: its own champion serves nothing, and promoting or training it changes no score.
    ``built``: task -> the lineage of its champion (a server's, from the aliases mirror; a
    task left out is not judged); None reads the registry's tags. A version of this data to
    promote instead is named only where one exists: among ``known`` (task -> version ->
    lineage, the versions a server's mirror records), or, with ``built`` None, among all the
    registry's (through ``client``, the caller's registry client, else one opened here)."""
    from lifecycle import registry

    versions = {task: v for task, v in versions.items() if task not in answered}
    now = dataset_lineage(settings.workspace.dataset_dir(dataset))
    if built is not None:
        client = None
    elif client is None:
        client = registry.client(settings, fluent=False)
    if client is not None:
        built = {
            task: of_tags(
                client.get_model_version(registry.model_name(dataset, task), v).tags or {}
            )
            for task, v in versions.items()
        }
    found = {}
    named = "" if dataset == settings.dataset else f" --dataset {dataset}"  # else the default's
    for task, version in versions.items():
        why = replaced(settings, built[task], now) if task in (built or {}) else None
        if not why:
            continue
        name = registry.model_name(dataset, task)
        if client is not None:
            found_versions = client.search_model_versions(f"name = '{name}'")
            lineages = {str(v.version): of_tags(v.tags or {}) for v in found_versions}
        else:
            lineages = (known or {}).get(task, {})
        fresh = sorted((v for v, lin in lineages.items() if of_data(settings, lin, now)), key=int)
        instead = (
            f", or `lifecycle promote {task} {fresh[-1]}{named} --reason ...` serves "
            f"v{fresh[-1]}, a version of this data (`lifecycle models`)"
            if fresh
            else ""  # none to promote (too few users trained none): not offered
        )
        found[task] = (
            f"{task}: champion {name} v{version} was trained on data the dataset no longer "
            f"holds ({why}) and still serves, a model of other data: `lifecycle train "
            f"{task}{named}` replaces it once this data can train it{instead}"
        )
    return found


def of_data(settings: Settings, built: dict[str, Any], now: dict[str, Any]) -> bool:
    """Whether an artefact was built from the data ``now`` holds: the same generation,
    known on both sides, and no batch of it restored away."""
    before, after = _generation(settings, built), _generation(settings, now)
    return bool(before) and before == after and _restored_away(settings, built, now) is None


def kept_version(settings: Settings, lineage: dict[str, Any]) -> Path | None:
    """The folder of the dataset version a lineage names, while the dataset keeps it."""
    version = str(lineage.get("dataset_version") or "")
    if "@" not in version:
        return None
    folder = settings.workspace.dataset_dir(version.split("@", 1)[0]).parent / VERSIONS / version
    return folder if folder.is_dir() else None


def of_tags(tags: dict[str, str]) -> dict[str, str]:
    """A model version's lineage from its MLflow tags (``lineage.dataset_version`` ...)."""
    return {k.removeprefix(TAG_PREFIX): v for k, v in tags.items() if k.startswith(TAG_PREFIX)}


def dataset_version(dataset_dir: Path) -> str:
    """The version a dataset folder points to ('' when there is no dataset)."""
    if dataset_dir.is_symlink():
        return Path(dataset_dir.readlink()).name
    if dataset_dir.parent.name == ".versions":  # a version folder itself
        return dataset_dir.name
    if dataset_dir.is_dir():  # a plain folder (written before versions): its report's time
        report = dataset_dir / "report.json"
        stamp = int(report.stat().st_mtime) if report.is_file() else 0
        return f"{dataset_dir.name}@plain-{stamp}"
    return ""


@functools.cache
def code_version() -> str:
    """The package version and, in a git checkout, its commit (``0.1.0+abc1234``)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        release = version("lifecycle")
    except PackageNotFoundError:
        release = "unknown"
    try:
        done = subprocess.run(
            ["git", "-C", str(Path(__file__).parent), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return release
    commit = done.stdout.strip() if done.returncode == 0 else ""
    return f"{release}+{commit}" if commit else release


def digest(data: Any) -> str:
    """A short digest of JSON-able data."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:12]


# Settings added since models recorded the digest: unset, they leave it as it was (a model
# trained before them is not retrained for them alone)
UNSET_ADDED = {
    "features": ("allow_attributes", "exclude_attributes"),
    "labels": ("not_activity_types",),
}


def settings_hash(settings: Settings, sections: tuple[str, ...] = ("features", "labels")) -> str:
    """A short digest of the settings sections that shape an artefact."""
    dumped = json.loads(settings.model_dump_json(include=set(sections)))
    for section, names in UNSET_ADDED.items():
        for name in names:
            if section in dumped and not dumped[section].get(name):
                del dumped[section][name]
    return digest(dumped)


# What shapes a task's model besides its data, features and label: its LightGBM values
# (``training.models``: the task's own, and LTV's parts) and how its rows are chosen.
TRAINING_SHAPES = ("seed", "max_cutoffs", "max_rows", "bridge_horizon", "label_free_fallback")


def training_hash(settings: Settings, task: str) -> str:
    """A short digest of the training settings that shape ``task``'s model: `refresh`
    retrains a task whose model was trained with others (it said every model was current
    after the LightGBM values changed)."""
    training = settings.training
    values = {name: getattr(training, name) for name in TRAINING_SHAPES}
    models = {
        name: spec.model_dump(mode="json", exclude_none=True)
        for name, spec in sorted(training.models.items())
        if name == task or name.startswith(f"{task}_")
    }
    return digest({**values, "models": models})


def model_values(settings: Settings) -> dict[str, Any]:
    """The LightGBM values ``training.models`` sets, named as a training run logs them
    (``churn.num_leaves``)."""
    models = sorted(settings.training.models.items())
    return {
        f"{model}.{key}": value for model, set_ in models for key, value in set_.values().items()
    }


def features_digest(
    windows: Any, frequency: str, allow: Any = (), exclude: Any = (), not_activity: Any = ()
) -> str:
    """The digest of the settings a feature table is computed with (its windows and grid, the
    attributes allowed in or excluded, the types that are no activity: only when set, so
    tables built before stay current)."""
    chosen = {
        "allow_attributes": sorted(allow),
        "exclude_attributes": sorted(exclude),
        "not_activity_types": sorted(not_activity),
    }
    return digest(
        {"windows_days": list(windows), "cutoff_frequency": frequency}
        | {key: names for key, names in chosen.items() if names}
    )


def new_id() -> str:
    """An identifier for one build of an artefact: its time and a random part."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


def lineage_path(artefact: Path) -> Path:
    return artefact.with_name(LINEAGE_PREFIX + artefact.name + LINEAGE_SUFFIX)


def record(artefact: Path, inputs: dict[str, Any]) -> dict[str, Any]:
    """Write ``artefact``'s lineage (its inputs, a fresh id, the code version) beside it."""
    from lifecycle.storage import atomic_file

    lineage = {
        "id": new_id(),
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "code_version": code_version(),
        **inputs,
    }
    with atomic_file(lineage_path(artefact)) as staging:
        staging.write_text(json.dumps(lineage, indent=2, default=str) + "\n")
    return lineage


def read(artefact: Path) -> dict[str, Any] | None:
    """``artefact``'s lineage, or None when it has none (missing, or built before lineage)."""
    path = lineage_path(artefact)
    if not artefact.exists() or not path.is_file():
        return None
    return json.loads(path.read_text())


def follow_dataset(artefact: Path, old_version: str, new_version: str) -> None:
    """An artefact built from ``old_version`` that was changed the same way as the dataset
    (an erasure removes users from both) is built from ``new_version``."""
    from lifecycle.storage import atomic_file

    built = read(artefact)
    if built is None or built.get("dataset_version") != old_version:
        return
    with atomic_file(lineage_path(artefact)) as staging:
        staging.write_text(
            json.dumps(built | {"dataset_version": new_version}, indent=2, default=str) + "\n"
        )


# -- the checks each step makes -------------------------------------------------------------


def feature_table_problem(settings: Settings, dataset: str) -> str | None:
    """Why the dataset's feature table is not current (None when it is)."""
    ws = settings.workspace
    table = ws.feature_table(dataset)
    if not table.is_file():
        return f"dataset '{dataset}' has no feature table"
    built = read(table)
    current = dataset_version(ws.dataset_dir(dataset))
    if built is None:
        # Built before lineage was recorded: only its age can tell.
        events = ws.events(dataset)
        if events.is_file() and events.stat().st_mtime > table.stat().st_mtime:
            return f"the feature table of '{dataset}' is older than its events"
        return None
    if current and built.get("dataset_version") != current:
        return (
            f"the feature table of '{dataset}' was built from dataset version "
            f"{built.get('dataset_version')}, the dataset is now {current}"
        )
    from features.table_settings import settings_digest

    if built.get("settings_hash") != settings_digest(settings):
        return (
            f"the feature table of '{dataset}' was built with other features settings (or "
            "labels.not_activity_types)"
        )
    if read_by_models := people_read_by_models(table):
        return (
            f"the feature table of '{dataset}' lets models learn from "
            f"{', '.join(map(repr, read_by_models))}, built before people's attributes were "
            "left out of every model"
        )
    return None


def people_read_by_models(table: Path) -> list[str]:
    """The people's attributes (a first name) that a feature table written before they were
    left out still gives its models (:func:`features.identifiers.not_features_of`)."""
    import pyarrow.parquet as pq

    from features.identifiers import IDENTIFYING_KEY, REASONS_KEY, not_features_of

    schema = pq.read_schema(table)
    said = schema.metadata or {}
    if REASONS_KEY in said:
        return []
    return [
        n for n in not_features_of(schema) if n not in json.loads(said.get(IDENTIFYING_KEY, "[]"))
    ]


def require_current_features(
    settings: Settings, dataset: str, step: str, refused_as: str | None = None
) -> dict[str, Any]:
    """Refuse ``step`` on a stale feature table, naming the command that rebuilds it (worded
    '``refused_as``: why', else '``step`` refused: why'); the feature table's lineage
    otherwise (empty for a table built before lineage)."""
    from lifecycle.dataset_kind import require_dataset, require_events

    require_events(settings, dataset, step)
    problem = feature_table_problem(settings, dataset)
    if problem is not None:
        from features.store import store_paths

        if not settings.workspace.feature_table(dataset).is_file():  # no dataset: say that
            require_dataset(settings, dataset, step)
        run = f"`lifecycle features build --dataset {dataset}`"
        if not store_paths(settings, dataset).registry.is_file():  # its next refusal, said now
            run += f" and `lifecycle features apply --dataset {dataset}`"
        raise StaleInput(
            f"{refused_as or f'{step} refused'}: {problem}; run {run} first (or `lifecycle refresh --dataset "
            f"{dataset}`)"
        )
    return read(settings.workspace.feature_table(dataset)) or {}


def online_store_lineage(settings: Settings, dataset: str) -> Path:
    """Where the online store's lineage is kept (it names the feature table it holds)."""
    return settings.workspace.feast_repo(dataset) / "online_store"


def online_store_problem(settings: Settings, dataset: str) -> str | None:
    """Why the online store does not hold the current feature table (None when it does)."""
    table = read(settings.workspace.feature_table(dataset)) or {}
    marker = lineage_path(online_store_lineage(settings, dataset))
    if not marker.is_file():
        return f"the online store of '{dataset}' was never materialized with lineage"
    held = json.loads(marker.read_text())
    if held.get("feature_table") != table.get("id"):
        return f"the online store of '{dataset}' holds an older feature table"
    if settings.feast.online_store == "redis":  # a server may have been emptied since
        from features.redis_health import dataset_problem

        return dataset_problem(settings, dataset, str(held.get("feature_table")))
    return None


def run_tag(name: str) -> bool:
    """Whether a model version tag of :func:`model_tags` is set on its training run too:
    what data, features, label definition and code it came from."""
    return name.startswith(TAG_PREFIX) or name == DEFINITION_TAG


def model_tags(
    settings: Settings, dataset: str, feature_service: str, label: dict[str, Any]
) -> dict[str, str]:
    """The MLflow model version tags saying what a model was built from. The settings hash
    is of the settings on the label's horizon: a model learned at a shorter one and served
    on the asked one (``lifecycle.bridge``) was trained for the settings asked, so that
    `refresh` finds it current."""
    table = read(settings.workspace.feature_table(dataset)) or {}
    horizon = f"{label.get('task')}_horizon_days"
    if label.get("horizon_days") is not None and hasattr(settings.labels, horizon):
        labels = settings.labels.model_copy(update={horizon: int(label["horizon_days"])})
        settings = settings.model_copy(update={"labels": labels})
    return {
        f"{TAG_PREFIX}dataset_version": str(table.get("dataset_version", "")),
        f"{TAG_PREFIX}dataset_generation": str(table.get("dataset_generation", "")),
        f"{TAG_PREFIX}{BATCHES_TAG}": _batches_digest(settings, table),
        f"{TAG_PREFIX}feature_table": str(table.get("id", "")),
        f"{TAG_PREFIX}settings_hash": settings_hash(settings),
        **made_with(settings, feature_service, str(label.get("task"))),
        DEFINITION_TAG: json.dumps(label, sort_keys=True, default=str),
    }


def _batches_digest(settings: Settings, table: dict[str, Any]) -> str:
    """:data:`BATCHES_TAG` of the dataset version a feature table was built from ('' where
    it is not kept or its report is damaged)."""
    batches = version_batches(settings, table)
    return "" if batches is None else digest(batches)


def made_with(settings: Settings, feature_service: str, task: str) -> dict[str, str]:
    """The lineage tags of any model version (a snapshot's too) of what made it: the
    feature service it reads, its tuning (:func:`training_hash`) and the code."""
    return {
        f"{TAG_PREFIX}feature_service": feature_service,
        f"{TAG_PREFIX}training_hash": training_hash(settings, task),
        f"{TAG_PREFIX}code_version": code_version(),
    }


def definition_changes(champion: dict[str, Any], challenger: dict[str, Any]) -> list[str]:
    """How two label definitions differ, field by field ('horizon_days 90 -> 60')."""
    return [
        f"{key} {champion.get(key)} -> {challenger.get(key)}"
        for key in sorted(set(champion) | set(challenger))
        if champion.get(key) != challenger.get(key)
    ]


def definitions_text(labels: dict[str, dict[str, Any]]) -> str:
    """Label definitions in a few words: ``churn 90-day window, ltv 365-day window``."""
    parts = []
    for task, label in sorted(labels.items()):
        text = f"{task} {label.get('horizon_days')}-day window"
        if label.get("lookback_days"):
            text += f" (active in {label['lookback_days']} days)"
        if label.get("target"):
            text += f" (target {label['target']})"
        parts.append(text)
    return ", ".join(parts)


def learned_from(window: dict[str, Any]) -> str | None:
    """What a model's data window says it learned from, in words (`/models`' learned_from). A
    served rule's ``trained_on`` is the LightGBM refit's it was judged beside (its test
    cutoffs calibrate the rule; the gate and the drift reference read it so): the rule itself
    was fitted on ``rule_fitted_on``, which is said instead."""
    trained = window.get("trained_on") or {}
    cutoffs = sorted(trained.get("cutoffs") or [])
    fitted = window.get("rule_fitted_on") or {}
    users = f"the {fitted.get('rows', 0):,} users at {fitted.get('cutoff')}"
    if fitted and "blend" not in window:  # a served rule or a label-free model
        return f"{window.get('kind', 'rule')} fitted on {users}"
    if not cutoffs:
        return None
    span = cutoffs[0] if len(cutoffs) == 1 else f"{cutoffs[0]}..{cutoffs[-1]}"
    rows = f"{counted(len(cutoffs), CUTOFFS)} {span}, {counted(trained.get('rows', 0), ROWS)}"
    return rows + (f"; its blend's rule fitted on {users}" if fitted else "")
