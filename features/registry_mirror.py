"""What serving reads of a dataset's Feast registry, and its mirror beside the registry.

Serving reads little of the registry: each feature view's online table and column types,
each feature service's views and features. Opening a Feast store for that costs a server
start the Feast import (about 0.9 s of CPU per worker). :class:`FeatureRegistry` holds just
that; ``lifecycle features apply`` and ``materialize`` (which write the registry) also write
it as JSON beside the registry (``registry.json``), with the SHA-256 of the registry file it
was read from and the settings of the online store it names. :func:`fresh_mirror` returns it
only while both still match; otherwise (the registry written by the ``feast`` CLI, other
settings) the reader opens Feast (:meth:`FeatureRegistry.of_store`), the same answer slower.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from features.online_rows import ReadPlan

if TYPE_CHECKING:
    from feast import FeatureStore

    from features.store import StorePaths
    from lifecycle.settings import Settings

MIRROR = "registry.json"  # beside the registry file, in the dataset's Feast repository
FORMAT = 1  # of the mirror file: another is not read (the reader opens Feast)


@dataclass(frozen=True)
class View:
    """A feature view as the online store lays it out."""

    name: str
    table: str  # its online table (Feast's table id)
    join_keys: list[str]
    columns: dict[str, str | None]  # feature -> SQLite column type (None: not a row store type)


@dataclass(frozen=True)
class Projection:
    """The features a service reads of one view."""

    view: str
    name_to_use: str  # the prefix of its feature references (``view:feature``)
    features: list[str]


@dataclass(frozen=True)
class FeatureRegistry:
    """The views and services of a Feast registry, as serving reads them."""

    project: str
    views: dict[str, View]
    services: dict[str, list[Projection]]

    @classmethod
    def of_store(cls, store: FeatureStore) -> FeatureRegistry:
        """Read from an opened Feast store's registry file."""
        from feast.infra.online_stores.sqlite import _table_id

        from features.online_store import column_type

        versioned = store.config.registry.enable_online_feature_view_versioning
        views = {
            view.name: View(
                name=view.name,
                table=_table_id(store.project, view, versioned),
                join_keys=[e.name for e in view.entity_columns],
                columns={f.name: column_type(f) for f in view.features},
            )
            for view in store.list_feature_views()
        }
        services = {
            service.name: [
                Projection(p.name, p.name_to_use(), [f.name for f in p.features])
                for p in service.feature_view_projections
            ]
            for service in store.list_feature_services()
        }
        return cls(store.project, views, services)

    @classmethod
    def of_dict(cls, document: dict[str, Any]) -> FeatureRegistry:
        return cls(
            document["project"],
            {name: View(**view) for name, view in document["views"].items()},
            {
                name: [Projection(**p) for p in projections]
                for name, projections in document["services"].items()
            },
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def service_names(self) -> list[str]:
        return sorted(self.services)

    def projections(self, service: str) -> list[Projection]:
        """A service's projections; refuses an unknown service, naming the known ones."""
        if service not in self.services:
            from features.store import FeatureStoreError

            known = ", ".join(self.service_names()) or "none"
            raise FeatureStoreError(f"unknown feature service {service!r}; this store has: {known}")
        return self.services[service]

    def service_features(self, service: str) -> list[str]:
        """The feature names a service returns, in order (what a model trained on it expects)."""
        return [f for projection in self.projections(service) for f in projection.features]

    def service_refs(self, service: str) -> frozenset[str]:
        """A service's features as ``view:feature`` references (by the name it reads them as)."""
        return frozenset(
            f"{p.name_to_use}:{feature}"
            for p in self.projections(service)
            for feature in p.features
        )

    def read_plan(self, service: str, join_key: str) -> ReadPlan:
        """The service's views and features as a read of the row store's tables."""
        if lost := self.lost_feature(service):
            from features.store import FeatureStoreError

            raise FeatureStoreError(lost_feature(service, *lost))
        reads = []
        for projection in self.projections(service):
            view = self.views[projection.view]
            reads.append((view.table, projection.features, view.columns))
        return ReadPlan.of(join_key, reads)

    def lost_feature(self, service: str) -> tuple[str, str] | None:
        """The first (view, feature) the service asks for that its view no longer has."""
        for projection in self.projections(service):
            columns = self.views[projection.view].columns
            if lost := next((f for f in projection.features if f not in columns), None):
                return projection.view, lost
        return None

    def service_problem(self, service: str, feature_names: list[str], registry: Path) -> str | None:
        """Why a model trained on ``feature_names`` through ``service`` cannot read them from
        this registry (file ``registry``), worded to follow "service 'name'": it is gone or
        holds other features; None when it can."""
        if service not in self.services:
            return (
                f"is gone from the Feast registry {registry} "
                f"(it has: {', '.join(self.service_names()) or 'none'})"
            )
        if lost := self.lost_feature(service):
            return lost_feature(service, *lost, way_back=False)
        held = self.service_features(service)
        if sorted(held) != sorted(feature_names):
            lacking = sorted(set(feature_names) - set(held))
            extra = sorted(set(held) - set(feature_names))
            return (
                "no longer holds exactly the features the model was trained on "
                f"(lacks: {', '.join(lacking) or 'none'}; adds: {', '.join(extra) or 'none'})"
            )
        return None


def lost_feature(service: str, view: str, feature: str, *, way_back: bool = True) -> str:
    """A feature service naming a feature its view no longer has, and the way back (without
    ``way_back``: the words after "service S, which", for a refusal that names its own)."""
    lost = (
        f"asks feature view {view} for {feature}, which the dataset no longer has (its "
        "columns changed since: a users table dropped or renamed?)"
    )
    if not way_back:
        return lost
    return (
        f"feature service {service} (what the models learned from) {lost}: retrain with "
        "`lifecycle train all`, or bring the dataset back with `lifecycle datasets restore`"
    )


def mirror_file(paths: StorePaths) -> Path:
    return paths.repo / MIRROR


def digest(path: Path) -> str | None:
    """SHA-256 of a file's bytes; None when it cannot be read."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def mirrored_settings(settings: Settings, paths: StorePaths) -> dict[str, Any]:
    """The settings a mirror holds for: the project and the online store's (type, file)."""
    from features.store import repo_config_dict

    config = repo_config_dict(settings, paths)
    return {
        key: config[key] for key in ("project", "online_store", "entity_key_serialization_version")
    }


def write_mirror(settings: Settings, paths: StorePaths, store: FeatureStore) -> bool:
    """Mirror the registry ``store`` reads beside it (what serving reads of it); False, and no
    mirror, when the registry file changed while it was read (the reader then opens Feast)."""
    before = digest(paths.registry)
    registry = FeatureRegistry.of_store(store)  # the file now on disk
    target = mirror_file(paths)
    if before is None or digest(paths.registry) != before:
        target.unlink(missing_ok=True)
        return False
    document = {
        "format": FORMAT,
        "registry_sha256": before,
        "settings": mirrored_settings(settings, paths),
        **registry.as_dict(),
    }
    from lifecycle.storage import atomic_file

    with atomic_file(target) as staging:  # readers see the old mirror or the new one
        staging.write_text(json.dumps(document, indent=1) + "\n")
    return True


def fresh_mirror(settings: Settings, paths: StorePaths) -> FeatureRegistry | None:
    """The mirror of the registry, when it mirrors the registry file now on disk under these
    settings; None when it is absent, unreadable, stale or for other settings."""
    try:
        document = json.loads(mirror_file(paths).read_text())
    except (OSError, ValueError):
        return None
    if (
        not isinstance(document, dict)
        or document.get("format") != FORMAT
        or document.get("settings") != mirrored_settings(settings, paths)
        or document.get("registry_sha256") != digest(paths.registry)
    ):
        return None
    try:
        return FeatureRegistry.of_dict(document)
    except (KeyError, TypeError):
        return None
