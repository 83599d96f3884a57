"""Where models are tracked and how they are named: the hand-off between training and serving.

Default: MLflow with a SQLite backend and local artifacts under ``$LIFECYCLE_HOME/mlflow``;
``tracking.uri`` (or ``LIFECYCLE_TRACKING__URI``) points to a server instead. A model is
registered as ``<dataset>-<task>``; alias ``challenger`` marks the newest, ``champion``
the one that serves.

A local registry's aliases are mirrored in ``aliases.json`` beside its database, rewritten by
every alias move made here (:func:`set_champion`, :func:`set_challenger`): a starting server
reads its champions from there (:func:`reader`) without importing the MLflow client (seconds
of start-up), then checks them against the registry once it is ready. The file itself is
``lifecycle.aliases_mirror``'s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lifecycle.errors import UserError
from lifecycle.tracking_http import check_answers, failed_request, http_requests, server_failed

if TYPE_CHECKING:
    from lifecycle.settings import Settings

CHAMPION = "champion"
CHALLENGER = "challenger"
GATE_TAG = "gate"  # the promotion gate's verdict on a version
DEFINITION_HELD = "label definition differs from champion"  # a verdict holding a version back
# how a definition hold goes on when the challenger lost to a baseline too (training.promotion)
BESIDES = "; besides, "
# Set (to the gate's reason) when the gate makes a version champion; a promotion by hand
# rewrites tag ``promotion`` but not this, so a rollback to a former champion stays allowed.
GATE_PASSED_TAG = "gate_passed"
PROMOTION_TAG = "promotion"  # why a version became champion (the gate's reason, or manual)
# A winner of its gate whose champion move waits for the other tasks of its training
# (``lifecycle.champion_set``): until the move, it counts as never judged.
STAGED_TAG = "champion_staged"
MANUAL = "manual: "  # how a promotion by hand starts its reason
TAG_CHARS = 5000  # the longest tag value MLflow keeps
# The tag ("true") of a version that learned from no outcome (``training.label_free``).
LABEL_FREE_TAG = "label_free"


def is_label_free(version: Any) -> bool:
    """Whether a registered model version learned from no outcome (its tag; a mirror's
    version has none)."""
    return (getattr(version, "tags", None) or {}).get(LABEL_FREE_TAG) == "true"


@dataclass(frozen=True)
class MirroredVersion:
    """A model version as the aliases mirror knows it."""

    name: str
    version: str


class RegistryError(UserError):
    """The model registry cannot answer; the message says what is missing."""


class PromotionError(RegistryError):
    """A promotion cannot be done as asked (no such version, no challenger, no reason)."""


class UnknownVersion(PromotionError):
    """The version asked for is not one of the model's (the message names those it has)."""


SQLITE = "sqlite:///"


def sqlite_database(uri: str) -> Path | None:
    """The SQLite file of a tracking URI; None for a tracking server or another database."""
    return Path(uri.removeprefix(SQLITE)) if uri.startswith(SQLITE) else None


def tracking_uri(settings: Settings) -> str:
    if settings.tracking.uri:
        return settings.tracking.uri
    return f"sqlite:///{(settings.workspace.mlflow_dir / 'mlflow.db').resolve()}"


def artifact_root(settings: Settings) -> str:
    return (settings.workspace.mlflow_dir / "artifacts").resolve().as_uri()


def require_writable(settings: Settings, step: str) -> None:
    """Refuse ``step`` before its work when the local model registry (its SQLite file, the
    folder beside it, the artifacts folder) cannot take a write: a training into a read-only
    store failed after its minutes of work, in a traceback."""
    import errno
    import os

    database = sqlite_database(tracking_uri(settings))
    if database is None:
        return  # a tracking server answers for itself
    artifacts = settings.workspace.mlflow_dir / "artifacts"
    for path in (database, database.parent, artifacts):
        existing = path if path.exists() else path.parent
        if existing.exists() and not os.access(existing, os.W_OK):
            # the CLI's one line for a workspace that cannot take a write (lifecycle.cli)
            raise OSError(
                errno.EACCES, f"the model registry cannot take a write ({step})", str(existing)
            )


def model_name(dataset: str, task: str) -> str:
    return f"{dataset}-{task}"


def client(settings: Settings, *, fluent: bool = True) -> Any:
    """An MlflowClient on the settings' tracking and registry store (created on first use).

    ``fluent``: also make it the process's store for MLflow's fluent API (``mlflow.start_run``,
    ``log_model``), which trainings use. Code that may run in a background thread (serving's
    loads, compiling champions) passes False: the process-wide store it would set could
    move another thread's training run to another workspace's store mid-run."""
    import logging
    import os
    import warnings

    # Progress bars and chatter on stderr would bury the command's own progress lines; the
    # "View run" links MLflow prints for a tracking server went to stdout, before --json's.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    http_requests(settings)
    warnings.filterwarnings("ignore", module="mlflow")
    warnings.filterwarnings("ignore", message=".*noload.*")
    import mlflow
    from mlflow import MlflowClient

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    uri = tracking_uri(settings)
    check_answers(settings)  # a hung server: refused in seconds, not 20 s a try
    if uri.startswith(("http://", "https://")):
        # Feast registers an MLflow request-header provider, which MLflow imports at its first
        # request to a server: Feast came in there with its type checks (4.5 CPU-s, not 1.5)
        from features.feast_loader import load_feast

        load_feast(settings.feast.typechecks)
    database = sqlite_database(uri)
    if database is not None:
        database.parent.mkdir(parents=True, exist_ok=True)
        from lifecycle.store_template import start_from_template

        start_from_template(database)  # a new store: copied, not migrated (when it can)
        if not settings.tracking.uri:  # the workspace's own store: it may have been copied
            from lifecycle.relocation import relocate_mlflow_store

            relocate_mlflow_store(database, artifact_root(settings))
    if fluent:
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def alias_version(mlflow_client: Any, name: str, alias: str) -> Any | None:
    """The model version behind an alias, or None when the model or alias does not exist;
    from the mirror only its ``version`` (what serving reads). A champion staged by a
    training of several tasks is its own reads' (``lifecycle.champion_set``)."""
    from lifecycle.champion_set import staged_version

    if alias == CHAMPION and (staged := staged_version(mlflow_client, name)) is not None:
        return staged
    if isinstance(mlflow_client, MirroredRegistry):
        found = mlflow_client.models.get(name, {}).get("aliases", {}).get(alias)
        if found is None:  # the mirror holds every registered model: none, or no such alias
            return None
        if mlflow_client.bundle(name, found) is not None:
            return MirroredVersion(name, str(found))
        mlflow_client = mlflow_client.registry()  # its bundle is elsewhere: ask MLflow
    from mlflow.exceptions import MlflowException

    try:
        return mlflow_client.get_model_version_by_alias(name, alias)
    except MlflowException as error:
        if server_failed(error):  # not "no champion"
            raise
        return None


def bundle_path(mlflow_client: Any, name: str, version: str, destination: Path) -> Path:
    """Download a model version's bundle (the directory ``lifecycle.bundle`` loads)."""
    if isinstance(mlflow_client, MirroredRegistry):
        mirrored = mlflow_client.bundle(name, version)
        if mirrored is not None:  # copied as a download would be: the files may be replaced
            import shutil
            import tempfile

            copy = destination / "artifacts" / "bundle"
            if copy.exists():  # loaded into this folder before (a caller's cache): a fresh one
                copy = Path(tempfile.mkdtemp(prefix="bundle-", dir=copy.parent)) / "bundle"
            return Path(shutil.copytree(mirrored, copy))
        mlflow_client = mlflow_client.registry()
    import mlflow

    source = mlflow_client.get_model_version_download_uri(name, version)
    uri = mlflow_client.tracking_uri  # this client's store, whatever the process's is
    local = Path(
        mlflow.artifacts.download_artifacts(
            artifact_uri=source, dst_path=str(destination), tracking_uri=uri, registry_uri=uri
        )
    )
    bundle = local / "artifacts" / "bundle"
    if not bundle.is_dir():
        raise RegistryError(
            f"model {name} version {version} has no bundle at {source}; was it logged by lifecycle?"
        )
    return bundle


def recorded_window(mlflow_client: Any, name: str, version: str) -> dict[str, Any] | None:
    """The data window a version's bundle recorded (what it learned from), its bundle.json
    alone read; None where it cannot be read (nothing guessed in its place)."""
    import tempfile

    from lifecycle.bundle import BUNDLE_FILE
    from lifecycle.storage import read_json

    try:
        source = bundle_source(mlflow_client, name, version)
        if Path(source).is_dir():
            return read_json(Path(source) / BUNDLE_FILE).get("data_window")
        import mlflow

        uri = mlflow_client.tracking_uri
        with tempfile.TemporaryDirectory() as tmp:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=f"{source}/{BUNDLE_FILE}", dst_path=tmp, tracking_uri=uri
            )
            return read_json(Path(local)).get("data_window")
    except Exception:  # a version logged without a bundle, or a store that cannot be read
        return None


def bundle_source(mlflow_client: Any, name: str, version: str) -> str:
    """Where a model version's bundle lives in the registry (a folder, or an artifact URI)."""
    if isinstance(mlflow_client, MirroredRegistry):
        mirrored = mlflow_client.bundle(name, version)
        if mirrored is not None:
            return str(mirrored)
        mlflow_client = mlflow_client.registry()
    source = str(mlflow_client.get_model_version_download_uri(name, version))
    return f"{source.removeprefix('file://').rstrip('/')}/artifacts/bundle"


def unloadable(mlflow_client: Any, name: str, version: str, error: Exception, copy: Path) -> str:
    """Why a version's bundle could not be loaded, naming the model, the version and where its
    artifact lives in the registry: not the temporary copy under ``copy`` that was read, a
    path gone once the load has failed."""
    import re

    try:
        source = bundle_source(mlflow_client, name, version)
    except Exception:  # the registry itself cannot say: the message still names the model
        source = f"the registry's artifact of {name} v{version}"
    # the copy's bundle folder (…/artifacts/bundle, …/bundle-x/bundle) -> the registry's
    text = re.sub(re.escape(str(copy)) + r"(?:/[^/\s]+)*?/bundle\b", lambda _: source, str(error))
    return f"{name} v{version} could not be loaded from {source}: {text}"


def set_champion(
    mlflow_client: Any, name: str, version: str, reason: str, *, by_gate: bool = True
) -> None:
    """Point ``champion`` at a version (:func:`move_champion`), mirrored; within a training
    of several tasks, staged until all are judged (``lifecycle.champion_set``)."""
    from lifecycle.aliases_mirror import mirror_aliases
    from lifecycle.champion_set import stage

    if not stage(mlflow_client, name, version, reason, by_gate):
        move_champion(mlflow_client, name, version, reason, by_gate)
        mirror_aliases(mlflow_client, name)


def move_champion(mlflow_client: Any, name: str, version: str, reason: str, by_gate: bool) -> None:
    """Point ``champion`` at a version and record why on the version (tag ``promotion``, and
    ``gate_passed`` when the gate did it, not a hand); a challenger promoted is no longer
    one (nothing waits behind the champion). The aliases mirror is left to the caller."""
    before = alias_version(mlflow_client, name, CHAMPION)
    mlflow_client.set_registered_model_alias(name, CHAMPION, version)
    from lifecycle.champion_log import record_champion

    record_champion(mlflow_client, name, before, version, reason, by_gate)
    challenger = alias_version(mlflow_client, name, CHALLENGER)
    if challenger is not None and str(challenger.version) == str(version):
        mlflow_client.delete_registered_model_alias(name, CHALLENGER)
    mlflow_client.set_model_version_tag(name, version, PROMOTION_TAG, reason[:TAG_CHARS])
    if by_gate:
        mlflow_client.set_model_version_tag(name, version, GATE_PASSED_TAG, reason[:TAG_CHARS])


def gate_refusal(version: Any) -> str | None:
    """Why the promotion gate never made this model version champion (None when it did,
    once: a rollback to a former champion needs no override)."""
    tags = version.tags or {}
    promotion = tags.get(PROMOTION_TAG, "")
    # a version the gate promoted before gate_passed was recorded has its reason, not a hand's
    if tags.get(GATE_PASSED_TAG) or (promotion and not promotion.startswith(MANUAL)):
        return None
    verdict = tags.get(GATE_TAG)
    if verdict:
        return f"the promotion gate kept v{version.version} back: {verdict}"
    return f"v{version.version} {NEVER_JUDGED}"


def held_for_definition_only(version: Any) -> bool:
    """Whether the gate kept this version back for its changed label definition alone: it
    beat the baselines on its test rows (the verdict says no loss ``BESIDES``), as a
    `lifecycle train --accept-definition-change` would have promoted it."""
    verdict = (version.tags or {}).get(GATE_TAG, "")
    return verdict.startswith(DEFINITION_HELD) and BESIDES not in verdict


NEVER_JUDGED = (
    "was never judged by the promotion gate (its training stopped before the gate or before "
    "the champions of its run moved, or it was registered by hand)"
)


def replaced_data(settings: Settings, mlflow_client: Any, name: str, version: str) -> str | None:
    """Why the champion is no rival to ``version``: the data it learned from was replaced
    since (:func:`lifecycle.lineage.replaced`); None when it is not, or there is none."""
    from lifecycle import lineage

    champion = alias_version(mlflow_client, name, CHAMPION)
    if champion is None or str(champion.version) == str(version):
        return None
    ours = mlflow_client.get_model_version(name, version).tags or {}
    why = lineage.replaced(settings, lineage.of_tags(champion.tags or {}), lineage.of_tags(ours))
    return (
        f"champion v{champion.version}'s data was replaced: {why}; judged as a first model"
        if why
        else None
    )


def judged(version: Any) -> bool:
    """Whether the gate gave this model version a verdict, or a hand promoted it; a winner
    whose move its training never made (killed before the end) is not judged."""
    tags = version.tags or {}
    if move_never_made(tags):
        return False
    return bool(tags.get(GATE_TAG) or tags.get(PROMOTION_TAG))


def move_never_made(tags: dict[str, str]) -> bool:
    """Whether a version's tags say its gate staged it champion and its training never made
    the move (``lifecycle.champion_set``: killed before the end)."""
    return bool(tags.get(STAGED_TAG)) and not tags.get(PROMOTION_TAG)


def record_gate(mlflow_client: Any, name: str, version: str, verdict: str) -> None:
    """Record the gate's verdict on a version (tag ``gate``), promoted or not, for the list."""
    mlflow_client.set_model_version_tag(name, version, GATE_TAG, verdict[:TAG_CHARS])


def set_challenger(mlflow_client: Any, name: str, version: str) -> None:
    """Point ``challenger`` at a (newly registered) version."""
    from lifecycle.aliases_mirror import mirror_aliases

    mlflow_client.set_registered_model_alias(name, CHALLENGER, version)
    mirror_aliases(mlflow_client, name)


class MirroredRegistry:
    """Champions read from the aliases mirror; a version whose bundle is not in a local
    folder is asked of the MLflow registry."""

    def __init__(self, settings: Settings, models: dict[str, Any], path: Path) -> None:
        self.settings, self.models, self.folder = settings, models, path.parent
        self._client: Any = None

    def registry(self) -> Any:
        if self._client is None:
            self._client = client(self.settings, fluent=False)
        return self._client

    def bundle(self, name: str, version: str) -> Path | None:
        relative = self.models.get(name, {}).get("bundles", {}).get(str(version))
        found = self.folder / relative if isinstance(relative, str) else None
        return found if found is not None and found.is_dir() else None


def reader(settings: Settings, *, mirrored: bool = False) -> Any:
    """What champions are read from: the aliases mirror when ``mirrored`` and there is one
    (a server starting), else the MLflow client."""
    from lifecycle.aliases_mirror import aliases_file

    uri = tracking_uri(settings)
    if mirrored and (path := aliases_file(uri)) is not None:
        if (found := mirror(settings)) is not None:
            return found
        database = sqlite_database(uri)
        if database is not None and not database.is_file():
            # Nothing registered yet: MLflow would create the database, and a server's
            # workers starting together raced to migrate it (one failed to load at all).
            return MirroredRegistry(settings, {}, path)
    return client(settings, fluent=False)


def mirror(settings: Settings) -> MirroredRegistry | None:
    """The aliases mirror as a registry; None without a readable one (a caller that must not
    ask the tracking store, such as a list's note, then says nothing)."""
    from lifecycle.aliases_mirror import aliases_file, read_mirror

    path = aliases_file(tracking_uri(settings))
    models = read_mirror(path) if path is not None else None
    return None if models is None else MirroredRegistry(settings, models, path)  # type: ignore[arg-type]


def aliases(source: Any, name: str) -> dict[str, str]:
    """Alias -> version of a registered model (none when it is not registered)."""
    if isinstance(source, MirroredRegistry):
        return dict(source.models.get(name, {}).get("aliases", {}))
    from mlflow.exceptions import MlflowException

    try:
        return {a: str(v) for a, v in source.get_registered_model(name).aliases.items()}
    except MlflowException as error:
        if failed_request(error):  # a tracking server down: not "not registered"
            raise
        return {}


def champion_versions(source: Any, dataset: str) -> dict[str, str]:
    """Task -> the version its champion alias names now (tasks without one left out), read
    from ``source``: the tracking client or the aliases mirror (:func:`reader`)."""
    from lifecycle import tasks

    found = {t: aliases(source, model_name(dataset, t)).get(CHAMPION) for t in tasks.names()}
    return {task: version for task, version in found.items() if version}


def promote(
    settings: Settings,
    task: str,
    version: str,
    reason: str,
    dataset: str | None = None,
    *,
    accept_definition_change: bool = False,
    gated_only: bool = False,
    override: str = "--force",
    accept_override: str = "--accept-definition-change",
    overrides_joined: str = " ",
    moot: str | None = None,
) -> dict[str, str]:
    """Make a version champion by hand, with the reason on the version.

    The one promotion path of ``lifecycle promote`` and the service's ``POST /promote``. A
    version whose label definition differs from the champion's needs
    ``accept_definition_change`` (the reason then says why the meaning may change). With
    ``gated_only`` (``lifecycle promote`` without --force), a version the gate never made
    champion is refused with the gate's verdict, naming ``override`` (how the caller asks
    anyway); a former champion (a rollback) is not, nor one the gate kept back for its changed
    definition alone (:func:`held_for_definition_only`), which ``accept_definition_change``
    lets through. A changed definition's refusal names ``accept_override``, both joined by
    ``overrides_joined`` when both are needed. ``moot``:
    why promoting this task changes no served answer (``serving.one_event.no_served_change``),
    said first in the gate's refusal of a version of the champion's label definition.
    """
    import json

    from lifecycle import tasks
    from lifecycle.lineage import DEFINITION_TAG, definition_changes

    if task not in tasks.names():
        raise PromotionError(f"unknown task {task!r}; expected one of {', '.join(tasks.names())}")
    if not reason.strip():
        raise PromotionError("a manual promotion needs a reason (--reason)")
    name = model_name(dataset or settings.dataset, task)
    # 'v3' as `lifecycle models` shows it is version 3; ' 3' or '03' (which MLflow finds)
    # is named as the registry spells it, never 'champion is now v 3 (was 3)'. Anything
    # else is no version: '1.0' was 'has no version 1.0', as if v1 were missing.
    number = re.fullmatch(r"\s*[vV]?([0-9]+)\s*", version)
    if number is None:
        raise PromotionError(
            f"{version!r} is no model version: a version is a whole number as `lifecycle "
            "models` shows it (3 or v3), or `challenger`"
        )
    from lifecycle.registry_sqlite import local_versions

    found = local_versions(settings, name)  # without the MLflow client's seconds of import
    if found is not None and int(number.group(1)) not in found:
        raise UnknownVersion(no_version(name, version, found))
    mlflow_client = client(settings)
    from mlflow.exceptions import MlflowException

    try:
        chosen = mlflow_client.get_model_version(name, str(int(number.group(1))))
    except MlflowException as error:
        if server_failed(error):  # not "has no version N"
            raise
        found = [int(v.version) for v in mlflow_client.search_model_versions(f"name = '{name}'")]
        raise UnknownVersion(no_version(name, version, found)) from None
    version = str(chosen.version)
    previous = alias_version(mlflow_client, name, CHAMPION)
    theirs = (previous.tags or {}).get(DEFINITION_TAG) if previous else None
    ours = (chosen.tags or {}).get(DEFINITION_TAG)
    changes = definition_changes(json.loads(theirs), json.loads(ours)) if theirs and ours else []
    current = previous is not None and str(previous.version) == str(version)
    refused = None if current else gate_refusal(chosen)
    # held back for its definition alone: accepting the change is all it needs, also where
    # the champion predates its definition's tag (the gate's verdict then says the change)
    held = refused is not None and held_for_definition_only(chosen) and (changes or not theirs)
    forced = None if held else refused  # what --force has to override
    if held and not changes and gated_only and not accept_definition_change:
        raise PromotionError(f"model {name}: {refused}; add {accept_override} to promote it")
    if changes and not accept_definition_change:
        # the gate's refusal too, when --force will be asked next: both flags at once
        also = (
            f"; the promotion gate also kept it back ({forced}): add "
            f"{accept_override}{overrides_joined}{override} to promote it anyway"
            if forced and gated_only
            else f": add {accept_override} to promote it anyway"
        )
        raise PromotionError(
            f"model {name}: v{version}'s label definition differs from champion "
            f"v{previous.version}'s ({', '.join(changes)}); its scores would mean something "
            f"else to their users{also}"
        )
    if forced and gated_only:
        first = f"{moot}; besides, " if moot else ""  # --force would change nothing served
        raise PromotionError(
            f"model {name}: {first}{forced}; promote it anyway with {override} (the reason "
            "is recorded on the version)"
        )
    if changes:
        reason = f"{reason} (label definition changed: {', '.join(changes)})"
    try:
        set_champion(mlflow_client, name, version, f"{MANUAL}{reason}", by_gate=False)
    except Exception as error:  # its writes are one by one: the alias may have moved
        error.add_note(_promotion_left(mlflow_client, name, version, previous, error))
        raise
    return {
        "model": name,
        "champion": str(version),
        "previous": str(previous.version) if previous else "none",
        "reason": reason,
        "gate_overridden": refused,  # what the gate said of a version it kept back, if so
    }


def no_version(name: str, version: str, found: list[int]) -> str:
    """A promotion's refusal of a version model ``name`` lacks, naming those it has."""
    has = f"it has {', '.join(f'v{v}' for v in sorted(found))}" if found else "it has none"
    return f"model {name} has no version {version} ({has}); see `lifecycle models`"


def _promotion_left(
    mlflow_client: Any, name: str, version: str, previous: Any, error: Exception
) -> str:
    """What a promotion whose write failed left: the champion before, read back (the alias is
    its first write), nothing done; the champion itself promoted again, no alias moved."""
    before = str(previous.version) if previous is not None else None
    if before == version:  # the champion already: no alias moved, whichever write failed
        return (
            f"{name}'s champion is v{version} as it was; this promotion's reason may not be "
            f"recorded: promoting v{version} again records it"
        )
    if champion_after(mlflow_client, name, error) == before:
        still = f"it is still v{before}" if before else "it still has none"
        return f"nothing was done: {name}'s champion did not move ({still})"
    return (
        f"{name}'s champion may have moved to v{version} part-way (its alias, the reason "
        f"and the champions log are written one by one): `lifecycle models` says where it "
        f"stands once the registry answers; promoting v{version} again completes it"
    )


UNREAD = "unread"  # champion_after: the tracking server did not say


def champion_after(mlflow_client: Any, name: str, error: Exception) -> str | None:
    """``name``'s champion version after a write failed with ``error`` (None: none), read back
    where the server answered it (refused, an HTTP error); else :data:`UNREAD`."""
    from lifecycle.tracking_http import no_answer

    if not failed_request(error) or no_answer(error):
        return UNREAD
    try:
        now = alias_version(mlflow_client, name, CHAMPION)
    except Exception:  # it does not answer now
        return UNREAD
    return None if now is None else str(now.version)
