"""Feast definitions: entity ``user``, the feature views over the as-of feature table, and
one FeatureService per model version, so a model names the exact features it was trained on.

The views' schemas come from the feature table itself (its static attributes differ by
dataset); the grouping into views and the services are declared here.

No on-demand views: the ratios (``overdue_ratio``, ``refund_rate``) were one in
``mode="python"``, which made Feast turn every retrieved row into Python lists (17 s of
31 s for 1.2M training rows); they are stored features now.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from features import contract as c
from features.asof import AS_OF, TOTAL_FEATURES, WINDOW_FEATURES
from lifecycle import tasks

ENTITY = "user"
ACTIVITY_VIEW = "user_activity"  # engagement: activity days, sessions, recency, activation
PURCHASE_VIEW = "user_purchases"  # RFM: orders, revenue, refunds, inter-purchase times
PROFILE_VIEW = "user_profile"  # acquisition channel and static attributes

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


def definitions(feature_table: Path, schema: pa.Schema, ttl_days: int = 45) -> list[Any]:
    """All Feast objects for a feature table with this schema."""
    from features.store import load_feast

    load_feast()
    from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
    from feast.types import Float64, String

    user = Entity(
        name=ENTITY,
        join_keys=[c.USER_ID],
        value_type=ValueType.STRING,
        description="a user of the product",
    )
    source = FileSource(name="user_features_source", path=str(feature_table), timestamp_field=AS_OF)
    fields: dict[str, list[Any]] = {ACTIVITY_VIEW: [], PURCHASE_VIEW: [], PROFILE_VIEW: []}
    for column in schema:
        if column.name in (c.USER_ID, AS_OF):
            continue
        numeric = (
            pa.types.is_integer(column.type)
            or pa.types.is_floating(column.type)
            or pa.types.is_boolean(column.type)
        )
        view = _view_of(column.name) if numeric else PROFILE_VIEW
        fields[view].append(Field(name=column.name, dtype=Float64 if numeric else String))
    ttl = timedelta(days=ttl_days)
    views = {
        name: FeatureView(
            name=name, entities=[user], ttl=ttl, schema=schema_fields, source=source, online=True
        )
        for name, schema_fields in fields.items()
        if schema_fields
    }

    model_inputs = list(views.values())
    services = [
        FeatureService(
            name=task.service,
            features=model_inputs,
            description=f"features of the {task.name} model, version 1",
        )
        for task in tasks.all_tasks()
    ]
    return [user, source, *views.values(), *services]
