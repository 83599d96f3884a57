"""Feast definitions: entity ``user``, the feature views over the as-of feature table, and
one FeatureService per model version, so a model names the exact features it was trained on.

The views' schemas come from the feature table itself (its static attributes differ by
dataset); the grouping into views and the services are declared here.

Services are versioned by their feature set: ``<task>_v<n>`` holds exactly the features
(``view:feature`` references) it was created with and is never redefined. When the feature
table's features differ from every existing version's, ``apply`` adds the next version and
leaves the others, so a champion trained on ``churn_v1`` keeps reading exactly its features.

No on-demand views: the ratios (``overdue_ratio``, ``refund_rate``) were one in
``mode="python"``, which made Feast turn every retrieved row into Python lists (17 s of
31 s for 1.2M training rows); they are stored features now.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

import pyarrow as pa

from features import contract as c
from features.asof import AS_OF, TOTAL_FEATURES, WINDOW_FEATURES
from features.identifiers import identifying_of
from lifecycle import tasks

ENTITY = "user"
ACTIVITY_VIEW = "user_activity"  # engagement: activity days, sessions, recency, activation
PURCHASE_VIEW = "user_purchases"  # RFM: orders, revenue, refunds, inter-purchase times
PROFILE_VIEW = "user_profile"  # acquisition channel and static attributes
_SERVICE_NAME = re.compile(r"(?P<task>\w+?)_v(?P<version>[1-9][0-9]*)")

_ACTIVITY_PREFIXES = ("active_days_", "sessions_")
_ACTIVITY_TOTALS = (
    "tenure_days",
    "recency_days",
    "sessions_total",
    "activated",
    "days_to_activation",
    "trend_active_days_30_90",
)


def _view_of(column: str) -> str:
    if column.startswith(_ACTIVITY_PREFIXES) or column in _ACTIVITY_TOTALS:
        return ACTIVITY_VIEW
    is_window = any(
        column.startswith(f"{name}_") and column.endswith("d") for name in WINDOW_FEATURES
    )
    if is_window or column in TOTAL_FEATURES:
        return PURCHASE_VIEW
    return PROFILE_VIEW


def service_name(task: str, version: int) -> str:
    return f"{task}_v{version}"


def service_versions(task: str, names: Iterable[str]) -> dict[int, str]:
    """Version number -> name of the task's services among ``names``."""
    versions = {}
    for name in names:
        match = _SERVICE_NAME.fullmatch(name)
        if match and match["task"] == task:
            versions[int(match["version"])] = name
    return versions


def feature_ref(view: str, feature: str) -> str:
    return f"{view}:{feature}"


def view_features(schema: pa.Schema) -> dict[str, list[tuple[str, bool]]]:
    """View -> (feature, is numeric) of a feature table with this schema, in table order."""
    views: dict[str, list[tuple[str, bool]]] = {
        ACTIVITY_VIEW: [],
        PURCHASE_VIEW: [],
        PROFILE_VIEW: [],
    }
    for column in schema:
        if column.name in (c.USER_ID, AS_OF):
            continue
        numeric = (
            pa.types.is_integer(column.type)
            or pa.types.is_floating(column.type)
            or pa.types.is_boolean(column.type)
        )
        views[_view_of(column.name) if numeric else PROFILE_VIEW].append((column.name, numeric))
    return {view: features for view, features in views.items() if features}


def task_features(schema: pa.Schema, task: str) -> dict[str, list[str]]:
    """View -> the features the task's model reads from it: all of them but people's users
    attributes (a first name, an email: :mod:`features.identifiers`)."""
    tasks.get(task)  # an unknown task is an error naming the known ones
    people = set(identifying_of(schema))
    wanted = {
        view: [name for name, _ in fields if name not in people]
        for view, fields in view_features(schema).items()
    }
    return {view: names for view, names in wanted.items() if names}


def task_feature_refs(schema: pa.Schema, task: str) -> frozenset[str]:
    """The task's feature set as ``view:feature`` references: what identifies a service version."""
    return frozenset(
        feature_ref(view, name)
        for view, names in task_features(schema, task).items()
        for name in names
    )


def current_service(
    task: str, wanted: frozenset[str], existing: Mapping[str, frozenset[str]]
) -> tuple[str, bool]:
    """The service of the task holding exactly ``wanted`` and whether it is new: an existing
    version with that feature set, else the version after the task's highest."""
    versions = service_versions(task, existing)
    for version in sorted(versions):
        if existing[versions[version]] == wanted:
            return versions[version], False
    return service_name(task, max(versions, default=0) + 1), True


def definitions(
    feature_table: str,
    schema: pa.Schema,
    ttl_days: int = 45,
    existing_services: Mapping[str, frozenset[str]] | None = None,
) -> list[Any]:
    """Feast objects for a feature table with this schema: entity, source, views, and a new
    service version for each task whose feature set no existing service holds.

    ``feature_table`` is the path the file source keeps: relative to the Feast repository
    (:attr:`features.store.StorePaths.feature_table_in_repo`), so the workspace is portable.

    ``existing_services`` maps each service in the registry to its ``view:feature`` refs;
    those are not returned, so applying the result leaves them as they are.
    """
    from features.feast_loader import load_feast

    load_feast()
    from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
    from feast.types import Float64, String

    user = Entity(
        name=ENTITY,
        join_keys=[c.USER_ID],
        value_type=ValueType.STRING,
        description="a user of the product",
    )
    source = FileSource(name="user_features_source", path=feature_table, timestamp_field=AS_OF)
    ttl = timedelta(days=ttl_days)
    views = {
        name: FeatureView(
            name=name,
            entities=[user],
            ttl=ttl,
            schema=[
                Field(name=feature, dtype=Float64 if numeric else String)
                for feature, numeric in fields
            ],
            source=source,
            online=True,
        )
        for name, fields in view_features(schema).items()
    }
    services = []
    for task in tasks.names():  # every task's model reads every feature today
        wanted = task_features(schema, task)
        refs = task_feature_refs(schema, task)
        name, new = current_service(task, refs, existing_services or {})
        if new:
            version = name.rpartition("_v")[2]
            services.append(
                FeatureService(
                    name=name,
                    # Projections list the features explicitly: the service keeps exactly
                    # these even when a later apply adds features to the views.
                    features=[views[view][names] for view, names in wanted.items()],
                    description=f"the {task} model's {len(refs)} features, version {version}",
                    tags={"task": task},
                )
            )
    return [user, source, *views.values(), *services]
